//! Every op of the wgpu backend against the CPU reference executor, on random inputs with odd
//! sizes, asymmetric pads, strides 1 and 2, kernels 1/3/5, depthwise and grouped convolutions,
//! batch 2, in f32 and f16 storage.

mod engine_support;

use engine_support::*;
use lookout::infer::Tensor;

fn conv_model(
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    pads: [i64; 4],
    group: i64,
    act: Option<&str>,
) -> Vec<u8> {
    let w = random((cout * cin / group * k * k) as usize, 7);
    let b = random(cout as usize, 8);
    let mut m = ModelBuilder::new(13)
        .input("x", &[-1, cin, -1, -1])
        .init("w", &[cout, cin / group, k, k], &w)
        .init("b", &[cout], &b)
        .node(
            "Conv",
            &["x", "w", "b"],
            &[if act.is_some() { "c" } else { "y" }],
            vec![
                ais("kernel_shape", &[k, k]),
                ais("strides", &[stride, stride]),
                ais("pads", &pads),
                ai("group", group),
            ],
        );
    if let Some(a) = act {
        m = m.node(a, &["c"], &["y"], vec![]);
    }
    m.output("y").bytes()
}

#[test]
fn conv_dense_kernels_strides_and_pads() {
    for (cin, cout, k, s, pads) in [
        (3, 8, 3, 1, [1, 1, 1, 1]),
        (13, 6, 1, 1, [0, 0, 0, 0]),
        (5, 17, 3, 2, [0, 0, 1, 1]),
        (8, 12, 5, 2, [1, 1, 2, 2]),
        (4, 33, 3, 1, [2, 0, 1, 2]),
    ] {
        let model = conv_model(cin, cout, k, s, pads, 1, None);
        let x = Tensor::new(
            vec![2, cin as usize, 7, 5],
            random(2 * cin as usize * 35, 1),
        );
        check_model(
            &format!("conv {cin}->{cout} k{k} s{s} pads {pads:?}"),
            &model,
            &x,
        );
    }
}

fn input(shape: &[usize], seed: u64) -> Tensor {
    Tensor::new(shape.to_vec(), random(shape.iter().product(), seed))
}

#[test]
fn conv_depthwise_and_grouped() {
    // Depthwise: 13 channels (odd), kernels 3 and 5, strides 1 and 2, TF-style asymmetric pads.
    for (k, s, pads) in [
        (3, 1, [1, 1, 1, 1]),
        (3, 2, [0, 0, 1, 1]),
        (5, 1, [2, 1, 2, 3]),
    ] {
        let model = conv_model(13, 13, k, s, pads, 13, Some("Relu"));
        check_model(
            &format!("depthwise k{k} s{s} {pads:?}"),
            &model,
            &input(&[2, 13, 9, 7], 2),
        );
    }
    // Grouped (not depthwise): expanded to a dense GEMM.
    let model = conv_model(6, 9, 3, 1, [1, 1, 1, 1], 3, None);
    check_model("grouped 6->9 g3", &model, &input(&[1, 6, 7, 5], 3));
    // Depthwise with a channel multiplier (group = cin, cout = 2 cin).
    let model = conv_model(4, 8, 3, 2, [1, 1, 1, 1], 4, None);
    check_model("depthwise multiplier 2", &model, &input(&[1, 4, 7, 5], 4));
}

#[test]
fn conv_activations_fuse_into_the_epilogue() {
    for act in ["Relu", "Sigmoid", "LeakyRelu", "HardSwish", "Tanh"] {
        let model = conv_model(3, 10, 3, 1, [1, 1, 1, 1], 1, Some(act));
        check_model(&format!("conv+{act}"), &model, &input(&[1, 3, 6, 5], 5));
    }
    // Clip(0, 6) with bounds as inputs (opset 13) and SiLU as Sigmoid + Mul.
    let w = random(8 * 3 * 9, 9);
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, -1, -1])
        .init("w", &[8, 3, 3, 3], &w)
        .init("lo", &[], &[0.0])
        .init("hi", &[], &[0.5])
        .node(
            "Conv",
            &["x", "w"],
            &["c"],
            vec![ais("pads", &[1, 1, 1, 1])],
        )
        .node("Clip", &["c", "lo", "hi"], &["clip"], vec![])
        .node(
            "Conv",
            &["x", "w"],
            &["c2"],
            vec![ais("pads", &[1, 1, 1, 1])],
        )
        .node("Sigmoid", &["c2"], &["s"], vec![])
        .node("Mul", &["c2", "s"], &["silu"], vec![])
        .output("clip")
        .output("silu")
        .bytes();
    check_model("conv+clip, conv+silu", &model, &input(&[1, 3, 7, 6], 6));
}

