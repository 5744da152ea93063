//! `lookout bench --backend A --vs B`: one model on two backends in one run, timed in interleaved
//! rounds so that a noisy, shared machine weighs on both alike, with the ratio of their latencies.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use lookout::infer::Backend;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind};
use serde::Serialize;

use super::BadInput;
use super::bench::{Args, frame_refs, infer_once, random_input, summarize, synthetic_frames};

/// One backend's figures over all rounds.
#[derive(Serialize)]
struct Side {
    backend: String,
    device: String,
    iterations: usize,
    ms_mean: f64,
    ms_p50: f64,
    ms_p99: f64,
    images_per_s: f64,
    /// p50 of each round, in the order run.
    round_p50_ms: Vec<f64>,
}

/// The comparison, as printed with `--json`.
#[derive(Serialize)]
struct Report {
    model: String,
    batch: usize,
    input: &'static str,
    input_shape: Vec<usize>,
    rounds: usize,
    seconds_per_round: f64,
    a: Side,
    b: Side,
    /// Median over the rounds of p50(a) / p50(b): below 1 when `a` is faster.
    ratio_p50: f64,
    ratio_min: f64,
    ratio_max: f64,
}

pub fn run(args: &Args, other: BackendKind) -> anyhow::Result<ExitCode> {
    if args
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return Err(BadInput("--vs needs a model manifest, not a bare .onnx file".into()).into());
    }
    if !(1..=100).contains(&args.rounds) {
        return Err(BadInput("--rounds must be 1..=100".into()).into());
    }
    let batch = args.batch_or(1)?;
    let manifest = ModelManifest::load(&args.model).map_err(|e| BadInput(e.to_string()))?;
    let opts = select::BackendOptions {
        adapter: select::adapter_choice(&args.adapter),
        precision: args.precision(),
        max_batch: batch,
        spin: args.spin,
        ..select::BackendOptions::default()
    };
    let mut backends: Vec<Box<dyn Backend>> = vec![
        select::create(args.backend, &manifest, &opts)?,
        select::create(other, &manifest, &opts)?,
    ];
    let shape = manifest.preprocess.input_shape(batch);
    let tensor = random_input(&shape);
    let frames = synthetic_frames(batch);
    let images = frame_refs(&frames);
    let once = |b: &mut dyn Backend| -> anyhow::Result<f64> {
        let t = Instant::now();
        infer_once(b, args.frames, &images, &tensor)?;
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    for b in backends.iter_mut() {
        for _ in 0..2 {
            once(b.as_mut()).context("warm-up inference failed")?;
        }
    }
    let per_round = args.seconds.max(0.0) / args.rounds as f64;
    let Interleaved { times, round_p50 } =
        interleaved(args.rounds, per_round, |i| once(backends[i].as_mut()))?;
    let side = |i: usize, b: &dyn Backend| {
        let info = b.info();
        let (mean, p50, p99) = summarize(&times[i]);
        Side {
            backend: info.backend,
            device: info.device,
            iterations: times[i].len(),
            ms_mean: mean,
            ms_p50: p50,
            ms_p99: p99,
            images_per_s: batch as f64 * 1000.0 / mean,
            round_p50_ms: round_p50[i].clone(),
        }
    };
    let mut ratios: Vec<f64> = round_p50[0]
        .iter()
        .zip(&round_p50[1])
        .map(|(a, b)| a / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let report = Report {
        model: manifest.name.clone(),
        batch,
        input: args.input_kind(),
        input_shape: shape,
        rounds: args.rounds,
        seconds_per_round: per_round,
        a: side(0, backends[0].as_ref()),
        b: side(1, backends[1].as_ref()),
        ratio_p50: summarize(&ratios).1,
        ratio_min: ratios[0],
        ratio_max: ratios[ratios.len() - 1],
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every call's time and each round's p50, per side, of [`interleaved`].
pub(super) struct Interleaved {
    pub times: [Vec<f64>; 2],
    pub round_p50: [Vec<f64>; 2],
}

/// Times sides 0 and 1 (`call(i)` runs side `i` once and returns its ms) in `rounds` rounds of
/// at least 3 calls and about `per_round` seconds per side, in turns (0 1, 1 0, ...): neither
/// always runs first (warmer caches, a quieter moment), and a noisy, shared machine weighs on
/// both alike.
pub(super) fn interleaved(
    rounds: usize,
    per_round: f64,
    mut call: impl FnMut(usize) -> anyhow::Result<f64>,
) -> anyhow::Result<Interleaved> {
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut round_p50: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let mut these = Vec::new();
            let started = Instant::now();
            while these.len() < 3
                || (started.elapsed() < Duration::from_secs_f64(per_round) && these.len() < 100_000)
            {
                these.push(call(i).context("inference failed")?);
            }
            round_p50[i].push(summarize(&these).1);
            times[i].extend(these);
        }
    }
    Ok(Interleaved { times, round_p50 })
}

fn print_report(r: &Report) {
    println!(
        "model {}, batch {}, input {} {:?}, {} interleaved rounds of {:.2} s per backend",
        r.model, r.batch, r.input, r.input_shape, r.rounds, r.seconds_per_round
    );
    let name = |s: &Side| format!("{} ({})", s.backend, s.device);
    let width = name(&r.a).len().max(name(&r.b).len());
    for s in [&r.a, &r.b] {
        println!(
            "  {:<width$}  {:>8.3} ms p50  {:>8.3} ms mean  {:>8.3} ms p99  {:>7.1} images/s  ({} calls)",
            name(s),
            s.ms_p50,
            s.ms_mean,
            s.ms_p99,
            s.images_per_s,
            s.iterations
        );
    }
    println!(
        "{} / {}: {:.3} (median of the rounds' p50 ratios; {:.3}..{:.3})",
        r.a.backend, r.b.backend, r.ratio_p50, r.ratio_min, r.ratio_max
    );
}
