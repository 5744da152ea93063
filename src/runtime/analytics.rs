//! The analytics stage: detection on admitted frames (batched per model across cameras), then per
//! camera tracking and rules, and the resulting events handed to the sinks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use prometheus::{Histogram, IntCounter, IntGauge};
use serde::Serialize;

use super::FrameConsumer;
use super::prep::{self, CameraPrep, Prepared, StillCounters};
use crate::capture::ImageRef;
use crate::capture::QueuePolicy;
use crate::capture::{Frame, FramePrep};
use crate::detect::{DetectError, Detection, nms};
use crate::infer::BackendInfo;
use crate::metrics::Metrics;
use crate::model::select::{self, BackendOptions, SelectError};
use crate::model::{Detector, ModelSpec};
use crate::motion::MotionState;
use crate::pipeline::diff::{CameraChange, PipelineDiff};
use crate::pipeline::{Camera, Pipeline};
use crate::privacy::media::still::Stills;
use crate::privacy::media::{MediaWriter, StoringCamera};
use crate::rules::{Counters, RuleEngine};
use crate::schedule::budget::BackgroundBudget;
use crate::schedule::gate::{FullReason, MotionGate, Plan, SkipReason};
use crate::schedule::regions::Region;
use crate::sinks::{CameraCatalog, Catalog, SinkContext, SinkFilter, SinkKind, SinkSpec, Sinks};
use crate::track::{FrameInfo, Tracker};
use crate::ui::{FeedWriter, FrameInput, LayoutView};

/// Why the analytics stage could not start.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("model `{model}`: {source}")]
    Backend { model: String, source: SelectError },
    #[error("model `{model}`: {source}")]
    Detector { model: String, source: DetectError },
}

/// Detections of one object seen from two regions of a frame overlap at least this much.
const REGION_MERGE_IOU: f32 = 0.5;

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
    /// Frames skipped by the camera's detection rate.
    pub frames_skipped: u64,
    /// Frames skipped because nothing moved and no tracked object was due for a re-check.
    pub frames_skipped_still: u64,
    /// Frames skipped by the runaway-motion fallback's rate.
    pub frames_skipped_budget: u64,
    /// Regions around motion and tracked objects detected (full frames not counted).
    pub regions: u64,
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
    /// The checksum and backend it runs with, as `lookout_model_info` shows them.
    info: [String; 2],
    errors: IntCounter,
    batch_size: Histogram,
    /// Background full frames its cameras may run (`background_fps`, shared).
    background: BackgroundBudget,
    /// Whether the budget refused one since it last had room (logged once per episode).
    rationing: bool,
}

impl ModelRunner {
    /// Loads `spec` on its backend and runs it once on a black frame (a smoke test that also
    /// compiles GPU plans before a camera waits), then marks it live in `lookout_model_info`.
    fn load(
        spec: &ModelSpec,
        state_dir: &std::path::Path,
        metrics: &Metrics,
    ) -> Result<Self, AnalyticsError> {
        let opts = BackendOptions {
            state_dir: Some(state_dir.to_path_buf()),
            ..spec.backend_options()
        };
        let backend = select::create(spec.backend, &spec.manifest, &opts).map_err(|source| {
            AnalyticsError::Backend {
                model: spec.name.clone(),
                source,
            }
        })?;
        let mut detector = Detector::new(spec.manifest.clone(), backend).map_err(|source| {
            AnalyticsError::Detector {
                model: spec.name.clone(),
                source,
            }
        })?;
        let black = vec![0u8; crate::capture::PixelFormat::Nv12.packed_len(64, 64)];
        let frame = ImageRef::packed(crate::capture::PixelFormat::Nv12, 64, 64, &black);
        detector
            .detect(&[frame])
            .map_err(|source| AnalyticsError::Detector {
                model: spec.name.clone(),
                source,
            })?;
        let info = detector.backend_info();
        tracing::info!(model = %spec.name, backend = %info.backend, device = %info.device, "model loaded");
        let info = [spec.manifest.sha256.clone(), info.backend.to_string()];
        metrics
            .model_info
            .with_label_values(&[&spec.name, &info[0], &info[1]])
            .set(1);
        Ok(ModelRunner {
            name: spec.name.clone(),
            detector,
            max_batch: spec.max_batch,
            info,
            errors: metrics.inference_errors.with_label_values(&[&spec.name]),
            batch_size: metrics.batch_size.with_label_values(&[&spec.name]),
            background: BackgroundBudget::new(spec.background_fps),
            rationing: false,
        })
    }

