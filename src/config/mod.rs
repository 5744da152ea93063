//! Pipeline files: YAML in, a validated [`Pipeline`] out, or an error at `file:line:column`.

pub mod env;
pub mod error;
pub mod models;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::capture::source::{Camera, CameraConfig, QueuePolicy, Source};
use crate::metrics::MetricsConfig;
pub use error::ConfigError;

/// The top level of a pipeline file, exactly as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lookout pipeline")]
pub struct PipelineFile {
    /// The cameras to read; each runs independently.
    pub cameras: Vec<CameraConfig>,
    /// Detectors by name; cameras refer to them in `detect: {model: <name>}`.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, models::ModelConfig>,
    /// Where events go; each sink has its own queue (and, for network sinks, a durable outbox).
    #[serde(default)]
    pub sinks: Vec<crate::sinks::SinkConfig>,
    /// Folder for durable state (sink outboxes); default `$XDG_STATE_HOME/lookout/<file name>`.
    #[schemars(with = "Option<String>")]
    pub state_dir: Option<serde_saphyr::Spanned<PathBuf>>,
    /// Prometheus metrics and health endpoints.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Snapshots and a debug recording, redacted, on this machine only (none by default).
    pub media: Option<crate::privacy::MediaConfig>,
}

/// A pipeline after validation: every camera source checked, every default applied.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file it came from.
    pub path: PathBuf,
    pub cameras: Vec<Camera>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None` when disabled.
    pub metrics_listen: Option<SocketAddr>,
    /// Detectors by name, manifests loaded and checked.
    pub models: std::collections::BTreeMap<String, models::ModelSpec>,
    pub sinks: Vec<crate::sinks::SinkSpec>,
    /// Folder for durable state (outboxes).
    pub state_dir: PathBuf,
    /// Media stored on this machine; `None` stores nothing.
    pub media: Option<crate::privacy::MediaSpec>,
}

/// Reads, substitutes environment variables in, parses and validates a pipeline file.
pub fn load(path: &Path) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read pipeline file: {e}"),
    })?;
    load_str(&text, path, |k| std::env::var(k).ok())
}

/// Like [`load`], for text already in memory; `path` is used for messages and relative sources.
pub fn load_str(
    text: &str,
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigError> {
    let text = env::substitute(text, &lookup)
        .map_err(|e| ConfigError::at(path, e.line, e.column, e.message))?;
    crate::privacy::guard::check_text(&text, path)?;
    let file: PipelineFile = parse_yaml(&text, path)?;
    validate(file, path, &lookup)
}

/// Parses YAML into `T`, turning parser and type errors into positioned [`ConfigError`]s.
pub fn parse_yaml<T: for<'de> Deserialize<'de>>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let token = token_at(text, line, column);
        ConfigError::at(
            path,
            line,
            column,
            error::humanize(&yaml_message(&e), token),
        )
    })
}

/// The error text without the position the library appends (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let msg = full.lines().next().unwrap_or(&full).trim();
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    msg.trim_end_matches('.').to_string()
}

/// The scalar that starts at `line:column` (1-based), for messages like "got `big`".
fn token_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let start = l
        .char_indices()
        .nth(usize::try_from(column).ok()?.checked_sub(1)?)?
        .0;
    let tok = l[start..].split(" #").next()?.trim();
    (!tok.is_empty()).then_some(tok)
}

fn validate(
    file: PipelineFile,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    if file.cameras.is_empty() {
        return Err(ConfigError::at(
            path,
            1,
            1,
            "`cameras` is empty: a pipeline needs at least one camera",
        ));
    }
    let models = models::validate(file.models, path, &base)?;
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut cameras = Vec::with_capacity(file.cameras.len());
    for c in &file.cameras {
        let name = c.name.value.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-'))
        {
            return Err(ConfigError::spanned(
                path,
                &c.name,
                format!(
                    "camera name `{name}` must be non-empty and use only letters, digits, `_` and `-`"
                ),
            ));
        }
        if let Some(first) = seen.insert(&c.name.value, c.name.referenced.line()) {
            return Err(ConfigError::spanned(
                path,
                &c.name,
                format!("camera name `{name}` is used twice (first on line {first})"),
            ));
        }
        let source = Source::parse(&c.source.value, &base)
            .map_err(|m| ConfigError::spanned(path, &c.source, m))?;
        if c.queue_capacity == 0 {
            return Err(ConfigError::spanned(
                path,
                &c.name,
                "`queue_capacity` must be at least 1",
            ));
        }
        if c.reconnect.initial_ms == 0 || c.reconnect.max_ms < c.reconnect.initial_ms {
            return Err(ConfigError::spanned(
                path,
                &c.name,
                "`reconnect`: need 0 < initial_ms <= max_ms",
            ));
        }
        let queue = c.queue.unwrap_or(if source.is_live() {
            QueuePolicy::Latest
        } else {
            QueuePolicy::Block
        });
        let detect = match &c.detect {
            None => None,
            Some(d) => {
                let Some(model) = models.get(&d.model.value) else {
                    let names: Vec<&str> = models.keys().map(String::as_str).collect();
                    let mut msg = if names.is_empty() {
                        format!(
                            "model `{}` is not defined: add it under `models:`",
                            d.model.value
                        )
                    } else {
                        format!(
                            "model `{}` is not in `models:` ({})",
                            d.model.value,
                            names.join(", ")
                        )
                    };
                    if let Some(close) = error::closest(&d.model.value, names.iter().copied()) {
                        msg.push_str(&format!("; did you mean `{close}`?"));
                    }
                    return Err(ConfigError::spanned(path, &d.model, msg));
                };
                if let Some(fps) = d.fps
                    && !(fps > 0.0 && fps <= 1000.0)
                {
                    return Err(ConfigError::spanned(
                        path,
                        &d.model,
                        format!("detect fps {fps} must be in 0..1000"),
                    ));
                }
                let labels: Vec<&str> = model.manifest.labels.iter().map(|l| &**l).collect();
                c.rules.validate(path, Some(&labels))?;
                Some(crate::capture::source::CameraDetect {
                    model: d.model.value.clone(),
                    fps: d.fps.or(source
                        .is_live()
                        .then_some(crate::schedule::DEFAULT_LIVE_DETECT_FPS)),
                })
            }
        };
        if detect.is_none() {
            c.rules.validate(path, None)?;
        }
        c.tracker
            .check()
            .map_err(|m| ConfigError::spanned(path, &c.name, format!("`tracker`: {m}")))?;
        let privacy = match &c.privacy {
            Some(p) => Some(crate::privacy::config::validate_camera(p, path, &models)?),
            None => None,
        };
        cameras.push(Camera {
            name: name.to_string(),
            source,
            width: c.width,
            height: c.height,
            fps: c.fps,
            format: c.format,
            queue,
            queue_capacity: c.queue_capacity,
            rtsp_transport: c.rtsp_transport,
            latency_ms: c.latency_ms,
            backoff_initial: Duration::from_millis(c.reconnect.initial_ms),
            backoff_max: Duration::from_millis(c.reconnect.max_ms),
            stall_timeout: Duration::from_millis(c.reconnect.stall_timeout_ms),
            detect,
            tracker: c.tracker.clone(),
            rules: c.rules.clone(),
            privacy,
        });
    }
    let metrics_listen = if file.metrics.enabled {
        let addr = file
            .metrics
            .listen
            .value
            .parse::<SocketAddr>()
            .map_err(|e| {
                ConfigError::spanned(
                    path,
                    &file.metrics.listen,
                    format!(
                        "`{}` is not a listen address like 127.0.0.1:9464: {e}",
                        file.metrics.listen.value
                    ),
                )
            })?;
        Some(addr)
    } else {
        None
    };
    let names: Vec<String> = cameras.iter().map(|c| c.name.clone()).collect();
    let sinks = crate::sinks::validate(file.sinks, path, &base, &names, lookup)?;
    let media = crate::privacy::config::validate_media(file.media, path, &base, &cameras)?;
    let state_dir = match &file.state_dir {
        Some(dir) => base.join(&dir.value),
        None => crate::sinks::default_state_dir(path),
    };
    Ok(Pipeline {
        path: path.to_path_buf(),
        cameras,
        models,
        metrics_listen,
        sinks,
        state_dir,
        media,
    })
}

/// The JSON Schema of pipeline files, for editors (`lookout schema`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PipelineFile)).unwrap_or_default()
}
