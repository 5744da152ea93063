//! A model loaded into an ONNX Runtime session: pre-processing writes straight into the session's
//! input tensor, and the outputs come back as [`NamedTensor`]s like every other backend's.

use ort::ep::ExecutionProviderDispatch;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor as OrtTensor;

use super::ExecutionProvider;
use super::library::runtime;
use crate::capture::frame::ImageRef;
use crate::infer::letterbox::preprocess_into;
use crate::infer::preprocess::Preprocess;
use crate::infer::{Backend, BackendInfo, InferError, InferOutput, NamedTensor, Tensor};

const BACKEND: &str = "onnxruntime";

/// How a session is set up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    /// Execution providers to try before the CPU, in order; those the library lacks are skipped.
    pub providers: Vec<ExecutionProvider>,
    /// Threads inside one inference; `None` for one per logical core.
    pub threads: Option<usize>,
    /// Idle pool threads spin (lower latency on an idle box) instead of sleeping (the default).
    pub spin: bool,
}

/// A model in ONNX Runtime, fed by the shared CPU pre-processing.
pub struct OnnxRuntimeBackend {
    session: Session,
    pre: Preprocess,
    input_name: String,
    /// One picture's input, allocated once; pre-processing writes into it in place.
    picture: OrtTensor<f32>,
    output_names: Vec<String>,
    /// Memory of outputs handed back ([`Backend::recycle`]), written into by the next runs.
    spare: Vec<Vec<f32>>,
    /// The provider that runs the model: the first requested one that registered, else `cpu`.
    device: String,
}

impl OnnxRuntimeBackend {
    /// Loads ONNX bytes (already checked by the IR) into a session; `model_name` names the file in
    /// errors, `input_name` is the image input `pre` describes.
    pub fn new(
        onnx: &[u8],
        model_name: &str,
        input_name: &str,
        pre: &Preprocess,
        opts: &SessionOptions,
    ) -> Result<Self, InferError> {
        let rt = runtime()?;
        let fail = |message: String| InferError::ModelLoad {
            backend: BACKEND,
            model: model_name.to_string(),
            message,
        };
        let threads = opts.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let (dispatch, device) = providers(&rt.providers, &opts.providers);
        let build = || -> Result<Session, String> {
            let text = |e: ort::Error<_>| e.to_string();
            Session::builder(&rt.env)
                .map_err(|e| e.to_string())?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(text)?
                .with_intra_threads(threads)
                .map_err(text)?
                .with_inter_threads(1)
                .map_err(text)?
                // Idle pool threads sleep unless asked to spin: capture, decoding and tracking
                // need the cores between inferences. On the 2-core VM under load sleeping halved
                // the demo's time (23 s vs 46 s) and NanoDet's latency (31 vs 54 ms p50).
                .with_intra_op_spinning(opts.spin)
                .map_err(text)?
                .with_execution_providers(dispatch)
                .map_err(text)?
                .commit_from_memory(onnx)
                .map_err(|e| e.to_string())
        };
        let session = build().map_err(fail)?;
        if !session.inputs().iter().any(|i| i.name() == input_name) {
            return Err(fail(format!(
                "the manifest names input `{input_name}`, the model's inputs are {:?}",
                session
                    .inputs()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
            )));
        }
        let output_names = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let picture = OrtTensor::<f32>::new(session.allocator(), pre.input_shape(1))
            .map_err(|e| fail(format!("cannot allocate the input: {e}")))?;
        tracing::debug!(model = model_name, %device, threads, spin = opts.spin, "ONNX Runtime session ready");
        Ok(Self {
            session,
            pre: pre.clone(),
            input_name: input_name.to_string(),
            picture,
            spare: Vec::new(),
            output_names,
            device,
        })
    }

