//! QuantizeLinear and DequantizeLinear (static QDQ models) in our IR: the reference executor's
//! rounding (half to even), saturation at the type's bounds, zero points and per-axis scales;
//! int8 weights folded into a convolution; the wgpu engine running Q/DQ as fake-quant in float;
//! malformed QDQ nodes refused with the node named.

mod engine_support;

use engine_support::*;
use lookout::infer::graph::{self, InputShape};
use lookout::infer::onnx::proto::{TensorProto, data_type};
use lookout::infer::{InferError, Tensor, onnx};

/// An integer initializer of ONNX type `t` (int8, uint8, int32), values stored raw.
fn int_init(name: &str, dims: &[i64], t: i32, v: &[i64]) -> TensorProto {
    let raw = match t {
        data_type::INT8 | data_type::UINT8 => v.iter().map(|&x| x as u8).collect(),
        _ => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
    };
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: t,
        raw_data: raw,
        ..Default::default()
    }
}

/// `y = QuantizeLinear(x, scale, zero)` with scale and zero point of shape `dims`.
fn quantize_model(dims: &[i64], scale: &[f32], zero_type: i32, zero: &[i64], axis: i64) -> Vec<u8> {
    ModelBuilder::new(13)
        .input("x", &[1, 2, 1, -1])
        .init("s", dims, scale)
        .raw_init(int_init("z", dims, zero_type, zero))
        .node(
            "QuantizeLinear",
            &["x", "s", "z"],
            &["y"],
            vec![ai("axis", axis)],
        )
        .output("y")
        .bytes()
}

fn run(model: &[u8], x: &[f32], shape: &[usize]) -> Vec<f32> {
    let out = run_reference(model, &Tensor::new(shape.to_vec(), x.to_vec()));
    out[0].tensor.data.clone()
}

#[test]
fn quantize_rounds_half_to_even_and_saturates() {
    let x = [0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 127.5];
    let shape = [1, 2, 1, 4];
    // uint8, zero point 0: negatives saturate at 0, large values at 255, halves go to even.
    let m = quantize_model(&[], &[1.0], data_type::UINT8, &[0], 1);
    assert_eq!(run(&m, &x, &shape), [0., 2., 2., 0., 0., 255., 0., 128.]);
    // int8: the bounds are -128 and 127.
    let m = quantize_model(&[], &[1.0], data_type::INT8, &[0], 1);
    assert_eq!(
        run(&m, &x, &shape),
        [0., 2., 2., 0., -2., 127., -128., 127.]
    );
    // A scale and zero point: round(x / 0.5) + 3.
    let m = quantize_model(&[], &[0.5], data_type::INT8, &[3], 1);
    let x = [0.25, 0.75, -0.25, 1.0, 100.0, -100.0, 0.0, -1.75];
    assert_eq!(run(&m, &x, &shape), [3., 5., 3., 5., 127., -128., 3., -1.]);
}

#[test]
fn quantize_per_axis_uses_each_channels_scale_and_zero_point() {
    // Channel 0: scale 1, zero 0; channel 1: scale 0.5, zero 10.
    let m = quantize_model(&[2], &[1.0, 0.5], data_type::UINT8, &[0, 10], 1);
    let x = [0.5, 1.5, 2.5, 0.25, 0.75, -10.0];
    assert_eq!(
        run(&m, &x, &[1, 2, 1, 3]),
        [0., 2., 2., 10., 12., 0.],
        "channel 1: round(x / 0.5) + 10, clipped at 0"
    );
}

