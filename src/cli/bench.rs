//! `lookout bench`: inference speed of one model on one backend, as a person or a script reads it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::gpu::{Precision, WgpuBackend};
use lookout::infer::graph::{self, InputShape};
use lookout::infer::{Backend, CallPhases, Tensor, onnx};
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind};
use serde::Serialize;

use super::BadInput;

/// Arguments of `lookout bench`.
#[derive(clap::Args)]
pub struct Args {
    /// A model manifest (models/<name>.yaml), or a bare .onnx file with --input-shape (wgpu only).
    #[arg(long, value_name = "MANIFEST.yaml|MODEL.onnx")]
    pub(super) model: PathBuf,
    /// auto, wgpu, cpu (ONNX Runtime, else OpenCV), onnxruntime or opencv.
    #[arg(long, default_value = "auto")]
    pub(super) backend: BackendKind,
    /// Pictures per inference call (with --pipeline: the most per call; default 16 there, 1 here).
    #[arg(long)]
    batch: Option<usize>,
    /// f16 storage on the GPU (f32 arithmetic).
    #[arg(long)]
    pub(super) f16: bool,
    /// ONNX Runtime's threads spin between runs (a model's `spin: true`), as onnxruntime's own
    /// Python API does by default: the like-for-like setting against that peer.
    #[arg(long)]
    pub(super) spin: bool,
    /// GPU adapter: `high-performance`, `low-power` or part of a name (`lookout devices`).
    #[arg(long, default_value = "high-performance")]
    pub(super) adapter: String,
    /// Input shape of a bare .onnx file, e.g. 1x3x640x640 (the batch dimension is replaced by --batch).
    #[arg(long, value_name = "NxCxHxW")]
    input_shape: Option<String>,
    /// Time whole frames: synthetic 1920x1080 NV12 frames pre-processed on the device, instead
    /// of a prepared input tensor.
    #[arg(long)]
    pub(super) frames: bool,
    /// Measure for about this many seconds (after warm-up).
    #[arg(long, default_value_t = 3.0)]
    pub(super) seconds: f64,
    /// Also time the same model on this second backend in the same run, interleaved in rounds,
    /// and print the ratio (e.g. `--backend onnxruntime --vs opencv`).
    #[arg(long, value_name = "BACKEND")]
    vs: Option<BackendKind>,
    /// With --vs: rounds to split the time into (each backend runs once per round, in turns).
    #[arg(long, default_value_t = 6)]
    pub(super) rounds: usize,
    /// Also time each GPU kernel once (timestamp queries; wgpu only) and list the slowest.
    #[arg(long)]
    profile: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub(super) json: bool,
    /// Drive the whole pipeline (queues, batching, pre-processing, inference, decode, tracking,
    /// rules) with synthetic cameras, and find how many it sustains.
    #[arg(long)]
    pub(super) pipeline: bool,
    /// With --pipeline: a number of cameras to try, or `max` to search for the largest sustained.
    #[arg(long, default_value = "max")]
    pub(super) cameras: String,
    /// With --pipeline: frames per second of each camera.
    #[arg(long, default_value_t = 30.0)]
    pub(super) fps: f64,
    /// With --pipeline --cameras max: stop searching at this many cameras.
    #[arg(long, default_value_t = 1024)]
    pub(super) max_cameras: usize,
    /// With --pipeline: count a trial as sustained only if frame-to-result p99 stays under this
    /// many milliseconds (by default, keeping up with the frames is enough).
    #[arg(long, value_name = "MS")]
    pub(super) max_p99_ms: Option<f64>,
    /// With --pipeline: frame size of the synthetic cameras (NV12).
    #[arg(long, default_value = "1920x1080", value_name = "WxH")]
    pub(super) frame_size: String,
    /// With --pipeline: share of cameras (0 to 1) showing a still scene with sensor noise instead
    /// of moving people, e.g. 0.75: three of four cameras idle.
    #[arg(long, default_value_t = 0.0)]
    pub(super) idle: f64,
    /// With --pipeline: motion gating of the synthetic cameras, `on` (the default of a run),
    /// `off` (every frame detected whole), or `gpu` (on, with the motion pass on the model's
    /// adapter: `motion.gpu`).
    #[arg(long, default_value = "on", value_parser = ["on", "off", "gpu"])]
    pub(super) motion: String,
    /// With --pipeline --idle: the scene idle cameras show, unmoved, with sensor noise (the
    /// campus path with nobody on it; give the busy still to have people standing there).
    #[arg(long, default_value = "pipelines/footage/vtest-background.jpg")]
    pub(super) idle_image: PathBuf,
    /// With --pipeline: the still the synthetic cameras show, moving a little per frame.
    #[arg(long, default_value = "pipelines/footage/vtest-frame300.jpg")]
    pub(super) image: PathBuf,
    /// With --pipeline: seconds each trial runs before its measured window, so that start-up
    /// (every camera's first full frame, which gated cameras take from one budget) is left out
    /// of steady-state figures; 1 by default.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub(super) warmup: f64,
}

