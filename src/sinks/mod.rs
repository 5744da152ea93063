//! Event sinks: where events (metadata only, never pixels) leave the pipeline.
//!
//! Every sink has its own bounded queue and thread, so a slow or dead sink never stalls the
//! pipeline or the other sinks. Network sinks (`webhook`, `mqtt`, `nats`) write each event to a
//! durable on-disk [`outbox`] first and deliver from there, at least once.
//!
//! The privacy boundary is the type of [`Sinks::publish`]: it takes an [`Event`], and no event
//! field can hold pixels, so no frame, tensor or image can reach a network sink.

pub mod catalog;
pub mod config;
pub(crate) mod durable;
pub mod file;
pub mod metrics;
pub mod mqtt;
pub mod nats;
pub mod outbox;
pub mod signing;
pub mod stdout;
pub mod webhook;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError, bounded};

use crate::config::{ConfigError, RetryConfig, check_name};
use crate::events::{Device, Event};
use crate::metrics::Metrics;
pub use catalog::{CameraCatalog, Catalog};
pub use config::{CheckContext, SinkConfig, SinkFilter};
use durable::DurableSink;
use metrics::SinkMetrics;
use outbox::OutboxLimits;
use stdout::config::StdoutFormat;

/// Events a sink's queue holds before new ones are dropped (and counted).
const QUEUE: usize = 1024;

/// A sink after validation.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    pub name: String,
    pub filter: SinkFilter,
    pub kind: SinkKind,
}

/// What a validated sink does.
#[derive(Debug, Clone)]
pub enum SinkKind {
    Stdout {
        format: StdoutFormat,
    },
    File {
        path: PathBuf,
        options: file::FileOptions,
    },
    Webhook {
        url: String,
        /// The secret itself (from `secret_env`), kept out of `Debug` output by [`Secret`].
        secret: Option<Secret>,
        headers: BTreeMap<String, String>,
        timeout: Duration,
        retry: RetryConfig,
        outbox: config::OutboxConfig,
    },
    Mqtt {
        settings: mqtt::MqttSettings,
        retry: RetryConfig,
        outbox: config::OutboxConfig,
    },
    Nats {
        settings: nats::NatsSettings,
        retry: RetryConfig,
        outbox: config::OutboxConfig,
    },
}

impl SinkKind {
    /// Where this sink sends events, for people (no secrets).
    pub fn describe(&self) -> String {
        match self {
            SinkKind::Stdout { .. } => "standard output".into(),
            SinkKind::File { path, .. } => format!("file {}", path.display()),
            SinkKind::Webhook { url, secret, .. } => format!(
                "webhook POST {}{}",
                crate::config::redact_userinfo(url),
                if secret.is_some() {
                    " (signed)"
                } else {
                    " (unsigned)"
                }
            ),
            SinkKind::Mqtt { settings, .. } => format!(
                "mqtt {}:{} prefix {}{}",
                settings.host,
                settings.port,
                settings.topic_prefix,
                if settings.tls.is_some() { " (TLS)" } else { "" }
            ),
            SinkKind::Nats { settings, .. } => format!(
                "nats {} subjects {}.<site>.<device>.<camera>.<kind>{}",
                settings
                    .urls
                    .iter()
                    .map(|u| crate::config::redact_userinfo(u))
                    .collect::<Vec<_>>()
                    .join(","),
                settings.subject_prefix,
                if settings.tls.is_some() { " (TLS)" } else { "" }
            ),
        }
    }

    /// Whether this sink announces the cameras' labels, zones and lines (Home Assistant
    /// discovery): restarted by a reload that changes them, so it announces them again.
    pub fn announces(&self) -> bool {
        matches!(self, SinkKind::Mqtt { settings, .. } if settings.discovery_prefix.is_some())
    }

    /// Whether events leave the device through this sink.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            SinkKind::Webhook { .. } | SinkKind::Mqtt { .. } | SinkKind::Nats { .. }
        )
    }
}

