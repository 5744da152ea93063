//! One Prometheus registry for every stage, served with health endpoints.

pub mod server;

use std::collections::HashMap;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The `metrics:` section of a pipeline file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`, `/healthz` and `/readyz` (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Listen address, default `127.0.0.1:9464`; use `0.0.0.0:9464` to scrape from another host.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: Spanned<String>,
}

fn yes() -> bool {
    true
}

fn default_listen() -> Spanned<String> {
    serde_saphyr::Spanned::new(
        "127.0.0.1:9464".to_string(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
        }
    }
}

/// Latency buckets in seconds, from 100 us to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric lookout exports, registered once and shared by all stages.
pub struct Metrics {
    pub registry: Registry,
    /// Frames that reached lookout from the decoder, per camera.
    pub frames_captured: IntCounterVec,
    /// Frames taken off a camera's queue by the next stage.
    pub frames_processed: IntCounterVec,
    /// Frames copied out of the decoder's buffer into a camera's queue: the rest were let go in
    /// the camera's thread (off the detection rate, or still with nothing due).
    pub frames_queued: IntCounterVec,
    /// Frames lost, per camera and reason (`queue_full`, `shutdown`, ...).
    pub frames_dropped: IntCounterVec,
    /// Frames waiting in each camera's queue.
    pub queue_depth: IntGaugeVec,
    /// 1 while a camera delivers frames.
    pub camera_up: IntGaugeVec,
    /// 1 for the camera's current state (`connecting`, `streaming`, `backoff`, `ended`, `failed`), else 0.
    pub camera_state: IntGaugeVec,
    /// Reconnect attempts of live sources.
    pub reconnects: IntCounterVec,
    /// Source errors by kind (`open`, `stream`, `stall`, `decode`).
    pub source_errors: IntCounterVec,
    /// Seconds from a frame leaving the decoder to a consumer taking it off the queue.
    pub capture_latency: HistogramVec,
    /// Events handled by each sink, by result (`delivered`, `rejected`, `failed`, `outbox_error`).
    pub sink_deliveries: IntCounterVec,
    /// Failed delivery attempts that will be retried.
    pub sink_retries: IntCounterVec,
    /// Undelivered events in each network sink's outbox.
    pub outbox_events: IntGaugeVec,
    /// Bytes on disk of each outbox.
    pub outbox_bytes: IntGaugeVec,
    /// Events dropped because an outbox was full (oldest first).
    pub outbox_dropped: IntCounterVec,
    /// Time of the oldest undelivered event in each outbox (0 when empty), for its age.
    pub outbox_oldest: GaugeVec,
    /// Events dropped because a sink's queue was full.
    pub sink_queue_dropped: IntCounterVec,
    /// Seconds from an event entering a sink to its delivery.
    pub sink_delivery_seconds: HistogramVec,
    /// 1 while a sink's last delivery attempt succeeded.
    pub sink_up: IntGaugeVec,
    /// Events that left the device, per sink.
    pub egress_events: IntCounterVec,
    /// Bytes of event payload that left the device, per sink.
    pub egress_bytes: IntCounterVec,
    /// Seconds spent per pipeline stage (`infer`, `decode`, `track`, `rules`, `publish`).
    pub stage_duration: HistogramVec,
    /// Seconds from a frame reaching lookout to an event about it being handed to the sinks.
    pub frame_to_event: HistogramVec,
    /// Frames run through a detector.
    pub frames_detected: IntCounterVec,
    /// Frames not run through a detector because of the camera's detection rate.
    pub frames_skipped: IntCounterVec,
    /// Frames by motion state (`moving`, `still`, `calibrating`).
    pub motion_frames: IntCounterVec,
    /// Regions detected instead of whole frames.
    pub detection_regions: IntCounterVec,
    /// Share of the picture in motion.
    pub motion_fraction: HistogramVec,
    /// Motion passes on a GPU that failed (the camera then runs them on the CPU).
    pub motion_gpu_failures: IntCounterVec,
    /// Detections kept after decoding, per camera and label.
    pub detections: IntCounterVec,
    /// Events produced, per camera and kind.
    pub events: IntCounterVec,
    /// Inference calls that failed, per model.
    pub inference_errors: IntCounterVec,
    /// Frames per inference call.
    pub batch_size: HistogramVec,
    /// Tracks currently alive, per camera.
    pub tracks_active: IntGaugeVec,
    /// Snapshots and recorded frames written to local disk (redacted), per camera and kind.
    pub media_written: IntCounterVec,
    /// Snapshots and recorded frames not written because face detection or redaction failed or
    /// was late, the worker was busy, or storage failed: per camera, kind and reason.
    pub media_withheld: IntCounterVec,
    /// Constant 1 labelled with version, adapter and backend.
    pub build_info: GaugeVec,
    /// Reloads of the pipeline file, by result (`ok`, `error`).
    pub config_reloads: IntCounterVec,
    /// 1 for each model running now, labelled with its name, file checksum and backend.
    pub model_info: IntGaugeVec,
    /// Constant 1 labelled with the box's `device` name and `site`.
    pub device_info: IntGaugeVec,
}

impl Metrics {
    /// Registers all metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let m = Metrics {
            frames_captured: counter(
                &registry,
                "lookout_frames_captured_total",
                "Frames decoded and handed to lookout",
                &["camera"],
            ),
            frames_processed: counter(
                &registry,
                "lookout_frames_processed_total",
                "Frames taken by the next stage",
                &["camera"],
            ),
            frames_queued: counter(
                &registry,
                "lookout_frames_queued_total",
                "Frames copied and queued for analysis (the rest were let go in the camera's thread)",
                &["camera"],
            ),
            frames_dropped: counter(
                &registry,
                "lookout_frames_dropped_total",
                "Frames dropped, by reason",
                &["camera", "reason"],
            ),
            queue_depth: gauge(
                &registry,
                "lookout_queue_depth",
                "Frames waiting in a camera's queue",
                &["camera"],
            ),
            camera_up: gauge(
                &registry,
                "lookout_camera_up",
                "1 while the camera is streaming",
                &["camera"],
            ),
            camera_state: gauge(
                &registry,
                "lookout_camera_state",
                "1 for the camera's current state",
                &["camera", "state"],
            ),
            reconnects: counter(
                &registry,
                "lookout_camera_reconnects_total",
                "Reconnect attempts of live sources",
                &["camera"],
            ),
            source_errors: counter(
                &registry,
                "lookout_source_errors_total",
                "Source failures by kind",
                &["camera", "kind"],
            ),
            capture_latency: histogram(
                &registry,
                "lookout_capture_to_handoff_seconds",
                "Seconds from decoder output to the next stage taking the frame",
                &["camera"],
            ),
            sink_deliveries: counter(
                &registry,
                "lookout_sink_deliveries_total",
                "Events handled by a sink, by result",
                &["sink", "result"],
            ),
            sink_retries: counter(
                &registry,
                "lookout_sink_retries_total",
                "Delivery attempts that failed and will be retried",
                &["sink"],
            ),
            outbox_events: gauge(
                &registry,
                "lookout_outbox_events",
                "Undelivered events in a sink's outbox",
                &["sink"],
            ),
            outbox_bytes: gauge(
                &registry,
                "lookout_outbox_bytes",
                "Bytes on disk of a sink's outbox",
                &["sink"],
            ),
            outbox_dropped: counter(
                &registry,
                "lookout_outbox_dropped_total",
                "Events dropped because the outbox was full",
                &["sink"],
            ),
            outbox_oldest: float_gauge(
                &registry,
                "lookout_outbox_oldest_event_timestamp_seconds",
                "Unix time of the oldest undelivered event in a sink's outbox (0 when empty)",
                &["sink"],
            ),
            sink_queue_dropped: counter(
                &registry,
                "lookout_sink_queue_dropped_total",
                "Events dropped because a sink's queue was full",
                &["sink"],
            ),
            sink_delivery_seconds: histogram(
                &registry,
                "lookout_sink_delivery_seconds",
                "Seconds from an event entering a sink to its delivery",
                &["sink"],
            ),
            sink_up: gauge(
                &registry,
                "lookout_sink_up",
                "1 while the sink delivers",
                &["sink"],
            ),
            egress_events: counter(
                &registry,
                "lookout_egress_events_total",
                "Events that left the device",
                &["sink"],
            ),
            egress_bytes: counter(
                &registry,
                "lookout_egress_bytes_total",
                "Bytes of event payload that left the device",
                &["sink"],
            ),
            stage_duration: histogram(
                &registry,
                "lookout_stage_duration_seconds",
                "Seconds spent per pipeline stage",
                &["stage"],
            ),
            frame_to_event: histogram(
                &registry,
                "lookout_frame_to_event_seconds",
                "Seconds from a frame reaching lookout to an event about it",
                &["camera"],
            ),
            frames_detected: counter(
                &registry,
                "lookout_frames_detected_total",
                "Frames run through a detector",
                &["camera"],
            ),
            frames_skipped: counter(
                &registry,
                "lookout_frames_skipped_total",
                "Frames not detected: by the camera's detection rate, for no motion, or over the runaway-motion budget",
                &["camera", "reason"],
            ),
            motion_frames: counter(
                &registry,
                "lookout_motion_frames_total",
                "Frames by what motion detection made of them",
                &["camera", "state"],
            ),
            motion_gpu_failures: counter(
                &registry,
                "lookout_motion_gpu_failures_total",
                "Motion passes on a GPU that failed; the camera runs them on the CPU from then on",
                &["camera"],
            ),
            detection_regions: counter(
                &registry,
                "lookout_detection_regions_total",
                "Regions around motion and tracked objects run through a detector (full frames not counted)",
                &["camera"],
            ),
            motion_fraction: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "lookout_motion_fraction",
                        "Fraction of the picture in motion, per frame",
                    )
                    .buckets(vec![0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0]),
                    &["camera"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            detections: counter(
                &registry,
                "lookout_detections_total",
                "Detections after decoding",
                &["camera", "label"],
            ),
            events: counter(
                &registry,
                "lookout_events_total",
                "Events produced",
                &["camera", "kind"],
            ),
            inference_errors: counter(
                &registry,
                "lookout_inference_errors_total",
                "Inference calls that failed",
                &["model"],
            ),
            batch_size: {
                let h = HistogramVec::new(
                    HistogramOpts::new("lookout_inference_batch_size", "Frames per inference call")
                        .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
                    &["model"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            tracks_active: gauge(
                &registry,
                "lookout_tracks_active",
                "Tracks currently alive",
                &["camera"],
            ),
            media_written: counter(
                &registry,
                "lookout_media_written_total",
                "Redacted snapshots and recorded frames written to local disk",
                &["camera", "kind"],
            ),
            media_withheld: counter(
                &registry,
                "lookout_media_withheld_total",
                "Snapshots and recorded frames not written (fail closed), by reason",
                &["camera", "kind", "reason"],
            ),
            config_reloads: counter(
                &registry,
                "lookout_config_reloads_total",
                "Reloads of the pipeline file, by result (ok: applied; error: refused, the running pipeline kept)",
                &["result"],
            ),
            model_info: gauge(
                &registry,
                "lookout_model_info",
                "1 for each model running now: its name, the sha256 of its file and its backend",
                &["model", "sha256", "backend"],
            ),
            build_info: {
                let g = GaugeVec::new(
                    Opts::new(
                        "lookout_build_info",
                        "Build and runtime information (always 1)",
                    ),
                    &["version", "adapter", "backend"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            device_info: gauge(
                &registry,
                "lookout_device_info",
                "The box's name and site, as in its events (always 1)",
                &["device", "site"],
            ),
            registry,
        };
        m.set_build_info("none", "none");
        m
    }

    /// Records which adapter and backend inference uses (replacing the previous value).
    pub fn set_build_info(&self, adapter: &str, backend: &str) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), adapter, backend])
            .set(1.0);
    }

    /// Records which box this is (replacing the previous value).
    pub fn set_device_info(&self, device: &str, site: &str) {
        self.device_info.reset();
        self.device_info.with_label_values(&[device, site]).set(1);
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Metrics {
    /// Removes every series of `camera` (a camera taken out by a reload), so `/metrics` shows only
    /// the cameras that exist.
    pub fn forget_camera(&self, camera: &str) {
        let vecs: [&dyn CameraSeries; 21] = [
            &self.frames_captured,
            &self.frames_processed,
            &self.frames_dropped,
            &self.queue_depth,
            &self.camera_up,
            &self.camera_state,
            &self.reconnects,
            &self.source_errors,
            &self.capture_latency,
            &self.frame_to_event,
            &self.frames_detected,
            &self.frames_skipped,
            &self.motion_frames,
            &self.detection_regions,
            &self.motion_fraction,
            &self.motion_gpu_failures,
            &self.detections,
            &self.events,
            &self.tracks_active,
            &self.media_written,
            &self.media_withheld,
        ];
        for family in self.registry.gather() {
            for m in family.get_metric() {
                let labels: HashMap<&str, &str> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                if labels.get("camera") != Some(&camera) {
                    continue;
                }
                for v in vecs {
                    if v.name() == family.name() {
                        v.remove(&labels);
                    }
                }
            }
        }
    }
}

/// A labelled metric family with a `camera` label, by its name.
trait CameraSeries {
    fn name(&self) -> String;
    fn remove(&self, labels: &HashMap<&str, &str>);
}

impl<T: prometheus::core::MetricVecBuilder> CameraSeries for prometheus::core::MetricVec<T> {
    fn name(&self) -> String {
        use prometheus::core::Collector;
        self.desc()
            .first()
            .map(|d| d.fq_name.clone())
            .unwrap_or_default()
    }

    fn remove(&self, labels: &HashMap<&str, &str>) {
        let _ = prometheus::core::MetricVec::remove(self, labels);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers a counter vector; names are static and unique, so failure is a programming error.
pub fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

/// Registers an integer gauge vector.
pub fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

/// Registers a floating-point gauge vector (times, fractions).
pub fn float_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

/// Registers a latency histogram vector with [`LATENCY_BUCKETS`].
pub fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_build_info_and_counters() {
        let m = Metrics::new();
        m.frames_captured.with_label_values(&["a"]).inc_by(3);
        m.set_build_info("llvmpipe", "wgpu");
        m.set_device_info("door-box", "oslo");
        let text = m.render();
        assert!(
            text.contains("lookout_device_info{device=\"door-box\",site=\"oslo\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lookout_frames_captured_total{camera=\"a\"} 3"),
            "{text}"
        );
        assert!(text.contains("adapter=\"llvmpipe\""), "{text}");
        assert!(!text.contains("adapter=\"none\""), "{text}");
    }

    #[test]
    fn a_forgotten_camera_leaves_no_series() {
        let m = Metrics::new();
        for cam in ["a", "b"] {
            m.frames_captured.with_label_values(&[cam]).inc();
            m.frames_dropped
                .with_label_values(&[cam, "queue_full"])
                .inc();
            m.detections.with_label_values(&[cam, "person"]).inc();
            m.capture_latency.with_label_values(&[cam]).observe(0.1);
        }
        m.forget_camera("a");
        let text = m.render();
        assert!(!text.contains("camera=\"a\""), "{text}");
        assert!(
            text.contains("lookout_frames_captured_total{camera=\"b\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lookout_detections_total{camera=\"b\",label=\"person\"} 1"),
            "{text}"
        );
    }
}
