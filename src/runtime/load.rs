//! Synthetic cameras for `lookout bench --pipeline`: generated NV12 frames at a camera's rate,
//! through the same queues, scheduler, engine, tracker and rules as a real run, to find how many
//! cameras one device serves. No GStreamer is involved, so it runs where there is only a GPU.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::FrameConsumer;
use super::analytics::{AnalyticsError, Analyzer, Latency, Samples};
use crate::capture::queue::Pushed;
use crate::capture::{
    BufferPool, Frame, FrameView, ImageRef, Offer, PixelFormat, Planes, QueuePolicy, frame_queue,
};
use crate::config::ConfigError;
use crate::metrics::Metrics;
use crate::pipeline::{self, Pipeline};
use crate::sinks::Sinks;

/// Why a load trial could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    #[error("cannot start a synthetic camera: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Input(String),
}

/// Pictures that synthetic cameras cycle through: one real still, moved sideways a little per
/// frame so that objects move, are tracked, and cross a line in the middle.
pub struct Footage {
    width: u32,
    height: u32,
    pictures: Vec<Vec<u8>>,
    /// The still unmoved, each with its own sensor noise: what an idle camera shows.
    idle: Vec<Vec<u8>>,
}

impl Footage {
    /// `count` NV12 pictures of `width` x `height` (even): `still` scaled to the height, centred on
    /// grey, shifted by `step` pixels more in each picture (wrapping around the edges).
    pub fn from_still(
        still: &image::RgbImage,
        width: u32,
        height: u32,
        count: usize,
        step: u32,
    ) -> Result<Self, LoadError> {
        if width < 2 || height < 2 || width % 2 == 1 || height % 2 == 1 || count == 0 {
            return Err(LoadError::Input(format!(
                "synthetic frames must have an even size and at least one picture, not {width}x{height} x{count}"
            )));
        }
        if still.width() == 0 || still.height() == 0 {
            return Err(LoadError::Input("the still picture is empty".into()));
        }
        let canvas = on_canvas(still, width, height);
        let pictures: Vec<Vec<u8>> = (0..count)
            .map(|k| {
                let shift = (k as i64 - (count / 2) as i64) * i64::from(step);
                nv12_shifted(&canvas, shift)
            })
            .collect();
        Ok(Self {
            width,
            height,
            pictures,
            idle: noisy(&canvas),
        })
    }

    /// Idle cameras show `still` (an empty scene, say) instead of the busy still unmoved.
    pub fn with_idle_scene(mut self, still: &image::RgbImage) -> Result<Self, LoadError> {
        if still.width() == 0 || still.height() == 0 {
            return Err(LoadError::Input("the idle still picture is empty".into()));
        }
        self.idle = noisy(&on_canvas(still, self.width, self.height));
        Ok(self)
    }

    /// The picture for frame `seq` of an idle camera: the same scene, fresh sensor noise.
    pub fn idle_picture(&self, seq: u64) -> &[u8] {
        &self.idle[(seq % self.idle.len() as u64) as usize]
    }

    /// The picture for frame `seq`: forwards through the set, then back, so motion stays smooth.
    pub fn picture(&self, seq: u64) -> &[u8] {
        let n = self.pictures.len() as u64;
        let period = (2 * n).saturating_sub(2).max(1);
        let i = seq % period;
        let k = if i < n { i } else { period - i };
        &self.pictures[k as usize]
    }

    /// A borrowed view of one picture, as inference reads it.
    pub fn image(&self, seq: u64) -> ImageRef<'_> {
        ImageRef::packed(
            PixelFormat::Nv12,
            self.width,
            self.height,
            self.picture(seq),
        )
    }
}

