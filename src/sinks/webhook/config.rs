//! `- webhook: {...}` as written, and its check (URL, signing secret from the environment).

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::{ConfigError, RetryConfig};
use crate::sinks::config::{CheckContext, OutboxConfig, SinkFilter};
use crate::sinks::signing::SigningKey;
use crate::sinks::{Secret, SinkKind};

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
    #[schemars(range(min = 100, max = 600_000))]
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

impl WebhookConfig {
    /// Checks the URL (http or https, with a host; https only in builds with TLS), reads and
    /// parses the signing secret, and the retry schedule.
    pub fn check(self, ctx: &CheckContext<'_>) -> Result<SinkKind, ConfigError> {
        let file = ctx.file;
        let url = self.url.value.trim();
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        if url.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(ConfigError::spanned(
                file,
                &self.url,
                "https:// needs a build with the `tls` feature",
            ));
        }
        if host.is_none_or(str::is_empty) || url.contains(char::is_whitespace) {
            return Err(ConfigError::spanned(
                file,
                &self.url,
                format!("webhook url `{url}` must be an http:// or https:// URL"),
            ));
        }
        let secret = match &self.secret_env {
            Some(var) => {
                let value = (ctx.env)(&var.value)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        ConfigError::spanned(
                            file,
                            var,
                            format!(
                                "environment variable `{}` (the webhook secret) is not set",
                                var.value
                            ),
                        )
                    })?;
                SigningKey::parse(&value)
                    .map_err(|e| ConfigError::spanned(file, var, e.to_string()))?;
                Some(Secret(value))
            }
            None => None,
        };
        self.retry
            .check()
            .map_err(|m| ConfigError::spanned(file, &self.url, format!("`retry`: {m}")))?;
        Ok(SinkKind::Webhook {
            url: url.to_string(),
            secret,
            headers: self.headers,
            timeout: Duration::from_millis(self.timeout_ms.max(100)),
            retry: self.retry,
            outbox: self.outbox,
        })
    }
}
