//! The last pass: the planner's slots, constants and dispatches become GPU objects (activation
//! buffers packed by liveness, weight buffers, one uniform buffer of parameters, pipelines and
//! bind groups, the staging buffer for outputs).

use std::sync::Arc;

use super::super::context::GpuContext;
use super::super::layout::Place;
use super::super::shader::PipelineCache;
use super::pack::{Packing, liveness, pack};
use super::planner::{BufRef, Dispatch, Planner};
use super::timer::{PassTimer, TIMER_BYTES};
use super::{Plan, PlanInput, PlanOutput, Step};
use crate::infer::InferError;

/// Uniform ranges are placed at this alignment (the WebGPU maximum of the offset alignment).
const UNIFORM_ALIGN: u64 = 256;
/// Buffer sizes are rounded up to this (and are never smaller).
const BUFFER_ALIGN: u64 = 16;

/// A graph output before staging: its name, logical shape and place.
pub(super) type OutputPlace = (String, Vec<usize>, Place);

/// Turns the planner's slots, constants and dispatches into GPU objects.
pub(super) fn build(
    ctx: &GpuContext,
    cache: &PipelineCache,
    pl: Planner<'_>,
    inputs: Vec<PlanInput>,
    outputs: Vec<OutputPlace>,
    flops: u64,
) -> Result<Plan, InferError> {
    let device = &ctx.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let packing = pack_slots(&pl, &inputs, &outputs);
    let slot_buffers = activation_buffers(ctx, &packing)?;
    let const_buffers = const_buffers(device, &pl.consts);
    let (uniform, ranges) = params_buffer(device, &pl.steps);
    let steps = bind_steps(
        device,
        cache,
        &pl.steps,
        uniform.as_ref().map(|u| (u, ranges.as_slice())),
        |b| match b {
            BufRef::Slot(k) => slot_buffers[k].as_ref(),
            BufRef::Const(k) => &const_buffers[k],
        },
    )?;
    let (outputs, staging, timer_offset) = staging(device, outputs);
    let timer = PassTimer::new(ctx, timer_offset);
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(InferError::Gpu(format!("building the plan: {e}")));
    }
    tracing::debug!(
        dispatches = steps.len(),
        buffers = packing.sizes.len(),
        activation_bytes = packing.total(),
        "plan built"
    );
    Ok(Plan {
        inputs,
        outputs,
        slot_buffers,
        _const_buffers: const_buffers,
        _uniform: uniform,
        steps,
        staging,
        timer,
        flops,
    })
}

/// Liveness of every slot over the dispatches, and the buffers that hold them.
fn pack_slots(pl: &Planner<'_>, inputs: &[PlanInput], outputs: &[OutputPlace]) -> Packing {
    let touches: Vec<Vec<usize>> = pl
        .steps
        .iter()
        .map(|s| {
            s.bufs
                .iter()
                .filter_map(|b| match *b {
                    BufRef::Slot(k) => Some(k),
                    BufRef::Const(_) => None,
                })
                .collect()
        })
        .collect();
    let ins: Vec<usize> = inputs.iter().map(|i| i.place.slot).collect();
    let outs: Vec<usize> = outputs.iter().map(|(_, _, p)| p.slot).collect();
    let live = liveness(
        pl.slots.len(),
        touches.iter().map(Vec::as_slice),
        &ins,
        &outs,
    );
    let bytes: Vec<u64> = pl
        .slots
        .iter()
        .map(|s| (s.elems * s.prec.bytes()) as u64)
        .collect();
    pack(&bytes, &live, BUFFER_ALIGN)
}

/// The activation buffers of a packing, and the buffer each slot binds.
fn activation_buffers(
    ctx: &GpuContext,
    packing: &Packing,
) -> Result<Vec<Arc<wgpu::Buffer>>, InferError> {
    let device = &ctx.device;
    let max_binding = ctx.max_binding_bytes();
    let buffers: Vec<Arc<wgpu::Buffer>> = packing
        .sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            if size > max_binding {
                return Err(InferError::Gpu(format!(
                    "a tensor needs {size} bytes, more than this GPU binds ({max_binding})"
                )));
            }
            Ok(Arc::new(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("activations {i}")),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })))
        })
        .collect::<Result<_, _>>()?;
    Ok(packing
        .buffer_of
        .iter()
        .map(|b| match *b {
            Some(b) => buffers[b].clone(),
            // A slot nobody touches (cannot happen for planned values): give it a tiny buffer.
            None => Arc::new(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused"),
                size: BUFFER_ALIGN,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })),
        })
        .collect())
}