/// `canvas` moved `shift` pixels to the right (wrapping), as NV12 with BT.601 limited-range
/// coefficients, the inverse of what pre-processing applies.
fn nv12_shifted(canvas: &image::RgbImage, shift: i64) -> Vec<u8> {
    let (w, h) = (canvas.width() as usize, canvas.height() as usize);
    let src_x = |x: usize| (x as i64 - shift).rem_euclid(w as i64) as u32;
    let mut out = vec![0u8; PixelFormat::Nv12.packed_len(w as u32, h as u32)];
    let (luma, chroma) = out.split_at_mut(w * h);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = canvas.get_pixel(src_x(x), y as u32).0.map(f32::from);
            luma[y * w + x] = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8;
        }
    }
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let mut sum = [0f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = canvas.get_pixel(src_x(2 * cx + dx), (2 * cy + dy) as u32).0;
                for c in 0..3 {
                    sum[c] += f32::from(p[c]) / 4.0;
                }
            }
            let [r, g, b] = sum;
            chroma[cy * w + 2 * cx] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8;
            chroma[cy * w + 2 * cx + 1] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8;
        }
    }
    out
}

/// `still` scaled to `height`, centred on a grey `width` x `height` canvas.
fn on_canvas(still: &image::RgbImage, width: u32, height: u32) -> image::RgbImage {
    let sh = height;
    let sw = ((u64::from(still.width()) * u64::from(sh) / u64::from(still.height())) as u32)
        .clamp(1, width);
    let scaled = image::imageops::resize(still, sw, sh, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([114, 114, 114]));
    image::imageops::replace(&mut canvas, &scaled, i64::from((width - sw) / 2), 0);
    canvas
}

/// The NV12 pictures an idle camera showing `canvas` cycles through, each with fresh noise.
fn noisy(canvas: &image::RgbImage) -> Vec<Vec<u8>> {
    let still = nv12_shifted(canvas, 0);
    let luma = canvas.width() as usize * canvas.height() as usize;
    (0..IDLE_PICTURES)
        .map(|k| with_noise(&still, luma, k as u64))
        .collect()
}

/// Noisy versions of the still an idle camera cycles through.
const IDLE_PICTURES: usize = 8;
/// Standard deviation of the sensor noise on idle cameras' luma, in grey levels (a typical
/// surveillance sensor in daylight shows 2-4).
const NOISE_SIGMA: f32 = 3.0;

/// `nv12` with Gaussian noise of [`NOISE_SIGMA`] on its `luma` first bytes, seeded by `seed`.
fn with_noise(nv12: &[u8], luma: usize, seed: u64) -> Vec<u8> {
    let mut out = nv12.to_vec();
    // splitmix64: a well-mixed, dependency-free generator; the noise only has to look like noise.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for px in &mut out[..luma] {
        // The sum of four uniform 16-bit draws from one 64-bit word: close to Gaussian.
        let r = next();
        let sum: u32 = (0..4).map(|k| ((r >> (16 * k)) & 0xFFFF) as u32).sum();
        // Four uniforms on [0, 1) have mean 2 and variance 1/3.
        let z = (sum as f32 / 65536.0 - 2.0) * 3f32.sqrt();
        *px = (f32::from(*px) + z * NOISE_SIGMA).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Whether camera `i` of a load with `idle` share of idle cameras shows a busy scene: the first
/// camera always, then one in every `1 / (1 - idle)`.
pub fn is_busy(i: usize, idle: f64) -> bool {
    let busy = (1.0 - idle).clamp(0.0, 1.0);
    ((i + 1) as f64 * busy).ceil() > (i as f64 * busy).ceil()
}

/// How the model of a load test is placed (the `models:` entry of the generated pipeline).
#[derive(Debug, Clone)]
pub struct ModelPlacement {
    pub backend: crate::model::select::BackendKind,
    pub adapter: String,
    pub f16: bool,
    pub max_batch: usize,
}

/// Motion gating of a benchmark's cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gating {
    /// Every frame detected whole.
    Off,
    /// Gated, the motion pass on the CPU in each camera's thread.
    Cpu,
    /// Gated, the motion pass on the model's GPU adapter (`motion.gpu`).
    Gpu,
}

