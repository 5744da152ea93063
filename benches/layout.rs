//! The host side of every GPU call: packing an input tensor into the device layout (NHWC, 4-lane
//! padded) and decoding outputs from the mapped staging buffer. At batch 32 these took most of a
//! call on an H100 (docs/bench/2026-11-26-h100), so they are timed on their own, per picture.
//!
//! Run: `cargo bench --bench layout`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout::infer::gpu::layout::{Layout, Place};
use lookout::infer::gpu::shader::Prec;

fn place(layout: Layout, prec: Prec, ps: usize) -> Place {
    Place {
        slot: 0,
        offset: 0,
        layout,
        prec,
        ps,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("layout");
    let mut rng = fastrand::Rng::with_seed(1);
    // (what, layout, pixel stride, logical shape)
    let cases: [(&str, Layout, usize, [usize; 4]); 3] = [
        ("yolov8n-input", Layout::Nhwc, 4, [1, 3, 640, 640]),
        ("nanodet-input-b8", Layout::Nhwc, 4, [8, 3, 416, 416]),
        ("feature-map", Layout::Nhwc, 64, [1, 64, 80, 80]),
    ];
    for prec in [Prec::F32, Prec::F16] {
        for (what, layout, ps, shape) in cases {
            let p = place(layout, prec, ps);
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            g.throughput(Throughput::Elements(n as u64));
            // Into memory that stays (as staging memory does), not a fresh allocation.
            let mut staging = vec![0u8; p.span(&shape) * prec.bytes()];
            g.bench_function(format!("pack/{what}/{prec:?}"), |b| {
                b.iter(|| {
                    p.pack_with(&shape, &data, |at, bytes| {
                        staging[at..at + bytes.len()].copy_from_slice(bytes)
                    })
                })
            });
            let bytes = p.pack(&shape, &data);
            g.bench_function(format!("unpack/{what}/{prec:?}"), |b| {
                b.iter(|| p.unpack(&shape, &bytes))
            });
        }
        // NanoDet's output at batch 8 (plain row-major, [8, 3598, 112]).
        let shape = [8, 3598, 112];
        let p = place(Layout::Plain, prec, 0);
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let bytes = p.pack(&shape, &data);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("unpack/nanodet-output-b8/{prec:?}"), |b| {
            b.iter(|| p.unpack(&shape, &bytes))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
