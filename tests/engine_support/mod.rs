//! Shared helpers of the engine tests: a tiny ONNX builder, the GPU context, comparisons.

#![allow(dead_code)]

use std::sync::OnceLock;

use lookout::infer::gpu::{AdapterChoice, GpuContext, Precision, WgpuBackend};
use lookout::infer::graph::{self, InputShape};
use lookout::infer::onnx::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type, data_type,
    dimension,
};
use lookout::infer::{Backend, Tensor, onnx, reference};
use prost::Message;

/// Builds small ONNX models in tests with the crate's own prost messages.
pub struct ModelBuilder {
    graph: GraphProto,
    opset: i64,
}

impl ModelBuilder {
    pub fn new(opset: i64) -> Self {
        ModelBuilder {
            graph: GraphProto::default(),
            opset,
        }
    }

    /// A float input; negative dims become symbolic.
    pub fn input(mut self, name: &str, dims: &[i64]) -> Self {
        self.graph.input.push(value_info(name, dims));
        self
    }

    pub fn output(mut self, name: &str) -> Self {
        self.graph.output.push(value_info(name, &[]));
        self
    }

    pub fn init(mut self, name: &str, dims: &[i64], data: &[f32]) -> Self {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            float_data: data.to_vec(),
            ..Default::default()
        });
        self
    }

    pub fn init_i64(mut self, name: &str, dims: &[i64], data: &[i64]) -> Self {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type::INT64,
            int64_data: data.to_vec(),
            ..Default::default()
        });
        self
    }

    pub fn raw_init(mut self, t: TensorProto) -> Self {
        self.graph.initializer.push(t);
        self
    }

    pub fn node(
        mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        let n = self.graph.node.len();
        self.graph.node.push(NodeProto {
            name: format!("{op}_{n}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "lookout-tests".into(),
            graph: Some(self.graph),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .enumerate()
                        .map(|(i, &d)| Dimension {
                            value: Some(if d < 0 {
                                dimension::Value::DimParam(format!("d{i}"))
                            } else {
                                dimension::Value::DimValue(d)
                            }),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

pub fn ai(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: Some(v),
        ..Default::default()
    }
}

pub fn ais(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn af(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: v,
        ..Default::default()
    }
}

pub fn astr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Pre-processing to `w` x `h`: letterbox, RGB, NCHW, no normalization (override fields).
pub fn pre_base(w: u32, h: u32) -> lookout::infer::preprocess::Preprocess {
    use lookout::infer::preprocess::{ChannelOrder, InputLayout, Preprocess, Resize};
    Preprocess {
        width: w,
        height: h,
        resize: Resize::Letterbox,
        channel_order: ChannelOrder::Rgb,
        layout: InputLayout::Nchw,
        mean: [0.0; 3],
        std: [1.0; 3],
        pad_value: 0.0,
    }
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

/// One GPU context per test binary (lavapipe where there is no GPU).
pub fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        GpuContext::new(&AdapterChoice::HighPerformance).expect("a wgpu adapter (lavapipe in CI)")
    })
}

/// Runs the reference executor on the unfused graph of `model` for `input`.
pub fn run_reference(model: &[u8], input: &Tensor) -> Vec<lookout::infer::NamedTensor> {
    let m = onnx::load(model).expect("model loads");
    let g = graph::build(
        &m,
        &[InputShape {
            name: m.inputs[0].name.clone(),
            shape: input.shape.clone(),
        }],
    )
    .expect("graph builds");
    reference::run(&g, std::slice::from_ref(input)).expect("reference runs")
}

/// Runs the wgpu backend on a prepared tensor.
pub fn run_gpu(model: &[u8], input: &Tensor, prec: Precision) -> Vec<lookout::infer::NamedTensor> {
    let mut b = WgpuBackend::for_tensors(ctx(), model, prec).expect("backend builds");
    b.infer_tensor(input).expect("gpu runs")
}

/// Largest absolute difference, and the largest magnitude of the reference.
pub fn max_diff(got: &[f32], want: &[f32]) -> (f32, f32) {
    assert_eq!(got.len(), want.len());
    let d = got
        .iter()
        .zip(want)
        .map(|(a, b)| {
            if a.is_nan() || b.is_nan() {
                f32::INFINITY
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f32::max);
    let m = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    (d, m)
}

/// Asserts that GPU and reference agree on every output: max |diff| <= tol * max(1, max |ref|).
pub fn assert_close(
    label: &str,
    got: &[lookout::infer::NamedTensor],
    want: &[lookout::infer::NamedTensor],
    tol: f32,
) {
    assert_eq!(got.len(), want.len(), "{label}: output count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.name, w.name, "{label}: output order");
        assert_eq!(
            g.tensor.shape, w.tensor.shape,
            "{label}: shape of {}",
            g.name
        );
        let (d, m) = max_diff(&g.tensor.data, &w.tensor.data);
        eprintln!("{label}: {}: max |diff| {d:.3e}, max |ref| {m:.3e}", g.name);
        assert!(
            d <= tol * m.max(1.0),
            "{label}: output {} differs by {d} (reference max |x| {m}, tolerance {tol} relative)",
            g.name
        );
    }
}

/// Tolerances relative to max(1, max |reference|): f32 storage and f16 storage.
pub const TOL_F32: f32 = 1e-4;
pub const TOL_F16: f32 = 2e-2;

/// Checks a one-input model on `input` in both precisions against the reference.
pub fn check_model(label: &str, model: &[u8], input: &Tensor) {
    let want = run_reference(model, input);
    let got = run_gpu(model, input, Precision::F32);
    assert_close(&format!("{label} f32"), &got, &want, TOL_F32);
    let got = run_gpu(model, input, Precision::F16);
    assert_close(&format!("{label} f16"), &got, &want, TOL_F16);
}

/// A still of `pipelines/footage/` as packed RGBA, with its width and height.
pub fn still_rgba(file: &str) -> (Vec<u8>, u32, u32) {
    let path = format!("{}/pipelines/footage/{file}", env!("CARGO_MANIFEST_DIR"));
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgba8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}