/// One buffer per constant (repacked weights, biases, graph constants), uploaded at creation.
fn const_buffers(device: &wgpu::Device, consts: &[Vec<u8>]) -> Vec<wgpu::Buffer> {
    consts
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let size = (bytes.len() as u64)
                .max(BUFFER_ALIGN)
                .div_ceil(BUFFER_ALIGN)
                * BUFFER_ALIGN;
            let b = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("weights {i}")),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: true,
            });
            if let Ok(mut view) = b.slice(..).get_mapped_range_mut() {
                view.slice(..bytes.len()).copy_from_slice(bytes);
            }
            b.unmap();
            b
        })
        .collect()
}

/// All dispatch parameters in one uniform buffer (none without dispatches), and each
/// dispatch's byte range in it.
fn params_buffer(
    device: &wgpu::Device,
    steps: &[Dispatch],
) -> (Option<wgpu::Buffer>, Vec<(u64, u64)>) {
    let mut uniform_bytes: Vec<u8> = Vec::new();
    let mut ranges = Vec::with_capacity(steps.len());
    for s in steps {
        let start = uniform_bytes.len() as u64;
        let mut p = s.params.clone();
        while p.len() % 4 != 0 {
            p.push(0);
        }
        uniform_bytes.extend_from_slice(bytemuck::cast_slice(&p));
        ranges.push((start, (p.len() * 4) as u64));
        let next = (uniform_bytes.len() as u64).div_ceil(UNIFORM_ALIGN) * UNIFORM_ALIGN;
        uniform_bytes.resize(next as usize, 0);
    }
    let uniform = (!uniform_bytes.is_empty()).then(|| {
        let b = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: uniform_bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        if let Ok(mut view) = b.slice(..).get_mapped_range_mut() {
            view.copy_from_slice(&uniform_bytes);
        }
        b.unmap();
        b
    });
    (uniform, ranges)
}

/// Each dispatch's pipeline (compiled once per distinct source) and bind group: its parameter
/// range at binding 0, then its buffers in order.
fn bind_steps<'b>(
    device: &wgpu::Device,
    cache: &PipelineCache,
    steps: &[Dispatch],
    params: Option<(&wgpu::Buffer, &[(u64, u64)])>,
    buffer: impl Fn(BufRef) -> &'b wgpu::Buffer,
) -> Result<Vec<Step>, InferError> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let pipeline = cache.get(device, s.kind, &s.src)?;
        let layout = pipeline.get_bind_group_layout(0);
        let Some((uniform, ranges)) = params else {
            break;
        };
        let (off, len) = ranges[i];
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: uniform,
                offset: off,
                size: wgpu::BufferSize::new(len),
            }),
        }];
        for (i, &b) in s.bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: buffer(b).as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&s.name),
            layout: &layout,
            entries: &entries,
        });
        out.push(Step {
            pipeline,
            bind_group,
            groups: s.groups,
            name: s.name.clone(),
            kind: s.kind,
            flops: s.flops,
            bytes: s.bytes,
        });
    }
    Ok(out)
}

/// Where each output lands in the staging buffer (whole 4-element groups from the one at or
/// below its offset), the staging buffer itself, and where the pass's timestamps land behind the
/// outputs (16 bytes kept for them whether or not the adapter can write them).
fn staging(
    device: &wgpu::Device,
    outputs: Vec<OutputPlace>,
) -> (Vec<PlanOutput>, wgpu::Buffer, u64) {
    let mut staging_size = 0u64;
    let mut outs = Vec::new();
    for (name, shape, place) in outputs {
        let elem = place.prec.bytes() as u64;
        let start = (place.offset / 4 * 4) as u64;
        let end = (place.offset + place.span(&shape)) as u64;
        let len = (end - start) * elem;
        outs.push(PlanOutput {
            name,
            shape,
            place,
            src_offset: start * elem,
            len,
            staging_offset: staging_size,
        });
        staging_size += len.div_ceil(16) * 16;
    }
    let timer_offset = staging_size;
    staging_size += TIMER_BYTES;
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("outputs"),
        size: staging_size.max(16),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    (outs, staging, timer_offset)
}