/// A pipeline of `cameras` cameras, each detecting every frame at `fps` with the model of
/// `manifest`, tracking, and judging a vertical line across the middle and a zone over the
/// whole picture (with occupancy), so each frame costs what a real camera's would.
pub fn pipeline(
    manifest: &Path,
    model: &ModelPlacement,
    cameras: usize,
    fps: f64,
    motion: Gating,
) -> Result<Pipeline, LoadError> {
    let manifest = std::fs::canonicalize(manifest)
        .map_err(|e| LoadError::Input(format!("{}: {e}", manifest.display())))?;
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut yaml = format!(
        "models:\n  m: {{manifest: {}, backend: {}, adapter: {}, precision: {}, max_batch: {}}}\ncameras:\n",
        q(&manifest.to_string_lossy()),
        q(model.backend.name()),
        q(&model.adapter),
        if model.f16 { "f16" } else { "f32" },
        model.max_batch
    );
    let motion = match motion {
        Gating::Off => "{enabled: false}".to_string(),
        Gating::Cpu => "{enabled: true}".to_string(),
        Gating::Gpu => format!("{{enabled: true, gpu: {}}}", q(&model.adapter)),
    };
    for i in 0..cameras {
        yaml += &format!(
            "  - name: cam{i:04}\n    source: test:smpte\n    queue: latest\n    detect: {{model: m, fps: {fps}}}\n    motion: {motion}\n    rules:\n      lines: [{{name: middle, a: [0.5, 0.0], b: [0.5, 1.0]}}]\n      zones: [{{name: all, points: [[0, 0], [1, 0], [1, 1], [0, 1]], occupancy: {{}}}}]\n"
        );
    }
    Ok(pipeline::load_str(
        &yaml,
        Path::new("bench-pipeline.yaml"),
        |_| None,
    )?)
}

/// What one load trial asks for.
#[derive(Debug, Clone)]
pub struct Load {
    /// Frames per second of every camera.
    pub fps: f64,
    /// Length of the measured window.
    pub seconds: f64,
    /// Time before it, not measured (queues fill, clocks settle).
    pub warmup: f64,
    /// Frames each camera's `latest` queue holds.
    pub queue_capacity: usize,
    /// When set, a trial only counts as sustained if frame-to-result p99 stays under this.
    pub max_p99_ms: Option<f64>,
    /// Share of cameras showing a still, noisy scene instead of moving people (see [`is_busy`]).
    pub idle: f64,
}

/// What one trial measured, over its measured window.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub cameras: usize,
    /// Of them, cameras showing a still scene.
    pub idle_cameras: usize,
    pub fps: f64,
    pub backend: String,
    pub device: String,
    /// Frames the cameras produced.
    pub frames_offered: u64,
    /// Frames whose detection, tracking and rules finished inside the window.
    pub frames_processed: u64,
    /// Frames the `latest` queues dropped because analytics fell behind.
    pub frames_dropped: u64,
    /// Frames a camera produced more than one frame interval late (a starved machine).
    pub frames_late: u64,
    /// Frames offered in the window, not dropped, and still not processed [`GRACE_INTERVALS`]
    /// frame intervals after it closed: the backlog of a trial that falls behind.
    pub frames_overdue: u64,
    pub processed_fps: f64,
    /// Mean pictures per inference call.
    pub mean_batch: f64,
    /// From a frame's arrival to its detections tracked and judged, when its events (if any) are
    /// published: every frame that arrived in the window and was not dropped.
    pub frame_to_result: Latency,
    /// The same for the busy cameras' frames alone: what gating must not slow down.
    pub busy_frame_to_result: Latency,
    /// Frames detected (whole or in regions), whole trial, warm-up included.
    pub frames_detected: u64,
    /// Frames motion gating let go undetected because nothing moved, whole trial.
    pub frames_skipped_still: u64,
    /// From a frame's arrival to an event about it reaching the sinks (whole trial).
    pub frame_to_event: Latency,
    /// Every analytics stage per call (`infer` per batch; `decode`, `track`, `rules` per frame;
    /// `publish` per frame with events), whole trial: where the consumer thread's time goes.
    pub stages: std::collections::BTreeMap<String, Latency>,
    /// CPU time the whole process used in the window (every thread: cameras, analytics,
    /// inference, the GPU driver's), per second of it: how many cores the cameras cost.
    pub cpu_cores: f64,
    /// Analytics kept up: at most 1% of the frames offered in the window dropped, late or
    /// overdue (and p99 within the bound, when one was set).
    pub sustained: bool,
}

