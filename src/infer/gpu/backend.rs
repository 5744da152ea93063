//! [`WgpuBackend`]: a model compiled into static GPU plans, one per input shape, behind the
//! [`Backend`] trait.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::context::GpuContext;
use super::layout::Place;
use super::plan::{KernelProfile, OutputSplit, Plan, ms_since};
use super::preprocess::{PreparedFrames, PreprocessStage};
use super::shader::Prec;
use crate::capture::frame::ImageRef;
use crate::infer::graph::{self, InputShape};
use crate::infer::onnx::{self, Dim, OnnxModel};
use crate::infer::preprocess::{InputLayout, Preprocess};
use crate::infer::tensor::{NamedTensor, Tensor};
use crate::infer::{Backend, BackendInfo, CallPhases, InferError, InferOutput};

/// How a model is compiled for the GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelOptions {
    /// Model input width in pixels (resolves a dynamic width; must equal a fixed one).
    pub input_width: u32,
    /// Model input height in pixels.
    pub input_height: u32,
    /// Most pictures per [`Backend::infer`] call.
    pub max_batch: usize,
    /// Storage precision of activations and weights (arithmetic is always f32).
    pub precision: Prec,
}

/// Most distinct input shapes kept compiled at once (plans for other shapes are rebuilt).
const MAX_PLANS: usize = 12;

/// The batch a plan is compiled for when `n` pictures come: the next power of two, at most
/// `max_batch`. A multi-camera pipeline's batch size changes from call to call; rounding up
/// keeps that to a handful of plans (1, 2, 4, 8, ...) built once, instead of a plan per size
/// rebuilt whenever the cache overflows. The unused pictures of a padded batch cost arithmetic
/// but no extra dispatches, which is what small detectors are bound by.
fn planned_batch(n: usize, max_batch: usize) -> usize {
    n.next_power_of_two().min(max_batch).max(n)
}

/// Every batch size a backend with `max_batch` compiles a plan for (1, 2, 4, ..., max_batch):
/// what a warm-up runs so no camera waits for a compilation.
pub fn plan_batches(max_batch: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (1..=max_batch.max(1))
        .map(|n| planned_batch(n, max_batch))
        .collect();
    sizes.dedup();
    sizes
}

/// A model on a GPU: ONNX parsed once, one static plan per input shape (built on first use).
pub struct WgpuBackend {
    ctx: GpuContext,
    model: OnnxModel,
    /// `None` for tensor-only backends ([`WgpuBackend::for_tensors`]).
    pre: Option<Preprocess>,
    opts: ModelOptions,
    plans: HashMap<Vec<usize>, Plan>,
    stage: PreprocessStage,
    /// Where the last call's time went.
    phases: Cell<Option<CallPhases>>,
    /// For a model exported for one picture: whether its batches run as one widened plan
    /// (checked once against batch-1 runs; `None` until a batch first comes).
    widened: Option<bool>,
    /// Widened batch shapes whose plan could not be built (too large for the device): those
    /// batches run picture by picture.
    unbuildable: HashSet<Vec<usize>>,
}

/// How far a widened batch's outputs may stray from batch-1 runs of the same pictures (relative
/// to the value, or absolute below 1): the same kernels do the same arithmetic, so anything
/// beyond rounding means the model mixes pictures or keeps its batch elsewhere.
const WIDENING_TOLERANCE: f32 = 1e-3;

impl std::fmt::Debug for WgpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgpuBackend")
            .field("adapter", &self.ctx.summary().name)
            .field("opts", &self.opts)
            .finish()
    }
}

