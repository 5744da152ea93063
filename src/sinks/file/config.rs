//! `- file: {...}` as written, and its check.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::FileOptions;
use crate::config::ConfigError;
use crate::sinks::SinkKind;
use crate::sinks::config::{CheckContext, SinkFilter};
use crate::sinks::outbox::FsyncPolicy;

/// `file` sink options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Name in metrics and logs (default `file`).
    pub name: Option<String>,
    /// The JSON-lines file (relative to the pipeline file's folder).
    #[schemars(with = "String")]
    pub path: Spanned<PathBuf>,
    /// Rotate when the file would grow past this many bytes (default 100 MiB).
    #[serde(default = "default_file_max_bytes")]
    #[schemars(range(min = 1024, max = 1_099_511_627_776_u64))]
    pub max_bytes: u64,
    /// Rotate when the file is older than this many seconds (default: never by age).
    #[schemars(range(min = 1, max = 315_360_000))]
    pub max_age_s: Option<u64>,
    /// Rotated files kept (`events.jsonl.1` is the newest); older ones are deleted (default 5).
    #[serde(default = "default_keep")]
    #[schemars(range(min = 0, max = 1000))]
    pub keep: u32,
    /// `always`: fsync after each event (survives power loss); `never` (default): leave it to the OS.
    #[serde(default)]
    pub fsync: FsyncPolicy,
    #[serde(default)]
    pub filter: SinkFilter,
}

fn default_file_max_bytes() -> u64 {
    100 << 20
}
fn default_keep() -> u32 {
    5
}

impl FileConfig {
    /// Resolves the path against the pipeline's folder and checks the rotation size.
    pub fn check(&self, ctx: &CheckContext<'_>) -> Result<SinkKind, ConfigError> {
        if self.max_bytes < 1024 {
            return Err(ConfigError::spanned(
                ctx.file,
                &self.path,
                "`max_bytes` must be at least 1024",
            ));
        }
        Ok(SinkKind::File {
            path: ctx.base.join(&self.path.value),
            options: FileOptions {
                max_bytes: self.max_bytes,
                max_age: self.max_age_s.map(Duration::from_secs),
                keep: self.keep,
                fsync: self.fsync,
            },
        })
    }
}
