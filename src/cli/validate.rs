//! `lookout validate FILE`

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `lookout validate`.
#[derive(clap::Args)]
pub struct Args {
    /// Pipeline file (YAML).
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pipeline = lookout::pipeline::load(&args.file)?;
    outln!(
        "{}: ok ({} camera{})",
        args.file.display(),
        pipeline.cameras.len(),
        if pipeline.cameras.len() == 1 { "" } else { "s" }
    )?;
    for c in &pipeline.cameras {
        let queue = match c.capture.queue {
            lookout::capture::QueuePolicy::Latest => "latest",
            lookout::capture::QueuePolicy::Block => "block",
        };
        outln!(
            "  camera {}: {} (queue: {queue})",
            c.name(),
            c.capture.source.redacted()
        )?;
    }
    for s in &pipeline.sinks {
        outln!("  sink {}: {}", s.name, s.kind.describe())?;
    }
    Ok(ExitCode::SUCCESS)
}