    /// Runs the session on `input` (the picture tensor or a caller's) and copies the outputs out.
    fn run(
        session: &mut Session,
        input_name: &str,
        input: SessionInputValue<'_>,
        names: &[String],
        spare: &mut Vec<Vec<f32>>,
    ) -> Result<Vec<NamedTensor>, InferError> {
        let outputs = session
            .run(ort::inputs![input_name => input])
            .map_err(run_err)?;
        names
            .iter()
            .map(|name| {
                let (shape, data) = outputs[name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                let shape = shape
                    .iter()
                    .map(|&d| {
                        usize::try_from(d)
                            .map_err(|_| run_msg(format!("output {name} has dim {d}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Into the smallest recycled buffer big enough (each output finds its own again
                // run after run), else a new one.
                let fit = spare
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.capacity() >= data.len())
                    .min_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i);
                let mut out = match fit {
                    Some(i) => spare.swap_remove(i),
                    None => Vec::with_capacity(data.len()),
                };
                out.clear();
                out.extend_from_slice(data);
                Ok(NamedTensor {
                    name: name.clone(),
                    tensor: Tensor::new(shape, out),
                })
            })
            .collect()
    }
}

/// The providers to register (those the library has, in the order asked) and the device name.
fn providers(
    available: &[String],
    wanted: &[ExecutionProvider],
) -> (Vec<ExecutionProviderDispatch>, String) {
    let mut out = Vec::new();
    let mut device = None;
    for p in wanted {
        if !available.iter().any(|a| a == p.ort_name()) {
            tracing::warn!(
                provider = p.name(),
                "this ONNX Runtime library has no {} execution provider: skipped",
                p.ort_name()
            );
            continue;
        }
        device.get_or_insert(p.name());
        out.push(p.dispatch());
    }
    (out, device.unwrap_or("cpu").to_string())
}

impl ExecutionProvider {
    /// Whether the loaded library was built with this provider.
    pub(super) fn in_library(self) -> bool {
        use ort::ep::ExecutionProvider as _;
        match self {
            ExecutionProvider::Cuda => ort::ep::CUDA::is_available(),
            ExecutionProvider::Tensorrt => ort::ep::TensorRT::is_available(),
            ExecutionProvider::Openvino => ort::ep::OpenVINO::is_available(),
            ExecutionProvider::Rocm => ort::ep::ROCm::is_available(),
        }
        .unwrap_or(false)
    }

    /// The provider with its default options, for a session builder.
    fn dispatch(self) -> ExecutionProviderDispatch {
        match self {
            ExecutionProvider::Cuda => ort::ep::CUDA::default().build(),
            ExecutionProvider::Tensorrt => ort::ep::TensorRT::default().build(),
            ExecutionProvider::Openvino => ort::ep::OpenVINO::default().build(),
            ExecutionProvider::Rocm => ort::ep::ROCm::default().build(),
        }
    }
}

fn run_err(e: ort::Error) -> InferError {
    run_msg(e.to_string())
}

fn run_msg(message: String) -> InferError {
    InferError::Run {
        backend: BACKEND,
        message,
    }
}

impl Backend for OnnxRuntimeBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            backend: BACKEND.into(),
            device: self.device.clone(),
        }
    }

    fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, InferError> {
        // One picture at a time, each pre-processed into the session's own input tensor: the
        // shipped models have a fixed batch of 1, and on a CPU a larger batch gains nothing.
        let mut out = Vec::with_capacity(images.len());
        for img in images {
            let (_, data) = self.picture.extract_tensor_mut();
            let transform = preprocess_into(img, &self.pre, data)?;
            let outputs = Self::run(
                &mut self.session,
                &self.input_name,
                (&self.picture).into(),
                &self.output_names,
                &mut self.spare,
            )?;
            out.push(InferOutput { outputs, transform });
        }
        Ok(out)
    }

    fn infer_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError> {
        input.check()?;
        let value = ort::value::TensorRef::from_array_view((input.shape.clone(), &input.data[..]))
            .map_err(|e| InferError::Input(e.to_string()))?;
        Self::run(
            &mut self.session,
            &self.input_name,
            value.into(),
            &self.output_names,
            &mut self.spare,
        )
    }

    fn recycle(&mut self, outputs: Vec<NamedTensor>) {
        // Enough for the outputs of a few pictures; more would only hold memory.
        let keep = 4 * self.output_names.len();
        for o in outputs {
            if self.spare.len() < keep {
                self.spare.push(o.tensor.data);
            }
        }
    }
}
