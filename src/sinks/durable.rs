//! Delivery through the outbox: an appender side (fed by the pipeline) and a delivery thread that
//! retries with backoff until each event is delivered or definitively rejected.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Backoff;

use super::metrics::SinkMetrics;
use super::outbox::{Outbox, OutboxError, OutboxLimits};

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver has it.
    Delivered,
    /// The receiver refused it for good (e.g. HTTP 400): retrying cannot help.
    Rejected(String),
    /// A transient failure (network, 5xx, broker down): try again later.
    Retry(String),
}

/// A network protocol that can deliver one serialized event.
pub trait Deliver: Send + 'static {
    /// Tries to deliver the event `payload`, stored as outbox record `seq`.
    fn deliver(&mut self, seq: u64, payload: &[u8]) -> Delivery;

    /// Called about every 200 ms while there is nothing to deliver (keep-alives, reconnects).
    fn idle(&mut self) {}

    /// Called once before the delivery thread exits.
    fn close(&mut self) {}
}

struct State {
    outbox: Outbox,
    /// Append instants of records appended by this process, for the latency histogram.
    appended: VecDeque<(u64, Instant)>,
    dropped_seen: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    stopping: AtomicBool,
    drain_until: Mutex<Option<Instant>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the outbox half-written on disk (each
        // append is one write), so continuing with the inner value is sound.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn past_drain_deadline(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
            && self
                .drain_until
                .lock()
                .map(|d| d.is_none_or(|t| Instant::now() >= t))
                .unwrap_or(true)
    }
}

/// A network sink's outbox plus its delivery thread.
pub struct DurableSink {
    name: String,
    shared: Arc<Shared>,
    metrics: SinkMetrics,
    thread: Option<JoinHandle<()>>,
}

impl DurableSink {
    /// Opens the outbox in `dir` (delivering what a previous run left) and starts delivering.
    pub fn start<D: Deliver>(
        name: &str,
        dir: &Path,
        limits: OutboxLimits,
        backoff: Backoff,
        deliverer: D,
        metrics: SinkMetrics,
    ) -> Result<Self, OutboxError> {
        let (outbox, recovery) = Outbox::open(dir, limits)?;
        if recovery.pending > 0 || recovery.truncated_bytes > 0 {
            tracing::info!(
                sink = name,
                pending = recovery.pending,
                truncated_bytes = recovery.truncated_bytes,
                "outbox recovered undelivered events from a previous run"
            );
        }
        metrics.outbox_events.set(outbox.depth() as i64);
        metrics.outbox_bytes.set(outbox.bytes() as i64);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                outbox,
                appended: VecDeque::new(),
                dropped_seen: 0,
            }),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            drain_until: Mutex::new(None),
        });
        let thread = {
            let (shared, metrics, name) = (Arc::clone(&shared), metrics.clone(), name.to_string());
            std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || deliver_loop(&name, &shared, deliverer, backoff, &metrics))
                .map_err(|e| OutboxError::Io {
                    path: dir.to_path_buf(),
                    source: e,
                })?
        };
        Ok(Self {
            name: name.to_string(),
            shared,
            metrics,
            thread: Some(thread),
        })
    }

    /// Stores one event durably; the delivery thread picks it up.
    pub fn append(&self, payload: &[u8]) -> Result<(), OutboxError> {
        let mut st = self.shared.lock();
        let seq = st.outbox.append(payload)?;
        st.appended.push_back((seq, Instant::now()));
        let dropped = st.outbox.dropped();
        if dropped > st.dropped_seen {
            self.metrics
                .outbox_dropped
                .inc_by(dropped - st.dropped_seen);
            st.dropped_seen = dropped;
            let first_kept = seq - st.outbox.depth() + 1;
            while st.appended.front().is_some_and(|(s, _)| *s < first_kept) {
                st.appended.pop_front();
            }
        }
        self.metrics.outbox_events.set(st.outbox.depth() as i64);
        self.metrics.outbox_bytes.set(st.outbox.bytes() as i64);
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Events not yet delivered.
    pub fn pending(&self) -> u64 {
        self.shared.lock().outbox.depth()
    }

    /// Stops after delivering what it can within `drain`; the rest stays in the outbox.
    pub fn shutdown(mut self, drain: Duration) {
        *self
            .shared
            .drain_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(
            // A drain beyond any real wait must not overflow the clock (a panic at shutdown).
            Instant::now()
                .checked_add(drain)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)),
        );
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let left = self.pending();
        if left > 0 {
            tracing::warn!(sink = %self.name, pending = left, "stopped with undelivered events: they are kept in the outbox and sent at the next start");
        }
    }
}

