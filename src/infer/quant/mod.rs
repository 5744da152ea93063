//! Static int8 quantization of ONNX models (`lookout quantize`): activation ranges measured on
//! real footage through our IR's reference executor or ONNX Runtime ([`calibrate`]), then QuantizeLinear and
//! DequantizeLinear pairs written around the convolutions in the QDQ layout ONNX Runtime fuses
//! into int8 kernels ([`qdq`]): per-channel symmetric int8 weights, per-tensor asymmetric uint8
//! activations, int32 biases.

pub mod calibrate;
pub mod expose;
pub mod qdq;

pub use calibrate::{CalibrationEngine, Calibrator, Ranges};
pub use qdq::{QdqOptions, QdqSummary, calibration_tensors, quantize};

use crate::infer::InferError;

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The model could not be read or run through our IR.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// The model has a form the quantizer does not rewrite (its operator set, a weight's type).
    #[error("cannot quantize this model: {0}")]
    Model(String),
    /// Nothing was measured: no calibration input, or no convolution with measured ranges.
    #[error("calibration: {0}")]
    Calibration(String),
}
