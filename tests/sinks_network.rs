//! Network sinks against real services on 127.0.0.1: a mosquitto broker (stopped and restarted
//! mid-run) and an HTTP receiver that fails, then accepts.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{HttpReceiver, Mosquitto, Subscriber, wait_until};
use lookout::events::{
    Crossing, CrossingCounts, Event, EventKind, ObjectChange, ObjectSnapshot, SCHEMA_VERSION,
};
use lookout::metrics::Metrics;
use lookout::sinks::catalog::{LineCatalog, ZoneCatalog};
use lookout::sinks::{CameraCatalog, Catalog, SinkContext, Sinks};

fn snapshot(track: u64, label: &str) -> ObjectSnapshot {
    ObjectSnapshot {
        id: format!("obj-{track}"),
        track_id: track,
        camera: "gate".into(),
        label: label.into(),
        score: 0.8,
        top_score: 0.9,
        bbox: [0.1, 0.2, 0.3, 0.6],
        area: 0.08,
        ratio: 0.5,
        current_zones: vec![],
        entered_zones: vec![],
        start_time: lookout::events::rfc3339(SystemTime::now()),
        end_time: None,
        start_pts_seconds: Some(1.0),
        last_pts_seconds: Some(2.0),
    }
}

fn event(kind: EventKind, label: &str, track: Option<u64>, seq: u64) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        id: lookout::events::new_id(),
        device: String::new(),
        site: String::new(),
        camera: "gate".into(),
        kind,
        label: label.into(),
        score: track.map(|_| 0.8),
        track_id: track,
        bbox: track.map(|_| [0.1, 0.2, 0.3, 0.6]),
        seq,
        pts_seconds: Some(seq as f64 / 10.0),
        time: lookout::events::rfc3339(SystemTime::now()),
        model: Some("nanodet-g-416".into()),
    }
}

fn object(change: ObjectChange, track: u64, seq: u64) -> Event {
    let s = Box::new(snapshot(track, "person"));
    event(
        EventKind::Object {
            change,
            before: s.clone(),
            after: s,
        },
        "person",
        Some(track),
        seq,
    )
}

fn crossing(n: u64, seq: u64) -> Event {
    event(
        EventKind::LineCrossed {
            line: "footpath".into(),
            direction: Crossing::AToB,
            counts: CrossingCounts {
                a_to_b: n,
                b_to_a: 0,
            },
        },
        "person",
        Some(n),
        seq,
    )
}

fn catalog() -> Catalog {
    Catalog {
        cameras: vec![CameraCatalog {
            name: "gate".into(),
            labels: vec!["person".into(), "car".into()],
            zones: vec![ZoneCatalog {
                name: "road".into(),
                labels: vec!["car".into()],
                occupancy: true,
                threshold: None,
            }],
            lines: vec![LineCatalog {
                name: "footpath".into(),
                labels: vec!["person".into()],
                directions: vec![Crossing::AToB, Crossing::BToA],
            }],
        }],
    }
}

/// Starts the sinks of a pipeline whose `sinks:` section is `sinks_yaml`.
fn start_sinks(
    sinks_yaml: &str,
    state: &std::path::Path,
    env: &[(&str, &str)],
) -> (Sinks, Arc<Metrics>) {
    let text = format!("cameras:\n  - name: gate\n    source: test:ball\nsinks:\n{sinks_yaml}");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let pipeline = lookout::pipeline::load_str(&text, std::path::Path::new("test.yaml"), lookup)
        .expect("valid sinks");
    let metrics = Arc::new(Metrics::new());
    let ctx = SinkContext {
        device: lookout::events::Device {
            name: "box1".into(),
            site: "test".into(),
        },
        state_dir: state.to_path_buf(),
        metrics: Arc::clone(&metrics),
        catalog: catalog(),
    };
    (
        Sinks::start(pipeline.sinks, &ctx).expect("sinks start"),
        metrics,
    )
}

fn recv_until(
    sub: &Subscriber,
    timeout: Duration,
    mut done: impl FnMut(&[(String, Vec<u8>, bool)]) -> bool,
) -> Vec<(String, Vec<u8>, bool)> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    while !done(&got) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match sub.rx.recv_timeout(left) {
            Ok(m) => got.push(m),
            Err(_) => break,
        }
    }
    got
}

fn last_payload(msgs: &[(String, Vec<u8>, bool)], topic: &str) -> Option<String> {
    msgs.iter()
        .rev()
        .find(|m| m.0 == topic)
        .map(|m| String::from_utf8_lossy(&m.1).to_string())
}

