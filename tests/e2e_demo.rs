//! The demo pipeline end to end on the real footage: GStreamer -> NanoDet -> tracker -> rules ->
//! events, with the line-crossing counts checked against crossings labelled by hand
//! (`tests/labels/vtest-line-footpath.json`).
#![cfg(feature = "capture")]

mod common;

use serde_json::Value;

/// Each direction's count may differ from the hand count by at most this much.
const COUNT_TOLERANCE: i64 = 2;
/// A crossing event matches a hand label of the same direction within this many frames.
const FRAME_TOLERANCE: i64 = 6;

#[test]
fn demo_counts_line_crossings_like_a_person_and_writes_valid_events() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    // The demo file itself, with its relative paths made absolute and its outputs in a temp folder.
    let demo = std::fs::read_to_string(root.join("pipelines/demo.yaml")).unwrap();
    let yaml = demo
        .replace("../models/", &format!("{}/models/", root.display()))
        .replace(
            "source: footage/",
            &format!("source: {}/pipelines/footage/", root.display()),
        )
        .replace(
            "path: ../events.jsonl",
            &format!("path: {}", events_path.display()),
        )
        .replace("  - stdout: {}\n", "");
    assert_ne!(yaml, demo, "the demo file changed shape; update this test");
    let path = dir.path().join("demo.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let summary_path = dir.path().join("s.json");
    let out = common::lookout_cmd()
        .args([
            "run",
            path.to_str().unwrap(),
            "--summary",
            summary_path.to_str().unwrap(),
            "--no-progress",
        ])
        .env(
            "LOOKOUT_METRICS",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let labels: Value = serde_json::from_str(&common::read(
        &root.join("tests/labels/vtest-line-footpath.json"),
    ))
    .unwrap();
    let summary: Value = serde_json::from_str(&common::read(&summary_path)).unwrap();
    assert_eq!(summary["cameras"]["vtest"]["frames_captured"], 795);
    let cam = &summary["analytics"]["cameras"]["vtest"];
    assert_eq!(
        cam["frames_detected"], 795,
        "files are detected on every frame"
    );
    // Every detection found is either kept or filtered out (each count under its own key).
    let n = |k: &str| cam[k].as_u64().unwrap_or_else(|| panic!("no {k}: {cam}"));
    assert_eq!(
        n("detections_found"),
        n("detections") + n("detections_filtered"),
        "{cam}"
    );
    let counts = &cam["lines"]["footpath"]["person"];
    for dir in ["a_to_b", "b_to_a"] {
        let got = counts[dir].as_i64().unwrap_or(-1);
        let want = labels["totals"][dir].as_i64().unwrap();
        assert!(
            (got - want).abs() <= COUNT_TOLERANCE,
            "{dir}: lookout counted {got}, hand labels say {want} (tolerance {COUNT_TOLERANCE})"
        );
    }

    // Every event validates against the published schema; crossings match labelled ones.
    let schema = lookout::events::json_schema();
    let mut unmatched: Vec<(i64, String)> = labels["crossings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["frame"].as_i64().unwrap(),
                c["direction"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (mut events, mut false_crossings) = (0, Vec::new());
    for line in common::read(&events_path).lines() {
        let e: Value = serde_json::from_str(line).expect("each line is JSON");
        lookout::events::conform::check(&schema, &e).unwrap_or_else(|err| panic!("{err}: {line}"));
        events += 1;
        if e["kind"] == "line_crossed" {
            let (seq, dir) = (e["seq"].as_i64().unwrap(), e["direction"].as_str().unwrap());
            match unmatched
                .iter()
                .position(|(f, d)| d == dir && (f - seq).abs() <= FRAME_TOLERANCE)
            {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => false_crossings.push((seq, dir.to_string())),
            }
        }
    }
    assert!(events > 50, "only {events} events");
    assert!(
        unmatched.len() <= 2 && false_crossings.len() <= 2,
        "missed crossings {unmatched:?}, crossings nobody made {false_crossings:?}"
    );
    // The summary counts the events it wrote.
    let crossed: i64 = cam["events"]["line_crossed"].as_i64().unwrap();
    assert_eq!(
        crossed,
        counts["a_to_b"].as_i64().unwrap() + counts["b_to_a"].as_i64().unwrap()
    );
}