/// A secret string that never shows up in logs or debug output.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Checks the `sinks:` section against the cameras of the pipeline: unique names (a sink without
/// one is named after its type), filters, and each sink's own options.
pub fn validate(
    configs: Vec<SinkConfig>,
    ctx: &CheckContext<'_>,
    cameras: &[String],
) -> Result<Vec<SinkSpec>, ConfigError> {
    let mut names = HashSet::new();
    let mut per_type: BTreeMap<&str, u32> = BTreeMap::new();
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let n = per_type.entry(c.type_name()).or_default();
        *n += 1;
        let name = match c.given_name() {
            Some(given) => given.to_string(),
            None if *n == 1 => c.type_name().to_string(),
            None => format!("{}-{n}", c.type_name()),
        };
        check_name("sink", &name).map_err(|m| ConfigError::at(ctx.file, 1, 1, m))?;
        if !names.insert(name.clone()) {
            return Err(ConfigError::at(
                ctx.file,
                1,
                1,
                format!("two sinks are named `{name}`: give each a unique `name`"),
            ));
        }
        c.filter().check(ctx.file, cameras)?;
        let filter = c.filter().clone();
        let kind = c.check(ctx)?;
        out.push(SinkSpec { name, filter, kind });
    }
    Ok(out)
}

/// Why sinks could not start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink `{sink}`: {source}")]
    File {
        sink: String,
        source: file::FileSinkError,
    },
    #[error("sink `{sink}`: {source}")]
    Outbox {
        sink: String,
        source: outbox::OutboxError,
    },
    #[error("sink `{sink}`: cannot start its async runtime: {source}")]
    Runtime {
        sink: String,
        source: std::io::Error,
    },
    #[error("sink `{sink}`: cannot start its thread: {source}")]
    Thread {
        sink: String,
        source: std::io::Error,
    },
}

/// What sinks need from the pipeline around them.
pub struct SinkContext {
    /// This box: stamped on every event, part of MQTT topics and NATS subjects.
    pub device: Device,
    /// Where outboxes live (`<state_dir>/outbox/<sink>`).
    pub state_dir: PathBuf,
    pub metrics: Arc<Metrics>,
    pub catalog: Catalog,
}

struct Worker {
    name: String,
    filter: SinkFilter,
    tx: Sender<Arc<Event>>,
    m: SinkMetrics,
    thread: JoinHandle<()>,
    /// Set before a reload stops the sink: its outbox is closed without draining.
    hurry: Arc<AtomicBool>,
}

impl Worker {
    /// Closes the queue and waits for the sink to finish.
    fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!(sink = %self.name, "sink thread panicked");
        }
    }
}

/// The running sinks of a pipeline.
pub struct Sinks {
    workers: Vec<Worker>,
    device: Device,
    /// Every sink started since the run began, reloads included, for the summary.
    started: Vec<String>,
}

impl Sinks {
    /// No sinks at all: events are counted in metrics and go nowhere (benchmarks).
    pub fn none() -> Sinks {
        Sinks {
            workers: Vec::new(),
            device: Device::default(),
            started: Vec::new(),
        }
    }

