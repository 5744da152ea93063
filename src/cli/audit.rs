//! `lookout audit FILE [--json]`: what a pipeline sends off the device, what it keeps, and the
//! statement that no pixel leaves.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `lookout audit`.
#[derive(clap::Args)]
pub struct Args {
    /// Pipeline file (YAML).
    file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pipeline = lookout::pipeline::load(&args.file)?;
    let report = lookout::pipeline::audit::audit(&pipeline);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{report}")?;
    }
    Ok(ExitCode::SUCCESS)
}
