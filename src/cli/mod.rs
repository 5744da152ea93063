//! Command-line interface: one file per subcommand.

mod devices;
mod schema;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// On-device video analytics for smart and security cameras.
#[derive(Parser)]
#[command(name = "lookout", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `lookout=debug,wgpu=warn` (env: LOOKOUT_LOG).
    #[arg(long, global = true, env = "LOOKOUT_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a pipeline file; exit 0 when valid, 2 with `file:line:column` when not.
    Validate(validate::Args),
    /// Print the JSON Schema of pipeline files (for editors).
    Schema(schema::Args),
    /// List the GPU adapters (backend, type, driver, f16 and timestamp support).
    Devices(devices::Args),
}

/// An error caused by what the user gave us (exit code 2), as opposed to a runtime failure (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Devices(a) => devices::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Config errors and [`BadInput`] anywhere in the chain mean exit 2.
fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<lookout::config::ConfigError>() || c.is::<BadInput>())
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
