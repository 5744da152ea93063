//! Inference: ONNX models run as wgpu compute shaders, with an OpenCV DNN CPU fallback.

pub mod backend;
pub mod preprocess;
pub mod tensor;

pub use backend::{Backend, BackendInfo, InferOutput};
pub use tensor::{NamedTensor, Tensor};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("{0}")]
    Other(String),
}
