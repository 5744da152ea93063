//! Activation ranges for static quantization, measured on calibration pictures through our IR's
//! reference executor (the same definition of every op that the backends are tested against, no
//! runtime library needed) or through ONNX Runtime (the float model with the tensors to measure
//! exposed as outputs: the same numbers, many times faster).

use std::collections::HashMap;

use super::QuantError;
use crate::infer::graph::{self, Graph, InputShape};
use crate::infer::onnx::OnnxModel;
use crate::infer::{InferError, Tensor, reference};

/// Smallest and largest value of each activation tensor over the calibration inputs, by ONNX name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranges {
    map: HashMap<String, (f32, f32)>,
    /// How many inputs were run.
    pub samples: usize,
}

impl Ranges {
    /// The measured `(min, max)` of a tensor, when it was observed with finite values.
    pub fn get(&self, name: &str) -> Option<(f32, f32)> {
        self.map.get(name).copied()
    }

    /// Sets a tensor's range (tests and hand-made calibrations).
    pub fn insert(&mut self, name: impl Into<String>, min: f32, max: f32) {
        self.map.insert(name.into(), (min, max));
    }

    /// Number of tensors with a range.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Widens a tensor's range to cover `data` (non-finite values are left out).
    pub fn observe(&mut self, name: &str, data: &[f32]) {
        let (lo, hi) = data
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            return;
        }
        let e = self.map.entry(name.to_string()).or_insert((lo, hi));
        e.0 = e.0.min(lo);
        e.1 = e.1.max(hi);
    }
}

/// Which engine runs the float model during calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationEngine {
    /// Our IR's reference executor: no library needed, slow (seconds per picture).
    Reference,
    /// ONNX Runtime on the CPU, with the tensors to measure exposed as outputs.
    Onnxruntime,
}

impl CalibrationEngine {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CalibrationEngine::Reference => "reference",
            CalibrationEngine::Onnxruntime => "onnxruntime",
        }
    }
}

impl std::str::FromStr for CalibrationEngine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "reference" => Ok(CalibrationEngine::Reference),
            "onnxruntime" | "ort" => Ok(CalibrationEngine::Onnxruntime),
            _ => Err(format!(
                "unknown calibration engine `{s}` (reference or onnxruntime)"
            )),
        }
    }
}

/// What runs the float model.
enum Engine {
    Reference(Graph),
    /// The session, and the name of the input (not an output: observed as given).
    #[cfg(feature = "onnxruntime")]
    Runtime(crate::infer::onnxruntime::OnnxRuntimeBackend, String),
}

/// The float model on a calibration engine, and the ranges seen so far.
pub struct Calibrator {
    engine: Engine,
    ranges: Ranges,
}

impl Calibrator {
    /// The reference executor on the IR of `model` for one input of `input`'s shape (not fused:
    /// every ONNX tensor that survives folding keeps its name, so ranges map back onto the ONNX
    /// graph).
    pub fn new(model: &OnnxModel, input: InputShape) -> Result<Self, InferError> {
        let graph = graph::build(model, &[input])?;
        Ok(Self {
            engine: Engine::Reference(graph),
            ranges: Ranges::default(),
        })
    }

    /// ONNX Runtime on `onnx` (the bytes `model` was read from), with every tensor the rewrite
    /// may quantize that our IR computes at run time (not folded to a constant) exposed as an
    /// output. `pre` describes the input, as for any session.
    #[cfg(feature = "onnxruntime")]
    pub fn onnxruntime(
        onnx: &[u8],
        model: &OnnxModel,
        input: InputShape,
        pre: &crate::infer::preprocess::Preprocess,
    ) -> Result<Self, QuantError> {
        use crate::infer::onnxruntime::{OnnxRuntimeBackend, SessionOptions};
        let input_name = input.name.clone();
        let graph = graph::build(model, &[input])?;
        let wanted = super::qdq::calibration_tensors(onnx)?;
        let mut names: Vec<String> = graph
            .nodes
            .iter()
            .map(|n| graph.values[n.output].name.clone())
            .filter(|n| wanted.contains(n))
            .collect();
        names.sort();
        names.dedup();
        let (bytes, added) = super::expose::with_outputs(onnx, &names)?;
        tracing::debug!(added, "calibration: tensors exposed to ONNX Runtime");
        let backend = OnnxRuntimeBackend::new(
            &bytes,
            "calibration model",
            &input_name,
            pre,
            &SessionOptions::default(),
        )?;
        Ok(Self {
            engine: Engine::Runtime(backend, input_name),
            ranges: Ranges::default(),
        })
    }

    /// Which engine measures.
    pub fn engine(&self) -> CalibrationEngine {
        match self.engine {
            Engine::Reference(_) => CalibrationEngine::Reference,
            #[cfg(feature = "onnxruntime")]
            Engine::Runtime(..) => CalibrationEngine::Onnxruntime,
        }
    }

    /// Runs one prepared input and widens every range it touches.
    pub fn add(&mut self, input: &Tensor) -> Result<(), QuantError> {
        let ranges = &mut self.ranges;
        match &mut self.engine {
            Engine::Reference(graph) => {
                let graph = &*graph;
                reference::run_observed(graph, std::slice::from_ref(input), |id, t| {
                    ranges.observe(&graph.values[id].name, &t.data);
                })?;
            }
            #[cfg(feature = "onnxruntime")]
            Engine::Runtime(backend, input_name) => {
                use crate::infer::Backend;
                ranges.observe(input_name, &input.data);
                for t in backend.infer_tensor(input)? {
                    ranges.observe(&t.name, &t.tensor.data);
                }
            }
        }
        ranges.samples += 1;
        Ok(())
    }

    /// The ranges measured.
    pub fn finish(self) -> Ranges {
        self.ranges
    }
}
