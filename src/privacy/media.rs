//! Stored media: per-event snapshots and an annotated debug recording, on local disk, redacted
//! or not at all.
//!
//! The analysis stage hands each analysed frame of a camera that stores media to a worker thread
//! (a copy of its pixels, its detections, the ids of the events that want a snapshot). The
//! worker runs the camera's face model on that frame, redacts faces and masks on the GPU, and
//! only then encodes and writes. If the face model or the redaction fails, or both together take
//! longer than the camera's `deadline_ms`, nothing of that frame is written: the miss is logged
//! and counted in `lookout_media_withheld_total{camera,kind,reason}`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Sender, TrySendError, bounded};
use serde::Serialize;

use super::config::{CameraPrivacy, MediaSpec, SnapshotSpec};
use super::faces::FaceFinder;
use super::redact::Redactor;
use super::regions::{Regions, grow};
use super::{PrivacyError, retention, snapshot};
use crate::capture::frame::{ImageRef, PixelFormat, Planes};
use crate::capture::{Frame, QueuePolicy};
use crate::config::Pipeline;
use crate::detect::Detection;
use crate::events::{Event, EventKind, ObjectChange};
use crate::infer::preprocess::required_len;
use crate::metrics::Metrics;

/// Frames waiting for the media worker.
const QUEUE: usize = 4;
/// Nominal frame rate of recordings (each frame keeps its own timestamp).
#[cfg(feature = "capture")]
const RECORDING_FPS: (i32, i32) = (10, 1);
/// Retention runs at most this often while writing (and always at the end).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Why a snapshot or a recorded frame was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The face model could not be loaded or failed on the frame.
    FaceModel,
    /// The GPU redaction could not run or failed.
    Redaction,
    /// Face detection and redaction took longer than the camera's `deadline_ms`.
    Deadline,
    /// The media worker was still busy with earlier frames (live cameras only).
    Busy,
    /// Encoding or writing the file failed.
    Storage,
}

impl Withheld {
    /// Every reason, for summaries.
    pub const ALL: [Withheld; 5] = [
        Withheld::FaceModel,
        Withheld::Redaction,
        Withheld::Deadline,
        Withheld::Busy,
        Withheld::Storage,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Withheld::FaceModel => "face_model",
            Withheld::Redaction => "redaction",
            Withheld::Deadline => "deadline",
            Withheld::Busy => "busy",
            Withheld::Storage => "storage",
        }
    }
}

/// The `kind` label of media metrics.
const SNAPSHOT: &str = "snapshot";
const RECORDING: &str = "recording";

/// A frame's pixels, owned, with their geometry.
struct OwnedImage {
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: Planes,
    data: Vec<u8>,
}

impl OwnedImage {
    fn image(&self) -> ImageRef<'_> {
        ImageRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self.planes,
            data: &self.data,
        }
    }
}

/// One analysed frame for the worker.
struct Job {
    camera: Arc<str>,
    pts: Option<Duration>,
    captured_at: SystemTime,
    image: OwnedImage,
    /// Drawn on recordings.
    #[cfg_attr(not(feature = "capture"), allow(dead_code))]
    detections: Vec<Detection>,
    /// Ids of the events that get a snapshot of this frame.
    snapshots: Vec<String>,
    record: bool,
}

/// What the analysis stage decides per camera.
struct CameraPlan {
    /// Event kinds that get a snapshot (empty: all); `None` takes no snapshots.
    snapshot_kinds: Option<Vec<String>>,
    record: bool,
    /// Wait for the worker (file sources) instead of dropping (live sources).
    block: bool,
}

/// The media of one pipeline: decides what each frame needs, and hands it to the worker.
pub struct MediaWriter {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    plans: HashMap<Arc<str>, CameraPlan>,
    metrics: Arc<Metrics>,
}

/// Whether `event` gets a snapshot under `kinds` (empty: every kind; objects only when new).
fn wants_snapshot(event: &Event, kinds: &[String]) -> bool {
    if let EventKind::Object { change, .. } = &event.kind
        && *change != ObjectChange::New
    {
        return false;
    }
    kinds.is_empty() || kinds.iter().any(|k| k == event.kind.name())
}

