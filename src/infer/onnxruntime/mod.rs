//! CPU backend through ONNX Runtime, loaded at run time: the fastest CPU path we have, and the way
//! to ORT's execution providers (CUDA, TensorRT, OpenVINO, ROCm) where the user's build has them.

#[cfg(feature = "onnxruntime")]
pub mod library;
#[cfg(feature = "onnxruntime")]
mod session;

#[cfg(feature = "onnxruntime")]
pub use library::{Runtime, runtime};
#[cfg(feature = "onnxruntime")]
pub use session::{OnnxRuntimeBackend, SessionOptions};

use serde::{Deserialize, Serialize};

/// An ONNX Runtime execution provider to try before the CPU (`providers:` in the model config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    /// NVIDIA GPUs through CUDA.
    Cuda,
    /// NVIDIA GPUs through TensorRT (builds an engine per model on first use).
    Tensorrt,
    /// Intel CPUs, GPUs and NPUs through OpenVINO.
    Openvino,
    /// AMD GPUs through ROCm.
    Rocm,
}

impl ExecutionProvider {
    /// Every provider lookout can pass through.
    pub const ALL: [ExecutionProvider; 4] = [
        ExecutionProvider::Cuda,
        ExecutionProvider::Tensorrt,
        ExecutionProvider::Openvino,
        ExecutionProvider::Rocm,
    ];

    /// The name pipeline files use.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::Tensorrt => "tensorrt",
            ExecutionProvider::Openvino => "openvino",
            ExecutionProvider::Rocm => "rocm",
        }
    }

    /// The name ONNX Runtime lists it under.
    pub fn ort_name(self) -> &'static str {
        match self {
            ExecutionProvider::Cuda => "CUDAExecutionProvider",
            ExecutionProvider::Tensorrt => "TensorrtExecutionProvider",
            ExecutionProvider::Openvino => "OpenVINOExecutionProvider",
            ExecutionProvider::Rocm => "ROCMExecutionProvider",
        }
    }
}
