//! Motion detection on one 1920x1080 NV12 frame, what every camera pays on every admitted frame:
//! lookout's `MotionDetector::update` against the same steps with OpenCV imgproc (the peer the
//! motion issue names: `resize` with INTER_AREA to the motion size, `GaussianBlur`,
//! `accumulateWeighted`, `absdiff`, `threshold`, `dilate`, `findContours`, `boundingRect`).
//! The frames are vtest frame 300 scaled to 1080p, moving a few pixels per frame. The same pass
//! on the GPU (`motion.gpu`): its share of the camera thread's time, and the whole call.
//!
//! Run: `cargo bench --bench motion`.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::gpu::motion::GpuMotion;
use lookout::infer::gpu::{AdapterChoice, GpuContext};
use lookout::motion::{MotionConfig, MotionDetector};
use opencv::core::{Mat, Point, Size, Vector};
use opencv::prelude::*;
use opencv::{core, imgproc};

const W: u32 = 1920;
const H: u32 = 1080;

/// Eight NV12 1080p frames of the still, each shifted 4 pixels right of the last.
fn frames() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let still = image::open(root.join("pipelines/footage/vtest-frame300.jpg"))
        .expect("still")
        .resize_exact(W, H, image::imageops::FilterType::Triangle)
        .to_luma8();
    (0..8)
        .map(|k| {
            let mut f = vec![128u8; PixelFormat::Nv12.packed_len(W, H)];
            for y in 0..H {
                for x in 0..W {
                    let sx = x.saturating_sub(4 * k);
                    f[(y * W + x) as usize] = still.get_pixel(sx, y).0[0];
                }
            }
            f
        })
        .collect()
}

/// The peer: OpenCV imgproc on the Y plane, kept state like lookout's detector.
struct OpenCvMotion {
    background: Mat,
    height: i32,
    width: i32,
}

impl OpenCvMotion {
    fn update(&mut self, y: &[u8]) -> usize {
        let full = Mat::new_rows_cols_with_data(H as i32, W as i32, y).expect("Y plane");
        let mut small = Mat::default();
        imgproc::resize(
            &full,
            &mut small,
            Size::new(self.width, self.height),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .expect("resize");
        let mut blurred = Mat::default();
        imgproc::gaussian_blur_def(&small, &mut blurred, Size::new(3, 3), 0.0).expect("blur");
        let mut grey = Mat::default();
        blurred
            .convert_to_def(&mut grey, core::CV_32F)
            .expect("to float");
        if self.background.empty() {
            self.background = grey.clone();
            return 0;
        }
        let mut diff = Mat::default();
        core::absdiff(&grey, &self.background, &mut diff).expect("absdiff");
        imgproc::accumulate_weighted_def(&grey, &mut self.background, 0.05).expect("accumulate");
        let mut mask = Mat::default();
        imgproc::threshold(&diff, &mut mask, 25.0, 255.0, imgproc::THRESH_BINARY)
            .expect("threshold");
        let mut mask8 = Mat::default();
        mask.convert_to_def(&mut mask8, core::CV_8U).expect("to u8");
        let kernel = imgproc::get_structuring_element_def(imgproc::MORPH_RECT, Size::new(3, 3))
            .expect("kernel");
        let mut grown = Mat::default();
        imgproc::dilate(
            &mask8,
            &mut grown,
            &kernel,
            Point::new(-1, -1),
            2,
            core::BORDER_CONSTANT,
            imgproc::morphology_default_border_value().expect("border"),
        )
        .expect("dilate");
        let mut contours = Vector::<Vector<Point>>::new();
        imgproc::find_contours_def(
            &grown,
            &mut contours,
            imgproc::RETR_EXTERNAL,
            imgproc::CHAIN_APPROX_SIMPLE,
        )
        .expect("contours");
        contours
            .iter()
            .filter_map(|c| imgproc::bounding_rect(&c).ok())
            .count()
    }
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let config = MotionConfig::default();
    let mut group = c.benchmark_group("motion-1080p-nv12");
    group
        .sample_size(60)
        .measurement_time(Duration::from_secs(4));
    let mut ours = MotionDetector::new(config.clone());
    let mut i = 0;
    group.bench_function("lookout MotionDetector::update", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            let img = ImageRef::packed(PixelFormat::Nv12, W, H, &frames[i]);
            ours.update(&img).boxes.len()
        })
    });
    let height = config.frame_height as i32;
    let mut peer = OpenCvMotion {
        background: Mat::default(),
        height,
        width: (f64::from(W) * f64::from(height) / f64::from(H)).round() as i32,
    };
    let mut j = 0;
    group.bench_function("OpenCV imgproc, same steps", |b| {
        b.iter(|| {
            j = (j + 1) % frames.len();
            peer.update(&frames[j][..(W * H) as usize])
        })
    });
    // The motion pass on the GPU (`motion.gpu`): what it costs the camera's thread at the
    // least (copying the frame rows the block means sample into the upload), and the whole call
    // on the default adapter, which on a machine without a GPU is lavapipe, running the kernels
    // on the CPU as well.
    let grey = lookout::motion::grey_size(&config, W, H);
    let rows: Vec<usize> = (0..grey.1)
        .flat_map(|oy| lookout::motion::grey::sampled_rows(H as usize, grey.1, oy))
        .collect();
    let mut kept = vec![0u8; rows.len() * W as usize];
    let mut k = 0;
    group.bench_function("GPU pass, CPU share: the sampled rows copied", |b| {
        b.iter(|| {
            k = (k + 1) % frames.len();
            for (dst, &y) in kept.chunks_exact_mut(W as usize).zip(&rows) {
                dst.copy_from_slice(&frames[k][y * W as usize..][..W as usize]);
            }
            kept[k]
        })
    });
    if let Ok(ctx) = GpuContext::new(&AdapterChoice::HighPerformance) {
        let mut gpu = GpuMotion::new(&ctx).expect("motion kernels compile");
        let slot = gpu.add(config.clone());
        let mut m = 0;
        group.bench_function(
            format!("GpuMotion::update on {}", ctx.summary().name),
            |b| {
                b.iter(|| {
                    m = (m + 1) % frames.len();
                    let img = ImageRef::packed(PixelFormat::Nv12, W, H, &frames[m]);
                    gpu.update(&[(slot, img)]).expect("motion on the GPU")[0]
                        .boxes
                        .len()
                })
            },
        );
        // The same call, timed as CPU time of the calling thread only: the camera thread's
        // share (lavapipe runs the kernels on its own queue thread, a GPU would run them there).
        group.bench_function(
            format!(
                "GpuMotion::update on {}, calling thread's CPU time",
                ctx.summary().name
            ),
            |b| {
                b.iter_custom(|iters| {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        m = (m + 1) % frames.len();
                        let img = ImageRef::packed(PixelFormat::Nv12, W, H, &frames[m]);
                        std::hint::black_box(
                            gpu.update(&[(slot, img)]).expect("motion on the GPU"),
                        );
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            },
        );
    }
    group.finish();
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec it is given a valid pointer to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

criterion_group!(benches, bench);
criterion_main!(benches);
