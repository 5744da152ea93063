//! Bounded per-camera frame queues with a drop policy, counted in metrics.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError, bounded,
};
use prometheus::{Histogram, IntCounter, IntGauge};

use super::frame::{Frame, FrameNote, FrameView};
use super::spec::QueuePolicy;
use crate::metrics::Metrics;

/// Reasons a frame is dropped; the `reason` label of `lookout_frames_dropped_total`.
pub mod reason {
    /// The queue was full under the `latest` policy: the oldest frame made room for the newest.
    pub const QUEUE_FULL: &str = "queue_full";
    /// Frames still queued when the consumer went away.
    pub const CONSUMER_GONE: &str = "consumer_gone";
}

/// Per-camera metric handles, resolved once so the hot path does no label lookups.
#[derive(Clone)]
struct QueueMetrics {
    captured: IntCounter,
    processed: IntCounter,
    queued: IntCounter,
    dropped_full: IntCounter,
    dropped_gone: IntCounter,
    depth: IntGauge,
    latency: Histogram,
}

impl QueueMetrics {
    fn new(metrics: &Metrics, camera: &str) -> Self {
        Self {
            captured: metrics.frames_captured.with_label_values(&[camera]),
            processed: metrics.frames_processed.with_label_values(&[camera]),
            queued: metrics.frames_queued.with_label_values(&[camera]),
            dropped_full: metrics
                .frames_dropped
                .with_label_values(&[camera, reason::QUEUE_FULL]),
            dropped_gone: metrics
                .frames_dropped
                .with_label_values(&[camera, reason::CONSUMER_GONE]),
            depth: metrics.queue_depth.with_label_values(&[camera]),
            latency: metrics.capture_latency.with_label_values(&[camera]),
        }
    }
}

/// The capture side of a camera's queue.
pub struct FrameSender {
    tx: Sender<Frame>,
    /// Held under `latest` so the sender can discard the oldest frame itself.
    rx: Receiver<Frame>,
    policy: QueuePolicy,
    m: QueueMetrics,
    /// Alive while any [`FrameReceiver`] clone exists.
    consumers: std::sync::Weak<()>,
    /// The consumer's work on each frame before it is queued, if it asked for any.
    prep: PrepSlot,
}

/// Work a consumer has done on each of a camera's frames in the camera's own thread, before the
/// frame is copied and queued: per-frame work (motion detection) spreads over the camera threads
/// instead of loading the one consumer thread, and frames the consumer would let go anyway (off
/// its detection rate, or still while its gate has nothing due) are released without being
/// copied out of the decoder's buffer or taking a place in the queue.
pub trait FramePrep: Send + Sync {
    /// What the consumer needs to know of `frame` (the note it will carry), or `None` to release
    /// it unqueued, counted as processed.
    fn prepare(&self, frame: &FrameView<'_>) -> Option<FrameNote>;
}

/// What became of a frame offered before its pixels were copied.
pub enum Offer {
    /// Copy it, put this note on it and [`FrameSender::queue`] it.
    Take(Option<FrameNote>),
    /// Nothing more to do: released by the consumer's prep, or nobody consumes the camera.
    Done(Pushed),
}

/// Where a camera's sender finds the consumer's [`FramePrep`]: shared with the runtime, which
/// replaces it when a reload changes what the consumer wants.
#[derive(Clone, Default)]
pub struct PrepSlot(Arc<Mutex<Option<Arc<dyn FramePrep>>>>);

impl PrepSlot {
    /// Installs `prep` (or none) for the frames pushed from now on.
    pub fn set(&self, prep: Option<Arc<dyn FramePrep>>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = prep;
    }

    fn get(&self) -> Option<Arc<dyn FramePrep>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The consuming side of a camera's queue.
#[derive(Clone)]
pub struct FrameReceiver {
    rx: Receiver<Frame>,
    camera: Arc<str>,
    m: QueueMetrics,
    _alive: Arc<()>,
}

/// Outcome of handing a frame to the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued with room to spare.
    Queued,
    /// Queued after dropping the oldest frame (`latest` policy).
    ReplacedOldest,
    /// Nobody consumes this camera any more; the frame was dropped.
    ConsumerGone,
    /// `block` policy and still full when `stop` asked us to give up.
    Stopped,
    /// The consumer's [`FramePrep`] let it go (its detection rate, or a still scene): released,
    /// not queued.
    Released,
}

/// Creates a camera's queue; every frame pushed counts as captured, every drop is counted by reason.
pub fn frame_queue(
    camera: &str,
    policy: QueuePolicy,
    capacity: usize,
    metrics: &Metrics,
) -> (FrameSender, FrameReceiver) {
    let (tx, rx) = bounded(capacity.clamp(1, super::spec::MAX_QUEUE_CAPACITY));
    let m = QueueMetrics::new(metrics, camera);
    let alive = Arc::new(());
    (
        FrameSender {
            tx,
            rx: rx.clone(),
            policy,
            m: m.clone(),
            consumers: Arc::downgrade(&alive),
            prep: PrepSlot::default(),
        },
        FrameReceiver {
            rx,
            camera: Arc::from(camera),
            m,
            _alive: alive,
        },
    )
}

impl FrameSender {
    /// Offers a frame and queues it according to the policy (see [`FrameSender::offer`] and
    /// [`FrameSender::queue`]), for a frame that already owns its pixels.
    pub fn push(&self, mut frame: Frame, stop: &dyn Fn() -> bool) -> Pushed {
        match self.offer(&frame.view()) {
            Offer::Done(pushed) => pushed,
            Offer::Take(note) => {
                frame.note = note;
                self.queue(frame, stop)
            }
        }
    }

