//! Changing a running pipeline without a restart, through the real binary: the bundled footage
//! served live by a real RTSP server, the pipeline file rewritten while `lookout run` runs.
#![cfg(feature = "capture")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::live::{RtspServer, Run, wait_until};
use serde_json::Value;

/// Two cameras on the live footage; `door_rules` goes into the first camera's section.
fn pipeline(rtsp: u16, metrics: u16, door_rules: &str) -> String {
    format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n\
         \x20 - name: door\n    source: rtsp://127.0.0.1:{rtsp}/vtest\n    detect: {{model: objects, fps: 5}}\n\
         \x20   rules:\n      objects: [person]\n{door_rules}\
         \x20 - name: hall\n    source: rtsp://127.0.0.1:{rtsp}/vtest\n    detect: {{model: objects, fps: 5}}\n\
         \x20   rules: {{objects: [person]}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\n\
         metrics: {{listen: '127.0.0.1:{metrics}'}}\n",
        root = common::root().display()
    )
}

#[test]
fn a_line_added_to_a_running_pipeline_names_the_next_crossing_and_a_broken_edit_changes_nothing() {
    let rtsp_port = common::free_port();
    let _server = RtspServer::start(rtsp_port);
    let metrics_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let run = Run::start(
        dir.path(),
        &pipeline(rtsp_port, metrics_port, ""),
        metrics_port,
    );
    let hall_ids = |events: &[Value]| -> Vec<u64> {
        events
            .iter()
            .filter(|e| e["camera"] == "hall" && e["kind"] == "object" && e["type"] == "new")
            .filter_map(|e| e["track_id"].as_u64())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(120), || hall_ids(&run.events()).len()
            >= 2),
        "no tracks on the second camera: {}",
        run.log()
    );
    let before = hall_ids(&run.events());

    // (b) A broken edit: counted, logged at its place, and nothing stops.
    run.write("cameras:\n  - name: door\n    source: [oops\n");
    assert!(
        wait_until(Duration::from_secs(30), || run
            .metric("lookout_config_reloads_total", &[("result", "error")])
            == Some(1.0)),
        "{}",
        run.log()
    );
    assert!(
        run.log().contains("p.yaml:3:"),
        "error with its position: {}",
        run.log()
    );
    let (status, _) = common::http_get(run.metrics, "/readyz").unwrap();
    assert_eq!(status, 200, "/readyz keeps answering");

    // (a) A line across the footpath: the next crossing names it.
    let line = "      lines:\n        - {name: footpath, a: [0.45, 0.30], b: [0.45, 0.68]}\n";
    run.write(&pipeline(rtsp_port, metrics_port, line));
    assert!(
        wait_until(Duration::from_secs(30), || run
            .metric("lookout_config_reloads_total", &[("result", "ok")])
            == Some(1.0)),
        "{}",
        run.log()
    );
    assert!(
        wait_until(Duration::from_secs(150), || run
            .events()
            .iter()
            .any(|e| e["kind"] == "line_crossed" && e["line"] == "footpath")),
        "no crossing of the new line: {}",
        run.log()
    );
    let after = hall_ids(&run.events());
    let summary = run.stop();
    // The other camera kept its stream and tracker: its ids go on from where they were.
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    let mut sorted = after.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        after.len(),
        "a track id was given twice: {after:?}"
    );
    assert_eq!(summary["cameras"]["hall"]["reconnects"], 0, "{summary}");
}

