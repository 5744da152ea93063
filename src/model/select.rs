//! Choosing the backend for a model: `auto` measures the usable backends on the model and takes
//! the fastest ([`super::auto`]; software adapters such as lavapipe are too slow to be worth it
//! for real work and are left out; `wgpu` can still be asked for explicitly). `cpu` is ONNX
//! Runtime when its library loads, else OpenCV DNN. Every model passes our IR's checks before any
//! backend sees it, so all backends run only models the IR (and the decoders built on it)
//! understands.

use std::str::FromStr;

use std::sync::Mutex;

use super::config::{self, ModelSpec};
use super::manifest::ModelManifest;
use crate::infer::gpu::{AdapterChoice, GpuContext, ModelOptions, Precision, WgpuBackend};
use crate::infer::graph::{self, InputShape};
use crate::infer::onnxruntime::ExecutionProvider;
use crate::infer::{Backend, InferError, onnx};

/// Which backend to run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The fastest usable backend, measured on the model at start-up (software GPUs excluded).
    #[default]
    Auto,
    /// wgpu compute shaders, on the best adapter wgpu finds (a software one included).
    Wgpu,
    /// The fastest CPU engine present: ONNX Runtime when its library loads, else OpenCV DNN.
    Cpu,
    /// ONNX Runtime (its CPU provider, or the execution providers of `providers:`).
    Onnxruntime,
    /// OpenCV DNN on the CPU.
    Opencv,
}

impl BackendKind {
    /// The name pipeline files and the command line use (what [`FromStr`] reads back).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cpu => "cpu",
            BackendKind::Onnxruntime => "onnxruntime",
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
            "cpu" => Ok(BackendKind::Cpu),
            "onnxruntime" | "ort" => Ok(BackendKind::Onnxruntime),
            "opencv" => Ok(BackendKind::Opencv),
            _ => Err(format!(
                "unknown backend `{s}` (auto, wgpu, cpu, onnxruntime or opencv)"
            )),
        }
    }
}

/// Why no backend could be made for a model.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// Built without the `opencv` cargo feature.
    #[error("the opencv backend is not in this build (built without the `opencv` feature)")]
    OpencvNotInBuild,
    /// Built without the `onnxruntime` cargo feature.
    #[error(
        "the onnxruntime backend is not in this build (built without the `onnxruntime` feature)"
    )]
    OnnxruntimeNotInBuild,
    /// Our IR rejected the model (before any backend saw it).
    #[error("{model} fails lookout's model checks: {source}")]
    Check {
        model: String,
        #[source]
        source: Box<InferError>,
    },
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
            SelectError::OpencvNotInBuild | SelectError::OnnxruntimeNotInBuild => true,
            SelectError::Check { .. } => true,
            SelectError::NoBackend(_) => false,
            SelectError::Infer(e) => e.is_bad_model(),
        }
    }
}

/// How a model is placed on its device (GPU settings are ignored by the CPU backends).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendOptions {
    pub adapter: AdapterChoice,
    pub precision: Precision,
    /// Most pictures per inference call.
    pub max_batch: usize,
    /// ONNX Runtime execution providers to try before its CPU provider.
    pub providers: Vec<ExecutionProvider>,
    /// ONNX Runtime's intra-op threads spin between inferences instead of sleeping.
    pub spin: bool,
    /// Where `auto` caches the backend it measured fastest (the pipeline's `state_dir`); `None`
    /// measures at every start.
    pub state_dir: Option<std::path::PathBuf>,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            adapter: AdapterChoice::HighPerformance,
            precision: Precision::F32,
            max_batch: 1,
            providers: Vec::new(),
            spin: false,
            state_dir: None,
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
            providers: self.providers.clone(),
            spin: self.spin,
            state_dir: None,
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

/// Loads `manifest`'s model on the backend `kind` names, after our IR has checked it.
///
/// `auto` times the model on each usable backend (a hardware GPU through wgpu, the CPU engines)
/// and takes the fastest ([`super::auto`]); `cpu` takes ONNX Runtime when its library loads, else
/// OpenCV.
pub fn create(
    kind: BackendKind,
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    check_model(manifest).map_err(|source| SelectError::Check {
        model: manifest.model_path.display().to_string(),
        source: Box::new(source),
    })?;
    match kind {
        BackendKind::Auto => super::auto::create(manifest, opts),
        kind => create_checked(kind, manifest, opts),
    }
}

/// [`create`] for a model that passed [`check_model`], on a named backend (not `auto`).
pub(super) fn create_checked(
    kind: BackendKind,
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    match kind {
        BackendKind::Wgpu => wgpu_backend(manifest, &gpu_context(&opts.adapter)?, opts),
        BackendKind::Opencv => opencv_backend(manifest),
        BackendKind::Onnxruntime => onnxruntime_backend(manifest, opts),
        BackendKind::Cpu | BackendKind::Auto => cpu_backend(manifest, opts),
    }
}

