//! Every shipped model on a real image: the wgpu backend's raw outputs against the CPU reference
//! executor and against OpenCV DNN, in f32 and f16 storage, with GPU and CPU pre-processing.
//!
//! Tolerances (max |difference| relative to max(1, max |reference output|)):
//! - wgpu f32 vs reference executor: 1e-4 (summation order only; 3e-6 seen on lavapipe);
//! - wgpu f32 vs OpenCV DNN: 5e-4 (OpenCV's own kernels, e.g. Winograd 3x3; 2e-6 seen), on all
//!   five models: OpenCV 4.6 gets each model through the same opset rewrite the OpenCV backend
//!   uses (`infer::opencv::compat`: constant Split sizes and Clip bounds as attributes), without
//!   which it cannot import NanoDet and SSDLite;
//! - wgpu f16 storage vs reference: 2e-2 (half precision activations and weights through the
//!   whole network; 8e-3 seen, on SSDLite);
//! - GPU pre-processing feeding the plan vs CPU pre-processing feeding the reference: 1e-3
//!   (the kernels may differ by 1e-3 on the 0..255 scale on real GPUs; identical on lavapipe).

mod engine_support;

use engine_support::*;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::Backend;
use lookout::infer::gpu::{ModelOptions, Precision, WgpuBackend};
use lookout::infer::preprocess::{
    ChannelOrder, InputLayout, Preprocess, Resize, preprocess_batch_cpu,
};
#[cfg(feature = "opencv")]
use lookout::infer::{NamedTensor, Tensor};

const TOL_REF: f32 = 1e-4;
#[cfg(feature = "opencv")]
const TOL_OPENCV: f32 = 5e-4;
const TOL_HALF: f32 = 2e-2;
const TOL_PREPROCESS: f32 = 1e-3;

struct Shipped {
    file: &'static str,
    pre: Preprocess,
}

fn shipped() -> Vec<Shipped> {
    use ChannelOrder::*;
    use InputLayout::*;
    let minus_one_to_one = |w, h, resize| Preprocess {
        resize,
        layout: Nhwc,
        mean: [127.5; 3],
        std: [127.5; 3],
        ..pre_base(w, h)
    };
    vec![
        Shipped {
            file: "centerface.onnx",
            pre: pre_base(160, 128),
        },
        Shipped {
            file: "nanodet-g-416.onnx",
            pre: Preprocess {
                channel_order: Bgr,
                mean: [103.53, 116.28, 123.675],
                std: [57.375, 57.12, 58.395],
                ..pre_base(416, 416)
            },
        },
        Shipped {
            file: "blazeface-short-range-128.onnx",
            pre: minus_one_to_one(128, 128, Resize::Letterbox),
        },
        Shipped {
            file: "blazeface-full-range-192.onnx",
            pre: minus_one_to_one(192, 192, Resize::Letterbox),
        },
        Shipped {
            file: "ssdlite-mobilenetv2-person-300.onnx",
            pre: minus_one_to_one(300, 300, Resize::Stretch),
        },
    ]
}

/// A packed RGBA picture.
fn rgba_image(data: &[u8], w: u32, h: u32) -> ImageRef<'_> {
    ImageRef::packed(PixelFormat::Rgba, w, h, data)
}

fn model_bytes(file: &str) -> Vec<u8> {
    std::fs::read(format!("{}/models/{file}", env!("CARGO_MANIFEST_DIR"))).expect("model file")
}

fn backend(bytes: &[u8], p: &Preprocess, prec: Precision) -> WgpuBackend {
    WgpuBackend::new(
        ctx(),
        bytes,
        p,
        ModelOptions {
            input_width: p.width,
            input_height: p.height,
            max_batch: 2,
            precision: prec,
        },
    )
    .expect("backend builds")
}

