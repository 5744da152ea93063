//! Redacted stills for the local page (`ui.stills: true`): the latest analysed frame of a camera,
//! through the same face model and GPU redaction as stored media, then JPEG. A
//! [`RedactedStill`] can be made only here, after redaction succeeded in time; when it fails,
//! the page gets an error and no picture (fail closed), counted in
//! `lookout_media_withheld_total{kind="still"}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::config::MediaSpec;
use super::worker::Worker;
use super::{Job, OwnedImage, STILL, StoringCamera, Withheld};
use crate::capture::Frame;
use crate::metrics::Metrics;
use crate::model::ModelSpec;

/// JPEG quality of stills.
const QUALITY: u8 = 80;
/// A still this recent is served again instead of redacting another frame.
const FRESH: Duration = Duration::from_secs(2);

/// A camera picture whose faces and masks were redacted: the only picture type the page can
/// serve. Its fields are private and it is made only by the stills worker after redaction.
#[derive(Debug)]
pub struct RedactedStill {
    jpeg: Vec<u8>,
    width: u32,
    height: u32,
}

impl RedactedStill {
    /// The JPEG bytes.
    pub fn jpeg(&self) -> &[u8] {
        &self.jpeg
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// Why no still was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StillError {
    #[error("camera `{0}` has no face model: its pictures cannot be redacted, so none is shown")]
    NotRedacted(String),
    #[error("redaction failed, nothing is shown: {0}")]
    Withheld(String),
    #[error("no analysed frame of the camera arrived in time")]
    Timeout,
    #[error("the stills worker is busy")]
    Busy,
}

type Reply = Sender<Result<Arc<RedactedStill>, StillError>>;

/// A frame copied for the worker, with who waits for it.
struct StillJob {
    job: Job,
    waiters: Vec<Reply>,
}

struct Shared {
    /// Cameras with a face model: the only ones with stills.
    redacting: Vec<String>,
    wanted: Mutex<HashMap<String, Vec<Reply>>>,
    any_wanted: AtomicBool,
    cache: Mutex<HashMap<String, (Instant, Arc<RedactedStill>)>>,
    tx: Sender<StillJob>,
    /// Set by [`Stills::shutdown`]: the worker ends and drops its face model and GPU device.
    stopping: Arc<AtomicBool>,
    /// The worker, joined at shutdown: a GPU device or OpenCV model still alive while the
    /// process runs its exit handlers corrupts the heap.
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Stills of a running pipeline: the page asks, the analytics thread offers its next frame of
/// that camera, a worker thread redacts it.
#[derive(Clone)]
pub struct Stills {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stills")
            .field("redacting", &self.shared.redacting)
            .finish_non_exhaustive()
    }
}

impl Stills {
    /// Starts the stills worker for `cameras` (those with a face model get stills), loading
    /// their face models from `models`.
    pub fn start(
        cameras: Vec<StoringCamera>,
        models: &BTreeMap<String, ModelSpec>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Stills> {
        let cameras: Vec<StoringCamera> = cameras
            .into_iter()
            .filter(|c| c.privacy.faces.is_some())
            .collect();
        let redacting = cameras.iter().map(|c| c.name.clone()).collect();
        let (tx, rx) = bounded::<StillJob>(1);
        let privacies = cameras
            .into_iter()
            .map(|c| (Arc::from(c.name.as_str()), c.privacy))
            .collect();
        let models = models.clone();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = std::thread::Builder::new()
            .name("stills".into())
            .spawn(move || work(&rx, &stop, privacies, &models, metrics))?;
        Ok(Stills {
            shared: Arc::new(Shared {
                redacting,
                wanted: Mutex::default(),
                any_wanted: AtomicBool::new(false),
                cache: Mutex::default(),
                tx,
                stopping,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Stops the worker and waits for it (the page may still hold this value: its requests
    /// are answered busy from then on).
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = lock(&self.shared.thread).take()
            && t.join().is_err()
        {
            tracing::error!("the stills worker panicked");
        }
    }

    /// Whether `camera` can have stills at all.
    pub fn redacts(&self, camera: &str) -> bool {
        self.shared.redacting.iter().any(|c| c == camera)
    }

    /// A redacted still of `camera`'s next analysed frame (or one of the last [`FRESH`]
    /// seconds), waiting at most `timeout`.
    pub fn request(
        &self,
        camera: &str,
        timeout: Duration,
    ) -> Result<Arc<RedactedStill>, StillError> {
        if !self.redacts(camera) {
            return Err(StillError::NotRedacted(camera.to_string()));
        }
        if let Some((at, still)) = lock(&self.shared.cache).get(camera)
            && at.elapsed() < FRESH
        {
            return Ok(Arc::clone(still));
        }
        let (reply, answer) = bounded(1);
        lock(&self.shared.wanted)
            .entry(camera.to_string())
            .or_default()
            .push(reply);
        self.shared.any_wanted.store(true, Ordering::Release);
        let got = answer
            .recv_timeout(timeout)
            .unwrap_or(Err(StillError::Timeout));
        if let Ok(still) = &got {
            lock(&self.shared.cache)
                .insert(camera.to_string(), (Instant::now(), Arc::clone(still)));
        }
        got
    }

    /// Called by the analytics thread for each analysed frame: when the page waits for a still
    /// of its camera, the frame is copied and handed to the worker (never waiting for it).
    pub fn offer(&self, frame: &Frame) {
        if !self.shared.any_wanted.load(Ordering::Acquire) {
            return;
        }
        let waiters = {
            let Ok(mut wanted) = self.shared.wanted.try_lock() else {
                return;
            };
            let Some(w) = wanted.remove(&*frame.camera) else {
                return;
            };
            if wanted.is_empty() {
                self.shared.any_wanted.store(false, Ordering::Release);
            }
            w
        };
        let job = StillJob {
            job: Job {
                camera: frame.camera.clone(),
                pts: frame.pts,
                captured_at: frame.captured_at,
                image: OwnedImage::of(frame),
                detections: Vec::new(),
                snapshots: Vec::new(),
                record: false,
            },
            waiters,
        };
        if let Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) =
            self.shared.tx.try_send(job)
        {
            for w in j.waiters {
                let _ = w.send(Err(StillError::Busy));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often an idle worker looks whether it should stop.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The worker: redacts each frame (faces and masks, within the camera's deadline) or withholds
/// it, then encodes the JPEG.
fn work(
    rx: &Receiver<StillJob>,
    stopping: &AtomicBool,
    privacies: HashMap<Arc<str>, crate::privacy::CameraPrivacy>,
    models: &BTreeMap<String, ModelSpec>,
    metrics: Arc<Metrics>,
) {
    let mut worker = Worker::new(
        MediaSpec::default(),
        privacies,
        models,
        Arc::clone(&metrics),
    );
    while !stopping.load(Ordering::SeqCst) {
        let StillJob { job, waiters } = match rx.recv_timeout(STOP_POLL) {
            Ok(j) => j,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        let (w, h) = (job.image.width, job.image.height);
        let result = worker
            .redact_only(&job)
            .and_then(|rgba| {
                crate::privacy::snapshot::encode_jpeg(&rgba, w, h, QUALITY)
                    .map_err(|e| (Withheld::Redaction, e.to_string()))
            })
            .map(|jpeg| {
                Arc::new(RedactedStill {
                    jpeg,
                    width: w,
                    height: h,
                })
            })
            .map_err(|(reason, message)| {
                metrics
                    .media_withheld
                    .with_label_values(&[&job.camera, STILL, reason.as_str()])
                    .inc();
                tracing::warn!(camera = %job.camera, reason = reason.as_str(), error = %message, "still withheld");
                StillError::Withheld(message)
            });
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}