#[test]
fn mqtt_delivers_events_counts_and_home_assistant_discovery() {
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "#");
    let state = tempfile::tempdir().unwrap();
    let (sinks, _m) = start_sinks(
        &format!(
            "  - mqtt:\n      host: 127.0.0.1\n      port: {}\n",
            broker.port
        ),
        state.path(),
        &[],
    );

    let events = vec![
        object(ObjectChange::New, 1, 1),
        object(ObjectChange::New, 2, 2),
        crossing(1, 3),
        object(ObjectChange::End, 1, 4),
    ];
    for e in &events {
        sinks.publish(e.clone());
    }
    let msgs = recv_until(&sub, Duration::from_secs(20), |m| {
        events.iter().all(|e| {
            m.iter()
                .any(|(_, p, _)| String::from_utf8_lossy(p).contains(&e.id))
        }) && last_payload(m, "lookout/box1/gate/person").as_deref() == Some("1")
    });
    sinks.shutdown();

    // Every event on its documented topic, payload = the event JSON.
    for e in &events {
        let want_topic = match e.kind {
            EventKind::Object { .. } => "lookout/box1/events".to_string(),
            _ => "lookout/box1/gate/line_crossed".to_string(),
        };
        let m = msgs
            .iter()
            .find(|(_, p, _)| String::from_utf8_lossy(p).contains(&e.id))
            .unwrap_or_else(|| panic!("event {} not received", e.id));
        assert_eq!(m.0, want_topic);
        let back: Event = serde_json::from_slice(&m.1).expect("payload is an event");
        // Stamped with the box that sent it.
        let mut want = e.clone();
        want.device = "box1".into();
        want.site = "test".into();
        assert_eq!(back, want);
    }
    let frigate: serde_json::Value = serde_json::from_slice(
        &msgs
            .iter()
            .find(|m| m.0 == "lookout/box1/events")
            .unwrap()
            .1,
    )
    .unwrap();
    for field in ["type", "before", "after"] {
        assert!(
            frigate.get(field).is_some(),
            "Frigate field `{field}` missing: {frigate}"
        );
    }
    // Derived counts: two persons appeared, one left.
    assert_eq!(
        last_payload(&msgs, "lookout/box1/gate/person").as_deref(),
        Some("1")
    );
    assert_eq!(
        last_payload(&msgs, "lookout/box1/gate/car").as_deref(),
        Some("0")
    );
    assert_eq!(
        last_payload(&msgs, "lookout/box1/gate/footpath/person/a_to_b").as_deref(),
        Some("1")
    );
    assert_eq!(
        msgs.iter()
            .find(|m| m.0 == "lookout/box1/available")
            .map(|m| m.1.clone()),
        Some(b"online".to_vec())
    );

    // A late subscriber gets the retained discovery and availability.
    let late = Subscriber::start(broker.port, "homeassistant/#");
    // Per label: count and detected; the zone counts cars, the line persons both ways.
    let disc = recv_until(&late, Duration::from_secs(5), |m| m.len() >= 7);
    assert_eq!(
        disc.len(),
        7,
        "{:?}",
        disc.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    assert!(disc.iter().all(|m| m.2), "discovery messages are retained");
    let count = disc
        .iter()
        .find(|m| m.0 == "homeassistant/sensor/lookout_box1_gate/person_count/config")
        .expect("person count sensor announced");
    let cfg: serde_json::Value = serde_json::from_slice(&count.1).unwrap();
    for field in ["name", "unique_id", "state_topic", "availability_topic"] {
        assert!(
            cfg[field].is_string(),
            "discovery field `{field}` missing: {cfg}"
        );
    }
    assert_eq!(cfg["state_topic"], "lookout/box1/gate/person");
    assert_eq!(
        cfg["default_entity_id"],
        "sensor.lookout_box1_gate_person_count"
    );
    assert!(
        cfg.get("object_id").is_none(),
        "object_id is deprecated: {cfg}"
    );
    assert!(cfg["device"]["identifiers"].is_array());
    let binary = disc
        .iter()
        .find(|m| m.0 == "homeassistant/binary_sensor/lookout_box1_gate/person_detected/config")
        .expect("person detected binary sensor announced");
    let cfg: serde_json::Value = serde_json::from_slice(&binary.1).unwrap();
    assert_eq!(cfg["state_topic"], "lookout/box1/gate/person");
    assert!(cfg["value_template"].as_str().unwrap().contains("ON"));
    // On a clean stop lookout says it is offline.
    let avail = Subscriber::start(broker.port, "lookout/box1/available");
    let a = recv_until(&avail, Duration::from_secs(5), |m| !m.is_empty());
    assert_eq!(a.first().map(|m| m.1.clone()), Some(b"offline".to_vec()));
}