#[test]
fn quantize_then_dequantize_is_fake_quant_on_the_reference_and_the_gpu() {
    let m = ModelBuilder::new(13)
        .input("x", &[1, 3, -1, -1])
        .init("s", &[3], &[0.02, 0.05, 0.01])
        .raw_init(int_init("z", &[3], data_type::INT8, &[0, -5, 20]))
        .node(
            "QuantizeLinear",
            &["x", "s", "z"],
            &["q"],
            vec![ai("axis", 1)],
        )
        .node(
            "DequantizeLinear",
            &["q", "s", "z"],
            &["y"],
            vec![ai("axis", 1)],
        )
        .output("y")
        .bytes();
    let x = Tensor::new(vec![1, 3, 5, 7], random(105, 3));
    let want = run_reference(&m, &x);
    let scales = [0.02f32, 0.05, 0.01];
    let zeros = [0.0f32, -5.0, 20.0];
    for (i, (&v, &y)) in x.data.iter().zip(&want[0].tensor.data).enumerate() {
        let c = i / 35;
        let q = ((v / scales[c]).round_ties_even() + zeros[c]).clamp(-128.0, 127.0);
        assert_eq!(y, (q - zeros[c]) * scales[c], "element {i}");
    }
    // The GPU computes the same in float; a division rounded the other way at a tie moves a
    // value by one step at most.
    let got = run_gpu(&m, &x, lookout::infer::gpu::Precision::F32);
    let (d, _) = max_diff(&got[0].tensor.data, &want[0].tensor.data);
    assert!(d <= 0.05 + 1e-6, "gpu differs by {d}");
}

#[test]
fn per_tensor_fake_quant_runs_as_one_function_on_the_gpu() {
    // uint8, scale 1/64, zero point 128: x in about -1..1 spans the whole range, and x beyond
    // +-2 saturates.
    let m = ModelBuilder::new(13)
        .input("x", &[1, 2, -1, -1])
        .init("s", &[], &[1.0 / 64.0])
        .raw_init(int_init("z", &[], data_type::UINT8, &[128]))
        .node("QuantizeLinear", &["x", "s", "z"], &["q"], vec![])
        .node("DequantizeLinear", &["q", "s", "z"], &["y"], vec![])
        .output("y")
        .bytes();
    let mut data = random(2 * 4 * 6, 5);
    data[0] = 5.0;
    data[1] = -5.0;
    let x = Tensor::new(vec![1, 2, 4, 6], data);
    let want = run_reference(&m, &x);
    let y = &want[0].tensor.data;
    assert_eq!((y[0], y[1]), (127.0 / 64.0, -2.0), "saturated at 255 and 0");
    for prec in [
        lookout::infer::gpu::Precision::F32,
        lookout::infer::gpu::Precision::F16,
    ] {
        let got = run_gpu(&m, &x, prec);
        let (d, _) = max_diff(&got[0].tensor.data, y);
        assert!(d <= 1.0 / 64.0 + 1e-6, "{prec:?}: gpu differs by {d}");
    }
}

#[test]
fn int8_weights_dequantize_per_output_channel_into_a_convolution() {
    // Two output channels of a 1x1 convolution: weights -128 x 0.5 and 127 x 0.25, bias int32
    // 4 x 0.5 and -8 x 0.25.
    let m = ModelBuilder::new(13)
        .input("x", &[1, 1, -1, -1])
        .raw_init(int_init("wq", &[2, 1, 1, 1], data_type::INT8, &[-128, 127]))
        .init("ws", &[2], &[0.5, 0.25])
        .raw_init(int_init("wz", &[2], data_type::INT8, &[0, 0]))
        .raw_init(int_init("bq", &[2], data_type::INT32, &[4, -8]))
        .init("bs", &[2], &[0.5, 0.25])
        .node(
            "DequantizeLinear",
            &["wq", "ws", "wz"],
            &["w"],
            vec![ai("axis", 0)],
        )
        .node(
            "DequantizeLinear",
            &["bq", "bs"],
            &["b"],
            vec![ai("axis", 0)],
        )
        .node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![ais("kernel_shape", &[1, 1])],
        )
        .output("y")
        .bytes();
    let x = [1.0, -2.0, 0.5];
    let y = run(&m, &x, &[1, 1, 1, 3]);
    assert_eq!(y, [-62.0, 130.0, -30.0, 29.75, -65.5, 13.875]);
    // The folded weights are what the GPU's convolution reads.
    let t = Tensor::new(vec![1, 1, 1, 3], x.to_vec());
    assert_close(
        "int8 conv",
        &run_gpu(&m, &t, lookout::infer::gpu::Precision::F32),
        &run_reference(&m, &t),
        TOL_F32,
    );
}