/// `bytes`' sha256 in hex, as manifests carry it.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` as a deployment tool does: a new file renamed over the old one.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// NanoDet's manifest pointing at `file` in the same folder, expecting `sha`.
fn manifest_for(file: &str, sha: &str) -> String {
    common::read(&common::root().join("models/nanodet-g-416.yaml"))
        .lines()
        .map(|l| match l {
            l if l.starts_with("sha256:") => format!("sha256: {sha}\n"),
            l if l.starts_with("file:") => format!("file: {file}\n"),
            l if l.starts_with("license_files:") => "license_files: []\n".to_string(),
            l => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn a_corrupt_model_is_refused_and_a_valid_one_is_swapped_in_without_dropping_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(common::root().join("models/nanodet-g-416.onnx")).unwrap();
    let first_sha = sha256_hex(&original);
    let (onnx, manifest) = (dir.path().join("m.onnx"), dir.path().join("m.yaml"));
    std::fs::write(&onnx, &original).unwrap();
    std::fs::write(&manifest, manifest_for("m.onnx", &first_sha)).unwrap();
    let metrics_port = common::free_port();
    // A file source: `queue: block`, every frame detected, so any frame lost to the swap shows.
    let yaml = format!(
        "models:\n  objects: {{manifest: m.yaml, backend: opencv}}\n\
         cameras:\n  - name: vtest\n    source: {}\n    detect: {{model: objects}}\n\
         \x20   motion: {{enabled: false}}\n    rules: {{objects: [person]}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\n\
         metrics: {{listen: '127.0.0.1:{metrics_port}'}}\n",
        common::footage("vtest.avi").display()
    );
    let run = Run::start(dir.path(), &yaml, metrics_port);
    let reloads = |result: &str| {
        run.metric("lookout_config_reloads_total", &[("result", result)])
            .unwrap_or(0.0)
    };
    let live_sha = |sha: &str| run.metric("lookout_model_info", &[("sha256", sha)]);
    assert!(
        wait_until(Duration::from_secs(120), || live_sha(&first_sha)
            == Some(1.0)),
        "{}",
        run.log()
    );

    // A corrupt copy over the model file: its sha256 no longer matches the manifest.
    replace(&onnx, &original[..original.len() / 2]);
    assert!(
        wait_until(Duration::from_secs(30), || reloads("error") >= 1.0),
        "{}",
        run.log()
    );
    assert!(run.log().contains("sha256 mismatch"), "{}", run.log());
    // The manifest updated to the corrupt file's digest: it passes the checksum, not the checks.
    let corrupt_sha = sha256_hex(&original[..original.len() / 2]);
    replace(&manifest, manifest_for("m.onnx", &corrupt_sha).as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || reloads("error") >= 2.0),
        "{}",
        run.log()
    );
    assert_eq!(reloads("ok"), 0.0, "{}", run.log());
    assert_eq!(live_sha(&first_sha), Some(1.0), "the old model runs on");
    assert_eq!(live_sha(&corrupt_sha), None);

    // A valid model, re-exported (other bytes, same network): loaded beside, then swapped.
    // ModelProto's doc_string (field 6) appended: protobuf fields may come in any order.
    let doc = b"re-exported for the reload test";
    let mut valid = original.clone();
    valid.extend_from_slice(&[0x32, doc.len() as u8]);
    valid.extend_from_slice(doc);
    let valid_sha = sha256_hex(&valid);
    assert_ne!(valid_sha, first_sha);
    std::fs::write(dir.path().join("m2.onnx"), &valid).unwrap();
    replace(&manifest, manifest_for("m2.onnx", &valid_sha).as_bytes());
    assert!(
        wait_until(Duration::from_secs(60), || reloads("ok") >= 1.0),
        "{}",
        run.log()
    );
    assert_eq!(live_sha(&valid_sha), Some(1.0), "{}", run.log());
    assert_eq!(live_sha(&first_sha), None, "the old model's series is gone");
    let processed_at_swap = run
        .metric("lookout_frames_processed_total", &[("camera", "vtest")])
        .unwrap_or(0.0);
    assert!(
        processed_at_swap < 795.0,
        "the clip ended before the swap: make the test's reloads faster"
    );

    // The clip plays to its end: every frame captured was detected, none dropped.
    let mut child_done = false;
    let mut run = run;
    for _ in 0..3000 {
        if let Ok(Some(_)) = run.child.try_wait() {
            child_done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        child_done,
        "the run did not end ({processed_at_swap} frames at the swap, {:?} now): {}",
        run.metric("lookout_frames_processed_total", &[("camera", "vtest")]),
        run.log()
    );
    let summary: Value =
        serde_json::from_str(&common::read(&dir.path().join("summary.json"))).unwrap();
    let cam = &summary["cameras"]["vtest"];
    assert_eq!(cam["frames_captured"], 795, "{cam}");
    assert_eq!(cam["frames_processed"], 795, "{cam}");
    assert_eq!(cam["frames_dropped_total"], 0, "{cam}");
    assert_eq!(
        summary["analytics"]["cameras"]["vtest"]["frames_detected"], 795,
        "{summary}"
    );
}

/// Threads and resident memory (kB) of process `pid`, from /proc.
fn threads_and_rss(pid: u32) -> (usize, u64) {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    let status = common::read(Path::new(&format!("/proc/{pid}/status")));
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (threads, rss)
}

#[test]
fn a_hundred_reloads_leak_no_thread_no_memory_and_lose_no_event() {
    let rtsp_port = common::free_port();
    let _server = RtspServer::start(rtsp_port);
    let metrics_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    // Odd reloads add a second camera (its own stream and tracker) and a line on the first;
    // even ones take both away again.
    let file = |n: usize| {
        let mut yaml = pipeline(
            rtsp_port,
            metrics_port,
            if n % 2 == 1 {
                "      lines:\n        - {name: footpath, a: [0.45, 0.30], b: [0.45, 0.68]}\n"
            } else {
                ""
            },
        );
        if n.is_multiple_of(2) {
            // Only `door`: drop the `hall` camera's block.
            let start = yaml.find("  - name: hall").unwrap();
            let end = yaml.find("sinks:").unwrap();
            yaml.replace_range(start..end, "");
        }
        yaml
    };
    let run = Run::start(dir.path(), &file(0), metrics_port);
    let pid = run.child.id();
    let reload = |n: usize| {
        run.write(&file(n));
        let out = common::lookout_cmd()
            .args(["reload", dir.path().join("p.yaml").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reload {n}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(
        wait_until(Duration::from_secs(120), || run
            .metric("lookout_frames_detected_total", &[("camera", "door")])
            .is_some_and(|n| n > 0.0)),
        "{}",
        run.log()
    );
    // Warm up: the first cycles create what stays (the second stream's pools, allocator arenas).
    for n in 1..=10 {
        reload(n);
    }
    let before = threads_and_rss(pid);
    for n in 11..=110 {
        reload(n);
    }
    // Let the last removed camera's threads finish draining.
    std::thread::sleep(Duration::from_secs(2));
    let after = threads_and_rss(pid);
    let ok = run
        .metric("lookout_config_reloads_total", &[("result", "ok")])
        .unwrap();
    assert!(ok >= 110.0, "{ok} reloads applied: {}", run.log());
    assert_eq!(
        run.metric("lookout_config_reloads_total", &[("result", "error")]),
        None,
        "{}",
        run.log()
    );
    assert!(
        after.0 <= before.0 + 2,
        "threads: {} after 10 reloads, {} after 110",
        before.0,
        after.0
    );
    assert!(
        after.1 <= before.1 + 30 * 1024,
        "resident memory: {} kB after 10 reloads, {} kB after 110",
        before.1,
        after.1
    );
    eprintln!(
        "threads {} -> {}, resident {} kB -> {} kB over 100 reloads",
        before.0, after.0, before.1, after.1
    );
    let lines = run.events().len() as u64;
    let summary = run.stop();
    let sink = &summary["sinks"]["file"];
    assert_eq!(sink["dropped"], 0, "{summary}");
    assert_eq!(sink["failed"], 0, "{summary}");
    assert!(lines > 0, "no events at all");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events.jsonl"))
            .unwrap()
            .lines()
            .count() as u64,
        sink["delivered"].as_u64().unwrap(),
        "{summary}"
    );
    assert!(
        !run_log_has_panic(&dir.path().join("stderr.log")),
        "a panic in the log"
    );
}

fn run_log_has_panic(log: &Path) -> bool {
    common::read(log).contains("panicked")
}

/// One camera on the live footage, its events to a file and to a webhook at `hook`.
fn webhook_pipeline(rtsp: u16, metrics: u16, hook: std::net::SocketAddr) -> String {
    format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n\
         \x20 - name: door\n    source: rtsp://127.0.0.1:{rtsp}/vtest\n    detect: {{model: objects, fps: 5}}\n\
         \x20   rules: {{objects: [person]}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\n\
         \x20 - webhook: {{url: 'http://{hook}/events', retry: {{initial_ms: 50, max_ms: 200}}, outbox: {{drain_timeout_s: 30}}}}\n\
         state_dir: state\n\
         metrics: {{listen: '127.0.0.1:{metrics}'}}\n",
        root = common::root().display()
    )
}

#[test]
fn a_sink_changed_with_undelivered_events_in_its_outbox_delivers_every_one_to_its_new_address() {
    let rtsp_port = common::free_port();
    let _server = RtspServer::start(rtsp_port);
    let metrics_port = common::free_port();
    // The first address answers 503 to everything: events wait in the outbox.
    let broken = common::HttpReceiver::start(|_, _| 503);
    let fixed = common::HttpReceiver::start(|_, _| 200);
    let dir = tempfile::tempdir().unwrap();
    let run = Run::start(
        dir.path(),
        &webhook_pipeline(rtsp_port, metrics_port, broken.addr),
        metrics_port,
    );
    let pending = || {
        run.metric("lookout_outbox_events", &[("sink", "webhook")])
            .unwrap_or(0.0)
    };
    assert!(
        wait_until(Duration::from_secs(120), || pending() >= 5.0),
        "no events waiting in the outbox: {}",
        run.log()
    );
    assert!(!broken.requests().is_empty(), "the first address was tried");
    let waiting: Vec<String> = run
        .events()
        .iter()
        .filter_map(|e| e["id"].as_str().map(String::from))
        .collect();

    run.write(&webhook_pipeline(rtsp_port, metrics_port, fixed.addr));
    assert!(
        wait_until(Duration::from_secs(30), || run
            .metric("lookout_config_reloads_total", &[("result", "ok")])
            == Some(1.0)),
        "{}",
        run.log()
    );
    let received = || -> std::collections::HashSet<String> {
        fixed
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|e| e["id"].as_str().map(String::from))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(60), || waiting
            .iter()
            .all(|id| received().contains(id))),
        "events from before the reload never reached the new address: {} of {} ({})",
        waiting.iter().filter(|id| received().contains(*id)).count(),
        waiting.len(),
        run.log()
    );
    // Events after the reload go there too, and at the end every event of the file arrived.
    let before = received().len();
    assert!(
        wait_until(Duration::from_secs(60), || received().len() > before),
        "nothing new after the reload: {}",
        run.log()
    );
    let summary = run.stop();
    let all: Vec<String> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["id"].as_str().map(String::from))
        .collect();
    let got = received();
    let missing: Vec<&String> = all.iter().filter(|id| !got.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events lost: {missing:?}",
        missing.len(),
        all.len()
    );
    assert!(summary["sinks"]["webhook"].is_object(), "{summary}");
}