impl Args {
    /// What each timed call is fed, as reports name it.
    pub(super) fn input_kind(&self) -> &'static str {
        if self.frames {
            "nv12-1080p-frames"
        } else {
            "tensor"
        }
    }

    /// GPU storage precision `--f16` asks for.
    pub(super) fn precision(&self) -> Precision {
        if self.f16 {
            Precision::F16
        } else {
            Precision::F32
        }
    }

    /// `--batch`, or `default` when it is not given; 1..=256.
    pub(super) fn batch_or(&self, default: usize) -> Result<usize, BadInput> {
        let batch = self.batch.unwrap_or(default);
        if batch == 0 || batch > 256 {
            return Err(BadInput("--batch must be 1..=256".into()));
        }
        Ok(batch)
    }
}

/// The measurement, as printed with `--json`.
#[derive(Serialize)]
struct Report {
    model: String,
    backend: String,
    device: String,
    precision: &'static str,
    batch: usize,
    input: &'static str,
    input_shape: Vec<usize>,
    gflop_per_image: f64,
    iterations: usize,
    ms_mean: f64,
    ms_p50: f64,
    ms_p99: f64,
    images_per_s: f64,
    gflops: f64,
    /// Medians of where each call's time went (wgpu only).
    #[serde(skip_serializing_if = "Option::is_none")]
    phases_ms: Option<PhaseMedians>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kernels: Vec<KernelRow>,
}

/// Per-call phases, the median of each over the timed calls: whether a call's time is the
/// device's or the host's around it.
#[derive(Serialize)]
struct PhaseMedians {
    prepare: f64,
    wait: f64,
    read: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<f64>,
}

impl PhaseMedians {
    /// The medians of `phases` (none when the backend reported none).
    fn of(phases: &[CallPhases]) -> Option<Self> {
        let median = |f: &dyn Fn(&CallPhases) -> Option<f64>| {
            let v: Vec<f64> = phases.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| summarize(&v).1)
        };
        Some(PhaseMedians {
            prepare: median(&|p| Some(p.prepare_ms))?,
            wait: median(&|p| Some(p.wait_ms))?,
            read: median(&|p| Some(p.read_ms))?,
            device: median(&|p| p.device_ms),
        })
    }
}

