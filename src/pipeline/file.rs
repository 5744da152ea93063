//! The top level of a pipeline file exactly as written, and its JSON Schema for editors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::camera::CameraConfig;
use crate::events::DeviceConfig;
use crate::metrics::MetricsConfig;
use crate::model::ModelConfig;
use crate::privacy::MediaConfig;
use crate::sinks::SinkConfig;
use crate::ui::UiConfig;

/// The top level of a pipeline file, exactly as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lookout pipeline")]
pub struct PipelineFile {
    /// This box's name and site, in every event (default: the host name, site `default`).
    #[serde(default)]
    pub device: DeviceConfig,
    /// The cameras to read; each runs independently.
    pub cameras: Vec<CameraConfig>,
    /// Detectors by name; cameras refer to them in `detect: {model: <name>}`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Where events go; each sink has its own queue (and, for network sinks, a durable outbox).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Folder for durable state (sink outboxes); default `$XDG_STATE_HOME/lookout/<file name>`.
    #[schemars(with = "Option<String>")]
    pub state_dir: Option<serde_saphyr::Spanned<PathBuf>>,
    /// Prometheus metrics and health endpoints.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Snapshots and a debug recording, redacted, on this machine only (none by default).
    pub media: Option<MediaConfig>,
    /// The local web page (off unless written; `ui: {}` serves it on 127.0.0.1:9465).
    pub ui: Option<UiConfig>,
}

/// The JSON Schema of pipeline files, for editors (`lookout schema`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PipelineFile)).unwrap_or_default()
}
