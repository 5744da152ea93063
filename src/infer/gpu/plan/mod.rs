//! The static plan: for one graph (model, input size, batch) and precision, every buffer,
//! pipeline, bind group and dispatch is decided once; an inference is then one compute pass.
//!
//! Planning runs as named passes over the fused IR:
//! 1. layouts (`layouts`): which values live in NHWC (spatial ops) and which are plain
//!    row-major, and which are written by vec4 kernels;
//! 2. placement (`placement`): which Concat parts their producers can write directly at their
//!    offset (and Split/Slice parts that are just views);
//! 3. emission (`super::emit`): storage slots and one or more dispatches per node;
//! 4. liveness and packing (`pack`, pure): slots share a buffer when their lifetimes do not
//!    overlap;
//! 5. GPU objects (`build`): buffers, uploaded weights, parameters, pipelines, bind groups and
//!    the staging buffer.

mod build;
mod layouts;
mod pack;
mod placement;
mod planner;
mod profile;
mod timer;

use std::sync::Arc;

use super::context::GpuContext;
use super::layout::{Layout, Place};
use super::shader::{PipelineCache, Prec};
use crate::infer::InferError;
use crate::infer::graph::Graph;
use crate::infer::tensor::{NamedTensor, Tensor};
use build::{OutputPlace, build};

pub(super) use layouts::slice_is_view;
pub(super) use placement::concat_aligned;
pub(super) use planner::{BufRef, Dispatch, Planner, Writer};

/// Per-kernel timing from a profiling run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KernelProfile {
    /// Node name (several dispatches may share one).
    pub name: String,
    /// Kernel family (conv_gemm, depthwise, pool, ...).
    pub kernel: String,
    pub time_ms: f64,
    pub flops: u64,
    pub bytes: u64,
}

/// One recorded dispatch, ready to run.
struct Step {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    name: String,
    kind: &'static str,
    flops: u64,
    bytes: u64,
}

/// A graph input: where the plan expects it.
#[derive(Debug, Clone)]
pub(super) struct PlanInput {
    pub shape: Vec<usize>,
    pub place: Place,
}

/// A graph output: where it is and where it lands in the staging buffer.
#[derive(Debug, Clone)]
struct PlanOutput {
    name: String,
    shape: Vec<usize>,
    place: Place,
    /// Byte range copied from the slot's buffer.
    src_offset: u64,
    len: u64,
    staging_offset: u64,
}

/// A compiled plan: buffers, pipelines and bind groups, ready to record into one compute pass.
pub struct Plan {
    pub(super) inputs: Vec<PlanInput>,
    outputs: Vec<PlanOutput>,
    pub(super) slot_buffers: Vec<Arc<wgpu::Buffer>>,
    _const_buffers: Vec<wgpu::Buffer>,
    _uniform: Option<wgpu::Buffer>,
    steps: Vec<Step>,
    staging: wgpu::Buffer,
    /// The pass's device time, where the adapter has timestamp queries.
    timer: Option<timer::PassTimer>,
    pub(super) flops: u64,
}

impl Plan {
    /// Plans and builds `graph` (fused IR with concrete shapes) at precision `prec`.
    pub fn new(
        ctx: &GpuContext,
        cache: &PipelineCache,
        graph: &Graph,
        prec: Prec,
    ) -> Result<Self, InferError> {
        let mut pl = Planner::new(graph, prec);
        pl.assign_layouts()?;
        pl.assign_placements();
        let inputs = place_inputs(&mut pl);
        for n in &graph.nodes {
            pl.emit(n)?;
        }
        let outputs = output_places(&pl)?;
        build(ctx, cache, pl, inputs, outputs, graph.flops())
    }

    /// Number of dispatches per inference.
    pub fn dispatches(&self) -> usize {
        self.steps.len()
    }

    /// The dispatches in order: (node name, kernel family).
    pub fn kernels(&self) -> Vec<(String, String)> {
        self.steps
            .iter()
            .map(|s| (s.name.clone(), s.kind.to_string()))
            .collect()
    }

    /// Records every dispatch into `pass`.
    pub(super) fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        for s in &self.steps {
            pass.set_pipeline(&s.pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.dispatch_workgroups(s.groups[0], s.groups[1], s.groups[2]);
        }
    }

    /// Timestamp writes for the compute pass that runs the plan, when it is timed.
    pub(super) fn timestamp_writes(&self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        self.timer.as_ref().map(timer::PassTimer::writes)
    }

    /// Copies outputs (and the pass's timestamps) into the staging buffer (after the pass).
    pub(super) fn copy_outputs(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(t) = &self.timer {
            t.copy(enc, &self.staging);
        }
        for o in &self.outputs {
            enc.copy_buffer_to_buffer(
                &self.slot_buffers[o.place.slot],
                o.src_offset,
                &self.staging,
                o.staging_offset,
                o.len,
            );
        }
    }