    /// Counts a captured frame and runs the consumer's prep on it while it is still in the
    /// decoder's buffer: a frame released here is never copied.
    pub fn offer(&self, frame: &FrameView<'_>) -> Offer {
        self.m.captured.inc();
        if self.consumer_gone() {
            self.m.dropped_gone.inc();
            return Offer::Done(Pushed::ConsumerGone);
        }
        match self.prep.get() {
            None => Offer::Take(None),
            Some(prep) => match prep.prepare(frame) {
                Some(note) => Offer::Take(Some(note)),
                None => {
                    self.m.processed.inc();
                    Offer::Done(Pushed::Released)
                }
            },
        }
    }

    /// Queues a frame [`FrameSender::offer`] took, according to the policy. Under `block` it
    /// waits for room, checking `stop` every 100 ms so shutdown is never stuck behind a full queue.
    pub fn queue(&self, frame: Frame, stop: &dyn Fn() -> bool) -> Pushed {
        self.m.queued.inc();
        let outcome = match self.policy {
            QueuePolicy::Latest => self.push_latest(frame),
            QueuePolicy::Block => self.push_blocking(frame, stop),
        };
        self.m.depth.set(self.tx.len() as i64);
        outcome
    }

    fn push_latest(&self, mut frame: Frame) -> Pushed {
        let mut replaced = false;
        loop {
            match self.tx.try_send(frame) {
                Ok(()) => {
                    return if replaced {
                        Pushed::ReplacedOldest
                    } else {
                        Pushed::Queued
                    };
                }
                Err(TrySendError::Full(f)) => {
                    frame = f;
                    // Drop the oldest; if the consumer raced us and emptied a slot, just retry.
                    if self.rx.try_recv().is_ok() {
                        self.m.dropped_full.inc();
                        replaced = true;
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.m.dropped_gone.inc();
                    return Pushed::ConsumerGone;
                }
            }
        }
    }

    fn push_blocking(&self, mut frame: Frame, stop: &dyn Fn() -> bool) -> Pushed {
        loop {
            match self.tx.send_timeout(frame, Duration::from_millis(100)) {
                Ok(()) => return Pushed::Queued,
                Err(SendTimeoutError::Timeout(f)) => {
                    if self.consumer_gone() {
                        self.m.dropped_gone.inc();
                        return Pushed::ConsumerGone;
                    }
                    if stop() {
                        return Pushed::Stopped;
                    }
                    frame = f;
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.m.dropped_gone.inc();
                    return Pushed::ConsumerGone;
                }
            }
        }
    }

    /// The slot of the consumer's per-frame work, to install or replace it while frames flow.
    pub fn prep_slot(&self) -> PrepSlot {
        self.prep.clone()
    }

    /// True when every receiver has been dropped.
    pub fn consumer_gone(&self) -> bool {
        self.consumers.strong_count() == 0
    }
}

/// What a consumer gets from [`FrameReceiver::recv_timeout`].
#[derive(Debug)]
pub enum Received {
    Frame(Frame),
    /// Nothing arrived in time; the camera is still running.
    Empty,
    /// The camera has stopped and its queue is drained.
    Closed,
}

impl FrameReceiver {
    /// The camera this queue belongs to.
    pub fn camera(&self) -> &Arc<str> {
        &self.camera
    }

    /// Takes the next frame, recording it as processed and observing capture-to-handoff latency.
    pub fn recv_timeout(&self, timeout: Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(frame) => Received::Frame(self.accept(frame)),
            Err(RecvTimeoutError::Timeout) => Received::Empty,
            Err(RecvTimeoutError::Disconnected) => Received::Closed,
        }
    }

    /// The underlying channel, for `crossbeam_channel::Select` over several cameras; pass what it
    /// yields through [`FrameReceiver::accept`].
    pub fn channel(&self) -> &Receiver<Frame> {
        &self.rx
    }

