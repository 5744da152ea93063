//! Inference time of every shipped model on the default wgpu adapter, f32 and f16 storage,
//! batch 1, prepared input (pre-processing excluded). Throughput is reported in FLOP/s.
//!
//! Extra models: `LOOKOUT_BENCH_MODELS=path.onnx:1x3x640x640,...` (e.g. the YOLOv8n file).
//! Run: `cargo bench --bench engine` (on lavapipe expect seconds per iteration).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout::infer::gpu::{AdapterChoice, GpuContext, Precision, WgpuBackend};
use lookout::infer::{Backend, Tensor};

fn models() -> Vec<(String, Vec<usize>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
    let mut v: Vec<(String, Vec<usize>)> = [
        ("centerface.onnx", vec![1, 3, 480, 640]),
        ("nanodet-g-416.onnx", vec![1, 3, 416, 416]),
        ("blazeface-short-range-128.onnx", vec![1, 128, 128, 3]),
        ("blazeface-full-range-192.onnx", vec![1, 192, 192, 3]),
        ("ssdlite-mobilenetv2-person-300.onnx", vec![1, 300, 300, 3]),
    ]
    .into_iter()
    .map(|(f, s)| (format!("{dir}/{f}"), s))
    .collect();
    if let Ok(extra) = std::env::var("LOOKOUT_BENCH_MODELS") {
        for item in extra.split(',').filter(|s| !s.is_empty()) {
            let Some((path, shape)) = item.rsplit_once(':') else {
                continue;
            };
            let shape: Vec<usize> = shape.split('x').filter_map(|d| d.parse().ok()).collect();
            v.push((path.to_string(), shape));
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let ctx = match GpuContext::new(&AdapterChoice::HighPerformance) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no GPU adapter: {e}");
            return;
        }
    };
    eprintln!("adapter: {:?}", ctx.summary());
    for (path, shape) in models() {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipping {path}: cannot read it");
            continue;
        };
        let name = std::path::Path::new(&path)
            .file_stem()
            .map_or(path.clone(), |s| s.to_string_lossy().into_owned());
        let n: usize = shape.iter().product();
        let mut rng = fastrand::Rng::with_seed(1);
        let input = Tensor::new(shape.clone(), (0..n).map(|_| rng.f32()).collect());
        let mut group = c.benchmark_group(&name);
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(5));
        for (label, prec) in [("f32", Precision::F32), ("f16", Precision::F16)] {
            let mut b = match WgpuBackend::for_tensors(&ctx, &bytes, prec) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("{name}: {e}");
                    continue;
                }
            };
            if let Err(e) = b.infer_tensor(&input) {
                eprintln!("{name} {label}: {e}");
                continue;
            }
            if let Ok(k) = b.kernels(&shape) {
                eprintln!("{name} {label}: {} dispatches", k.len());
            }
            let flops = b.flops(&shape).unwrap_or(0);
            group.throughput(Throughput::Elements(flops));
            group.bench_function(label, |bch| {
                bch.iter(|| b.infer_tensor(&input).expect("inference"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
