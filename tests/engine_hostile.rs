//! Corrupt and hostile model files: each gives a clear error, never a panic or a huge allocation.

mod engine_support;

use engine_support::*;
use lookout::infer::InferError;
use lookout::infer::gpu::{Precision, WgpuBackend};
use lookout::infer::graph::{self, InputShape};
use lookout::infer::onnx::{self, proto};

fn small_model() -> Vec<u8> {
    ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .init("w", &[4, 3, 3, 3], &random(108, 1))
        .node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![ais("pads", &[1, 1, 1, 1])],
        )
        .output("y")
        .bytes()
}

fn load_err(bytes: &[u8]) -> String {
    match onnx::load(bytes) {
        Ok(m) => {
            // Loading may succeed; building the graph must then fail.
            let shape = InputShape {
                name: m.inputs[0].name.clone(),
                shape: vec![1, 3, 8, 8],
            };
            graph::build(&m, &[shape])
                .expect_err("hostile model must not build")
                .to_string()
        }
        Err(e) => e.to_string(),
    }
}

fn with_weight(t: proto::TensorProto) -> Vec<u8> {
    ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .raw_init(t)
        .node("Conv", &["x", "w"], &["y"], vec![])
        .output("y")
        .bytes()
}

#[test]
fn truncated_files_are_rejected() {
    let bytes = small_model();
    for cut in [1, 7, bytes.len() / 3, bytes.len() / 2, bytes.len() - 3] {
        let e = load_err(&bytes[..cut]);
        assert!(
            e.contains("bad model") || e.contains("not a valid"),
            "cut at {cut}: {e}"
        );
    }
    assert!(load_err(&[]).contains("empty"));
}

#[test]
fn random_bytes_are_rejected() {
    let mut rng = fastrand::Rng::with_seed(42);
    for len in [1usize, 16, 100, 4096, 65536] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let e = load_err(&bytes);
        assert!(!e.is_empty(), "{len} random bytes");
    }
}

#[test]
fn absurd_and_negative_dims_are_rejected() {
    for dims in [
        vec![-1i64, 3, 3, 3],
        vec![1 << 40, 1, 1, 1],
        vec![1 << 20, 1 << 20, 1, 1],
    ] {
        let e = load_err(&with_weight(proto::TensorProto {
            name: "w".into(),
            dims: dims.clone(),
            data_type: proto::data_type::FLOAT,
            ..Default::default()
        }));
        assert!(e.contains("bad model"), "{dims:?}: {e}");
    }
}

#[test]
fn raw_data_shorter_than_dims_is_rejected() {
    let e = load_err(&with_weight(proto::TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: proto::data_type::FLOAT,
        raw_data: vec![0u8; 107 * 4],
        ..Default::default()
    }));
    assert!(e.contains("raw_data has 428 bytes"), "{e}");
    // Typed data of the wrong length too.
    let e = load_err(&with_weight(proto::TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: proto::data_type::FLOAT,
        float_data: vec![0.0; 5],
        ..Default::default()
    }));
    assert!(e.contains("float_data has 5 values"), "{e}");
}

#[test]
fn huge_element_counts_are_rejected_before_allocating() {
    // ConstantOfShape asking for 2^40 elements from a 3-value shape.
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .init_i64("shape", &[3], &[1 << 14, 1 << 14, 1 << 12])
        .node("ConstantOfShape", &["shape"], &["big"], vec![])
        .node("Add", &["x", "big"], &["y"], vec![])
        .output("y")
        .bytes();
    let e = load_err(&model);
    assert!(e.contains("more than"), "{e}");
    // An input size whose activations would not fit.
    let m = onnx::load(&small_model()).unwrap();
    let dyn_model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w", &[4, 3, 3, 3], &random(108, 1))
        .node("Conv", &["x", "w"], &["y"], vec![])
        .output("y")
        .bytes();
    let dm = onnx::load(&dyn_model).unwrap();
    let e = graph::build(
        &dm,
        &[InputShape {
            name: "x".into(),
            shape: vec![1 << 10, 3, 1 << 12, 1 << 12],
        }],
    )
    .unwrap_err();
    assert!(matches!(e, InferError::Input(_)), "{e}");
    // A fixed dim that does not match.
    let e = graph::build(
        &m,
        &[InputShape {
            name: "x".into(),
            shape: vec![1, 3, 9, 8],
        }],
    )
    .unwrap_err();
    assert!(e.to_string().contains("fixed at 8"), "{e}");
}

