//! Inference: ONNX models run as wgpu compute shaders, with an OpenCV DNN CPU fallback.

pub mod backend;
pub mod manifest;
#[cfg(feature = "opencv")]
pub mod opencv;
pub mod preprocess;
pub mod select;
pub mod tensor;

pub use backend::{Backend, BackendInfo, InferOutput};
pub use tensor::{NamedTensor, Tensor};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("{0}")]
    Other(String),
    /// The backend cannot load the model (corrupt file, an operator it does not support, ...).
    #[error("{backend} backend cannot load {model}: {message}")]
    ModelLoad {
        backend: &'static str,
        model: String,
        message: String,
    },
    /// The backend failed while running a loaded model.
    #[error("{backend} backend failed to run the model: {message}")]
    Run {
        backend: &'static str,
        message: String,
    },
    /// The input tensor does not fit the model.
    #[error("bad input tensor: {0}")]
    Input(String),
    /// A picture could not be pre-processed.
    #[error(transparent)]
    Preprocess(#[from] preprocess::PreprocessError),
}