/// CPU time this process has used, all threads together.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the rusage it is given, which lives on this stack.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec * 1000) as u32);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Cores the process keeps busy between `from` and `until`: a thread that waits for both
/// instants and reads the process's CPU time at each.
fn cpu_cores_between(from: Instant, until: Instant) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let (cpu0, t0) = (process_cpu_time(), Instant::now());
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        let (cpu1, t1) = (process_cpu_time(), Instant::now());
        (cpu1.saturating_sub(cpu0)).as_secs_f64() / (t1 - t0).as_secs_f64().max(1e-3)
    })
}

/// Frame intervals after the window in which its last frames may still finish: one to gather a
/// batch, one to run it. Cameras keep sending meanwhile, so the load does not drop at the end.
pub const GRACE_INTERVALS: u32 = 2;

/// Hands frames to the analyzer and times each from arrival to the end of its batch.
struct Timed<'a> {
    inner: &'a mut Analyzer,
    measure_from: Instant,
    measure_until: Instant,
    /// Frames that arrived in the window must be done by then.
    deadline: Instant,
    latency: Samples,
    processed: u64,
    batches: u64,
    /// Frames handed over in those batches (gated frames are processed but not batched).
    batched: u64,
    /// Frames that arrived in the window and were done by the deadline.
    done_in_time: u64,
    /// Cameras showing moving people, and their frames' latency alone.
    busy: std::collections::HashSet<Arc<str>>,
    busy_latency: Samples,
}

impl FrameConsumer for Timed<'_> {
    fn admit(&mut self, frame: &Frame) -> bool {
        let admitted = self.inner.admit(frame);
        if !admitted {
            // A frame gating lets go is done here: its tracks were carried forward, nothing
            // waits on it. It counts as processed, not as a latency sample.
            let now = Instant::now();
            if now >= self.measure_from && now <= self.measure_until {
                self.processed += 1;
            }
            if frame.arrived >= self.measure_from
                && frame.arrived < self.measure_until
                && now <= self.deadline
            {
                self.done_in_time += 1;
            }
        }
        admitted
    }

    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }

    fn batch(&mut self, frames: Vec<Frame>) {
        let arrived: Vec<(Instant, bool)> = frames
            .iter()
            .map(|f| (f.arrived, self.busy.contains(&f.camera)))
            .collect();
        self.inner.batch(frames);
        let now = Instant::now();
        // Throughput: frames finished inside the window, whenever they arrived.
        if now >= self.measure_from && now <= self.measure_until {
            self.batches += 1;
            self.batched += arrived.len() as u64;
            self.processed += arrived.len() as u64;
        }
        // Latency: every frame that arrived inside the window, whenever it finished.
        for (a, busy) in arrived
            .iter()
            .filter(|(a, _)| *a >= self.measure_from && *a < self.measure_until)
        {
            let seconds = now.duration_since(*a).as_secs_f64();
            self.latency.push(seconds);
            if *busy {
                self.busy_latency.push(seconds);
            }
            if now <= self.deadline {
                self.done_in_time += 1;
            }
        }
    }
}

#[derive(Default)]
struct Counts {
    offered: AtomicU64,
    dropped: AtomicU64,
    late: AtomicU64,
    /// Frames the cameras' prep let go (still, or off the rate): done where they arrived.
    released: AtomicU64,
}