    /// The detector's input side, the least a region is.
    fn side(&self) -> u32 {
        let i = &self.detector.manifest().input;
        i.width.max(i.height)
    }

    /// Takes its series out of `lookout_model_info` (replaced or removed by a reload).
    fn retire(&self, metrics: &Metrics) {
        let _ = metrics
            .model_info
            .remove_label_values(&[&self.name, &self.info[0], &self.info[1]]);
    }
}

struct CameraAnalytics {
    model: usize,
    /// Rate and motion, run on each frame in the camera's thread.
    prep: Arc<CameraPrep>,
    motion: MotionGate,
    /// Plans of admitted frames not yet detected, by sequence number, in order.
    plans: VecDeque<(u64, Plan)>,
    /// The detector's input side, the least a region is.
    model_side: u32,
    tracker: Tracker,
    engine: RuleEngine,
    detections: u64,
    tracks_seen: u64,
    detected: IntCounter,
    skipped: IntCounter,
    skipped_still: IntCounter,
    skipped_budget: IntCounter,
    regions: IntCounter,
    motion_frames: [IntCounter; 3],
    motion_fraction: Histogram,
    frame_to_event: Histogram,
    active: IntGauge,
    /// Motion boxes of the last admitted frame, for the page.
    last_motion: Vec<[f32; 4]>,
}

impl CameraAnalytics {
    /// Detection, tracking and rules of `cam`, which runs model `model` (input side `side`).
    fn new(
        cam: &Camera,
        d: &crate::schedule::CameraDetect,
        model: usize,
        side: u32,
        metrics: &Metrics,
    ) -> Self {
        let name = cam.name();
        let state = |s: MotionState| metrics.motion_frames.with_label_values(&[name, s.as_str()]);
        let skipped = metrics.frames_skipped.with_label_values(&[name, "rate"]);
        let still = StillCounters {
            skipped: metrics.frames_skipped.with_label_values(&[name, "still"]),
            frames: state(MotionState::Still),
            fraction: metrics.motion_fraction.with_label_values(&[name]),
        };
        CameraAnalytics {
            model,
            prep: Arc::new(CameraPrep::new(
                name,
                d.fps,
                &cam.motion,
                skipped.clone(),
                still.clone(),
                metrics.motion_gpu_failures.with_label_values(&[name]),
            )),
            motion: MotionGate::new(cam.motion.clone()),
            plans: VecDeque::new(),
            model_side: side,
            tracker: Tracker::new(cam.tracker.clone()),
            engine: RuleEngine::new(cam.rules.clone(), Some(d.model.clone())),
            detections: 0,
            tracks_seen: 0,
            detected: metrics.frames_detected.with_label_values(&[name]),
            skipped,
            skipped_still: still.skipped,
            skipped_budget: metrics.frames_skipped.with_label_values(&[name, "budget"]),
            regions: metrics.detection_regions.with_label_values(&[name]),
            motion_frames: [
                state(MotionState::Moving),
                still.frames,
                state(MotionState::Calibrating),
            ],
            motion_fraction: still.fraction,
            frame_to_event: metrics.frame_to_event.with_label_values(&[name]),
            active: metrics.tracks_active.with_label_values(&[name]),
            last_motion: Vec::new(),
        }
    }
}

/// One inference item: a frame, whole or one of its regions.
struct Item<'f> {
    frame: usize,
    image: ImageRef<'f>,
    region: Option<Region>,
}

/// Detection, tracking and rules for every camera of a pipeline; plugged into the run as its
/// frame consumer.
pub struct Analyzer {
    models: Vec<ModelRunner>,
    /// Index in `models` of each model name.
    index: HashMap<String, usize>,
    cameras: HashMap<Arc<str>, CameraAnalytics>,
    /// Summaries of cameras a reload took out, as they were then.
    retired: BTreeMap<String, CameraAnalyticsSummary>,
    sinks: Sinks,
    /// What a reload gives sinks it starts: the identity and state folder of the first file
    /// (they change at a restart only) and the catalog of the running one.
    sink_ctx: SinkContext,
    metrics: Arc<Metrics>,
    stages: BTreeMap<&'static str, (Histogram, Samples)>,
    frame_to_event: Samples,
    infos: BTreeMap<String, BackendInfo>,
    /// Redacted snapshots and recordings, when the pipeline stores any.
    media: Option<MediaWriter>,
    /// The local page's live feed, when the pipeline serves it.
    feed: Option<FeedWriter>,
    /// Redacted stills for the page (`ui.stills`): offered each analysed frame.
    stills: Option<Stills>,
}

