//! The `mqtt` sink: Frigate-style topics and Home Assistant discovery, QoS 1.
//!
//! Topics (prefix `lookout` by default):
//! - `<prefix>/available`: `online` (retained) while connected; the broker publishes `offline`
//!   (retained, the last will) when the connection dies, and lookout does on a clean stop.
//! - `<prefix>/events`: `object` events, in Frigate's shape (`type: new|update|end`, `before`, `after`).
//! - `<prefix>/<camera>/<kind>`: the rule events (`zone_enter`, `zone_exit`, `line_crossed`,
//!   `loitering`, `occupancy`).
//! - `<prefix>/<camera>/<label>`: how many objects of a label the camera sees now (retained), as
//!   Frigate's `frigate/<camera>/<object>`.
//! - `<prefix>/<camera>/<zone>/<label>`: objects of a label in a zone (retained, from occupancy events).
//! - `<prefix>/<camera>/<line>/<label>/<direction>`: running crossing counts (retained).
//! - `<discovery prefix>/{sensor,binary_sensor}/lookout_<camera>/<id>/config`: Home Assistant
//!   discovery (retained), so the counts and "person detected" sensors appear by themselves.

pub mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event as MqttEvent, LastWill, MqttOptions, Outgoing, Packet, QoS,
    RecvTimeoutError,
};
use serde_json::json;

use crate::events::{Event, EventKind, ObjectChange};
use crate::sinks::catalog::Catalog;
use crate::sinks::durable::{Deliver, Delivery};

/// How long one publish may wait for the broker's PUBACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings of the MQTT sink.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
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
    catalog: Catalog,
    client: Client,
    connection: Connection,
    connected: bool,
    /// Retained state topics not yet published since the last (re)connect.
    dirty: BTreeMap<String, String>,
    /// Active tracks per (camera, label), for the per-camera counts.
    active: BTreeMap<(String, String), BTreeSet<u64>>,
}

impl MqttDeliverer {
    /// A deliverer for `s`; it connects lazily on the first delivery.
    pub fn new(s: MqttSettings, catalog: Catalog) -> Self {
        let mut opts = MqttOptions::new(&s.client_id, &s.host, s.port);
        opts.set_keep_alive(s.keep_alive.max(Duration::from_secs(5)));
        opts.set_clean_session(true);
        opts.set_last_will(LastWill::new(
            format!("{}/available", s.topic_prefix),
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
            catalog,
            client,
            connection,
            connected: false,
            dirty: BTreeMap::new(),
            active: BTreeMap::new(),
        };
        d.seed_counts();
        d
    }

    /// Zero counts for every known camera and label, so Home Assistant shows 0, not "unknown".
    fn seed_counts(&mut self) {
        for cam in &self.catalog.cameras {
            for label in &cam.labels {
                let topic = format!("{}/{}/{}", self.s.topic_prefix, cam.name, label);
                self.dirty.entry(topic).or_insert_with(|| "0".into());
            }
        }
    }

    /// Connects if needed and, once connected, (re)publishes availability, discovery and counts.
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
        let prefix = self.s.topic_prefix.clone();
        self.publish_wait(&format!("{prefix}/available"), b"online", true)?;
        for (topic, payload) in self.discovery_messages() {
            self.publish_wait(&topic, payload.as_bytes(), true)?;
        }
        self.flush_dirty()
    }

