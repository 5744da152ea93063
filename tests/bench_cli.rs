//! `lookout bench` through the real binary: a real measurement on both backends (no timing
//! assertions, only that the numbers are consistent with each other and with the model).

mod common;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let mut all = vec![
        "bench",
        "--model",
        "models/blazeface-short-range-128.yaml",
        "--seconds",
        "0.2",
        "--json",
    ];
    all.extend_from_slice(args);
    common::lookout_json(&all)
}

fn check(r: &Value, backend: &str, batch: f64) {
    assert_eq!(r["backend"], backend);
    assert_eq!(r["batch"].as_f64(), Some(batch));
    assert!(r["iterations"].as_u64().unwrap() >= 3);
    let (mean, p50, p99) = (
        r["ms_mean"].as_f64().unwrap(),
        r["ms_p50"].as_f64().unwrap(),
        r["ms_p99"].as_f64().unwrap(),
    );
    assert!(mean > 0.0 && p50 > 0.0 && p99 >= p50, "{r}");
    let ips = r["images_per_s"].as_f64().unwrap();
    assert!(
        (ips - batch * 1000.0 / mean).abs() / ips < 1e-6,
        "images/s follows from the mean: {r}"
    );
    // BlazeFace short range is about 63 MFLOP per image (counted from the graph).
    let gflop = r["gflop_per_image"].as_f64().unwrap();
    assert!((0.05..0.08).contains(&gflop), "{gflop}");
    assert!((r["gflops"].as_f64().unwrap() - gflop * ips).abs() < 1e-6 * gflop * ips + 1e-9);
}

#[test]
fn wgpu_bench_with_profile_and_batch() {
    let r = bench(&["--backend", "wgpu", "--batch", "2", "--profile"]);
    check(&r, "wgpu", 2.0);
    let kernels = r["kernels"].as_array().expect("per-kernel profile");
    assert!(
        kernels.len() >= 20,
        "one row per dispatch: {}",
        kernels.len()
    );
    let ms: Vec<f64> = kernels.iter().map(|k| k["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "slowest first");
    assert!(
        kernels
            .iter()
            .any(|k| k["kernel"].as_str().unwrap().contains("conv"))
    );
}

#[test]
fn opencv_bench() {
    let r = bench(&["--backend", "opencv"]);
    check(&r, "opencv", 1.0);
    assert!(
        r.get("phases_ms").is_none(),
        "OpenCV does not split its calls: {r}"
    );
}

#[cfg(feature = "onnxruntime")]
#[test]
fn onnxruntime_bench() {
    check(&bench(&["--backend", "onnxruntime"]), "onnxruntime", 1.0);
}

/// `--vs`: both backends in one run, in interleaved rounds, and the ratio of their p50s.
#[test]
fn two_backends_side_by_side() {
    let r = bench(&[
        "--backend",
        "cpu",
        "--vs",
        "wgpu",
        "--rounds",
        "3",
        "--frames",
    ]);
    assert_eq!(r["rounds"], 3);
    assert_eq!(r["input"], "nv12-1080p-frames");
    assert_eq!(r["b"]["backend"], "wgpu");
    let mut ratios = Vec::new();
    for side in ["a", "b"] {
        let s = &r[side];
        let rounds: Vec<f64> = s["round_p50_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(rounds.len(), 3, "{r}");
        assert!(
            s["iterations"].as_u64().unwrap() >= 9,
            "3 calls a round at least: {r}"
        );
        assert!(s["ms_p99"].as_f64() >= s["ms_p50"].as_f64(), "{r}");
        ratios.push(rounds);
    }
    let per_round: Vec<f64> = ratios[0]
        .iter()
        .zip(&ratios[1])
        .map(|(a, b)| a / b)
        .collect();
    let (min, max) = (
        r["ratio_min"].as_f64().unwrap(),
        r["ratio_max"].as_f64().unwrap(),
    );
    let median = r["ratio_p50"].as_f64().unwrap();
    assert!(min <= median && median <= max, "{r}");
    assert!(
        per_round.iter().any(|&x| (x - median).abs() < 1e-9),
        "the median is a round's: {r}"
    );
}

#[test]
fn frames_mode_includes_preprocessing() {
    let r = bench(&["--backend", "wgpu", "--frames"]);
    check(&r, "wgpu", 1.0);
    assert_eq!(r["input"], "nv12-1080p-frames");
    // Where a call's time went: host before the submission, the wait, the read-back, and the
    // pass's own device time (lavapipe has timestamp queries). The pass cannot start before the
    // submission, which is the end of the host phase, but it may start before `submit` returns
    // (lavapipe begins at once), so it fits in the host phase and the wait together.
    let p = &r["phases_ms"];
    let ms = |k: &str| {
        p[k].as_f64()
            .unwrap_or_else(|| panic!("phases_ms.{k}: {r}"))
    };
    let (prepare, wait, read, device) = (ms("prepare"), ms("wait"), ms("read"), ms("device"));
    assert!(prepare > 0.0 && read > 0.0 && device > 0.0, "{p}");
    assert!(
        device <= (prepare + wait) * 1.05,
        "the device's pass fits in the host phase and the wait: {p}"
    );
    assert!(
        prepare + wait + read <= r["ms_p99"].as_f64().unwrap() * 1.05,
        "the phases are parts of a call: {r}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let out = common::lookout(&["bench", "--model", "/nonexistent.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = common::lookout_cmd()
        .current_dir(common::root())
        .args(["bench", "--model", "models/centerface.onnx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input-shape"));
}