#[derive(Serialize)]
struct KernelRow {
    name: String,
    kernel: String,
    ms: f64,
    gflops: f64,
    gbytes_per_s: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.pipeline {
        return super::bench_pipeline::run(&args);
    }
    if let Some(other) = args.vs {
        return super::bench_vs::run(&args, other);
    }
    let batch = args.batch_or(1)?;
    let precision = args.precision();
    let is_onnx = args
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let (name, onnx_bytes, mut backend, mut wgpu, shape, input_name, manifest) = if is_onnx {
        let bytes = std::fs::read(&args.model)
            .map_err(|e| BadInput(format!("{}: {e}", args.model.display())))?;
        let spec = args.input_shape.as_deref().ok_or_else(|| {
            BadInput("a bare .onnx model needs --input-shape, e.g. 1x3x640x640".into())
        })?;
        let mut shape: Vec<usize> = spec
            .split('x')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                BadInput(format!(
                    "--input-shape `{spec}`: expected numbers joined by x, e.g. 1x3x640x640"
                ))
            })?;
        if shape.is_empty() {
            return Err(BadInput("--input-shape is empty".into()).into());
        }
        shape[0] = batch;
        if args.backend == BackendKind::Opencv || args.frames {
            return Err(BadInput(
                "a bare .onnx model runs on wgpu with a prepared tensor only".into(),
            )
            .into());
        }
        let ctx = lookout::infer::gpu::GpuContext::new(&select::adapter_choice(&args.adapter))?;
        let b = WgpuBackend::for_tensors(&ctx, &bytes, precision)
            .map_err(|e| BadInput(e.to_string()))?;
        let model = onnx::load(&bytes).map_err(|e| BadInput(e.to_string()))?;
        let input_name = model
            .inputs
            .first()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let name = args
            .model
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        (name, bytes, None, Some(b), shape, input_name, None)
    } else {
        let manifest = ModelManifest::load(&args.model).map_err(|e| BadInput(e.to_string()))?;
        let opts = select::BackendOptions {
            adapter: select::adapter_choice(&args.adapter),
            precision,
            max_batch: batch,
            spin: args.spin,
            ..select::BackendOptions::default()
        };
        let b = select::create(args.backend, &manifest, &opts)?;
        let shape = manifest.preprocess.input_shape(batch);
        let onnx_bytes = manifest.onnx.to_vec();
        (
            manifest.name.clone(),
            onnx_bytes,
            Some(b),
            None,
            shape,
            manifest.input.name.clone(),
            Some(manifest),
        )
    };
    // FLOPs grow linearly with the batch: count one picture (also valid for fixed-batch models).
    let flops = {
        let model = onnx::load(&onnx_bytes)?;
        let mut one = shape.clone();
        one[0] = 1;
        let input = InputShape {
            name: input_name,
            shape: one,
        };
        graph::build(&model, &[input])?.flops() as f64
    };
    let info = match (&backend, &wgpu) {
        (Some(b), _) => b.info(),
        (None, Some(w)) => w.info(),
        _ => unreachable!("one backend is always made"),
    };

    // Inputs: a random prepared tensor, or synthetic 1080p NV12 frames (a moving gradient).
    let tensor = random_input(&shape);
    let frame_bytes = synthetic_frames(batch);
    let images = frame_refs(&frame_bytes);
    let mut once = || -> anyhow::Result<Option<CallPhases>> {
        let b: &mut dyn Backend = match (&mut backend, &mut wgpu) {
            (Some(b), _) => b.as_mut(),
            (None, Some(w)) => w,
            _ => unreachable!("one backend is always made"),
        };
        infer_once(b, args.frames, &images, &tensor)?;
        Ok(b.last_phases())
    };
    // Warm-up: builds plans and pipelines, fills caches.
    for _ in 0..2 {
        once().context("inference failed")?;
    }
    let mut times = Vec::new();
    let mut phases = Vec::new();
    let budget = Duration::from_secs_f64(args.seconds.max(0.0));
    let started = Instant::now();
    while times.len() < 3 || (started.elapsed() < budget && times.len() < 100_000) {
        let t = Instant::now();
        let p = once().context("inference failed")?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        phases.extend(p);
    }

    let (mean, p50, p99) = summarize(&times);
    let images_per_s = batch as f64 * 1000.0 / mean;

    let mut kernels = Vec::new();
    if args.profile {
        let w: Option<&mut WgpuBackend> = match &mut wgpu {
            Some(w) => Some(w),
            None => None,
        };
        match w {
            Some(w) => kernels = profile_rows(w, &tensor)?,
            None => match (&manifest, args.backend) {
                (Some(m), BackendKind::Wgpu | BackendKind::Auto) if info.backend == "wgpu" => {
                    let ctx = lookout::infer::gpu::GpuContext::new(&select::adapter_choice(
                        &args.adapter,
                    ))?;
                    let mut w = WgpuBackend::for_tensors(&ctx, &m.onnx, precision)?;
                    kernels = profile_rows(&mut w, &tensor)?;
                }
                _ => tracing::warn!("--profile needs the wgpu backend"),
            },
        }
    }

    let report = Report {
        model: name,
        backend: info.backend,
        device: info.device,
        precision: if args.f16 { "f16" } else { "f32" },
        batch,
        input: args.input_kind(),
        input_shape: shape,
        gflop_per_image: flops / 1e9,
        iterations: times.len(),
        ms_mean: mean,
        ms_p50: p50,
        ms_p99: p99,
        images_per_s,
        gflops: flops * images_per_s / 1e9,
        phases_ms: PhaseMedians::of(&phases),
        kernels,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        print_report(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One timed call: the whole `images` when `frames`, else the prepared `tensor`. The outputs
/// are handed back as the pipeline hands them back, so runs reuse output memory as they do there.
pub(super) fn infer_once(
    b: &mut dyn Backend,
    frames: bool,
    images: &[ImageRef<'_>],
    tensor: &Tensor,
) -> anyhow::Result<()> {
    if frames {
        for o in b.infer(images)? {
            b.recycle(o.outputs);
        }
    } else {
        let outputs = b.infer_tensor(tensor)?;
        b.recycle(outputs);
    }
    Ok(())
}

/// A prepared input of `shape` with values in -1..1 (the same every run).
pub(super) fn random_input(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let mut rng = fastrand::Rng::with_seed(7);
    Tensor::new(
        shape.to_vec(),
        (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect(),
    )
}

/// Size of the synthetic frames `--frames` times: 1080p.
const FRAME_SIZE: (u32, u32) = (1920, 1080);

/// `batch` synthetic 1080p NV12 frames (moving gradients), what `--frames` feeds the backend.
pub(super) fn synthetic_frames(batch: usize) -> Vec<Vec<u8>> {
    let (fw, fh) = FRAME_SIZE;
    (0..batch)
        .map(|k| {
            let mut v = vec![0u8; PixelFormat::Nv12.packed_len(fw, fh)];
            for (i, px) in v.iter_mut().enumerate() {
                *px = ((i / 7 + k * 31) % 256) as u8;
            }
            v
        })
        .collect()
}

/// Borrowed views of [`synthetic_frames`].
pub(super) fn frame_refs(frames: &[Vec<u8>]) -> Vec<ImageRef<'_>> {
    let (fw, fh) = FRAME_SIZE;
    frames
        .iter()
        .map(|data| ImageRef::packed(PixelFormat::Nv12, fw, fh, data))
        .collect()
}

/// Mean, p50 and p99 of `times` (not empty), in their unit.
pub(super) fn summarize(times: &[f64]) -> (f64, f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    (mean, pct(0.5), pct(0.99))
}

/// Per-kernel timings, slowest first (of one picture when the model runs a batch picture by
/// picture).
fn profile_rows(w: &mut WgpuBackend, tensor: &Tensor) -> anyhow::Result<Vec<KernelRow>> {
    let one;
    let tensor = if !w.runs_as_one_pass(&tensor.shape) {
        let mut shape = tensor.shape.clone();
        shape[0] = 1;
        let per = tensor.len() / tensor.shape[0];
        one = Tensor::new(shape, tensor.data[..per].to_vec());
        &one
    } else {
        tensor
    };
    let mut rows: Vec<KernelRow> = w
        .profile(tensor)?
        .into_iter()
        .map(|k| {
            let secs = (k.time_ms / 1000.0).max(1e-12);
            KernelRow {
                gflops: k.flops as f64 / secs / 1e9,
                gbytes_per_s: k.bytes as f64 / secs / 1e9,
                name: k.name,
                kernel: k.kernel,
                ms: k.time_ms,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(rows)
}

fn print_report(r: &Report) -> std::io::Result<()> {
    outln!(
        "model {} on {} ({}), {} storage, batch {}, input {} {:?}",
        r.model,
        r.backend,
        r.device,
        r.precision,
        r.batch,
        r.input,
        r.input_shape
    )?;
    outln!(
        "{} iterations: {:.3} ms mean, {:.3} ms p50, {:.3} ms p99 per call",
        r.iterations,
        r.ms_mean,
        r.ms_p50,
        r.ms_p99
    )?;
    outln!(
        "{:.1} images/s, {:.3} GFLOP per image, {:.1} GFLOP/s",
        r.images_per_s,
        r.gflop_per_image,
        r.gflops
    )?;
    if let Some(p) = &r.phases_ms {
        outln!(
            "per call (medians): {:.3} ms preparing and submitting, {:.3} ms waiting for the device{}, {:.3} ms reading outputs",
            p.prepare,
            p.wait,
            p.device
                .map(|d| format!(" (its pass: {d:.3} ms)"))
                .unwrap_or_default(),
            p.read
        )?;
    }
    if !r.kernels.is_empty() {
        let total: f64 = r.kernels.iter().map(|k| k.ms).sum();
        outln!(
            "slowest kernels (of {} dispatches, {total:.3} ms on the GPU):",
            r.kernels.len()
        )?;
        outln!(
            "  {:>9}  {:>6}  {:>9}  {:>8}  kernel / node",
            "ms",
            "%",
            "GFLOP/s",
            "GB/s"
        )?;
        for k in r.kernels.iter().take(15) {
            outln!(
                "  {:>9.3}  {:>5.1}%  {:>9.1}  {:>8.1}  {} / {}",
                k.ms,
                100.0 * k.ms / total.max(1e-12),
                k.gflops,
                k.gbytes_per_s,
                k.kernel,
                k.name
            )?;
        }
    }
    Ok(())
}
