//! Decoding a batch of NanoDet outputs (16 pictures, as a multi-camera batch brings them): one
//! picture after another on one thread, the peer, against `Detector::decode_all`, which spreads
//! the pictures over the cores. Outputs are real: crops of vtest frame 300 run through the CPU
//! backend once, before timing.
//!
//! Run: `cargo bench --bench decode`.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::model::Detector;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, BackendOptions};

const PICTURES: u32 = 16;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = ModelManifest::load(&root.join("models/nanodet-g-416.yaml")).expect("manifest");
    let backend = select::create(BackendKind::Opencv, &manifest, &BackendOptions::default())
        .expect("OpenCV backend");
    let mut detector = Detector::new(manifest, backend).expect("detector");
    let still = image::open(root.join("pipelines/footage/vtest-frame300.jpg"))
        .expect("still")
        .to_rgba8();
    let mut outputs = Vec::new();
    for i in 0..PICTURES {
        let (w, h) = (512, 384);
        let crop = image::imageops::crop_imm(&still, 16 * i, 8 * (i % 8), w, h).to_image();
        let data = crop.into_raw();
        let img = ImageRef::packed(PixelFormat::Rgba, w, h, &data);
        outputs.extend(detector.infer(&[img]).expect("inference"));
    }
    eprintln!(
        "{} cores available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut group = c.benchmark_group("nanodet-decode-16");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(u64::from(PICTURES)));
    group.bench_function("one thread, picture by picture", |b| {
        b.iter(|| {
            outputs
                .iter()
                .map(|o| detector.decode(o).map(|d| d.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.bench_function("decode_all", |b| {
        b.iter(|| {
            detector
                .decode_all(&outputs)
                .into_iter()
                .map(|d| d.map(|d| d.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