/// Runs `pipeline`'s cameras on `footage` for one trial and measures it.
pub fn drive(
    pipeline: &Pipeline,
    footage: &Arc<Footage>,
    load: &Load,
) -> Result<LoadReport, LoadError> {
    let metrics = Arc::new(Metrics::new());
    let mut analyzer = Analyzer::new(pipeline, Arc::clone(&metrics), Sinks::none())?;
    // Compile every batch size's plan now, not while the cameras wait.
    analyzer.warm_up(footage.image(0));
    let (backend, device) = analyzer
        .backends()
        .next()
        .map(|b| (b.backend.clone(), b.device.clone()))
        .unwrap_or_default();

    let period = Duration::from_secs_f64(1.0 / load.fps.max(1e-3));
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(load.warmup.max(0.0));
    let end = measure_from + Duration::from_secs_f64(load.seconds.max(0.1));
    let deadline = end + period * GRACE_INTERVALS;
    let counts = Arc::new(Counts::default());
    let cores = cpu_cores_between(measure_from, end);
    let n = pipeline.cameras.len();
    let mut receivers = Vec::with_capacity(n);
    let mut threads = Vec::with_capacity(n);
    for (i, cam) in pipeline.cameras.iter().enumerate() {
        let (tx, rx) = frame_queue(
            cam.name(),
            QueuePolicy::Latest,
            load.queue_capacity,
            &metrics,
        );
        // Rate and motion run in the camera's thread, as capture runs them.
        tx.prep_slot().set(analyzer.prep(cam.name()));
        receivers.push(rx);
        let (footage, counts) = (Arc::clone(footage), Arc::clone(&counts));
        let camera: Arc<str> = Arc::from(cam.name());
        // Cameras are not synchronised: spread their frames over the interval.
        let phase = period.mul_f64(i as f64 / n as f64);
        let busy = is_busy(i, load.idle);
        let thread = std::thread::Builder::new()
            .name(format!("synthetic-{i}"))
            .spawn(move || {
                let pool = BufferPool::new(POOL_BUFFERS);
                let (w, h) = (footage.width, footage.height);
                let mut seq = 0u64;
                let mut due = start + phase;
                while due < deadline {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    // The picture stands for the decoder's buffer: the camera's prep looks at
                    // it there, and only a frame it takes is copied out, as capture does.
                    let picture = if busy {
                        footage.picture(seq)
                    } else {
                        footage.idle_picture(seq)
                    };
                    let arrived = Instant::now();
                    let pts = Some(period.mul_f64(seq as f64));
                    let view = FrameView {
                        seq,
                        pts,
                        arrived,
                        image: ImageRef::packed(PixelFormat::Nv12, w, h, picture),
                    };
                    let pushed = match tx.offer(&view) {
                        Offer::Done(pushed) => pushed,
                        Offer::Take(note) => {
                            let mut data = pool.take(picture.len());
                            data.copy_from_slice(picture);
                            let frame = Frame {
                                camera: Arc::clone(&camera),
                                seq,
                                pts,
                                captured_at: SystemTime::now(),
                                arrived,
                                width: w,
                                height: h,
                                format: PixelFormat::Nv12,
                                planes: Planes::packed(PixelFormat::Nv12, w, h),
                                data,
                                note,
                            };
                            tx.queue(frame, &|| false)
                        }
                    };
                    if arrived >= measure_from && arrived < end {
                        counts.offered.fetch_add(1, Relaxed);
                        match pushed {
                            Pushed::ReplacedOldest => {
                                counts.dropped.fetch_add(1, Relaxed);
                            }
                            // Let go in the camera's thread: done as it arrived.
                            Pushed::Released => {
                                counts.released.fetch_add(1, Relaxed);
                            }
                            _ => {}
                        }
                        if arrived > due + period {
                            counts.late.fetch_add(1, Relaxed);
                        }
                    }
                    seq += 1;
                    due += period;
                }
            })
            .map_err(LoadError::Thread)?;
        threads.push(thread);
    }
    let mut timed = Timed {
        inner: &mut analyzer,
        measure_from,
        measure_until: end,
        deadline,
        latency: Samples::default(),
        processed: 0,
        batches: 0,
        batched: 0,
        done_in_time: 0,
        busy: pipeline
            .cameras
            .iter()
            .enumerate()
            .filter(|(i, _)| is_busy(*i, load.idle))
            .map(|(_, c)| Arc::from(c.name()))
            .collect(),
        busy_latency: Samples::default(),
    };
    super::consume(&receivers, &mut timed);
    let (latency, busy_latency, processed, batched, batches, done_in_time) = (
        timed.latency,
        timed.busy_latency,
        timed.processed,
        timed.batched,
        timed.batches,
        timed.done_in_time,
    );
    drop(receivers);
    for t in threads {
        if t.join().is_err() {
            tracing::error!("a synthetic camera thread panicked");
        }
    }
    let summary = analyzer.finish();
    let cpu_cores = cores.join().unwrap_or(f64::NAN);
    let offered = counts.offered.load(Relaxed);
    let dropped = counts.dropped.load(Relaxed);
    let late = counts.late.load(Relaxed);
    let released = counts.released.load(Relaxed);
    let (processed, done_in_time) = (processed + released, done_in_time + released);
    // Whatever was offered and neither dropped nor done in time is still waiting: behind too.
    let overdue = offered.saturating_sub(dropped + done_in_time);
    let limit = offered / 100;
    let frame_to_result = latency.latency();
    let sustained = offered > 0
        && processed > 0
        && dropped + late + overdue <= limit
        && load
            .max_p99_ms
            .is_none_or(|max| frame_to_result.p99_ms <= max);
    Ok(LoadReport {
        cameras: n,
        idle_cameras: (0..n).filter(|&i| !is_busy(i, load.idle)).count(),
        fps: load.fps,
        backend,
        device,
        frames_offered: offered,
        frames_processed: processed,
        frames_dropped: dropped,
        frames_late: late,
        frames_overdue: overdue,
        processed_fps: processed as f64 / load.seconds.max(0.1),
        mean_batch: if batches == 0 {
            0.0
        } else {
            batched as f64 / batches as f64
        },
        frame_to_result,
        busy_frame_to_result: busy_latency.latency(),
        frames_detected: summary.cameras.values().map(|c| c.frames_detected).sum(),
        frames_skipped_still: summary
            .cameras
            .values()
            .map(|c| c.frames_skipped_still)
            .sum(),
        frame_to_event: summary.frame_to_event,
        stages: summary.stages,
        cpu_cores,
        sustained,
    })
}