impl Drop for DurableSink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.stopping.store(true, Ordering::SeqCst);
            self.shared.wake.notify_all();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

fn deliver_loop<D: Deliver>(
    name: &str,
    shared: &Shared,
    mut d: D,
    mut backoff: Backoff,
    m: &SinkMetrics,
) {
    let mut failing_since: Option<Instant> = None;
    'records: loop {
        // Wait for the next record, or for shutdown once nothing is left.
        let (seq, payload) = loop {
            let mut st = shared.lock();
            match st.outbox.next_record() {
                Ok(Some(rec)) => {
                    // Records are delivered in order: this one is the oldest waiting.
                    m.outbox_oldest.set(event_time(&rec.1));
                    break rec;
                }
                Ok(None) => {
                    // Caught up: what was delivered is recorded on disk now.
                    if let Err(e) = st.outbox.flush_ack() {
                        tracing::error!(sink = name, error = %e, "cannot record delivery in the outbox (the event may be sent again)");
                    }
                    m.outbox_oldest.set(0.0);
                    if shared.stopping.load(Ordering::SeqCst) {
                        break 'records;
                    }
                    let (st, _) = shared
                        .wake
                        .wait_timeout(st, Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner());
                    drop(st);
                    d.idle();
                }
                Err(e) => {
                    drop(st);
                    tracing::error!(sink = name, error = %e, "cannot read the outbox");
                    m.result("outbox_error").inc();
                    if sleep_or_stop(shared, Duration::from_secs(1)) {
                        break 'records;
                    }
                }
            }
        };
        loop {
            match d.deliver(seq, &payload) {
                Delivery::Delivered => {
                    m.result("delivered").inc();
                    m.egress_events.inc();
                    m.egress_bytes.inc_by(payload.len() as u64);
                    m.up.set(1);
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            sink = name,
                            down_s = since.elapsed().as_secs_f64(),
                            "sink delivering again"
                        );
                    }
                    backoff.reset();
                    finish(shared, m, seq, name);
                    break;
                }
                Delivery::Rejected(why) => {
                    tracing::warn!(sink = name, seq, reason = %why, "event rejected by the receiver; not retried");
                    m.result("rejected").inc();
                    finish(shared, m, seq, name);
                    break;
                }
                Delivery::Retry(why) => {
                    m.retries.inc();
                    m.up.set(0);
                    if failing_since.is_none() {
                        tracing::warn!(sink = name, reason = %why, "sink delivery failing; retrying with backoff");
                        failing_since = Some(Instant::now());
                    } else {
                        tracing::debug!(sink = name, reason = %why, "retry failed");
                    }
                    if sleep_or_stop(shared, backoff.next_delay()) {
                        break 'records;
                    }
                }
            }
        }
    }
    d.close();
}

fn finish(shared: &Shared, m: &SinkMetrics, seq: u64, name: &str) {
    let mut st = shared.lock();
    if let Err(e) = st.outbox.ack(seq) {
        tracing::error!(sink = name, error = %e, "cannot record delivery in the outbox (the event may be sent again)");
    }
    while let Some(&(s, at)) = st.appended.front() {
        if s > seq {
            break;
        }
        st.appended.pop_front();
        if s == seq {
            m.latency.observe(at.elapsed().as_secs_f64());
        }
    }
    m.outbox_events.set(st.outbox.depth() as i64);
    m.outbox_bytes.set(st.outbox.bytes() as i64);
}

/// Unix time of the event stored as `payload` (its `time`), 0 when it has none.
fn event_time(payload: &[u8]) -> f64 {
    #[derive(serde::Deserialize)]
    struct Stamp {
        time: String,
    }
    serde_json::from_slice::<Stamp>(payload)
        .ok()
        .and_then(|s| crate::events::time::parse_rfc3339(&s.time))
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Sleeps up to `d`; true when shutdown's drain deadline has passed (stop now).
fn sleep_or_stop(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if shared.past_drain_deadline() {
            return true;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    shared.past_drain_deadline()
}
