//! `lookout quantize` on a real model and real footage: NanoDet calibrated on a few frames of the
//! bundled video, written as a static QDQ int8 model (per-channel int8 weights) with its manifest;
//! the model passes our IR's checks and runs on ONNX Runtime, and its detections on the
//! hand-labelled frame match the float model's within a tolerance, it counts the footpath
//! crossings of the whole clip as the hand count does; the wgpu engine and our
//! reference executor find the same boxes as ONNX Runtime's int8 kernels.
#![cfg(all(feature = "onnxruntime", feature = "capture"))]

mod common;
mod engine_support;

use std::collections::HashMap;

use engine_support::still_rgba;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::detect::Detection;
use lookout::detect::nms::iou;
use lookout::infer::onnx::proto::{ModelProto, data_type};
use lookout::infer::reference::ReferenceBackend;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, BackendOptions};
use lookout::model::{Detector, quantize::HandLabels};
use prost::Message;

fn detections(kind: BackendKind, m: &ModelManifest, rgba: &[u8], w: u32, h: u32) -> Vec<Detection> {
    let backend = select::create(kind, m, &BackendOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", m.name));
    assert_eq!(backend.info().backend, kind.name());
    let mut d = Detector::new(m.clone(), backend).expect("detector");
    let img = ImageRef::packed(PixelFormat::Rgba, w, h, rgba);
    d.detect(&[img]).expect("detects").remove(0)
}

#[test]
fn nanodet_int8_is_checked_runs_on_onnxruntime_and_finds_what_float_finds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nanodet-int8");
    let out_arg = out.to_str().unwrap();
    // Few calibration frames and a short timing: the command's whole path, kept quick.
    let report = common::lookout_json(&[
        "quantize",
        "models/nanodet-g-416.yaml",
        "--calibrate",
        "pipelines/footage/vtest.avi",
        "--frames",
        "6",
        "--every",
        "40",
        "--compare",
        "3",
        "--labels",
        "tests/labels/vtest-frame300.json",
        "--crossings",
        "tests/labels/vtest-line-footpath.json",
        "--rounds",
        "2",
        "--seconds",
        "1",
        "--json",
        "-o",
        out_arg,
    ]);
    eprintln!("{report:#}");
    assert_eq!(report["calibration_engine"], "onnxruntime");
    assert_eq!(report["calibration_pictures"], 6);
    let summary = &report["written"]["summary"];
    assert!(
        summary["convs_quantized"].as_u64().unwrap() >= 30,
        "NanoDet's convolutions are int8: {summary}"
    );
    // Timing was measured on both, interleaved, with a ratio.
    let lat = &report["latency"];
    assert_eq!(lat["backend"], "onnxruntime");
    assert_eq!(lat["float_round_p50_ms"].as_array().unwrap().len(), 2);
    assert!(lat["ratio_p50"].as_f64().unwrap() > 0.0);
    assert!(!report["verdict"].as_str().unwrap().is_empty());
    // The report's hand-label score: int8 finds what float finds, at most one fewer.
    let l = &report["labels"][0];
    let (f, q) = (
        l["float"]["found"].as_u64().unwrap(),
        l["int8"]["found"].as_u64().unwrap(),
    );
    assert!(f >= 7 && q + 1 >= f, "hand labels: float {f}, int8 {q}");
    // The footpath crossings of the whole clip, tracked with the int8 model: the hand count
    // (15 / 12), within its own tolerance of 2.
    let c = &report["crossings"];
    for dir in ["a_to_b", "b_to_a"] {
        let (hand, int8) = (
            c["hand"][dir].as_u64().unwrap(),
            c["int8"][dir].as_u64().unwrap(),
        );
        assert!(
            hand.abs_diff(int8) <= 2,
            "{dir}: hand {hand}, int8 {int8}: {c}"
        );
    }

    // The file is a static QDQ model: per-channel int8 weights, Q/DQ pairs on activations.
    let onnx_path = dir.path().join("nanodet-int8.onnx");
    let bytes = std::fs::read(&onnx_path).unwrap();
    let model = ModelProto::decode(&bytes[..]).unwrap();
    let g = model.graph.as_ref().unwrap();
    let mut ops: HashMap<&str, usize> = HashMap::new();
    for n in &g.node {
        *ops.entry(n.op_type.as_str()).or_default() += 1;
    }
    assert!(ops["QuantizeLinear"] >= 30, "{ops:?}");
    assert!(ops["DequantizeLinear"] > ops["QuantizeLinear"], "{ops:?}");
    let int8_weights: Vec<_> = g
        .initializer
        .iter()
        .filter(|t| t.data_type == data_type::INT8 && t.dims.len() == 4)
        .collect();
    assert!(int8_weights.len() >= 30);
    for w in &int8_weights {
        let scale = g
            .initializer
            .iter()
            .find(|t| t.name == w.name.replace("_quantized", "_scale"))
            .unwrap_or_else(|| panic!("scale of {}", w.name));
        assert_eq!(
            scale.dims,
            [w.dims[0]],
            "{}: one scale per output channel",
            w.name
        );
    }

    // Its manifest loads, the model passes our IR's checks (as before any backend) and the
    // float model's detections on the hand-labelled frame are found again.
    let float = ModelManifest::load(&common::root().join("models/nanodet-g-416.yaml")).unwrap();
    let int8 = ModelManifest::load(&dir.path().join("nanodet-int8.yaml")).unwrap();
    assert_eq!(int8.name, "nanodet-g-416-int8");
    select::check_model(&int8).expect("the int8 model passes the IR's checks");
    let (rgba, w, h) = still_rgba("vtest-frame300.jpg");
    let a = detections(BackendKind::Onnxruntime, &float, &rgba, w, h);
    let b = detections(BackendKind::Onnxruntime, &int8, &rgba, w, h);
    eprintln!("float {a:?}\nint8 {b:?}");
    for d in a.iter().filter(|d| d.score >= 0.5) {
        let best = b
            .iter()
            .filter(|e| e.label == d.label)
            .map(|e| (iou(&d.bbox, &e.bbox), (d.score - e.score).abs()))
            .max_by(|x, y| x.0.total_cmp(&y.0));
        let (overlap, score_diff) = best.unwrap_or((0.0, 1.0));
        assert!(
            overlap >= 0.8 && score_diff <= 0.1,
            "float {} {:.2} {:?}: int8's best IoU {overlap:.2}, score difference {score_diff:.2}",
            d.label,
            d.score,
            d.bbox
        );
    }
    // And against the hand labels, on the same picture: int8 finds as many as float, +-1.
    let labels =
        HandLabels::load(&common::root().join("tests/labels/vtest-frame300.json")).unwrap();
    let (sf, sq) = (labels.score(&a, 0.5), labels.score(&b, 0.5));
    assert!(sq.found + 1 >= sf.found, "float {sf:?}, int8 {sq:?}");

    // The wgpu engine and our reference executor run the same QDQ model as fake-quant in float:
    // the same boxes as ONNX Runtime's int8 kernels, up to a quantization step.
    let reference = {
        let backend = ReferenceBackend::new(&int8.onnx, &int8.input.name, &int8.preprocess)
            .expect("the reference executor reads the int8 model");
        let mut d = Detector::new(int8.clone(), Box::new(backend)).expect("detector");
        let img = ImageRef::packed(PixelFormat::Rgba, w, h, &rgba);
        d.detect(&[img])
            .expect("the reference executor runs it")
            .remove(0)
    };
    let gpu = detections(BackendKind::Wgpu, &int8, &rgba, w, h);
    for (name, other) in [("wgpu", &gpu), ("reference", &reference)] {
        eprintln!("int8 on {name} {other:?}");
        let agree = lookout::model::quantize::agreement(&b, other, 0.9);
        assert!(
            agree.matched + 1 >= b.len() && agree.max_score_diff <= 0.05,
            "onnxruntime {} vs {name} {} detections: {agree:?}",
            b.len(),
            other.len()
        );
    }
}

/// What the user got wrong is exit 2 with the reason, before anything is written.
#[test]
fn quantize_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q");
    let out_arg = out.to_str().unwrap();
    let nanodet = "models/nanodet-g-416.yaml";
    for (args, says) in [
        (
            vec!["--calibrate", "pipelines/footage/missing.avi"],
            "no such file",
        ),
        (vec!["--calibrate", "pipelines/footage"], "is a directory"),
        (
            vec![
                "--calibrate",
                "pipelines/footage/vtest-frame300.jpg",
                "--compare-on",
                "tpu",
            ],
            "unknown backend `tpu`",
        ),
        (
            vec![
                "--calibrate",
                "pipelines/footage/vtest-frame300.jpg",
                "--labels",
                "README.md",
            ],
            "README.md",
        ),
    ] {
        let mut all = vec!["quantize", nanodet, "-o", out_arg];
        all.extend(args);
        let o = common::lookout_in_root(&all);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
        assert!(!dir.path().join("q.onnx").exists(), "{all:?} wrote a model");
    }
}
