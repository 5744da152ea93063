//! CPU fallback backend: OpenCV DNN runs the ONNX model, fed by the CPU pre-processing.

pub mod compat;

use opencv::core::{Mat, Scalar, Vector};
use opencv::dnn::{self, Net};
use opencv::prelude::*;

use crate::capture::frame::ImageRef;

use super::letterbox::preprocess_into;
use super::preprocess::Preprocess;
use super::{Backend, BackendInfo, InferError, InferOutput, NamedTensor, Tensor};

const BACKEND: &str = "opencv";

/// A model loaded into OpenCV DNN (default backend, CPU target).
pub struct OpenCvBackend {
    net: Net,
    pre: Preprocess,
    input_name: String,
    /// Names of the outputs returned, in order: the model's graph outputs.
    output_names: Vector<String>,
}

impl OpenCvBackend {
    /// Loads ONNX bytes (already checksum-verified) into OpenCV; `model` names the file in
    /// errors, `input_name` is the image input `pre` describes.
    pub fn new(
        onnx: &[u8],
        model_name: &str,
        input_name: &str,
        pre: &Preprocess,
    ) -> Result<Self, InferError> {
        let fail = |message: String| InferError::ModelLoad {
            backend: BACKEND,
            model: model_name.to_string(),
            message,
        };
        let load = |e: opencv::Error| fail(e.message);
        let model = compat::for_opencv_4_6(onnx).map_err(|e| fail(e.to_string()))?;
        if !model.inputs.iter().any(|i| i == input_name) {
            return Err(fail(format!(
                "the manifest names input `{input_name}`, the model's inputs are {:?}",
                model.inputs
            )));
        }
        if model.rewritten > 0 {
            tracing::debug!(
                rewritten = model.rewritten,
                "Split/Clip nodes moved to their attribute form for OpenCV 4.6"
            );
        }
        let buffer = Vector::<u8>::from_slice(&model.bytes);
        let mut net = dnn::read_net_from_onnx_buffer(&buffer).map_err(load)?;
        if net.empty().map_err(load)? {
            return Err(fail("OpenCV read an empty network".into()));
        }
        net.set_preferable_backend(dnn::DNN_BACKEND_OPENCV)
            .map_err(load)?;
        net.set_preferable_target(dnn::DNN_TARGET_CPU)
            .map_err(load)?;
        let output_names = net.get_unconnected_out_layers_names().map_err(load)?;
        Ok(Self {
            net,
            pre: pre.clone(),
            input_name: input_name.to_string(),
            output_names,
        })
    }

    /// Names of the outputs `infer` returns.
    pub fn output_names(&self) -> Vec<String> {
        self.output_names.to_vec()
    }
}

/// An OpenCV error while running the network.
fn run_err(e: opencv::Error) -> InferError {
    InferError::Run {
        backend: BACKEND,
        message: e.message,
    }
}

/// Copies an n-dimensional f32 `Mat` into a [`Tensor`].
fn to_tensor(m: &Mat) -> Result<Tensor, InferError> {
    let shape: Vec<usize> = m
        .mat_size()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    let mat = if m.is_continuous() {
        m.clone()
    } else {
        m.try_clone().map_err(run_err)?
    };
    let data = mat.data_typed::<f32>().map_err(run_err)?.to_vec();
    if shape.iter().product::<usize>() != data.len() {
        return Err(InferError::Run {
            backend: BACKEND,
            message: format!("output of shape {shape:?} holds {} values", data.len()),
        });
    }
    Ok(Tensor::new(shape, data))
}

impl Backend for OpenCvBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            backend: BACKEND.into(),
            device: "cpu".into(),
        }
    }

    fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, InferError> {
        // One picture at a time: the shipped models have a fixed batch of 1, and on a CPU a
        // larger batch gains nothing.
        let mut out = Vec::with_capacity(images.len());
        for img in images {
            let mut input = Tensor::zeros(self.pre.input_shape(1));
            let transform = preprocess_into(img, &self.pre, &mut input.data)?;
            let outputs = self.infer_tensor(&input)?;
            out.push(InferOutput { outputs, transform });
        }
        Ok(out)
    }

    fn infer_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError> {
        input.check()?;
        let dims = input
            .shape
            .iter()
            .map(|&d| i32::try_from(d))
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| InferError::Input(format!("shape {:?} too large", input.shape)))?;
        let blob = Mat::new_nd_with_data(&dims, &input.data).map_err(run_err)?;
        self.net
            .set_input(&blob, &self.input_name, 1.0, Scalar::default())
            .map_err(run_err)?;
        let mut mats = Vector::<Mat>::new();
        self.net
            .forward(&mut mats, &self.output_names)
            .map_err(run_err)?;
        self.output_names
            .iter()
            .zip(mats.iter())
            .map(|(name, m)| {
                Ok(NamedTensor {
                    name,
                    tensor: to_tensor(&m)?,
                })
            })
            .collect()
    }
}
