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

/// Everything a run reports at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub pipeline: String,
    pub duration_s: f64,
    /// Why the run ended: `completed` (all sources ended) or `signal`.
    pub ended_by: String,
    pub cameras: BTreeMap<String, CameraSummary>,
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
                "  frames: {} captured, {} processed, {} dropped ({:.1} fps)",
                c.frames_captured, c.frames_processed, c.frames_dropped_total, c.fps
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
        }
        Ok(())
    }
}