impl WgpuBackend {
    /// Parses `onnx`, checks it against `pre` and `opts`, and builds the batch-1 plan so that
    /// unsupported ops are reported now rather than at the first frame.
    pub fn new(
        ctx: &GpuContext,
        onnx: &[u8],
        pre: &Preprocess,
        opts: ModelOptions,
    ) -> Result<Self, InferError> {
        let model = onnx::load(onnx)?;
        if model.inputs.len() != 1 {
            return Err(InferError::Input(format!(
                "the model has {} inputs; only single-input models are supported",
                model.inputs.len()
            )));
        }
        if pre.width != opts.input_width || pre.height != opts.input_height {
            return Err(InferError::Input(format!(
                "pre-processing size {}x{} differs from the model input size {}x{}",
                pre.width, pre.height, opts.input_width, opts.input_height
            )));
        }
        if opts.max_batch == 0 || opts.max_batch > 256 {
            return Err(InferError::Input(format!(
                "max_batch {} is outside 1..=256",
                opts.max_batch
            )));
        }
        let mut b = WgpuBackend {
            ctx: ctx.clone(),
            model,
            pre: Some(pre.clone()),
            opts,
            plans: HashMap::new(),
            stage: PreprocessStage::new(),
            phases: Cell::new(None),
            widened: None,
            unbuildable: HashSet::new(),
        };
        let shape = b.image_shape(1)?;
        b.plan_for(&shape)?;
        Ok(b)
    }

    /// A backend that runs prepared tensors only ([`Backend::infer_tensor`], [`Self::profile`]):
    /// for op tests and benchmarks of models that are not image detectors.
    pub fn for_tensors(ctx: &GpuContext, onnx: &[u8], precision: Prec) -> Result<Self, InferError> {
        let model = onnx::load(onnx)?;
        if model.inputs.len() != 1 {
            return Err(InferError::Input(format!(
                "the model has {} inputs; only single-input models are supported",
                model.inputs.len()
            )));
        }
        Ok(WgpuBackend {
            ctx: ctx.clone(),
            model,
            pre: None,
            opts: ModelOptions {
                input_width: 0,
                input_height: 0,
                max_batch: 0,
                precision,
            },
            plans: HashMap::new(),
            stage: PreprocessStage::new(),
            phases: Cell::new(None),
            widened: None,
            unbuildable: HashSet::new(),
        })
    }

    /// The model input shape for a batch of `n` pictures, as the pre-processing lays it out.
    pub fn image_shape(&self, n: usize) -> Result<Vec<usize>, InferError> {
        let (w, h) = (
            self.opts.input_width as usize,
            self.opts.input_height as usize,
        );
        let pre = self
            .pre
            .as_ref()
            .ok_or_else(|| InferError::Input("this backend runs prepared tensors only".into()))?;
        let shape = match pre.layout {
            InputLayout::Nchw => vec![n, 3, h, w],
            InputLayout::Nhwc => vec![n, h, w, 3],
        };
        let dims = &self.model.inputs[0].dims;
        // A batch dim fixed at 1 is widened for batches (`widened_plan`).
        let fixed_at_one = self.batch_fixed_at_one();
        let fits = dims.len() == 4
            && dims
                .iter()
                .zip(&shape)
                .enumerate()
                .all(|(i, (d, &s))| match d {
                    Dim::Fixed(_) if i == 0 && fixed_at_one => true,
                    Dim::Fixed(f) => *f == s,
                    Dim::Dynamic(_) => true,
                });
        if !fits {
            return Err(InferError::Input(format!(
                "the model input {:?} is {:?}; the pre-processing gives {shape:?}",
                self.model.inputs[0].name, dims
            )));
        }
        Ok(shape)
    }

    /// True when the model was exported for exactly one picture per call: a batch then runs as
    /// one widened plan when that checks out (`widened_plan`), else one picture at a time (its
    /// reshapes may hard-code the batch, so it cannot always be resized).
    pub fn batch_fixed_at_one(&self) -> bool {
        matches!(self.model.inputs[0].dims.first(), Some(Dim::Fixed(1)))
    }

    /// Whether a batch of `shape` runs as one pass: always for a model with a free batch, once
    /// the widening holds for one exported for one picture (else picture by picture).
    pub fn runs_as_one_pass(&mut self, shape: &[usize]) -> bool {
        shape.first() <= Some(&1) || !self.batch_fixed_at_one() || self.widened_plan(shape)
    }

