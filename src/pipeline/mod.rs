//! Pipelines: a YAML file in, a validated [`Pipeline`] out (or an error at `file:line:column`).
//! This is where the components' configurations meet: each component checks its own section,
//! and the pipeline checks what spans sections (names, references between them).

pub mod audit;
pub mod camera;
pub mod diff;
pub mod file;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use camera::{Camera, CameraConfig};
pub use file::{PipelineFile, json_schema};

use crate::config::{ConfigError, env, parse_yaml};
use crate::events::Device;
use crate::model::ModelSpec;
use crate::privacy::MediaSpec;
use crate::sinks::SinkSpec;

/// A pipeline after validation: every camera source checked, every default applied.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file it came from.
    pub path: PathBuf,
    /// This box and its site.
    pub device: Device,
    pub cameras: Vec<Camera>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None` when disabled.
    pub metrics_listen: Option<SocketAddr>,
    /// Detectors by name, manifests loaded and checked.
    pub models: BTreeMap<String, ModelSpec>,
    pub sinks: Vec<SinkSpec>,
    /// Folder for durable state (outboxes).
    pub state_dir: PathBuf,
    /// Media stored on this machine; `None` stores nothing.
    pub media: Option<MediaSpec>,
    /// The local web page; `None` when off.
    pub ui: Option<crate::ui::UiSpec>,
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
    let subst = env::substitute(text, &lookup)
        .map_err(|e| ConfigError::at(path, e.line, e.column, e.message))?;
    let checked = crate::privacy::guard::check_text(&subst.text, path)
        .and_then(|()| parse_yaml::<PipelineFile>(&subst.text, path))
        .and_then(|file| {
            // Every number against the range its field declares in the schema, with its position.
            crate::config::ranges::check(&subst.text, &json_schema(), path)?;
            validate::validate(file, path, &lookup)
        });
    // No value from the environment (a password, a token) is ever shown in an error.
    checked.map_err(|e| ConfigError {
        message: subst.scrub(&e.message),
        ..e
    })
}

#[cfg(test)]
mod tests;
