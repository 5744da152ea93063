//! The analytics stage: detection on admitted frames (batched per model across cameras), then per
//! camera tracking and rules, and the resulting events handed to the sinks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use prometheus::{Histogram, IntCounter, IntGauge};
use serde::Serialize;

use super::FrameConsumer;
use crate::capture::Frame;
use crate::capture::QueuePolicy;
use crate::detect::{DetectError, Detection};
use crate::infer::BackendInfo;
use crate::metrics::Metrics;
use crate::model::Detector;
use crate::model::select::{self, SelectError};
use crate::pipeline::Pipeline;
use crate::privacy::media::{MediaWriter, StoringCamera};
use crate::rules::{Counters, RuleEngine};
use crate::schedule::RateGate;
use crate::sinks::{CameraCatalog, Catalog, Sinks};
use crate::track::{FrameInfo, Tracker};

/// Why the analytics stage could not start.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("model `{model}`: {source}")]
    Backend { model: String, source: SelectError },
    #[error("model `{model}`: {source}")]
    Detector { model: String, source: DetectError },
}

/// Samples kept per stage for the summary's percentiles (the newest win).
const SAMPLES: usize = 1 << 16;

/// A bounded record of durations, for p50/p99 in the summary (Prometheus has the histograms).
#[derive(Debug, Default)]
pub(crate) struct Samples(VecDeque<f64>);

impl Samples {
    pub(crate) fn push(&mut self, v: f64) {
        if self.0.len() == SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(v);
    }

    pub(crate) fn latency(&self) -> Latency {
        let mut v: Vec<f64> = self.0.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() - 1) as f64 * p).round() as usize] * 1000.0
            }
        };
        Latency {
            count: v.len() as u64,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

/// Percentiles of one stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What analytics did, for the run summary.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyticsSummary {
    /// Backend and device per model.
    pub models: BTreeMap<String, BackendInfo>,
    /// Per stage: milliseconds per call (`infer` and `decode` per batch; `track`, `rules` and
    /// `publish` per frame).
    pub stages: BTreeMap<String, Latency>,
    /// From a frame reaching lookout to an event about it reaching the sinks.
    pub frame_to_event: Latency,
    pub cameras: BTreeMap<String, CameraAnalyticsSummary>,
    /// Snapshots and recordings stored (redacted) and withheld, when the pipeline has `media:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<crate::privacy::media::MediaSummary>,
}

/// One camera's analytics totals.
#[derive(Debug, Clone, Serialize)]
pub struct CameraAnalyticsSummary {
    pub model: String,
    pub frames_detected: u64,
    pub frames_skipped: u64,
    /// Detections the model found, before filters and masks (= `detections` kept plus
    /// `detections_filtered`, below).
    pub detections_found: u64,
    /// Distinct tracks confirmed.
    pub tracks: u64,
    #[serde(flatten)]
    pub counters: Counters,
}

struct ModelRunner {
    name: String,
    detector: Detector,
    max_batch: usize,
    errors: IntCounter,
    batch_size: Histogram,
}

struct CameraAnalytics {
    model: usize,
    gate: RateGate,
    tracker: Tracker,
    engine: RuleEngine,
    detections: u64,
    tracks_seen: u64,
    detected: IntCounter,
    skipped: IntCounter,
    frame_to_event: Histogram,
    active: IntGauge,
}

/// Detection, tracking and rules for every camera of a pipeline; plugged into the run as its
/// frame consumer.
pub struct Analyzer {
    models: Vec<ModelRunner>,
    cameras: HashMap<Arc<str>, CameraAnalytics>,
    sinks: Sinks,
    metrics: Arc<Metrics>,
    stages: BTreeMap<&'static str, (Histogram, Samples)>,
    frame_to_event: Samples,
    infos: BTreeMap<String, BackendInfo>,
    /// Redacted snapshots and recordings, when the pipeline stores any.
    media: Option<MediaWriter>,
}

/// The labels, zones and lines each camera can report, for sinks that announce them.
pub fn catalog(pipeline: &Pipeline) -> Catalog {
    let cameras = pipeline
        .cameras
        .iter()
        .filter_map(|c| {
            let d = c.detect.as_ref()?;
            let model = pipeline.models.get(&d.model)?;
            let labels = match &c.rules.objects {
                Some(objects) => objects.iter().map(|o| o.value.clone()).collect(),
                None => model
                    .manifest
                    .labels
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
            };
            Some(CameraCatalog::new(c.name(), labels, &c.rules))
        })
        .collect();
    Catalog { cameras }
}

