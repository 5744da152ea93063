//! Motion-gated detection through the real binary on clips made here with GStreamer: a static
//! scene with sensor noise and a lighting change is detected on few frames and its people stay
//! tracked; noise over the whole picture stays within the fallback budget while another camera
//! keeps its rate.
#![cfg(feature = "capture")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::Noise;
use lookout::privacy::video::VideoEncoder;
use serde_json::Value;

/// Writes `frames` RGBA frames of `w` x `h` at `fps`, each made by `make(index, buffer)`.
fn write_clip(
    path: &Path,
    w: u32,
    h: u32,
    fps: u32,
    frames: u32,
    mut make: impl FnMut(u32, &mut [u8]),
) {
    let mut enc = VideoEncoder::create(path, w, h, (fps as i32, 1), false).expect("H.264 encoder");
    let mut buf = vec![0u8; (w * h * 4) as usize];
    for i in 0..frames {
        make(i, &mut buf);
        let pts = Duration::from_secs_f64(f64::from(i) / f64::from(fps));
        enc.push(
            &buf,
            w,
            pts,
            Some(Duration::from_secs_f64(1.0 / f64::from(fps))),
        )
        .unwrap();
    }
    enc.finish().unwrap();
}

/// Runs `yaml` to its end: the summary, and the events its file sink wrote.
fn run(dir: &Path, yaml: &str) -> (Value, Vec<Value>) {
    let (_, summary) = common::run_pipeline(dir, yaml);
    let events = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, events)
}

#[test]
fn a_static_scene_is_detected_on_few_frames_and_its_people_stay_tracked() {
    static_scene("{}");
}

/// The same with the motion pass on the GPU (lavapipe here): the same bounds hold.
#[test]
fn the_same_static_scene_with_motion_on_the_gpu() {
    static_scene("{gpu: high-performance}");
}

/// A static scene with sensor noise and a lighting change, run with `motion: {motion}`.
fn static_scene(motion: &str) {
    let dir = tempfile::tempdir().unwrap();
    let still = image::open(common::footage("vtest-frame300.jpg"))
        .unwrap()
        .to_rgba8();
    let (w, h) = still.dimensions();
    let clip = dir.path().join("static.mp4");
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    // 20 s at 10 fps; from 8 s to 11 s the light is 30 % brighter.
    write_clip(&clip, w, h, 10, 200, |i, buf| {
        let gain = if (80..110).contains(&i) { 1.3 } else { 1.0 };
        for (o, p) in buf.chunks_exact_mut(4).zip(still.pixels()) {
            for c in 0..3 {
                o[c] = (f32::from(p[c]) * gain + noise.gauss(3.0)).clamp(0.0, 255.0) as u8;
            }
            o[3] = 255;
        }
    });
    let root = common::root();
    let yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
         cameras:\n  - name: hall\n    source: {clip}\n    detect: {{model: objects}}\n\
         \x20   motion: {motion}\n\
         \x20   rules:\n      objects: [person]\n      zones:\n        - {{name: all, points: [[0, 0], [1, 0], [1, 1], [0, 1]], occupancy: {{}}}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\nmetrics: {{enabled: false}}\n",
        root = root.display(),
        clip = clip.display()
    );
    // lookout's own info lines too: they say where the motion pass ran.
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let summary_path = dir.path().join("summary.json");
    let out = common::lookout_cmd()
        .env("LOOKOUT_LOG", "warn,lookout=info")
        .current_dir(dir.path())
        .arg("run")
        .arg(&path)
        .args(["--no-progress", "--summary"])
        .arg(&summary_path)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let events: Vec<Value> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    if motion.contains("gpu") {
        assert!(log.contains("motion passes run on the GPU"), "{log}");
        assert!(!log.contains("on the CPU"), "fell back to the CPU: {log}");
    }
    let cam = &summary["analytics"]["cameras"]["hall"];
    let detected = cam["frames_detected"].as_u64().unwrap();
    let still_skipped = cam["frames_skipped_still"].as_u64().unwrap();
    assert_eq!(summary["cameras"]["hall"]["frames_captured"], 200);
    eprintln!("static scene: {}", summary["cameras"]["hall"]);
    assert!(
        detected <= 20,
        "detector ran on {detected} of 200 frames: {cam}"
    );
    assert!(still_skipped >= 170, "{cam}");
    // Between re-checks of the standing people, still frames stop in the camera's thread: not
    // copied or queued (77 of 200 queued here, the file decoding ahead of the detector; all 200
    // when frames of a camera with tracked objects all went to the gate).
    let queued = summary["cameras"]["hall"]["frames_queued"]
        .as_u64()
        .unwrap();
    assert!(queued <= 150, "{queued} of 200 frames queued");
    // The people standing there are confirmed early and stay tracked to the end.
    let tracks = cam["tracks"].as_u64().unwrap();
    assert!(tracks >= 3, "{cam}");
    let ends: Vec<f64> = events
        .iter()
        .filter(|e| e["kind"] == "object" && e["type"] == "end")
        .map(|e| e["pts_seconds"].as_f64().unwrap_or(0.0))
        .collect();
    // (An end carries the time the object was last seen: the last re-check, every 2 s.)
    assert!(
        ends.iter().all(|t| *t >= 17.9),
        "tracks ended mid-clip at {ends:?}"
    );
    // No event storm at the lighting change: a new and an end per track, occupancy settling.
    let others = events.iter().filter(|e| e["kind"] != "object").count();
    assert!(
        others <= 2 * tracks as usize + 4,
        "{others} rule events for {tracks} tracks"
    );
    let news = events
        .iter()
        .filter(|e| e["kind"] == "object" && e["type"] == "new")
        .count();
    assert_eq!(news as u64, tracks, "no track restarts");
}