    /// Starts every sink (opening files and outboxes, so a bad path fails here, clearly).
    pub fn start(specs: Vec<SinkSpec>, ctx: &SinkContext) -> Result<Sinks, SinkError> {
        let workers = specs
            .into_iter()
            .map(|spec| start_one(spec, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sinks {
            started: workers.iter().map(|w| w.name.clone()).collect(),
            workers,
            device: ctx.device.clone(),
        })
    }

    /// Applies a reloaded pipeline's sinks: those gone from `specs` or named in `changed` stop
    /// at once (what they have not delivered stays in their outbox), then every sink of `specs`
    /// not running starts; a changed network sink reopens its outbox and delivers what was left.
    /// Returns the sinks that could not start; the others run on.
    pub fn reconfigure(
        &mut self,
        specs: Vec<SinkSpec>,
        changed: &[String],
        ctx: &SinkContext,
    ) -> Vec<SinkError> {
        let (stop, keep): (Vec<Worker>, Vec<Worker>) = std::mem::take(&mut self.workers)
            .into_iter()
            .partition(|w| changed.contains(&w.name) || !specs.iter().any(|s| s.name == w.name));
        self.workers = keep;
        for w in stop {
            tracing::info!(sink = %w.name, "sink stopped for the reload");
            w.hurry.store(true, Ordering::SeqCst);
            w.stop();
        }
        let mut errors = Vec::new();
        for spec in specs {
            if self.workers.iter().any(|w| w.name == spec.name) {
                continue;
            }
            let name = spec.name.clone();
            match start_one(spec, ctx) {
                Ok(w) => {
                    tracing::info!(sink = %name, "sink started by the reload");
                    if !self.started.contains(&name) {
                        self.started.push(name);
                    }
                    self.workers.push(w);
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Hands an event, stamped with this box's `device` and `site`, to every sink whose filter
    /// accepts it; never blocks. A sink whose queue is full drops the event and counts it in
    /// `lookout_sink_queue_dropped_total`.
    pub fn publish(&self, mut event: Event) {
        event.device.clone_from(&self.device.name);
        event.site.clone_from(&self.device.site);
        let event = Arc::new(event);
        for w in &self.workers {
            if !w.filter.accepts(&event) {
                continue;
            }
            match w.tx.try_send(Arc::clone(&event)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    w.m.queue_dropped.inc();
                    tracing::warn!(sink = %w.name, "sink queue full: event dropped");
                }
                Err(TrySendError::Disconnected(_)) => {
                    w.m.queue_dropped.inc();
                }
            }
        }
    }

    /// Names of every sink that ran since the start, those a reload started or stopped too.
    pub fn started(&self) -> &[String] {
        &self.started
    }

    /// Names of the running sinks.
    pub fn names(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Closes every queue, lets each sink finish (network sinks drain their outbox up to their
    /// `drain_timeout_s`) and waits for them.
    pub fn shutdown(self) {
        for w in self.workers {
            w.stop();
        }
    }
}

/// Starts one sink: its queue, and its thread (an outbox and a delivery thread for network sinks).
fn start_one(spec: SinkSpec, ctx: &SinkContext) -> Result<Worker, SinkError> {
    let m = SinkMetrics::new(&ctx.metrics, &spec.name);
    let hurry = Arc::new(AtomicBool::new(false));
    let (tx, rx) = bounded::<Arc<Event>>(QUEUE);
    let name = spec.name.clone();
    let intake = Intake {
        rx,
        m: m.clone(),
        hurry: Arc::clone(&hurry),
    };
    let body: Box<dyn FnOnce() + Send> = match spec.kind {
        SinkKind::Stdout { format } => {
            let mut sink = stdout::StdoutSink::new(format);
            let Intake { rx, m, .. } = intake;
            // Local sinks are up while their writes succeed.
            m.up.set(1);
            Box::new(move || {
                for e in rx {
                    let ok = sink.write(&e).is_ok();
                    m.result(if ok { "delivered" } else { "failed" }).inc();
                    m.up.set(i64::from(ok));
                }
            })
        }
        SinkKind::File { path, options } => {
            let mut sink =
                file::FileSink::open(&path, options).map_err(|source| SinkError::File {
                    sink: name.clone(),
                    source,
                })?;
            let (Intake { rx, m, .. }, name) = (intake, name.clone());
            m.up.set(1);
            Box::new(move || {
                let mut failing = false;
                for e in rx {
                    match sink.write(&e) {
                        Ok(_) => {
                            m.result("delivered").inc();
                            m.up.set(1);
                            failing = false;
                        }
                        Err(err) => {
                            m.result("failed").inc();
                            m.up.set(0);
                            if !failing {
                                tracing::error!(sink = %name, error = %err, "cannot write events");
                                failing = true;
                            }
                        }
                    }
                }
                if let Err(err) = sink.sync() {
                    tracing::error!(sink = %name, error = %err, "cannot flush events");
                }
            })
        }
        SinkKind::Webhook {
            url,
            secret,
            headers,
            timeout,
            retry,
            outbox,
        } => {
            let key = secret.and_then(|s| signing::SigningKey::parse(&s.0).ok());
            let d = webhook::WebhookDeliverer::new(&url, key, headers, timeout);
            durable_worker(&name, ctx, d, &retry, &outbox, intake)?
        }
        SinkKind::Mqtt {
            settings,
            retry,
            outbox,
        } => {
            let d =
                mqtt::MqttDeliverer::new(settings, ctx.catalog.filtered(&spec.filter), &ctx.device);
            durable_worker(&name, ctx, d, &retry, &outbox, intake)?
        }
        SinkKind::Nats {
            settings,
            retry,
            outbox,
        } => {
            let d = nats::NatsDeliverer::new(settings, &ctx.device).map_err(|source| {
                SinkError::Runtime {
                    sink: name.clone(),
                    source,
                }
            })?;
            durable_worker(&name, ctx, d, &retry, &outbox, intake)?
        }
    };
    let thread = std::thread::Builder::new()
        .name(format!("sink-{name}-in"))
        .spawn(body)
        .map_err(|source| SinkError::Thread {
            sink: name.clone(),
            source,
        })?;
    Ok(Worker {
        name,
        filter: spec.filter,
        tx,
        m,
        thread,
        hurry,
    })
}

/// What the intake thread of a network sink reads and reports to.
struct Intake {
    rx: crossbeam_channel::Receiver<Arc<Event>>,
    m: SinkMetrics,
    /// Set when a reload stops the sink: close the outbox without draining.
    hurry: Arc<AtomicBool>,
}

/// The intake side of a network sink: events from its queue into the outbox.
fn durable_worker<D: durable::Deliver>(
    name: &str,
    ctx: &SinkContext,
    deliverer: D,
    retry: &RetryConfig,
    outbox: &config::OutboxConfig,
    intake: Intake,
) -> Result<Box<dyn FnOnce() + Send>, SinkError> {
    let Intake { rx, m, hurry } = intake;
    let dir = ctx.state_dir.join("outbox").join(name);
    let limits = OutboxLimits {
        max_bytes: outbox.max_bytes,
        segment_bytes: (outbox.max_bytes / 16).max(64 << 10),
        fsync: outbox.fsync,
    };
    let backoff = retry.backoff();
    let sink = DurableSink::start(name, &dir, limits, backoff, deliverer, m.clone()).map_err(
        |source| SinkError::Outbox {
            sink: name.to_string(),
            source,
        },
    )?;
    let drain = Duration::from_secs(outbox.drain_timeout_s);
    let name = name.to_string();
    Ok(Box::new(move || {
        for e in rx {
            let stored = serde_json::to_vec(&*e)
                .map_err(|x| x.to_string())
                .and_then(|bytes| sink.append(&bytes).map_err(|x| x.to_string()));
            if let Err(err) = stored {
                m.result("failed").inc();
                tracing::error!(sink = %name, error = %err, "cannot store event in the outbox");
            }
        }
        // A reload restarting the sink reopens this outbox at once: no drain, nothing lost.
        let hurried = hurry.load(Ordering::SeqCst);
        sink.shutdown(if hurried { Duration::ZERO } else { drain });
    }))
}

/// Default folder for outboxes: `$XDG_STATE_HOME/lookout/<pipeline>` or `~/.local/state/lookout/<pipeline>`.
pub fn default_state_dir(pipeline: &Path) -> PathBuf {
    let stem = pipeline
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("lookout").join(stem)
}