#[test]
fn residual_add_fuses_into_conv_and_depthwise() {
    let w1 = random(8 * 8, 11);
    let wd = random(8 * 9, 12);
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 4, -1, -1])
        .init("w0", &[8, 4, 1, 1], &random(32, 10))
        .init("w1", &[8, 8, 1, 1], &w1)
        .init("wd", &[8, 1, 3, 3], &wd)
        .node("Conv", &["x", "w0"], &["a"], vec![])
        .node("Conv", &["a", "w1"], &["b"], vec![])
        .node("Add", &["a", "b"], &["s"], vec![])
        .node("Relu", &["s"], &["r"], vec![])
        .node(
            "Conv",
            &["r", "wd"],
            &["d"],
            vec![ais("pads", &[1, 1, 1, 1]), ai("group", 8)],
        )
        .node("Add", &["d", "r"], &["y"], vec![])
        .output("y")
        .bytes();
    check_model("residual", &model, &input(&[2, 4, 5, 7], 13));
}

#[test]
fn conv_transpose() {
    for (k, s, pads, out_pad, group) in [
        (2, 2, [0, 0, 0, 0], 0, 1),
        (3, 2, [1, 1, 1, 1], 1, 1),
        (4, 2, [1, 1, 1, 1], 0, 2),
    ] {
        let (cin, cout) = (6, 4);
        let w = random(cin * cout / group * k * k, 14);
        let model = ModelBuilder::new(13)
            .input("x", &[-1, cin as i64, -1, -1])
            .init(
                "w",
                &[cin as i64, (cout / group) as i64, k as i64, k as i64],
                &w,
            )
            .init("b", &[cout as i64], &random(cout, 15))
            .node(
                "ConvTranspose",
                &["x", "w", "b"],
                &["y"],
                vec![
                    ais("kernel_shape", &[k as i64, k as i64]),
                    ais("strides", &[s, s]),
                    ais("pads", &pads),
                    ais("output_padding", &[out_pad, out_pad]),
                    ai("group", group as i64),
                ],
            )
            .output("y")
            .bytes();
        check_model(
            &format!("conv_transpose k{k} s{s}"),
            &model,
            &input(&[2, cin, 5, 3], 16),
        );
    }
}

#[test]
fn pooling() {
    let cases: Vec<(&str, Vec<lookout::infer::onnx::proto::AttributeProto>)> = vec![
        (
            "MaxPool",
            vec![ais("kernel_shape", &[2, 2]), ais("strides", &[2, 2])],
        ),
        (
            "MaxPool",
            vec![
                ais("kernel_shape", &[3, 3]),
                ais("strides", &[2, 2]),
                ais("pads", &[1, 1, 1, 1]),
            ],
        ),
        (
            "MaxPool",
            vec![ais("kernel_shape", &[5, 5]), ais("pads", &[2, 2, 2, 2])],
        ),
        (
            "MaxPool",
            vec![
                ais("kernel_shape", &[3, 3]),
                ais("strides", &[2, 2]),
                ai("ceil_mode", 1),
            ],
        ),
        (
            "AveragePool",
            vec![
                ais("kernel_shape", &[3, 3]),
                ais("strides", &[2, 2]),
                ais("pads", &[1, 0, 1, 1]),
            ],
        ),
        (
            "AveragePool",
            vec![
                ais("kernel_shape", &[3, 3]),
                ais("pads", &[1, 1, 1, 1]),
                ai("count_include_pad", 1),
            ],
        ),
        ("GlobalAveragePool", vec![]),
    ];
    for (op, attrs) in cases {
        let model = ModelBuilder::new(13)
            .input("x", &[-1, 6, -1, -1])
            .init("w", &[6, 6, 1, 1], &random(36, 17))
            .node("Conv", &["x", "w"], &["c"], vec![])
            .node(op, &["c"], &["y"], attrs.clone())
            .output("y")
            .bytes();
        check_model(
            &format!("{op} {attrs:?}"),
            &model,
            &input(&[2, 6, 7, 9], 18),
        );
    }
}