    fn flush_dirty(&mut self) -> Result<(), String> {
        while let Some((topic, payload)) = self.dirty.pop_first() {
            if let Err(e) = self.publish_wait(&topic, payload.as_bytes(), true) {
                self.dirty.insert(topic, payload);
                return Err(e);
            }
        }
        Ok(())
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
            EventKind::Object { .. } => format!("{}/events", self.s.topic_prefix),
            _ => format!("{}/{}/{}", self.s.topic_prefix, e.camera, e.kind.name()),
        }
    }

    /// Updates derived counts from an event; the changed retained topics become dirty.
    fn track_state(&mut self, e: &Event) {
        let p = &self.s.topic_prefix;
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
                    self.dirty
                        .insert(format!("{p}/{}/{}", e.camera, e.label), n.to_string());
                }
            }
            EventKind::Occupancy { zone, count, .. } => {
                self.dirty.insert(
                    format!("{p}/{}/{zone}/{}", e.camera, e.label),
                    count.to_string(),
                );
            }
            EventKind::LineCrossed { line, counts, .. } => {
                let base = format!("{p}/{}/{line}/{}", e.camera, e.label);
                self.dirty
                    .insert(format!("{base}/a_to_b"), counts.a_to_b.to_string());
                self.dirty
                    .insert(format!("{base}/b_to_a"), counts.b_to_a.to_string());
            }
            _ => {}
        }
    }

    /// Home Assistant discovery messages (topic, JSON) for every camera in the catalog.
    pub fn discovery_messages(&self) -> Vec<(String, String)> {
        let Some(disc) = &self.s.discovery_prefix else {
            return Vec::new();
        };
        let p = &self.s.topic_prefix;
        let available = format!("{p}/available");
        let mut out = Vec::new();
        for cam in &self.catalog.cameras {
            let node = format!("lookout_{}", sanitize(&cam.name));
            let device = json!({
                "identifiers": [node],
                "name": format!("lookout {}", cam.name),
                "manufacturer": "lookout",
                "model": "camera pipeline",
                "sw_version": env!("CARGO_PKG_VERSION"),
            });
            let mut sensor = |component: &str, object_id: String, mut cfg: serde_json::Value| {
                cfg["unique_id"] = json!(format!("{node}_{object_id}"));
                cfg["object_id"] = json!(format!("{node}_{object_id}"));
                cfg["availability_topic"] = json!(available);
                cfg["device"] = device.clone();
                out.push((
                    format!("{disc}/{component}/{node}/{object_id}/config"),
                    cfg.to_string(),
                ));
            };
            for label in &cam.labels {
                let l = sanitize(label);
                let state = format!("{p}/{}/{label}", cam.name);
                sensor(
                    "sensor",
                    format!("{l}_count"),
                    json!({"name": format!("{label} count"), "state_topic": state, "state_class": "measurement", "icon": "mdi:counter"}),
                );
                sensor(
                    "binary_sensor",
                    format!("{l}_detected"),
                    json!({
                        "name": format!("{label} detected"),
                        "state_topic": state,
                        "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}",
                        "device_class": "occupancy",
                    }),
                );
                for zone in &cam.zones {
                    sensor(
                        "sensor",
                        format!("{}_{l}_count", sanitize(zone)),
                        json!({"name": format!("{zone} {label} count"), "state_topic": format!("{p}/{}/{zone}/{label}", cam.name), "state_class": "measurement", "icon": "mdi:counter"}),
                    );
                }
                for line in &cam.lines {
                    for dir in ["a_to_b", "b_to_a"] {
                        sensor(
                            "sensor",
                            format!("{}_{l}_{dir}", sanitize(line)),
                            json!({"name": format!("{line} {label} {dir}"), "state_topic": format!("{p}/{}/{line}/{label}/{dir}", cam.name), "state_class": "total_increasing", "icon": "mdi:transit-connection-horizontal"}),
                        );
                    }
                }
            }
        }
        out
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
        // Drive keep-alives and notice a dead broker even when no events flow.
        if self.connected {
            match self.connection.recv_timeout(Duration::from_millis(10)) {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "MQTT connection lost");
                    self.connected = false;
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.connected = false,
            }
        }
    }

    fn close(&mut self) {
        if self.connected {
            let topic = format!("{}/available", self.s.topic_prefix);
            let _ = self.publish_wait(&topic, b"offline", true);
            let _ = self.client.disconnect();
            let _ = self.connection.recv_timeout(Duration::from_millis(200));
        }
    }
}