/// Idle buffers each synthetic camera keeps: its queue plus the frame in flight.
const POOL_BUFFERS: usize = 4;

/// The largest camera count a trial sustains: doubling from 1 until one fails (or `cap`), then
/// bisecting between the last success and the first failure. Returns the best trial (none when
/// even one camera is too many) and every trial in the order run.
pub fn find_max<E>(
    cap: usize,
    mut trial: impl FnMut(usize) -> Result<LoadReport, E>,
) -> Result<(Option<LoadReport>, Vec<LoadReport>), E> {
    let mut trials: Vec<LoadReport> = Vec::new();
    let mut best: Option<LoadReport> = None;
    let cap = cap.max(1);
    let mut n = 1;
    let mut failed_at = None;
    loop {
        let r = trial(n)?;
        trials.push(r.clone());
        if !r.sustained {
            failed_at = Some(n);
            break;
        }
        best = Some(r);
        if n == cap {
            break;
        }
        n = (n * 2).min(cap);
    }
    if let Some(mut hi) = failed_at {
        let mut lo = best.as_ref().map_or(0, |b| b.cameras);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let r = trial(mid)?;
            trials.push(r.clone());
            if r.sustained {
                lo = mid;
                best = Some(r);
            } else {
                hi = mid;
            }
        }
    }
    Ok((best, trials))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(cameras: usize, sustained: bool) -> LoadReport {
        LoadReport {
            cameras,
            idle_cameras: 0,
            fps: 30.0,
            backend: "test".into(),
            device: "test".into(),
            frames_offered: 0,
            frames_processed: 0,
            frames_dropped: 0,
            frames_late: 0,
            frames_overdue: 0,
            processed_fps: 0.0,
            mean_batch: 0.0,
            frame_to_result: Latency::default(),
            busy_frame_to_result: Latency::default(),
            frames_detected: 0,
            frames_skipped_still: 0,
            frame_to_event: Latency::default(),
            stages: Default::default(),
            cpu_cores: 0.0,
            sustained,
        }
    }

    #[test]
    fn one_camera_in_four_is_busy_at_idle_three_quarters_and_the_first_always() {
        let busy: Vec<usize> = (0..12).filter(|&i| is_busy(i, 0.75)).collect();
        assert_eq!(busy, [0, 4, 8]);
        assert!((0..12).all(|i| is_busy(i, 0.0)));
        assert_eq!((0..10).filter(|&i| is_busy(i, 0.5)).count(), 5);
        assert!((0..12).all(|i| !is_busy(i, 1.0)));
    }

    #[test]
    fn idle_pictures_differ_by_sensor_noise_only() {
        let still = image::RgbImage::from_pixel(64, 32, image::Rgb([90, 120, 150]));
        let f = Footage::from_still(&still, 64, 32, 3, 2).unwrap();
        let clean = nv12_shifted(
            &image::RgbImage::from_pixel(64, 32, image::Rgb([90, 120, 150])),
            0,
        );
        let (a, b) = (f.idle_picture(0), f.idle_picture(1));
        assert_ne!(a, b, "fresh noise per picture");
        assert_eq!(a[64 * 32..], clean[64 * 32..], "chroma untouched");
        let d: Vec<f32> = a[..64 * 32]
            .iter()
            .zip(&clean)
            .map(|(&x, &y)| f32::from(x) - f32::from(y))
            .collect();
        let mean = d.iter().sum::<f32>() / d.len() as f32;
        let sd = (d.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / d.len() as f32).sqrt();
        assert!(mean.abs() < 0.3, "mean {mean}");
        assert!((sd - NOISE_SIGMA).abs() < 0.4, "sd {sd}");
    }

    #[test]
    fn search_finds_the_exact_limit() {
        for limit in [0usize, 1, 2, 3, 37, 64, 100, 129] {
            let (best, trials) =
                find_max(1000, |n| Ok::<_, LoadError>(fake(n, n <= limit))).unwrap();
            assert_eq!(best.map_or(0, |b| b.cameras), limit, "limit {limit}");
            assert!(trials.len() <= 2 * 10 + 2, "{} trials", trials.len());
        }
        let (best, _) = find_max(48, |n| Ok::<_, LoadError>(fake(n, true))).unwrap();
        assert_eq!(best.map(|b| b.cameras), Some(48), "stops at the cap");
    }

    #[test]
    fn footage_moves_back_and_forth_and_round_trips_colour() {
        let still = image::RgbImage::from_fn(8, 6, |x, _| {
            if x < 4 {
                image::Rgb([200, 40, 40])
            } else {
                image::Rgb([30, 160, 220])
            }
        });
        let f = Footage::from_still(&still, 16, 6, 3, 2).unwrap();
        // 0 1 2 1 0 1 2 ...
        assert_eq!(f.picture(3), f.picture(1));
        assert_eq!(f.picture(4), f.picture(0));
        assert_ne!(f.picture(0), f.picture(1));
        // Picture 1 is unshifted: the still's left half, red, starts at column 4.
        let rgb = crate::infer::preprocess::pixel_rgb(&f.image(1), 5, 2);
        assert!((rgb[0] - 200.0).abs() < 6.0 && rgb[2] < 60.0, "{rgb:?}");
        let grey = crate::infer::preprocess::pixel_rgb(&f.image(1), 1, 2);
        assert!(grey.iter().all(|c| (c - 114.0).abs() < 4.0), "{grey:?}");
        assert!(Footage::from_still(&still, 15, 6, 3, 2).is_err());
    }
}
