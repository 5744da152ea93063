//! Delivery guarantees of the real `lookout` process: killed with SIGKILL mid-run, its outbox
//! delivers on the next start; with the MQTT broker down for part of a run, every event the
//! summary counts still arrives.
#![cfg(feature = "capture")]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use common::{HttpReceiver, Mosquitto, Subscriber, wait_until};
use serde_json::Value;

/// vtest.avi with NanoDet at 3 detections per second: events within seconds, a run in ~20 s.
fn pipeline(dir: &std::path::Path, sinks: &str, metrics_port: u16) -> std::path::PathBuf {
    let root = common::root();
    let yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n  - name: vtest\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects, fps: 3}}\n    rules:\n      objects: [person]\n      lines: [{{name: footpath, a: [0.45, 0.30], b: [0.45, 0.68]}}]\n\
         state_dir: {state}\n\
         sinks:\n{sinks}\
         metrics: {{listen: 127.0.0.1:{metrics_port}}}\n",
        root = root.display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn event_time(body: &[u8]) -> Option<SystemTime> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let t = v["time"].as_str()?;
    // RFC 3339 UTC from lookout: 2026-11-22T21:42:39.123Z; compare as text with our own format.
    Some(parse_rfc3339(t))
}

fn parse_rfc3339(t: &str) -> SystemTime {
    let n = |a: usize, b: usize| t[a..b].parse::<u64>().unwrap();
    let (y, mo, d, h, mi, s) = (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y } as i64;
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let frac: f64 = t[19..].trim_end_matches('Z').parse::<f64>().unwrap_or(0.0);
    SystemTime::UNIX_EPOCH
        + Duration::from_secs((days * 86400) as u64 + h * 3600 + mi * 60 + s)
        + Duration::from_secs_f64(frac)
}

#[test]
fn outbox_resumes_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let down = HttpReceiver::start(|_, _| 503);
    let hooks = "  - webhook: {url: \"${HOOK_URL}\", retry: {initial_ms: 100, max_ms: 300}}\n";
    let port = common::free_port();
    let path = pipeline(dir.path(), hooks, port);
    let summary = dir.path().join("s1.json");
    let mut first = common::lookout_run(
        &path,
        &summary,
        &[("HOOK_URL", format!("http://{}/hook", down.addr))],
    );
    let mut pending = 0.0;
    assert!(
        wait_until(Duration::from_secs(120), || {
            pending = common::scrape(port, "lookout_outbox_events", &[("sink", "webhook")])
                .unwrap_or(0.0);
            pending >= 5.0
        }),
        "no events piled up in the outbox"
    );
    first.kill().unwrap(); // SIGKILL: no shutdown, no drain
    let _ = first.wait();
    let killed_at = SystemTime::now();
    let first_id: String = {
        let seen = down.requests();
        let v: Value = serde_json::from_slice(&seen[0].body).unwrap();
        v["id"].as_str().unwrap().to_string()
    };

    let up = HttpReceiver::start(|_, _| 200);
    let port2 = common::free_port();
    let path = pipeline(dir.path(), hooks, port2);
    let mut second = common::lookout_run(
        &path,
        &dir.path().join("s2.json"),
        &[("HOOK_URL", format!("http://{}/hook", up.addr))],
    );
    let from_first_run =
        |r: &common::SeenRequest| event_time(&r.body).is_some_and(|t| t < killed_at);
    assert!(
        wait_until(Duration::from_secs(60), || up
            .requests()
            .iter()
            .filter(|r| from_first_run(r))
            .count() as f64
            >= pending),
        "the second run did not deliver the first run's {pending} pending events"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let status = second.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let delivered = up.requests();
    let first_delivered: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(
        first_delivered["id"],
        first_id.as_str(),
        "delivery resumes with the oldest undelivered event"
    );
}

