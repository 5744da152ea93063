//! `lookout run FILE [--summary PATH]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use lookout::capture::CameraState;
use lookout::metrics::Metrics;
use lookout::runtime::analytics::{self, Analyzer};
use lookout::runtime::{self, RunOptions, summary::SinkSummary};
use lookout::sinks::{SinkContext, Sinks};

use super::progress::Progress;

/// Arguments of `lookout run`.
#[derive(clap::Args)]
pub struct Args {
    /// Pipeline file (YAML).
    file: PathBuf,
    /// Also write the end-of-run summary as JSON to this path.
    #[arg(long, value_name = "PATH")]
    summary: Option<PathBuf>,
    /// No progress bar for file sources.
    #[arg(long)]
    no_progress: bool,
    /// Run the file as loaded: no reload on SIGHUP, on a change of the file (or of a model it
    /// uses), or on `lookout reload`.
    #[arg(long)]
    no_reload: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pipeline = lookout::pipeline::load(&args.file)?;
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    runtime::stop_on_signals(Arc::clone(&stop)).context("cannot install signal handlers")?;

    let specs = analytics::sink_specs(&pipeline);
    let detects = pipeline.cameras.iter().any(|c| c.detect.is_some());
    let ctx = SinkContext {
        device: pipeline.device.clone(),
        state_dir: pipeline.state_dir.clone(),
        metrics: Arc::clone(&metrics),
        catalog: analytics::catalog(&pipeline),
    };
    let sinks = Sinks::start(specs, &ctx)?;
    let mut analyzer = Analyzer::new(&pipeline, Arc::clone(&metrics), sinks)?;
    // The page's feed, and its stills worker (which loads face models: before the ONNX bytes
    // are let go below).
    let feed = pipeline.ui.as_ref().map(|_| lookout::ui::Feed::new());
    let stills = feed
        .as_ref()
        .and_then(|f| analyzer.show_on(f.writer(), &pipeline));
    // Every backend has its model now; the run needs no copy of the ONNX files in memory.
    let mut pipeline = pipeline;
    for spec in pipeline.models.values_mut() {
        spec.manifest.forget_onnx();
    }

    let progress: Arc<Mutex<Option<Progress>>> = Arc::default();
    let on_started = (!args.no_progress).then(|| {
        let (slot, metrics) = (Arc::clone(&progress), Arc::clone(&metrics));
        let live: Vec<bool> = pipeline
            .cameras
            .iter()
            .map(|c| c.capture.source.is_live())
            .collect();
        Box::new(move |cams: Vec<(String, lookout::capture::StateCell)>| {
            if let Ok(mut p) = slot.lock() {
                *p = Some(Progress::start(cams, live, metrics));
            }
        }) as runtime::OnStarted
    });
    let reload = if args.no_reload {
        None
    } else {
        let mut triggers = runtime::reload::Triggers::new();
        triggers
            .on_sighup()
            .context("cannot install the SIGHUP handler")?;
        if let Err(e) = triggers.watch(&runtime::watched_files(&pipeline)) {
            tracing::warn!(error = %e, "cannot watch the pipeline file: reload with SIGHUP or `lookout reload`");
        }
        let file = args.file.clone();
        Some(runtime::Reload {
            triggers,
            load: Box::new(move || lookout::pipeline::load(&file)),
        })
    };
    let opts = RunOptions {
        stop,
        on_listening: None,
        on_started,
        reload,
        feed,
        stills,
    };
    let mut summary = runtime::run(&pipeline, Arc::clone(&metrics), opts, &mut analyzer)?;
    drop(progress.lock().ok().and_then(|mut p| p.take()));
    let sink_names = analyzer.sink_names();
    if detects {
        summary.analytics = Some(analyzer.finish());
    } else {
        analyzer.finish();
    }
    summary.sinks = sink_names
        .iter()
        .map(|n| (n.clone(), SinkSummary::from_metrics(&metrics, n)))
        .collect();
    // The file first: a closed standard output (`| head`) must not cost the summary file.
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write summary to {}", path.display()))?;
    }
    if let Err(e) = out!("{summary}")
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    let failed = summary
        .cameras
        .values()
        .filter(|c| matches!(c.state, CameraState::Failed | CameraState::Truncated))
        .count();
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
