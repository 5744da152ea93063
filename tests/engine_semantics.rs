//! The IR's meaning of each op, checked on hand-computed examples from the ONNX operator spec
//! through the reference executor (the GPU tests then compare the kernels with it).

mod engine_support;

use engine_support::*;
use lookout::infer::Tensor;

fn run1(model: Vec<u8>, shape: &[usize], data: Vec<f32>) -> Tensor {
    let x = Tensor::new(shape.to_vec(), data);
    run_reference(&model, &x).remove(0).tensor
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn slice_with_negative_steps_and_clamped_ends() {
    let m = ModelBuilder::new(13)
        .input("x", &[2, 5])
        .init_i64("s", &[2], &[-1, 10])
        .init_i64("e", &[2], &[-100, -10])
        .init_i64("a", &[2], &[1, 0])
        .init_i64("st", &[2], &[-2, -1])
        .node("Slice", &["x", "s", "e", "a", "st"], &["y"], vec![])
        .output("y")
        .bytes();
    let y = run1(m, &[2, 5], (0..10).map(|i| i as f32).collect());
    // Rows reversed (start clamped to 1), columns 4, 2, 0.
    assert_eq!(y.shape, vec![2, 3]);
    close(&y.data, &[9.0, 7.0, 5.0, 4.0, 2.0, 0.0]);
}

#[test]
fn resize_coordinate_modes() {
    let resize = |mode: &str, coord: &str, nearest: &str, scales: [f32; 4]| {
        ModelBuilder::new(13)
            .input("x", &[1, 1, 1, 2])
            .init("s", &[4], &scales)
            .node(
                "Resize",
                &["x", "", "s"],
                &["y"],
                vec![
                    astr("mode", mode),
                    astr("coordinate_transformation_mode", coord),
                    astr("nearest_mode", nearest),
                ],
            )
            .output("y")
            .bytes()
    };
    let x = vec![0.0, 1.0];
    // Linear half_pixel x2: source coords -0.25, 0.25, 0.75, 1.25 (clamped).
    let y = run1(
        resize("linear", "half_pixel", "floor", [1.0, 1.0, 1.0, 2.0]),
        &[1, 1, 1, 2],
        x.clone(),
    );
    close(&y.data, &[0.0, 0.25, 0.75, 1.0]);
    // align_corners x2 (4 outputs): 0, 1/3, 2/3, 1.
    let y = run1(
        resize("linear", "align_corners", "floor", [1.0, 1.0, 1.0, 2.0]),
        &[1, 1, 1, 2],
        x.clone(),
    );
    close(&y.data, &[0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
    // Nearest asymmetric floor x2: 0, 0, 1, 1.
    let y = run1(
        resize("nearest", "asymmetric", "floor", [1.0, 1.0, 1.0, 2.0]),
        &[1, 1, 1, 2],
        x.clone(),
    );
    close(&y.data, &[0.0, 0.0, 1.0, 1.0]);
    // Nearest half_pixel round_prefer_ceil x1.5 (3 outputs): sources -1/6, 1/2, 7/6 -> 0, 1, 1
    // (round_prefer_floor would give 0, 0, 1).
    let y = run1(
        resize(
            "nearest",
            "half_pixel",
            "round_prefer_ceil",
            [1.0, 1.0, 1.0, 1.5],
        ),
        &[1, 1, 1, 2],
        x,
    );
    close(&y.data, &[0.0, 1.0, 1.0]);
}

#[test]
fn pooling_padding_rules() {
    let pool = |op: &str, attrs| {
        ModelBuilder::new(13)
            .input("x", &[1, 1, 2, 2])
            .node(op, &["x"], &["y"], attrs)
            .output("y")
            .bytes()
    };
    let x = vec![1.0, 2.0, 3.0, 4.0];
    let attrs = |incl| {
        vec![
            ais("kernel_shape", &[2, 2]),
            ais("pads", &[1, 1, 0, 0]),
            ai("count_include_pad", incl),
        ]
    };
    // Top-left window covers only x[0]: average 1 without padding, 1/4 with it.
    let y = run1(pool("AveragePool", attrs(0)), &[1, 1, 2, 2], x.clone());
    close(&y.data, &[1.0, 1.5, 2.0, 2.5]);
    let y = run1(pool("AveragePool", attrs(1)), &[1, 1, 2, 2], x.clone());
    close(&y.data, &[0.25, 0.75, 1.0, 2.5]);
    // Padded cells never win a max, even when every real value is negative.
    let y = run1(
        pool(
            "MaxPool",
            vec![ais("kernel_shape", &[2, 2]), ais("pads", &[1, 1, 1, 1])],
        ),
        &[1, 1, 2, 2],
        vec![-1.0, -2.0, -3.0, -4.0],
    );
    close(
        &y.data,
        &[-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0],
    );
}

#[test]
fn conv_transpose_scatters_each_input_pixel() {
    let m = ModelBuilder::new(13)
        .input("x", &[1, 1, 1, 2])
        .init("w", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0])
        .node(
            "ConvTranspose",
            &["x", "w"],
            &["y"],
            vec![ais("strides", &[2, 2])],
        )
        .output("y")
        .bytes();
    let y = run1(m, &[1, 1, 1, 2], vec![1.0, 10.0]);
    assert_eq!(y.shape, vec![1, 1, 2, 4]);
    close(&y.data, &[1.0, 2.0, 10.0, 20.0, 3.0, 4.0, 30.0, 40.0]);
}

#[test]
fn reshape_split_and_old_softmax() {
    let m = ModelBuilder::new(11)
        .input("x", &[2, 3, 2])
        .init_i64("shape", &[2], &[0, -1])
        .node("Reshape", &["x", "shape"], &["r"], vec![])
        .node("Split", &["r"], &["a", "b"], vec![ai("axis", 1)])
        .node("Softmax", &["x"], &["s"], vec![ai("axis", 1)])
        .output("b")
        .output("s")
        .bytes();
    let x = Tensor::new(vec![2, 3, 2], (0..12).map(|i| i as f32).collect());
    let out = run_reference(&m, &x);
    assert_eq!(out[0].tensor.shape, vec![2, 3]);
    close(&out[0].tensor.data, &[3.0, 4.0, 5.0, 9.0, 10.0, 11.0]);
    // Opset 11 Softmax(axis 1) normalizes over the 6 values of each batch item, not over axis 1.
    let e: Vec<f32> = (0..6).map(|i| (i as f32 - 5.0).exp()).collect();
    let sum: f32 = e.iter().sum();
    close(
        &out[1].tensor.data[..6],
        &e.iter().map(|v| v / sum).collect::<Vec<_>>(),
    );
}

#[test]
fn gather_and_range_fold_to_constants() {
    let m = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .init_i64("idx", &[2], &[-1, 0])
        .init("start", &[], &[1.0])
        .init("limit", &[], &[2.0])
        .init("delta", &[], &[0.25])
        .init("table", &[2, 4], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
        .node("Range", &["start", "limit", "delta"], &["r"], vec![])
        .node("Gather", &["table", "idx"], &["g"], vec![ai("axis", 0)])
        .node("Mul", &["x", "r"], &["xr"], vec![])
        .node("Add", &["xr", "g"], &["y"], vec![])
        .output("y")
        .bytes();
    let y = run1(m, &[1, 4], vec![1.0; 4]);
    // Gather picks rows 1 then 0; Range is 1, 1.25, 1.5, 1.75.
    assert_eq!(y.shape, vec![2, 4]);
    close(&y.data, &[5.0, 6.25, 7.5, 8.75, 1.0, 2.25, 3.5, 4.75]);
}
