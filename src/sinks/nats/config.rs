//! `- nats: {...}` as written, and its check.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{NatsAuth, NatsSettings, NatsTls, StreamSettings};
use crate::config::{ConfigError, RetryConfig, check_name};
use crate::sinks::config::{CheckContext, OutboxConfig, SinkFilter};
use crate::sinks::{Secret, SinkKind};

/// `nats` sink options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Name in metrics, logs and the outbox folder (default `nats`).
    pub name: Option<String>,
    /// Server URL, `nats://host:4222` (`tls://host:4222` requires TLS); several, separated by
    /// commas, as the seed servers of a cluster (the client learns the others from them).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// First token(s) of every subject, `<prefix>.<site>.<device>.<camera>.<kind>` (default
    /// `lookout`).
    #[schemars(with = "Option<String>")]
    pub subject_prefix: Option<Spanned<String>>,
    /// The JetStream stream to create when it is missing (its subjects `<prefix>.>`). Without
    /// it, lookout only publishes, and a stream made by the operator must cover the subjects.
    pub stream: Option<StreamConfig>,
    /// User name (with `password`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// Authentication token.
    pub token: Option<String>,
    /// A NATS credentials file (`.creds`: user JWT and NKey seed), relative to the pipeline file.
    #[schemars(with = "Option<String>")]
    pub credentials_file: Option<Spanned<PathBuf>>,
    /// Connect with TLS: `{}` trusts the system's CA store; `ca_file` a private CA; `cert_file`
    /// and `key_file` a client certificate (paths relative to the pipeline file).
    pub tls: Option<NatsTlsConfig>,
    /// How long one publish waits for the stream's acknowledgement, in milliseconds (default 5000).
    #[serde(default = "default_ack_timeout_ms")]
    #[schemars(range(min = 100, max = 600_000))]
    pub ack_timeout_ms: u64,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub filter: SinkFilter,
}

/// The stream lookout creates when it is missing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name (letters, digits, `_`, `-`), e.g. `LOOKOUT`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Copies kept by a JetStream cluster (default 1; 3 survives the loss of a node).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: u8,
    /// Events older than this many seconds are removed by the server (default 604800, a week;
    /// 0 keeps them).
    #[serde(default = "default_max_age_s")]
    #[schemars(range(min = 0, max = 3_153_600_000_u64))]
    pub max_age_s: u64,
    /// Bytes the stream keeps at most; the oldest events go first (default: no limit).
    #[schemars(range(min = 1024, max = 1_125_899_906_842_624_u64))]
    pub max_bytes: Option<u64>,
    /// An event sent again within this many seconds (same id, after a crash or a lost
    /// acknowledgement) is stored once (default 120).
    #[serde(default = "default_duplicate_window_s")]
    #[schemars(range(min = 1, max = 604_800))]
    pub duplicate_window_s: u64,
}

/// TLS options of the NATS sink.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsTlsConfig {
    /// PEM file of the CA that signed the server's certificate; the system store when unset.
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// PEM client certificate, for servers that verify clients (with `key_file`).
    #[schemars(with = "Option<String>")]
    pub cert_file: Option<Spanned<PathBuf>>,
    /// PEM private key of `cert_file`.
    #[schemars(with = "Option<String>")]
    pub key_file: Option<Spanned<PathBuf>>,
}

fn one() -> u8 {
    1
}
fn default_max_age_s() -> u64 {
    7 * 86_400
}
fn default_duplicate_window_s() -> u64 {
    120
}
fn default_ack_timeout_ms() -> u64 {
    5000
}

/// The default first token of subjects.
pub const DEFAULT_SUBJECT_PREFIX: &str = "lookout";

/// A file named in the pipeline, relative to it, that must be readable now.
fn readable(
    ctx: &CheckContext<'_>,
    p: &Spanned<PathBuf>,
    what: &str,
) -> Result<PathBuf, ConfigError> {
    let path = ctx.base.join(&p.value);
    std::fs::File::open(&path).map_err(|e| {
        ConfigError::spanned(
            ctx.file,
            p,
            format!("cannot read {what} `{}`: {e}", p.value.display()),
        )
    })?;
    Ok(path)
}

/// Checks a subject prefix: tokens of letters, digits, `_` and `-`, separated by dots.
pub fn check_subject_prefix(prefix: &str) -> Result<(), String> {
    prefix
        .split('.')
        .try_for_each(|t| check_name("subject token", t))
        .map_err(|m| format!("subject prefix `{prefix}`: {m}"))
}

