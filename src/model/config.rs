//! The `models:` section: detectors by name, each with its backend, shared by every camera that
//! names it (one engine per model and GPU, frames of several cameras batched together).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::manifest::ModelManifest;
use super::select::BackendKind;
use crate::config::{ConfigError, check_name};
use crate::infer::onnxruntime::ExecutionProvider;

/// Storage precision of the GPU engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (default).
    #[default]
    F32,
    /// 16-bit float storage, f32 arithmetic: half the memory traffic, slightly less exact.
    F16,
}

/// One entry of `models:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model's manifest (`models/<name>.yaml`), relative to the pipeline file.
    #[schemars(with = "String")]
    pub manifest: Spanned<PathBuf>,
    /// `auto` (the fastest usable backend, measured on the model at start-up and cached in
    /// `state_dir`), `wgpu`, `cpu` (ONNX Runtime when its library loads, else OpenCV),
    /// `onnxruntime` or `opencv`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub backend: BackendKindConfig,
    /// GPU to use: `high-performance` (default), `low-power`, or part of an adapter's name (see
    /// `lookout devices`).
    #[serde(default = "default_adapter")]
    pub adapter: String,
    /// GPU storage precision: `f32` (default) or `f16`.
    #[serde(default)]
    pub precision: Precision,
    /// Most frames (of different cameras) per inference call (default 4).
    #[serde(default = "default_max_batch")]
    #[schemars(range(min = 1, max = 64))]
    pub max_batch: usize,
    /// ONNX Runtime execution providers to try, in order, before its CPU provider (`cuda`,
    /// `tensorrt`, `openvino`, `rocm`); those the installed library lacks are skipped with a warning.
    #[serde(default)]
    pub providers: Vec<ExecutionProvider>,
    /// Let ONNX Runtime's threads spin between inferences instead of sleeping (default false):
    /// lower latency on an otherwise idle box, much higher when capture and tracking need the
    /// cores (see the README's CPU section).
    #[serde(default)]
    pub spin: bool,
    /// Input size `[width, height]` for models with dynamic input (e.g. CenterFace).
    #[schemars(with = "Option<[InputSide; 2]>")]
    pub input_size: Option<[u32; 2]>,
    /// Minimum detection score, replacing the manifest's threshold.
    #[schemars(range(min = 0, max = 1))]
    pub score_threshold: Option<f32>,
    /// Most background detections per second, shared by the model's cameras (default 4): full
    /// frames that keep watch rather than follow motion (a camera's first frame and
    /// recalibrations, the periodic full frame, the fallback of motion that ran away). Beyond it
    /// they wait their turn, so cameras starting together or rain on every camera cannot crowd
    /// out the cameras where something moves.
    #[serde(default = "default_background_fps")]
    #[schemars(range(min = 0.01, max = 1000))]
    pub background_fps: f64,
}

/// One side of `input_size`, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(transparent)]
#[expect(dead_code, reason = "only its JSON Schema is used")]
struct InputSide(#[schemars(range(min = 16, max = 8192))] u32);

/// `backend:` as written (kept apart from [`BackendKind`] so the schema lists the choices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKindConfig {
    #[default]
    Auto,
    Wgpu,
    Cpu,
    Onnxruntime,
    Opencv,
}

impl From<BackendKindConfig> for BackendKind {
    fn from(b: BackendKindConfig) -> Self {
        match b {
            BackendKindConfig::Auto => BackendKind::Auto,
            BackendKindConfig::Wgpu => BackendKind::Wgpu,
            BackendKindConfig::Cpu => BackendKind::Cpu,
            BackendKindConfig::Onnxruntime => BackendKind::Onnxruntime,
            BackendKindConfig::Opencv => BackendKind::Opencv,
        }
    }
}

fn default_adapter() -> String {
    "high-performance".into()
}
fn default_max_batch() -> usize {
    4
}
fn default_background_fps() -> f64 {
    4.0
}

/// A model after validation: its manifest loaded and checked (sha256 included).
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub manifest: ModelManifest,
    pub backend: BackendKind,
    pub adapter: String,
    pub precision: Precision,
    pub max_batch: usize,
    pub providers: Vec<ExecutionProvider>,
    /// ONNX Runtime's threads spin between inferences.
    pub spin: bool,
    /// Most background detections per second for all its cameras together.
    pub background_fps: f64,
}

/// Loads every manifest of the `models:` section.
pub fn validate(
    models: BTreeMap<String, ModelConfig>,
    file: &Path,
    base: &Path,
) -> Result<BTreeMap<String, ModelSpec>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, m) in models {
        check_name("model", &name).map_err(|msg| ConfigError::spanned(file, &m.manifest, msg))?;
        let path = base.join(&m.manifest.value);
        let mut manifest = ModelManifest::load(&path)
            .map_err(|e| ConfigError::spanned(file, &m.manifest, e.to_string()))?;
        if let Some([w, h]) = m.input_size {
            manifest = manifest
                .with_input_size(w, h)
                .map_err(|e| ConfigError::spanned(file, &m.manifest, e.to_string()))?;
        }
        if let Some(t) = m.score_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(ConfigError::spanned(
                    file,
                    &m.manifest,
                    format!("score_threshold {t} is outside 0..1"),
                ));
            }
            manifest.score_threshold = t;
        }
        if !(1..=64).contains(&m.max_batch) {
            return Err(ConfigError::spanned(
                file,
                &m.manifest,
                format!("max_batch {} is outside 1..=64", m.max_batch),
            ));
        }
        out.insert(
            name.clone(),
            ModelSpec {
                name,
                manifest,
                backend: m.backend.into(),
                adapter: m.adapter,
                precision: m.precision,
                max_batch: m.max_batch,
                providers: m.providers,
                spin: m.spin,
                background_fps: m.background_fps,
            },
        );
    }
    Ok(out)
}
