//! Turning raw model outputs into detections: per-model decoders and non-maximum suppression.

use std::sync::Arc;

/// One detected object in frame pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Index into the model's label list.
    pub class_id: u32,
    /// Human-readable label (e.g. "person", "face").
    pub label: Arc<str>,
    /// Confidence in 0..1.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in frame pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Keypoints (e.g. eyes, nose, mouth corners for faces) in frame pixels; empty when the model has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub landmarks: Vec<[f32; 2]>,
}