impl NatsConfig {
    /// Checks the URLs, subject prefix, stream, authentication (one kind at most, its files
    /// readable), TLS files and the retry schedule.
    pub fn check(self, ctx: &CheckContext<'_>) -> Result<SinkKind, ConfigError> {
        let file = ctx.file;
        let mut urls = Vec::new();
        let mut tls_scheme = false;
        for u in self.url.value.split(',').map(str::trim) {
            let parsed = async_nats::ServerAddr::from_str(u)
                .ok()
                .filter(|_| u.starts_with("nats://") || u.starts_with("tls://"));
            let Some(addr) = parsed else {
                return Err(ConfigError::spanned(
                    file,
                    &self.url,
                    format!(
                        "`{}` is not a NATS server URL like nats://host:4222 (or tls://host:4222)",
                        crate::config::redact_userinfo(u)
                    ),
                ));
            };
            tls_scheme |= addr.tls_required();
            urls.push(u.to_string());
        }
        let subject_prefix = match &self.subject_prefix {
            None => DEFAULT_SUBJECT_PREFIX.to_string(),
            Some(p) => {
                check_subject_prefix(&p.value).map_err(|m| ConfigError::spanned(file, p, m))?;
                p.value.clone()
            }
        };
        let stream = match &self.stream {
            None => None,
            Some(s) => {
                check_name("stream", &s.name.value)
                    .map_err(|m| ConfigError::spanned(file, &s.name, m))?;
                if s.max_age_s > 0 && s.duplicate_window_s > s.max_age_s {
                    return Err(ConfigError::spanned(
                        file,
                        &s.name,
                        format!(
                            "`duplicate_window_s` ({}) must not exceed `max_age_s` ({})",
                            s.duplicate_window_s, s.max_age_s
                        ),
                    ));
                }
                Some(StreamSettings {
                    name: s.name.value.clone(),
                    replicas: s.replicas.max(1),
                    max_age: Duration::from_secs(s.max_age_s),
                    max_bytes: s.max_bytes,
                    duplicate_window: Duration::from_secs(s.duplicate_window_s),
                })
            }
        };
        // `token: ${NATS_TOKEN:-}` and the like: empty means not given.
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (user, token) = (given(&self.user), given(&self.token));
        let auth = match (&user, &token, &self.credentials_file) {
            (None, None, None) => NatsAuth::None,
            (Some(u), None, None) => {
                NatsAuth::UserPassword(u.clone(), Secret(self.password.clone().unwrap_or_default()))
            }
            (None, Some(t), None) => NatsAuth::Token(Secret(t.clone())),
            (None, None, Some(c)) => NatsAuth::Credentials(readable(ctx, c, "credentials file")?),
            _ => {
                return Err(ConfigError::spanned(
                    file,
                    &self.url,
                    "give one of `user`/`password`, `token` or `credentials_file`, not several",
                ));
            }
        };
        if given(&self.password).is_some() && user.is_none() {
            return Err(ConfigError::spanned(
                file,
                &self.url,
                "`password` needs a `user`",
            ));
        }
        let tls = match &self.tls {
            None if tls_scheme => Some(NatsTls::default()),
            None => None,
            Some(t) => {
                let path = |p: &Option<Spanned<PathBuf>>, what| {
                    p.as_ref().map(|p| readable(ctx, p, what)).transpose()
                };
                let client = match (
                    path(&t.cert_file, "client certificate")?,
                    path(&t.key_file, "client key")?,
                ) {
                    (Some(c), Some(k)) => Some((c, k)),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError::spanned(
                            file,
                            &self.url,
                            "`tls` needs both `cert_file` and `key_file` for a client certificate",
                        ));
                    }
                };
                Some(NatsTls {
                    ca_file: path(&t.ca_file, "CA file")?,
                    client,
                })
            }
        };
        self.retry
            .check()
            .map_err(|m| ConfigError::spanned(file, &self.url, format!("`retry`: {m}")))?;
        Ok(SinkKind::Nats {
            settings: NatsSettings {
                urls,
                subject_prefix,
                stream,
                auth,
                tls,
                ack_timeout: Duration::from_millis(self.ack_timeout_ms.max(100)),
            },
            retry: self.retry,
            outbox: self.outbox,
        })
    }
}