#[test]
fn shipped_models_match_the_reference_executor() {
    let (rgba, w, h) = still_rgba("astronaut.png");
    let img = rgba_image(&rgba, w, h);
    for m in shipped() {
        let bytes = model_bytes(m.file);
        let (input, _) = preprocess_batch_cpu(&[img], &m.pre).unwrap();
        let t0 = std::time::Instant::now();
        let want = run_reference(&bytes, &input);
        eprintln!("{}: reference {:?}", m.file, t0.elapsed());
        let mut gpu = backend(&bytes, &m.pre, Precision::F32);
        let got = gpu.infer_tensor(&input).unwrap();
        assert_close(&format!("{} f32", m.file), &got, &want, TOL_REF);
        let got = backend(&bytes, &m.pre, Precision::F16)
            .infer_tensor(&input)
            .unwrap();
        assert_close(&format!("{} f16", m.file), &got, &want, TOL_HALF);
        // The GPU pre-processing path gives the same outputs as CPU pre-processing.
        let out = gpu.infer(&[img]).unwrap();
        assert_close(
            &format!("{} gpu preprocess", m.file),
            &out[0].outputs,
            &want,
            TOL_PREPROCESS,
        );
    }
}

/// Runs `bytes` through OpenCV DNN on `input`, returning the named outputs in graph order.
#[cfg(feature = "opencv")]
fn run_opencv(bytes: &[u8], input: &Tensor, names: &[String]) -> opencv::Result<Vec<NamedTensor>> {
    use opencv::core::{Mat, MatTraitConst, MatTraitConstManual, Scalar, Vector};
    use opencv::dnn::NetTrait;
    let bytes = lookout::infer::opencv::compat::for_opencv_4_6(bytes)
        .map_err(|e| opencv::Error::new(0, e.to_string()))?
        .bytes;
    let mut net = opencv::dnn::read_net_from_onnx_buffer(&Vector::from_slice(&bytes))?;
    let sizes: Vec<i32> = input.shape.iter().map(|&d| d as i32).collect();
    let blob = Mat::new_nd_with_data(&sizes, &input.data)?;
    net.set_input(&blob, "", 1.0, Scalar::default())?;
    let mut outs: Vector<Mat> = Vector::new();
    let mut out_names: Vector<String> = Vector::new();
    for n in names {
        out_names.push(n);
    }
    net.forward(&mut outs, &out_names)?;
    let mut result = Vec::new();
    for (name, m) in names.iter().zip(outs.iter()) {
        let shape: Vec<usize> = m.mat_size().iter().map(|&d| d as usize).collect();
        let data = m.data_typed::<f32>()?.to_vec();
        result.push(NamedTensor {
            name: name.clone(),
            tensor: Tensor::new(shape, data),
        });
    }
    Ok(result)
}

/// OpenCV may drop or add unit dims (e.g. [1, N, 1, 4] vs [1, N, 4]): compare by element count.
#[cfg(feature = "opencv")]
fn assert_close_flat(label: &str, got: &[NamedTensor], want: &[NamedTensor], tol: f32) {
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            g.tensor.data.len(),
            w.tensor.data.len(),
            "{label}: size of {}",
            g.name
        );
        let (d, m) = max_diff(&g.tensor.data, &w.tensor.data);
        eprintln!(
            "{label}: {}: max |diff| {d:.3e}, max |OpenCV| {m:.3e}",
            g.name
        );
        assert!(
            d <= tol * m.max(1.0),
            "{label}: output {} differs by {d} (OpenCV max |x| {m}, tolerance {tol} relative)",
            g.name
        );
    }
}

#[cfg(feature = "opencv")]
#[test]
fn shipped_models_match_opencv_dnn() {
    let (rgba, w, h) = still_rgba("astronaut.png");
    let img = rgba_image(&rgba, w, h);
    for m in shipped() {
        let bytes = model_bytes(m.file);
        let (input, _) = preprocess_batch_cpu(&[img], &m.pre).unwrap();
        let got = backend(&bytes, &m.pre, Precision::F32)
            .infer_tensor(&input)
            .unwrap();
        let names: Vec<String> = got.iter().map(|t| t.name.clone()).collect();
        let want = run_opencv(&bytes, &input, &names)
            .unwrap_or_else(|e| panic!("OpenCV DNN cannot run {}: {e}", m.file));
        assert_close_flat(&format!("{} vs OpenCV", m.file), &got, &want, TOL_OPENCV);
    }
}
