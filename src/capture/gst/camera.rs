//! The per-camera capture thread: open, stream, and on failure back off and reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::CaptureError;
use super::convert::Converter;
use super::pipeline::{self, CameraPipeline};
use crate::capture::pool::BufferPool;
use crate::capture::queue::{FrameSender, Offer, Pushed};
use crate::capture::spec::CaptureSpec;
use crate::capture::state::{CameraState, StateCell};
use crate::config::Backoff;
use crate::metrics::Metrics;

/// How a camera's capture thread ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraReport {
    pub camera: String,
    pub state: CameraState,
    /// The last error, if the camera ended on one.
    pub error: Option<String>,
    pub reconnects: u64,
}

/// A running camera; join it for its report.
pub struct CameraHandle {
    pub state: StateCell,
    thread: JoinHandle<CameraReport>,
}

impl CameraHandle {
    /// Waits for the capture thread to finish.
    pub fn join(self) -> CameraReport {
        let name = format!("{:?}", self.thread.thread().name());
        self.thread.join().unwrap_or_else(|_| CameraReport {
            camera: name,
            state: CameraState::Failed,
            error: Some("capture thread panicked".into()),
            reconnects: 0,
        })
    }
}

/// How one connection attempt ended.
enum Attempt {
    /// End of stream of a finite source.
    Eos,
    /// End of stream of a file well before its announced duration.
    Truncated(CaptureError),
    /// Shutdown asked us to stop.
    Stopped,
    /// The consumer went away.
    ConsumerGone,
    Failed(CaptureError),
}

/// Starts a capture thread for `cam`, pushing frames into `tx` until the source ends, fails for good,
/// or `stop` is set.
pub fn spawn_camera(
    cam: CaptureSpec,
    tx: FrameSender,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<CameraHandle, CaptureError> {
    super::init()?;
    let state = StateCell::new(&cam.name, Arc::clone(&metrics));
    let cell = state.clone();
    let thread = std::thread::Builder::new()
        .name(format!("capture-{}", cam.name))
        .spawn(move || run(cam, tx, metrics, stop, cell))
        .map_err(|e| CaptureError::Start(e.to_string()))?;
    Ok(CameraHandle { state, thread })
}

fn run(
    cam: CaptureSpec,
    tx: FrameSender,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    state: StateCell,
) -> CameraReport {
    let name: Arc<str> = Arc::from(cam.name.as_str());
    let reconnects = metrics.reconnects.with_label_values(&[&cam.name]);
    let mut backoff = cam.retry.backoff();
    let pool = BufferPool::new(cam.queue_capacity + 4);
    let mut seq = 0u64;
    let mut last_error = None;
    let source = cam.source.redacted();
    let final_state = loop {
        if stop.load(Ordering::Relaxed) {
            break CameraState::Stopped;
        }
        state.set(CameraState::Connecting);
        tracing::info!(camera = %name, %source, "opening source");
        match attempt(
            &cam,
            &name,
            &tx,
            &pool,
            &mut seq,
            &stop,
            &state,
            &mut backoff,
        ) {
            Attempt::Eos => {
                tracing::info!(camera = %name, frames = seq, "end of stream");
                break CameraState::Ended;
            }
            Attempt::Truncated(err) => {
                metrics
                    .source_errors
                    .with_label_values(&[&cam.name, err.kind()])
                    .inc();
                tracing::warn!(camera = %name, %source, frames = seq, error = %err, "the file ended early");
                last_error = Some(err.to_string());
                break CameraState::Truncated;
            }
            Attempt::Stopped | Attempt::ConsumerGone => break CameraState::Stopped,
            Attempt::Failed(err) => {
                metrics
                    .source_errors
                    .with_label_values(&[&cam.name, err.kind()])
                    .inc();
                last_error = Some(err.to_string());
                if !cam.source.reconnects() {
                    tracing::error!(camera = %name, %source, error = %err, "source failed");
                    break CameraState::Failed;
                }
                let delay = backoff.next_delay();
                tracing::warn!(camera = %name, %source, error = %err, retry_in_s = delay.as_secs_f64(), "source failed; reconnecting");
                state.set(CameraState::Backoff);
                if sleep_unless_stopped(delay, &stop) {
                    break CameraState::Stopped;
                }
                reconnects.inc();
            }
        }
    };
    state.set(final_state);
    CameraReport {
        camera: cam.name.clone(),
        state: final_state,
        error: if matches!(final_state, CameraState::Failed | CameraState::Truncated) {
            last_error
        } else {
            None
        },
        reconnects: reconnects.get(),
    }
}

/// Sleeps up to `delay`, waking early when `stop` is set; true if stopped.
fn sleep_unless_stopped(delay: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::Relaxed)
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    cam: &CaptureSpec,
    name: &Arc<str>,
    tx: &FrameSender,
    pool: &BufferPool,
    seq: &mut u64,
    stop: &AtomicBool,
    state: &StateCell,
    backoff: &mut Backoff,
) -> Attempt {
    let CameraPipeline { pipeline, sink } = match pipeline::build(cam) {
        Ok(p) => p,
        Err(e) => return Attempt::Failed(e),
    };
    let outcome = stream(
        cam, name, &pipeline, &sink, tx, pool, seq, stop, state, backoff,
    );
    let _ = pipeline.set_state(gst::State::Null);
    outcome
}

