//! The end-of-run summary: printed for people, written as JSON with `--summary PATH`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::capture::CameraState;
use crate::metrics::Metrics;

/// Per-camera totals, read from the same counters `/metrics` exports so the two always agree.
#[derive(Debug, Clone, Serialize)]
pub struct CameraSummary {
    /// The source, with credentials removed.
    pub source: String,
    pub state: CameraState,
    /// Frames a file source announced (duration x frame rate); absent for live sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_frames: Option<u64>,
    pub frames_captured: u64,
    /// Of them, frames copied and queued for analysis; the rest were let go in the camera's
    /// thread (off the detection rate, or still with nothing due).
    pub frames_queued: u64,
    pub frames_processed: u64,
    /// Dropped frames by reason.
    pub frames_dropped: BTreeMap<String, u64>,
    pub frames_dropped_total: u64,
    pub reconnects: u64,
    /// Source errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// The error the camera ended on, if it failed.
    pub last_error: Option<String>,
    /// Frames processed per second of run time.
    pub fps: f64,
}

/// One sink's totals at the end of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SinkSummary {
    pub delivered: u64,
    /// Refused by the receiver for good (e.g. HTTP 400).
    pub rejected: u64,
    /// Could not be written or stored.
    pub failed: u64,
    /// Dropped because the sink's queue or outbox was full.
    pub dropped: u64,
    /// Delivery attempts that failed and were retried.
    pub retries: u64,
    /// Still in the outbox, to be delivered at the next start.
    pub pending: u64,
}

impl SinkSummary {
    /// Reads a sink's totals from the metrics registry.
    pub fn from_metrics(m: &Metrics, sink: &str) -> Self {
        let result = |r: &str| m.sink_deliveries.with_label_values(&[sink, r]).get();
        Self {
            delivered: result("delivered"),
            rejected: result("rejected"),
            failed: result("failed") + result("outbox_error"),
            dropped: m.sink_queue_dropped.with_label_values(&[sink]).get()
                + m.outbox_dropped.with_label_values(&[sink]).get(),
            retries: m.sink_retries.with_label_values(&[sink]).get(),
            pending: m.outbox_events.with_label_values(&[sink]).get().max(0) as u64,
        }
    }
}

/// Everything a run reports at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub pipeline: String,
    pub duration_s: f64,
    /// Why the run ended: `completed` (all sources ended) or `signal`.
    pub ended_by: String,
    pub cameras: BTreeMap<String, CameraSummary>,
    /// Per sink: what it delivered, retried, and left pending.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sinks: BTreeMap<String, SinkSummary>,
    /// Detection, tracking and rules, when the pipeline has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics: Option<super::analytics::AnalyticsSummary>,
}

fn write_camera_analytics(
    f: &mut fmt::Formatter<'_>,
    a: &super::analytics::CameraAnalyticsSummary,
    backend: Option<&crate::infer::BackendInfo>,
) -> fmt::Result {
    let on = backend
        .map(|b| format!(" on {} ({})", b.backend, b.device))
        .unwrap_or_default();
    writeln!(
        f,
        "  detection: model {}{on}: {} frames detected ({} regions), {} skipped by rate, {} for no motion{}; {} detections ({} filtered out), {} tracks",
        a.model,
        a.frames_detected,
        a.regions,
        a.frames_skipped,
        a.frames_skipped_still,
        if a.frames_skipped_budget > 0 {
            format!(
                ", {} over the runaway-motion budget",
                a.frames_skipped_budget
            )
        } else {
            String::new()
        },
        a.detections_found,
        a.counters.detections_filtered,
        a.tracks
    )?;
    let c = &a.counters;
    if !c.objects.is_empty() {
        let objs: Vec<String> = c.objects.iter().map(|(l, n)| format!("{l} {n}")).collect();
        writeln!(f, "  objects: {}", objs.join(", "))?;
    }
    for (line, per_label) in &c.lines {
        let parts: Vec<String> = per_label
            .iter()
            .map(|(l, n)| format!("{l} a_to_b {} b_to_a {}", n.a_to_b, n.b_to_a))
            .collect();
        writeln!(f, "  line {line}: {}", parts.join("; "))?;
    }
    for (zone, z) in &c.zones {
        let visits: Vec<String> = z.visits.iter().map(|(l, n)| format!("{l} {n}")).collect();
        let max: Vec<String> = z
            .max_occupancy
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        let loiter: Vec<String> = z
            .loitering
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        writeln!(
            f,
            "  zone {zone}: visits [{}], most at once [{}], loitering [{}]",
            visits.join(", "),
            max.join(", "),
            loiter.join(", ")
        )?;
    }
    if !c.events.is_empty() {
        let ev: Vec<String> = c.events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(f, "  events: {}", ev.join(", "))?;
    }
    Ok(())
}

