//! `lookout schema`

use std::process::ExitCode;

/// Arguments of `lookout schema`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&lookout::config::json_schema())?
    );
    Ok(ExitCode::SUCCESS)
}
