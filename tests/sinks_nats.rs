//! The `nats` sink against real `nats-server`s with JetStream on 127.0.0.1: one server, a
//! three-node cluster that loses the node the sink talks to, a server down for 30 s while lookout
//! is SIGKILLed, and two boxes sharing one stream, read back with `lookout events`.

#![cfg(feature = "capture")]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{NatsServer, nats_stream_messages, wait_until};
use lookout::events::{Crossing, CrossingCounts, Device, Event, EventKind};
use lookout::metrics::Metrics;
use lookout::sinks::outbox::{Outbox, OutboxLimits};
use lookout::sinks::{Catalog, SinkContext, Sinks};
use serde_json::Value;

fn crossing(camera: &str, n: u64) -> Event {
    Event {
        schema_version: lookout::events::SCHEMA_VERSION,
        id: lookout::events::new_id(),
        device: String::new(),
        site: String::new(),
        camera: camera.into(),
        kind: EventKind::LineCrossed {
            line: "footpath".into(),
            direction: Crossing::AToB,
            counts: CrossingCounts {
                a_to_b: n,
                b_to_a: 0,
            },
        },
        label: "person".into(),
        score: Some(0.8),
        track_id: Some(n),
        bbox: Some([0.1, 0.2, 0.3, 0.6]),
        seq: n,
        pts_seconds: Some(n as f64),
        time: lookout::events::rfc3339(SystemTime::now()),
        model: Some("nanodet-g-416".into()),
    }
}

/// Starts the sinks of a pipeline whose `sinks:` section is `sinks_yaml`, as box `door-box` of
/// site `oslo`.
fn start_sinks(sinks_yaml: &str, state: &std::path::Path) -> (Sinks, Arc<Metrics>) {
    let text = format!("cameras:\n  - name: gate\n    source: test:ball\nsinks:\n{sinks_yaml}");
    let pipeline = lookout::pipeline::load_str(&text, std::path::Path::new("test.yaml"), |_| None)
        .expect("valid sinks");
    let metrics = Arc::new(Metrics::new());
    let ctx = SinkContext {
        device: Device {
            name: "door-box".into(),
            site: "oslo".into(),
        },
        state_dir: state.to_path_buf(),
        metrics: Arc::clone(&metrics),
        catalog: Catalog::default(),
    };
    (
        Sinks::start(pipeline.sinks, &ctx).expect("sinks start"),
        metrics,
    )
}

#[test]
fn nats_sink_stores_each_event_once_with_its_id_and_identity() {
    let server = NatsServer::start();
    server.wait_ready();
    let state = tempfile::tempdir().unwrap();
    let yaml = format!(
        "  - nats:\n      url: {}\n      stream: {{name: LOOKOUT, max_age_s: 3600}}\n",
        server.url()
    );
    let (sinks, metrics) = start_sinks(&yaml, state.path());
    let sent: Vec<Event> = (1..=20).map(|n| crossing("gate", n)).collect();
    for e in &sent {
        sinks.publish(e.clone());
    }
    // The same event again (as after a crash before the outbox recorded its delivery).
    sinks.publish(sent[3].clone());
    let delivered = || {
        metrics
            .sink_deliveries
            .with_label_values(&["nats", "delivered"])
            .get()
    };
    assert!(
        wait_until(Duration::from_secs(30), || delivered() == 21),
        "delivered {}",
        delivered()
    );
    sinks.shutdown();

    let stored = nats_stream_messages(&server.url(), "LOOKOUT");
    assert_eq!(stored.len(), 20, "the repeated id is stored once");
    for (e, (subject, msg_id, v)) in sent.iter().zip(&stored) {
        assert_eq!(subject, "lookout.oslo.door-box.gate.line_crossed");
        assert_eq!(msg_id, &e.id, "the event id is the Nats-Msg-Id");
        assert_eq!(v["id"], e.id.as_str());
        assert_eq!(
            (&v["device"], &v["site"]),
            (&"door-box".into(), &"oslo".into())
        );
    }
    assert_eq!(metrics.sink_up.with_label_values(&["nats"]).get(), 1);
    assert!(metrics.egress_bytes.with_label_values(&["nats"]).get() > 0);
}

