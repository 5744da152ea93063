//! Changing a running pipeline without a restart, through the real binary: the bundled footage
//! served live by a real RTSP server, the pipeline file rewritten while `lookout run` runs.
#![cfg(feature = "capture")]

mod common;

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