#[allow(clippy::too_many_arguments)]
fn stream(
    cam: &CaptureSpec,
    name: &Arc<str>,
    pipeline: &gst::Pipeline,
    sink: &gstreamer_app::AppSink,
    tx: &FrameSender,
    pool: &BufferPool,
    seq: &mut u64,
    stop: &AtomicBool,
    state: &StateCell,
    backoff: &mut Backoff,
) -> Attempt {
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let detail = bus_error(pipeline).unwrap_or_else(|| e.to_string());
        return Attempt::Failed(CaptureError::Start(detail));
    }
    let Some(bus) = pipeline.bus() else {
        return Attempt::Failed(CaptureError::Build("pipeline without a bus".into()));
    };
    let mut converter = Converter::default();
    let mut last_frame = Instant::now();
    let mut progress = FileProgress::default();
    let is_stopped = || stop.load(Ordering::Relaxed);
    loop {
        if is_stopped() {
            return Attempt::Stopped;
        }
        if let Some(err) = bus_error_from(&bus) {
            return Attempt::Failed(CaptureError::Stream(err));
        }
        progress.note_warnings(&bus);
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            Some(sample) => {
                let mapped = match converter.map(&sample, cam.format) {
                    Ok(m) => m,
                    Err(e) => return Attempt::Failed(e),
                };
                if *seq == 0 || state.get() != crate::capture::CameraState::Streaming {
                    state.set(crate::capture::CameraState::Streaming);
                    backoff.reset();
                    if !cam.source.is_live()
                        && let Some(n) = expected_frames(pipeline, &sample)
                    {
                        state.set_expected_frames(n);
                    }
                    if !cam.source.is_live() {
                        progress.duration = pipeline
                            .query_duration::<gst::ClockTime>()
                            .map(|d| Duration::from_nanos(d.nseconds()));
                    }
                }
                progress.frame(&sample);
                let this = *seq;
                *seq += 1;
                last_frame = Instant::now();
                // The consumer's prep sees the frame in the decoder's buffer: one it lets go
                // (off its rate, or still) is never copied.
                let pushed = match tx.offer(&mapped.view(this)) {
                    Offer::Done(pushed) => pushed,
                    Offer::Take(note) => tx.queue(mapped.copy(name, this, pool, note), &is_stopped),
                };
                match pushed {
                    Pushed::Queued | Pushed::ReplacedOldest | Pushed::Released => {}
                    Pushed::Stopped => return Attempt::Stopped,
                    Pushed::ConsumerGone => return Attempt::ConsumerGone,
                }
            }
            None => {
                if sink.is_eos() {
                    if cam.source.reconnects() {
                        return Attempt::Failed(CaptureError::Stream("the stream ended".into()));
                    }
                    return match progress.shortfall() {
                        Some(why) => Attempt::Truncated(CaptureError::Truncated(why)),
                        None => Attempt::Eos,
                    };
                }
                let idle = last_frame.elapsed();
                if idle > cam.stall_timeout {
                    return Attempt::Failed(CaptureError::Stall(idle.as_secs_f64()));
                }
            }
        }
    }
}

/// How far a file got, to tell a clean end from one that comes early.
#[derive(Default)]
struct FileProgress {
    /// What the container announces.
    duration: Option<Duration>,
    /// End of the last frame (its timestamp plus its duration).
    reached: Duration,
    /// The last warning a GStreamer element posted (a demuxer's note about bad data).
    warning: Option<String>,
}

impl FileProgress {
    fn frame(&mut self, sample: &gst::Sample) {
        if let Some(b) = sample.buffer()
            && let Some(pts) = b.pts()
        {
            let end = pts.nseconds() + b.duration().map_or(0, |d| d.nseconds());
            self.reached = self.reached.max(Duration::from_nanos(end));
        }
    }

    fn note_warnings(&mut self, bus: &gst::Bus) {
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Warning]) {
            if let gst::MessageView::Warning(w) = msg.view() {
                let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                self.warning = Some(format!("{from}: {}", w.error()));
            }
        }
    }

    /// Why the end is early: frames stopped more than a second and 2% before the announced
    /// duration (small differences are container rounding or a longer audio track).
    fn shortfall(&self) -> Option<String> {
        let duration = self.duration?;
        let missing = duration.checked_sub(self.reached)?;
        if missing < Duration::from_secs(1) || missing.as_secs_f64() < 0.02 * duration.as_secs_f64()
        {
            return None;
        }
        let decoder = self
            .warning
            .as_ref()
            .map(|w| format!("; the decoder said: {w}"))
            .unwrap_or_default();
        Some(format!(
            "the file ended at {:.1} s of the {:.1} s it announces: it is cut short or corrupt{decoder}",
            self.reached.as_secs_f64(),
            duration.as_secs_f64()
        ))
    }
}

/// Frames a file will deliver: its duration times its frame rate, when both are known.
fn expected_frames(pipeline: &gst::Pipeline, sample: &gst::Sample) -> Option<u64> {
    let duration = pipeline.query_duration::<gst::ClockTime>()?;
    let s = sample.caps()?.structure(0)?;
    let rate = s.get::<gst::Fraction>("framerate").ok()?;
    if rate.numer() <= 0 || rate.denom() <= 0 {
        return None;
    }
    let frames =
        duration.nseconds() as u128 * rate.numer() as u128 / (rate.denom() as u128 * 1_000_000_000);
    u64::try_from(frames).ok().filter(|n| *n > 0)
}

/// The first error message waiting on the bus, with GStreamer's debug detail.
fn bus_error_from(bus: &gst::Bus) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(err) => {
            let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
            if let Some(detail) = err.debug() {
                tracing::debug!(element = %from, detail = %detail, "GStreamer error detail");
            }
            Some(format!("{from}: {}", err.error()))
        }
        _ => None,
    }
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    bus_error_from(&pipeline.bus()?)
}