    /// Whether `shape`, a batch of a model exported for one picture, runs as one widened plan.
    /// One plan per batch instead of one submission and wait per picture is what lets a GPU
    /// fill up (on an H200, NanoDet-416 cost 4.8 ms of device time per picture either way when
    /// batches ran picture by picture). The widening is checked once, by running two different
    /// inputs as a batch of 2 and alone; a model that fails it, or a batch whose plan is too
    /// large for the device, runs picture by picture as before.
    fn widened_plan(&mut self, shape: &[usize]) -> bool {
        if self.unbuildable.contains(shape) || !self.widening_holds(shape) {
            return false;
        }
        match self.plan_for(shape) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(?shape, error = %e, "no plan for this batch: its pictures run one at a time");
                self.unbuildable.insert(shape.to_vec());
                false
            }
        }
    }

    /// The once-made check behind [`Self::widened_plan`] (on inputs shaped like `shape` with a
    /// batch of 1 and 2).
    fn widening_holds(&mut self, shape: &[usize]) -> bool {
        if let Some(ok) = self.widened {
            return ok;
        }
        let mut one = shape.to_vec();
        one[0] = 1;
        let why = match self.check_widening(&one) {
            Ok(why) => why,
            Err(e) => Some(e.to_string()),
        };
        match &why {
            None => tracing::info!(
                "model exported for one picture: batches run as one pass (checked against single runs)"
            ),
            Some(why) => tracing::info!(
                reason = %why,
                "model exported for one picture: batches run picture by picture"
            ),
        }
        self.widened = Some(why.is_none());
        why.is_none()
    }

    /// Runs two different inputs of shape `one` (batch 1) as a widened batch of 2 and alone;
    /// `Some(reason)` when the batch's outputs are not the single runs' side by side.
    fn check_widening(&mut self, one: &[usize]) -> Result<Option<String>, InferError> {
        let per: usize = one.iter().product();
        let mut rng = fastrand::Rng::with_seed(11);
        let data: Vec<f32> = (0..2 * per).map(|_| rng.f32() * 2.0 - 1.0).collect();
        let mut two = one.to_vec();
        two[0] = 2;
        let both = self.run_tensor(&Tensor::new(two, data.clone()))?;
        for (i, half) in data.chunks_exact(per).enumerate() {
            let alone = self.run_tensor(&Tensor::new(one.to_vec(), half.to_vec()))?;
            if alone.len() != both.len() {
                return Ok(Some("the batch gives other outputs".into()));
            }
            for (b, a) in both.iter().zip(&alone) {
                let len = a.tensor.data.len();
                if b.tensor.shape.first() != Some(&2) || b.tensor.data.len() != 2 * len {
                    return Ok(Some(format!(
                        "output {:?} of a batch of 2 has shape {:?}",
                        b.name, b.tensor.shape
                    )));
                }
                let worst = b.tensor.data[i * len..(i + 1) * len]
                    .iter()
                    .zip(&a.tensor.data)
                    .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
                    // A NaN on one side only is as far off as it gets.
                    .map(|d| if d.is_nan() { f32::INFINITY } else { d })
                    .fold(0.0f32, f32::max);
                if worst > WIDENING_TOLERANCE {
                    return Ok(Some(format!(
                        "output {:?} of picture {i} differs from a single run by {worst}",
                        b.name
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Runs each item of a batch tensor alone and joins the outputs along dimension 0.
    fn infer_tensor_one_by_one(
        &mut self,
        input: &Tensor,
        n: usize,
    ) -> Result<Vec<NamedTensor>, InferError> {
        let per = input.data.len() / n;
        let mut shape1 = input.shape.clone();
        shape1[0] = 1;
        let mut joined: Vec<NamedTensor> = Vec::new();
        for chunk in input.data.chunks_exact(per) {
            let outs = self.infer_tensor(&Tensor::new(shape1.clone(), chunk.to_vec()))?;
            if joined.is_empty() {
                joined = outs
                    .into_iter()
                    .map(|mut o| {
                        o.tensor.data.reserve(o.tensor.data.len() * (n - 1));
                        o
                    })
                    .collect();
            } else {
                for (j, o) in joined.iter_mut().zip(outs) {
                    j.tensor.data.extend_from_slice(&o.tensor.data);
                    j.tensor.shape[0] += 1;
                }
            }
        }
        Ok(joined)
    }

    /// Uploads a prepared input and runs the plan for its shape as it is.
    fn run_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError> {
        let started = Instant::now();
        self.plan_for(&input.shape)?;
        let plan = &self.plans[&input.shape];
        let (place, offset, buffer) = upload_args(plan, input)?;
        // Packed straight into the staging memory of the upload (no intermediate copy).
        let size = (place.span(&input.shape) * place.prec.bytes()) as u64;
        let mut view = wgpu::BufferSize::new(size)
            .and_then(|size| self.ctx.queue.write_buffer_with(buffer, offset, size))
            .ok_or_else(|| InferError::Gpu(format!("cannot upload {size} input bytes")))?;
        place.pack_with(&input.shape, &input.data, |at, bytes| {
            view.slice(at..at + bytes.len()).copy_from_slice(bytes)
        });
        drop(view);
        let mut whole = self.run(plan, None, OutputSplit::Whole, started)?;
        Ok(whole.pop().unwrap_or_default())
    }

    fn plan_for(&mut self, shape: &[usize]) -> Result<&Plan, InferError> {
        if !self.plans.contains_key(shape) {
            if self.plans.len() >= MAX_PLANS {
                self.plans.clear();
            }
            let input = [InputShape {
                name: self.model.inputs[0].name.clone(),
                shape: shape.to_vec(),
            }];
            let mut g = if shape.first() > Some(&1) && self.batch_fixed_at_one() {
                graph::build_widened(&self.model, &input)?
            } else {
                graph::build(&self.model, &input)?
            };
            graph::fuse::fuse(&mut g);
            let plan = Plan::new(&self.ctx, &self.ctx.pipelines, &g, self.opts.precision)?;
            tracing::debug!(?shape, dispatches = plan.dispatches(), "compiled plan");
            self.plans.insert(shape.to_vec(), plan);
        }
        self.plans
            .get(shape)
            .ok_or_else(|| InferError::Other("plan vanished".into()))
    }

    /// The batch sizes of the plans compiled so far, smallest first (to see the plan cache work).
    pub fn compiled_batches(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .plans
            .keys()
            .filter_map(|s| s.first().copied())
            .collect();
        v.sort_unstable();
        v
    }

    /// Number of dispatches of one inference at batch 1 (for logs and benchmarks).
    pub fn dispatches(&mut self) -> Result<usize, InferError> {
        let shape = self.image_shape(1)?;
        Ok(self.plan_for(&shape)?.dispatches())
    }

    /// Floating-point operations of one inference on an input of `input_shape`.
    pub fn flops(&mut self, input_shape: &[usize]) -> Result<u64, InferError> {
        Ok(self.plan_for(input_shape)?.flops)
    }

    /// The dispatches of the plan for `input_shape`, in order: (node name, kernel family).
    pub fn kernels(&mut self, input_shape: &[usize]) -> Result<Vec<(String, String)>, InferError> {
        Ok(self.plan_for(input_shape)?.kernels())
    }

    /// Runs `input` once with per-kernel GPU timing (needs timestamp queries).
    pub fn profile(&mut self, input: &Tensor) -> Result<Vec<KernelProfile>, InferError> {
        let ctx = self.ctx.clone();
        let plan = self.plan_for(&input.shape)?;
        let (place, offset, buffer) = upload_args(plan, input)?;
        let bytes = place.pack(&input.shape, &input.data);
        plan.profile(&ctx, |_| ctx.queue.write_buffer(buffer, offset, &bytes))
    }

    /// Records `frames` (if any) and the plan in one compute pass, runs it, reads the outputs
    /// as `split` asks, and notes where the time since `started` (the call's start) went.
    fn run(
        &self,
        plan: &Plan,
        frames: Option<&PreparedFrames>,
        split: OutputSplit,
        started: Instant,
    ) -> Result<Vec<Vec<NamedTensor>>, InferError> {
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("infer"),
            });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("model"),
                timestamp_writes: plan.timestamp_writes(),
            });
            if let Some(f) = frames {
                f.record(&mut pass);
            }
            plan.record(&mut pass);
        }
        plan.copy_outputs(&mut enc);
        self.ctx.queue.submit([enc.finish()]);
        let prepare_ms = ms_since(started);
        let back = plan.read_outputs(&self.ctx, split)?;
        self.phases.set(Some(CallPhases {
            prepare_ms,
            wait_ms: back.wait_ms,
            read_ms: back.read_ms,
            device_ms: back.device_ms,
        }));
        Ok(back.outputs)
    }
}

/// The input's place, byte offset and buffer for uploading `input` into `plan`.
fn upload_args<'p>(
    plan: &'p Plan,
    input: &Tensor,
) -> Result<(Place, u64, &'p wgpu::Buffer), InferError> {
    let inp = plan
        .inputs
        .first()
        .ok_or_else(|| InferError::Other("plan without input".into()))?;
    if inp.shape != input.shape || input.data.len() != input.shape.iter().product::<usize>() {
        return Err(InferError::Input(format!(
            "input of shape {:?} ({} values) for a plan of {:?}",
            input.shape,
            input.data.len(),
            inp.shape
        )));
    }
    let offset = (inp.place.offset * inp.place.prec.bytes()) as u64;
    Ok((
        inp.place,
        offset,
        plan.slot_buffers[inp.place.slot].as_ref(),
    ))
}

