//! The `nats` sink: every event published to NATS JetStream, its acknowledgement awaited, from
//! the durable outbox (at least once through broker outages and crashes), with the event's `id`
//! as `Nats-Msg-Id`, so the stream's duplicate window stores a redelivered event once.
//!
//! Subjects are `<prefix>.<site>.<device>.<camera>.<kind>` (prefix `lookout` by default), so a
//! consumer takes one site (`lookout.oslo.>`), one camera (`lookout.*.*.door.*`) or one kind
//! (`lookout.*.*.*.line_crossed`) with wildcards. With `stream:` the sink creates the stream
//! (subjects `<prefix>.>`) when it is missing; it never changes an existing one.
//!
//! The client is async (`async-nats`, the official one); a current-thread tokio runtime inside
//! the sink's delivery thread drives it, so the sink keeps the thread-per-sink model of the
//! others: the client's connection (pings, reconnects to any server of the cluster) only runs
//! while that thread is in a publish or idle.

pub mod config;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use tokio::runtime::Runtime;

use crate::events::Device;
use crate::sinks::Secret;
use crate::sinks::durable::{Deliver, Delivery};

/// While no event is waiting, how often a missing connection is tried again (so the stream
/// exists and `lookout_sink_up` is right before the first event).
const IDLE_CONNECT_EVERY: Duration = Duration::from_secs(2);

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings of the NATS sink.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// Seed servers (`nats://` or `tls://` URLs, possibly with user information).
    pub urls: Vec<String>,
    /// First token(s) of every subject.
    pub subject_prefix: String,
    /// The stream to create when it is missing.
    pub stream: Option<StreamSettings>,
    pub auth: NatsAuth,
    pub tls: Option<NatsTls>,
    /// How long a publish waits for the stream's acknowledgement.
    pub ack_timeout: Duration,
}

/// The stream the sink creates when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    pub name: String,
    pub replicas: u8,
    /// Zero: no age limit.
    pub max_age: Duration,
    pub max_bytes: Option<u64>,
    pub duplicate_window: Duration,
}

/// How the sink authenticates.
#[derive(Debug, Clone, Default)]
pub enum NatsAuth {
    /// Anonymous (or user information in the URL).
    #[default]
    None,
    UserPassword(String, Secret),
    Token(Secret),
    /// A `.creds` file (user JWT and NKey seed).
    Credentials(PathBuf),
}

impl NatsAuth {
    /// How the sink proves who it is, for people (no secrets).
    pub fn describe(&self) -> &'static str {
        match self {
            NatsAuth::None => "no authentication",
            NatsAuth::UserPassword(..) => "user and password",
            NatsAuth::Token(_) => "token",
            NatsAuth::Credentials(_) => "credentials file (JWT, NKey)",
        }
    }
}

