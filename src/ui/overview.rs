//! The overview: what every camera, sink and model is doing, read from the same Prometheus
//! registry `/metrics` serves, so the page and a scrape always agree.

use std::collections::BTreeMap;

use prometheus::proto::MetricFamily;
use serde::Serialize;

use super::feed::Feed;
use crate::metrics::Metrics;

/// One camera's line in the overview.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CameraOverview {
    pub name: String,
    /// `connecting`, `streaming`, `backoff`, `ended`, `failed`, ...
    pub state: String,
    /// Counters since start (the page turns them into rates).
    pub captured: u64,
    pub processed: u64,
    pub dropped: u64,
    pub detected: u64,
    pub motion_moving: u64,
    pub motion_frames: u64,
    pub reconnects: u64,
    pub events: u64,
    pub tracks: i64,
    /// Objects inside each zone now.
    pub occupancy: BTreeMap<String, u32>,
    /// Crossings per line since start, `[a_to_b, b_to_a]`.
    pub lines: BTreeMap<String, [u64; 2]>,
}

/// One sink's line.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SinkOverview {
    pub name: String,
    pub delivered: u64,
    pub failed: u64,
    /// Undelivered events in its outbox (network sinks).
    pub pending: i64,
    /// Seconds since the oldest undelivered event happened (`None`: nothing waits).
    pub oldest_age_s: Option<f64>,
    pub up: Option<bool>,
    pub dropped: u64,
}

/// One model's line.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ModelOverview {
    pub name: String,
    pub backend: String,
    pub sha256: String,
    pub errors: u64,
}

/// The whole overview.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Overview {
    pub version: String,
    pub adapter: String,
    pub backend: String,
    pub cameras: Vec<CameraOverview>,
    pub sinks: Vec<SinkOverview>,
    pub models: Vec<ModelOverview>,
    /// Mean milliseconds per call of each stage since start.
    pub stages_ms: BTreeMap<String, f64>,
}

fn label<'a>(m: &'a prometheus::proto::Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

fn find<'a>(families: &'a [MetricFamily], name: &str) -> &'a [prometheus::proto::Metric] {
    families
        .iter()
        .find(|f| f.name() == name)
        .map_or(&[], |f| f.get_metric())
}

/// Sum of the counter or gauge `name` over the samples whose labels match `want`.
fn sum(families: &[MetricFamily], name: &str, want: &[(&str, &str)]) -> f64 {
    find(families, name)
        .iter()
        .filter(|m| want.iter().all(|(k, v)| label(m, k) == *v))
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// Seconds from the Unix time `at` to now; `None` for 0 (nothing waiting).
fn age(at: f64) -> Option<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    (at > 0.0).then(|| (now - at).max(0.0))
}

/// Reads the overview from `metrics`, with zone and line counts from the live `feed`.
pub fn overview(metrics: &Metrics, feed: &Feed) -> Overview {
    let families = metrics.registry.gather();
    let mut out = Overview::default();
    if let Some(b) = find(&families, "lookout_build_info").first() {
        out.version = label(b, "version").to_string();
        out.adapter = label(b, "adapter").to_string();
        out.backend = label(b, "backend").to_string();
    }
    let mut names: Vec<String> = find(&families, "lookout_camera_state")
        .iter()
        .map(|m| label(m, "camera").to_string())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let c = name.as_str();
        let n = |metric: &str| sum(&families, metric, &[("camera", c)]) as u64;
        let state = find(&families, "lookout_camera_state")
            .iter()
            .find(|m| label(m, "camera") == c && m.get_gauge().get_value() >= 1.0)
            .map_or("unknown", |m| label(m, "state"))
            .to_string();
        let live = feed.frame(c);
        out.cameras.push(CameraOverview {
            state,
            captured: n("lookout_frames_captured_total"),
            processed: n("lookout_frames_processed_total"),
            dropped: n("lookout_frames_dropped_total"),
            detected: n("lookout_frames_detected_total"),
            motion_moving: sum(
                &families,
                "lookout_motion_frames_total",
                &[("camera", c), ("state", "moving")],
            ) as u64,
            motion_frames: n("lookout_motion_frames_total"),
            reconnects: n("lookout_camera_reconnects_total"),
            events: n("lookout_events_total"),
            tracks: sum(&families, "lookout_tracks_active", &[("camera", c)]) as i64,
            occupancy: live
                .as_ref()
                .map(|f| f.occupancy.clone())
                .unwrap_or_default(),
            lines: live.as_ref().map(|f| f.lines.clone()).unwrap_or_default(),
            name,
        });
    }
    let mut sinks: Vec<String> = find(&families, "lookout_sink_deliveries_total")
        .iter()
        .chain(find(&families, "lookout_sink_queue_dropped_total"))
        .map(|m| label(m, "sink").to_string())
        .collect();
    sinks.sort();
    sinks.dedup();
    for name in sinks {
        let s = name.as_str();
        let up = find(&families, "lookout_sink_up")
            .iter()
            .find(|m| label(m, "sink") == s)
            .map(|m| m.get_gauge().get_value() >= 1.0);
        out.sinks.push(SinkOverview {
            delivered: sum(
                &families,
                "lookout_sink_deliveries_total",
                &[("sink", s), ("result", "delivered")],
            ) as u64,
            failed: sum(
                &families,
                "lookout_sink_deliveries_total",
                &[("sink", s), ("result", "failed")],
            ) as u64,
            pending: sum(&families, "lookout_outbox_events", &[("sink", s)]) as i64,
            oldest_age_s: age(sum(
                &families,
                "lookout_outbox_oldest_event_timestamp_seconds",
                &[("sink", s)],
            )),
            dropped: (sum(&families, "lookout_outbox_dropped_total", &[("sink", s)])
                + sum(
                    &families,
                    "lookout_sink_queue_dropped_total",
                    &[("sink", s)],
                )) as u64,
            up,
            name,
        });
    }
    for m in find(&families, "lookout_model_info") {
        let name = label(m, "model").to_string();
        out.models.push(ModelOverview {
            backend: label(m, "backend").to_string(),
            sha256: label(m, "sha256").to_string(),
            errors: sum(
                &families,
                "lookout_inference_errors_total",
                &[("model", &name)],
            ) as u64,
            name,
        });
    }
    for m in find(&families, "lookout_stage_duration_seconds") {
        let h = m.get_histogram();
        if h.get_sample_count() > 0 {
            out.stages_ms.insert(
                label(m, "stage").to_string(),
                h.get_sample_sum() / h.get_sample_count() as f64 * 1000.0,
            );
        }
    }
    out
}
