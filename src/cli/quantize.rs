//! `lookout quantize MODEL.yaml --calibrate INPUT... -o OUT`: a static QDQ int8 copy of a model,
//! calibrated on the user's footage, and a report of whether it pays on this machine: latency of
//! float and int8 on ONNX Runtime in interleaved rounds, and their detections compared (frame by
//! frame, and against hand labels).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::capture::input::{self, FileInput};
use lookout::detect::Detection;
use lookout::infer::Backend;
use lookout::infer::preprocess::preprocess_batch_cpu;
use lookout::infer::quant::{CalibrationEngine, QdqOptions};
use lookout::infer::reference::ReferenceBackend;
use lookout::model::Detector;
use lookout::model::manifest::ModelManifest;
use lookout::model::quantize::{
    self, Agreement, CrossingCounts, CrossingLabels, HandLabels, LabelScore, QuantizeError, Written,
};
use lookout::model::select::{self, BackendKind};
use serde::Serialize;

use super::BadInput;
use super::bench::summarize;
use super::bench_vs::{Interleaved, interleaved};
use super::video;

/// Arguments of `lookout quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// The float model's manifest, e.g. models/nanodet-g-416.yaml.
    #[arg(value_name = "MODEL.yaml")]
    model: PathBuf,
    /// PNG or JPEG pictures, or video files, like those the model will see: activation ranges
    /// are measured on them.
    #[arg(long, required = true, num_args = 1.., value_name = "INPUT")]
    calibrate: Vec<PathBuf>,
    /// Where to write: OUT.onnx and OUT.yaml (its manifest).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Most calibration pictures in all.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// Video: calibrate on every N-th frame (0, N, 2N, ...); the frames half-way between them
    /// are the ones float and int8 detections are compared on.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    every: u64,
    /// What runs the float model to measure ranges: onnxruntime (default when its library loads)
    /// or reference (our IR's executor: no library, slow).
    #[arg(long, value_name = "ENGINE")]
    calibrate_with: Option<CalibrationEngine>,
    /// Convolution nodes to keep in float (by ONNX node name).
    #[arg(long = "keep-float", value_name = "NODE")]
    keep_float: Vec<String>,
    /// Hand labels (JSON, as tests/labels/vtest-frame300.json) to score both models on.
    #[arg(long, value_name = "LABELS.json")]
    labels: Vec<PathBuf>,
    /// Line crossings counted by hand on a video (JSON, as tests/labels/vtest-line-footpath.json):
    /// the video is run through tracking and the line with each model, and the counts compared.
    #[arg(long, value_name = "CROSSINGS.json")]
    crossings: Option<PathBuf>,
    /// Most video frames to compare float and int8 detections on.
    #[arg(long, default_value_t = 20)]
    compare: usize,
    /// Interleaved timing rounds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: u64,
    /// Seconds of timing per model over all rounds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Where detections are compared: a backend (onnxruntime, opencv, wgpu, cpu) or `reference`
    /// (our IR's executor: no library needed, slow).
    #[arg(long, default_value = "onnxruntime", value_name = "BACKEND")]
    compare_on: String,
    /// Only write the model: no timing, no comparison.
    #[arg(long)]
    no_report: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Where detections are compared: our reference executor or a backend.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Reference,
    Backend(BackendKind),
}

impl Target {
    fn parse(s: &str) -> anyhow::Result<Self> {
        if s.eq_ignore_ascii_case("reference") {
            return Ok(Target::Reference);
        }
        let kind: BackendKind = s.parse().map_err(BadInput)?;
        Ok(Target::Backend(kind))
    }

    fn name(self) -> &'static str {
        match self {
            Target::Reference => "reference",
            Target::Backend(k) => k.name(),
        }
    }
}

/// A picture held for comparison: packed RGBA.
struct Still {
    rgba: Vec<u8>,
    width: u32,
    height: u32,
}

