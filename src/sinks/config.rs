//! The `sinks:` section of a pipeline file: which sinks, and what they share (filters, the
//! durable outbox, TLS). Each sink's own options and their check are beside it
//! (`stdout/config.rs`, `file/config.rs`, `webhook/config.rs`, `mqtt/config.rs`, `nats/config.rs`).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::SinkKind;
use super::file::config::FileConfig;
use super::mqtt::config::MqttConfig;
use super::nats::config::NatsConfig;
use super::outbox::FsyncPolicy;
use super::stdout::config::StdoutConfig;
use super::webhook::config::WebhookConfig;
use crate::config::{ConfigError, did_you_mean};
use crate::events::check_kind_name;

/// What a sink's check needs from the pipeline around it.
pub struct CheckContext<'a> {
    /// The pipeline file, for error positions.
    pub file: &'a Path,
    /// Its folder: relative paths are taken from here.
    pub base: &'a Path,
    /// Environment lookup, for secrets named by variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// One sink, written as `- <type>: {...}` (e.g. `- mqtt: {host: 127.0.0.1}`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// Events on standard output, readable (`format: human`, default) or as JSON lines.
    Stdout(StdoutConfig),
    /// Events appended as JSON lines to a local file, rotated by size and age.
    File(FileConfig),
    /// Each event POSTed as JSON, signed per Standard Webhooks, retried through a durable outbox.
    Webhook(WebhookConfig),
    /// Frigate-style topics and Home Assistant discovery over MQTT (QoS 1), through a durable outbox.
    Mqtt(MqttConfig),
    /// Each event published to NATS JetStream (acknowledged, deduplicated by id), through a
    /// durable outbox: a fleet's events in one stream.
    Nats(Box<NatsConfig>),
}

/// Which events a sink receives; an empty list means all.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkFilter {
    /// Only events of these cameras.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cameras: Vec<Spanned<String>>,
    /// Only these kinds (`object`, `zone_enter`, `zone_exit`, `line_crossed`, `loitering`, `occupancy`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub kinds: Vec<Spanned<String>>,
    /// Only these labels (e.g. `person`).
    #[serde(default)]
    pub labels: Vec<String>,
}

impl SinkFilter {
    /// True when `event` passes the filter.
    pub fn accepts(&self, event: &crate::events::Event) -> bool {
        (self.cameras.is_empty() || self.cameras.iter().any(|c| c.value == event.camera))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k.value == event.kind.name()))
            && (self.labels.is_empty() || self.labels.contains(&event.label))
    }

    /// Checks that the cameras and kinds it names exist.
    pub fn check(&self, file: &Path, cameras: &[String]) -> Result<(), ConfigError> {
        for c in &self.cameras {
            if !cameras.contains(&c.value) {
                return Err(ConfigError::spanned(
                    file,
                    c,
                    format!(
                        "filter names camera `{}`, which is not in `cameras` ({}){}",
                        c.value,
                        cameras.join(", "),
                        did_you_mean(&c.value, cameras.iter().map(String::as_str))
                    ),
                ));
            }
        }
        for k in &self.kinds {
            check_kind_name(&k.value).map_err(|m| ConfigError::spanned(file, k, m))?;
        }
        Ok(())
    }
}

/// The durable outbox of a network sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Undelivered events kept on disk, in bytes (default 64 MiB). When full, the oldest
    /// undelivered events are dropped and counted in `lookout_outbox_dropped_total`.
    #[serde(default = "default_outbox_bytes")]
    #[schemars(range(min = 65536, max = 1_099_511_627_776_u64))]
    pub max_bytes: u64,
    /// `always` fsyncs each event (survives power loss); `never` (default) survives process crashes.
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// On a clean shutdown, wait up to this many seconds for pending events to be delivered; the
    /// rest stay in the outbox for the next start (default 10).
    #[serde(default = "default_drain_s")]
    #[schemars(range(min = 0, max = 3600))]
    pub drain_timeout_s: u64,
}

fn default_outbox_bytes() -> u64 {
    64 << 20
}
fn default_drain_s() -> u64 {
    10
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_outbox_bytes(),
            fsync: FsyncPolicy::default(),
            drain_timeout_s: default_drain_s(),
        }
    }
}

/// TLS options of a network sink.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA that signed the server's certificate; the system store when unset.
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Spanned<PathBuf>>,
}

impl TlsConfig {
    /// Reads the CA file (`None` = the system store); refuses TLS in builds without it.
    pub fn read_ca(&self, ctx: &CheckContext<'_>) -> Result<Option<Vec<u8>>, ConfigError> {
        if !cfg!(feature = "tls") {
            return Err(ConfigError::at(
                ctx.file,
                1,
                1,
                "this build has no TLS support (cargo feature `tls`)",
            ));
        }
        match &self.ca_file {
            None => Ok(None),
            Some(p) => std::fs::read(ctx.base.join(&p.value))
                .map(Some)
                .map_err(|e| {
                    ConfigError::spanned(
                        ctx.file,
                        p,
                        format!("cannot read CA file `{}`: {e}", p.value.display()),
                    )
                }),
        }
    }
}

impl SinkConfig {
    /// The sink's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Mqtt(_) => "mqtt",
            SinkConfig::Nats(_) => "nats",
        }
    }

    /// The name given in the file, if any.
    pub fn given_name(&self) -> Option<&str> {
        match self {
            SinkConfig::Stdout(c) => c.name.as_deref(),
            SinkConfig::File(c) => c.name.as_deref(),
            SinkConfig::Webhook(c) => c.name.as_deref(),
            SinkConfig::Mqtt(c) => c.name.as_deref(),
            SinkConfig::Nats(c) => c.name.as_deref(),
        }
    }

    /// The sink's filter.
    pub fn filter(&self) -> &SinkFilter {
        match self {
            SinkConfig::Stdout(c) => &c.filter,
            SinkConfig::File(c) => &c.filter,
            SinkConfig::Webhook(c) => &c.filter,
            SinkConfig::Mqtt(c) => &c.filter,
            SinkConfig::Nats(c) => &c.filter,
        }
    }

    /// Checks this sink's own options into what runs.
    pub fn check(self, ctx: &CheckContext<'_>) -> Result<SinkKind, ConfigError> {
        match self {
            SinkConfig::Stdout(c) => Ok(c.check()),
            SinkConfig::File(c) => c.check(ctx),
            SinkConfig::Webhook(c) => c.check(ctx),
            SinkConfig::Mqtt(c) => c.check(ctx),
            SinkConfig::Nats(c) => (*c).check(ctx),
        }
    }
}
