//! Turning raw model outputs into detections: per-model decoders and non-maximum suppression.

pub mod annotate;
pub mod blazeface;
pub mod centerface;
pub mod decoder;
pub mod nanodet;
pub mod nms;
pub mod npy;
pub mod ssd;
pub mod yolo;

mod outputs;

use std::path::PathBuf;
use std::sync::Arc;

pub use decoder::{Candidate, Decoder, DecoderSpec};

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

/// Why raw outputs could not be decoded, or a detector could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The model has no output of the name the manifest's decoder expects.
    #[error(
        "the model has no output `{name}` (it has: {available}); check the decoder section of the manifest"
    )]
    MissingOutput { name: String, available: String },
    /// An output has a shape the decoder cannot read: the model does not match its decoder.
    #[error("output `{name}` has shape {actual:?}, the {decoder} decoder expects {expected}")]
    Shape {
        decoder: &'static str,
        name: String,
        expected: String,
        actual: Vec<usize>,
    },
    /// The decoder's parameters contradict each other or the model's input size.
    #[error("{decoder} decoder: {message}")]
    Spec {
        decoder: &'static str,
        message: String,
    },
    /// An anchors file could not be read.
    #[error("anchors file {path}: {source}")]
    Anchors {
        path: PathBuf,
        #[source]
        source: npy::NpyError,
    },
    /// The backend failed.
    #[error(transparent)]
    Infer(#[from] crate::infer::InferError),
}

impl DetectError {
    /// Whether the model (or its manifest) is at fault, not the machine.
    pub fn is_bad_model(&self) -> bool {
        match self {
            DetectError::Infer(e) => e.is_bad_model(),
            _ => true,
        }
    }
}
