//! The media worker thread: runs each camera's face model on the frame, redacts on the GPU within
//! the camera's deadline, then writes snapshots and recording segments and applies retention.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[cfg(feature = "capture")]
use super::config::RecordingSpec;
use super::config::{MediaSpec, SnapshotSpec};
use super::{Job, RECORDING, SNAPSHOT, Withheld, count_withheld};
use crate::capture::frame::{ImageRef, PixelFormat};
use crate::metrics::Metrics;
use crate::model::ModelSpec;
use crate::privacy::config::CameraPrivacy;
use crate::privacy::faces::FaceFinder;
use crate::privacy::redact::Redactor;
use crate::privacy::regions::{Regions, grow};
use crate::privacy::{PrivacyError, retention, snapshot};

/// Nominal frame rate of recordings (each frame keeps its own timestamp).
#[cfg(feature = "capture")]
const RECORDING_FPS: (i32, i32) = (10, 1);
/// Retention runs at most this often while writing (and always at the end).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A recording segment being written.
#[cfg(feature = "capture")]
struct Segment {
    encoder: crate::privacy::video::VideoEncoder,
    /// Media time of its first frame.
    start: Duration,
    last: Duration,
    /// Time between the last two frames.
    gap: Duration,
    size: (u32, u32),
}

/// The worker thread's state.
pub(super) struct Worker {
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
    pub(super) fn new(
        spec: MediaSpec,
        cameras: HashMap<Arc<str>, CameraPrivacy>,
        models: &BTreeMap<String, ModelSpec>,
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
                let choice = crate::model::select::adapter_choice(&adapter);
                let r = crate::model::select::gpu_context(&choice)
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
        let blank = ImageRef::packed(PixelFormat::Rgba, side, side, &black);
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

    pub(super) fn handle(&mut self, job: Job) {
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

    /// `job`'s frame redacted as for stored media (RGBA), or why not: for stills of the page.
    pub(super) fn redact_only(&mut self, job: &Job) -> Result<Vec<u8>, (Withheld, String)> {
        let Some(privacy) = self.cameras.get(&job.camera).cloned() else {
            return Err((
                Withheld::FaceModel,
                "the camera has no privacy settings".into(),
            ));
        };
        self.redact(job, &privacy)
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

    pub(super) fn finish(mut self) {
        #[cfg(feature = "capture")]
        for (camera, s) in std::mem::take(&mut self.segments) {
            close_segment(&camera, s);
        }
        self.prune();
    }
}

/// `<dir>/<camera>/<camera>-<UTC start>.mp4` (with `-2`, `-3`, ... if taken).
#[cfg(feature = "capture")]
fn segment_path(spec: &RecordingSpec, camera: &str, at: SystemTime) -> PathBuf {
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
    spec: &RecordingSpec,
    camera: &str,
    at: SystemTime,
    w: u32,
    h: u32,
) -> Result<crate::privacy::video::VideoEncoder, PrivacyError> {
    let path = segment_path(spec, camera, at);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PrivacyError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    tracing::info!(camera, path = %path.display(), "recording segment started");
    crate::privacy::video::VideoEncoder::create(&path, w, h, RECORDING_FPS, true)
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