impl Backend for WgpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            backend: "wgpu".into(),
            device: self.ctx.summary().name.clone(),
        }
    }

    fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, InferError> {
        let started = Instant::now();
        let n = images.len();
        if n == 0 || n > self.opts.max_batch {
            return Err(InferError::Input(format!(
                "{n} pictures for a backend with max_batch {}",
                self.opts.max_batch
            )));
        }
        // A model exported with a fixed batch takes exactly that many pictures.
        let planned = planned_batch(n, self.opts.max_batch);
        if n > 1 && self.batch_fixed_at_one() {
            let shape = self.image_shape(planned)?;
            if !self.runs_as_one_pass(&shape) {
                let mut out = Vec::with_capacity(n);
                for img in images {
                    out.extend(self.infer(std::slice::from_ref(img))?);
                }
                return Ok(out);
            }
        }
        let shape = self.image_shape(planned).or_else(|_| self.image_shape(n))?;
        let planned = shape[0];
        self.plan_for(&shape)?;
        let plan = &self.plans[&shape];
        let inp = &plan.inputs[0];
        let pre = self
            .pre
            .as_ref()
            .ok_or_else(|| InferError::Input("this backend runs prepared tensors only".into()))?;
        let target = super::preprocess::Target {
            place: inp.place,
            shape: &inp.shape,
            buffer: plan.slot_buffers[inp.place.slot].as_ref(),
        };
        let frames = self
            .stage
            .prepare(&self.ctx, &self.ctx.pipelines, pre, images, &target)?;
        let split = OutputSplit::Pictures {
            planned,
            n: frames.transforms.len(),
        };
        let per = self.run(plan, Some(&frames), split, started)?;
        Ok(per
            .into_iter()
            .zip(frames.transforms)
            .map(|(outputs, transform)| InferOutput { outputs, transform })
            .collect())
    }

    fn infer_tensor(&mut self, input: &Tensor) -> Result<Vec<NamedTensor>, InferError> {
        let n = input.shape.first().copied().unwrap_or(0);
        if n > 1 && !self.runs_as_one_pass(&input.shape) {
            return self.infer_tensor_one_by_one(input, n);
        }
        self.run_tensor(input)
    }

    fn last_phases(&self) -> Option<CallPhases> {
        self.phases.get()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn batches_round_up_to_powers_of_two_within_max() {
        let planned: Vec<usize> = (1..=6).map(|n| super::planned_batch(n, 6)).collect();
        assert_eq!(planned, [1, 2, 4, 4, 6, 6]);
        assert_eq!(super::planned_batch(9, 32), 16);
        assert_eq!(super::planned_batch(32, 32), 32);
        assert_eq!(super::plan_batches(6), [1, 2, 4, 6]);
        assert_eq!(super::plan_batches(16), [1, 2, 4, 8, 16]);
        assert_eq!(super::plan_batches(0), [1]);
    }
}
