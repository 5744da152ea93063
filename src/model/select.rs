//! Choosing the backend for a model: `auto` takes a hardware GPU through wgpu when wgpu finds one,
//! and the OpenCV CPU fallback otherwise (software adapters such as lavapipe are too slow to be
//! worth it for real work; `wgpu` can still be asked for explicitly).

use std::str::FromStr;

use std::sync::Mutex;

use super::config::{self, ModelSpec};
use super::manifest::ModelManifest;
use crate::infer::gpu::{AdapterChoice, GpuContext, ModelOptions, Precision, WgpuBackend};
use crate::infer::{Backend, InferError};

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

impl BackendKind {
    /// The name pipeline files and the command line use (what [`FromStr`] reads back).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Opencv => "opencv",
        }
    }
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

impl SelectError {
    /// Whether the model or the choice of backend is at fault, not the machine.
    pub fn is_bad_model(&self) -> bool {
        match self {
            SelectError::OpencvNotInBuild => true,
            SelectError::NoBackend(_) => false,
            SelectError::Infer(e) => e.is_bad_model(),
        }
    }
}

/// How a model is placed on the GPU (ignored by the CPU backend).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendOptions {
    pub adapter: AdapterChoice,
    pub precision: Precision,
    /// Most pictures per inference call.
    pub max_batch: usize,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            adapter: AdapterChoice::HighPerformance,
            precision: Precision::F32,
            max_batch: 1,
        }
    }
}

impl ModelSpec {
    /// How this model of the `models:` section is placed on its backend.
    pub fn backend_options(&self) -> BackendOptions {
        BackendOptions {
            adapter: adapter_choice(&self.adapter),
            precision: match self.precision {
                config::Precision::F32 => Precision::F32,
                config::Precision::F16 => Precision::F16,
            },
            max_batch: self.max_batch,
        }
    }
}

/// Parses an adapter choice as written in a pipeline file or on the command line.
pub fn adapter_choice(s: &str) -> AdapterChoice {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "high-performance" | "high_performance" | "default" => AdapterChoice::HighPerformance,
        "low-power" | "low_power" => AdapterChoice::LowPower,
        _ => AdapterChoice::Named(s.trim().to_string()),
    }
}

/// One GPU context per adapter choice for the whole process: every model on a GPU shares its
/// device, queue and pipeline cache ("one engine per GPU"), and so does redaction.
pub fn gpu_context(choice: &AdapterChoice) -> Result<GpuContext, InferError> {
    static CONTEXTS: Mutex<Vec<(AdapterChoice, GpuContext)>> = Mutex::new(Vec::new());
    let mut all = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, ctx)) = all.iter().find(|(c, _)| c == choice) {
        return Ok(ctx.clone());
    }
    let ctx = GpuContext::new(choice)?;
    all.push((choice.clone(), ctx.clone()));
    Ok(ctx)
}

/// Loads `manifest`'s model on the backend `kind` names.
///
/// `auto` opens the chosen adapter and uses it when it is real hardware; on a software adapter
/// (lavapipe, llvmpipe, SwiftShader) or without any adapter it falls back to OpenCV on the CPU.
pub fn create(
    kind: BackendKind,
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    match kind {
        BackendKind::Wgpu => wgpu_backend(manifest, &gpu_context(&opts.adapter)?, opts),
        BackendKind::Opencv => opencv_backend(manifest),
        BackendKind::Auto => match gpu_context(&opts.adapter) {
            Ok(ctx) if !ctx.is_software() => wgpu_backend(manifest, &ctx, opts),
            found => {
                match found {
                    Ok(ctx) => tracing::info!(
                        adapter = %ctx.summary().name,
                        "only a software GPU adapter: using OpenCV on the CPU"
                    ),
                    Err(e) => tracing::info!(error = %e, "no GPU adapter: using OpenCV on the CPU"),
                }
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

/// The wgpu engine for `manifest` on `ctx`.
fn wgpu_backend(
    manifest: &ModelManifest,
    ctx: &GpuContext,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    let model_opts = ModelOptions {
        input_width: manifest.input.width,
        input_height: manifest.input.height,
        max_batch: opts.max_batch.max(1),
        precision: opts.precision,
    };
    let backend = WgpuBackend::new(ctx, &manifest.onnx, &manifest.preprocess, model_opts)?;
    Ok(Box::new(backend))
}

#[cfg(feature = "opencv")]
fn opencv_backend(manifest: &ModelManifest) -> Result<Box<dyn Backend>, SelectError> {
    Ok(Box::new(crate::infer::opencv::OpenCvBackend::new(
        &manifest.onnx,
        &manifest.model_path.display().to_string(),
        &manifest.input.name,
        &manifest.preprocess,
    )?))
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
