//! The cameras of a run: each capture thread with its own stop flag and queue, so a reload can
//! start, stop or restart one camera while the others keep streaming. A stopped camera's queue
//! drains before it is gone; a camera taken out of the file leaves no series in `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{CameraSummary, RunError};
use crate::capture::gst::{self, CameraHandle};
use crate::capture::{
    CameraState, CaptureSpec, FramePrep, FrameReceiver, PrepSlot, StateCell, frame_queue,
};
use crate::metrics::Metrics;

/// One capture thread and the queue it fills.
struct Stream {
    name: String,
    spec: CaptureSpec,
    handle: CameraHandle,
    stop: Arc<AtomicBool>,
    rx: FrameReceiver,
    /// The consumer's work on each frame, done in the capture thread.
    prep: PrepSlot,
    /// Taken out of the file (not restarted): its metrics go once it has drained.
    removed: bool,
}

/// The running cameras.
pub(super) struct Cameras {
    metrics: Arc<Metrics>,
    /// Streams whose queues may still hold frames: running ones and stopped ones draining.
    streams: Vec<Stream>,
    /// Summaries of cameras taken out by a reload, as they were when they stopped.
    gone: BTreeMap<String, CameraSummary>,
    /// Cameras whose capture ended (a file's end, or shutdown): read into the summary at the end.
    finished: BTreeMap<String, (CaptureSpec, StateCell, Option<String>)>,
    /// Each running camera's state, for `/readyz`.
    states: Arc<Mutex<BTreeMap<String, StateCell>>>,
    started: std::time::Instant,
    stopping: bool,
    /// Set when a camera ended because the run was asked to stop.
    by_signal: bool,
}

impl Cameras {
    pub(super) fn new(metrics: Arc<Metrics>) -> Self {
        Cameras {
            metrics,
            streams: Vec::new(),
            gone: BTreeMap::new(),
            finished: BTreeMap::new(),
            states: Arc::default(),
            started: std::time::Instant::now(),
            stopping: false,
            by_signal: false,
        }
    }

    /// Each running camera's state, shared with `/readyz`.
    pub(super) fn states(&self) -> Arc<Mutex<BTreeMap<String, StateCell>>> {
        Arc::clone(&self.states)
    }

    /// Starts capture of `spec` with a queue of its own, `prep` run on each frame before it is
    /// queued.
    pub(super) fn start(
        &mut self,
        spec: &CaptureSpec,
        prep: Option<Arc<dyn FramePrep>>,
    ) -> Result<(), RunError> {
        let (tx, rx) = frame_queue(&spec.name, spec.queue, spec.queue_capacity, &self.metrics);
        let prep_slot = tx.prep_slot();
        prep_slot.set(prep);
        let stop = Arc::new(AtomicBool::new(self.stopping));
        let handle = gst::spawn_camera(
            spec.clone(),
            tx,
            Arc::clone(&self.metrics),
            Arc::clone(&stop),
        )
        .map_err(|source| RunError::Capture {
            camera: spec.name.clone(),
            source,
        })?;
        self.lock_states()
            .insert(spec.name.clone(), handle.state.clone());
        self.streams.push(Stream {
            name: spec.name.clone(),
            spec: spec.clone(),
            handle,
            stop,
            rx,
            prep: prep_slot,
            removed: false,
        });
        Ok(())
    }

    /// Stops the running capture of `name` (its queue drains); `removed` when the camera left the
    /// file, so its metrics go too.
    pub(super) fn stop(&mut self, name: &str, removed: bool) {
        for s in self
            .streams
            .iter_mut()
            .filter(|s| s.name == name && !s.stop.load(Ordering::Relaxed))
        {
            s.stop.store(true, Ordering::SeqCst);
            s.removed = removed;
        }
        self.lock_states().remove(name);
    }

    /// Replaces the work done on `name`'s frames before they are queued (a reload turned its
    /// detection on or off).
    pub(super) fn set_prep(&self, name: &str, prep: Option<Arc<dyn FramePrep>>) {
        for s in self.streams.iter().filter(|s| s.name == name) {
            s.prep.set(prep.clone());
        }
    }

    /// Asks every camera to stop (shutdown); their queues drain.
    pub(super) fn stop_all(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for s in &self.streams {
            s.stop.store(true, Ordering::SeqCst);
        }
    }

    /// The queues to take frames from, in a stable order.
    pub(super) fn receivers(&self) -> Vec<&FrameReceiver> {
        self.streams.iter().map(|s| &s.rx).collect()
    }

    /// The queue at `i` (of [`Cameras::receivers`]) is empty and closed: its thread is joined
    /// and, for a camera taken out of the file, its metrics removed.
    pub(super) fn closed(&mut self, i: usize) {
        if i >= self.streams.len() {
            return;
        }
        let s = self.streams.remove(i);
        let cell = s.handle.state.clone();
        let report = s.handle.join();
        if report.state == CameraState::Stopped && self.stopping {
            self.by_signal = true;
        }
        if s.removed {
            let summary = CameraSummary::from_metrics(
                &self.metrics,
                &s.name,
                s.spec.source.redacted(),
                &cell,
                report.error,
                self.started.elapsed().as_secs_f64(),
            );
            self.metrics.forget_camera(&s.name);
            self.gone.insert(s.name, summary);
        } else if !self.streams.iter().any(|o| o.name == s.name) {
            // Ended by itself (a file), or the run stops: its summary is read at the end.
            self.finished
                .insert(s.name.clone(), (s.spec, cell, report.error));
        }
    }

    /// Whether any queue is still open.
    pub(super) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Every camera's summary (those taken out by reloads included) and whether the run ended by a
    /// stop request (`signal`) or because its sources ended (`completed`).
    pub(super) fn finish(mut self) -> (BTreeMap<String, CameraSummary>, &'static str) {
        while !self.streams.is_empty() {
            self.stop_all();
            self.closed(0);
        }
        let duration = self.started.elapsed().as_secs_f64();
        let mut out = std::mem::take(&mut self.gone);
        for (name, (spec, cell, error)) in std::mem::take(&mut self.finished) {
            let summary = CameraSummary::from_metrics(
                &self.metrics,
                &name,
                spec.source.redacted(),
                &cell,
                error,
                duration,
            );
            out.insert(name, summary);
        }
        (
            out,
            if self.by_signal {
                "signal"
            } else {
                "completed"
            },
        )
    }

    fn lock_states(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StateCell>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}
