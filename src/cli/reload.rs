//! `lookout reload FILE`: asks the `lookout run` of FILE to reload it now, and prints what
//! changed, or why the file was refused (the run then keeps its pipeline).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::BadInput;

/// Arguments of `lookout reload`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file the run was started with; its `metrics.listen` says where the run is.
    file: PathBuf,
    /// The run's metrics address instead of the file's (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
}

/// Only what `reload` needs of the file, read leniently (the file may be mid-edit).
#[derive(serde::Deserialize, Default)]
struct Where {
    #[serde(default)]
    metrics: Option<Metrics>,
}

#[derive(serde::Deserialize)]
struct Metrics {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}
fn yes() -> bool {
    true
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listen = match args.listen {
        Some(l) => l,
        None => {
            let text = std::fs::read_to_string(&args.file)
                .map_err(|e| BadInput(format!("{}: {e}", args.file.display())))?;
            let w: Where = serde_saphyr::from_str(&text).unwrap_or_default();
            match w.metrics {
                Some(m) if !m.enabled => {
                    return Err(BadInput(
                        "the file turns the metrics listener off (`metrics: {enabled: false}`): \
                         reload the run with SIGHUP instead (`kill -HUP <pid>`), or save the file"
                            .into(),
                    )
                    .into());
                }
                Some(m) => m.listen,
                None => default_listen(),
            }
        }
    };
    let addr: std::net::SocketAddr = listen.parse().map_err(|e| {
        BadInput(format!(
            "`{listen}` is not an address like 127.0.0.1:9464: {e}"
        ))
    })?;
    // The endpoint answers loopback clients only: talk to this machine's side of the listener.
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(150)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .post(format!("http://{host}/-/reload"))
        .send_empty()
        .with_context(|| format!("no lookout run answers on {host}"))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    match status {
        200 => {
            outln!("{}", body.trim_end())?;
            Ok(ExitCode::SUCCESS)
        }
        422 => Err(BadInput(format!("reload refused: {}", body.trim_end())).into()),
        _ => anyhow::bail!("{host} answered {status}: {}", body.trim_end()),
    }
}
