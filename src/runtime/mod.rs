//! Running a pipeline: cameras in, frames consumed, clean shutdown, a summary out.

pub mod summary;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::capture::{Frame, FrameReceiver};
use crate::config::Pipeline;
use crate::metrics::Metrics;
use crate::metrics::server::{MetricsServer, ReadyCheck};
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

/// What the caller plugs in to receive frames, one camera queue at a time or all together.
pub trait FrameConsumer {
    /// Called for every frame taken off a queue, on the run's consumer thread.
    fn frame(&mut self, frame: Frame);
}

impl<F: FnMut(Frame)> FrameConsumer for F {
    fn frame(&mut self, frame: Frame) {
        self(frame)
    }
}

/// Options of a run.
pub struct RunOptions {
    /// Set to stop the run (signal handlers do this); the run then drains its queues and returns.
    pub stop: Arc<AtomicBool>,
    /// Called once the metrics endpoint is bound (tests use port 0 and need the real address).
    pub on_listening: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
}

/// Runs `pipeline` until every source ends or `opts.stop` is set, handing frames to `consumer`.
#[cfg(feature = "capture")]
pub fn run(
    pipeline: &Pipeline,
    metrics: Arc<Metrics>,
    opts: RunOptions,
    consumer: &mut dyn FrameConsumer,
) -> Result<Summary, RunError> {
    use crate::capture::{frame_queue, gst};

    let started = Instant::now();
    let mut handles = Vec::new();
    let mut receivers = Vec::new();
    for cam in &pipeline.cameras {
        let (tx, rx) = frame_queue(&cam.name, cam.queue, cam.queue_capacity, &metrics);
        let handle = gst::spawn_camera(
            cam.clone(),
            tx,
            Arc::clone(&metrics),
            Arc::clone(&opts.stop),
        )
        .map_err(|source| RunError::Capture {
            camera: cam.name.clone(),
            source,
        })?;
        handles.push(handle);
        receivers.push(rx);
    }
    let states: Vec<(String, crate::capture::StateCell)> = pipeline
        .cameras
        .iter()
        .zip(&handles)
        .map(|(c, h)| (c.name.clone(), h.state.clone()))
        .collect();
    let ready: ReadyCheck = Arc::new(move || {
        use crate::capture::CameraState::{Ended, Streaming};
        let waiting: Vec<String> = states
            .iter()
            .filter(|(_, s)| !matches!(s.get(), Streaming | Ended))
            .map(|(name, s)| format!("{name} ({})", s.get().as_str()))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("camera(s) not streaming: {}", waiting.join(", ")))
        }
    });
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
            cam.name.clone(),
            CameraSummary::from_metrics(
                &metrics,
                &cam.name,
                cam.source.redacted(),
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
fn consume(receivers: &[FrameReceiver], consumer: &mut dyn FrameConsumer) {
    let mut open: Vec<&FrameReceiver> = receivers.iter().collect();
    while !open.is_empty() {
        let mut sel = crossbeam_channel::Select::new();
        for r in &open {
            sel.recv(r.channel());
        }
        let op = sel.select();
        let i = op.index();
        match op.recv(open[i].channel()) {
            Ok(frame) => consumer.frame(open[i].accept(frame)),
            Err(_) => {
                open.remove(i);
            }
        }
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