#[test]
fn resize_modes() {
    let scales = |name: &str, s: [f32; 4]| (name.to_string(), s);
    let cases = [
        (
            "nearest",
            "asymmetric",
            "floor",
            scales("s", [1.0, 1.0, 2.0, 2.0]),
        ),
        (
            "nearest",
            "half_pixel",
            "round_prefer_floor",
            scales("s", [1.0, 1.0, 1.5, 3.0]),
        ),
        (
            "linear",
            "half_pixel",
            "floor",
            scales("s", [1.0, 1.0, 2.0, 2.0]),
        ),
        (
            "linear",
            "half_pixel",
            "floor",
            scales("s", [1.0, 1.0, 0.5, 0.5]),
        ),
        (
            "linear",
            "align_corners",
            "floor",
            scales("s", [1.0, 1.0, 2.0, 3.0]),
        ),
        (
            "linear",
            "pytorch_half_pixel",
            "floor",
            scales("s", [1.0, 1.0, 2.0, 2.0]),
        ),
    ];
    for (mode, coord, nearest, (_, s)) in cases {
        let model = ModelBuilder::new(13)
            .input("x", &[-1, 5, -1, -1])
            .init("w", &[5, 5, 1, 1], &random(25, 19))
            .init("scales", &[4], &s)
            .node("Conv", &["x", "w"], &["c"], vec![])
            .node(
                "Resize",
                &["c", "", "scales"],
                &["y"],
                vec![
                    astr("mode", mode),
                    astr("coordinate_transformation_mode", coord),
                    astr("nearest_mode", nearest),
                ],
            )
            .output("y")
            .bytes();
        check_model(
            &format!("resize {mode} {coord} {s:?}"),
            &model,
            &input(&[2, 5, 6, 7], 20),
        );
    }
    // Output sizes instead of scales.
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, -1, -1])
        .init_i64("sizes", &[4], &[1, 3, 11, 4])
        .node(
            "Resize",
            &["x", "", "", "sizes"],
            &["y"],
            vec![astr("mode", "linear")],
        )
        .output("y")
        .bytes();
    check_model("resize sizes", &model, &input(&[1, 3, 6, 7], 21));
}

#[test]
fn concat_split_slice() {
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w8", &[8, 3, 1, 1], &random(24, 22))
        .init("w5", &[5, 3, 3, 3], &random(135, 23))
        .init("w12", &[12, 13, 1, 1], &random(156, 24))
        .init_i64("split", &[3], &[4, 4, 5])
        .init_i64("starts", &[2], &[1, 4])
        .init_i64("ends", &[2], &[6, 100])
        .init_i64("axes", &[2], &[1, 3])
        .init_i64("st2", &[1], &[-1])
        .init_i64("en2", &[1], &[-100])
        .init_i64("ax2", &[1], &[2])
        .init_i64("sp2", &[1], &[-2])
        // Aligned concat (8 + 5 channels): placed by the producers.
        .node("Conv", &["x", "w8"], &["a"], vec![])
        .node(
            "Conv",
            &["x", "w5"],
            &["b"],
            vec![ais("pads", &[1, 1, 1, 1])],
        )
        .node("Concat", &["a", "b"], &["ab"], vec![ai("axis", 1)])
        // Unaligned concat (5 + 8 channels): copied.
        .node("Concat", &["b", "a"], &["ba"], vec![ai("axis", 1)])
        .node("Conv", &["ab", "w12"], &["c"], vec![])
        // Split into views (4, 4) and a copy (5, unaligned tail of a 12-channel tensor? no: 4+4+5 of 13).
        .node(
            "Split",
            &["ba", "split"],
            &["s0", "s1", "s2"],
            vec![ai("axis", 1)],
        )
        .node("Slice", &["c", "starts", "ends", "axes"], &["sl"], vec![])
        .node(
            "Slice",
            &["ab", "st2", "en2", "ax2", "sp2"],
            &["rev"],
            vec![],
        )
        .node("Concat", &["sl", "sl"], &["w"], vec![ai("axis", 3)])
        .output("c")
        .output("s0")
        .output("s1")
        .output("s2")
        .output("w")
        .output("rev")
        .bytes();
    check_model("concat/split/slice", &model, &input(&[2, 3, 7, 5], 25));
}

