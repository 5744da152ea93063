//! What leaves the device: an end-to-end run with every sink type (stdout, file, a webhook to a
//! real HTTP receiver, MQTT to a real mosquitto) carries no image data and stays small per
//! event; the configuration guard refuses video and image outputs with a clear error at their
//! position (exit 2); `lookout audit` reports the egress.
//!
//! Stated limit: every event payload is under [`MAX_EVENT_BYTES`].

mod common;
mod privacy_common;

#[cfg(feature = "capture")]
use common::{HttpReceiver, Mosquitto, Subscriber};
use serde_json::Value;

/// Largest event payload allowed on any sink (an `object` event with both snapshots is ~1 KiB).
#[cfg(feature = "capture")]
const MAX_EVENT_BYTES: usize = 4096;
/// A run of base64 characters this long would be an encoded picture.
const BASE64_RUN: usize = 64;

/// Why `payload` looks like it carries a picture, if it does.
fn image_data(payload: &[u8]) -> Option<String> {
    let sigs: [(&[u8], &str); 6] = [
        (&[0xff, 0xd8, 0xff], "JPEG signature"),
        (b"\x89PNG\r\n\x1a\n", "PNG signature"),
        (b"data:image", "data URL"),
        (b"/9j/", "base64 JPEG"),
        (b"iVBORw0KGgo", "base64 PNG"),
        (b"ftypisom", "MP4 header"),
    ];
    for (sig, what) in sigs {
        if payload.windows(sig.len()).any(|w| w == sig) {
            return Some(what.to_string());
        }
    }
    let mut run = 0;
    for &b in payload {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            run += 1;
            if run >= BASE64_RUN {
                return Some(format!("a run of {run} base64 characters"));
            }
        } else {
            run = 0;
        }
    }
    None
}

#[test]
fn the_detector_for_image_data_is_not_blind() {
    let jpeg = lookout::privacy::snapshot::encode_jpeg(&[128; 8 * 8 * 4], 8, 8, 80).unwrap();
    assert!(image_data(&jpeg).is_some());
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    assert!(image_data(format!("{{\"snapshot\":\"{b64}\"}}").as_bytes()).is_some());
    assert!(
        image_data(br#"{"id":"0190c3a4-7b1e-7cc0-8f5e-1d2c3b4a5f60","label":"person"}"#).is_none()
    );
}

#[cfg(feature = "capture")]
#[test]
fn every_sink_type_carries_events_and_no_pixels() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "#");
    let hook = HttpReceiver::start(|_, _| 200);
    let nats = common::NatsServer::start();
    nats.wait_ready();
    // Snapshots are stored too, to show that what is stored locally stays local.
    let yaml = format!(
        "models:\n\
         \x20 objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         \x20 faces: {{manifest: {root}/models/centerface.yaml, backend: opencv}}\n\
         cameras:\n\
         \x20 - name: vtest\n\
         \x20   source: {root}/pipelines/footage/vtest.avi\n\
         \x20   detect: {{model: objects, fps: 3}}\n\
         \x20   rules:\n\
         \x20     objects: [person, car]\n\
         \x20     lines: [{{name: footpath, a: [0.45, 0.30], b: [0.45, 0.68]}}]\n\
         \x20     zones: [{{name: road, points: [[0.62, 0.17], [0.97, 0.12], [1.0, 0.32], [0.88, 0.45], [0.66, 0.42]], occupancy: {{}}}}]\n\
         \x20   privacy: {{faces: faces, deadline_ms: 60000}}\n\
         sinks:\n\
         \x20 - stdout: {{format: json}}\n\
         \x20 - file: {{path: {d}/events.jsonl}}\n\
         \x20 - webhook: {{url: \"http://{hook}/lookout\"}}\n\
         \x20 - mqtt: {{host: 127.0.0.1, port: {port}}}\n\
         \x20 - nats: {{url: \"{nats}\", stream: {{name: LOOKOUT}}}}\n\
         media:\n  snapshots: {{path: {d}/snaps, kinds: [line_crossed]}}\n\
         state_dir: {d}/state\n\
         metrics: {{enabled: false}}\n",
        root = root.display(),
        d = d.display(),
        hook = hook.addr,
        port = broker.port,
        nats = nats.url(),
    );
    let (out, summary) = common::run_pipeline(d, &yaml);

    let mut payloads: Vec<(String, Vec<u8>)> = Vec::new();
    let stdout = out.stdout;
    // Stdout: one JSON event per line, then the run summary (not JSON lines).
    for line in stdout.split(|&b| b == b'\n') {
        if line.starts_with(b"{\"schema_version\"") {
            payloads.push(("stdout".into(), line.to_vec()));
        }
    }
    for line in common::read(&d.join("events.jsonl")).lines() {
        payloads.push(("file".into(), line.as_bytes().to_vec()));
    }
    for r in hook.requests() {
        payloads.push(("webhook".into(), r.body));
    }
    for (_, _, v) in common::nats_stream_messages(&nats.url(), "LOOKOUT") {
        payloads.push(("nats".into(), serde_json::to_vec(&v).unwrap()));
    }
    while let Ok((topic, body, _)) = sub.rx.recv_timeout(std::time::Duration::from_secs(1)) {
        payloads.push((format!("mqtt {topic}"), body));
    }

    let delivered = |sink: &str| summary["sinks"][sink]["delivered"].as_u64().unwrap();
    let count = |prefix: &str| payloads.iter().filter(|(s, _)| s == prefix).count() as u64;
    assert!(delivered("file") > 20, "a real run: {summary}");
    for sink in ["stdout", "file", "webhook", "nats"] {
        assert_eq!(
            count(sink),
            delivered(sink),
            "{sink}: every delivered event seen"
        );
    }
    let mqtt_events = payloads
        .iter()
        .filter(|(s, p)| s.starts_with("mqtt ") && p.starts_with(b"{\"schema_version\""))
        .count() as u64;
    assert_eq!(mqtt_events, delivered("mqtt"), "mqtt: every event seen");

    let mut largest = 0;
    for (sink, p) in &payloads {
        if let Some(why) = image_data(p) {
            panic!("{sink}: {why} in {}", String::from_utf8_lossy(p));
        }
        largest = largest.max(p.len());
        assert!(
            p.len() < MAX_EVENT_BYTES,
            "{sink}: {} bytes: {}",
            p.len(),
            String::from_utf8_lossy(p)
        );
    }
    eprintln!("{} payloads, the largest {largest} bytes", payloads.len());
    assert!(largest > 100, "payloads are real events ({largest} bytes)");

    // Meanwhile, redacted snapshots were stored here, and only here.
    let stored = summary["analytics"]["media"]["cameras"]["vtest"]["snapshots"]
        .as_u64()
        .unwrap();
    let crossings = common::read(&d.join("events.jsonl"))
        .lines()
        .filter(|l| l.contains("\"kind\":\"line_crossed\""))
        .count() as u64;
    assert_eq!(stored, crossings, "one snapshot per crossing");
    assert!(stored > 0);
}

