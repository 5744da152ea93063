//! Choosing the backend for a model: `auto` takes a hardware GPU through wgpu when wgpu finds one,
//! and the OpenCV CPU fallback otherwise (software adapters such as lavapipe are too slow to be
//! worth it for real work; `wgpu` can still be asked for explicitly).

use std::str::FromStr;

use super::manifest::ModelManifest;
use super::{Backend, InferError};

/// Which backend to run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A hardware GPU through wgpu if there is one, else OpenCV on the CPU.
    #[default]
    Auto,
    /// wgpu compute shaders, on the best adapter wgpu finds (a software one included).
    Wgpu,
    /// OpenCV DNN on the CPU.
    Opencv,
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendKind::Auto),
            "wgpu" | "gpu" => Ok(BackendKind::Wgpu),
            "opencv" | "cpu" => Ok(BackendKind::Opencv),
            _ => Err(format!("unknown backend `{s}` (auto, wgpu or opencv)")),
        }
    }
}

/// Why no backend could be made for a model.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The wgpu inference engine is not part of this build yet.
    #[error("the wgpu backend is not in this build; use --backend opencv")]
    WgpuNotInBuild,
    /// Built without the `opencv` cargo feature.
    #[error("the opencv backend is not in this build (built without the `opencv` feature)")]
    OpencvNotInBuild,
    /// `auto` found neither a usable GPU nor the CPU fallback.
    #[error("no backend can run here: {0}")]
    NoBackend(String),
    /// The chosen backend could not load the model.
    #[error(transparent)]
    Infer(#[from] InferError),
}

/// Whether [`wgpu_backend`] can build a backend in this build; flipped when the engine is merged.
const WGPU_IN_BUILD: bool = false;

/// The adapter `auto` would use: the best hardware (non-CPU) adapter wgpu finds, if any.
///
/// Looks at Vulkan, Metal and DX12 (`WGPU_BACKEND` overrides): every GPU worth running detectors
/// on has one of them, and probing GL on a headless box only logs EGL errors.
pub fn hardware_adapter() -> Option<wgpu::AdapterInfo> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    adapters
        .into_iter()
        .map(|a| a.get_info())
        .filter(|i| i.device_type != wgpu::DeviceType::Cpu)
        .max_by_key(|i| match i.device_type {
            wgpu::DeviceType::DiscreteGpu => 3,
            wgpu::DeviceType::IntegratedGpu => 2,
            wgpu::DeviceType::VirtualGpu => 1,
            _ => 0,
        })
}

/// Loads `manifest`'s model on the backend `kind` names.
pub fn create(
    kind: BackendKind,
    manifest: &ModelManifest,
) -> Result<Box<dyn Backend>, SelectError> {
    match kind {
        BackendKind::Wgpu => wgpu_backend(manifest, None),
        BackendKind::Opencv => opencv_backend(manifest),
        BackendKind::Auto => match hardware_adapter() {
            Some(adapter) if WGPU_IN_BUILD => wgpu_backend(manifest, Some(adapter)),
            Some(adapter) => {
                tracing::info!(
                    adapter = %adapter.name,
                    "found a GPU, but the wgpu backend is not in this build: using OpenCV on the CPU"
                );
                opencv_backend(manifest)
            }
            None => {
                tracing::info!("no hardware GPU adapter: using OpenCV on the CPU");
                opencv_backend(manifest).map_err(|e| match e {
                    SelectError::OpencvNotInBuild => SelectError::NoBackend(
                        "no hardware GPU adapter, and the opencv backend is not in this build"
                            .into(),
                    ),
                    e => e,
                })
            }
        },
    }
}

/// The wgpu backend on `adapter` (the best one wgpu finds when `None`).
///
/// Plug point for the engine: replace the body with `WgpuBackend::new(manifest, adapter)` boxed,
/// and set [`WGPU_IN_BUILD`].
fn wgpu_backend(
    _manifest: &ModelManifest,
    _adapter: Option<wgpu::AdapterInfo>,
) -> Result<Box<dyn Backend>, SelectError> {
    Err(SelectError::WgpuNotInBuild)
}

#[cfg(feature = "opencv")]
fn opencv_backend(manifest: &ModelManifest) -> Result<Box<dyn Backend>, SelectError> {
    Ok(Box::new(super::opencv::OpenCvBackend::new(manifest)?))
}

#[cfg(not(feature = "opencv"))]
fn opencv_backend(_manifest: &ModelManifest) -> Result<Box<dyn Backend>, SelectError> {
    Err(SelectError::OpencvNotInBuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("OpenCV".parse(), Ok(BackendKind::Opencv));
        assert_eq!("wgpu".parse(), Ok(BackendKind::Wgpu));
        assert!(
            "cuda"
                .parse::<BackendKind>()
                .unwrap_err()
                .contains("auto, wgpu or opencv")
        );
    }
}
