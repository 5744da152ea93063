//! Inference: ONNX models run as wgpu compute shaders, or on the CPU through ONNX Runtime or
//! OpenCV DNN.

pub mod backend;
pub mod gpu;
pub mod graph;
pub mod letterbox;
pub mod onnx;
pub mod onnxruntime;
#[cfg(feature = "opencv")]
pub mod opencv;
pub mod preprocess;
pub mod quant;
pub mod reference;
pub mod tensor;

pub use backend::{Backend, BackendInfo, CallPhases, InferOutput};
pub use tensor::{NamedTensor, Tensor};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The file is not a usable ONNX model (bad protobuf, inconsistent tensors, absurd sizes).
    #[error("bad model: {0}")]
    BadModel(String),
    /// The model uses an operator (or a form of one) that lookout cannot run.
    #[error("unsupported op {op} in node {node:?}: {reason}")]
    Unsupported {
        op: String,
        node: String,
        reason: String,
    },
    /// Shapes do not fit together at a node (after resolving the input size).
    #[error("shape error at node {node:?} ({op}): {reason}")]
    Shape {
        op: String,
        node: String,
        reason: String,
    },
    /// The caller's input does not fit the model (wrong shape, size, batch).
    #[error("bad input: {0}")]
    Input(String),
    /// The GPU could not be opened or failed while running.
    #[error("GPU: {0}")]
    Gpu(String),
    /// A runtime library the backend loads at run time (ONNX Runtime) is missing or unusable.
    #[error("{0}")]
    Library(String),
    #[error(transparent)]
    Image(#[from] crate::capture::ImageError),
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
}

impl InferError {
    /// Whether the model or the input is at fault (a file the user can fix), rather than the
    /// machine (GPU, runtime): the CLI exits 2 for these, 1 for the others.
    pub fn is_bad_model(&self) -> bool {
        matches!(
            self,
            InferError::BadModel(_)
                | InferError::Unsupported { .. }
                | InferError::Shape { .. }
                | InferError::Input(_)
                | InferError::Image(_)
                | InferError::ModelLoad { .. }
        )
    }
}