impl Analyzer {
    /// Loads each model that a camera uses on its backend (one engine per model, shared by its
    /// cameras) and prepares each camera's tracker and rules.
    pub fn new(
        pipeline: &Pipeline,
        metrics: Arc<Metrics>,
        sinks: Sinks,
    ) -> Result<Self, AnalyticsError> {
        let mut models: Vec<ModelRunner> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut infos = BTreeMap::new();
        for cam in &pipeline.cameras {
            let Some(d) = &cam.detect else { continue };
            if index.contains_key(&d.model) {
                continue;
            }
            let Some(spec) = pipeline.models.get(&d.model) else {
                continue;
            };
            let opts = spec.backend_options();
            let backend =
                select::create(spec.backend, &spec.manifest, &opts).map_err(|source| {
                    AnalyticsError::Backend {
                        model: spec.name.clone(),
                        source,
                    }
                })?;
            let detector = Detector::new(spec.manifest.clone(), backend).map_err(|source| {
                AnalyticsError::Detector {
                    model: spec.name.clone(),
                    source,
                }
            })?;
            let info = detector.backend_info();
            tracing::info!(model = %spec.name, backend = %info.backend, device = %info.device, "model loaded");
            if infos.is_empty() {
                metrics.set_build_info(&info.device, &info.backend);
            }
            infos.insert(spec.name.clone(), info);
            index.insert(d.model.clone(), models.len());
            models.push(ModelRunner {
                name: spec.name.clone(),
                detector,
                max_batch: spec.max_batch,
                errors: metrics.inference_errors.with_label_values(&[&spec.name]),
                batch_size: metrics.batch_size.with_label_values(&[&spec.name]),
            });
        }
        let mut cameras = HashMap::new();
        for cam in &pipeline.cameras {
            let Some(d) = &cam.detect else { continue };
            let Some(&model) = index.get(&d.model) else {
                continue;
            };
            let name = cam.name();
            cameras.insert(
                Arc::from(name),
                CameraAnalytics {
                    model,
                    gate: RateGate::new(d.fps),
                    tracker: Tracker::new(cam.tracker.clone()),
                    engine: RuleEngine::new(cam.rules.clone(), Some(d.model.clone())),
                    detections: 0,
                    tracks_seen: 0,
                    detected: metrics.frames_detected.with_label_values(&[name]),
                    skipped: metrics.frames_skipped.with_label_values(&[name]),
                    frame_to_event: metrics.frame_to_event.with_label_values(&[name]),
                    active: metrics.tracks_active.with_label_values(&[name]),
                },
            );
        }
        let stages = ["infer", "decode", "track", "rules", "publish"]
            .into_iter()
            .map(|s| {
                (
                    s,
                    (
                        metrics.stage_duration.with_label_values(&[s]),
                        Samples::default(),
                    ),
                )
            })
            .collect();
        let media = pipeline.media.as_ref().and_then(|spec| {
            let cameras = pipeline
                .cameras
                .iter()
                .filter_map(|c| {
                    Some(StoringCamera {
                        name: c.name().to_string(),
                        privacy: c.privacy.clone()?,
                        block: c.capture.queue == QueuePolicy::Block,
                    })
                })
                .collect();
            MediaWriter::start(spec, cameras, &pipeline.models, Arc::clone(&metrics))
        });
        Ok(Self {
            models,
            cameras,
            sinks,
            media,
            metrics,
            stages,
            frame_to_event: Samples::default(),
            infos,
        })
    }

    /// Runs each model once per batch size the GPU engine compiles a plan for (1, 2, 4, ... up
    /// to its `max_batch`) on `image`, so plans and pipelines are compiled before the first
    /// camera waits for them. Failures are left for the real frames to report.
    pub fn warm_up(&mut self, image: crate::capture::ImageRef<'_>) {
        for m in &mut self.models {
            for b in crate::infer::gpu::plan_batches(m.max_batch) {
                if let Err(e) = m.detector.infer(&vec![image; b]) {
                    tracing::warn!(model = %m.name, batch = b, error = %e, "warm-up failed");
                    break;
                }
            }
        }
    }

    /// Backend and device of each model.
    pub fn backends(&self) -> impl Iterator<Item = &BackendInfo> {
        self.infos.values()
    }

    fn time(&mut self, stage: &'static str, since: Instant) {
        let secs = since.elapsed().as_secs_f64();
        if let Some((h, s)) = self.stages.get_mut(stage) {
            h.observe(secs);
            s.push(secs);
        }
    }

