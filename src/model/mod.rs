//! Models between inference and decoding: manifests (which ONNX file, how to feed and decode it),
//! the `models:` section of a pipeline, the choice of backend, and the [`Detector`] that ties a
//! backend to its decoder.

pub mod auto;
pub mod config;
pub mod detector;
pub mod manifest;
pub mod quantize;
pub mod select;

pub use config::{ModelConfig, ModelSpec, Precision};
pub use detector::Detector;
pub use manifest::{ManifestError, ModelManifest};
pub use select::{BackendKind, BackendOptions, SelectError};