impl MediaWriter {
    /// Starts the media worker when the pipeline stores anything; `None` otherwise.
    pub fn start(pipeline: &Pipeline, metrics: Arc<Metrics>) -> Option<MediaWriter> {
        let spec = pipeline.media.clone()?;
        let mut plans = HashMap::new();
        let mut cameras = HashMap::new();
        for cam in &pipeline.cameras {
            if !spec.stores(&cam.name) {
                continue;
            }
            let Some(privacy) = cam.privacy.clone() else {
                continue;
            };
            let snapshot_kinds = spec
                .snapshots
                .as_ref()
                .filter(|s| s.cameras.contains(&cam.name))
                .map(|s| s.kinds.clone());
            let record = spec
                .recording
                .as_ref()
                .is_some_and(|r| r.cameras.contains(&cam.name));
            let name: Arc<str> = Arc::from(cam.name.as_str());
            plans.insert(
                name.clone(),
                CameraPlan {
                    snapshot_kinds,
                    record,
                    block: cam.queue == QueuePolicy::Block,
                },
            );
            cameras.insert(name, privacy);
        }
        if plans.is_empty() {
            return None;
        }
        let (tx, rx) = bounded::<Job>(QUEUE);
        let models = pipeline.models.clone();
        let m = Arc::clone(&metrics);
        let thread = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || {
                let mut worker = Worker::new(spec, cameras, &models, m);
                for job in rx {
                    worker.handle(job);
                }
                worker.finish();
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the media thread: no media will be stored");
                return None;
            }
        };
        Some(MediaWriter {
            tx: Some(tx),
            thread: Some(thread),
            plans,
            metrics,
        })
    }

    /// Hands `frame` to the worker if its camera records, or if one of `events` wants a snapshot.
    pub fn frame(&self, frame: &Frame, detections: &[Detection], events: &[Event]) {
        let Some(plan) = self.plans.get(&frame.camera) else {
            return;
        };
        let snapshots: Vec<String> = match &plan.snapshot_kinds {
            Some(kinds) => events
                .iter()
                .filter(|e| wants_snapshot(e, kinds))
                .map(|e| e.id.clone())
                .collect(),
            None => Vec::new(),
        };
        if snapshots.is_empty() && !plan.record {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let job = Job {
            camera: frame.camera.clone(),
            pts: frame.pts,
            captured_at: frame.captured_at,
            image: OwnedImage {
                format: frame.format,
                width: frame.width,
                height: frame.height,
                planes: frame.planes,
                data: frame.data[..required_len(&frame.image()).min(frame.data.len())].to_vec(),
            },
            // Landmarks (eyes, nose, mouth) are facial geometry: boxes and labels only.
            detections: detections
                .iter()
                .map(|d| Detection {
                    landmarks: Vec::new(),
                    ..d.clone()
                })
                .collect(),
            snapshots,
            record: plan.record,
        };
        let refused = if plan.block {
            tx.send(job).err().map(|e| e.0)
        } else {
            match tx.try_send(job) {
                Ok(()) => None,
                Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => Some(j),
            }
        };
        if let Some(job) = refused {
            count_withheld(&self.metrics, &job, Withheld::Busy);
        }
    }

    /// Lets the worker finish what is queued, closes recordings, applies retention, and returns
    /// what was stored and withheld per camera.
    pub fn finish(mut self) -> MediaSummary {
        drop(self.tx.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the media thread panicked");
        }
        let cameras = self
            .plans
            .keys()
            .map(|c| {
                (
                    c.to_string(),
                    CameraMediaSummary::from_metrics(&self.metrics, c),
                )
            })
            .collect();
        MediaSummary { cameras }
    }
}

/// What was stored and withheld, per camera, for the run summary.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MediaSummary {
    pub cameras: BTreeMap<String, CameraMediaSummary>,
}

/// One camera's stored media.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CameraMediaSummary {
    /// Snapshots written.
    pub snapshots: u64,
    /// Frames written to the recording.
    pub recorded_frames: u64,
    /// Snapshots and recorded frames not written, by reason.
    pub withheld: BTreeMap<String, u64>,
}