/// Sums a counter vector's series for one camera, grouped by its second label.
fn by_label(metrics: &Metrics, family: &str, camera: &str, label: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for mf in metrics
        .registry
        .gather()
        .iter()
        .filter(|mf| mf.name() == family)
    {
        for m in mf.get_metric() {
            let labels = m.get_label();
            let cam = labels
                .iter()
                .find(|l| l.name() == "camera")
                .map(|l| l.value());
            let key = labels.iter().find(|l| l.name() == label).map(|l| l.value());
            if let (Some(c), Some(k)) = (cam, key)
                && c == camera
            {
                *out.entry(k.to_string()).or_default() += m.get_counter().get_value() as u64;
            }
        }
    }
    out
}

impl CameraSummary {
    /// Reads a camera's totals from the metrics registry.
    pub fn from_metrics(
        metrics: &Metrics,
        camera: &str,
        source: String,
        state: &crate::capture::StateCell,
        last_error: Option<String>,
        duration_s: f64,
    ) -> Self {
        let frames_dropped = by_label(metrics, "lookout_frames_dropped_total", camera, "reason");
        let frames_processed = metrics.frames_processed.with_label_values(&[camera]).get();
        Self {
            source,
            state: state.get(),
            expected_frames: state.expected_frames(),
            frames_captured: metrics.frames_captured.with_label_values(&[camera]).get(),
            frames_queued: metrics.frames_queued.with_label_values(&[camera]).get(),
            frames_processed,
            frames_dropped_total: frames_dropped.values().sum(),
            frames_dropped,
            reconnects: metrics.reconnects.with_label_values(&[camera]).get(),
            errors: by_label(metrics, "lookout_source_errors_total", camera, "kind"),
            last_error,
            fps: if duration_s > 0.0 {
                frames_processed as f64 / duration_s
            } else {
                0.0
            },
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "── lookout summary: {} ({:.1} s, {}) ──",
            self.pipeline, self.duration_s, self.ended_by
        )?;
        for (name, c) in &self.cameras {
            writeln!(f, "camera {name} [{}] {}", c.state.as_str(), c.source)?;
            writeln!(
                f,
                "  frames: {} captured, {} queued, {} processed, {} dropped ({:.1} fps)",
                c.frames_captured,
                c.frames_queued,
                c.frames_processed,
                c.frames_dropped_total,
                c.fps
            )?;
            for (reason, n) in c.frames_dropped.iter().filter(|(_, n)| **n > 0) {
                writeln!(f, "    dropped {reason}: {n}")?;
            }
            if c.reconnects > 0 || !c.errors.is_empty() {
                let errs: Vec<String> = c.errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
                writeln!(
                    f,
                    "  reconnects: {}, errors: {}",
                    c.reconnects,
                    errs.join(" ")
                )?;
            }
            if let Some(e) = &c.last_error {
                writeln!(f, "  last error: {e}")?;
            }
            if let Some(a) = self.analytics.as_ref().and_then(|a| a.cameras.get(name)) {
                write_camera_analytics(
                    f,
                    a,
                    self.analytics.as_ref().and_then(|x| x.models.get(&a.model)),
                )?;
            }
            let media = self.analytics.as_ref().and_then(|a| a.media.as_ref());
            if let Some(m) = media.and_then(|m| m.cameras.get(name)) {
                let withheld: Vec<String> = m
                    .withheld
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                writeln!(
                    f,
                    "  media (redacted): {} snapshots, {} recorded frames, withheld: {}",
                    m.snapshots,
                    m.recorded_frames,
                    if withheld.is_empty() {
                        "none".to_string()
                    } else {
                        withheld.join(" ")
                    }
                )?;
            }
        }
        for (name, s) in &self.sinks {
            writeln!(
                f,
                "sink {name}: {} delivered, {} rejected, {} failed, {} dropped, {} retries, {} pending",
                s.delivered, s.rejected, s.failed, s.dropped, s.retries, s.pending
            )?;
        }
        if let Some(a) = &self.analytics {
            let stages: Vec<String> = ["infer", "decode", "track", "rules", "publish"]
                .iter()
                .filter_map(|s| {
                    a.stages
                        .get(*s)
                        .filter(|l| l.count > 0)
                        .map(|l| format!("{s} {:.2}/{:.2}", l.p50_ms, l.p99_ms))
                })
                .collect();
            writeln!(f, "stage latency ms (p50/p99): {}", stages.join("  "))?;
            if a.frame_to_event.count > 0 {
                writeln!(
                    f,
                    "frame to event ms (p50/p99): {:.1}/{:.1} over {} events",
                    a.frame_to_event.p50_ms, a.frame_to_event.p99_ms, a.frame_to_event.count
                )?;
            }
        }
        Ok(())
    }
}
