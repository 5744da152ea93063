//! CPU pre-processing of one frame into a model input, as the CPU backends do it before every
//! inference: the table-driven, multi-threaded `letterbox::preprocess_into` against the scalar
//! reference `preprocess::preprocess_cpu` (the peer; the two give the same bits). Frames: vtest
//! frame 300 scaled to 1080p NV12 (a camera's) and as decoded, 768x576, into NanoDet's 416x416
//! NCHW BGR input.
//!
//! Run: `cargo bench --bench preprocess`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::letterbox::preprocess_into;
use lookout::infer::preprocess::preprocess_cpu;
use lookout::model::manifest::ModelManifest;
use lookout::runtime::load::Footage;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pre = ModelManifest::load(&root.join("models/nanodet-g-416.yaml"))
        .expect("manifest")
        .preprocess;
    let still = image::open(root.join("pipelines/footage/vtest-frame300.jpg"))
        .expect("still")
        .to_rgb8();
    let footage = Footage::from_still(&still, 1920, 1080, 1, 0).expect("footage");
    let rgba = image::DynamicImage::ImageRgb8(still).to_rgba8();
    let (w, h) = rgba.dimensions();
    let frames = [
        ("nv12-1080p", footage.image(0)),
        (
            "rgba-768x576",
            ImageRef::packed(PixelFormat::Rgba, w, h, rgba.as_raw()),
        ),
    ];
    let mut out = vec![0f32; 3 * 416 * 416];
    for (name, img) in frames {
        let mut group = c.benchmark_group(format!("preprocess-{name}-to-416"));
        group.bench_function("reference (scalar)", |b| {
            b.iter(|| preprocess_cpu(&img, &pre, &mut out).expect("preprocess"))
        });
        group.bench_function("letterbox::preprocess_into", |b| {
            b.iter(|| preprocess_into(&img, &pre, &mut out).expect("preprocess"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
