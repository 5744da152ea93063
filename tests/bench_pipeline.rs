//! `lookout bench --pipeline` through the real binary: synthetic cameras through the real
//! queues, batching, engine, tracker and rules. No timing assertions: only that what it counts
//! adds up, that the footage gives the tracker and rules work, and that the search and the
//! latency bound decide as documented.

mod common;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let mut all = vec![
        "bench",
        "--pipeline",
        "--model",
        "models/nanodet-g-416.yaml",
        "--seconds",
        "1",
        "--json",
    ];
    all.extend_from_slice(args);
    common::lookout_json(&all)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// What every trial must satisfy, whatever the machine's speed.
fn consistent(t: &Value, cameras: u64, fps: f64, seconds: f64) {
    assert_eq!(u(&t["cameras"]), cameras);
    let offered = u(&t["frames_offered"]);
    let expected = cameras as f64 * fps * seconds;
    assert!(
        (offered as f64 - expected).abs() <= cameras as f64 + 1.0,
        "offered {offered}, expected about {expected}: {t}"
    );
    let (done, dropped) = (u(&t["frames_processed"]), u(&t["frames_dropped"]));
    // Every frame offered in the window is processed in it, dropped, or still in its camera's
    // queue (2) or in the batch being processed (1) when the window closes.
    assert!(
        done + dropped + 3 * cameras >= offered,
        "frames lost without being counted: {t}"
    );
    // Each frame that arrived in the window and was not dropped has its latency measured (a drop
    // just after the window opens may discard a frame from before it: two per camera at most).
    let r = &t["frame_to_result"];
    let timed = u(&r["count"]) + dropped;
    assert!(
        timed.abs_diff(offered) <= 2 * cameras,
        "{timed} frames timed or dropped of {offered}: {t}"
    );
    assert!(r["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
    let sustained = t["sustained"].as_bool().unwrap();
    let behind = dropped + u(&t["frames_late"]) + u(&t["frames_overdue"]);
    assert_eq!(
        sustained,
        done > 0 && behind <= offered / 100,
        "sustained means at most 1% dropped, late or not done in time: {t}"
    );
}

#[test]
fn fixed_camera_count_on_the_cpu_backend() {
    let r = bench(&[
        "--backend",
        "opencv",
        "--cameras",
        "2",
        "--fps",
        "4",
        "--batch",
        "2",
        "--warmup",
        "0.5",
    ]);
    assert_eq!(r["model"], "nanodet-g-416");
    assert_eq!(r["warmup"].as_f64(), Some(0.5));
    assert_eq!(r["frame_size"], serde_json::json!([1920, 1080]));
    let trials = r["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 1);
    let t = &trials[0];
    consistent(t, 2, 4.0, 1.0);
    assert_eq!(t["backend"], "opencv");
    // The still (vtest frame 300, people and a van) moves across the middle line: the detector
    // finds objects and the tracker and rules turn them into events.
    assert!(u(&t["frame_to_event"]["count"]) > 0, "no events: {t}");
    let best = u(&r["best_cameras"]);
    assert_eq!(best, if t["sustained"] == true { 2 } else { 0 });
    // The process kept some CPU busy running the detector, and no more than the machine has.
    let cores = t["cpu_cores"].as_f64().unwrap();
    let have = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
    assert!(cores > 0.0 && cores <= have + 0.5, "{cores} cores: {t}");
}

#[test]
fn motion_pass_on_the_gpu_lets_idle_cameras_still_frames_go() {
    let r = bench(&[
        "--backend",
        "opencv",
        "--cameras",
        "4",
        "--fps",
        "4",
        "--idle",
        "0.75",
        "--motion",
        "gpu",
        "--frame-size",
        "640x360",
    ]);
    assert_eq!(r["motion"], true);
    assert_eq!(r["motion_pass"], "gpu");
    let t = &r["trials"][0];
    // (Frames let go in a camera's thread count as processed but have no latency to time.)
    let (offered, done) = (u(&t["frames_offered"]), u(&t["frames_processed"]));
    assert!(offered.abs_diff(16) <= 5, "{t}");
    assert!(done + u(&t["frames_dropped"]) + 12 >= offered, "{t}");
    assert_eq!(u(&t["idle_cameras"]), 3);
    assert!(u(&t["frames_skipped_still"]) > 0, "{t}");
}

#[test]
fn search_stops_at_the_cap_and_a_latency_bound_is_enforced() {
    // One frame per second is sustained anywhere: the search doubles 1 -> 2 and stops at the cap.
    let r = bench(&[
        "--backend",
        "opencv",
        "--fps",
        "1",
        "--batch",
        "1",
        "--max-cameras",
        "2",
        "--frame-size",
        "640x360",
    ]);
    let cams: Vec<u64> = r["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| u(&t["cameras"]))
        .collect();
    assert_eq!(cams, [1, 2], "{r}");
    for t in r["trials"].as_array().unwrap() {
        consistent(t, u(&t["cameras"]), 1.0, 1.0);
    }
    assert_eq!(u(&r["best_cameras"]), 2, "{r}");

    // No frame is detected in a microsecond: with that bound nothing is sustained.
    let r = bench(&[
        "--backend",
        "opencv",
        "--cameras",
        "1",
        "--fps",
        "2",
        "--batch",
        "1",
        "--frame-size",
        "640x360",
        "--max-p99-ms",
        "0.001",
    ]);
    assert_eq!(r["trials"][0]["sustained"], false, "{r}");
    assert_eq!(u(&r["best_cameras"]), 0);
    assert!(r["best"].is_null());
}

#[test]
fn gpu_engine_with_batches() {
    let r = bench(&[
        "--backend",
        "wgpu",
        "--cameras",
        "2",
        "--fps",
        "1",
        "--batch",
        "2",
        "--frame-size",
        "640x360",
    ]);
    let t = &r["trials"][0];
    assert_eq!(t["backend"], "wgpu");
    // lavapipe may need longer than the 1 s window per batch, so count results that came out at
    // all (the drain after the window included), not the window's throughput.
    assert!(u(&t["frame_to_result"]["count"]) >= 1, "{t}");
    assert!(u(&t["stages"]["infer"]["count"]) >= 1, "{t}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["--cameras", "0"][..],
        &["--cameras", "many"],
        &["--frame-size", "641x360"],
        &["--fps", "0"],
        &["--image", "/nonexistent.jpg"],
        &["--warmup", "-1"],
        &["--warmup", "NaN"],
    ] {
        let mut all = vec![
            "bench",
            "--pipeline",
            "--model",
            "models/nanodet-g-416.yaml",
            "--backend",
            "opencv",
        ];
        all.extend_from_slice(args);
        let out = common::lookout_in_root(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: says why");
    }
}

/// A pipeline that falls behind without dropping anything (queues large enough to hold the
/// backlog) is not sustained: frames offered in the window and not processed soon after it
/// count against it, as drops do.
#[test]
fn a_backlog_is_not_sustained_even_without_drops() {
    use lookout::model::select::BackendKind;
    use lookout::runtime::load::{self, Footage, Load, ModelPlacement};
    let root = common::root();
    let still = image::open(root.join("pipelines/footage/vtest-frame300.jpg"))
        .unwrap()
        .to_rgb8();
    let footage = std::sync::Arc::new(Footage::from_still(&still, 320, 240, 4, 2).unwrap());
    let placement = ModelPlacement {
        backend: BackendKind::Cpu,
        adapter: "high-performance".into(),
        f16: false,
        max_batch: 1,
    };
    // NanoDet on the CPU takes tens of milliseconds: 60 frames/s is out of reach.
    let fps = 60.0;
    let pipeline = load::pipeline(
        &root.join("models/nanodet-g-416.yaml"),
        &placement,
        1,
        fps,
        load::Gating::Off,
    )
    .unwrap();
    let trial = Load {
        fps,
        seconds: 1.0,
        warmup: 0.2,
        queue_capacity: 10_000,
        max_p99_ms: None,
        idle: 0.0,
    };
    let r = load::drive(&pipeline, &footage, &trial).unwrap();
    assert_eq!(r.frames_dropped, 0, "{r:?}");
    assert!(r.frames_overdue > r.frames_offered / 4, "{r:?}");
    assert!(!r.sustained, "{r:?}");
}