    /// Books a frame taken straight from [`FrameReceiver::channel`].
    pub fn accept(&self, frame: Frame) -> Frame {
        self.m.processed.inc();
        self.m.depth.set(self.rx.len() as i64);
        self.m
            .latency
            .observe(frame.arrived.elapsed().as_secs_f64());
        frame
    }

    /// Frames currently waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frame::{PixelFormat, Planes};
    use crate::capture::pool::PooledBuf;

    fn frame(seq: u64) -> Frame {
        Frame {
            camera: Arc::from("cam"),
            seq,
            pts: None,
            captured_at: std::time::SystemTime::now(),
            arrived: std::time::Instant::now(),
            width: 2,
            height: 2,
            format: PixelFormat::Rgba,
            planes: Planes::packed(PixelFormat::Rgba, 2, 2),
            data: PooledBuf::detached(vec![0; 16]),
            note: None,
        }
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn latest_drops_oldest_and_counts() {
        let m = Metrics::new();
        let (tx, rx) = frame_queue("cam", QueuePolicy::Latest, 2, &m);
        for s in 0..5 {
            tx.push(frame(s), &never);
        }
        let got: Vec<u64> = std::iter::from_fn(|| match rx.recv_timeout(Duration::ZERO) {
            Received::Frame(f) => Some(f.seq),
            _ => None,
        })
        .collect();
        assert_eq!(got, vec![3, 4]);
        assert_eq!(
            m.frames_dropped
                .with_label_values(&["cam", reason::QUEUE_FULL])
                .get(),
            3
        );
        assert_eq!(m.frames_captured.with_label_values(&["cam"]).get(), 5);
        assert_eq!(m.frames_processed.with_label_values(&["cam"]).get(), 2);
    }

    /// Keeps even frames and notes their half sequence number on them.
    struct EvenOnly;

    impl FramePrep for EvenOnly {
        fn prepare(&self, frame: &FrameView<'_>) -> Option<FrameNote> {
            frame
                .seq
                .is_multiple_of(2)
                .then(|| Box::new(frame.seq / 2) as FrameNote)
        }
    }

    #[test]
    fn a_prep_refuses_frames_before_they_take_a_place_and_notes_the_rest() {
        let m = Metrics::new();
        let (tx, rx) = frame_queue("cam", QueuePolicy::Latest, 2, &m);
        tx.push(frame(0), &never);
        tx.prep_slot().set(Some(Arc::new(EvenOnly)));
        let pushed: Vec<Pushed> = (1..5).map(|s| tx.push(frame(s), &never)).collect();
        assert_eq!(
            pushed,
            [
                Pushed::Released,
                Pushed::Queued,
                Pushed::Released,
                Pushed::ReplacedOldest
            ]
        );
        let got: Vec<(u64, Option<u64>)> =
            std::iter::from_fn(|| match rx.recv_timeout(Duration::ZERO) {
                Received::Frame(f) => {
                    Some((f.seq, f.note.and_then(|n| n.downcast_ref::<u64>().copied())))
                }
                _ => None,
            })
            .collect();
        assert_eq!(got, vec![(2, Some(1)), (4, Some(2))]);
        // Released frames count as processed: captured = processed + dropped.
        assert_eq!(m.frames_captured.with_label_values(&["cam"]).get(), 5);
        assert_eq!(m.frames_processed.with_label_values(&["cam"]).get(), 4);
        assert_eq!(m.frames_queued.with_label_values(&["cam"]).get(), 3);
        assert_eq!(
            m.frames_dropped
                .with_label_values(&["cam", reason::QUEUE_FULL])
                .get(),
            1
        );
    }

    #[test]
    fn block_waits_until_stopped() {
        let m = Metrics::new();
        let (tx, _rx) = frame_queue("cam", QueuePolicy::Block, 1, &m);
        assert_eq!(tx.push(frame(0), &never), Pushed::Queued);
        assert_eq!(tx.push(frame(1), &|| true), Pushed::Stopped);
    }

    #[test]
    fn closed_after_sender_dropped_and_drained() {
        let m = Metrics::new();
        let (tx, rx) = frame_queue("cam", QueuePolicy::Block, 4, &m);
        tx.push(frame(0), &never);
        drop(tx);
        assert!(matches!(
            rx.recv_timeout(Duration::ZERO),
            Received::Frame(_)
        ));
        assert!(matches!(rx.recv_timeout(Duration::ZERO), Received::Closed));
    }

    #[test]
    fn consumer_gone_is_counted() {
        let m = Metrics::new();
        let (tx, rx) = frame_queue("cam", QueuePolicy::Latest, 1, &m);
        drop(rx);
        assert!(tx.consumer_gone());
        assert_eq!(tx.push(frame(0), &never), Pushed::ConsumerGone);
        assert_eq!(
            m.frames_dropped
                .with_label_values(&["cam", reason::CONSUMER_GONE])
                .get(),
            1
        );
    }
}