#[test]
fn mqtt_outage_mid_run_loses_no_event() {
    let mut broker = Mosquitto::start_persistent();
    let sub = Subscriber::persistent(broker.port, "lookout/#", "e2e-outage-sub");
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "  - mqtt: {{host: 127.0.0.1, port: {}, retry: {{initial_ms: 500, max_ms: 1000}}, discovery: {{enabled: false}}, outbox: {{drain_timeout_s: 30}}}}\n",
        broker.port
    );
    let path = pipeline(dir.path(), &sinks, common::free_port());
    let summary_path = dir.path().join("s.json");
    let mut child = common::lookout_run(&path, &summary_path, &[]);

    let mut ids = HashSet::new();
    let take = |timeout: Duration, ids: &mut HashSet<String>| {
        while let Ok((_, payload, _)) = sub.rx.recv_timeout(timeout) {
            if let Ok(v) = serde_json::from_slice::<Value>(&payload)
                && v.get("schema_version").is_some()
            {
                ids.insert(v["id"].as_str().unwrap_or_default().to_string());
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while ids.len() < 5 {
        assert!(Instant::now() < deadline, "no events before the outage");
        take(Duration::from_millis(200), &mut ids);
    }
    broker.stop();
    std::thread::sleep(Duration::from_secs(4));
    broker.restart();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    take(Duration::from_secs(3), &mut ids);

    let summary: Value = serde_json::from_str(&common::read(&summary_path)).unwrap();
    let produced: u64 = summary["analytics"]["cameras"]["vtest"]["events"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let sink = &summary["sinks"]["mqtt"];
    assert!(
        sink["retries"].as_u64().unwrap() > 0,
        "the outage shows in the summary: {sink}"
    );
    assert_eq!(sink["pending"], 0, "{sink}");
    assert_eq!(sink["delivered"].as_u64().unwrap(), produced, "{sink}");
    assert_eq!(
        ids.len() as u64,
        produced,
        "every event the summary counts reached the subscriber"
    );
}

/// `pipelines/home-assistant.yaml` as shipped, with absolute paths, its outbox in `dir` and
/// detection at 2 frames a second (the same events a Home Assistant user gets, in ~15 s).
fn home_assistant_pipeline(dir: &std::path::Path) -> std::path::PathBuf {
    common::shipped_pipeline(
        "home-assistant.yaml",
        &[(
            "detect: {model: objects}",
            "detect: {model: objects, fps: 2}".into(),
        )],
        &format!(
            "state_dir: {}\ndevice: {{name: ha-box}}\n",
            dir.join("state").display()
        ),
        dir,
    )
}

/// Every retained message on the broker, as a Home Assistant that starts now reads them.
fn retained(port: u16) -> std::collections::BTreeMap<String, String> {
    let sub = Subscriber::start(port, "#");
    let mut out = std::collections::BTreeMap::new();
    while let Ok((topic, payload, retain)) = sub.rx.recv_timeout(Duration::from_secs(1)) {
        if retain {
            out.insert(topic, String::from_utf8_lossy(&payload).to_string());
        }
    }
    out
}

#[test]
fn home_assistant_gets_only_sensors_with_values() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = home_assistant_pipeline(dir.path());
    let summary_path = dir.path().join("s.json");
    let env = [
        ("MQTT_PORT", broker.port.to_string()),
        (
            "LOOKOUT_METRICS",
            format!("127.0.0.1:{}", common::free_port()),
        ),
    ];
    let status = common::lookout_run(&path, &summary_path, &env)
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    let msgs = retained(broker.port);
    let configs: Vec<(&String, Value)> = msgs
        .iter()
        .filter(|(t, _)| t.starts_with("homeassistant/") && t.ends_with("/config"))
        .map(|(t, p)| {
            (
                t,
                serde_json::from_str(p).expect("discovery config is JSON"),
            )
        })
        .collect();
    // person, car, truck: a count and a "detected" each; the road zone counts all three; the
    // footpath line counts persons only, both ways.
    let states: Vec<&str> = configs
        .iter()
        .map(|(_, c)| c["state_topic"].as_str().unwrap())
        .collect();
    assert_eq!(configs.len(), 11, "{states:?}");
    for (topic, cfg) in &configs {
        assert!(
            cfg.get("object_id").is_none(),
            "{topic}: deprecated object_id"
        );
        let component = topic.split('/').nth(1).unwrap();
        assert_eq!(
            cfg["default_entity_id"],
            format!("{component}.{}", cfg["unique_id"].as_str().unwrap()),
            "{topic}"
        );
        let state = cfg["state_topic"].as_str().unwrap();
        let value = msgs.get(state).unwrap_or_else(|| {
            panic!("{topic}: no retained value on {state}: Home Assistant shows unknown")
        });
        assert!(value.parse::<u64>().is_ok(), "{state} = {value}");
        assert!(
            !state.contains("/footpath/car/") && !state.contains("/footpath/truck/"),
            "a sensor for a label the line does not count: {state}"
        );
    }
    // The values are the run's: line counts as in the summary.
    let summary: Value = serde_json::from_str(&common::read(&summary_path)).unwrap();
    let line = &summary["analytics"]["cameras"]["vtest"]["lines"]["footpath"]["person"];
    for dir in ["a_to_b", "b_to_a"] {
        assert_eq!(
            msgs[&format!("lookout/ha-box/vtest/footpath/person/{dir}")],
            line[dir].as_u64().unwrap_or(0).to_string(),
            "{dir}: {line}"
        );
    }
    assert!(
        line["a_to_b"].as_u64().unwrap_or(0) + line["b_to_a"].as_u64().unwrap_or(0) > 0,
        "persons cross the footpath in vtest.avi: {line}"
    );
    assert_eq!(msgs["lookout/ha-box/available"], "offline");
}

#[test]
fn home_assistant_coming_online_gets_discovery_and_states_again() {
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "#");
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n  - name: yard\n    source: test:ball\n    detect: {{model: objects, fps: 1}}\n    rules:\n      objects: [person, car]\n\
         state_dir: {state}\n\
         device: {{name: b}}\n\
         sinks:\n  - mqtt: {{host: 127.0.0.1, port: {port}}}\n\
         metrics: {{enabled: false}}\n",
        root = root.display(),
        state = dir.path().join("state").display(),
        port = broker.port,
    );
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut child = common::lookout_run(&path, &dir.path().join("s.json"), &[]);

    // Two labels: a count and a "detected" sensor each, and their two state topics.
    let is_config = |t: &str| t.starts_with("homeassistant/") && t.ends_with("/config");
    let is_state = |t: &str| t == "lookout/b/yard/person" || t == "lookout/b/yard/car";
    let mut seen = Vec::new();
    let mut take = |until: &dyn Fn(&[String]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !until(&seen) && Instant::now() < deadline {
            if let Ok((topic, _, _)) = sub.rx.recv_timeout(Duration::from_millis(200)) {
                seen.push(topic);
            }
        }
        seen.clone()
    };
    let count = |s: &[String], f: &dyn Fn(&str) -> bool| s.iter().filter(|t| f(t)).count();
    let first = take(&|s| count(s, &is_config) >= 4 && count(s, &is_state) >= 2);
    assert_eq!(count(&first, &is_config), 4, "{first:?}");

    // Home Assistant restarts: its birth message on the discovery prefix.
    common::mqtt_publish(broker.port, "homeassistant/status", b"online", false);
    let all = take(&|s| count(s, &is_config) >= 8 && count(s, &is_state) >= 4);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(count(&all, &is_config), 8, "discovery again: {all:?}");
    assert!(count(&all, &is_state) >= 4, "states again: {all:?}");
}
