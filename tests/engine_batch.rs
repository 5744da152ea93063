//! Batches on models exported with a fixed batch of 1 (BlazeFace and every other shipped model):
//! the backend widens the model to the batch and runs it as one pass, with the same results as
//! separate calls; a model that would mix pictures when widened runs them one at a time.

mod engine_support;

use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::gpu::{AdapterChoice, GpuContext, ModelOptions, Precision, WgpuBackend};
use lookout::infer::{Backend, Tensor};
use lookout::model::manifest::ModelManifest;

fn backend(max_batch: usize) -> WgpuBackend {
    let root = env!("CARGO_MANIFEST_DIR");
    let m = ModelManifest::load(
        &std::path::Path::new(root).join("models/blazeface-short-range-128.yaml"),
    )
    .unwrap();
    let ctx =
        GpuContext::new(&AdapterChoice::HighPerformance).expect("a wgpu adapter (lavapipe in CI)");
    let opts = ModelOptions {
        input_width: m.input.width,
        input_height: m.input.height,
        max_batch,
        precision: Precision::F32,
    };
    WgpuBackend::new(&ctx, &m.onnx, &m.preprocess, opts).unwrap()
}

fn picture(seed: u8) -> Vec<u8> {
    (0..96 * 64 * 4)
        .map(|i| ((i * 7 + seed as usize * 13) % 251) as u8)
        .collect()
}

fn image(data: &[u8]) -> ImageRef<'_> {
    ImageRef::packed(PixelFormat::Rgba, 96, 64, data)
}

#[test]
fn fixed_batch_model_runs_a_batch_as_one_widened_pass() {
    let (a, b) = (picture(1), picture(2));
    let mut batched = backend(4);
    let both = batched
        .infer(&[image(&a), image(&b)])
        .expect("a batch of 2 on a batch-1 model");
    assert_eq!(both.len(), 2);
    // Three pictures run as one plan for 4 (padded), not as three calls of the batch-1 plan.
    let c = picture(3);
    let three = batched.infer(&[image(&a), image(&b), image(&c)]).unwrap();
    assert!(
        batched.compiled_batches().contains(&4),
        "a widened plan for 4: {:?}",
        batched.compiled_batches()
    );
    for (x, y) in three.iter().zip(&both) {
        assert_eq!(x.outputs, y.outputs);
    }
    let mut single = backend(1);
    for (got, data) in both.iter().zip([&a, &b]) {
        let alone = single.infer(&[image(data)]).unwrap().remove(0);
        assert_eq!(got.outputs, alone.outputs);
        assert_eq!(got.transform, alone.transform);
    }
    assert_ne!(
        both[0].outputs, both[1].outputs,
        "different pictures give different outputs"
    );

    // Prepared tensors too: [2, 128, 128, 3] is joined back along dimension 0.
    let n = 128 * 128 * 3;
    let data: Vec<f32> = (0..2 * n).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
    let joined = batched
        .infer_tensor(&Tensor::new(vec![2, 128, 128, 3], data.clone()))
        .unwrap();
    let first = single
        .infer_tensor(&Tensor::new(vec![1, 128, 128, 3], data[..n].to_vec()))
        .unwrap();
    for (j, f) in joined.iter().zip(&first) {
        assert_eq!(j.tensor.shape[0], 2);
        assert_eq!(&j.tensor.data[..f.tensor.data.len()], &f.tensor.data[..]);
    }
}

/// A model exported for one picture whose widening would mix pictures (a softmax across dimension
/// 0 is 1 everywhere for one picture, not for several): the check against single runs catches it
/// and the batch runs picture by picture, with the single runs' results.
#[test]
fn a_model_that_would_mix_pictures_is_not_widened() {
    use engine_support::{ModelBuilder, ai, ctx};
    let model = ModelBuilder::new(13)
        .input("x", &[1, 4, 6, 6])
        .output("y")
        .node("Softmax", &["x"], &["y"], vec![ai("axis", 0)])
        .bytes();
    let mut b = WgpuBackend::for_tensors(ctx(), &model, Precision::F32).unwrap();
    let n = 4 * 6 * 6;
    let data: Vec<f32> = (0..4 * n).map(|i| ((i % 13) as f32) - 6.0).collect();
    let out = b
        .infer_tensor(&Tensor::new(vec![4, 4, 6, 6], data))
        .unwrap();
    assert_eq!(out[0].tensor.shape, [4, 4, 6, 6]);
    assert!(
        out[0].tensor.data.iter().all(|&v| (v - 1.0).abs() < 1e-6),
        "each picture alone: a softmax over one value"
    );
    assert!(
        !b.compiled_batches().contains(&4),
        "no widened plan for 4: {:?}",
        b.compiled_batches()
    );
}