impl Still {
    fn image(&self) -> ImageRef<'_> {
        ImageRef::packed(PixelFormat::Rgba, self.width, self.height, &self.rgba)
    }

    /// A packed copy of `img` (decoded frames have strides).
    fn copy(img: &ImageRef<'_>) -> anyhow::Result<Self> {
        let (w, h) = (img.width, img.height);
        let row = w as usize * 4;
        let mut rgba = vec![0u8; row * h as usize];
        for y in 0..h as usize {
            let src = img.planes.offsets[0] + y * img.planes.strides[0];
            rgba[y * row..(y + 1) * row].copy_from_slice(
                img.data
                    .get(src..src + row)
                    .context("picture buffer shorter than its size")?,
            );
        }
        Ok(Self {
            rgba,
            width: w,
            height: h,
        })
    }
}

/// Latency of both models on one backend.
#[derive(Serialize)]
struct Latency {
    backend: String,
    device: String,
    rounds: u64,
    seconds_per_round: f64,
    /// p50 of every call.
    float_ms_p50: f64,
    int8_ms_p50: f64,
    /// p50 of each round, in the order run.
    float_round_p50_ms: Vec<f64>,
    int8_round_p50_ms: Vec<f64>,
    /// Median over the rounds of p50(int8) / p50(float): below 1 when int8 is faster.
    ratio_p50: f64,
    ratio_min: f64,
    ratio_max: f64,
}

/// Detections of both models on the same pictures.
#[derive(Serialize)]
struct Comparison {
    backend: String,
    pictures: usize,
    float_detections: usize,
    int8_detections: usize,
    /// Float boxes paired with int8 boxes (same label, IoU >= 0.5).
    agreement: Agreement,
}

/// Both models scored on one hand-labelled picture.
#[derive(Serialize)]
struct Labelled {
    file: String,
    float: LabelScore,
    int8: LabelScore,
    agreement: Agreement,
}

/// Line crossings counted with each model over a whole video, beside the hand count.
#[derive(Serialize)]
struct Crossings {
    file: String,
    hand: CrossingCounts,
    float: CrossingCounts,
    int8: CrossingCounts,
}

/// Everything `lookout quantize` found, as printed with `--json`.
#[derive(Serialize)]
struct Report {
    model: String,
    written: Written,
    calibration_engine: &'static str,
    calibration_pictures: usize,
    calibration_tensors: usize,
    calibration_seconds: f64,
    /// Instructions that make int8 fast on this CPU (VNNI, dot product), as the kernel lists them.
    cpu_int8_features: Vec<String>,
    latency: Option<Latency>,
    comparison: Option<Comparison>,
    labels: Vec<Labelled>,
    crossings: Option<Crossings>,
    /// What to do: keep float, or use the int8 model.
    verdict: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    for input in &args.calibrate {
        if !input.exists() {
            return Err(BadInput(format!("{}: no such file", input.display())).into());
        }
        input::check(input)?;
    }
    let compare_on = Target::parse(&args.compare_on)?;
    let labels: Vec<(PathBuf, HandLabels)> = args
        .labels
        .iter()
        .map(|p| Ok((p.clone(), HandLabels::load(p).map_err(quant_err)?)))
        .collect::<anyhow::Result<_>>()?;
    let crossing_labels = match &args.crossings {
        Some(p) => Some((p.clone(), CrossingLabels::load(p).map_err(quant_err)?)),
        None => None,
    };
    let manifest = ModelManifest::load(&args.model).map_err(|e| BadInput(e.to_string()))?;
    select::check_model(&manifest).map_err(|e| {
        BadInput(format!(
            "{}: fails lookout's model checks: {e}",
            manifest.model_path.display()
        ))
    })?;
    let engine = args.calibrate_with.unwrap_or_else(|| {
        if ort_loads() {
            CalibrationEngine::Onnxruntime
        } else {
            CalibrationEngine::Reference
        }
    });

