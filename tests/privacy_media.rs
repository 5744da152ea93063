//! Stored media end to end with the real binary: redacted per-event snapshots and an annotated
//! recording of carphone (one face), and fail-closed behaviour when the face model cannot run or
//! redaction misses its deadline: nothing is written, and every miss is counted.
#![cfg(feature = "capture")]

mod common;
mod privacy_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn snapshots_and_recordings_are_redacted_or_not_written_at_all() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = root.join("pipelines/footage/carphone_pristine.mp4");
    let camera = |name: &str, privacy: &str| {
        format!(
            "  - name: {name}\n    source: {}\n    detect: {{model: faces, fps: 10}}\n    privacy: {privacy}\n",
            clip.display()
        )
    };
    let yaml = format!(
        "models:\n\
         \x20 faces: {{manifest: {root}/models/centerface.yaml, backend: opencv, input_size: [192, 160]}}\n\
         \x20 # A GPU that is not there: the face model cannot load, so nothing may be stored.\n\
         \x20 broken: {{manifest: {root}/models/centerface.yaml, backend: wgpu, adapter: no-such-gpu-anywhere}}\n\
         cameras:\n{ok}{broken}{late}\
         sinks:\n  - file: {{path: {d}/events.jsonl}}\n\
         media:\n  snapshots: {{path: {d}/snaps}}\n  recording: {{path: {d}/rec}}\n\
         state_dir: {d}/state\n\
         metrics: {{enabled: false}}\n",
        root = root.display(),
        d = d.display(),
        // A generous deadline: a loaded test machine must not turn this camera's frames into misses.
        ok = camera("ok", "{faces: faces, deadline_ms: 60000}"),
        broken = camera("broken", "{faces: broken}"),
        late = camera("late", "{faces: faces, deadline_ms: 0}"),
    );
    let (out, summary) = common::run_pipeline(d, &yaml);
    let media = &summary["analytics"]["media"]["cameras"];
    let events: Vec<Value> = common::read(&d.join("events.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let new_objects = |cam: &str| -> BTreeSet<String> {
        events
            .iter()
            .filter(|e| e["camera"] == cam && e["kind"] == "object" && e["type"] == "new")
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let detected = |cam: &str| {
        summary["analytics"]["cameras"][cam]["frames_detected"]
            .as_u64()
            .unwrap()
    };

    // The camera whose redaction works: one snapshot per new object, named by its event id.
    let ok_ids = new_objects("ok");
    assert!(!ok_ids.is_empty(), "the face is tracked: {events:?}");
    let snaps: BTreeSet<String> = files(&d.join("snaps/ok"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(snaps, ok_ids, "one snapshot per new object: {media}");
    assert_eq!(media["ok"]["snapshots"].as_u64(), Some(ok_ids.len() as u64));
    assert_eq!(media["ok"]["withheld"], serde_json::json!({}), "{media}");
    let jpgs = files(&d.join("snaps/ok"));
    for j in &jpgs {
        let bytes = std::fs::read(j).unwrap();
        assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff], "{}", j.display());
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 176);
    }
    // lookout's own face detector (at its full default size) finds no face in any snapshot.
    let found = privacy_common::faces("centerface", &jpgs, &[]);
    assert_eq!(found.len(), jpgs.len());
    assert!(
        found.iter().all(Vec::is_empty),
        "a face in a snapshot: {found:?}"
    );

    // One recording segment, every analysed frame in it, decodable.
    let recs = files(&d.join("rec/ok"));
    assert_eq!(recs.len(), 1, "{recs:?}");
    let recorded = media["ok"]["recorded_frames"].as_u64().unwrap();
    assert_eq!(recorded, detected("ok"));
    let mut dec = lookout::capture::gst::VideoDecoder::open(&recs[0]).unwrap();
    let mut n = 0;
    while dec.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, recorded, "frames in {}", recs[0].display());

    // Fail closed: the same footage, the same events, and not one file.
    for (cam, reason) in [("broken", "face_model"), ("late", "deadline")] {
        assert_eq!(
            new_objects(cam).len(),
            ok_ids.len(),
            "{cam}: events still flow"
        );
        assert!(
            files(&d.join("snaps").join(cam)).is_empty(),
            "{cam}: a snapshot was written"
        );
        assert!(
            files(&d.join("rec").join(cam)).is_empty(),
            "{cam}: a recording was written"
        );
        let c = &media[cam];
        let human = String::from_utf8_lossy(&out.stdout);
        assert!(
            human.contains(&format!(
                "media (redacted): 0 snapshots, 0 recorded frames, withheld: {reason}={}",
                c["withheld"][reason]
            )),
            "{cam}: the printed summary shows what was withheld: {human}"
        );
        assert_eq!(c["snapshots"], 0, "{cam}: {c}");
        assert_eq!(c["recorded_frames"], 0, "{cam}: {c}");
        // Every snapshot wanted and every frame to record is counted, under its reason.
        assert_eq!(
            c["withheld"][reason].as_u64(),
            Some(new_objects(cam).len() as u64 + detected(cam)),
            "{cam}: {c}"
        );
    }
}
