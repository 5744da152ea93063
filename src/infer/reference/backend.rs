//! The reference executor behind the [`Backend`] interface, so that whole detectors (a quantized
//! model against its float original, say) can be compared without any runtime library: slow, and
//! only for checks.

use crate::capture::frame::ImageRef;
use crate::infer::graph::{self, Graph, InputShape};
use crate::infer::onnx::{self, OnnxModel};
use crate::infer::preprocess::{Preprocess, preprocess_batch_cpu};
use crate::infer::{Backend, BackendInfo, InferError, InferOutput, NamedTensor, Tensor};

/// A model run by [`super::run`], its graph built for each input shape it is given.
pub struct ReferenceBackend {
    model: OnnxModel,
    input_name: String,
    pre: Preprocess,
    /// The graph for the last input shape run.
    graph: Option<Graph>,
}

impl ReferenceBackend {
    /// Reads ONNX bytes whose image input `input_name` is described by `pre`.
    pub fn new(onnx: &[u8], input_name: &str, pre: &Preprocess) -> Result<Self, InferError> {
        Ok(Self {
            model: onnx::load(onnx)?,
            input_name: input_name.to_string(),
            pre: pre.clone(),
            graph: None,
        })
    }

    /// The graph for `shape`, built when the shape changes.
    fn graph(&mut self, shape: &[usize]) -> Result<&Graph, InferError> {
        let stale = self
            .graph
            .as_ref()
            .is_none_or(|g| g.inputs.first().map(|&i| g.shape(i)) != Some(shape));
        if stale {
            let input = InputShape {
                name: self.input_name.clone(),
                shape: shape.to_vec(),
            };
            self.graph = Some(graph::build(&self.model, &[input])?);
        }
        self.graph
            .as_ref()
            .ok_or_else(|| InferError::Input("no graph".into()))
    }
}

impl Backend for ReferenceBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            backend: "reference".into(),
            device: "cpu".into(),
        }
    }

    fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, InferError> {
        let mut out = Vec::with_capacity(images.len());
        for image in images {
            let (tensor, transforms) =
                preprocess_batch_cpu(std::slice::from_ref(image), &self.pre)?;
            let outputs = self.infer_tensor(&tensor)?;
            let transform = transforms
                .into_iter()
                .next()
                .ok_or_else(|| InferError::Input("pre-processing returned no picture".into()))?;
            out.push(InferOutput { outputs, transform });
        }
        Ok(out)
    }

    fn infer_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError> {
        input.check()?;
        let graph = self.graph(&input.shape)?;
        super::run(graph, std::slice::from_ref(input))
    }
}