    // Calibration, keeping the frames between calibration frames for the comparison.
    let started = Instant::now();
    let mut cal = quantize::calibrator(&manifest, engine).map_err(quant_err)?;
    let mut compare: Vec<Still> = Vec::new();
    let mut pictures = 0u64;
    for input in &args.calibrate {
        if pictures >= args.frames {
            break;
        }
        match input::open(input).map_err(|e| BadInput(e.to_string()))? {
            FileInput::Picture(p) => {
                let img = ImageRef::packed(PixelFormat::Rgba, p.width(), p.height(), p.as_raw());
                quantize::calibrate_picture(&mut cal, &manifest, &img).map_err(quant_err)?;
                pictures += 1;
                if compare.len() < args.compare {
                    compare.push(Still::copy(&img)?);
                }
            }
            FileInput::Video => {
                let half = args.every / 2;
                video::frames(input, |index, _, img| {
                    if index % args.every == 0 && pictures < args.frames {
                        quantize::calibrate_picture(&mut cal, &manifest, &img)
                            .map_err(quant_err)?;
                        pictures += 1;
                        tracing::debug!(frame = index, "calibrated");
                    } else if index % args.every == half && compare.len() < args.compare {
                        compare.push(Still::copy(&img)?);
                    }
                    Ok(pictures < args.frames || compare.len() < args.compare)
                })?;
            }
        }
    }
    let ranges = cal.finish();
    let calibration_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        pictures = ranges.samples,
        tensors = ranges.len(),
        engine = engine.name(),
        seconds = format!("{calibration_seconds:.1}"),
        "calibrated"
    );
    let opts = QdqOptions {
        keep_float: args.keep_float.clone(),
    };
    let (written, int8) =
        quantize::write(&manifest, &ranges, &opts, &args.out).map_err(quant_err)?;
    eprintln!(
        "wrote {} ({} bytes; {} convolutions int8, {} float) and {}",
        written.onnx.display(),
        written.bytes,
        written.summary.convs_quantized,
        written.summary.convs_float,
        written.manifest.display()
    );
    if args.no_report {
        return Ok(ExitCode::SUCCESS);
    }

    let latency = if ort_loads() {
        Some(latency(&args, &manifest, &int8, compare.first())?)
    } else {
        tracing::warn!("ONNX Runtime's library is not found: int8 latency not measured");
        None
    };
    let comparison = if compare.is_empty() {
        None
    } else {
        Some(comparison(compare_on, &manifest, &int8, &compare)?)
    };
    let mut scored = Vec::new();
    for (path, l) in &labels {
        let still = labelled_picture(l)?;
        let float = detect(compare_on, &manifest, std::slice::from_ref(&still))?;
        let int = detect(compare_on, &int8, std::slice::from_ref(&still))?;
        scored.push(Labelled {
            file: path.display().to_string(),
            float: l.score(&float[0], 0.5),
            int8: l.score(&int[0], 0.5),
            agreement: quantize::agreement(&float[0], &int[0], 0.5),
        });
    }
    let crossings = match &crossing_labels {
        Some((path, c)) => Some(Crossings {
            file: path.display().to_string(),
            hand: c.totals,
            float: count_crossings(c, &manifest.path)?,
            int8: count_crossings(c, &written.manifest)?,
        }),
        None => None,
    };
    let verdict = verdict(
        latency.as_ref(),
        comparison.as_ref(),
        &scored,
        crossings.as_ref(),
        &written,
    );
    let report = Report {
        model: manifest.name.clone(),
        written,
        calibration_engine: engine.name(),
        calibration_pictures: ranges.samples,
        calibration_tensors: ranges.len(),
        calibration_seconds,
        cpu_int8_features: cpu_int8_features(),
        latency,
        comparison,
        labels: scored,
        crossings,
        verdict,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Quantizer errors with the exit-code policy: the user's model or files at fault is exit 2.
fn quant_err(e: QuantizeError) -> anyhow::Error {
    if e.is_bad_input() {
        BadInput(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

/// Whether ONNX Runtime's library loads here.
fn ort_loads() -> bool {
    select::cpu_engines()
        .iter()
        .any(|e| e.engine == "onnxruntime" && e.available)
}

/// A backend for `manifest` (after the IR's checks, as every backend gets it): `reference` is
/// our executor, any other name is passed to the usual selection.
fn backend(kind: BackendKind, manifest: &ModelManifest) -> anyhow::Result<Box<dyn Backend>> {
    select::check_model(manifest)
        .with_context(|| format!("{} fails the model checks", manifest.name))?;
    let opts = select::BackendOptions::default();
    Ok(select::create(kind, manifest, &opts)?)
}

/// Float and int8 timed on ONNX Runtime in interleaved rounds (float, int8; int8, float; ...)
/// on one real picture's input.
fn latency(
    args: &Args,
    float: &ModelManifest,
    int8: &ModelManifest,
    picture: Option<&Still>,
) -> anyhow::Result<Latency> {
    let mut backends = [
        backend(BackendKind::Onnxruntime, float)?,
        backend(BackendKind::Onnxruntime, int8)?,
    ];
    let grey;
    let image = match picture {
        Some(p) => p.image(),
        None => {
            grey = vec![128u8; 640 * 480 * 4];
            ImageRef::packed(PixelFormat::Rgba, 640, 480, &grey)
        }
    };
    let (tensor, _) = preprocess_batch_cpu(std::slice::from_ref(&image), &float.preprocess)?;
    let once = |b: &mut dyn Backend| -> anyhow::Result<f64> {
        let t = Instant::now();
        b.infer_tensor(&tensor)?;
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    for b in backends.iter_mut() {
        for _ in 0..3 {
            once(b.as_mut()).context("warm-up inference failed")?;
        }
    }
    let per_round = args.seconds.max(0.0) / args.rounds as f64;
    let Interleaved { times, round_p50 } = interleaved(args.rounds as usize, per_round, |i| {
        once(backends[i].as_mut())
    })?;
    let mut ratios: Vec<f64> = round_p50[1]
        .iter()
        .zip(&round_p50[0])
        .map(|(q, f)| q / f)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let info = backends[0].info();
    Ok(Latency {
        backend: info.backend,
        device: info.device,
        rounds: args.rounds,
        seconds_per_round: per_round,
        float_ms_p50: summarize(&times[0]).1,
        int8_ms_p50: summarize(&times[1]).1,
        float_round_p50_ms: round_p50[0].clone(),
        int8_round_p50_ms: round_p50[1].clone(),
        ratio_p50: summarize(&ratios).1,
        ratio_min: ratios.first().copied().unwrap_or(f64::NAN),
        ratio_max: ratios.last().copied().unwrap_or(f64::NAN),
    })
}

/// Detections of `manifest`'s model on each picture, on `kind`.
fn detect(
    kind: Target,
    manifest: &ModelManifest,
    stills: &[Still],
) -> anyhow::Result<Vec<Vec<Detection>>> {
    let b: Box<dyn Backend> = match kind {
        Target::Reference => {
            select::check_model(manifest)?;
            Box::new(ReferenceBackend::new(
                &manifest.onnx,
                &manifest.input.name,
                &manifest.preprocess,
            )?)
        }
        Target::Backend(k) => backend(k, manifest)?,
    };
    let mut detector = Detector::new(manifest.clone(), b)?;
    stills
        .iter()
        .map(|s| {
            Ok(detector
                .detect(std::slice::from_ref(&s.image()))?
                .into_iter()
                .next()
                .unwrap_or_default())
        })
        .collect()
}

/// Float and int8 detections on the comparison pictures, paired.
fn comparison(
    kind: Target,
    float: &ModelManifest,
    int8: &ModelManifest,
    stills: &[Still],
) -> anyhow::Result<Comparison> {
    let a = detect(kind, float, stills)?;
    let b = detect(kind, int8, stills)?;
    let mut agreement = Agreement::empty();
    for (x, y) in a.iter().zip(&b) {
        agreement.merge(&quantize::agreement(x, y, 0.5));
    }
    Ok(Comparison {
        backend: kind.name().to_string(),
        pictures: stills.len(),
        float_detections: a.iter().map(Vec::len).sum(),
        int8_detections: b.iter().map(Vec::len).sum(),
        agreement,
    })
}

/// The picture a labels file describes: a picture file, or a frame of a video.
fn labelled_picture(l: &HandLabels) -> anyhow::Result<Still> {
    let name = l.input.display().to_string();
    match (
        input::open(&l.input).map_err(|e| BadInput(e.to_string()))?,
        l.frame,
    ) {
        (FileInput::Picture(p), _) => {
            let img = ImageRef::packed(PixelFormat::Rgba, p.width(), p.height(), p.as_raw());
            Still::copy(&img)
        }
        (FileInput::Video, frame) => {
            let want = frame.unwrap_or(0);
            let mut found = None;
            video::frames(&l.input, |index, _, img| {
                if index == want {
                    found = Some(Still::copy(&img)?);
                }
                Ok(index < want)
            })?;
            found.ok_or_else(|| BadInput(format!("{name}: has no frame {want}")).into())
        }
    }
}

/// Runs `lookout run` (this binary) on the crossings' video with `manifest` on ONNX Runtime and
/// returns the crossings its summary counts.
fn count_crossings(
    c: &CrossingLabels,
    manifest: &std::path::Path,
) -> anyhow::Result<CrossingCounts> {
    let cwd = std::env::current_dir()?;
    let dir = std::env::temp_dir().join(format!(
        "lookout-quantize-{}-{}",
        std::process::id(),
        started_nanos()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = (|| {
        let (file, summary) = (dir.join("p.yaml"), dir.join("summary.json"));
        std::fs::write(&file, c.pipeline(manifest, "onnxruntime", &cwd))?;
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["run", "--no-progress", "--no-reload", "--summary"])
            .arg(&summary)
            .arg(&file)
            .env("LOOKOUT_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .context("cannot run lookout run")?;
        if !out.status.success() {
            anyhow::bail!(
                "counting crossings with {}: lookout run failed: {}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = std::fs::read_to_string(&summary)?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        c.counted(&json)
            .context("the run's summary has no analytics for the camera")
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Nanoseconds of the clock, to tell apart temporary folders of one process.
fn started_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The instructions ONNX Runtime's int8 kernels gain from, as /proc/cpuinfo lists them.
fn cpu_int8_features() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v)
        .unwrap_or_default();
    flags
        .split_whitespace()
        .filter(|f| {
            matches!(
                *f,
                "avx512_vnni" | "avx_vnni" | "amx_int8" | "asimddp" | "i8mm"
            )
        })
        .map(str::to_string)
        .collect()
}

/// Keep float or use int8: int8 must be faster (5% or more, in the median round) without
/// losing a labelled object or many frame matches.
fn verdict(
    latency: Option<&Latency>,
    comparison: Option<&Comparison>,
    labels: &[Labelled],
    crossings: Option<&Crossings>,
    written: &Written,
) -> String {
    let lost_labels: usize = labels
        .iter()
        .map(|l| l.float.found.saturating_sub(l.int8.found))
        .sum();
    let unmatched = comparison.map_or(0.0, |c| {
        let total = c.agreement.matched + c.agreement.only_first;
        if total == 0 {
            0.0
        } else {
            c.agreement.only_first as f64 / total as f64
        }
    });
    // Crossings may move by 2 either way (the hand count's own tolerance).
    let crossings_off = crossings.is_some_and(|c| {
        c.int8.a_to_b.abs_diff(c.float.a_to_b) > 2 || c.int8.b_to_a.abs_diff(c.float.b_to_a) > 2
    });
    let accurate = lost_labels == 0 && unmatched <= 0.1 && !crossings_off;
    let Some(l) = latency else {
        return "latency not measured (no ONNX Runtime library): measure before choosing int8"
            .into();
    };
    if l.ratio_p50 >= 0.95 {
        return format!(
            "int8 is not faster than float on this CPU (int8 / float {:.2} in the median round): keep the float model",
            l.ratio_p50
        );
    }
    if !accurate {
        return format!(
            "int8 is faster ({:.2}x the time) but loses accuracy ({lost_labels} labelled objects lost, {:.0}% of float detections unmatched{}): keep float, or keep the failing layers in float (--keep-float)",
            l.ratio_p50,
            unmatched * 100.0,
            if crossings_off {
                ", crossings differ from float's by more than 2"
            } else {
                ""
            }
        );
    }
    format!(
        "int8 is faster here (int8 / float {:.2} in the median round) with the same detections: use {}",
        l.ratio_p50,
        written.manifest.display()
    )
}

fn print_report(r: &Report) {
    println!(
        "{}: {} convolutions int8, {} float, calibrated on {} pictures with {} ({} tensors, {:.1} s)",
        r.model,
        r.written.summary.convs_quantized,
        r.written.summary.convs_float,
        r.calibration_pictures,
        r.calibration_engine,
        r.calibration_tensors,
        r.calibration_seconds
    );
    println!(
        "  wrote {} ({} bytes, sha256 {}) and {}",
        r.written.onnx.display(),
        r.written.bytes,
        r.written.sha256,
        r.written.manifest.display()
    );
    println!(
        "  CPU int8 instructions: {}",
        if r.cpu_int8_features.is_empty() {
            "none found (no VNNI / dot product)".to_string()
        } else {
            r.cpu_int8_features.join(" ")
        }
    );
    if let Some(l) = &r.latency {
        let range = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.1}-{hi:.1}")
        };
        println!(
            "  latency on {} ({}), {} interleaved rounds of {:.1} s, p50 per round:",
            l.backend, l.device, l.rounds, l.seconds_per_round
        );
        println!(
            "    float {:>7.2} ms (rounds {})",
            l.float_ms_p50,
            range(&l.float_round_p50_ms)
        );
        println!(
            "    int8  {:>7.2} ms (rounds {})",
            l.int8_ms_p50,
            range(&l.int8_round_p50_ms)
        );
        println!(
            "    int8 / float {:.3} (median of the rounds' ratios; {:.3}..{:.3})",
            l.ratio_p50, l.ratio_min, l.ratio_max
        );
    }
    if let Some(c) = &r.comparison {
        println!(
            "  detections on {} pictures ({}): float {}, int8 {}; matched {} (IoU >= 0.5, same label; min IoU {:.2}, max score difference {:.2}), float only {}, int8 only {}",
            c.pictures,
            c.backend,
            c.float_detections,
            c.int8_detections,
            c.agreement.matched,
            c.agreement.min_iou,
            c.agreement.max_score_diff,
            c.agreement.only_first,
            c.agreement.only_second
        );
    }
    for l in &r.labels {
        println!(
            "  hand labels {}: float found {}/{} ({} extra), int8 found {}/{} ({} extra); {} boxes matched between them",
            l.file,
            l.float.found,
            l.float.labelled,
            l.float.extra,
            l.int8.found,
            l.int8.labelled,
            l.int8.extra,
            l.agreement.matched
        );
    }
    if let Some(c) = &r.crossings {
        println!(
            "  crossings {} (a_to_b / b_to_a): hand {} / {}, float {} / {}, int8 {} / {}",
            c.file,
            c.hand.a_to_b,
            c.hand.b_to_a,
            c.float.a_to_b,
            c.float.b_to_a,
            c.int8.a_to_b,
            c.int8.b_to_a
        );
    }
    println!("  {}", r.verdict);
}
