//! `lookout schema [--events]`

use std::process::ExitCode;

/// Arguments of `lookout schema`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the JSON Schema of events (what sinks receive) instead of pipeline files.
    #[arg(long)]
    events: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let schema = if args.events {
        lookout::events::json_schema()
    } else {
        lookout::pipeline::json_schema()
    };
    outln!("{}", serde_json::to_string_pretty(&schema)?)?;
    Ok(ExitCode::SUCCESS)
}