#[test]
fn transpose_reshape_flatten_softmax() {
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w", &[12, 3, 1, 1], &random(36, 26))
        .init_i64("shape", &[3], &[0, 3, -1])
        .init_i64("axes", &[1], &[1])
        .node("Conv", &["x", "w"], &["c"], vec![])
        .node(
            "Transpose",
            &["c"],
            &["t"],
            vec![ais("perm", &[0, 2, 3, 1])],
        )
        .node("Reshape", &["c", "shape"], &["r"], vec![])
        .node("Softmax", &["r"], &["sm"], vec![ai("axis", 1)])
        .node("Softmax", &["t"], &["sm2"], vec![ai("axis", -1)])
        .node("Flatten", &["t"], &["f"], vec![ai("axis", 2)])
        .node("Unsqueeze", &["f", "axes"], &["u"], vec![])
        .node("Sigmoid", &["u"], &["y"], vec![])
        .output("sm")
        .output("sm2")
        .output("y")
        .bytes();
    check_model(
        "transpose/reshape/softmax",
        &model,
        &input(&[2, 3, 5, 7], 27),
    );
}

#[test]
fn elementwise_and_broadcasting() {
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w", &[6, 3, 3, 3], &random(162, 28))
        .init("pc", &[6, 1, 1], &random(6, 29))
        .init("row", &[5], &random(5, 30))
        .init("two", &[], &[2.0])
        .node(
            "Conv",
            &["x", "w"],
            &["c"],
            vec![ais("pads", &[1, 1, 1, 1])],
        )
        .node("Relu", &["c"], &["cr"], vec![])
        .node("Mul", &["cr", "pc"], &["m"], vec![])
        .node("Sub", &["two", "m"], &["s"], vec![])
        .node("Add", &["cr", "two"], &["den"], vec![])
        .node("Div", &["s", "den"], &["d"], vec![])
        .node("Add", &["m", "row"], &["a"], vec![])
        .node("Max", &["a", "s"], &["mx"], vec![])
        .node("LeakyRelu", &["mx"], &["l"], vec![af("alpha", 0.2)])
        .output("d")
        .output("l")
        .bytes();
    check_model("elementwise", &model, &input(&[2, 3, 4, 5], 31));
}

#[test]
fn pad_spatial_and_channels() {
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w", &[6, 3, 1, 1], &random(18, 32))
        .init_i64("p1", &[8], &[0, 0, 1, 0, 0, 2, 2, 1])
        .init_i64("p2", &[8], &[0, 0, 0, 0, 0, 3, 0, 0])
        .init("v", &[], &[0.5])
        .init("w2", &[4, 9, 1, 1], &random(36, 33))
        .node("Conv", &["x", "w"], &["c"], vec![])
        .node("Pad", &["c", "p1", "v"], &["a"], vec![])
        .node("Pad", &["c", "p2"], &["b"], vec![])
        .node("Conv", &["b", "w2"], &["y"], vec![])
        .output("a")
        .output("y")
        .bytes();
    check_model("pad", &model, &input(&[2, 3, 5, 4], 34));
}

#[test]
fn batchnorm_folds_into_conv() {
    let c = 7;
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init("w", &[c, 3, 3, 3], &random(7 * 27, 35))
        .init("g", &[c], &random(7, 36))
        .init("b", &[c], &random(7, 37))
        .init("m", &[c], &random(7, 38))
        .init(
            "v",
            &[c],
            &random(7, 39)
                .iter()
                .map(|x| x.abs() + 0.1)
                .collect::<Vec<_>>(),
        )
        .node("Conv", &["x", "w"], &["cv"], vec![])
        .node(
            "BatchNormalization",
            &["cv", "g", "b", "m", "v"],
            &["bn"],
            vec![af("epsilon", 1e-3)],
        )
        .node("Relu", &["bn"], &["y"], vec![])
        .output("y")
        .bytes();
    let m = lookout::infer::onnx::load(&model).unwrap();
    let g = lookout::infer::graph::build(
        &m,
        &[lookout::infer::graph::InputShape {
            name: "x".into(),
            shape: vec![1, 3, 6, 6],
        }],
    )
    .unwrap();
    assert_eq!(
        g.nodes.len(),
        2,
        "BatchNorm folded into the conv: {:?}",
        g.nodes
    );
    check_model("batchnorm", &model, &input(&[1, 3, 6, 6], 40));
}