#[test]
fn mqtt_broker_outage_loses_nothing_and_shows_in_metrics() {
    let mut broker = Mosquitto::start();
    let port = broker.port;
    let sub = Subscriber::start(port, "lookout/box1/events");
    let state = tempfile::tempdir().unwrap();
    let yaml = format!(
        "  - mqtt:\n      host: 127.0.0.1\n      port: {port}\n      retry: {{initial_ms: 2000, max_ms: 2000}}\n      discovery: {{enabled: false}}\n"
    );
    let (sinks, metrics) = start_sinks(&yaml, state.path(), &[]);
    let mut sent = Vec::new();
    for i in 0..10 {
        let e = object(ObjectChange::New, i, i);
        sent.push(e.id.clone());
        sinks.publish(e);
    }
    let before = recv_until(&sub, Duration::from_secs(20), |m| m.len() >= 10);
    assert_eq!(before.len(), 10);
    drop(sub);

    broker.stop();
    let mut waiting = Vec::new();
    for i in 10..40 {
        let e = object(ObjectChange::New, i, i);
        sent.push(e.id.clone());
        waiting.push(e.time.clone());
        sinks.publish(e);
    }
    assert!(
        wait_until(Duration::from_secs(30), || metrics
            .sink_up
            .with_label_values(&["mqtt"])
            .get()
            == 0
            && metrics.outbox_events.with_label_values(&["mqtt"]).get() >= 29),
        "the outage shows in lookout_sink_up and lookout_outbox_events"
    );
    // The oldest waiting event's time is that of one published during the outage (the first,
    // or the second when the first went out as the broker stopped).
    let unix = |t: &str| {
        lookout::events::time::parse_rfc3339(t)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let oldest = metrics.outbox_oldest.with_label_values(&["mqtt"]).get();
    assert!(
        oldest == unix(&waiting[0]) || oldest == unix(&waiting[1]),
        "{oldest} {waiting:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let retries_during = metrics.sink_retries.with_label_values(&["mqtt"]).get();
    assert!(retries_during >= 1);

    let _broker = Mosquitto::start_on(port);
    let sub = Subscriber::start(port, "lookout/box1/events");
    let after = recv_until(&sub, Duration::from_secs(60), |m| {
        let ids: Vec<String> = m
            .iter()
            .map(|(_, p, _)| serde_json::from_slice::<Event>(p).unwrap().id)
            .collect();
        sent[10..].iter().all(|id| ids.contains(id))
    });
    let ids: std::collections::HashSet<String> = before
        .iter()
        .chain(&after)
        .map(|(_, p, _)| serde_json::from_slice::<Event>(p).unwrap().id)
        .collect();
    assert!(
        sent.iter().all(|id| ids.contains(id)),
        "every event arrives after the broker is back"
    );
    assert!(wait_until(Duration::from_secs(10), || metrics
        .outbox_events
        .with_label_values(&["mqtt"])
        .get()
        == 0));
    assert!(wait_until(Duration::from_secs(5), || metrics
        .outbox_oldest
        .with_label_values(&["mqtt"])
        .get()
        == 0.0));
    assert_eq!(metrics.sink_up.with_label_values(&["mqtt"]).get(), 1);
    assert_eq!(
        metrics
            .sink_deliveries
            .with_label_values(&["mqtt", "delivered"])
            .get(),
        40
    );
    assert_eq!(metrics.outbox_dropped.with_label_values(&["mqtt"]).get(), 0);
    sinks.shutdown();
}

#[test]
fn webhook_retries_5xx_signs_requests_and_does_not_retry_400() {
    // First three requests fail with 503; an event labelled `bad` is refused with 400.
    let rx = HttpReceiver::start(|n, body| {
        if n < 3 {
            503
        } else if String::from_utf8_lossy(body).contains("\"label\":\"bad\"") {
            400
        } else {
            204
        }
    });
    let state = tempfile::tempdir().unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let yaml = format!(
        "  - webhook:\n      url: http://{}/hook\n      secret_env: HOOK_SECRET\n      retry: {{initial_ms: 50, max_ms: 200}}\n",
        rx.addr
    );
    let (sinks, metrics) = start_sinks(&yaml, state.path(), &[("HOOK_SECRET", secret)]);
    let mut sent = Vec::new();
    for i in 0..8 {
        let mut e = crossing(i + 1, i);
        if i == 4 {
            e.label = "bad".into();
        }
        sent.push(e.clone());
        sinks.publish(e);
    }
    assert!(wait_until(Duration::from_secs(30), || metrics
        .outbox_events
        .with_label_values(&["webhook"])
        .get()
        == 0
        && metrics
            .sink_deliveries
            .with_label_values(&["webhook", "delivered"])
            .get()
            == 7));
    sinks.shutdown();

    let reqs = rx.requests();
    let key = lookout::sinks::signing::SigningKey::parse(secret).unwrap();
    for e in &sent {
        let for_e: Vec<_> = reqs
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&e.id))
            .collect();
        assert!(!for_e.is_empty(), "event {} never arrived", e.id);
        for r in &for_e {
            assert_eq!(
                r.headers["webhook-id"], e.id,
                "the event id is the message id"
            );
            let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
            assert!(
                key.verify(&e.id, ts, &r.body, &r.headers["webhook-signature"]),
                "signature verifies"
            );
            assert_eq!(r.headers["content-type"], "application/json");
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                (&body["device"], &body["site"]),
                (&"box1".into(), &"test".into()),
                "the webhook payload names the box"
            );
        }
        if e.label == "bad" {
            assert_eq!(for_e.len(), 1, "a 400 is not retried");
        }
        assert!(for_e.iter().any(|r| r.status < 300 || e.label == "bad"));
    }
    assert_eq!(
        metrics.sink_retries.with_label_values(&["webhook"]).get(),
        3
    );
    assert_eq!(
        metrics
            .sink_deliveries
            .with_label_values(&["webhook", "rejected"])
            .get(),
        1
    );
    assert!(metrics.egress_bytes.with_label_values(&["webhook"]).get() > 0);
}