impl CameraMediaSummary {
    /// Reads a camera's totals from the metrics registry.
    pub fn from_metrics(m: &Metrics, camera: &str) -> Self {
        let mut withheld = BTreeMap::new();
        for reason in Withheld::ALL {
            let n: u64 = [SNAPSHOT, RECORDING]
                .iter()
                .map(|k| {
                    m.media_withheld
                        .with_label_values(&[camera, k, reason.as_str()])
                        .get()
                })
                .sum();
            if n > 0 {
                withheld.insert(reason.as_str().to_string(), n);
            }
        }
        CameraMediaSummary {
            snapshots: m.media_written.with_label_values(&[camera, SNAPSHOT]).get(),
            recorded_frames: m
                .media_written
                .with_label_values(&[camera, RECORDING])
                .get(),
            withheld,
        }
    }
}

fn count_withheld(m: &Metrics, job: &Job, reason: Withheld) {
    let r = reason.as_str();
    if !job.snapshots.is_empty() {
        m.media_withheld
            .with_label_values(&[&job.camera, SNAPSHOT, r])
            .inc_by(job.snapshots.len() as u64);
    }
    if job.record {
        m.media_withheld
            .with_label_values(&[&job.camera, RECORDING, r])
            .inc();
    }
}

/// A recording segment being written.
#[cfg(feature = "capture")]
struct Segment {
    encoder: super::video::VideoEncoder,
    /// Media time of its first frame.
    start: Duration,
    last: Duration,
    /// Time between the last two frames.
    gap: Duration,
    size: (u32, u32),
}

/// The worker thread's state.
struct Worker {
    spec: MediaSpec,
    cameras: HashMap<Arc<str>, CameraPrivacy>,
    /// Per GPU adapter choice (that of the camera's face model): the redaction kernels.
    redactors: HashMap<String, Result<Redactor, String>>,
    /// Per camera: its key in `redactors`.
    adapters: HashMap<Arc<str>, String>,
    finders: HashMap<String, Result<FaceFinder, String>>,
    metrics: Arc<Metrics>,
    /// Per camera: the wall clock of its first frame, for sources without timestamps.
    first_seen: HashMap<Arc<str>, SystemTime>,
    #[cfg(feature = "capture")]
    segments: HashMap<Arc<str>, Segment>,
    last_prune: Instant,
    /// Misses logged so far (the first and every power of two are logged).
    misses: u64,
}

impl Worker {
    fn new(
        spec: MediaSpec,
        cameras: HashMap<Arc<str>, CameraPrivacy>,
        models: &BTreeMap<String, crate::config::models::ModelSpec>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut finders = HashMap::new();
        let mut adapters = HashMap::new();
        let mut redactors = HashMap::new();
        for (camera, p) in &cameras {
            // Redaction runs on the GPU its face model was placed on.
            let adapter = p
                .faces
                .as_ref()
                .and_then(|f| models.get(f))
                .map_or_else(String::new, |spec| spec.adapter.clone());
            redactors.entry(adapter.clone()).or_insert_with(|| {
                let choice = crate::infer::select::adapter_choice(&adapter);
                let r = crate::infer::select::gpu_context(&choice)
                    .map_err(|e| e.to_string())
                    .and_then(|ctx| Redactor::new(&ctx).map_err(|e| e.to_string()));
                match &r {
                    Ok(r) => tracing::info!(adapter = %r.adapter(), "redaction kernels ready"),
                    Err(e) => tracing::error!(error = %e, "GPU redaction unavailable: no media will be stored for the cameras on this adapter"),
                }
                r
            });
            adapters.insert(camera.clone(), adapter);
            let Some(name) = &p.faces else { continue };
            if finders.contains_key(name) {
                continue;
            }
            let finder = match models.get(name) {
                Some(spec) => FaceFinder::from_spec(spec).map_err(|e| e.to_string()),
                None => Err(format!("model `{name}` is not in `models:`")),
            };
            match &finder {
                Ok(f) => {
                    tracing::info!(model = %name, backend = %f.backend(), "face model for redaction loaded")
                }
                Err(e) => {
                    tracing::error!(model = %name, error = %e, "face model failed to load: no media will be stored for its cameras")
                }
            }
            finders.insert(name.clone(), finder);
        }
        // The first run of a model or a kernel allocates: pay for it now, not against the
        // deadline of a real frame.
        let (side, black) = (64u32, vec![0u8; 64 * 64 * 4]);
        let blank = ImageRef {
            format: PixelFormat::Rgba,
            width: side,
            height: side,
            planes: Planes::packed(PixelFormat::Rgba, side, side),
            data: &black,
        };
        for f in finders.values_mut().flatten() {
            let _ = f.find(&blank);
        }
        for r in redactors.values_mut().flatten() {
            let _ = r.redact(&blank, &Regions::default(), Default::default());
        }
        let mut w = Worker {
            spec,
            cameras,
            redactors,
            adapters,
            finders,
            metrics,
            first_seen: HashMap::new(),
            #[cfg(feature = "capture")]
            segments: HashMap::new(),
            last_prune: Instant::now(),
            misses: 0,
        };
        w.prune();
        w
    }

