//! Running a pipeline: cameras in, frames consumed, clean shutdown, a summary out.

pub mod analytics;
#[cfg(feature = "capture")]
mod cameras;
pub mod load;
mod motion;
mod prep;
pub mod reload;
pub mod summary;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::{Frame, FrameReceiver};
use crate::metrics::Metrics;
use crate::pipeline::{self, Pipeline};
pub use summary::{CameraSummary, Summary};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Metrics(#[from] crate::metrics::server::ServeError),
    #[error(transparent)]
    Ui(#[from] crate::ui::UiError),
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

    /// Work to do on `camera`'s frames in its capture thread, before they are queued (see
    /// [`crate::capture::FramePrep`]); asked again after each reload.
    fn prep(&self, _camera: &str) -> Option<Arc<dyn crate::capture::FramePrep>> {
        None
    }

    /// Processes admitted frames: at most one per camera, each camera's frames in order.
    fn batch(&mut self, frames: Vec<Frame>);

    /// Takes a reloaded pipeline, between two batches: new cameras, changed settings, models.
    /// An error refuses the whole reload before anything changed (a model that does not load).
    fn reconfigure(
        &mut self,
        _pipeline: &Pipeline,
        _diff: &pipeline::diff::PipelineDiff,
    ) -> Result<(), String> {
        Ok(())
    }
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
    /// Live reloads of the pipeline file; `None` runs the pipeline as it was loaded.
    pub reload: Option<Reload>,
    /// What the local page shows, when the pipeline has `ui:` (the analyser writes into it).
    pub feed: Option<crate::ui::Feed>,
    /// Redacted stills for the page (`ui.stills`), from the analyser.
    pub stills: Option<crate::privacy::media::still::Stills>,
}

impl RunOptions {
    /// A run stopped by `stop`, without callbacks or reloads.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        RunOptions {
            stop,
            on_listening: None,
            on_started: None,
            reload: None,
            feed: None,
            stills: None,
        }
    }
}

/// How a run reloads its pipeline file: what asks for it, and how the file is read and checked.
pub struct Reload {
    pub triggers: reload::Triggers,
    /// Reads and validates the pipeline file again (exactly as `lookout validate` does).
    pub load: Box<dyn Fn() -> Result<Pipeline, crate::config::ConfigError> + Send>,
}

/// Callback receiving each camera's name and state once the run has started them.
pub type OnStarted = Box<dyn FnOnce(Vec<(String, crate::capture::StateCell)>) + Send>;

