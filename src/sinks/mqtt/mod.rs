//! The `mqtt` sink: Frigate-style topics and Home Assistant discovery, QoS 1.
//!
//! Topics start with `<prefix>/<device>` (`lookout/<device name>` by default), written `<base>`
//! here, so that boxes sharing a broker, even with cameras of the same name, do not collide:
//! - `<base>/available`: `online` (retained) while connected; the broker publishes `offline`
//!   (retained, the last will) when the connection dies, and lookout does on a clean stop.
//! - `<base>/events`: `object` events, in Frigate's shape (`type: new|update|end`, `before`, `after`).
//! - `<base>/<camera>/<kind>`: the rule events (`zone_enter`, `zone_exit`, `line_crossed`,
//!   `loitering`, `occupancy`).
//! - `<base>/<camera>/<label>`: how many objects of a label the camera sees now (retained), as
//!   Frigate's `frigate/<camera>/<object>`.
//! - `<base>/<camera>/<zone>/<label>`: objects of a label in a zone (retained, from occupancy events).
//! - `<base>/<camera>/<line>/<label>/<direction>`: running crossing counts (retained).
//! - `<discovery prefix>/{sensor,binary_sensor}/lookout_<device>_<camera>/<id>/config`: Home
//!   Assistant discovery (retained), so the counts and "person detected" sensors appear by
//!   themselves, one Home Assistant device per camera and box. Only
//!   what can have a value is announced (a line's sensors for the labels and directions it counts,
//!   a zone's only when it sends occupancy events, nothing the sink's filter keeps out), and every
//!   announced state topic is published (retained) at each connect, so none stays "unknown".
//!   When Home Assistant publishes `online` on `<discovery prefix>/status` (it restarted), the
//!   discovery configs and states are published again.

pub mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event as MqttEvent, LastWill, MqttOptions, Outgoing, Packet, QoS,
    RecvTimeoutError,
};
use serde_json::json;

use crate::events::{Device, Event, EventKind, ObjectChange};
use crate::sinks::catalog::Catalog;
use crate::sinks::durable::{Deliver, Delivery};

/// How long one publish may wait for the broker's PUBACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// While no event is waiting, how often a lost connection is tried again (so availability and
/// discovery are up before the first event).
const IDLE_CONNECT_EVERY: Duration = Duration::from_secs(2);

/// Connection settings of the MQTT sink.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    /// `None`: `lookout-<device name>`.
    pub client_id: Option<String>,
    pub credentials: Option<(String, String)>,
    pub keep_alive: Duration,
    pub topic_prefix: String,
    /// `Some(prefix)` to publish Home Assistant discovery under `prefix`.
    pub discovery_prefix: Option<String>,
    /// TLS: `Some(None)` trusts the system store, `Some(Some(pem))` a private CA.
    pub tls: Option<Option<Vec<u8>>>,
}

/// Delivers events to an MQTT broker, keeping derived counts and discovery up to date.
pub struct MqttDeliverer {
    s: MqttSettings,
    /// `<prefix>/<device>`: every topic starts with it.
    base: String,
    /// This box's name, in Home Assistant device ids.
    device: String,
    catalog: Catalog,
    client: Client,
    connection: Connection,
    connected: bool,
    /// When idle may try to connect next.
    next_idle_connect: Instant,
    /// Current value of every retained state topic (counts), published again at each connect.
    state: BTreeMap<String, String>,
    /// State topics changed since they were last published.
    dirty: BTreeSet<String>,
    /// Home Assistant said it is online (it restarted): discovery and states go out again.
    announce_again: bool,
    /// Active tracks per (camera, label), for the per-camera counts.
    active: BTreeMap<(String, String), BTreeSet<u64>>,
}

/// One Home Assistant entity lookout announces.
struct Entity {
    component: &'static str,
    camera: String,
    /// `lookout_<device>_<camera>`: the Home Assistant device it belongs to.
    node: String,
    /// Unique within the node, e.g. `person_count`.
    id: String,
    state_topic: String,
    /// The component's own options (name, templates, classes, icon).
    config: serde_json::Value,
}