#[test]
fn shape_arithmetic_folds_to_constants() {
    // Reshape to [N, C*H, W] computed from Shape/Gather/Mul/Unsqueeze/Concat, as exporters emit.
    let model = ModelBuilder::new(13)
        .input("x", &[-1, 3, -1, -1])
        .init_i64("i0", &[], &[0])
        .init_i64("i1", &[], &[1])
        .init_i64("i2", &[], &[2])
        .init_i64("i3", &[], &[3])
        .init_i64("ax", &[1], &[0])
        .node("Shape", &["x"], &["sh"], vec![])
        .node("Gather", &["sh", "i0"], &["n"], vec![ai("axis", 0)])
        .node("Gather", &["sh", "i1"], &["c"], vec![ai("axis", 0)])
        .node("Gather", &["sh", "i2"], &["h"], vec![ai("axis", 0)])
        .node("Gather", &["sh", "i3"], &["w"], vec![ai("axis", 0)])
        .node("Mul", &["c", "h"], &["ch"], vec![])
        .node("Unsqueeze", &["n", "ax"], &["n1"], vec![])
        .node("Unsqueeze", &["ch", "ax"], &["ch1"], vec![])
        .node("Unsqueeze", &["w", "ax"], &["w1"], vec![])
        .node(
            "Concat",
            &["n1", "ch1", "w1"],
            &["shape"],
            vec![ai("axis", 0)],
        )
        .node("Cast", &["shape"], &["shape64"], vec![ai("to", 7)])
        .node("Reshape", &["x", "shape64"], &["y"], vec![])
        .output("y")
        .bytes();
    let x = input(&[2, 3, 4, 5], 41);
    let out = run_gpu(&model, &x, lookout::infer::gpu::Precision::F32);
    assert_eq!(out[0].tensor.shape, vec![2, 12, 5]);
    check_model("shape folding", &model, &x);
}

/// Adds `Conv + SiLU` (Sigmoid * x) to the builder.
fn conv_silu(
    m: ModelBuilder,
    x: &str,
    y: &str,
    [cin, cout, k, s]: [i64; 4],
    seed: u64,
) -> ModelBuilder {
    let p = k / 2;
    let scale = 1.0 / ((cin * k * k) as f32).sqrt();
    let w: Vec<f32> = random((cout * cin * k * k) as usize, seed)
        .iter()
        .map(|v| v * 2.0 * scale)
        .collect();
    m.init(&format!("{y}_w"), &[cout, cin, k, k], &w)
        .init(&format!("{y}_b"), &[cout], &random(cout as usize, seed + 1))
        .node(
            "Conv",
            &[x, &format!("{y}_w"), &format!("{y}_b")],
            &[&format!("{y}_c")],
            vec![
                ais("kernel_shape", &[k, k]),
                ais("strides", &[s, s]),
                ais("pads", &[p, p, p, p]),
            ],
        )
        .node(
            "Sigmoid",
            &[&format!("{y}_c")],
            &[&format!("{y}_s")],
            vec![],
        )
        .node("Mul", &[&format!("{y}_c"), &format!("{y}_s")], &[y], vec![])
}

