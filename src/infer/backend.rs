//! The one interface every inference backend (wgpu, OpenCV DNN) implements.

use crate::capture::frame::ImageRef;

use super::InferError;
use super::preprocess::BoxTransform;
use super::tensor::{NamedTensor, Tensor};

/// What a backend reports about itself, for logs, metrics (`lookout_build_info`) and `lookout devices`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendInfo {
    /// `wgpu` or `opencv`.
    pub backend: String,
    /// Adapter or device name (e.g. "NVIDIA H100", "llvmpipe", "cpu").
    pub device: String,
}

/// Raw outputs for one picture of a batch, with the transform that maps model pixels to frame pixels.
#[derive(Debug, Clone)]
pub struct InferOutput {
    /// Model outputs with the batch dimension removed from nothing: each has leading dim 1.
    pub outputs: Vec<NamedTensor>,
    pub transform: BoxTransform,
}

/// Where the last call's time went, for backends that can tell (wgpu): host work before the
/// submission, waiting for the device, reading the outputs back, and the device's own time for
/// the pass (timestamp queries, where the adapter has them). Without it, a slow GPU call cannot
/// be told apart from a slow host around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CallPhases {
    /// Uploading and encoding: pre-processing uploads or packing, recording, submitting.
    pub prepare_ms: f64,
    /// From the submission until the outputs could be mapped.
    pub wait_ms: f64,
    /// Decoding the mapped outputs into tensors.
    pub read_ms: f64,
    /// The compute pass on the device, from its timestamps (`None` without timestamp queries).
    pub device_ms: Option<f64>,
}

/// A loaded model ready to run on one device.
pub trait Backend: Send {
    /// Which backend and device this is.
    fn info(&self) -> BackendInfo;

    /// Pre-processes each picture as the manifest says and runs the model on the batch.
    fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, InferError>;

    /// Runs the model on an already prepared input (batch in dimension 0), for reference checks.
    fn infer_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError>;

    /// Takes back outputs the caller is done with, so that a later run writes into their memory
    /// instead of fresh pages: a model's outputs are megabytes, and fresh pages cost a page fault
    /// each (~700 per NanoDet inference, 5-8% of its time). Backends that do not reuse output
    /// memory drop them.
    fn recycle(&mut self, outputs: Vec<NamedTensor>) {
        drop(outputs);
    }

    /// Where the last call's time went, when the backend measures it.
    fn last_phases(&self) -> Option<CallPhases> {
        None
    }
}