impl MqttDeliverer {
    /// A deliverer for `s`; it connects on the first delivery or idle moment.
    pub fn new(s: MqttSettings, catalog: Catalog, device: &Device) -> Self {
        let base = format!("{}/{}", s.topic_prefix, device.name);
        let client_id = match &s.client_id {
            Some(id) => id.clone(),
            None => format!("lookout-{}", device.name),
        };
        let mut opts = MqttOptions::new(client_id, &s.host, s.port);
        opts.set_keep_alive(s.keep_alive.max(Duration::from_secs(5)));
        opts.set_clean_session(true);
        opts.set_last_will(LastWill::new(
            format!("{base}/available"),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((u, p)) = &s.credentials {
            opts.set_credentials(u, p);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &s.tls {
            let cfg = match tls {
                Some(ca) => rumqttc::TlsConfiguration::SimpleNative {
                    ca: ca.clone(),
                    client_auth: None,
                },
                None => rumqttc::TlsConfiguration::Native,
            };
            opts.set_transport(rumqttc::Transport::Tls(cfg));
        }
        let (client, connection) = Client::new(opts, 64);
        let mut d = Self {
            s,
            base,
            device: device.name.clone(),
            catalog,
            client,
            connection,
            connected: false,
            next_idle_connect: Instant::now(),
            state: BTreeMap::new(),
            dirty: BTreeSet::new(),
            announce_again: false,
            active: BTreeMap::new(),
        };
        // Every announced state starts at zero, so Home Assistant shows 0, not "unknown".
        for e in d.entities() {
            d.state.entry(e.state_topic).or_insert_with(|| "0".into());
        }
        d
    }

    /// Connects if needed and, once connected, (re)publishes availability, discovery and states.
    fn ensure_connected(&mut self) -> Result<(), String> {
        if self.connected {
            return Ok(());
        }
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.connection.recv_timeout(left) {
                Ok(Ok(MqttEvent::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("broker {}:{}: {e}", self.s.host, self.s.port)),
                Err(RecvTimeoutError::Timeout) => {
                    return Err("timed out connecting to the broker".into());
                }
                Err(RecvTimeoutError::Disconnected) => return Err("MQTT client closed".into()),
            }
        }
        self.connected = true;
        tracing::info!(host = %self.s.host, port = self.s.port, "MQTT connected");
        if let Some(disc) = &self.s.discovery_prefix {
            // Home Assistant publishes `online` here when it starts: announce again then.
            self.client
                .try_subscribe(format!("{disc}/status"), QoS::AtLeastOnce)
                .map_err(|e| format!("MQTT client: {e}"))?;
        }
        self.announce()
    }

    /// Publishes availability, every discovery config and every state topic's current value.
    fn announce(&mut self) -> Result<(), String> {
        self.announce_again = false;
        let available = format!("{}/available", self.base);
        self.publish_wait(&available, b"online", true)?;
        for (topic, payload) in self.discovery_messages() {
            self.publish_wait(&topic, payload.as_bytes(), true)?;
        }
        self.dirty.extend(self.state.keys().cloned());
        self.flush_dirty()
    }

    /// Publishes the state topics that changed (retained).
    fn flush_dirty(&mut self) -> Result<(), String> {
        while let Some(topic) = self.dirty.pop_first() {
            let payload = self.state.get(&topic).cloned().unwrap_or_default();
            if let Err(e) = self.publish_wait(&topic, payload.as_bytes(), true) {
                self.dirty.insert(topic);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Notes what the broker sends us: Home Assistant's birth message.
    fn incoming(&mut self, p: &rumqttc::Publish) {
        let Some(disc) = &self.s.discovery_prefix else {
            return;
        };
        // A retained `online` comes with our own subscription, right after we announced.
        if !p.retain && p.topic == format!("{disc}/status") && p.payload.as_ref() == b"online" {
            tracing::info!("Home Assistant is online: announcing discovery and states again");
            self.announce_again = true;
        }
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK.
    fn publish_wait(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .map_err(|e| format!("MQTT client: {e}"))?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut pkid = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.connection.recv_timeout(left) {
                Ok(Ok(MqttEvent::Outgoing(Outgoing::Publish(p)))) if pkid.is_none() => {
                    pkid = Some(p)
                }
                Ok(Ok(MqttEvent::Incoming(Packet::PubAck(ack)))) if Some(ack.pkid) == pkid => {
                    return Ok(());
                }
                Ok(Ok(MqttEvent::Incoming(Packet::Publish(p)))) => self.incoming(&p),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    self.connected = false;
                    return Err(format!("broker {}:{}: {e}", self.s.host, self.s.port));
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.connected = false;
                    return Err("no PUBACK from the broker in time".into());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.connected = false;
                    return Err("MQTT client closed".into());
                }
            }
        }
    }

    /// The topic an event goes to.
    pub fn topic_for(&self, e: &Event) -> String {
        match e.kind {
            EventKind::Object { .. } => format!("{}/events", self.base),
            _ => format!("{}/{}/{}", self.base, e.camera, e.kind.name()),
        }
    }

    /// Sets a state topic's value; it becomes dirty when the value changed.
    fn set_state(&mut self, topic: String, value: String) {
        if self.state.get(&topic) != Some(&value) {
            self.state.insert(topic.clone(), value);
            self.dirty.insert(topic);
        }
    }

    /// Updates derived counts from an event.
    fn track_state(&mut self, e: &Event) {
        let p = self.base.clone();
        match &e.kind {
            EventKind::Object { change, after, .. } => {
                let key = (e.camera.clone(), e.label.clone());
                let set = self.active.entry(key).or_default();
                let changed = match change {
                    ObjectChange::End => set.remove(&after.track_id),
                    _ => set.insert(after.track_id),
                };
                if changed {
                    let n = set.len();
                    self.set_state(format!("{p}/{}/{}", e.camera, e.label), n.to_string());
                }
            }
            EventKind::Occupancy { zone, count, .. } => {
                self.set_state(
                    format!("{p}/{}/{zone}/{}", e.camera, e.label),
                    count.to_string(),
                );
            }
            EventKind::LineCrossed { line, counts, .. } => {
                let base = format!("{p}/{}/{line}/{}", e.camera, e.label);
                self.set_state(format!("{base}/a_to_b"), counts.a_to_b.to_string());
                self.set_state(format!("{base}/b_to_a"), counts.b_to_a.to_string());
            }
            _ => {}
        }
    }

    /// The Home Assistant entities of the catalog: only those that can have a value.
    fn entities(&self) -> Vec<Entity> {
        let p = &self.base;
        let mut out = Vec::new();
        for cam in &self.catalog.cameras {
            let node = format!("lookout_{}_{}", sanitize(&self.device), sanitize(&cam.name));
            let mut add = |component, id: String, state_topic: String, config| {
                out.push(Entity {
                    component,
                    camera: cam.name.clone(),
                    node: node.clone(),
                    id,
                    state_topic,
                    config,
                })
            };
            for label in &cam.labels {
                let (l, state) = (sanitize(label), format!("{p}/{}/{label}", cam.name));
                add(
                    "sensor",
                    format!("{l}_count"),
                    state.clone(),
                    json!({"name": format!("{label} count"), "state_class": "measurement", "icon": "mdi:counter"}),
                );
                add(
                    "binary_sensor",
                    format!("{l}_detected"),
                    state,
                    json!({
                        "name": format!("{label} detected"),
                        "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}",
                        "device_class": "occupancy",
                    }),
                );
            }
            for zone in cam.zones.iter().filter(|z| z.occupancy) {
                for label in &zone.labels {
                    let id = format!("{}_{}", sanitize(&zone.name), sanitize(label));
                    let state = format!("{p}/{}/{}/{label}", cam.name, zone.name);
                    match zone.threshold {
                        // Events come only when the count passes the threshold: between them
                        // the count is stale, but which side of the threshold it is on is not.
                        Some(t) => add(
                            "binary_sensor",
                            format!("{id}_over_threshold"),
                            state,
                            json!({
                                "name": format!("{} {label} at least {t}", zone.name),
                                "value_template": format!("{{{{ 'ON' if value | int >= {t} else 'OFF' }}}}"),
                                "device_class": "occupancy",
                            }),
                        ),
                        None => add(
                            "sensor",
                            format!("{id}_count"),
                            state,
                            json!({"name": format!("{} {label} count", zone.name), "state_class": "measurement", "icon": "mdi:counter"}),
                        ),
                    }
                }
            }
            for line in &cam.lines {
                for label in &line.labels {
                    for dir in &line.directions {
                        let dir = dir.name();
                        add(
                            "sensor",
                            format!("{}_{}_{dir}", sanitize(&line.name), sanitize(label)),
                            format!("{p}/{}/{}/{label}/{dir}", cam.name, line.name),
                            json!({"name": format!("{} {label} {dir}", line.name), "state_class": "total_increasing", "icon": "mdi:transit-connection-horizontal"}),
                        );
                    }
                }
            }
        }
        out
    }

    /// Home Assistant discovery messages (topic, JSON) for every entity of the catalog.
    pub fn discovery_messages(&self) -> Vec<(String, String)> {
        let Some(disc) = &self.s.discovery_prefix else {
            return Vec::new();
        };
        let available = format!("{}/available", self.base);
        self.entities()
            .into_iter()
            .map(|e| {
                let mut cfg = e.config;
                let unique = format!("{}_{}", e.node, e.id);
                cfg["unique_id"] = json!(unique);
                // `object_id` is deprecated (Home Assistant 2025.10, gone in 2026.4).
                cfg["default_entity_id"] = json!(format!("{}.{unique}", e.component));
                cfg["state_topic"] = json!(e.state_topic);
                cfg["availability_topic"] = json!(available);
                cfg["device"] = json!({
                    "identifiers": [e.node],
                    "name": format!("{} {}", self.device, e.camera),
                    "manufacturer": "lookout",
                    "model": "camera pipeline",
                    "sw_version": env!("CARGO_PKG_VERSION"),
                });
                cfg["origin"] = json!({"name": "lookout", "sw_version": env!("CARGO_PKG_VERSION")});
                (
                    format!("{disc}/{}/{}/{}/config", e.component, e.node, e.id),
                    cfg.to_string(),
                )
            })
            .collect()
    }
}

/// Home Assistant ids allow `[a-zA-Z0-9_-]`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Deliver for MqttDeliverer {
    fn deliver(&mut self, _seq: u64, payload: &[u8]) -> Delivery {
        let event: Event = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return Delivery::Rejected(format!("outbox record is not an event: {e}")),
        };
        if let Err(e) = self.ensure_connected() {
            return Delivery::Retry(e);
        }
        if self.announce_again
            && let Err(e) = self.announce()
        {
            return Delivery::Retry(e);
        }
        let topic = self.topic_for(&event);
        if let Err(e) = self.publish_wait(&topic, payload, false) {
            return Delivery::Retry(e);
        }
        self.track_state(&event);
        // Counts are retained state: if publishing them fails now, they go out after reconnecting.
        if let Err(e) = self.flush_dirty() {
            tracing::debug!(error = %e, "MQTT counts deferred to the next connection");
        }
        Delivery::Delivered
    }

    fn idle(&mut self) {
        if !self.connected {
            // Announce before the first event: Home Assistant shows the sensors at once.
            if Instant::now() >= self.next_idle_connect {
                self.next_idle_connect = Instant::now() + IDLE_CONNECT_EVERY;
                if let Err(e) = self.ensure_connected() {
                    tracing::debug!(error = %e, "MQTT not connected");
                }
            }
            return;
        }
        // Drive keep-alives, take in what the broker sends, and notice a dead broker even when
        // no events flow.
        while self.connected {
            match self.connection.recv_timeout(Duration::from_millis(10)) {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "MQTT connection lost");
                    self.connected = false;
                }
                Ok(Ok(MqttEvent::Incoming(Packet::Publish(p)))) => self.incoming(&p),
                Ok(Ok(_)) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => self.connected = false,
            }
        }
        if self.connected
            && self.announce_again
            && let Err(e) = self.announce()
        {
            tracing::warn!(error = %e, "cannot announce to Home Assistant; retrying at the next connection");
        }
    }

    fn close(&mut self) {
        if self.connected {
            let topic = format!("{}/available", self.base);
            let _ = self.publish_wait(&topic, b"offline", true);
            let _ = self.client.disconnect();
            let _ = self.connection.recv_timeout(Duration::from_millis(200));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Crossing;
    use crate::sinks::SinkFilter;
    use crate::sinks::catalog::{CameraCatalog, LineCatalog, ZoneCatalog};

    fn settings() -> MqttSettings {
        MqttSettings {
            host: "127.0.0.1".into(),
            port: 1,
            client_id: None,
            credentials: None,
            keep_alive: Duration::from_secs(30),
            topic_prefix: "lookout".into(),
            discovery_prefix: Some("homeassistant".into()),
            tls: None,
        }
    }

    fn device() -> Device {
        Device {
            name: "box".into(),
            site: "home".into(),
        }
    }

    fn catalog() -> Catalog {
        let zone = |name: &str, occupancy, threshold| ZoneCatalog {
            name: name.into(),
            labels: vec!["car".into()],
            occupancy,
            threshold,
        };
        Catalog {
            cameras: vec![CameraCatalog {
                name: "gate".into(),
                labels: vec!["person".into(), "car".into()],
                zones: vec![
                    zone("road", true, Some(2)),
                    zone("lawn", false, None),
                    zone("drive", true, None),
                ],
                lines: vec![LineCatalog {
                    name: "door".into(),
                    labels: vec!["person".into()],
                    directions: vec![Crossing::AToB],
                }],
            }],
        }
    }

    fn ids(d: &MqttDeliverer) -> Vec<String> {
        d.discovery_messages()
            .into_iter()
            .map(|(t, _)| t.trim_start_matches("homeassistant/").to_string())
            .collect()
    }

    #[test]
    fn announces_only_what_can_have_a_value() {
        let d = MqttDeliverer::new(settings(), catalog(), &device());
        let ids = ids(&d);
        assert_eq!(
            ids,
            [
                "sensor/lookout_box_gate/person_count/config",
                "binary_sensor/lookout_box_gate/person_detected/config",
                "sensor/lookout_box_gate/car_count/config",
                "binary_sensor/lookout_box_gate/car_detected/config",
                "binary_sensor/lookout_box_gate/road_car_over_threshold/config",
                "sensor/lookout_box_gate/drive_car_count/config",
                "sensor/lookout_box_gate/door_person_a_to_b/config",
            ],
        );
        // Every announced state has a value before any event.
        for (_, cfg) in d.discovery_messages() {
            let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
            let state = cfg["state_topic"].as_str().unwrap();
            assert_eq!(d.state.get(state).map(String::as_str), Some("0"), "{state}");
        }
        let (_, road) = &d.discovery_messages()[4];
        assert!(road.contains("value | int >= 2"), "{road}");
    }

    #[test]
    fn a_filtered_sink_announces_what_it_receives() {
        let only = |kinds: &[&str], labels: &[&str]| {
            let yaml = format!(
                "{{kinds: [{}], labels: [{}]}}",
                kinds.join(", "),
                labels.join(", ")
            );
            let filter: SinkFilter = serde_saphyr::from_str(&yaml).unwrap();
            ids(&MqttDeliverer::new(
                settings(),
                catalog().filtered(&filter),
                &device(),
            ))
        };
        assert_eq!(
            only(&["line_crossed"], &[]),
            ["sensor/lookout_box_gate/door_person_a_to_b/config"]
        );
        assert_eq!(
            only(&["object", "occupancy"], &["car"]),
            [
                "sensor/lookout_box_gate/car_count/config",
                "binary_sensor/lookout_box_gate/car_detected/config",
                "binary_sensor/lookout_box_gate/road_car_over_threshold/config",
                "sensor/lookout_box_gate/drive_car_count/config",
            ]
        );
    }
}