    fn handle(&mut self, job: Job) {
        let Some(privacy) = self.cameras.get(&job.camera).cloned() else {
            return;
        };
        let rgba = match self.redact(&job, &privacy) {
            Ok(rgba) => rgba,
            Err((reason, message)) => {
                count_withheld(&self.metrics, &job, reason);
                self.misses += 1;
                if self.misses == 1 || self.misses.is_power_of_two() {
                    tracing::error!(
                        camera = %job.camera,
                        reason = reason.as_str(),
                        error = %message,
                        misses = self.misses,
                        "media withheld: nothing of this frame is stored"
                    );
                }
                return;
            }
        };
        let (w, h) = (job.image.width, job.image.height);
        if !job.snapshots.is_empty()
            && let Some(spec) = self.spec.snapshots.clone()
        {
            self.snapshots(&job, &spec, &rgba, w, h);
        }
        if job.record {
            self.record(&job, rgba, w, h);
        }
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.prune();
        }
    }

    /// Faces found and redacted within the camera's deadline, or why not.
    fn redact(
        &mut self,
        job: &Job,
        privacy: &CameraPrivacy,
    ) -> Result<Vec<u8>, (Withheld, String)> {
        let started = Instant::now();
        let image = job.image.image();
        let late = |what: &str| {
            (
                Withheld::Deadline,
                format!(
                    "{what} took {:.0} ms, more than the {} ms allowed",
                    started.elapsed().as_secs_f64() * 1e3,
                    privacy.deadline.as_millis()
                ),
            )
        };
        let mut boxes = Vec::new();
        if let Some(model) = &privacy.faces {
            let finder = match self.finders.get_mut(model) {
                Some(Ok(f)) => f,
                Some(Err(e)) => return Err((Withheld::FaceModel, e.clone())),
                None => return Err((Withheld::FaceModel, format!("model `{model}` not loaded"))),
            };
            let t = Instant::now();
            let faces = finder
                .find(&image)
                .map_err(|e| (Withheld::FaceModel, e.to_string()))?;
            self.observe("faces", t);
            boxes = faces.iter().map(|d| grow(d.bbox, privacy.margin)).collect();
        }
        if started.elapsed() > privacy.deadline {
            return Err(late("face detection"));
        }
        let regions = Regions::new(
            &boxes,
            privacy.masks_in_pixels(image.width, image.height),
            image.width,
            image.height,
        );
        let adapter = self.adapters.get(&job.camera).cloned().unwrap_or_default();
        let redactor = match self.redactors.get_mut(&adapter) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err((Withheld::Redaction, e.clone())),
            None => return Err((Withheld::Redaction, "no redaction kernels".into())),
        };
        let t = Instant::now();
        let out = redactor
            .redact(&image, &regions, privacy.style)
            .map_err(|e| (Withheld::Redaction, e.to_string()))?;
        self.observe("redact", t);
        if started.elapsed() > privacy.deadline {
            return Err(late("face detection and redaction"));
        }
        Ok(out)
    }

    fn observe(&self, stage: &str, since: Instant) {
        self.metrics
            .stage_duration
            .with_label_values(&[stage])
            .observe(since.elapsed().as_secs_f64());
    }

    fn snapshots(&mut self, job: &Job, spec: &SnapshotSpec, rgba: &[u8], w: u32, h: u32) {
        let stored = snapshot::encode_jpeg(rgba, w, h, spec.quality).and_then(|jpeg| {
            for id in &job.snapshots {
                let path = spec.dir.join(&*job.camera).join(format!("{id}.jpg"));
                snapshot::write_atomic(&path, &jpeg)?;
                self.metrics
                    .media_written
                    .with_label_values(&[&job.camera, SNAPSHOT])
                    .inc();
            }
            Ok(())
        });
        if let Err(e) = stored {
            self.storage_failed(job, SNAPSHOT, &e);
        }
    }

    fn storage_failed(&mut self, job: &Job, kind: &str, e: &PrivacyError) {
        let n = if kind == SNAPSHOT {
            job.snapshots.len() as u64
        } else {
            1
        };
        self.metrics
            .media_withheld
            .with_label_values(&[&job.camera, kind, Withheld::Storage.as_str()])
            .inc_by(n);
        self.misses += 1;
        if self.misses == 1 || self.misses.is_power_of_two() {
            tracing::error!(camera = %job.camera, kind, error = %e, "cannot store media");
        }
    }

    /// Media time of a job: the frame's PTS, or wall-clock time since the camera's first frame.
    fn media_time(&mut self, job: &Job) -> Duration {
        let first = *self
            .first_seen
            .entry(job.camera.clone())
            .or_insert(job.captured_at);
        job.pts.unwrap_or_else(|| {
            job.captured_at
                .duration_since(first)
                .unwrap_or(Duration::ZERO)
        })
    }

    #[cfg(feature = "capture")]
    fn record(&mut self, job: &Job, mut rgba: Vec<u8>, w: u32, h: u32) {
        let Some(spec) = self.spec.recording.clone() else {
            return;
        };
        if spec.annotate {
            crate::detect::annotate::draw(
                &mut crate::detect::annotate::Canvas {
                    data: &mut rgba,
                    width: w,
                    height: h,
                },
                &job.detections,
            );
        }
        let t = self.media_time(job);
        let roll = self.segments.get(&job.camera).is_some_and(|s| {
            s.size != (w, h) || t < s.last || t.saturating_sub(s.start) >= spec.segment
        });
        if roll && let Some(s) = self.segments.remove(&job.camera) {
            close_segment(&job.camera, s);
            self.prune();
        }
        if !self.segments.contains_key(&job.camera) {
            match open_segment(&spec, &job.camera, job.captured_at, w, h) {
                Ok(encoder) => {
                    self.segments.insert(
                        job.camera.clone(),
                        Segment {
                            encoder,
                            start: t,
                            last: t,
                            gap: Duration::from_millis(100),
                            size: (w, h),
                        },
                    );
                }
                Err(e) => return self.storage_failed(job, RECORDING, &e),
            }
        }
        let pushed = match self.segments.get_mut(&job.camera) {
            Some(s) => {
                // Each frame lasts as long as the gap before it (a frame without a duration at
                // the end of a file would be dropped by players).
                let gap = t.saturating_sub(s.last);
                let duration = if gap.is_zero() { s.gap } else { gap };
                s.gap = duration;
                s.last = t;
                s.encoder.push(&rgba, w, t, Some(duration))
            }
            None => return,
        };
        match pushed {
            Ok(()) => self
                .metrics
                .media_written
                .with_label_values(&[&job.camera, RECORDING])
                .inc(),
            Err(e) => {
                // A broken segment is closed; the next frame starts a new one.
                if let Some(s) = self.segments.remove(&job.camera) {
                    close_segment(&job.camera, s);
                }
                self.storage_failed(job, RECORDING, &e);
            }
        }
    }

    #[cfg(not(feature = "capture"))]
    fn record(&mut self, job: &Job, _rgba: Vec<u8>, _w: u32, _h: u32) {
        let _ = self.media_time(job);
        self.storage_failed(
            job,
            RECORDING,
            &PrivacyError::Encode("recording needs the `capture` feature".into()),
        );
    }

    /// Files being written, which retention must leave alone.
    fn active(&self) -> Vec<PathBuf> {
        #[cfg(feature = "capture")]
        {
            self.segments
                .values()
                .map(|s| s.encoder.path().to_path_buf())
                .collect()
        }
        #[cfg(not(feature = "capture"))]
        Vec::new()
    }

    fn prune(&mut self) {
        let now = SystemTime::now();
        let active = self.active();
        if let Some(s) = &self.spec.snapshots {
            retention::enforce(&s.dir, &s.retention, &active, now);
        }
        if let Some(r) = &self.spec.recording {
            retention::enforce(&r.dir, &r.retention, &active, now);
        }
        self.last_prune = Instant::now();
    }

    fn finish(mut self) {
        #[cfg(feature = "capture")]
        for (camera, s) in std::mem::take(&mut self.segments) {
            close_segment(&camera, s);
        }
        self.prune();
    }
}

