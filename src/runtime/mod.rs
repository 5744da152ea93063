//! Running a pipeline: cameras in, frames consumed, clean shutdown, a summary out.

pub mod analytics;
pub mod load;
pub mod summary;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::{Frame, FrameReceiver};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
pub use summary::{CameraSummary, Summary};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Metrics(#[from] crate::metrics::server::ServeError),
    #[cfg(feature = "capture")]
    #[error("camera `{camera}`: {source}")]
    Capture {
        camera: String,
        source: crate::capture::gst::CaptureError,
    },
    #[error("this build has no capture support (cargo feature `capture`)")]
    NoCapture,
}

/// What the caller plugs in to receive frames, on the run's consumer thread.
pub trait FrameConsumer {
    /// Whether this frame is worth processing (e.g. the camera's detection rate); refused frames
    /// are released at once.
    fn admit(&mut self, _frame: &Frame) -> bool {
        true
    }

    /// Most frames to hand over at once.
    fn max_batch(&self) -> usize {
        1
    }

    /// Processes admitted frames: at most one per camera, each camera's frames in order.
    fn batch(&mut self, frames: Vec<Frame>);
}

impl<F: FnMut(Frame)> FrameConsumer for F {
    fn batch(&mut self, frames: Vec<Frame>) {
        for f in frames {
            self(f)
        }
    }
}

/// Options of a run.
pub struct RunOptions {
    /// Set to stop the run (signal handlers do this); the run then drains its queues and returns.
    pub stop: Arc<AtomicBool>,
    /// Called once the metrics endpoint is bound (tests use port 0 and need the real address).
    pub on_listening: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
    /// Called once every camera has started, with each camera's name and state (progress bars).
    pub on_started: Option<OnStarted>,
}

/// Callback receiving each camera's name and state once the run has started them.
pub type OnStarted = Box<dyn FnOnce(Vec<(String, crate::capture::StateCell)>) + Send>;

/// Runs `pipeline` until every source ends or `opts.stop` is set, handing frames to `consumer`.
#[cfg(feature = "capture")]
pub fn run(
    pipeline: &Pipeline,
    metrics: Arc<Metrics>,
    opts: RunOptions,
    consumer: &mut dyn FrameConsumer,
) -> Result<Summary, RunError> {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use crate::capture::{frame_queue, gst};
    use crate::metrics::server::{MetricsServer, ReadyCheck};

    let started = Instant::now();
    metrics.set_device_info(&pipeline.device.name, &pipeline.device.site);
    let mut handles = Vec::new();
    let mut receivers = Vec::new();
    for cam in &pipeline.cameras {
        let c = &cam.capture;
        let (tx, rx) = frame_queue(&c.name, c.queue, c.queue_capacity, &metrics);
        let handle = gst::spawn_camera(c.clone(), tx, Arc::clone(&metrics), Arc::clone(&opts.stop))
            .map_err(|source| RunError::Capture {
                camera: c.name.clone(),
                source,
            })?;
        handles.push(handle);
        receivers.push(rx);
    }
    let states: Vec<(String, crate::capture::StateCell)> = pipeline
        .cameras
        .iter()
        .zip(&handles)
        .map(|(c, h)| (c.name().to_string(), h.state.clone()))
        .collect();
    let ready: ReadyCheck = Arc::new(move || {
        use crate::capture::CameraState::{Ended, Streaming, Truncated};
        let waiting: Vec<String> = states
            .iter()
            .filter(|(_, s)| !matches!(s.get(), Streaming | Ended | Truncated))
            .map(|(name, s)| format!("{name} ({})", s.get().as_str()))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("camera(s) not streaming: {}", waiting.join(", ")))
        }
    });
    if let Some(cb) = opts.on_started {
        cb(pipeline
            .cameras
            .iter()
            .zip(&handles)
            .map(|(c, h)| (c.name().to_string(), h.state.clone()))
            .collect());
    }
    let _server = match pipeline.metrics_listen {
        Some(addr) => {
            let server = MetricsServer::start(addr, Arc::clone(&metrics), ready)?;
            if let Some(cb) = opts.on_listening {
                cb(server.addr());
            }
            Some(server)
        }
        None => None,
    };

    consume(&receivers, consumer);

    let duration_s = started.elapsed().as_secs_f64();
    let mut cameras = BTreeMap::new();
    let mut ended_by = "completed";
    for (handle, cam) in handles.into_iter().zip(&pipeline.cameras) {
        let cell = handle.state.clone();
        let report = handle.join();
        if report.state == crate::capture::CameraState::Stopped {
            ended_by = "signal";
        }
        cameras.insert(
            cam.name().to_string(),
            CameraSummary::from_metrics(
                &metrics,
                cam.name(),
                cam.capture.source.redacted(),
                &cell,
                report.error,
                duration_s,
            ),
        );
    }
    Ok(Summary {
        pipeline: pipeline.path.display().to_string(),
        duration_s,
        ended_by: ended_by.to_string(),
        cameras,
        sinks: BTreeMap::new(),
        analytics: None,
    })
}

/// Without GStreamer there is nothing to capture from.
#[cfg(not(feature = "capture"))]
pub fn run(
    _pipeline: &Pipeline,
    _metrics: Arc<Metrics>,
    _opts: RunOptions,
    _consumer: &mut dyn FrameConsumer,
) -> Result<Summary, RunError> {
    Err(RunError::NoCapture)
}

/// Takes frames from every camera's queue as they come, until all queues are closed and drained.
///
/// Blocks for the first admitted frame, then fills the batch without waiting from the other
/// cameras' queues (one frame per camera), so a batch never delays a lone camera.
fn consume(receivers: &[FrameReceiver], consumer: &mut dyn FrameConsumer) {
    let mut open: Vec<&FrameReceiver> = receivers.iter().collect();
    let mut start = 0usize;
    while !open.is_empty() {
        let mut sel = crossbeam_channel::Select::new();
        for r in &open {
            sel.recv(r.channel());
        }
        let op = sel.select();
        let i = op.index();
        let frame = match op.recv(open[i].channel()) {
            Ok(frame) => open[i].accept(frame),
            Err(_) => {
                open.remove(i);
                continue;
            }
        };
        if !consumer.admit(&frame) {
            continue;
        }
        let max = consumer.max_batch().max(1);
        let mut batch = crate::schedule::Batch::new(max);
        batch.push(frame);
        // Round-robin over the other cameras so none is favoured when the batch is small.
        start = (start + 1) % open.len();
        for k in 0..open.len() {
            if batch.is_full() {
                break;
            }
            let j = (start + k) % open.len();
            if j == i || !batch.accepts(open[j].camera()) {
                continue;
            }
            while let Ok(f) = open[j].channel().try_recv() {
                let f = open[j].accept(f);
                if consumer.admit(&f) {
                    batch.push(f);
                    break;
                }
            }
        }
        consumer.batch(batch.take());
    }
}

/// Installs SIGINT/SIGTERM handlers that set `stop`; a second signal exits at once with code 130.
pub fn stop_on_signals(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if stop.swap(true, Ordering::SeqCst) {
                    tracing::warn!(signal = sig, "second signal: exiting now");
                    std::process::exit(130);
                }
                tracing::info!(
                    signal = sig,
                    "stopping: draining queues (signal again to exit at once)"
                );
            }
        })?;
    Ok(())
}