#[test]
fn outbox_keeps_events_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let dead = common::free_port();
    let yaml = |port: u16| {
        format!(
            "  - webhook:\n      url: http://127.0.0.1:{port}/hook\n      retry: {{initial_ms: 50, max_ms: 100}}\n      outbox: {{drain_timeout_s: 0}}\n"
        )
    };
    let (sinks, metrics) = start_sinks(&yaml(dead), state.path(), &[]);
    let sent: Vec<Event> = (0..5).map(|i| crossing(i + 1, i)).collect();
    for e in &sent {
        sinks.publish(e.clone());
    }
    assert!(wait_until(Duration::from_secs(10), || metrics
        .outbox_events
        .with_label_values(&["webhook"])
        .get()
        == 5));
    sinks.shutdown();

    let rx = HttpReceiver::start(|_, _| 200);
    let (sinks, metrics) = start_sinks(&yaml(rx.addr.port()), state.path(), &[]);
    assert!(wait_until(Duration::from_secs(20), || rx.requests().len() >= 5));
    assert!(wait_until(Duration::from_secs(5), || metrics
        .outbox_events
        .with_label_values(&["webhook"])
        .get()
        == 0));
    sinks.shutdown();
    let bodies: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    for e in &sent {
        assert!(
            bodies.iter().any(|b| b.contains(&e.id)),
            "event {} lost across the restart",
            e.id
        );
    }
}

#[test]
fn mqtt_over_tls_verifies_the_broker() {
    let (broker, tls_port, ca) = Mosquitto::start_tls();
    let sub = Subscriber::start(broker.port, "lookout/box1/events");
    let state = tempfile::tempdir().unwrap();
    let yaml = format!(
        "  - mqtt:\n      host: 127.0.0.1\n      port: {tls_port}\n      tls: {{ca_file: {}}}\n      discovery: {{enabled: false}}\n",
        ca.display()
    );
    let (sinks, _) = start_sinks(&yaml, state.path(), &[]);
    let e = object(ObjectChange::New, 7, 1);
    sinks.publish(e.clone());
    let got = recv_until(&sub, Duration::from_secs(20), |m| !m.is_empty());
    sinks.shutdown();
    assert_eq!(got.len(), 1, "delivered over TLS");
    assert!(String::from_utf8_lossy(&got[0].1).contains(&e.id));

    // The system store does not trust the test CA: nothing is delivered, the failure is counted.
    let state = tempfile::tempdir().unwrap();
    let yaml = format!(
        "  - mqtt:\n      host: 127.0.0.1\n      port: {tls_port}\n      tls: {{}}\n      retry: {{initial_ms: 100, max_ms: 200}}\n      discovery: {{enabled: false}}\n      outbox: {{drain_timeout_s: 0}}\n"
    );
    let (sinks, metrics) = start_sinks(&yaml, state.path(), &[]);
    sinks.publish(object(ObjectChange::New, 8, 2));
    assert!(wait_until(Duration::from_secs(20), || metrics
        .sink_retries
        .with_label_values(&["mqtt"])
        .get()
        >= 2));
    assert_eq!(
        metrics
            .sink_deliveries
            .with_label_values(&["mqtt", "delivered"])
            .get(),
        0
    );
    sinks.shutdown();
    assert!(
        sub.rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "an untrusted broker gets nothing"
    );
}