/// `<dir>/<camera>/<camera>-<UTC start>.mp4` (with `-2`, `-3`, ... if taken).
#[cfg(feature = "capture")]
fn segment_path(spec: &super::config::RecordingSpec, camera: &str, at: SystemTime) -> PathBuf {
    let stamp: String = crate::events::rfc3339(at)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let dir = spec.dir.join(camera);
    let mut path = dir.join(format!("{camera}-{stamp}.mp4"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{camera}-{stamp}-{n}.mp4"));
        n += 1;
    }
    path
}

#[cfg(feature = "capture")]
fn open_segment(
    spec: &super::config::RecordingSpec,
    camera: &str,
    at: SystemTime,
    w: u32,
    h: u32,
) -> Result<super::video::VideoEncoder, PrivacyError> {
    let path = segment_path(spec, camera, at);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PrivacyError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    tracing::info!(camera, path = %path.display(), "recording segment started");
    super::video::VideoEncoder::create(&path, w, h, RECORDING_FPS, true)
}

#[cfg(feature = "capture")]
fn close_segment(camera: &str, s: Segment) {
    let path = s.encoder.path().to_path_buf();
    match s.encoder.finish() {
        Ok(frames) => {
            tracing::info!(camera, path = %path.display(), frames, "recording segment closed")
        }
        Err(e) => {
            tracing::error!(camera, path = %path.display(), error = %e, "recording segment did not close cleanly")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ObjectSnapshot, SCHEMA_VERSION};

    fn object(change: ObjectChange) -> Event {
        let snap = ObjectSnapshot {
            id: "o".into(),
            track_id: 1,
            camera: "c".into(),
            label: "person".into(),
            score: 0.9,
            top_score: 0.9,
            bbox: [0.1, 0.1, 0.2, 0.2],
            area: 0.01,
            ratio: 1.0,
            current_zones: vec![],
            entered_zones: vec![],
            start_time: String::new(),
            end_time: None,
            start_pts_seconds: None,
            last_pts_seconds: None,
        };
        Event {
            schema_version: SCHEMA_VERSION,
            id: "e".into(),
            camera: "c".into(),
            kind: EventKind::Object {
                change,
                before: Box::new(snap.clone()),
                after: Box::new(snap),
            },
            label: "person".into(),
            score: Some(0.9),
            track_id: Some(1),
            bbox: None,
            seq: 0,
            pts_seconds: None,
            time: String::new(),
            model: None,
        }
    }

    #[test]
    fn objects_get_a_snapshot_only_when_new() {
        assert!(wants_snapshot(&object(ObjectChange::New), &[]));
        assert!(!wants_snapshot(&object(ObjectChange::Update), &[]));
        assert!(!wants_snapshot(&object(ObjectChange::End), &[]));
        assert!(!wants_snapshot(
            &object(ObjectChange::New),
            &["line_crossed".to_string()]
        ));
    }
}
