//! `- stdout: {...}` as written, and its check.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::sinks::SinkKind;
use crate::sinks::config::SinkFilter;

/// How stdout shows events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `stdout` sink options.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Name in metrics and logs (default `stdout`).
    pub name: Option<String>,
    #[serde(default)]
    pub format: StdoutFormat,
    #[serde(default)]
    pub filter: SinkFilter,
}

impl StdoutConfig {
    /// Nothing can be wrong with stdout beyond what the parser checks.
    pub fn check(&self) -> SinkKind {
        SinkKind::Stdout {
            format: self.format,
        }
    }
}
