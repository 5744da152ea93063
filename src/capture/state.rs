//! Camera lifecycle states, mirrored into metrics and logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::metrics::Metrics;

/// Where a camera is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Opening the source (first time or after a backoff).
    Connecting,
    /// Frames are flowing.
    Streaming,
    /// Waiting before the next reconnect attempt.
    Backoff,
    /// A file or finite source reached its end: a clean end.
    Ended,
    /// A file ended well before the duration its container announces (corrupt or cut short).
    Truncated,
    /// A non-reconnecting source failed (e.g. a corrupt file), or shutdown interrupted it.
    Failed,
    /// Stopped by shutdown.
    Stopped,
}

impl CameraState {
    /// All states, for resetting the per-state gauge.
    pub const ALL: [CameraState; 7] = [
        CameraState::Connecting,
        CameraState::Streaming,
        CameraState::Backoff,
        CameraState::Ended,
        CameraState::Failed,
        CameraState::Stopped,
        CameraState::Truncated,
    ];

    /// The `state` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Streaming => "streaming",
            CameraState::Backoff => "backoff",
            CameraState::Ended => "ended",
            CameraState::Truncated => "truncated",
            CameraState::Failed => "failed",
            CameraState::Stopped => "stopped",
        }
    }

    /// Finished states never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CameraState::Ended
                | CameraState::Truncated
                | CameraState::Failed
                | CameraState::Stopped
        )
    }

    fn from_u8(v: u8) -> Self {
        Self::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(CameraState::Failed)
    }
}

/// A camera's current state, readable from any thread (for `/readyz` and the summary).
#[derive(Clone)]
pub struct StateCell {
    camera: Arc<str>,
    state: Arc<AtomicU8>,
    /// Frames a finite source will deliver in total, once known (0 = unknown or endless).
    expected_frames: Arc<std::sync::atomic::AtomicU64>,
    metrics: Arc<Metrics>,
}

impl StateCell {
    /// Starts in `connecting`.
    pub fn new(camera: &str, metrics: Arc<Metrics>) -> Self {
        let cell = Self {
            camera: Arc::from(camera),
            state: Arc::new(AtomicU8::new(0)),
            expected_frames: Arc::default(),
            metrics,
        };
        cell.publish(CameraState::Connecting);
        cell
    }

    /// The current state.
    pub fn get(&self) -> CameraState {
        CameraState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Total frames a file will deliver, for progress bars; `None` for live or unknown sources.
    pub fn expected_frames(&self) -> Option<u64> {
        Some(self.expected_frames.load(Ordering::Relaxed)).filter(|n| *n > 0)
    }

    /// Records the total frame count of a finite source.
    pub fn set_expected_frames(&self, n: u64) {
        self.expected_frames.store(n, Ordering::Relaxed);
    }

    /// Moves to `next`, logging the change and updating `lookout_camera_state` and `lookout_camera_up`.
    pub fn set(&self, next: CameraState) {
        let prev = self.get();
        if prev == next {
            return;
        }
        tracing::info!(camera = %self.camera, from = prev.as_str(), to = next.as_str(), "camera state");
        self.publish(next);
    }

    fn publish(&self, next: CameraState) {
        let idx = CameraState::ALL
            .iter()
            .position(|s| *s == next)
            .unwrap_or(0);
        self.state.store(idx as u8, Ordering::Release);
        for s in CameraState::ALL {
            self.metrics
                .camera_state
                .with_label_values(&[&self.camera, s.as_str()])
                .set(i64::from(s == next));
        }
        self.metrics
            .camera_up
            .with_label_values(&[&self.camera])
            .set(i64::from(next == CameraState::Streaming));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_mirrored_in_metrics() {
        let m = Arc::new(Metrics::new());
        let cell = StateCell::new("door", Arc::clone(&m));
        cell.set(CameraState::Streaming);
        assert_eq!(cell.get(), CameraState::Streaming);
        assert_eq!(m.camera_up.with_label_values(&["door"]).get(), 1);
        assert_eq!(
            m.camera_state
                .with_label_values(&["door", "streaming"])
                .get(),
            1
        );
        assert_eq!(
            m.camera_state
                .with_label_values(&["door", "connecting"])
                .get(),
            0
        );
        cell.set(CameraState::Backoff);
        assert_eq!(m.camera_up.with_label_values(&["door"]).get(), 0);
    }
}
