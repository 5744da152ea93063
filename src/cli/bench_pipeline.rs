//! `lookout bench --pipeline`: how many cameras the whole pipeline sustains on this machine.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use lookout::runtime::load::{self, Footage, Load, LoadReport, ModelPlacement};
use serde::Serialize;

use super::BadInput;
use super::bench::Args;

/// Pictures the synthetic cameras cycle through (back and forth).
const PICTURES: usize = 12;
/// Pixels the picture moves per frame: a person walking across a 1080p view in a few seconds.
const STEP: u32 = 6;

/// The answer, as printed with `--json`.
#[derive(Serialize)]
struct Report {
    model: String,
    fps: f64,
    frame_size: [u32; 2],
    max_batch: usize,
    /// Whether the cameras' motion gating was on.
    motion: bool,
    /// Where the motion pass ran when gating was on: `cpu` or `gpu`.
    motion_pass: Option<&'static str>,
    /// Share of cameras showing a still, noisy scene.
    idle: f64,
    /// Seconds each trial ran before its measured window.
    warmup: f64,
    /// Most cameras sustained (of those tried); 0 when not even one is.
    best_cameras: usize,
    best: Option<LoadReport>,
    trials: Vec<LoadReport>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let max_batch = args.batch_or(16)?;
    if !(args.fps > 0.0 && args.fps <= 1000.0) {
        return Err(BadInput("--fps must be above 0 and at most 1000".into()).into());
    }
    let (w, h) = parse_size(&args.frame_size)?;
    if !(0.0..=1.0).contains(&args.idle) {
        return Err(BadInput(format!(
            "--idle {}: expected a share from 0 to 1",
            args.idle
        ))
        .into());
    }
    if !(args.warmup >= 0.0 && args.warmup <= 600.0) {
        return Err(BadInput(format!(
            "--warmup {}: expected seconds from 0 to 600",
            args.warmup
        ))
        .into());
    }
    let gating = match args.motion.as_str() {
        "off" => load::Gating::Off,
        "gpu" => load::Gating::Gpu,
        _ => load::Gating::Cpu,
    };
    let motion = gating != load::Gating::Off;
    let cameras = match args.cameras.as_str() {
        "max" => None,
        n => Some(
            n.parse::<usize>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| BadInput(format!("--cameras `{n}`: expected 1..=4096 or `max`")))?,
        ),
    };
    let still = image::open(&args.image)
        .map_err(|e| BadInput(format!("{}: {e}", args.image.display())))?
        .to_rgb8();
    let mut footage =
        Footage::from_still(&still, w, h, PICTURES, STEP).map_err(|e| BadInput(e.to_string()))?;
    if args.idle > 0.0 {
        let idle = image::open(&args.idle_image)
            .map_err(|e| BadInput(format!("{}: {e}", args.idle_image.display())))?
            .to_rgb8();
        footage = footage
            .with_idle_scene(&idle)
            .map_err(|e| BadInput(e.to_string()))?;
    }
    let footage = Arc::new(footage);
    let placement = ModelPlacement {
        backend: args.backend,
        adapter: args.adapter.clone(),
        f16: args.f16,
        max_batch,
    };
    let load = Load {
        fps: args.fps,
        seconds: args.seconds.max(0.5),
        warmup: args.warmup,
        queue_capacity: 2,
        max_p99_ms: args.max_p99_ms,
        idle: args.idle,
    };
    let mut model_name = String::new();
    let mut trial = |n: usize| -> anyhow::Result<LoadReport> {
        let pipeline = load::pipeline(&args.model, &placement, n, args.fps, gating)?;
        if model_name.is_empty()
            && let Some(spec) = pipeline.models.values().next()
        {
            model_name = spec.manifest.name.clone();
        }
        let r = load::drive(&pipeline, &footage, &load)?;
        if !args.json {
            // A closed output stops the search: nobody reads the table any more.
            print_trial(&r)?;
        }
        Ok(r)
    };
    if !args.json {
        outln!(
            "synthetic {w}x{h} NV12 cameras at {} fps, at most {max_batch} pictures per inference, motion gating {}{}",
            args.fps,
            args.motion,
            if args.idle > 0.0 {
                format!(
                    ", {:.0}% of the cameras idle (a still, noisy scene)",
                    args.idle * 100.0
                )
            } else {
                String::new()
            }
        )?;
        outln!(
            "{:>7}  {:>9}  {:>9}  {:>7}  {:>5}  {:>7}  {:>5}  {:>9}  {:>20}  {:>20}",
            "cameras",
            "offered/s",
            "done/s",
            "dropped",
            "late",
            "overdue",
            "batch",
            "infer p50",
            "frame→result p50/p99",
            "frame→event p50/p99"
        )?;
    }
    let (best, trials) = match cameras {
        Some(n) => {
            let r = trial(n)?;
            (r.sustained.then(|| r.clone()), vec![r])
        }
        None => load::find_max(args.max_cameras, trial).context("pipeline benchmark")?,
    };
    let report = Report {
        model: model_name,
        fps: args.fps,
        frame_size: [w, h],
        max_batch,
        motion,
        motion_pass: match gating {
            load::Gating::Off => None,
            load::Gating::Cpu => Some("cpu"),
            load::Gating::Gpu => Some("gpu"),
        },
        idle: args.idle,
        warmup: args.warmup,
        best_cameras: best.as_ref().map_or(0, |b| b.cameras),
        best,
        trials,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        print_answer(&report, cameras.is_some())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_size(s: &str) -> Result<(u32, u32), BadInput> {
    let bad = || {
        BadInput(format!(
            "--frame-size `{s}`: expected WxH with even numbers, e.g. 1920x1080"
        ))
    };
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w < 2 || h < 2 || w % 2 == 1 || h % 2 == 1 || w > 7680 || h > 4320 {
        return Err(bad());
    }
    Ok((w, h))
}

fn print_trial(r: &LoadReport) -> std::io::Result<()> {
    outln!(
        "{:>7}  {:>9.1}  {:>9.1}  {:>7}  {:>5}  {:>7}  {:>5.1}  {:>6.1} ms  {:>7.1} / {:>5.1} ms  {:>7.1} / {:>5.1} ms  {}",
        r.cameras,
        r.cameras as f64 * r.fps,
        r.processed_fps,
        r.frames_dropped,
        r.frames_late,
        r.frames_overdue,
        r.mean_batch,
        r.stages.get("infer").map_or(0.0, |l| l.p50_ms),
        r.frame_to_result.p50_ms,
        r.frame_to_result.p99_ms,
        r.frame_to_event.p50_ms,
        r.frame_to_event.p99_ms,
        if r.sustained {
            "sustained"
        } else {
            "falls behind"
        }
    )
}

fn print_answer(r: &Report, fixed: bool) -> std::io::Result<()> {
    let device = r
        .trials
        .first()
        .map(|t| format!("{} ({})", t.backend, t.device))
        .unwrap_or_default();
    match &r.best {
        Some(b) => outln!(
            "{}: {} {} at {} fps sustained on {device}; frame-to-event p50 {:.1} ms, p99 {:.1} ms ({} events); {:.2} CPU cores busy",
            r.model,
            b.cameras,
            if b.cameras == 1 { "camera" } else { "cameras" },
            r.fps,
            b.frame_to_event.p50_ms,
            b.frame_to_event.p99_ms,
            b.frame_to_event.count,
            b.cpu_cores
        )
        .and_then(|()| {
            if !r.motion && r.idle == 0.0 {
                return Ok(());
            }
            outln!(
                "  {} of them idle, motion on the {}; busy cameras' frame-to-result p50 {:.1} ms, p99 {:.1} ms; {} frames detected, {} skipped as still",
                b.idle_cameras,
                r.motion_pass.unwrap_or("-"),
                b.busy_frame_to_result.p50_ms,
                b.busy_frame_to_result.p99_ms,
                b.frames_detected,
                b.frames_skipped_still
            )
        })?,
        None if fixed => outln!(
            "{}: {} cameras at {} fps are not sustained on {device}",
            r.model,
            r.trials.first().map_or(0, |t| t.cameras),
            r.fps
        )?,
        None => outln!(
            "{}: not even one camera at {} fps is sustained on {device}",
            r.model,
            r.fps
        )?,
    }
    Ok(())
}
