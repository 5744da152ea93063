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
    let pipeline = lookout::config::load(&args.file)?;
    println!(
        "{}: ok ({} camera{})",
        args.file.display(),
        pipeline.cameras.len(),
        if pipeline.cameras.len() == 1 { "" } else { "s" }
    );
    for c in &pipeline.cameras {
        println!(
            "  {}: {} (queue {:?})",
            c.name,
            c.source.redacted(),
            c.queue
        );
    }
    Ok(ExitCode::SUCCESS)
}