/// A YOLOv8-shaped network in miniature: stem, C2f with the exporter's Slice arithmetic,
/// SPPF (MaxPool 5 x3), nearest x2 upsampling with Concat, and the detect head with DFL
/// (Reshape, Transpose, Softmax, a fixed 1x1 conv), anchors, Sigmoid and the final Concat.
#[test]
fn yolov8_style_block_matches_the_reference() {
    let nc = 3;
    let mut m = ModelBuilder::new(17).input("images", &[-1, 3, -1, -1]);
    m = conv_silu(m, "images", "stem", [3, 8, 3, 2], 100); // /2
    m = conv_silu(m, "stem", "down", [8, 16, 3, 2], 102); // /4
    m = conv_silu(m, "down", "cv1", [16, 16, 1, 1], 104);
    // C2f split as exported: half = Shape(cv1)[1] / 2, Slice [0, half) and [half, 2 half).
    m = m
        .init_i64("one", &[1], &[1])
        .init_i64("zero", &[1], &[0])
        .init_i64("two", &[1], &[2])
        .node("Shape", &["cv1"], &["sh"], vec![])
        .node("Gather", &["sh", "one"], &["ch"], vec![ai("axis", 0)])
        .node("Div", &["ch", "two"], &["half"], vec![])
        .node("Mul", &["half", "two"], &["full"], vec![])
        .node("Slice", &["cv1", "zero", "half", "one"], &["y0"], vec![])
        .node("Slice", &["cv1", "half", "full", "one"], &["y1"], vec![]);
    m = conv_silu(m, "y1", "m0a", [8, 8, 3, 1], 106);
    m = conv_silu(m, "m0a", "m0b", [8, 8, 3, 1], 108);
    m = m.node("Add", &["y1", "m0b"], &["m0"], vec![]).node(
        "Concat",
        &["y0", "y1", "m0"],
        &["c2f_cat"],
        vec![ai("axis", 1)],
    );
    m = conv_silu(m, "c2f_cat", "c2f", [24, 16, 1, 1], 110);
    // SPPF.
    m = conv_silu(m, "c2f", "sppf_cv1", [16, 8, 1, 1], 112);
    let pool = vec![
        ais("kernel_shape", &[5, 5]),
        ais("pads", &[2, 2, 2, 2]),
        ais("strides", &[1, 1]),
    ];
    m = m
        .node("MaxPool", &["sppf_cv1"], &["p1"], pool.clone())
        .node("MaxPool", &["p1"], &["p2"], pool.clone())
        .node("MaxPool", &["p2"], &["p3"], pool)
        .node(
            "Concat",
            &["sppf_cv1", "p1", "p2", "p3"],
            &["sppf_cat"],
            vec![ai("axis", 1)],
        );
    m = conv_silu(m, "sppf_cat", "sppf", [32, 16, 1, 1], 114);
    // Top-down: nearest x2 and concat with the stride-2 feature.
    m = m
        .init("up_scales", &[4], &[1.0, 1.0, 2.0, 2.0])
        .node(
            "Resize",
            &["sppf", "", "up_scales"],
            &["up"],
            vec![
                astr("mode", "nearest"),
                astr("coordinate_transformation_mode", "asymmetric"),
                astr("nearest_mode", "floor"),
            ],
        )
        .node("Concat", &["up", "stem"], &["fpn"], vec![ai("axis", 1)]);
    m = conv_silu(m, "fpn", "p_hi", [24, 16, 3, 1], 116);
    // Detect head on two levels: box (4 x 16 bins) and class branches.
    for (lvl, feat, seed) in [("a", "p_hi", 120u64), ("b", "sppf", 130)] {
        m = conv_silu(m, feat, &format!("box{lvl}"), [16, 16, 3, 1], seed);
        let wb = random(64 * 16, seed + 2);
        m = m
            .init(&format!("box{lvl}_out_w"), &[64, 16, 1, 1], &wb)
            .node(
                "Conv",
                &[&format!("box{lvl}"), &format!("box{lvl}_out_w")],
                &[&format!("boxo{lvl}")],
                vec![],
            );
        m = conv_silu(m, feat, &format!("cls{lvl}"), [16, 8, 3, 1], seed + 4);
        m = m
            .init(
                &format!("cls{lvl}_out_w"),
                &[nc, 8, 1, 1],
                &random(nc as usize * 8, seed + 6),
            )
            .node(
                "Conv",
                &[&format!("cls{lvl}"), &format!("cls{lvl}_out_w")],
                &[&format!("clso{lvl}")],
                vec![],
            )
            .node(
                "Concat",
                &[&format!("boxo{lvl}"), &format!("clso{lvl}")],
                &[&format!("head{lvl}")],
                vec![ai("axis", 1)],
            )
            .init_i64("flat_shape", &[3], &[0, 64 + nc, -1])
            .node(
                "Reshape",
                &[&format!("head{lvl}"), "flat_shape"],
                &[&format!("flat{lvl}")],
                vec![],
            );
    }
    // Anchors for a 32x32 input: level a is 16x16 (stride 2), level b 8x8 (stride 4).
    let mut anchors = [Vec::new(), Vec::new()];
    let mut strides = Vec::new();
    for (side, stride) in [(16usize, 2.0f32), (8, 4.0)] {
        for y in 0..side {
            for x in 0..side {
                anchors[0].push(x as f32 + 0.5);
                anchors[1].push(y as f32 + 0.5);
                strides.push(stride);
            }
        }
    }
    let a = strides.len() as i64;
    let anchors: Vec<f32> = anchors.concat();
    let dfl: Vec<f32> = (0..16).map(|i| i as f32).collect();
    m = m
        .node("Concat", &["flata", "flatb"], &["all"], vec![ai("axis", 2)])
        .init_i64("split", &[2], &[64, nc])
        .node(
            "Split",
            &["all", "split"],
            &["box", "cls"],
            vec![ai("axis", 1)],
        )
        .init_i64("dfl_shape", &[4], &[0, 4, 16, a])
        .node("Reshape", &["box", "dfl_shape"], &["dfl4"], vec![])
        .node(
            "Transpose",
            &["dfl4"],
            &["dflt"],
            vec![ais("perm", &[0, 2, 1, 3])],
        )
        .node("Softmax", &["dflt"], &["dfls"], vec![ai("axis", 1)])
        .init("dfl_w", &[1, 16, 1, 1], &dfl)
        .node("Conv", &["dfls", "dfl_w"], &["dflc"], vec![])
        .init_i64("dist_shape", &[3], &[0, 4, a])
        .node("Reshape", &["dflc", "dist_shape"], &["dist"], vec![])
        .init_i64("s0", &[1], &[0])
        .init_i64("s2", &[1], &[2])
        .init_i64("s4", &[1], &[4])
        .init_i64("ax1", &[1], &[1])
        .node("Slice", &["dist", "s0", "s2", "ax1"], &["lt"], vec![])
        .node("Slice", &["dist", "s2", "s4", "ax1"], &["rb"], vec![])
        .init("anchors", &[1, 2, a], &anchors)
        .node("Sub", &["anchors", "lt"], &["x1y1"], vec![])
        .node("Add", &["anchors", "rb"], &["x2y2"], vec![])
        .node("Add", &["x1y1", "x2y2"], &["csum"], vec![])
        .init("half_c", &[], &[2.0])
        .node("Div", &["csum", "half_c"], &["cxy"], vec![])
        .node("Sub", &["x2y2", "x1y1"], &["wh"], vec![])
        .node("Concat", &["cxy", "wh"], &["boxes"], vec![ai("axis", 1)])
        .init("strides", &[1, a], &strides)
        .node("Mul", &["boxes", "strides"], &["boxes_px"], vec![])
        .node("Sigmoid", &["cls"], &["scores"], vec![])
        .node(
            "Concat",
            &["boxes_px", "scores"],
            &["output0"],
            vec![ai("axis", 1)],
        )
        .output("output0");
    let model = m.bytes();
    let x = input(&[2, 3, 32, 32], 99);
    let out = run_gpu(&model, &x, lookout::infer::gpu::Precision::F32);
    assert_eq!(out[0].tensor.shape, vec![2, 4 + nc as usize, a as usize]);
    check_model("yolov8-style block", &model, &x);
}