/// The IR's verdict on a one-input model of shape [1, 2, 1, 4].
fn check(model: &[u8]) -> Result<(), InferError> {
    let m = onnx::load(model)?;
    let input = InputShape {
        name: "x".into(),
        shape: vec![1, 2, 1, 4],
    };
    graph::build(&m, &[input]).map(|_| ())
}

#[test]
fn malformed_qdq_nodes_are_refused_naming_the_node() {
    // DequantizeLinear of a float tensor.
    let m = ModelBuilder::new(13)
        .input("x", &[1, 2, 1, 4])
        .init("s", &[], &[0.5])
        .node("DequantizeLinear", &["x", "s"], &["y"], vec![])
        .output("y")
        .bytes();
    let e = check(&m).expect_err("float input refused").to_string();
    assert!(
        e.contains("DequantizeLinear_0") && e.contains("not a quantized tensor"),
        "{e}"
    );
    // A scale of 0.
    let e = check(&quantize_model(&[], &[0.0], data_type::UINT8, &[0], 1))
        .expect_err("zero scale refused")
        .to_string();
    assert!(
        e.contains("QuantizeLinear_0") && e.contains("positive"),
        "{e}"
    );
    // Per-axis scales that do not match the axis' length.
    let e = check(&quantize_model(
        &[3],
        &[1.0, 1.0, 1.0],
        data_type::UINT8,
        &[0, 0, 0],
        1,
    ))
    .expect_err("3 scales for 2 channels refused")
    .to_string();
    assert!(e.contains("one per slice"), "{e}");
    // A zero point outside its type (an int8 zero point of 300 in int32_data).
    let bad_zero = TensorProto {
        name: "z".into(),
        data_type: data_type::INT8,
        int32_data: vec![300],
        ..Default::default()
    };
    let m = ModelBuilder::new(13)
        .input("x", &[1, 2, 1, 4])
        .init("s", &[], &[0.5])
        .raw_init(bad_zero)
        .node("QuantizeLinear", &["x", "s", "z"], &["y"], vec![])
        .output("y")
        .bytes();
    let e = check(&m).expect_err("zero point 300 refused").to_string();
    assert!(e.contains("outside the int8 range"), "{e}");
    // Every one of these is the model's fault, not the machine's.
    assert!(check(&m).expect_err("refused").is_bad_model());
}

/// A small float network for the quantizer: conv -> relu -> conv (+ residual add) -> maxpool;
/// the second bias is read through an Identity, as PyTorch's exporter shares equal tensors.
fn small_net() -> Vec<u8> {
    ModelBuilder::new(13)
        .input("x", &[1, 3, 16, 16])
        .init("w1", &[8, 3, 3, 3], &random(8 * 27, 11))
        .init("b1", &[8], &random(8, 12))
        .init("w2", &[8, 8, 1, 1], &random(64, 13))
        .init("b2", &[8], &random(8, 14))
        .node("Identity", &["b2"], &["b2_shared"], vec![])
        .node(
            "Conv",
            &["x", "w1", "b1"],
            &["c1"],
            vec![ais("kernel_shape", &[3, 3]), ais("pads", &[1, 1, 1, 1])],
        )
        .node("Relu", &["c1"], &["r1"], vec![])
        .node(
            "Conv",
            &["r1", "w2", "b2_shared"],
            &["c2"],
            vec![ais("kernel_shape", &[1, 1])],
        )
        .node("Add", &["c2", "r1"], &["a"], vec![])
        .node(
            "MaxPool",
            &["a"],
            &["y"],
            vec![ais("kernel_shape", &[2, 2]), ais("strides", &[2, 2])],
        )
        .output("y")
        .bytes()
}