    /// Maps the staging buffer and decodes every output (call after the submission), timing the
    /// wait and the decoding; the pass's device time comes with them when it is timed. With
    /// [`OutputSplit::Pictures`] each picture's part of every output is decoded straight from the
    /// mapping into its own tensor (no batch-sized buffer in between, no second copy).
    pub(super) fn read_outputs(
        &self,
        ctx: &GpuContext,
        split: OutputSplit,
    ) -> Result<Readback, InferError> {
        let slice = self.staging.slice(..);
        let waiting = std::time::Instant::now();
        map_and_wait(ctx, &slice, "outputs")?;
        let wait_ms = ms_since(waiting);
        let reading = std::time::Instant::now();
        let decoded = slice
            .get_mapped_range()
            .map_err(|e| InferError::Gpu(format!("reading the staging buffer: {e:?}")))
            .and_then(|view| {
                let outputs = self.decode(&view, split)?;
                Ok((outputs, self.timer.as_ref().and_then(|t| t.read(&view))))
            });
        self.staging.unmap();
        let (outputs, device_ms) = decoded?;
        Ok(Readback {
            outputs,
            wait_ms,
            read_ms: ms_since(reading),
            device_ms,
        })
    }

    /// The outputs in the mapped staging `view`, one list per picture of `split`.
    fn decode(&self, view: &[u8], split: OutputSplit) -> Result<Vec<Vec<NamedTensor>>, InferError> {
        let (planned, pictures) = match split {
            OutputSplit::Whole => (1, 1),
            OutputSplit::Pictures { planned, n } => (planned, n),
        };
        let mut per: Vec<Vec<NamedTensor>> = (0..pictures)
            .map(|_| Vec::with_capacity(self.outputs.len()))
            .collect();
        for o in &self.outputs {
            let start = o.staging_offset as usize;
            let bytes = &view[start..start + o.len as usize];
            // The copy started at the 4-element boundary at or below the place's offset.
            let skip = o.place.offset % 4;
            let place = Place {
                offset: skip,
                ..o.place
            };
            let elem = place.prec.bytes();
            let bytes = &bytes[skip * elem..];
            let mut shape = o.shape.clone();
            if let OutputSplit::Pictures { .. } = split {
                if shape.first() != Some(&planned) || pictures > planned {
                    return Err(InferError::Shape {
                        op: "output".into(),
                        node: o.name.clone(),
                        reason: format!(
                            "output shape {shape:?} has no batch dimension of {planned}"
                        ),
                    });
                }
                shape[0] = 1;
            }
            // Elements from one picture to the next: the leading dimension's stride.
            let stride = place.strides(&shape)[0] * elem;
            for (i, p) in per.iter_mut().enumerate() {
                p.push(NamedTensor {
                    name: o.name.clone(),
                    tensor: Tensor::new(shape.clone(), place.unpack(&shape, &bytes[i * stride..])),
                });
            }
        }
        Ok(per)
    }
}

/// How a run's outputs are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutputSplit {
    /// Each output whole, batch dimension and all (one list).
    Whole,
    /// One list per real picture (each output with a leading 1) of a plan for `planned`
    /// pictures; the padding after the first `n` is left out.
    Pictures { planned: usize, n: usize },
}

/// A run's outputs and where the time after its submission went.
pub(super) struct Readback {
    /// One list of outputs per picture of the [`OutputSplit`].
    pub outputs: Vec<Vec<NamedTensor>>,
    /// Submission until the staging buffer was mapped.
    pub wait_ms: f64,
    /// Decoding the outputs.
    pub read_ms: f64,
    /// The compute pass on the device, when timed.
    pub device_ms: Option<f64>,
}

/// Milliseconds since `t`.
pub(super) fn ms_since(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Inputs get their own slots first (written before the pass), NHWC when they are images.
fn place_inputs(pl: &mut Planner<'_>) -> Vec<PlanInput> {
    let g = pl.g;
    let mut inputs = Vec::new();
    for &i in &g.inputs {
        let shape = g.shape(i).to_vec();
        let place = if pl.layout[i] == Layout::Nhwc {
            pl.own_nhwc(&shape, pl.prec)
        } else {
            pl.own_plain(&shape)
        };
        pl.places[i] = Some(place);
        inputs.push(PlanInput { shape, place });
    }
    inputs
}

/// Where each graph output ended up after emission (a constant output has no place).
fn output_places(pl: &Planner<'_>) -> Result<Vec<OutputPlace>, InferError> {
    let g = pl.g;
    g.outputs
        .iter()
        .map(|&o| {
            let place = pl.places[o].ok_or_else(|| InferError::Unsupported {
                op: "output".into(),
                node: g.values[o].name.clone(),
                reason: "graph output is a constant".into(),
            })?;
            Ok((g.values[o].name.clone(), g.shape(o).to_vec(), place))
        })
        .collect()
}

/// Maps `slice` for reading and blocks until the GPU is done (errors of the run reported).
pub(crate) fn map_and_wait(
    ctx: &GpuContext,
    slice: &wgpu::BufferSlice<'_>,
    what: &str,
) -> Result<(), InferError> {
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| InferError::Gpu(format!("waiting for the GPU: {e}")))?;
    rx.recv()
        .map_err(|_| InferError::Gpu(format!("the {what} buffer was never mapped")))?
        .map_err(|e| InferError::Gpu(format!("mapping the {what} buffer: {e}")))?;
    ctx.take_error()
}