/// Concat parts are written in place by their producers and channel splits are views: the C2f
/// and SPPF patterns run with no copy kernel at all, and still match the reference.
#[test]
fn concat_parts_and_split_views_need_no_copies() {
    let mut m = ModelBuilder::new(13).input("x", &[-1, 3, -1, -1]);
    m = conv_silu(m, "x", "cv1", [3, 16, 3, 1], 200);
    m = m.init_i64("split", &[2], &[8, 8]).node(
        "Split",
        &["cv1", "split"],
        &["a", "b"],
        vec![ai("axis", 1)],
    );
    m = conv_silu(m, "b", "m", [8, 8, 3, 1], 202);
    m = m.node("Concat", &["a", "b", "m"], &["c2f"], vec![ai("axis", 1)]);
    m = conv_silu(m, "c2f", "cv2", [24, 8, 1, 1], 204);
    let pool = vec![ais("kernel_shape", &[5, 5]), ais("pads", &[2, 2, 2, 2])];
    m = m
        .node("MaxPool", &["cv2"], &["p1"], pool.clone())
        .node("MaxPool", &["p1"], &["p2"], pool)
        .node(
            "Concat",
            &["cv2", "p1", "p2"],
            &["sppf"],
            vec![ai("axis", 1)],
        );
    m = conv_silu(m, "sppf", "y", [24, 4, 1, 1], 206);
    let model = m.output("y").bytes();
    let mut b = lookout::infer::gpu::WgpuBackend::for_tensors(
        ctx(),
        &model,
        lookout::infer::gpu::Precision::F32,
    )
    .unwrap();
    let kinds: Vec<String> = b
        .kernels(&[1, 3, 9, 11])
        .unwrap()
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "conv_gemm",
            "conv_gemm",
            "conv1x1",
            "pool",
            "pool",
            "conv1x1"
        ]
        .map(String::from),
        "only the convolutions and the pools run"
    );
    check_model("c2f + sppf in place", &model, &input(&[2, 3, 9, 11], 201));
}

