//! Stored media: per-event snapshots and an annotated debug recording, on local disk, redacted
//! or not at all.
//!
//! The analysis stage hands each analysed frame of a camera that stores media to a worker thread
//! (a copy of its pixels, its detections, the ids of the events that want a snapshot). The
//! worker runs the camera's face model on that frame, redacts faces and masks on the GPU, and
//! only then encodes and writes. If the face model or the redaction fails, or both together take
//! longer than the camera's `deadline_ms`, nothing of that frame is written: the miss is logged
//! and counted in `lookout_media_withheld_total{camera,kind,reason}`.

pub mod config;
pub mod still;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Sender, TrySendError, bounded};
use serde::Serialize;

use super::config::CameraPrivacy;
use crate::capture::Frame;
use crate::capture::frame::{ImageRef, PixelFormat, Planes};
use crate::detect::Detection;
use crate::events::{Event, EventKind, ObjectChange};
use crate::metrics::Metrics;
use crate::model::ModelSpec;
pub use config::{MediaCamera, MediaConfig, MediaSpec, validate_media};
use worker::Worker;

/// Frames waiting for the media worker.
const QUEUE: usize = 4;

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
/// Redacted stills shown by the local page (`ui.stills`).
const STILL: &str = "still";

/// A frame's pixels, owned, with their geometry.
struct OwnedImage {
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: Planes,
    data: Vec<u8>,
}

impl OwnedImage {
    /// A copy of `frame`'s pixels.
    fn of(frame: &Frame) -> Self {
        OwnedImage {
            format: frame.format,
            width: frame.width,
            height: frame.height,
            planes: frame.planes,
            data: frame.image().used_bytes().to_vec(),
        }
    }

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

/// A camera whose pictures may be stored: what the media writer needs of it.
#[derive(Debug, Clone)]
pub struct StoringCamera {
    pub name: String,
    pub privacy: CameraPrivacy,
    /// Wait for the worker (files are processed whole) instead of dropping (live sources).
    pub block: bool,
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
    /// Starts the media worker when `spec` stores anything of `cameras`; `None` otherwise. Face
    /// models are taken from `models` (the pipeline's `models:` section).
    pub fn start(
        spec: &MediaSpec,
        cameras: Vec<StoringCamera>,
        models: &BTreeMap<String, ModelSpec>,
        metrics: Arc<Metrics>,
    ) -> Option<MediaWriter> {
        let spec = spec.clone();
        let mut plans = HashMap::new();
        let mut privacies = HashMap::new();
        for cam in cameras {
            if !spec.stores(&cam.name) {
                continue;
            }
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
                    block: cam.block,
                },
            );
            privacies.insert(name, cam.privacy);
        }
        if plans.is_empty() {
            return None;
        }
        let (tx, rx) = bounded::<Job>(QUEUE);
        let models = models.clone();
        let m = Arc::clone(&metrics);
        let thread = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || {
                let mut worker = Worker::new(spec, privacies, &models, m);
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
            image: OwnedImage::of(frame),
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
            device: "d".into(),
            site: "s".into(),
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
