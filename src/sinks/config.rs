//! The `sinks:` section of a pipeline file: where events go, each sink with its own filter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::outbox::FsyncPolicy;

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
}

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
    pub max_bytes: u64,
    /// Rotate when the file is older than this many seconds (default: never by age).
    pub max_age_s: Option<u64>,
    /// Rotated files kept (`events.jsonl.1` is the newest); older ones are deleted (default 5).
    #[serde(default = "default_keep")]
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

/// Retry schedule of network sinks: exponential backoff with jitter, forever (the outbox bounds it).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// First delay after a failure, in milliseconds (default 500).
    #[serde(default = "default_retry_initial")]
    pub initial_ms: u64,
    /// Longest delay, in milliseconds (default 30000).
    #[serde(default = "default_retry_max")]
    pub max_ms: u64,
}

fn default_retry_initial() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    30_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: default_retry_initial(),
            max_ms: default_retry_max(),
        }
    }
}

/// The durable outbox of a network sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Undelivered events kept on disk, in bytes (default 64 MiB). When full, the oldest
    /// undelivered events are dropped and counted in `lookout_outbox_dropped_total`.
    #[serde(default = "default_outbox_bytes")]
    pub max_bytes: u64,
    /// `always` fsyncs each event (survives power loss); `never` (default) survives process crashes.
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// On a clean shutdown, wait up to this many seconds for pending events to be delivered; the
    /// rest stay in the outbox for the next start (default 10).
    #[serde(default = "default_drain_s")]
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

/// `webhook` sink options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name in metrics, logs and the outbox folder (default `webhook`).
    pub name: Option<String>,
    /// Where events are POSTed (`http://` or `https://`).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// Name of the environment variable holding the signing secret (`whsec_<base64>` or any
    /// string). Without it requests are not signed.
    #[schemars(with = "Option<String>")]
    pub secret_env: Option<Spanned<String>>,
    /// Per-request timeout in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra request headers (e.g. an `Authorization` header from `${TOKEN}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub filter: SinkFilter,
}

fn default_timeout_ms() -> u64 {
    5000
}

/// `mqtt` sink options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Name in metrics, logs and the outbox folder (default `mqtt`).
    pub name: Option<String>,
    /// Broker host name or address.
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// Broker port (default 1883).
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// MQTT client id (default `lookout`); must be unique per broker.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connect with TLS (usually port 8883): `{}` trusts the system's CA store,
    /// `{ca_file: ca.pem}` a private CA (path relative to the pipeline file).
    pub tls: Option<TlsConfig>,
    /// Topic prefix, as Frigate's `frigate` (default `lookout`).
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Home Assistant MQTT discovery.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Keep-alive interval in seconds (default 30).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub filter: SinkFilter,
}

fn default_mqtt_port() -> u16 {
    1883
}
fn default_client_id() -> String {
    "lookout".into()
}
fn default_topic_prefix() -> String {
    "lookout".into()
}
fn default_keep_alive() -> u64 {
    30
}

/// TLS options of a network sink.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA that signed the server's certificate; the system store when unset.
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// Home Assistant discovery options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Publish retained discovery messages (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Home Assistant's discovery prefix (default `homeassistant`).
    #[serde(default = "default_discovery_prefix")]
    pub prefix: String,
}

fn yes() -> bool {
    true
}
fn default_discovery_prefix() -> String {
    "homeassistant".into()
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: default_discovery_prefix(),
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
        }
    }

    /// The name given in the file, if any.
    pub fn given_name(&self) -> Option<&str> {
        match self {
            SinkConfig::Stdout(c) => c.name.as_deref(),
            SinkConfig::File(c) => c.name.as_deref(),
            SinkConfig::Webhook(c) => c.name.as_deref(),
            SinkConfig::Mqtt(c) => c.name.as_deref(),
        }
    }

    /// The sink's filter.
    pub fn filter(&self) -> &SinkFilter {
        match self {
            SinkConfig::Stdout(c) => &c.filter,
            SinkConfig::File(c) => &c.filter,
            SinkConfig::Webhook(c) => &c.filter,
            SinkConfig::Mqtt(c) => &c.filter,
        }
    }
}
