//! The CPU engines on real models and a real picture: `backend: cpu` is ONNX Runtime (the library
//! `deps.sh` unpacks into `.ort/`), it runs every shipped detector and the usual YOLOv8n export,
//! and its raw outputs match our IR's reference executor, as the wgpu engine's do.
//!
//! Tolerance: max |difference| relative to max(1, max |reference output|) of 5e-4, as for OpenCV
//! DNN (`engine_models.rs`): ONNX Runtime's MLAS kernels sum in another order (1e-5 seen).
#![cfg(feature = "onnxruntime")]

mod common;
mod engine_support;

use engine_support::*;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::Backend;
use lookout::infer::preprocess::preprocess_batch_cpu;
use lookout::model::ModelManifest;
use lookout::model::select::{self, BackendKind, BackendOptions};

const TOL_ORT: f32 = 5e-4;

fn manifest(name: &str) -> ModelManifest {
    ModelManifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn cpu(m: &ModelManifest) -> Box<dyn Backend> {
    let b = select::create(BackendKind::Cpu, m, &BackendOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", m.name));
    assert_eq!(
        b.info().backend,
        "onnxruntime",
        "`cpu` picks ONNX Runtime where its library loads (run ./deps.sh)"
    );
    b
}

#[test]
fn cpu_backend_runs_every_shipped_model_like_the_reference() {
    let (rgba, w, h) = still_rgba("vtest-frame300.jpg");
    let img = ImageRef::packed(PixelFormat::Rgba, w, h, &rgba);
    for name in [
        "models/nanodet-g-416.yaml",
        "models/centerface.yaml",
        "models/ssdlite-mobilenetv2-person-300.yaml",
        "models/blazeface-short-range-128.yaml",
        "models/blazeface-full-range-192.yaml",
    ] {
        let m = manifest(name);
        let mut b = cpu(&m);
        let (input, _) = preprocess_batch_cpu(&[img], &m.preprocess).unwrap();
        let t = std::time::Instant::now();
        let want = run_reference(&m.onnx, &input);
        eprintln!("{name}: reference {:?}", t.elapsed());
        let got = b.infer_tensor(&input).unwrap();
        assert_close(&format!("{name} onnxruntime"), &got, &want, TOL_ORT);
        // Pictures are pre-processed straight into the session's input: the same numbers.
        let frames = b.infer(&[img, img]).unwrap();
        assert_eq!(frames.len(), 2);
        for f in &frames {
            assert_eq!(f.outputs, got, "{name}: picture path vs tensor path");
        }
    }
}

/// Outputs handed back are written into by the next runs (no fresh pages per inference), and
/// what is written is the new run's result, not what the buffer held.
#[test]
fn recycled_output_memory_is_reused_and_overwritten() {
    let (rgba, w, h) = still_rgba("vtest-frame300.jpg");
    let img = ImageRef::packed(PixelFormat::Rgba, w, h, &rgba);
    let m = manifest("models/nanodet-g-416.yaml");
    let mut b = cpu(&m);
    let first = b.infer(&[img]).unwrap().remove(0).outputs;
    let want = first.clone();
    let mut handed: Vec<*const f32> = first.iter().map(|o| o.tensor.data.as_ptr()).collect();
    let mut spoiled = first;
    for o in &mut spoiled {
        o.tensor.data.iter_mut().for_each(|v| *v = f32::NAN);
    }
    b.recycle(spoiled);
    let again = b.infer(&[img]).unwrap().remove(0).outputs;
    assert_eq!(again, want, "a recycled buffer's old contents leaked");
    let mut reused: Vec<*const f32> = again.iter().map(|o| o.tensor.data.as_ptr()).collect();
    handed.sort();
    reused.sort();
    assert_eq!(
        reused, handed,
        "the outputs were not written into the memory handed back"
    );
}

/// The usual YOLOv8n export (OpenCV 4.6 cannot import it) runs on `cpu`, and its boxes, decoded
/// inside the graph as rows cx, cy, w, h of `[1, 84, 8400]`, and class scores match the wgpu
/// engine and the reference executor. (Its weights are random: every anchor scores ~0.528 in some
/// class, so a comparison of the boxes left after NMS would test how ties break, not the engines.)
#[test]
fn yolov8n_runs_on_cpu_and_its_boxes_match_wgpu_and_the_reference() {
    let (rgba, w, h) = still_rgba("vtest-frame300.jpg");
    let img = ImageRef::packed(PixelFormat::Rgba, w, h, &rgba);
    let m = manifest("models/bench/yolov8n-arch-random.yaml");
    let mut ort = cpu(&m);
    let (input, _) = preprocess_batch_cpu(&[img], &m.preprocess).unwrap();
    let got = ort.infer_tensor(&input).unwrap();
    assert_eq!(got[0].tensor.shape, vec![1, 84, 8400]);
    let t = std::time::Instant::now();
    let want = run_reference(&m.onnx, &input);
    eprintln!("yolov8n: reference {:?}", t.elapsed());
    assert_close("yolov8n onnxruntime vs reference", &got, &want, TOL_ORT);
    let t = std::time::Instant::now();
    let mut gpu = select::create(BackendKind::Wgpu, &m, &BackendOptions::default()).unwrap();
    let on_gpu = gpu.infer_tensor(&input).unwrap();
    eprintln!("yolov8n: wgpu {:?}", t.elapsed());
    assert_close("yolov8n onnxruntime vs wgpu", &got, &on_gpu, TOL_ORT);
    // The boxes are real boxes inside the 640x640 input, and the decoder reads them on `cpu`.
    let boxes = &got[0].tensor.data[..4 * 8400];
    assert!(
        boxes
            .iter()
            .all(|v| v.is_finite() && (0.0..=700.0).contains(v))
    );
    let mut detector = lookout::model::Detector::new(m, ort).unwrap();
    let found = detector.detect(&[img]).unwrap();
    assert!(
        !found[0].is_empty(),
        "random weights still give boxes to decode"
    );
}

/// `lookout devices` names the library it loaded; without the library, `onnxruntime` fails
/// naming where it looked, and `cpu` falls back to OpenCV.
#[test]
fn the_library_is_found_or_the_error_says_where_it_looked() {
    let v = common::lookout_json(&["devices", "--json"]);
    let ort = &v["cpu_engines"][0];
    assert_eq!(ort["engine"], "onnxruntime");
    assert_eq!(ort["available"], true, "{ort}");
    assert!(
        ort["version"].as_str().is_some_and(|v| v.starts_with("1.")),
        "{ort}"
    );
    assert!(
        ort["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "CPUExecutionProvider"),
        "{ort}"
    );

    let nowhere = "/nonexistent/libonnxruntime.so";
    let bench = |backend: &str| {
        common::lookout_cmd()
            .current_dir(common::root())
            .env("ORT_DYLIB_PATH", nowhere)
            .args(["bench", "--model", "models/blazeface-short-range-128.yaml"])
            .args(["--seconds", "0.1", "--json", "--backend", backend])
            .output()
            .unwrap()
    };
    let out = bench("onnxruntime");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(nowhere) && err.contains("deps.sh"), "{err}");
    if cfg!(feature = "opencv") {
        let out = bench("cpu");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["backend"], "opencv");
    }
}

/// `backend: cpu` with `providers:` in a pipeline: providers this library lacks are skipped with
/// a warning and the model runs on ONNX Runtime's CPU provider; a misspelt provider is a config
/// error (exit 2) at its line.
#[cfg(feature = "capture")]
#[test]
fn pipeline_backend_cpu_passes_providers_through() {
    let root = common::root();
    let pipeline = |providers: &str| {
        format!(
            "models:\n  objects:\n    manifest: {}/models/nanodet-g-416.yaml\n    backend: cpu\n    providers: {providers}\ncameras:\n  - name: ball\n    source: \"test:ball?frames=6&live=false\"\n    width: 320\n    height: 240\n    detect: {{model: objects}}\nmetrics: {{listen: \"127.0.0.1:{}\"}}\n",
            root.display(),
            common::free_port()
        )
    };
    let (_d, path) = common::pipeline_file("p.yaml", &pipeline("[cuda, openvino]"));
    let out = common::lookout(&["run", path.to_str().unwrap(), "--no-progress"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("on onnxruntime (cpu)"), "{stdout}");
    assert!(stderr.contains("no CUDAExecutionProvider"), "{stderr}");

    let (_d, path) = common::pipeline_file("p.yaml", &pipeline("[cudaa]"));
    let out = common::lookout(&["validate", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("p.yaml:5:") && stderr.contains("did you mean `cuda`?"),
        "{stderr}"
    );
}

/// `auto` times every usable backend (lavapipe is left out), takes the fastest and caches the
/// figures in `state_dir`; the next start takes the cached choice without measuring.
#[cfg(feature = "opencv")]
#[test]
fn auto_measures_the_backends_once_and_caches_the_choice() {
    use lookout::model::auto;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest("models/blazeface-short-range-128.yaml");
    let opts = BackendOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..BackendOptions::default()
    };
    let found = auto::candidates(&opts);
    if select::gpu_context(&opts.adapter).is_ok_and(|ctx| ctx.is_software()) {
        assert!(
            found.iter().all(|c| c.kind != BackendKind::Wgpu),
            "{found:?}"
        );
    }
    let chosen = select::create(BackendKind::Auto, &m, &opts).unwrap().info();
    let path = dir.path().join(auto::CACHE_FILE);
    let key = auto::cache_key(&m, &opts, &found);
    let cache = auto::read_cache(&path);
    let choice = cache
        .get(&key)
        .unwrap_or_else(|| panic!("{key} not in {cache:?}"));
    assert_eq!(choice.backend, chosen.backend);
    assert_eq!(choice.ms.len(), found.len(), "{choice:?}");
    let fastest = choice
        .ms
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k.clone());
    assert_eq!(fastest.as_deref(), Some(choice.backend.as_str()));

    // A cached choice is taken as it is, without measuring again.
    let mut rigged = cache.clone();
    rigged.get_mut(&key).unwrap().backend = "opencv".into();
    std::fs::write(&path, serde_json::to_vec(&rigged).unwrap()).unwrap();
    let again = select::create(BackendKind::Auto, &m, &opts).unwrap().info();
    assert_eq!(again.backend, "opencv");
}