/// Profiling mode: one entry per dispatch, with GPU time and the FLOPs of the graph.
#[test]
fn profile_times_every_dispatch() {
    let model = conv_model(3, 16, 3, 2, [1, 1, 1, 1], 1, Some("Relu"));
    let mut b = lookout::infer::gpu::WgpuBackend::for_tensors(
        ctx(),
        &model,
        lookout::infer::gpu::Precision::F32,
    )
    .unwrap();
    let x = input(&[1, 3, 32, 32], 300);
    if !ctx().supports_timestamps() {
        assert!(b.profile(&x).is_err(), "profiling needs timestamp queries");
        return;
    }
    let prof = b.profile(&x).unwrap();
    let kernels = b.kernels(&x.shape).unwrap();
    assert_eq!(prof.len(), kernels.len());
    assert_eq!(prof[0].kernel, "conv_gemm");
    // 16 x 16 outputs x 16 channels x 27 multiply-adds.
    assert_eq!(
        prof.iter().map(|p| p.flops).sum::<u64>(),
        2 * 16 * 16 * 16 * 27
    );
    assert!(
        prof.iter()
            .all(|p| p.time_ms >= 0.0 && p.time_ms.is_finite() && p.bytes > 0)
    );
}

/// Detector heads at batch 1: Transpose -> Reshape -> Concat along the anchor axis. Each head is
/// written straight into its block of the output, so no concat copies run.
#[test]
fn plain_concat_parts_are_written_in_place() {
    let mut m =
        ModelBuilder::new(13)
            .input("x", &[1, 3, -1, -1])
            .init_i64("flat", &[3], &[1, -1, 2]);
    for (i, s) in [1i64, 2].iter().enumerate() {
        let (w, c) = (format!("w{i}"), format!("c{i}"));
        m = m
            .init(&w, &[4, 3, 3, 3], &random(108, 400 + i as u64))
            .node(
                "Conv",
                &["x", &w],
                &[&c],
                vec![ais("strides", &[*s, *s]), ais("pads", &[1, 1, 1, 1])],
            )
            .node(
                "Transpose",
                &[&c],
                &[&format!("t{i}")],
                vec![ais("perm", &[0, 2, 3, 1])],
            )
            .node(
                "Reshape",
                &[&format!("t{i}"), "flat"],
                &[&format!("r{i}")],
                vec![],
            );
    }
    let model = m
        .node("Concat", &["r0", "r1"], &["heads"], vec![ai("axis", 1)])
        .node("Sigmoid", &["heads"], &["s"], vec![])
        .node("Concat", &["heads", "s"], &["y"], vec![ai("axis", 2)])
        .output("y")
        .bytes();
    let mut b = lookout::infer::gpu::WgpuBackend::for_tensors(
        ctx(),
        &model,
        lookout::infer::gpu::Precision::F32,
    )
    .unwrap();
    let kinds: Vec<String> = b
        .kernels(&[1, 3, 8, 6])
        .unwrap()
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "concat").count(),
        2,
        "only the axis-2 concat copies: {kinds:?}"
    );
    check_model("heads in place", &model, &input(&[1, 3, 8, 6], 401));
}

/// Constants as Concat parts and as the second operand of NHWC element-wise ops.
#[test]
fn constants_mix_with_nhwc_tensors() {
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 4, 5])
        .init("w", &[4, 3, 1, 1], &random(12, 500))
        .init("k", &[1, 4, 4, 5], &random(80, 501))
        .init("k2", &[1, 1, 4, 5], &random(20, 502))
        .node("Conv", &["x", "w"], &["c"], vec![])
        .node("Concat", &["c", "k"], &["cat"], vec![ai("axis", 1)])
        .node("Mul", &["cat", "k2"], &["y"], vec![])
        .output("y")
        .bytes();
    check_model("constants", &model, &input(&[1, 3, 4, 5], 503));
}