/// vtest.avi with NanoDet at `fps` detections per second, a line and a zone, as box `device`
/// of site `lab`, its outbox in `state`, events also in the file `$EVENTS_FILE`, and `sinks`.
fn vtest_pipeline(dir: &Path, device: &str, fps: u32, sinks: &str) -> PathBuf {
    let root = common::root();
    let yaml = format!(
        "device: {{name: {device}, site: lab}}\n\
         models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n  - name: vtest\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects, fps: {fps}}}\n    rules:\n      objects: [person, car]\n      lines: [{{name: footpath, a: [0.45, 0.30], b: [0.45, 0.68], labels: [person]}}]\n      zones: [{{name: road, points: [[0.62, 0.17], [0.97, 0.12], [1.0, 0.32], [0.88, 0.45], [0.66, 0.42]]}}]\n\
         state_dir: {state}\n\
         sinks:\n  - file: {{path: \"${{EVENTS_FILE}}\"}}\n{sinks}\
         metrics: {{listen: \"127.0.0.1:${{METRICS_PORT}}\"}}\n",
        root = root.display(),
        state = dir.join("state").display(),
    );
    let path = dir.join(format!("{device}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `lookout run` of `path`, with its events file and metrics port.
fn spawn(path: &Path, events: &Path, metrics_port: u16, summary: &Path) -> Child {
    let env = [
        ("EVENTS_FILE", events.display().to_string()),
        ("METRICS_PORT", metrics_port.to_string()),
    ];
    common::lookout_run(path, summary, &env)
}

fn scrape(port: u16, name: &str, labels: &[(&str, &str)]) -> f64 {
    common::scrape(port, name, labels).unwrap_or(0.0)
}

fn ids_in_file(path: &Path) -> Vec<String> {
    common::read(path)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The stream holds each id once: its ids, in order.
fn unique_ids(stored: &[(String, String, Value)]) -> Vec<String> {
    let ids: Vec<String> = stored.iter().map(|(_, id, _)| id.clone()).collect();
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "an event is stored twice");
    for (_, id, v) in stored {
        assert_eq!(v["id"], id.as_str(), "Nats-Msg-Id is the event id");
    }
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn demo_run_stores_exactly_its_events_in_jetstream() {
    let server = NatsServer::start();
    server.wait_ready();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    // The demo file itself, its events file here and a nats sink instead of stdout.
    let nats = format!(
        "  - nats: {{url: {}, stream: {{name: LOOKOUT, max_age_s: 3600}}}}\n",
        server.url()
    );
    let path = common::shipped_pipeline(
        "demo.yaml",
        &[
            (
                "path: ../events.jsonl",
                format!("path: {}", events.display()),
            ),
            ("  - stdout: {}\n", nats),
        ],
        &format!(
            "device: {{name: demo-box, site: lab}}\nstate_dir: {}\n",
            dir.path().join("state").display()
        ),
        dir.path(),
    );
    let summary = dir.path().join("s.json");
    let status = spawn(&path, &events, common::free_port(), &summary)
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    let run = ids_in_file(&events);
    assert!(run.len() > 50, "the demo makes events: {}", run.len());
    let stored = nats_stream_messages(&server.url(), "LOOKOUT");
    assert_eq!(
        sorted(unique_ids(&stored)),
        sorted(run),
        "exactly the run's events"
    );
    for (subject, _, v) in &stored {
        assert_eq!(
            (&v["device"], &v["site"]),
            (&"demo-box".into(), &"lab".into())
        );
        let kind = v["kind"].as_str().unwrap();
        assert_eq!(subject, &format!("lookout.lab.demo-box.vtest.{kind}"));
    }
}

#[test]
fn cluster_node_killed_mid_run_every_event_stored_once() {
    let mut cluster = common::nats_cluster();
    let dir = tempfile::tempdir().unwrap();
    // Only the first node is named: the client learns the others from it.
    let sinks = format!(
        "  - nats: {{url: {}, stream: {{name: LOOKOUT, replicas: 3, max_age_s: 3600}}, retry: {{initial_ms: 200, max_ms: 1000}}, outbox: {{drain_timeout_s: 120}}}}\n",
        cluster[0].url()
    );
    let path = vtest_pipeline(dir.path(), "box-c", 3, &sinks);
    let (events, summary, port) = (
        dir.path().join("events.jsonl"),
        dir.path().join("s.json"),
        common::free_port(),
    );
    let mut child = spawn(&path, &events, port, &summary);
    let delivered = || {
        scrape(
            port,
            "lookout_sink_deliveries_total",
            &[("sink", "nats"), ("result", "delivered")],
        )
    };
    assert!(
        wait_until(Duration::from_secs(120), || delivered() >= 5.0),
        "no events stored before the node is killed"
    );
    cluster[0].kill();
    std::thread::sleep(Duration::from_secs(3));
    cluster[0].restart();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let s: Value = serde_json::from_str(&common::read(&summary)).unwrap();
    assert_eq!(s["sinks"]["nats"]["pending"], 0, "{}", s["sinks"]);
    let stored = nats_stream_messages(&cluster[1].url(), "LOOKOUT");
    assert_eq!(
        sorted(unique_ids(&stored)),
        sorted(ids_in_file(&events)),
        "every event of the run, once"
    );
}

#[test]
fn server_down_30s_and_lookout_sigkilled_meanwhile_every_event_stored_once() {
    let mut server = NatsServer::start();
    server.wait_ready();
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "  - nats: {{url: {}, stream: {{name: LOOKOUT, max_age_s: 3600}}, retry: {{initial_ms: 200, max_ms: 1000}}, outbox: {{drain_timeout_s: 120}}}}\n",
        server.url()
    );
    let path = vtest_pipeline(dir.path(), "box-d", 3, &sinks);
    let port = common::free_port();
    let mut first = spawn(
        &path,
        &dir.path().join("first.jsonl"),
        port,
        &dir.path().join("s1.json"),
    );
    assert!(
        wait_until(Duration::from_secs(120), || scrape(
            port,
            "lookout_sink_deliveries_total",
            &[("sink", "nats"), ("result", "delivered")]
        ) >= 5.0),
        "no events stored before the outage"
    );
    server.kill();
    let down_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || scrape(
            port,
            "lookout_outbox_events",
            &[("sink", "nats")]
        ) >= 3.0),
        "no events waiting in the outbox during the outage"
    );
    first.kill().unwrap(); // SIGKILL while the server is down
    let _ = first.wait();

    // What the restarted lookout must deliver: the outbox as the crash left it.
    let (mut outbox, _) = Outbox::open(
        &dir.path().join("state/outbox/nats"),
        OutboxLimits::default(),
    )
    .unwrap();
    let mut pending = Vec::new();
    while let Some((_, payload)) = outbox.next_record().unwrap() {
        pending.push(
            serde_json::from_slice::<Value>(&payload).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    drop(outbox);
    assert!(pending.len() >= 3, "{pending:?}");

    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    server.restart();
    let second_events = dir.path().join("second.jsonl");
    let status = spawn(
        &path,
        &second_events,
        common::free_port(),
        &dir.path().join("s2.json"),
    )
    .wait()
    .unwrap();
    assert_eq!(status.code(), Some(0));

    let stored = unique_ids(&nats_stream_messages(&server.url(), "LOOKOUT"));
    let stored_set: HashSet<&String> = stored.iter().collect();
    let second = ids_in_file(&second_events);
    for id in pending.iter().chain(&second) {
        assert!(stored_set.contains(id), "event {id} is not in the stream");
    }
    let before_outage = stored.len() - pending.len() - second.len();
    assert!(
        before_outage >= 5,
        "{before_outage} stored before the outage"
    );
}

/// Publishes one event through a `nats` sink written as `sink` and waits up to `within` for it to
/// be delivered; returns whether it was, and the retries counted.
fn deliver_one(sink: &str, within: Duration) -> (bool, u64) {
    let state = tempfile::tempdir().unwrap();
    let (sinks, metrics) = start_sinks(
        &format!(
            "  - nats: {{{sink}, retry: {{initial_ms: 100, max_ms: 300}}, outbox: {{drain_timeout_s: 0}}}}\n"
        ),
        state.path(),
    );
    sinks.publish(crossing("gate", 1));
    let delivered = wait_until(within, || {
        metrics
            .sink_deliveries
            .with_label_values(&["nats", "delivered"])
            .get()
            == 1
    });
    let retries = metrics.sink_retries.with_label_values(&["nats"]).get();
    sinks.shutdown();
    (delivered, retries)
}

#[test]
fn nats_sink_authenticates_and_verifies_the_server_certificate() {
    let certs = tempfile::tempdir().unwrap();
    common::test_certificates(certs.path());
    let pem = |f: &str| certs.path().join(f).display().to_string();
    let args: Vec<String> = [
        "--user",
        "lookout",
        "--pass",
        "s3cret",
        "--tls",
        "--tlscert",
        &pem("server.pem"),
        "--tlskey",
        &pem("server.key"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = NatsServer::start_with(common::free_port(), &args);
    let stream = "stream: {name: LOOKOUT, max_age_s: 3600}";
    let url = format!("url: {}", server.url());
    let ca = format!("tls: {{ca_file: {}}}", pem("ca.pem"));

    let ok = deliver_one(
        &format!("{url}, {stream}, user: lookout, password: s3cret, {ca}"),
        Duration::from_secs(20),
    );
    assert!(ok.0, "user, password and the test CA: delivered");
    let wrong = deliver_one(
        &format!("{url}, {stream}, user: lookout, password: guess, {ca}"),
        Duration::from_secs(2),
    );
    assert!(
        !wrong.0 && wrong.1 >= 2,
        "a wrong password is retried, never delivered: {wrong:?}"
    );
    let untrusted = deliver_one(
        &format!("{url}, {stream}, user: lookout, password: s3cret, tls: {{}}"),
        Duration::from_secs(2),
    );
    assert!(
        !untrusted.0 && untrusted.1 >= 2,
        "the system store does not trust the test CA: {untrusted:?}"
    );
    assert_eq!(nats_stream_messages_tls(&server, &pem("ca.pem")), 1);

    let token = NatsServer::start_with(common::free_port(), &["--auth".into(), "t0ken".into()]);
    let sink = format!("url: {}, {stream}, token: t0ken", token.url());
    assert!(deliver_one(&sink, Duration::from_secs(20)).0, "a token");
}

/// Messages in the stream of a server that wants user `lookout` and TLS.
fn nats_stream_messages_tls(server: &NatsServer, ca: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client =
            async_nats::ConnectOptions::with_user_and_password("lookout".into(), "s3cret".into())
                .add_root_certificates(ca.into())
                .require_tls(true)
                .connect(server.url())
                .await
                .unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_stream("LOOKOUT")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages
    })
}

#[test]
fn audit_lists_the_nats_sink_as_egress() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "device: {name: door-box, site: oslo}\n\
                cameras:\n  - name: door\n    source: test:ball\n\
                sinks:\n  - nats: {url: \"tls://u:p@fleet.example.net:4222\", stream: {name: LOOKOUT, replicas: 3}, filter: {kinds: [line_crossed]}}\n\
                metrics: {enabled: false}\n";
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let a = common::lookout_json(&["audit", "--json", path.to_str().unwrap()]);
    let e = &a["egress"][0];
    assert_eq!(e["kind"], "nats");
    assert_eq!(
        e["destination"], "tls://***@fleet.example.net:4222",
        "no credentials: {e}"
    );
    assert_eq!(e["loopback"], false);
    assert_eq!(e["protection"], "TLS, user and password in the URL");
    assert_eq!(e["filter"]["kinds"], serde_json::json!(["line_crossed"]));
    let sends = e["sends"].to_string();
    assert!(
        sends.contains("lookout.oslo.door-box.<camera>.<kind>"),
        "{sends}"
    );
    assert!(
        sends.contains("Nats-Msg-Id") && sends.contains("3 replicas"),
        "{sends}"
    );
    assert_eq!(a["local"][0]["kind"], "outbox");
    assert_eq!(a["pixels_leave_device"], false);
    let text = common::lookout_ok(&["audit", path.to_str().unwrap()]);
    assert!(
        text.contains("nats (nats): tls://***@fleet.example.net:4222"),
        "{text}"
    );
}

#[test]
fn two_boxes_one_stream_counted_apart() {
    let server = NatsServer::start();
    server.wait_ready();
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "  - nats: {{url: {}, stream: {{name: FLEET, max_age_s: 3600}}}}\n",
        server.url()
    );
    let runs: Vec<(&str, PathBuf, Child)> = [("box-a", 2), ("box-b", 1)]
        .into_iter()
        .map(|(device, fps)| {
            let sub = dir.path().join(device);
            std::fs::create_dir_all(&sub).unwrap();
            let path = vtest_pipeline(&sub, device, fps, &sinks);
            let summary = sub.join("s.json");
            let child = spawn(
                &path,
                &sub.join("events.jsonl"),
                common::free_port(),
                &summary,
            );
            (device, summary, child)
        })
        .collect();
    let mut summaries = std::collections::BTreeMap::new();
    for (device, summary, mut child) in runs {
        assert_eq!(child.wait().unwrap().code(), Some(0), "{device}");
        let s: Value = serde_json::from_str(&common::read(&summary)).unwrap();
        summaries.insert(device, s["analytics"]["cameras"]["vtest"].clone());
    }

    let counts = common::lookout_json(&["events", "--nats", &server.url(), "--counts", "--json"]);
    let cameras = counts["cameras"].as_array().unwrap();
    assert_eq!(cameras.len(), 2, "{counts}");
    for c in cameras {
        assert_eq!((&c["site"], &c["camera"]), (&"lab".into(), &"vtest".into()));
        let device = c["device"].as_str().unwrap();
        let cam = &summaries[device];
        assert_eq!(c["kinds"], cam["events"], "{device}: events per kind");
        assert_eq!(c["lines"], cam["lines"], "{device}: line crossings");
        assert_eq!(
            c["zones"]["road"], cam["zones"]["road"]["visits"],
            "{device}: zone entries"
        );
    }
    assert_ne!(
        cameras[0]["kinds"], cameras[1]["kinds"],
        "the boxes ran at different rates"
    );

    // One box's events, tailed as JSON lines.
    let lines = common::lookout_json_lines(&[
        "events",
        "--nats",
        &server.url(),
        "--device",
        "box-b",
        "--since",
        "1h",
        "--no-follow",
        "--json",
    ]);
    // Events a box's summary counts, all kinds.
    let total = |device: &str| -> u64 {
        summaries[device]["events"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!(lines.len() as u64, total("box-b"));
    assert!(lines.iter().all(|e| e["device"] == "box-b"));

    // A durable consumer goes on where it stopped: a second read has nothing new.
    let url = server.url();
    let durable = |extra: &[&str]| {
        let mut args = vec![
            "events",
            "--nats",
            &url,
            "--device",
            "box-a",
            "--durable",
            "ops",
        ];
        args.extend_from_slice(extra);
        common::lookout_ok(&args)
    };
    let first = durable(&["--since", "1h", "--no-follow"]);
    assert_eq!(first.lines().count() as u64, total("box-a"));
    assert!(
        first.lines().all(|l| l.starts_with("lab/box-a [vtest t=")),
        "readable lines: {first}"
    );
    assert_eq!(durable(&["--no-follow"]), "", "already read");
}

#[test]
fn events_command_says_what_is_wrong() {
    let dead = format!("nats://127.0.0.1:{}", common::free_port());
    let out = common::lookout(&["events", "--nats", &dead, "--since", "1w"]);
    assert_eq!(out.status.code(), Some(2), "a bad --since is bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("s, m, h or d"));
    let out = common::lookout(&["events", "--nats", &dead, "--camera", "front door"]);
    assert_eq!(out.status.code(), Some(2));
    let out = common::lookout(&["events", "--nats", &dead, "--counts"]);
    assert_eq!(out.status.code(), Some(1), "no server is a runtime failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to NATS"), "{err}");
}

#[test]
fn a_backlog_of_several_outbox_segments_is_delivered_when_the_server_is_back() {
    let mut server = NatsServer::start();
    server.wait_ready();
    server.kill();
    let state = tempfile::tempdir().unwrap();
    // A 1 MiB outbox is cut into 64 KiB segments: 300 events fill about four.
    let yaml = format!(
        "  - nats: {{url: {}, stream: {{name: LOOKOUT, max_age_s: 3600}}, retry: {{initial_ms: 100, max_ms: 300}}, outbox: {{max_bytes: 1048576}}}}\n",
        server.url()
    );
    let (sinks, metrics) = start_sinks(&yaml, state.path());
    let sent: Vec<Event> = (1..=300).map(|n| crossing("gate", n)).collect();
    for e in &sent {
        sinks.publish(e.clone());
    }
    let pending = || metrics.outbox_events.with_label_values(&["nats"]).get();
    assert!(wait_until(Duration::from_secs(10), || pending() == 300));
    server.restart();
    assert!(
        wait_until(Duration::from_secs(60), || pending() == 0),
        "{} events still waiting",
        pending()
    );
    sinks.shutdown();
    let stored = unique_ids(&nats_stream_messages(&server.url(), "LOOKOUT"));
    assert_eq!(
        stored,
        sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(metrics.outbox_dropped.with_label_values(&["nats"]).get(), 0);
}