#[test]
fn an_empty_still_scene_is_let_go_in_the_camera_thread_without_copying_or_queueing() {
    let dir = tempfile::tempdir().unwrap();
    // A wall in soft light: a gradient the detector finds nothing in.
    let (w, h) = (640u32, 480u32);
    let clip = dir.path().join("empty.mp4");
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    // 10 s at 10 fps, with sensor noise.
    write_clip(&clip, w, h, 10, 100, |_, buf| {
        for (i, o) in buf.chunks_exact_mut(4).enumerate() {
            let (x, y) = ((i as u32 % w) as f32, (i as u32 / w) as f32);
            let level = 60.0 + 120.0 * x / w as f32 + 40.0 * y / h as f32;
            for c in o.iter_mut().take(3) {
                *c = (level + noise.gauss(3.0)).clamp(0.0, 255.0) as u8;
            }
            o[3] = 255;
        }
    });
    let root = common::root();
    let yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
         cameras:\n  - name: wall\n    source: {clip}\n    queue_capacity: 2\n    detect: {{model: objects}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\nmetrics: {{enabled: false}}\n",
        root = root.display(),
        clip = clip.display()
    );
    let (summary, events) = run(dir.path(), &yaml);
    let frames = &summary["cameras"]["wall"];
    let cam = &summary["analytics"]["cameras"]["wall"];
    assert_eq!(frames["frames_captured"], 100, "{frames}");
    // Every frame is accounted for: analysed, or let go as still.
    assert_eq!(frames["frames_processed"], 100, "{frames}");
    let queued = frames["frames_queued"].as_u64().unwrap();
    let still = cam["frames_skipped_still"].as_u64().unwrap();
    // The first frame is detected whole; once the gate has weighed it and the frames queued
    // meanwhile (the file decodes faster than real time: at most the queue's 2 and the one
    // waiting for room, and a few more while the gate catches up), and nothing is tracked,
    // still frames stop in the camera's thread: not copied, not queued.
    assert!(queued <= 8, "{queued} of 100 frames queued: {frames} {cam}");
    assert!(still >= 95, "{cam}");
    assert!(cam["frames_detected"].as_u64().unwrap() <= 2, "{cam}");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn noise_everywhere_stays_within_the_budget_and_another_camera_keeps_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("noise.mp4");
    let mut noise = Noise(7);
    // 10 s at 10 fps of fresh noise on every pixel.
    write_clip(&clip, 320, 240, 10, 100, |_, buf| {
        for p in buf.chunks_exact_mut(4) {
            let v = (noise.uniform() * 255.0) as u8;
            p.copy_from_slice(&[v, v, v, 255]);
        }
    });
    let root = common::root();
    let yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
         cameras:\n  - name: rain\n    source: {clip}\n    detect: {{model: objects}}\n\
         \x20 - name: ball\n    source: test:ball?frames=40&live=false\n    width: 320\n    height: 240\n    fps: 10\n    detect: {{model: objects}}\n\
         metrics: {{enabled: false}}\n",
        root = root.display(),
        clip = clip.display()
    );
    let (summary, _) = run(dir.path(), &yaml);
    let rain = &summary["analytics"]["cameras"]["rain"];
    let detected = rain["frames_detected"].as_u64().unwrap();
    // Full frames at the frame rate for `runaway_seconds` (2 s), then 1 per second.
    assert!(
        detected <= 32,
        "noise detected on {detected} of 100 frames: {rain}"
    );
    assert!(
        rain["frames_skipped_budget"].as_u64().unwrap() >= 65,
        "{rain}"
    );
    // The moving ball is detected on every frame but the first calibration's neighbours.
    let ball = &summary["analytics"]["cameras"]["ball"];
    assert!(ball["frames_detected"].as_u64().unwrap() >= 35, "{ball}");
}

#[test]
fn snow_on_four_cameras_at_once_shares_one_background_budget_and_the_busy_camera_keeps_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let mut yaml = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, background_fps: 1}}\ncameras:\n",
        root = root.display()
    );
    // Ten seconds of live video at 10 fps: four cameras of pure noise, one moving ball.
    for i in 0..4 {
        yaml += &format!(
            "  - name: snow{i}\n    source: test:snow?frames=100&live=true\n    width: 320\n    height: 240\n    fps: 10\n    detect: {{model: objects, fps: 10}}\n    motion: {{runaway_seconds: 0.5}}\n"
        );
    }
    yaml += "  - name: ball\n    source: test:ball?frames=100&live=true\n    width: 320\n    height: 240\n    fps: 10\n    detect: {model: objects, fps: 10}\nmetrics: {enabled: false}\n";
    let (summary, _) = run(dir.path(), &yaml);
    let cams = &summary["analytics"]["cameras"];
    let n = |cam: &str, key: &str| cams[cam][key].as_u64().unwrap();
    let snow = |key: &str| -> u64 { (0..4).map(|i| n(&format!("snow{i}"), key)).sum() };
    eprintln!(
        "snow: {} full frames, {} waited; ball: {} of {} frames detected",
        snow("frames_detected"),
        snow("frames_skipped_budget"),
        n("ball", "frames_detected"),
        n("ball", "frames")
    );
    // Each snow camera follows its "motion" for half a second (5 frames), then falls back to
    // full frames at its runaway_fps (1/s): 4 x (5 + 10) = 60 without a box budget. With one
    // background full frame per second for all four: about 20 + 10.
    assert!(
        snow("frames_detected") <= 40,
        "{} full frames of snow in 10 s: {cams}",
        snow("frames_detected")
    );
    assert!(snow("frames_skipped_budget") >= 300, "{cams}");
    // The ball is detected on its frames all the same.
    assert!(
        n("ball", "frames_detected") * 10 >= n("ball", "frames") * 9,
        "{cams}"
    );
}