#[test]
fn quantized_small_network_loads_and_stays_close_to_float() {
    use lookout::infer::quant::{Calibrator, QdqOptions, quantize};
    let float = small_net();
    let m = onnx::load(&float).unwrap();
    let shape = InputShape {
        name: "x".into(),
        shape: vec![1, 3, 16, 16],
    };
    let mut cal = Calibrator::new(&m, shape).unwrap();
    for seed in 0..4 {
        cal.add(&Tensor::new(vec![1, 3, 16, 16], random(768, 100 + seed)))
            .unwrap();
    }
    let ranges = cal.finish();
    assert_eq!(ranges.samples, 4);
    for t in ["x", "r1", "c2", "a", "y"] {
        assert!(ranges.get(t).is_some(), "range of {t} measured");
    }
    let (int8, summary) = quantize(&float, &ranges, &QdqOptions::default()).unwrap();
    assert_eq!((summary.convs_quantized, summary.convs_float), (2, 0));
    // The Relu after the first convolution is folded into its quantized output: `c1` itself is
    // not quantized, `r1` is; weights are int8 with one scale per output channel.
    {
        use lookout::infer::onnx::proto::ModelProto;
        use prost::Message;
        let g = ModelProto::decode(&int8[..]).unwrap().graph.unwrap();
        let quantized: Vec<&str> = g
            .node
            .iter()
            .filter(|n| n.op_type == "QuantizeLinear")
            .map(|n| n.input[0].as_str())
            .collect();
        assert!(
            quantized.contains(&"r1") && !quantized.contains(&"c1"),
            "{quantized:?}"
        );
        let w1 = g
            .initializer
            .iter()
            .find(|t| t.name == "w1_quantized")
            .unwrap();
        assert_eq!(
            (w1.data_type, w1.dims.as_slice()),
            (data_type::INT8, &[8, 3, 3, 3][..])
        );
        let s1 = g.initializer.iter().find(|t| t.name == "w1_scale").unwrap();
        assert_eq!(s1.dims, [8]);
        // Axis 0 is on the wire (proto3 would drop a 0; OpenCV and other proto2 readers then
        // see an INT attribute without a value).
        let dq = g
            .node
            .iter()
            .find(|n| n.op_type == "DequantizeLinear" && n.input[0] == "w1_quantized")
            .unwrap();
        assert_eq!(
            (dq.attribute[0].name.as_str(), dq.attribute[0].i),
            ("axis", Some(0))
        );
    }
    let x = Tensor::new(vec![1, 3, 16, 16], random(768, 7));
    let (want, got) = (run_reference(&float, &x), run_reference(&int8, &x));
    let (d, m) = max_diff(&got[0].tensor.data, &want[0].tensor.data);
    assert!(d > 0.0, "int8 changes the numbers");
    assert!(
        d <= 0.05 * m,
        "int8 within 5% of the output's range: {d} of {m}"
    );
    // Keeping a convolution in float is honoured.
    let opts = QdqOptions {
        keep_float: vec!["Conv_3".into()],
    };
    let (_, summary) = quantize(&float, &ranges, &opts).unwrap();
    assert_eq!((summary.convs_quantized, summary.convs_float), (1, 1));
}

/// ONNX Runtime, with the tensors exposed as outputs, measures the ranges the reference
/// executor measures.
#[cfg(feature = "onnxruntime")]
#[test]
fn onnxruntime_and_reference_calibrations_agree() {
    use lookout::infer::quant::{CalibrationEngine, Calibrator};
    let float = small_net();
    let m = onnx::load(&float).unwrap();
    let shape = || InputShape {
        name: "x".into(),
        shape: vec![1, 3, 16, 16],
    };
    let mut reference = Calibrator::new(&m, shape()).unwrap();
    let mut ort = Calibrator::onnxruntime(&float, &m, shape(), &pre_base(16, 16)).unwrap();
    assert_eq!(ort.engine(), CalibrationEngine::Onnxruntime);
    for seed in 0..3 {
        let x = Tensor::new(vec![1, 3, 16, 16], random(768, 200 + seed));
        reference.add(&x).unwrap();
        ort.add(&x).unwrap();
    }
    let (a, b) = (reference.finish(), ort.finish());
    for t in ["x", "r1", "c2", "a", "y"] {
        let (ra, rb) = (a.get(t).unwrap(), b.get(t).unwrap_or_else(|| panic!("{t}")));
        assert!(
            (ra.0 - rb.0).abs() < 1e-4 && (ra.1 - rb.1).abs() < 1e-4,
            "{t}: reference {ra:?}, onnxruntime {rb:?}"
        );
    }
}