/// TLS of the NATS connection.
#[derive(Debug, Clone, Default)]
pub struct NatsTls {
    /// A private CA; the system store when `None`.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Client options for `auth` and `tls` (shared with `lookout events`).
pub async fn connect_options(
    auth: &NatsAuth,
    tls: Option<&NatsTls>,
    name: &str,
) -> std::io::Result<async_nats::ConnectOptions> {
    let mut o = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT);
    o = match auth {
        NatsAuth::None => o,
        NatsAuth::UserPassword(u, p) => o.user_and_password(u.clone(), p.0.clone()),
        NatsAuth::Token(t) => o.token(t.0.clone()),
        NatsAuth::Credentials(path) => o.credentials_file(path).await?,
    };
    if let Some(t) = tls {
        o = o.require_tls(true);
        if let Some(ca) = &t.ca_file {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &t.client {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
    }
    Ok(o)
}

/// The subject of an event: `<prefix>.<site>.<device>.<camera>.<kind>`.
pub fn subject(prefix: &str, site: &str, device: &str, camera: &str, kind: &str) -> String {
    format!("{prefix}.{site}.{device}.{camera}.{kind}")
}

/// The stream configuration lookout creates: every subject under the prefix, on disk.
pub fn stream_config(s: &StreamSettings, prefix: &str) -> stream::Config {
    stream::Config {
        name: s.name.clone(),
        subjects: vec![format!("{prefix}.>")],
        num_replicas: usize::from(s.replicas),
        max_age: s.max_age,
        max_bytes: s
            .max_bytes
            .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
        duplicate_window: s.duplicate_window,
        storage: stream::StorageType::File,
        description: Some("lookout events (metadata only, never pixels)".into()),
        ..Default::default()
    }
}

/// The fields of a stored event the subject and message id are made of.
#[derive(serde::Deserialize)]
struct Envelope {
    id: String,
    camera: String,
    kind: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    site: String,
}

struct Connection {
    client: async_nats::Client,
    js: jetstream::Context,
}

/// Publishes events to JetStream, one at a time, each acknowledged before the next.
pub struct NatsDeliverer {
    s: NatsSettings,
    device: Device,
    rt: Runtime,
    conn: Option<Connection>,
    /// The stream exists (created or found) on this connection.
    stream_ready: bool,
    next_idle_connect: Instant,
}

impl NatsDeliverer {
    /// A deliverer for `s` publishing as `device`; it connects on the first delivery or idle
    /// moment. Fails only when the runtime cannot be made (out of threads or file descriptors).
    pub fn new(s: NatsSettings, device: &Device) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            s,
            device: device.clone(),
            rt,
            conn: None,
            stream_ready: false,
            next_idle_connect: Instant::now(),
        })
    }

    /// Connects when not connected, and makes sure the configured stream exists.
    fn ensure_ready(&mut self) -> Result<(), String> {
        if self.conn.is_none() {
            let name = format!("lookout-{}-{}", self.device.site, self.device.name);
            let (auth, tls, urls) = (&self.s.auth, self.s.tls.as_ref(), &self.s.urls);
            let client = self.rt.block_on(async {
                let opts = connect_options(auth, tls, &name)
                    .await
                    .map_err(|e| format!("NATS credentials: {e}"))?;
                opts.connect(urls.as_slice())
                    .await
                    .map_err(|e| format!("NATS {}: {e}", redacted(urls)))
            })?;
            // The context spawns its acknowledgement task on the runtime.
            let mut js = {
                let _rt = self.rt.enter();
                jetstream::new(client.clone())
            };
            js.set_timeout(self.s.ack_timeout);
            tracing::info!(servers = %redacted(urls), "NATS connected");
            self.conn = Some(Connection { client, js });
            self.stream_ready = false;
        }
        if !self.stream_ready {
            if let (Some(stream), Some(conn)) = (&self.s.stream, &self.conn) {
                let cfg = stream_config(stream, &self.s.subject_prefix);
                let info = self
                    .rt
                    .block_on(conn.js.get_or_create_stream(cfg))
                    .map_err(|e| format!("JetStream stream `{}`: {e}", stream.name))?;
                tracing::info!(stream = %stream.name, replicas = info.cached_info().config.num_replicas, "JetStream stream ready");
            }
            self.stream_ready = true;
        }
        Ok(())
    }

    fn publish(&mut self, payload: &[u8]) -> Delivery {
        let e: Envelope = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return Delivery::Rejected(format!("outbox record is not an event: {e}")),
        };
        if let Err(e) = self.ensure_ready() {
            return Delivery::Retry(e);
        }
        // An event from an earlier run keeps the identity it was stamped with.
        let pick = |own: &str, mine: &str| {
            if own.is_empty() {
                mine.to_string()
            } else {
                own.to_string()
            }
        };
        let subject = subject(
            &self.s.subject_prefix,
            &pick(&e.site, &self.device.site),
            &pick(&e.device, &self.device.name),
            &e.camera,
            &e.kind,
        );
        let Some(conn) = &self.conn else {
            return Delivery::Retry("not connected".into());
        };
        let msg = jetstream::message::PublishMessage::build()
            .payload(payload.to_vec().into())
            .message_id(&e.id);
        let result = self
            .rt
            .block_on(async { conn.js.send_publish(subject.clone(), msg).await?.await });
        match result {
            Ok(ack) => {
                if ack.duplicate {
                    tracing::debug!(id = %e.id, stream = %ack.stream, "already stored: a redelivery");
                }
                Delivery::Delivered
            }
            Err(err) => match err.kind() {
                PublishErrorKind::MaxPayloadExceeded => Delivery::Rejected(err.to_string()),
                PublishErrorKind::StreamNotFound => {
                    // It may have been deleted: look (and create) again next time.
                    self.stream_ready = false;
                    Delivery::Retry(format!(
                        "no JetStream stream stores `{subject}`: create one, or give the sink a `stream:`"
                    ))
                }
                _ => Delivery::Retry(format!("publish to `{subject}`: {err}")),
            },
        }
    }
}

/// The server list without credentials.
fn redacted(urls: &[String]) -> String {
    urls.iter()
        .map(|u| crate::config::redact_userinfo(u))
        .collect::<Vec<_>>()
        .join(",")
}

impl Deliver for NatsDeliverer {
    fn deliver(&mut self, _seq: u64, payload: &[u8]) -> Delivery {
        self.publish(payload)
    }

    fn idle(&mut self) {
        if self.conn.is_none() || !self.stream_ready {
            if Instant::now() >= self.next_idle_connect {
                self.next_idle_connect = Instant::now() + IDLE_CONNECT_EVERY;
                if let Err(e) = self.ensure_ready() {
                    tracing::debug!(error = %e, "NATS not ready");
                }
            }
            return;
        }
        // Let the client answer pings and reconnect while no event flows.
        self.rt
            .block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
    }

    fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(1), conn.client.flush()).await
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_stream() {
        assert_eq!(
            subject("lookout", "oslo", "door-box", "door", "line_crossed"),
            "lookout.oslo.door-box.door.line_crossed"
        );
        let s = StreamSettings {
            name: "LOOKOUT".into(),
            replicas: 3,
            max_age: Duration::from_secs(3600),
            max_bytes: None,
            duplicate_window: Duration::from_secs(120),
        };
        let c = stream_config(&s, "acme.video");
        assert_eq!(c.subjects, ["acme.video.>"]);
        assert_eq!((c.num_replicas, c.max_bytes), (3, -1));
        assert_eq!(c.duplicate_window, Duration::from_secs(120));
    }
}
