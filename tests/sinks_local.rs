//! Local sinks (JSON-lines file) and sink configuration errors.

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use lookout::events::{Crossing, CrossingCounts, Event, EventKind, SCHEMA_VERSION};
use lookout::metrics::Metrics;
use lookout::sinks::{Catalog, SinkContext, Sinks};

fn crossing(n: u64) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        id: lookout::events::new_id(),
        device: String::new(),
        site: String::new(),
        camera: "gate".into(),
        kind: EventKind::LineCrossed {
            line: "footpath".into(),
            direction: Crossing::BToA,
            counts: CrossingCounts {
                a_to_b: 0,
                b_to_a: n,
            },
        },
        label: "person".into(),
        score: Some(0.7),
        track_id: Some(n),
        bbox: Some([0.1, 0.1, 0.2, 0.4]),
        seq: n,
        pts_seconds: Some(n as f64),
        time: lookout::events::rfc3339(SystemTime::now()),
        model: Some("nanodet-g-416".into()),
    }
}

fn pipeline(
    dir: &std::path::Path,
    sinks: &str,
) -> Result<lookout::pipeline::Pipeline, lookout::config::ConfigError> {
    let path = dir.join("p.yaml");
    std::fs::write(
        &path,
        format!("cameras:\n  - name: gate\n    source: test:ball\nsinks:\n{sinks}"),
    )
    .unwrap();
    lookout::pipeline::load(&path)
}

fn start(
    p: lookout::pipeline::Pipeline,
    state: &std::path::Path,
) -> Result<(Sinks, Arc<Metrics>), lookout::sinks::SinkError> {
    let metrics = Arc::new(Metrics::new());
    let ctx = SinkContext {
        device: Default::default(),
        state_dir: state.to_path_buf(),
        metrics: Arc::clone(&metrics),
        catalog: Catalog::default(),
    };
    Sinks::start(p.sinks, &ctx).map(|s| (s, metrics))
}

#[test]
fn file_sink_rotates_by_size_and_keeps_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        "  - file:\n      path: out/events.jsonl\n      max_bytes: 4096\n      keep: 50\n",
    )
    .unwrap();
    let (sinks, metrics) = start(p, dir.path()).unwrap();
    let sent: Vec<Event> = (0..100).map(crossing).collect();
    for e in &sent {
        sinks.publish(e.clone());
    }
    sinks.shutdown();
    let out = dir.path().join("out");
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "rotated into several files: {files:?}");
    let mut ids = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.len() <= 4096,
            "{} is {} bytes",
            f.display(),
            text.len()
        );
        for line in text.lines() {
            let e: Event = serde_json::from_str(line).expect("each line is one event");
            // Stamped with this box (the host name, site `default`).
            assert_eq!(e.device, lookout::events::device::host_name());
            assert_eq!(e.site, "default");
            ids.push(e.id);
        }
    }
    assert_eq!(ids.len(), 100);
    assert!(sent.iter().all(|e| ids.contains(&e.id)));
    assert_eq!(
        metrics
            .sink_deliveries
            .with_label_values(&["file", "delivered"])
            .get(),
        100
    );
    assert_eq!(
        metrics.egress_events.with_label_values(&["file"]).get(),
        0,
        "a local file is not egress"
    );
}

#[test]
fn file_sink_keeps_only_the_configured_number_of_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        "  - file:\n      path: e.jsonl\n      max_bytes: 2048\n      keep: 2\n",
    )
    .unwrap();
    let (sinks, _) = start(p, dir.path()).unwrap();
    for i in 0..100 {
        sinks.publish(crossing(i));
    }
    sinks.shutdown();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("e.jsonl"))
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["e.jsonl", "e.jsonl.1", "e.jsonl.2"]);
}

#[test]
fn unwritable_event_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), b"a file, not a folder").unwrap();
    let p = pipeline(dir.path(), "  - file:\n      path: blocker/events.jsonl\n").unwrap();
    let err = start(p, dir.path()).err().expect("cannot open");
    let msg = err.to_string();
    assert!(
        msg.contains("blocker/events.jsonl") && msg.contains("sink `file`"),
        "{msg}"
    );
}

#[test]
fn sink_config_errors_point_at_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "  - webhook:\n      url: ftp://x\n",
            (6, 12),
            "http:// or https://",
        ),
        (
            "  - webhook:\n      url: http://x\n      secret_env: LOOKOUT_TEST_NO_SUCH_SECRET\n",
            (7, 19),
            "not set",
        ),
        (
            "  - mqtt:\n      host: 127.0.0.1\n      filter: {kinds: [line_crosed]}\n",
            (7, 24),
            "did you mean `line_crossed`?",
        ),
        (
            "  - mqtt:\n      host: 127.0.0.1\n      filter: {cameras: [nope]}\n",
            (7, 26),
            "not in `cameras`",
        ),
        (
            "  - mqtt:\n      host: 127.0.0.1\n      port: 99999\n",
            (7, 13),
            "expected a whole number",
        ),
        ("  - mqqt:\n      host: x\n", (5, 5), "did you mean `mqtt`?"),
        (
            "  - nats:\n      url: http://fleet:4222\n",
            (6, 12),
            "not a NATS server URL",
        ),
        (
            "  - nats:\n      url: nats://fleet:4222\n      subject_prefix: acme.video cams\n",
            (7, 23),
            "subject prefix `acme.video cams`",
        ),
        (
            "  - nats:\n      url: nats://fleet:4222\n      stream: {name: LOOK.OUT}\n",
            (7, 22),
            "stream name `LOOK.OUT`",
        ),
        (
            "  - nats:\n      url: nats://fleet:4222\n      stream: {name: L, replicas: 7}\n",
            (7, 35),
            "must be 1 to 5, got 7",
        ),
        (
            "  - nats:\n      url: nats://fleet:4222\n      credentials_file: no-such.creds\n",
            (7, 25),
            "cannot read credentials file `no-such.creds`",
        ),
        (
            "  - nats:\n      url: nats://fleet:4222\n      token: t\n      user: u\n",
            (6, 12),
            "not several",
        ),
    ];
    for (yaml, (line, col), words) in cases {
        let err = pipeline(dir.path(), yaml)
            .err()
            .unwrap_or_else(|| panic!("accepted: {yaml}"));
        assert_eq!((err.line, err.column), (line, col), "{yaml}: {err}");
        assert!(err.message.contains(words), "{yaml}: {err}");
    }
}

#[test]
fn human_lines_read_well() {
    let line = crossing(3).to_string();
    assert!(line.starts_with("[gate t=3.000s] person #3"), "{line}");
    assert!(
        line.contains("crossed footpath (b_to_a; totals a_to_b 0, b_to_a 3)"),
        "{line}"
    );
}
