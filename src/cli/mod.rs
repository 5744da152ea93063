//! Command-line interface: one file per subcommand.

// First, so that its `out!` and `outln!` macros are in scope in every command's file.
#[macro_use]
mod output;
mod audit;
mod bench;
mod bench_pipeline;
mod bench_vs;
mod detect;
mod devices;
mod events;
mod progress;
mod quantize;
mod redact;
mod reload;
mod run;
mod schema;
mod validate;
mod video;

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
    /// Run a pipeline until its sources end or SIGINT/SIGTERM; print a summary at the end.
    Run(run::Args),
    /// Check a pipeline file; exit 0 when valid, 2 with `file:line:column` when not.
    Validate(validate::Args),
    /// Print the JSON Schema of pipeline files (for editors), or with --events of events.
    Schema(schema::Args),
    /// Run a detector on pictures or video files and print (or draw) what it finds.
    Detect(detect::Args),
    /// List the GPU adapters (backend, type, driver, f16, timestamps) and the CPU engines found.
    Devices(devices::Args),
    /// Time one model on one backend: ms per inference, images/s, GFLOP/s, per-kernel profile.
    Bench(bench::Args),
    /// Hide faces (and mask polygons) in a picture or a video file, locally, on the GPU.
    Redact(redact::Args),
    /// Report what a pipeline sends off the device and what it stores; confirm no pixel leaves.
    Audit(audit::Args),
    /// Ask a running `lookout run` to reload its pipeline file now (it also reloads on SIGHUP and
    /// when the file changes); prints what changed, or why the file was refused.
    Reload(reload::Args),
    /// Tail or count a fleet's events from its NATS JetStream stream.
    Events(Box<events::Args>),
    /// Write a static int8 (QDQ) copy of a model calibrated on footage, and report its speed
    /// and accuracy against the float model on this machine.
    Quantize(quantize::Args),
}

/// An error caused by what the user gave us (exit code 2), as opposed to a runtime failure (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Redact(a) => redact::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Reload(a) => reload::run(a),
        Command::Events(a) => events::run(*a),
        Command::Quantize(a) => quantize::run(a),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`| head`): nothing more to say, nothing failed.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
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

/// The exit-code policy of every command: 2 when the input is at fault (a pipeline file, a model
/// or its manifest, a picture or video, an argument: the message says what to change), 1 when
/// the machine or the run failed (GPU, network, disk, a source that dies mid-run).
fn is_bad_input(e: &anyhow::Error) -> bool {
    use lookout::capture::input::InputError;
    use lookout::config::ConfigError;
    use lookout::detect::DetectError;
    use lookout::infer::InferError;
    use lookout::model::{ManifestError, SelectError};
    use lookout::privacy::PrivacyError;
    use lookout::runtime::load::LoadError;
    e.chain().any(|c| {
        c.is::<ConfigError>()
            || c.is::<BadInput>()
            || c.is::<ManifestError>()
            || c.is::<InputError>()
            || matches!(
                c.downcast_ref::<LoadError>(),
                Some(LoadError::Config(_) | LoadError::Input(_))
            )
            || c.downcast_ref::<InferError>()
                .is_some_and(InferError::is_bad_model)
            || c.downcast_ref::<SelectError>()
                .is_some_and(SelectError::is_bad_model)
            || c.downcast_ref::<DetectError>()
                .is_some_and(DetectError::is_bad_model)
            || matches!(
                c.downcast_ref::<PrivacyError>(),
                Some(PrivacyError::FaceModel { cause, .. }) if cause.is_bad_model()
            )
    })
}

fn init_logging(filter: &str) {
    // wgpu probes OpenGL through EGL even where it will use Vulkan, and logs the failure as an
    // error on headless machines; keep that out of the default output, and the NATS client's
    // connection chatter too (the sink logs what matters). `ort` reports at info level where it
    // loaded ONNX Runtime from and which devices it saw: `lookout devices` says that.
    let filter = if filter.contains("wgpu") {
        filter.to_string()
    } else {
        format!("{filter},wgpu_hal::gles=off,wgpu_core=warn,naga=warn")
    };
    let filter = if filter.split(',').any(|d| d.trim_start().starts_with("ort")) {
        filter
    } else {
        format!("{filter},ort=warn")
    };
    let filter = if filter.contains("async_nats") {
        filter
    } else {
        format!("{filter},async_nats=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