/// Cameras with privacy settings, as the media and stills workers take them; `block` says
/// whether a camera's frames wait for the worker.
fn storing_cameras(pipeline: &Pipeline, block: impl Fn(&Camera) -> bool) -> Vec<StoringCamera> {
    pipeline
        .cameras
        .iter()
        .filter_map(|c| {
            Some(StoringCamera {
                name: c.name().to_string(),
                privacy: c.privacy.clone()?,
                block: block(c),
            })
        })
        .collect()
}

/// What the page draws over each camera: its zones, lines and masks as written.
pub fn layouts(pipeline: &Pipeline) -> Vec<LayoutView> {
    pipeline
        .cameras
        .iter()
        .map(|c| {
            LayoutView::new(
                c.name(),
                c.detect.is_some(),
                &c.rules,
                &c.motion.mask_polygons(),
                pipeline.ui.as_ref().is_some_and(|u| u.stills)
                    && c.privacy.as_ref().is_some_and(|p| p.faces.is_some()),
            )
        })
        .collect()
}

/// The sinks a pipeline runs: those of its file, or standard output when it detects and names
/// none (events should go somewhere a person sees them).
pub fn sink_specs(pipeline: &Pipeline) -> Vec<SinkSpec> {
    let mut specs = pipeline.sinks.clone();
    if specs.is_empty() && pipeline.cameras.iter().any(|c| c.detect.is_some()) {
        specs.push(SinkSpec {
            name: "stdout".into(),
            filter: SinkFilter::default(),
            kind: SinkKind::Stdout {
                format: Default::default(),
            },
        });
    }
    specs
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
            let runner = ModelRunner::load(spec, &pipeline.state_dir, &metrics)?;
            let info = runner.detector.backend_info();
            if infos.is_empty() {
                metrics.set_build_info(&info.device, &info.backend);
            }
            infos.insert(spec.name.clone(), info);
            index.insert(d.model.clone(), models.len());
            models.push(runner);
        }
        let mut cameras = HashMap::new();
        for cam in &pipeline.cameras {
            let Some(d) = &cam.detect else { continue };
            let Some(&model) = index.get(&d.model) else {
                continue;
            };
            let side = models[model].side();
            cameras.insert(
                Arc::from(cam.name()),
                CameraAnalytics::new(cam, d, model, side, &metrics),
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
            let cameras = storing_cameras(pipeline, |c| c.capture.queue == QueuePolicy::Block);
            MediaWriter::start(spec, cameras, &pipeline.models, Arc::clone(&metrics))
        });
        Ok(Self {
            models,
            index,
            cameras,
            retired: BTreeMap::new(),
            sinks,
            sink_ctx: SinkContext {
                device: pipeline.device.clone(),
                state_dir: pipeline.state_dir.clone(),
                metrics: Arc::clone(&metrics),
                catalog: catalog(pipeline),
            },
            media,
            feed: None,
            stills: None,
            metrics,
            stages,
            frame_to_event: Samples::default(),
            infos,
        })
    }

    /// Sends every frame's tracks, motion and counts, and every event, to the page's `feed`;
    /// with `ui.stills`, starts the stills worker and returns it for the page.
    pub fn show_on(&mut self, mut feed: FeedWriter, pipeline: &Pipeline) -> Option<Stills> {
        feed.layouts(layouts(pipeline));
        self.feed = Some(feed);
        if !pipeline.ui.as_ref().is_some_and(|u| u.stills) {
            return None;
        }
        // The page never holds up analysis: a still waits for a frame, not the other way.
        let cameras = storing_cameras(pipeline, |_| false);
        match Stills::start(cameras, &pipeline.models, Arc::clone(&self.metrics)) {
            Ok(s) => {
                self.stills = Some(s.clone());
                Some(s)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the stills worker: the page shows no stills");
                None
            }
        }
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

    /// Ends every track of `camera` (end of stream, or the camera left the pipeline) and
    /// publishes the final events.
    fn end_tracks(&mut self, camera: &Arc<str>) {
        let Some(cam) = self.cameras.get_mut(camera) else {
            return;
        };
        let tracks = cam.tracker.finish();
        let events = cam.engine.finish(&tracks);
        cam.active.set(0);
        for e in events {
            self.metrics
                .events
                .with_label_values(&[camera, e.kind.name()])
                .inc();
            self.sinks.publish(e);
        }
    }

    fn camera_summary(&self, c: &CameraAnalytics) -> CameraAnalyticsSummary {
        CameraAnalyticsSummary {
            model: self.models[c.model].name.clone(),
            frames_detected: c.detected.get(),
            frames_skipped: c.skipped.get(),
            frames_skipped_still: c.skipped_still.get(),
            frames_skipped_budget: c.skipped_budget.get(),
            regions: c.regions.get(),
            detections_found: c.detections,
            tracks: c.tracks_seen,
            counters: c.engine.counters().clone(),
        }
    }

    /// Applies a reloaded pipeline between two batches. New and changed models are loaded and
    /// smoke-tested first, beside the running ones: if any fails, nothing changes. Then models
    /// are swapped, cameras added, removed (their tracks ended) or given their new settings,
    /// keeping tracks and what the rules know of them.
    fn apply(&mut self, pipeline: &Pipeline, diff: &PipelineDiff) -> Result<(), String> {
        let mut loaded = Vec::new();
        for name in &diff.models {
            let Some(spec) = pipeline.models.get(name) else {
                continue;
            };
            // Only models a camera uses are loaded, as at start.
            let used = pipeline
                .cameras
                .iter()
                .any(|c| c.detect.as_ref().is_some_and(|d| &d.model == name));
            if !used {
                continue;
            }
            let runner = ModelRunner::load(spec, &pipeline.state_dir, &self.metrics)
                .map_err(|e| e.to_string())?;
            loaded.push(runner);
        }
        for runner in loaded {
            let info = runner.detector.backend_info();
            self.infos.insert(runner.name.clone(), info);
            match self.index.get(&runner.name) {
                Some(&i) => {
                    self.models[i].retire(&self.metrics);
                    self.models[i] = runner;
                }
                None => {
                    self.index.insert(runner.name.clone(), self.models.len());
                    self.models.push(runner);
                }
            }
        }
        if let Some(feed) = &mut self.feed {
            feed.layouts(layouts(pipeline));
        }
        for change in &diff.cameras {
            match change {
                CameraChange::Removed(name) => self.retire_camera(name),
                CameraChange::Added(c) | CameraChange::Capture(c) | CameraChange::Analytics(c) => {
                    self.camera_settings(c)
                }
            }
        }
        self.apply_sinks(pipeline, diff);
        Ok(())
    }

    /// Every sink that ran, reloads included, for the run summary.
    pub fn sink_names(&self) -> Vec<String> {
        self.sinks.started().to_vec()
    }

    /// Restarts the sinks that changed (their outboxes kept), stops removed ones, starts new
    /// ones; sinks announcing the catalog restart when it changed, to announce it again.
    fn apply_sinks(&mut self, pipeline: &Pipeline, diff: &PipelineDiff) {
        let specs = sink_specs(pipeline);
        let mut changed = diff.sinks.clone();
        let catalog = catalog(pipeline);
        if catalog != self.sink_ctx.catalog {
            for s in specs.iter().filter(|s| s.kind.announces()) {
                if !changed.contains(&s.name) {
                    changed.push(s.name.clone());
                }
            }
            self.sink_ctx.catalog = catalog;
        }
        // Nothing changed, nothing added or removed: reconfigure stops and starts nothing.
        for e in self.sinks.reconfigure(specs, &changed, &self.sink_ctx) {
            tracing::error!(error = %e, "a sink of the reloaded file could not start");
        }
    }

    /// A camera gone from the pipeline (or no longer detecting): its tracks end, its summary is
    /// kept for the end of the run.
    fn retire_camera(&mut self, name: &str) {
        let key: Arc<str> = Arc::from(name);
        self.end_tracks(&key);
        if let Some(c) = self.cameras.remove(&key) {
            let summary = self.camera_summary(&c);
            self.retired.insert(name.to_string(), summary);
        }
    }

    /// A camera's new settings: started if new, its rules, tracker, rate, motion and model
    /// replaced if it exists (its tracks and rule state kept).
    fn camera_settings(&mut self, cam: &Camera) {
        let Some(d) = &cam.detect else {
            self.retire_camera(cam.name());
            return;
        };
        let Some(&model) = self.index.get(&d.model) else {
            tracing::error!(camera = cam.name(), model = %d.model, "model not loaded: the camera is not analysed");
            return;
        };
        let side = self.models[model].side();
        let key: Arc<str> = Arc::from(cam.name());
        match self.cameras.get_mut(&key) {
            None => {
                let c = CameraAnalytics::new(cam, d, model, side, &self.metrics);
                self.cameras.insert(key, c);
            }
            Some(c) => {
                c.model = model;
                c.model_side = side;
                c.prep.reconfigure(d.fps, &cam.motion);
                if c.motion.config() != &cam.motion {
                    c.motion = MotionGate::new(cam.motion.clone());
                }
                c.tracker.reconfigure(cam.tracker.clone());
                c.engine.reconfigure(cam.rules.clone());
            }
        }
    }

    /// Tracks, judges and publishes one frame's detections; `covered` are the regions the
    /// detector looked at (`None`: the whole frame).
    fn analyze(
        &mut self,
        frame: &Frame,
        mut detections: Vec<Detection>,
        covered: Option<&[[f32; 4]]>,
    ) {
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
        let tracks = cam.tracker.update_in(&info, &detections, covered);
        cam.tracks_seen += tracks.new.len() as u64;
        let active = cam.tracker.tracks().count();
        cam.active.set(active as i64);
        // Until when the camera's thread may let still frames go.
        let tentative = cam.tracker.tentative().count();
        cam.prep
            .weighed(frame.seq, cam.motion.quiet_until(active, tentative));
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
        if let Some(stills) = &self.stills {
            stills.offer(frame);
        }
        if let Some(feed) = &mut self.feed {
            let tracks = cam
                .tracker
                .tracks()
                .map(|t| {
                    let seen = t.last_seen.seq == frame.seq;
                    (t.id, &*t.label, t.score, t.bbox, seen)
                })
                .collect();
            feed.frame(FrameInput {
                camera: &frame.camera,
                seq: frame.seq,
                pts_seconds: frame.pts.map(|p| p.as_secs_f64()),
                width: frame.width,
                height: frame.height,
                tracks,
                motion: &cam.last_motion,
                regions: covered.unwrap_or(&[]),
                occupancy: cam.engine.occupancy_now(),
                lines: cam.engine.line_totals(),
            });
            for e in &events {
                feed.event(e);
            }
            feed.flush();
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
            self.end_tracks(name);
        }
        if let Some(stills) = self.stills.take() {
            stills.shutdown();
        }
        let mut cameras = std::mem::take(&mut self.retired);
        for (name, c) in &self.cameras {
            cameras.insert(name.to_string(), self.camera_summary(c));
        }
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
        let Some(Prepared { t, motion }) = prep::prepared(&cam.prep, frame) else {
            return false;
        };
        let tracks: Vec<[f32; 4]> = cam.tracker.tracks().map(|t| t.bbox).collect();
        let tentative: Vec<[f32; 4]> = cam.tracker.tentative().collect();
        let Some(runner) = self.models.get_mut(cam.model) else {
            return false;
        };
        let background = runner.background.available(frame.arrived);
        let plan = cam.motion.plan(
            &frame.camera,
            motion.as_ref(),
            (frame.width, frame.height),
            t,
            &tracks,
            &tentative,
            cam.model_side,
            background,
        );
        if plan.is_background() {
            runner.background.spend();
            runner.rationing = false;
        } else if !background && !runner.rationing && matches!(plan, Plan::Skip(SkipReason::Budget))
        {
            runner.rationing = true;
            tracing::info!(
                model = %runner.name,
                per_second = runner.background.rate(),
                "background full frames (start, recalibration, periodic, runaway fallback) wait their turn: the model's background_fps is spent"
            );
        }
        cam.last_motion = motion.as_ref().map(|m| m.boxes.clone()).unwrap_or_default();
        if let Some(m) = motion {
            let i = match m.state {
                MotionState::Moving => 0,
                MotionState::Still => 1,
                MotionState::Calibrating => 2,
            };
            cam.motion_frames[i].inc();
            cam.motion_fraction.observe(f64::from(m.fraction));
        }
        if let Plan::Skip(_) = plan {
            let quiet = cam.motion.quiet_until(tracks.len(), tentative.len());
            cam.prep.weighed(frame.seq, quiet);
        }
        match plan {
            Plan::Skip(SkipReason::Still) => {
                cam.skipped_still.inc();
                false
            }
            Plan::Skip(SkipReason::Budget) => {
                cam.skipped_budget.inc();
                false
            }
            plan => {
                cam.plans.push_back((frame.seq, plan));
                true
            }
        }
    }

    fn max_batch(&self) -> usize {
        self.models.iter().map(|m| m.max_batch).max().unwrap_or(1)
    }

    fn prep(&self, camera: &str) -> Option<Arc<dyn FramePrep>> {
        let cam = self.cameras.get(camera)?;
        Some(Arc::clone(&cam.prep) as Arc<dyn FramePrep>)
    }

    fn reconfigure(&mut self, pipeline: &Pipeline, diff: &PipelineDiff) -> Result<(), String> {
        self.apply(pipeline, diff)
    }

    fn batch(&mut self, frames: Vec<Frame>) {
        // Each frame's plan: the whole frame, or its regions.
        let plans: Vec<Plan> = frames
            .iter()
            .map(|f| {
                self.cameras
                    .get_mut(&f.camera)
                    .and_then(|cam| {
                        while let Some((seq, plan)) = cam.plans.pop_front() {
                            if seq == f.seq {
                                return Some(plan);
                            }
                        }
                        None
                    })
                    .unwrap_or(Plan::Full(FullReason::Disabled))
            })
            .collect();
        // Inference items grouped by model, keeping each camera's order.
        let mut groups: BTreeMap<usize, Vec<Item<'_>>> = BTreeMap::new();
        for (i, (f, plan)) in frames.iter().zip(&plans).enumerate() {
            let Some(cam) = self.cameras.get(&f.camera) else {
                continue;
            };
            let items = groups.entry(cam.model).or_default();
            match plan {
                Plan::Regions(regions) => {
                    cam.regions.inc_by(regions.len() as u64);
                    for r in regions {
                        items.push(Item {
                            frame: i,
                            image: r.view(&f.image()),
                            region: Some(*r),
                        });
                    }
                }
                _ => items.push(Item {
                    frame: i,
                    image: f.image(),
                    region: None,
                }),
            }
        }
        let mut found: Vec<Option<Vec<Detection>>> = vec![None; frames.len()];
        for (m, items) in groups {
            for chunk in items.chunks(self.models[m].max_batch.max(1)) {
                let images: Vec<_> = chunk.iter().map(|it| it.image).collect();
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
                self.models[m].detector.recycle(outputs);
                self.time("decode", t);
                for (item, decoded) in chunk.iter().zip(decoded) {
                    match decoded {
                        Ok(dets) => found[item.frame].get_or_insert_with(Vec::new).extend(
                            dets.into_iter().map(|d| match item.region {
                                Some(r) => r.to_frame(d),
                                None => d,
                            }),
                        ),
                        Err(e) => {
                            self.models[m].errors.inc();
                            tracing::error!(model = %self.models[m].name, error = %e, "cannot decode model outputs");
                        }
                    }
                }
            }
        }
        for ((frame, plan), dets) in frames.iter().zip(&plans).zip(found) {
            let Some(dets) = dets else { continue };
            if let Some(cam) = self.cameras.get(&frame.camera) {
                cam.detected.inc();
            }
            match plan {
                Plan::Regions(regions) => {
                    let covered: Vec<[f32; 4]> = regions.iter().map(Region::bbox).collect();
                    let dets = nms::merge(dets, REGION_MERGE_IOU);
                    self.analyze(frame, dets, Some(&covered));
                }
                _ => self.analyze(frame, dets, None),
            }
        }
    }
}
