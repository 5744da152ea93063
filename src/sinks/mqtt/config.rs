//! `- mqtt: {...}` as written, and its check.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::MqttSettings;
use crate::config::{ConfigError, RetryConfig};
use crate::sinks::SinkKind;
use crate::sinks::config::{CheckContext, OutboxConfig, SinkFilter, TlsConfig};

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
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// MQTT client id (default `lookout-<device name>`); must be unique per broker.
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connect with TLS (usually port 8883): `{}` trusts the system's CA store,
    /// `{ca_file: ca.pem}` a private CA (path relative to the pipeline file).
    pub tls: Option<TlsConfig>,
    /// Topic prefix, as Frigate's `frigate` (default `lookout`); topics are
    /// `<prefix>/<device name>/...`.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Home Assistant MQTT discovery.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Keep-alive interval in seconds (default 30).
    #[serde(default = "default_keep_alive")]
    #[schemars(range(min = 5, max = 3600))]
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
fn default_topic_prefix() -> String {
    "lookout".into()
}
fn default_keep_alive() -> u64 {
    30
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

impl MqttConfig {
    /// Checks the broker host, reads the CA file when TLS asks for one, and the retry schedule.
    pub fn check(self, ctx: &CheckContext<'_>) -> Result<SinkKind, ConfigError> {
        let host = self.host.value.trim();
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(ConfigError::spanned(
                ctx.file,
                &self.host,
                format!("`{host}` is not a broker host name or address"),
            ));
        }
        let tls = match &self.tls {
            None => None,
            Some(t) => Some(t.read_ca(ctx)?),
        };
        self.retry
            .check()
            .map_err(|m| ConfigError::spanned(ctx.file, &self.host, format!("`retry`: {m}")))?;
        Ok(SinkKind::Mqtt {
            settings: MqttSettings {
                host: host.to_string(),
                port: self.port,
                client_id: self.client_id,
                credentials: self
                    .username
                    .map(|u| (u, self.password.unwrap_or_default())),
                keep_alive: Duration::from_secs(self.keep_alive_s),
                topic_prefix: self.topic_prefix.trim_end_matches('/').to_string(),
                discovery_prefix: self
                    .discovery
                    .enabled
                    .then(|| self.discovery.prefix.trim_end_matches('/').to_string()),
                tls,
            },
            retry: self.retry,
            outbox: self.outbox,
        })
    }
}
