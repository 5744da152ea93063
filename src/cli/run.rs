//! `lookout run FILE [--summary PATH]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use lookout::capture::CameraState;
use lookout::metrics::Metrics;
use lookout::runtime::{self, RunOptions};

/// Arguments of `lookout run`.
#[derive(clap::Args)]
pub struct Args {
    /// Pipeline file (YAML).
    file: PathBuf,
    /// Also write the end-of-run summary as JSON to this path.
    #[arg(long, value_name = "PATH")]
    summary: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pipeline = lookout::config::load(&args.file)?;
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    runtime::stop_on_signals(Arc::clone(&stop)).context("cannot install signal handlers")?;
    let opts = RunOptions {
        stop,
        on_listening: None,
    };
    let mut consumer = |_frame: lookout::capture::Frame| {};
    let summary = runtime::run(&pipeline, metrics, opts, &mut consumer)?;
    print!("{summary}");
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write summary to {}", path.display()))?;
    }
    let failed = summary
        .cameras
        .values()
        .filter(|c| c.state == CameraState::Failed)
        .count();
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