#[test]
fn external_data_and_unsupported_types_are_rejected() {
    let e = load_err(&with_weight(proto::TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: proto::data_type::FLOAT,
        data_location: proto::DATA_LOCATION_EXTERNAL,
        external_data: vec![proto::StringStringEntryProto {
            key: "location".into(),
            value: "/etc/passwd".into(),
        }],
        ..Default::default()
    }));
    assert!(e.contains("external data"), "{e}");
    let e = load_err(&with_weight(proto::TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: 8, // STRING
        ..Default::default()
    }));
    assert!(e.contains("element type 8"), "{e}");
}

#[test]
fn unsupported_ops_name_the_op_and_node() {
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .node("NonMaxSuppression", &["x"], &["y"], vec![])
        .output("y")
        .bytes();
    let e = load_err(&model);
    assert!(
        e.contains("NonMaxSuppression") && e.contains("NonMaxSuppression_0"),
        "{e}"
    );
    // Wrong shapes name the node too.
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .init("w", &[4, 5, 3, 3], &random(180, 2))
        .node("Conv", &["x", "w"], &["y"], vec![])
        .output("y")
        .bytes();
    let e = load_err(&model);
    assert!(e.contains("Conv_0") && e.contains("channels"), "{e}");
    // A value used before it is defined.
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .node("Relu", &["nowhere"], &["y"], vec![])
        .output("y")
        .bytes();
    assert!(load_err(&model).contains("used before it is defined"));
}

#[test]
fn gpu_backend_reports_errors_too() {
    let e = WgpuBackend::for_tensors(ctx(), b"not onnx at all", Precision::F32).unwrap_err();
    assert!(matches!(e, InferError::BadModel(_)), "{e}");
    // A length-delimited field longer than the file is a decode error.
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        bytes.extend_from_slice(&[0x3a, 0x80, 0x80, 0x04]);
    }
    assert!(onnx::load(&bytes).is_err());
}

#[test]
fn mutated_models_never_panic() {
    // Flip bytes of a valid model: every result is Ok or a typed error.
    let base = ModelBuilder::new(13)
        .input("x", &[1, 3, 8, 8])
        .init("w", &[4, 3, 3, 3], &random(108, 1))
        .init_i64("shape", &[2], &[1, -1])
        .init("s", &[4], &[1.0, 1.0, 2.0, 2.0])
        .node(
            "Conv",
            &["x", "w"],
            &["c"],
            vec![ais("pads", &[1, 1, 1, 1]), ais("strides", &[2, 2])],
        )
        .node(
            "Resize",
            &["c", "", "s"],
            &["r"],
            vec![astr("mode", "linear")],
        )
        .node(
            "MaxPool",
            &["r"],
            &["p"],
            vec![ais("kernel_shape", &[2, 2]), ais("strides", &[2, 2])],
        )
        .node("Reshape", &["p", "shape"], &["y"], vec![])
        .output("y")
        .bytes();
    let base_graph = {
        let m = onnx::load(&base).unwrap();
        graph::build(
            &m,
            &[InputShape {
                name: "x".into(),
                shape: vec![1, 3, 8, 8],
            }],
        )
        .unwrap()
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let mut outcomes = [0usize; 2];
    let mut structural = 0;
    for _ in 0..500 {
        let mut bytes = base.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..bytes.len());
            bytes[i] = rng.u8(..);
        }
        let ok = onnx::load(&bytes).and_then(|m| {
            let shape = InputShape {
                name: m.inputs[0].name.clone(),
                shape: vec![1, 3, 8, 8],
            };
            graph::build(&m, &[shape])
        });
        outcomes[ok.is_ok() as usize] += 1;
        // A mutation that still builds but changes the structure must also run (or fail cleanly).
        if let Ok(g) = ok {
            let changed = g.nodes.len() != base_graph.nodes.len()
                || g.nodes
                    .iter()
                    .zip(&base_graph.nodes)
                    .any(|(a, b)| std::mem::discriminant(&a.op) != std::mem::discriminant(&b.op))
                || g.outputs
                    .iter()
                    .map(|&o| g.shape(o))
                    .ne(base_graph.outputs.iter().map(|&o| base_graph.shape(o)));
            if changed && structural < 25 {
                structural += 1;
                let x = lookout::infer::Tensor::new(vec![1, 3, 8, 8], random(192, 3));
                let _ = lookout::infer::reference::run(&g, std::slice::from_ref(&x));
                if let Ok(mut b) = WgpuBackend::for_tensors(ctx(), &bytes, Precision::F32) {
                    use lookout::infer::Backend;
                    let _ = b.infer_tensor(&x);
                }
            }
        }
    }
    eprintln!("mutations: {outcomes:?} (rejected, accepted), {structural} structural variants run");
    assert!(
        outcomes[0] > 0,
        "some mutations must be rejected: {outcomes:?}"
    );
}