/// Runs the model through our IR's checks (decoding, shapes at the manifest's input size,
/// supported operators) before any backend gets it: one verdict for every backend.
pub fn check_model(manifest: &ModelManifest) -> Result<(), InferError> {
    let model = onnx::load(&manifest.onnx)?;
    let name = &manifest.input.name;
    if !model.inputs.iter().any(|i| i.name == *name) {
        let inputs: Vec<&str> = model.inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(InferError::Input(format!(
            "the manifest names input `{name}`, the model's inputs are {inputs:?}"
        )));
    }
    let input = InputShape {
        name: manifest.input.name.clone(),
        shape: manifest.preprocess.input_shape(1),
    };
    graph::build(&model, &[input]).map(|_| ())
}

/// A CPU inference engine as `lookout devices` lists it: whether it is usable here, and why not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuEngine {
    /// `onnxruntime` or `opencv`, the `backend:` value that selects it.
    pub engine: &'static str,
    /// Whether it can run models here (in the build, and its library found).
    pub available: bool,
    /// The engine's release, when it is available.
    pub version: Option<String>,
    /// Where its library was found.
    pub location: Option<String>,
    /// ONNX Runtime's execution providers in this build of the library.
    pub providers: Vec<String>,
    /// Why it is not available.
    pub reason: Option<String>,
}

/// The CPU engines, in the order `cpu` prefers them.
pub fn cpu_engines() -> Vec<CpuEngine> {
    let missing = |engine, reason: String| CpuEngine {
        engine,
        available: false,
        version: None,
        location: None,
        providers: Vec::new(),
        reason: Some(reason),
    };
    #[cfg(feature = "onnxruntime")]
    let ort = match crate::infer::onnxruntime::runtime() {
        Ok(rt) => CpuEngine {
            engine: "onnxruntime",
            available: true,
            version: Some(rt.version.clone()),
            location: Some(rt.path.display().to_string()),
            providers: rt.providers.clone(),
            reason: None,
        },
        Err(e) => missing("onnxruntime", e.to_string()),
    };
    #[cfg(not(feature = "onnxruntime"))]
    let ort = missing(
        "onnxruntime",
        SelectError::OnnxruntimeNotInBuild.to_string(),
    );
    #[cfg(feature = "opencv")]
    let opencv = match opencv::core::get_version_string() {
        Ok(v) => CpuEngine {
            engine: "opencv",
            available: true,
            version: Some(v),
            location: Some("linked at build time".into()),
            providers: Vec::new(),
            reason: None,
        },
        Err(e) => missing("opencv", e.message),
    };
    #[cfg(not(feature = "opencv"))]
    let opencv = missing("opencv", SelectError::OpencvNotInBuild.to_string());
    vec![ort, opencv]
}

/// The fastest CPU engine present: ONNX Runtime when its library loads, else OpenCV DNN.
fn cpu_backend(
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    match onnxruntime_backend(manifest, opts) {
        Ok(b) => Ok(b),
        Err(
            e @ (SelectError::OnnxruntimeNotInBuild | SelectError::Infer(InferError::Library(_))),
        ) => {
            tracing::info!(reason = %e, "ONNX Runtime is not available: using OpenCV on the CPU");
            opencv_backend(manifest).map_err(|o| match o {
                SelectError::OpencvNotInBuild => {
                    SelectError::NoBackend(format!("no CPU engine: {e}; and {o}"))
                }
                o => o,
            })
        }
        Err(e) => Err(e),
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

#[cfg(feature = "onnxruntime")]
fn onnxruntime_backend(
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    use crate::infer::onnxruntime::{OnnxRuntimeBackend, SessionOptions};
    let session = SessionOptions {
        providers: opts.providers.clone(),
        threads: None,
        spin: opts.spin,
    };
    Ok(Box::new(OnnxRuntimeBackend::new(
        &manifest.onnx,
        &manifest.model_path.display().to_string(),
        &manifest.input.name,
        &manifest.preprocess,
        &session,
    )?))
}

#[cfg(not(feature = "onnxruntime"))]
fn onnxruntime_backend(
    _manifest: &ModelManifest,
    _opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    Err(SelectError::OnnxruntimeNotInBuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("OpenCV".parse(), Ok(BackendKind::Opencv));
        assert_eq!("wgpu".parse(), Ok(BackendKind::Wgpu));
        assert_eq!("cpu".parse(), Ok(BackendKind::Cpu));
        assert_eq!("onnxruntime".parse(), Ok(BackendKind::Onnxruntime));
        assert!(
            "cuda"
                .parse::<BackendKind>()
                .unwrap_err()
                .contains("auto, wgpu, cpu, onnxruntime or opencv")
        );
    }
}