/// Runs `pipeline` until every source ends or `opts.stop` is set, handing frames to `consumer`.
/// With `opts.reload`, a changed pipeline file is applied while it runs (see [`reload`]).
#[cfg(feature = "capture")]
pub fn run(
    pipeline: &Pipeline,
    metrics: Arc<Metrics>,
    opts: RunOptions,
    consumer: &mut dyn FrameConsumer,
) -> Result<Summary, RunError> {
    use std::time::Instant;

    use crate::metrics::server::{MetricsServer, ReadyCheck, ReloadHook};

    let started = Instant::now();
    metrics.set_device_info(&pipeline.device.name, &pipeline.device.site);
    let mut cams = cameras::Cameras::new(Arc::clone(&metrics));
    for cam in &pipeline.cameras {
        cams.start(&cam.capture, consumer.prep(cam.name()))?;
    }
    let states = cams.states();
    let ready: ReadyCheck = Arc::new(move || {
        use crate::capture::CameraState::{Ended, Streaming, Truncated};
        let states = states.lock().unwrap_or_else(|p| p.into_inner());
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
        let states = cams.states();
        let states = states.lock().unwrap_or_else(|p| p.into_inner());
        cb(states.iter().map(|(n, s)| (n.clone(), s.clone())).collect());
    }
    let hook: Option<ReloadHook> = opts.reload.as_ref().map(|r| {
        let tx = r.triggers.sender();
        let hook: ReloadHook = Arc::new(move || {
            let (reply, outcome) = crossbeam_channel::bounded(1);
            tx.send(reload::Trigger::Request(reply))
                .map_err(|_| "the run is ending".to_string())?;
            outcome
                .recv_timeout(std::time::Duration::from_secs(120))
                .map_err(|_| "no answer from the run within 120 s".to_string())?
        });
        hook
    });
    let _server = match pipeline.metrics_listen {
        Some(addr) => {
            let server = MetricsServer::start(addr, Arc::clone(&metrics), ready, hook.clone())?;
            if let Some(cb) = opts.on_listening {
                cb(server.addr());
            }
            Some(server)
        }
        None => None,
    };
    let _page = match (&pipeline.ui, &opts.feed) {
        (Some(ui), Some(feed)) => Some(start_page(
            pipeline,
            ui,
            feed,
            &metrics,
            hook,
            opts.stills.clone(),
        )?),
        _ => None,
    };

    let mut live = Live {
        pipeline: pipeline.clone(),
        reload: opts.reload,
        metrics: Arc::clone(&metrics),
    };
    consume_live(&mut cams, consumer, &opts.stop, &mut live);

    let (cameras, ended_by) = cams.finish();
    let duration_s = started.elapsed().as_secs_f64();
    let cameras = cameras
        .into_iter()
        .map(|(n, mut c)| {
            c.fps = if duration_s > 0.0 {
                c.frames_processed as f64 / duration_s
            } else {
                0.0
            };
            (n, c)
        })
        .collect();
    Ok(Summary {
        pipeline: live.pipeline.path.display().to_string(),
        duration_s,
        ended_by: ended_by.to_string(),
        cameras,
        sinks: std::collections::BTreeMap::new(),
        analytics: None,
    })
}

/// Serves the local page: shapes drawn there are checked like `lookout validate` checks the
/// file, and saved through `reload` when the run reloads.
#[cfg(feature = "capture")]
fn start_page(
    pipeline: &Pipeline,
    ui: &crate::ui::UiSpec,
    feed: &crate::ui::Feed,
    metrics: &Arc<Metrics>,
    reload: Option<crate::metrics::server::ReloadHook>,
    stills: Option<crate::privacy::media::still::Stills>,
) -> Result<crate::ui::UiServer, crate::ui::UiError> {
    let path = pipeline.path.clone();
    let validate: crate::ui::server::Validate = Arc::new(move |text: &str| {
        pipeline::load_str(text, &path, |k| std::env::var(k).ok())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    crate::ui::UiServer::start(
        ui.listen,
        crate::ui::UiContext {
            metrics: Arc::clone(metrics),
            feed: feed.clone(),
            file: pipeline.path.clone(),
            validate,
            reload,
            stills,
        },
    )
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

/// The pipeline a run has now, and how it changes.
#[cfg(feature = "capture")]
struct Live {
    pipeline: Pipeline,
    reload: Option<Reload>,
    metrics: Arc<Metrics>,
}

#[cfg(feature = "capture")]
impl Live {
    /// Reads the file again and, when it is valid and the consumer takes it, applies the
    /// difference: cameras started, stopped or restarted, the rest handed to the consumer.
    /// Anything wrong leaves the running pipeline as it was.
    fn reload(
        &mut self,
        cams: &mut cameras::Cameras,
        consumer: &mut dyn FrameConsumer,
    ) -> Result<String, String> {
        let Some(r) = &self.reload else {
            return Err("reloads are off".into());
        };
        let outcome = (r.load)().map_err(|e| e.to_string()).and_then(|new| {
            let diff = pipeline::diff::PipelineDiff::between(&self.pipeline, &new);
            for part in &diff.needs_restart {
                tracing::warn!(
                    part,
                    "this part of the pipeline file changes only at the next start"
                );
            }
            consumer.reconfigure(&new, &diff)?;
            self.apply_capture(cams, &diff, consumer);
            if let Some(r) = self.reload.as_mut() {
                let _ = r.triggers.watch(&watched_files(&new));
            }
            let said = describe(&diff);
            self.pipeline = new;
            Ok(said)
        });
        let result = if outcome.is_ok() { "ok" } else { "error" };
        self.metrics
            .config_reloads
            .with_label_values(&[result])
            .inc();
        match &outcome {
            Ok(what) => tracing::info!(changes = %what, "pipeline file reloaded"),
            Err(e) => tracing::error!("reload refused, the running pipeline is unchanged: {e}"),
        }
        outcome
    }

    fn apply_capture(
        &self,
        cams: &mut cameras::Cameras,
        diff: &pipeline::diff::PipelineDiff,
        consumer: &dyn FrameConsumer,
    ) {
        use pipeline::diff::CameraChange;
        for change in &diff.cameras {
            let started = match change {
                CameraChange::Added(c) => cams.start(&c.capture, consumer.prep(c.name())),
                CameraChange::Removed(name) => {
                    cams.stop(name, true);
                    Ok(())
                }
                CameraChange::Capture(c) => {
                    cams.stop(c.name(), false);
                    cams.start(&c.capture, consumer.prep(c.name()))
                }
                // Detection turned on or off: the camera's thread gets its new work.
                CameraChange::Analytics(c) => {
                    cams.set_prep(c.name(), consumer.prep(c.name()));
                    Ok(())
                }
            };
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a camera of the reloaded file");
            }
        }
    }
}

/// What a reload changed, in a few words for the log and `lookout reload`.
#[cfg(feature = "capture")]
fn describe(diff: &pipeline::diff::PipelineDiff) -> String {
    use pipeline::diff::CameraChange;
    let mut parts: Vec<String> = diff
        .cameras
        .iter()
        .map(|c| match c {
            CameraChange::Added(c) => format!("camera {} added", c.name()),
            CameraChange::Removed(n) => format!("camera {n} removed"),
            CameraChange::Capture(c) => format!("camera {} source changed", c.name()),
            CameraChange::Analytics(c) => format!("camera {} settings changed", c.name()),
        })
        .collect();
    parts.extend(diff.models.iter().map(|m| format!("model {m} loaded")));
    parts.extend(
        diff.removed_models
            .iter()
            .map(|m| format!("model {m} removed")),
    );
    parts.extend(diff.sinks.iter().map(|s| format!("sink {s} rebuilt")));
    parts.extend(
        diff.removed_sinks
            .iter()
            .map(|s| format!("sink {s} removed")),
    );
    if parts.is_empty() {
        "nothing changed".into()
    } else {
        parts.join(", ")
    }
}

/// The files whose change asks for a reload: the pipeline file, and each model's manifest and
/// ONNX file.
pub fn watched_files(p: &Pipeline) -> Vec<std::path::PathBuf> {
    let mut files = vec![p.path.clone()];
    for m in p.models.values() {
        files.push(m.manifest.path.clone());
        files.push(m.manifest.model_path.clone());
    }
    files
}

/// Takes frames from every camera's queue as they come, until all queues are closed and drained,
/// applying reloads between batches (see [`dispatch`] for how batches are made).
#[cfg(feature = "capture")]
fn consume_live(
    cams: &mut cameras::Cameras,
    consumer: &mut dyn FrameConsumer,
    stop: &AtomicBool,
    live: &mut Live,
) {
    let mut start = 0usize;
    loop {
        if stop.load(Ordering::Relaxed) {
            cams.stop_all();
        }
        if cams.is_empty() {
            break;
        }
        enum Got {
            Frame(usize, Frame),
            Closed(usize),
            Trigger(reload::Trigger),
            Nothing,
        }
        let got = {
            let open = cams.receivers();
            let mut sel = crossbeam_channel::Select::new();
            for r in &open {
                sel.recv(r.channel());
            }
            let triggers = live
                .reload
                .as_ref()
                .map(|r| (sel.recv(r.triggers.receiver()), r.triggers.receiver()));
            match sel.select_timeout(std::time::Duration::from_millis(200)) {
                Err(_) => Got::Nothing,
                Ok(op) => match triggers {
                    Some((idx, rx)) if op.index() == idx => match op.recv(rx) {
                        Ok(t) => Got::Trigger(t),
                        Err(_) => Got::Nothing,
                    },
                    _ => {
                        let i = op.index();
                        match op.recv(open[i].channel()) {
                            Ok(frame) => Got::Frame(i, open[i].accept(frame)),
                            Err(_) => Got::Closed(i),
                        }
                    }
                },
            }
        };
        let (i, frame) = match got {
            Got::Nothing => continue,
            Got::Closed(i) => {
                cams.closed(i);
                continue;
            }
            Got::Trigger(t) => {
                let outcome = live.reload(cams, consumer);
                if let reload::Trigger::Request(reply) = t {
                    let _ = reply.send(outcome);
                }
                continue;
            }
            Got::Frame(i, f) => (i, f),
        };
        dispatch(&cams.receivers(), i, frame, consumer, &mut start);
    }
}

/// Takes frames from a fixed set of queues as they come, until all are closed and drained.
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
        match op.recv(open[i].channel()) {
            Ok(frame) => {
                let frame = open[i].accept(frame);
                dispatch(&open, i, frame, consumer, &mut start);
            }
            Err(_) => {
                open.remove(i);
            }
        }
    }
}

/// Hands `frame` (from queue `i` of `open`) to the consumer if it admits it, with one frame of
/// each other camera that has one waiting: the batch never waits for a camera, and the other
/// cameras are visited round-robin so none is favoured when the batch is small.
fn dispatch(
    open: &[&FrameReceiver],
    i: usize,
    frame: Frame,
    consumer: &mut dyn FrameConsumer,
    start: &mut usize,
) {
    if !consumer.admit(&frame) {
        return;
    }
    let max = consumer.max_batch().max(1);
    let mut batch = crate::schedule::Batch::new(max);
    batch.push(frame);
    *start = (*start + 1) % open.len();
    for k in 0..open.len() {
        if batch.is_full() {
            break;
        }
        let j = (*start + k) % open.len();
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