    /// Tracks, judges and publishes one frame's detections.
    fn analyze(&mut self, frame: &Frame, mut detections: Vec<Detection>) {
        let Some(cam) = self.cameras.get_mut(&frame.camera) else {
            return;
        };
        let info = FrameInfo::of(frame);
        cam.detections += detections.len() as u64;
        for d in &detections {
            self.metrics
                .detections
                .with_label_values(&[&frame.camera, &d.label])
                .inc();
        }
        let t = Instant::now();
        cam.engine.filter(&info, &mut detections);
        let tracks = cam.tracker.update(&info, &detections);
        cam.tracks_seen += tracks.new.len() as u64;
        cam.active.set(cam.tracker.tracks().count() as i64);
        let t_track = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let events = cam.engine.process(&info, &tracks);
        let t_rules = t.elapsed().as_secs_f64();
        let cam_f2e = cam.frame_to_event.clone();
        if let Some((h, s)) = self.stages.get_mut("track") {
            h.observe(t_track);
            s.push(t_track);
        }
        if let Some((h, s)) = self.stages.get_mut("rules") {
            h.observe(t_rules);
            s.push(t_rules);
        }
        if let Some(media) = &self.media {
            media.frame(frame, &detections, &events);
        }
        if events.is_empty() {
            return;
        }
        let t = Instant::now();
        for e in events {
            self.metrics
                .events
                .with_label_values(&[&frame.camera, e.kind.name()])
                .inc();
            let latency = frame.arrived.elapsed().as_secs_f64();
            cam_f2e.observe(latency);
            self.frame_to_event.push(latency);
            self.sinks.publish(e);
        }
        self.time("publish", t);
    }

    /// Ends every track (emitting the final events), stops the sinks after they drain, and
    /// returns what analytics did.
    pub fn finish(mut self) -> AnalyticsSummary {
        let mut names: Vec<Arc<str>> = self.cameras.keys().cloned().collect();
        names.sort();
        for name in &names {
            let Some(cam) = self.cameras.get_mut(name) else {
                continue;
            };
            let tracks = cam.tracker.finish();
            let events = cam.engine.finish(&tracks);
            cam.active.set(0);
            for e in events {
                self.metrics
                    .events
                    .with_label_values(&[name, e.kind.name()])
                    .inc();
                self.sinks.publish(e);
            }
        }
        let cameras = self
            .cameras
            .iter()
            .map(|(name, c)| {
                (
                    name.to_string(),
                    CameraAnalyticsSummary {
                        model: self.models[c.model].name.clone(),
                        frames_detected: c.detected.get(),
                        frames_skipped: c.skipped.get(),
                        detections_found: c.detections,
                        tracks: c.tracks_seen,
                        counters: c.engine.counters().clone(),
                    },
                )
            })
            .collect();
        let stages = self
            .stages
            .iter()
            .map(|(k, (_, s))| (k.to_string(), s.latency()))
            .collect();
        let summary = AnalyticsSummary {
            models: self.infos.clone(),
            stages,
            frame_to_event: self.frame_to_event.latency(),
            cameras,
            media: self.media.take().map(MediaWriter::finish),
        };
        self.sinks.shutdown();
        summary
    }
}

impl FrameConsumer for Analyzer {
    fn admit(&mut self, frame: &Frame) -> bool {
        let Some(cam) = self.cameras.get_mut(&frame.camera) else {
            return false;
        };
        if cam.gate.admit(frame) {
            true
        } else {
            cam.skipped.inc();
            false
        }
    }

    fn max_batch(&self) -> usize {
        self.models.iter().map(|m| m.max_batch).max().unwrap_or(1)
    }

    fn batch(&mut self, frames: Vec<Frame>) {
        // Group by model, keeping each camera's order.
        let mut groups: BTreeMap<usize, Vec<Frame>> = BTreeMap::new();
        for f in frames {
            if let Some(cam) = self.cameras.get(&f.camera) {
                groups.entry(cam.model).or_default().push(f);
            }
        }
        for (m, frames) in groups {
            for chunk in frames.chunks(self.models[m].max_batch.max(1)) {
                let images: Vec<_> = chunk.iter().map(Frame::image).collect();
                let t = Instant::now();
                let runner = &mut self.models[m];
                runner.batch_size.observe(chunk.len() as f64);
                let outputs = runner.detector.infer(&images);
                self.time("infer", t);
                let outputs = match outputs {
                    Ok(o) => o,
                    Err(e) => {
                        let runner = &self.models[m];
                        runner.errors.inc();
                        let n = runner.errors.get();
                        if n == 1 || n.is_power_of_two() {
                            tracing::error!(model = %runner.name, error = %e, failures = n, "inference failed; frames skipped");
                        }
                        continue;
                    }
                };
                let t = Instant::now();
                let decoded = self.models[m].detector.decode_all(&outputs);
                self.time("decode", t);
                for (frame, decoded) in chunk.iter().zip(decoded) {
                    if let Some(cam) = self.cameras.get(&frame.camera) {
                        cam.detected.inc();
                    }
                    match decoded {
                        Ok(dets) => self.analyze(frame, dets),
                        Err(e) => {
                            self.models[m].errors.inc();
                            tracing::error!(model = %self.models[m].name, error = %e, "cannot decode model outputs");
                        }
                    }
                }
            }
        }
    }
}