// ---- the configuration guard ----

/// Validates `yaml` (cameras on the bundled footage) and returns the error text.
fn refused(yaml: &str) -> String {
    let root = common::root();
    let text = yaml.replace("$ROOT", &root.display().to_string()).replace(
        "$CAM",
        &format!(
            "  - name: gate\n    source: {}/pipelines/footage/vtest.avi\n",
            root.display()
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = common::lookout(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "accepted:\n{text}");
    String::from_utf8(out.stderr).unwrap()
}

/// `p.yaml:LINE:COL: lookout never sends footage off the device: ...` naming `what`.
fn assert_guard(err: &str, line: u32, col: u32, what: &str) {
    let at = format!("p.yaml:{line}:{col}: lookout never sends footage off the device: ");
    assert!(err.contains(&at), "want {at:?} in: {err}");
    assert!(err.contains(what), "want {what:?} in: {err}");
}

#[test]
fn video_and_image_outputs_are_refused_with_their_position() {
    let err = refused(
        "cameras:\n$CAMsinks:\n  - webhook:\n      url: http://127.0.0.1:8080/hook\n      attach_snapshot: true\n",
    );
    assert_guard(
        &err,
        7,
        7,
        "cannot attach pictures or video (`attach_snapshot`)",
    );
    let err = refused("cameras:\n$CAMsinks:\n  - mqtt: {host: localhost, include_image: true}\n");
    assert_guard(&err, 5, 29, "`include_image`");
    let err = refused("cameras:\n$CAM    restream: {port: 8554}\n");
    assert_guard(
        &err,
        4,
        5,
        "`restream` would stream or upload the camera's video",
    );
    let err = refused("cameras:\n$CAMrtsp_out:\n  port: 8554\n");
    assert_guard(&err, 4, 1, "`rtsp_out`");
    let err = refused("cameras:\n$CAMsinks:\n  - webrtc: {listen: 0.0.0.0:8555}\n");
    assert_guard(&err, 5, 5, "a `webrtc` sink would send pictures or video");
    let err = refused("cameras:\n$CAMmedia:\n  snapshots: {path: snaps, upload_url: https://x}\n");
    assert_guard(&err, 5, 28, "`media.snapshots.upload_url`");
}

#[test]
fn media_folders_must_be_on_this_machine() {
    let faces = "models:\n  faces: {manifest: $ROOT/models/centerface.yaml}\n  objects: {manifest: $ROOT/models/nanodet-g-416.yaml}\ncameras:\n$CAM    detect: {model: objects}\n    privacy: {faces: faces}\n";
    for (path, why) in [
        ("s3://bucket/snaps", "is a s3:// URL"),
        ("smb://nas/lookout", "is a smb:// URL"),
        ("http://127.0.0.1:9000/upload", "is a http:// URL"),
        ("//nas/share/snaps", "is a network share"),
        ("nas:/export/snaps", "is a path on another host"),
    ] {
        let err = refused(&format!("{faces}media:\n  snapshots:\n    path: {path}\n"));
        assert_guard(&err, 11, 11, why);
    }
    let err = refused(&format!(
        "{faces}media:\n  recording: {{path: 'ftp://nas/rec'}}\n"
    ));
    assert_guard(
        &err,
        10,
        21,
        "the recording folder `ftp://nas/rec` is a ftp:// URL",
    );
}

#[test]
fn stored_media_needs_a_face_model() {
    // No privacy section: refused, with what to add.
    let err = refused(
        "models:\n  objects: {manifest: $ROOT/models/nanodet-g-416.yaml}\ncameras:\n$CAM    detect: {model: objects}\nmedia:\n  snapshots: {path: snaps}\n",
    );
    assert!(err.contains("p.yaml:8:21: `media.snapshots` would store pictures of camera `gate`, which has no face model"), "{err}");
    // A model that does not find faces cannot redact them.
    let err = refused(
        "models:\n  objects: {manifest: $ROOT/models/nanodet-g-416.yaml}\ncameras:\n$CAM    detect: {model: objects}\n    privacy: {faces: objects}\n",
    );
    assert!(
        err.contains(
            "p.yaml:7:22: `privacy.faces`: model `objects` (nanodet-g-416) does not detect faces"
        ),
        "{err}"
    );
}

// ---- lookout audit ----

#[test]
fn audit_reports_egress_storage_and_the_guarantee() {
    let root = common::root();
    let text = common::lookout_ok(&["audit", root.join("pipelines/demo.yaml").to_str().unwrap()]);
    for want in [
        "Leaves the device",
        "metrics (metrics): http://127.0.0.1:9464/metrics",
        "Stays on this machine",
        "no snapshots or recordings are stored",
        "No pixel leaves the device",
    ] {
        assert!(text.contains(want), "want {want:?} in:\n{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "models:\n  faces: {{manifest: {root}/models/centerface.yaml}}\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
         cameras:\n  - name: gate\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects}}\n\
         \x20   privacy: {{faces: faces, style: pixelate, masks: [[[0, 0], [0.2, 0], [0.2, 0.2]]]}}\n\
         sinks:\n  - webhook: {{url: 'https://hooks.example.net/x', filter: {{kinds: [line_crossed]}}}}\n\
         \x20 - mqtt: {{host: 127.0.0.1}}\n\
         media:\n  snapshots: {{path: snaps, max_age_s: 3600}}\n\
         metrics: {{enabled: false}}\n",
        root = root.display()
    );
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let a = common::lookout_json(&["audit", "--json", path.to_str().unwrap()]);
    assert_eq!(a["pixels_leave_device"], false);
    let egress = a["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "{a}");
    assert_eq!(egress[0]["destination"], "POST https://hooks.example.net/x");
    assert_eq!(egress[0]["loopback"], false);
    assert_eq!(
        egress[0]["filter"]["kinds"],
        serde_json::json!(["line_crossed"])
    );
    assert_eq!(egress[1]["destination"], "127.0.0.1:1883");
    assert_eq!(egress[1]["loopback"], true, "loopback is still network");
    assert!(
        a["event_fields"]["common"]
            .as_array()
            .unwrap()
            .contains(&Value::from("box"))
    );
    let media = &a["media"][0];
    assert_eq!(media["kind"], "snapshots");
    assert_eq!(media["redacted"], true);
    let snaps = dir.path().join("snaps");
    assert_eq!(
        media["path"],
        format!("{}/<camera>/<event id>.jpg", snaps.display())
    );
    assert!(
        media["retention"]
            .as_str()
            .unwrap()
            .starts_with("deleted after 1 h"),
        "{media}"
    );
    let cam = &a["cameras"][0];
    assert_eq!(cam["redaction"]["faces"], "faces (centerface)");
    assert_eq!(cam["redaction"]["style"], "pixelate");
    assert_eq!(cam["redaction"]["masks"], 1);
    assert_eq!(a["local"][0]["kind"], "outbox");

    // An invalid pipeline: exit 2 with the position.
    std::fs::write(&path, "cameras:\n  - name: a\n    source: nope.avi\n").unwrap();
    let out = common::lookout(&["audit", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p.yaml:3:13"));
}
