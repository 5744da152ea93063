//! The static plan: for one graph (model, input size, batch) and precision, every buffer,
//! pipeline, bind group and dispatch is decided once; an inference is then one compute pass.
//!
//! Planning runs in three passes over the fused IR:
//! 1. layouts: which values live in NHWC (spatial ops) and which are plain row-major;
//! 2. placement: which Concat parts their producers can write directly at their channel offset
//!    (and Split/Slice parts that are just views);
//! 3. emission: storage slots and one or more dispatches per node ([`super::emit`]).
//!
//! Storage slots are then packed into buffers by liveness: two slots share a buffer when their
//! lifetimes do not overlap.

use std::collections::HashMap;
use std::sync::Arc;

use super::context::GpuContext;
use super::layout::{Layout, Place, up4};
use super::shader::{PipelineCache, Prec};
use crate::infer::InferError;
use crate::infer::graph::fuse::per_channel;
use crate::infer::graph::{Graph, Op, ValueId};
use crate::infer::tensor::{NamedTensor, Tensor};

/// A buffer a dispatch binds: a pooled activation slot or a weight/constant buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BufRef {
    Slot(usize),
    Const(usize),
}

/// One dispatch as planned: kernel source, parameters, bindings and grid.
pub(super) struct Dispatch {
    pub name: String,
    pub kind: &'static str,
    pub src: String,
    pub params: Vec<u32>,
    pub bufs: Vec<BufRef>,
    pub groups: [u32; 3],
    pub flops: u64,
    pub bytes: u64,
}

/// Storage of one or more values (views share it).
pub(super) struct SlotInfo {
    pub elems: usize,
    pub prec: Prec,
}

/// How a value is written, decided before emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Writer {
    /// A vec4 NHWC kernel in the plan precision: can write at a channel offset of a larger storage.
    Vec4,
    /// Anything else (generic kernels write f32, views write nothing).
    Other,
}

/// Planner state shared by the passes and the kernel emitters.
pub(super) struct Planner<'g> {
    pub g: &'g Graph,
    pub prec: Prec,
    pub layout: Vec<Layout>,
    pub writer: Vec<Writer>,
    /// Concat parts written in place: value -> (concat value, channel offset).
    pub placement: HashMap<ValueId, (ValueId, usize)>,
    /// Parts of plain concats written in place: value -> (concat value, element offset).
    pub plain_placement: HashMap<ValueId, (ValueId, usize)>,
    pub places: Vec<Option<Place>>,
    /// Shapes of graph values plus planner temporaries.
    pub shapes: Vec<Vec<usize>>,
    pub slots: Vec<SlotInfo>,
    pub consts: Vec<Vec<u8>>,
    pub const_cache: HashMap<(ValueId, u8), usize>,
    pub nhwc_copies: HashMap<ValueId, ValueId>,
    pub steps: Vec<Dispatch>,
}

/// True when a Slice node can be a view of its NHWC input: channel-only, step 1, aligned.
pub(super) fn slice_is_view(g: &Graph, layout: &[Layout], n: &crate::infer::graph::Node) -> bool {
    let Op::Slice { starts, steps } = &n.op else {
        return false;
    };
    let (x, y) = (n.inputs[0], n.output);
    let (xs, ys) = (g.shape(x), g.shape(y));
    layout[x] == Layout::Nhwc
        && xs.len() == 4
        && steps.iter().all(|&s| s == 1)
        && (0..4).all(|d| d == 1 || (starts[d] == 0 && xs[d] == ys[d]))
        && starts[1] % 4 == 0
        && (ys[1] % 4 == 0 || starts[1] + ys[1] == xs[1])
}

/// Whether an NHWC binary op can run as a vec4 kernel: the other operand is the same NHWC shape,
/// a per-channel constant or a scalar constant.
pub(super) fn vec4_binary(
    g: &Graph,
    layout: &[Layout],
    a: ValueId,
    b: ValueId,
    out: ValueId,
) -> bool {
    let os = g.shape(out);
    let fits = |x: ValueId, y: ValueId| {
        layout[x] == Layout::Nhwc
            && g.shape(x) == os
            && !g.consts.contains_key(&x)
            && (layout[y] == Layout::Nhwc && g.shape(y) == os && !g.consts.contains_key(&y)
                || g.consts.contains_key(&y) && per_channel(g, y, os[1]).is_some())
    };
    os.len() == 4 && (fits(a, b) || fits(b, a))
}

impl<'g> Planner<'g> {
    fn new(g: &'g Graph, prec: Prec) -> Self {
        let n = g.values.len();
        Planner {
            g,
            prec,
            layout: vec![Layout::Plain; n],
            writer: vec![Writer::Other; n],
            placement: HashMap::new(),
            plain_placement: HashMap::new(),
            places: vec![None; n],
            shapes: g.values.iter().map(|v| v.shape.clone()).collect(),
            slots: Vec::new(),
            consts: Vec::new(),
            const_cache: HashMap::new(),
            nhwc_copies: HashMap::new(),
            steps: Vec::new(),
        }
    }

    fn unsupported(n: &crate::infer::graph::Node, why: &str) -> InferError {
        InferError::Unsupported {
            op: n.op.name().into(),
            node: n.name.clone(),
            reason: format!("on the GPU: {why}"),
        }
    }

    /// Pass 1: layouts and writers.
    fn assign_layouts(&mut self) -> Result<(), InferError> {
        let g = self.g;
        for &i in &g.inputs {
            let s = g.shape(i);
            if is_image_input(s) {
                self.layout[i] = Layout::Nhwc;
            }
        }
        for n in &g.nodes {
            let y = n.output;
            let nhwc = |v: ValueId| self.layout[v] == Layout::Nhwc;
            let (layout, writer) = match &n.op {
                Op::Conv(_) | Op::ConvTranspose(_) | Op::Pool(_) | Op::Resize(_) => {
                    (Layout::Nhwc, Writer::Vec4)
                }
                Op::Unary(_) if nhwc(n.inputs[0]) => (Layout::Nhwc, Writer::Vec4),
                Op::Binary(_) if vec4_binary(g, &self.layout, n.inputs[0], n.inputs[1], y) => {
                    (Layout::Nhwc, Writer::Vec4)
                }
                Op::Unary(_) | Op::Binary(_) | Op::Pad { .. } => {
                    if g.shape(y).len() == 4 && n.inputs.iter().any(|&x| nhwc(x)) {
                        (Layout::Nhwc, Writer::Other)
                    } else {
                        (Layout::Plain, Writer::Other)
                    }
                }
                Op::Concat { axis } => {
                    if *axis == 1 && g.shape(y).len() == 4 && n.inputs.iter().any(|&x| nhwc(x)) {
                        (Layout::Nhwc, Writer::Other)
                    } else {
                        (Layout::Plain, Writer::Other)
                    }
                }
                Op::Slice { .. } => {
                    if slice_is_view(g, &self.layout, n)
                        || (nhwc(n.inputs[0]) && g.shape(y).len() == 4)
                    {
                        (Layout::Nhwc, Writer::Other)
                    } else {
                        (Layout::Plain, Writer::Other)
                    }
                }
                Op::Transpose { perm } if g.shape(y).len() == 4 && perm == &[0, 3, 1, 2] => {
                    (Layout::Nhwc, Writer::Other)
                }
                Op::Transpose { .. } | Op::Reshape | Op::Softmax { .. } => {
                    (Layout::Plain, Writer::Other)
                }
                Op::MatMul | Op::ReduceMean { .. } => {
                    return Err(Self::unsupported(n, "not implemented as a kernel yet"));
                }
            };
            self.layout[y] = layout;
            self.writer[y] = writer;
            if g.shape(y).len() > 6 || n.inputs.iter().any(|&x| g.shape(x).len() > 6) {
                return Err(Self::unsupported(n, "tensors of rank above 6"));
            }
        }
        Ok(())
    }

    /// Pass 2: Concat parts written in place by their producers.
    fn assign_placements(&mut self) {
        let g = self.g;
        let producers = g.producers();
        // How many times each value appears as a concat part anywhere.
        let mut part_uses: HashMap<ValueId, usize> = HashMap::new();
        for n in &g.nodes {
            if matches!(n.op, Op::Concat { .. }) {
                for &x in &n.inputs {
                    *part_uses.entry(x).or_default() += 1;
                }
            }
        }
        for n in &g.nodes {
            let Op::Concat { axis: 1 } = n.op else {
                continue;
            };
            if self.layout[n.output] != Layout::Nhwc || !concat_aligned(g, n) {
                continue;
            }
            let mut off = 0;
            let mut i = 0;
            while i < n.inputs.len() {
                let part = n.inputs[i];
                let c = g.shape(part)[1];
                // Consecutive channel slices covering a whole source: place the source.
                if let Some((src, count)) = self.slice_group(n, i, &producers) {
                    let placeable = self.placeable(src, &producers, &part_uses, true);
                    if placeable {
                        self.placement.insert(src, (n.output, off));
                    }
                    off += g.shape(src)[1];
                    i += count;
                    continue;
                }
                if self.placeable(part, &producers, &part_uses, false) {
                    self.placement.insert(part, (n.output, off));
                }
                off += c;
                i += 1;
            }
        }
        self.assign_plain_placements(&producers);
    }

    /// Plain concats whose parts are contiguous blocks of the output (everything before the
    /// axis is 1, as at batch 1): parts written by generic kernels go straight to their block.
    fn assign_plain_placements(&mut self, producers: &[Option<usize>]) {
        let g = self.g;
        let mut root_uses: HashMap<ValueId, usize> = HashMap::new();
        for n in &g.nodes {
            if matches!(n.op, Op::Concat { .. }) {
                for &x in &n.inputs {
                    *root_uses.entry(self.alias_root(x, producers)).or_default() += 1;
                }
            }
        }
        for n in &g.nodes {
            let Op::Concat { axis } = n.op else {
                continue;
            };
            let ys = g.shape(n.output);
            if self.layout[n.output] != Layout::Plain || ys[..axis].iter().product::<usize>() != 1 {
                continue;
            }
            let inner: usize = ys[axis + 1..].iter().product();
            let mut off = 0;
            for &part in &n.inputs {
                let root = self.alias_root(part, producers);
                let writes_plain = producers[root].is_some_and(|pi| {
                    matches!(
                        g.nodes[pi].op,
                        Op::Transpose { .. }
                            | Op::Slice { .. }
                            | Op::Unary(_)
                            | Op::Binary(_)
                            | Op::Pad { .. }
                            | Op::Softmax { .. }
                            | Op::Reshape
                            | Op::Concat { .. }
                    )
                });
                if writes_plain
                    && self.layout[root] == Layout::Plain
                    && !self.plain_placement.contains_key(&root)
                    && root_uses.get(&root) == Some(&1)
                    && !g.inputs.contains(&root)
                    && !g.consts.contains_key(&root)
                {
                    self.plain_placement.insert(root, (n.output, off * inner));
                }
                off += g.shape(part)[axis];
            }
        }
    }

    /// The value a chain of plain reshapes (which are aliases) starts from.
    fn alias_root(&self, mut v: ValueId, producers: &[Option<usize>]) -> ValueId {
        while let Some(pi) = producers[v] {
            let n = &self.g.nodes[pi];
            if n.op != Op::Reshape || self.layout[n.inputs[0]] != Layout::Plain {
                break;
            }
            v = n.inputs[0];
        }
        v
    }

    /// `n.inputs[i..i+count]` are step-1 channel views of one source covering it in order.
    fn slice_group(
        &self,
        n: &crate::infer::graph::Node,
        i: usize,
        producers: &[Option<usize>],
    ) -> Option<(ValueId, usize)> {
        let g = self.g;
        let view_of = |v: ValueId| -> Option<(ValueId, usize)> {
            let pn = &g.nodes[producers[v]?];
            if !slice_is_view(g, &self.layout, pn) {
                return None;
            }
            let Op::Slice { starts, .. } = &pn.op else {
                return None;
            };
            Some((pn.inputs[0], starts[1]))
        };
        let (src, start) = view_of(n.inputs[i])?;
        if start != 0 {
            return None;
        }
        let total = g.shape(src)[1];
        let mut covered = 0;
        let mut j = i;
        while j < n.inputs.len() && covered < total {
            let (s, st) = view_of(n.inputs[j])?;
            if s != src || st != covered {
                return None;
            }
            covered += g.shape(n.inputs[j])[1];
            j += 1;
        }
        (covered == total).then_some((src, j - i))
    }

    fn placeable(
        &self,
        v: ValueId,
        producers: &[Option<usize>],
        part_uses: &HashMap<ValueId, usize>,
        via_slices: bool,
    ) -> bool {
        let g = self.g;
        producers[v].is_some()
            && self.writer[v] == Writer::Vec4
            && !self.placement.contains_key(&v)
            && (via_slices || part_uses.get(&v).copied().unwrap_or(0) == 1)
            && !g.consts.contains_key(&v)
            && !g.inputs.contains(&v)
    }

    /// A new storage slot.
    pub fn new_slot(&mut self, elems: usize, prec: Prec) -> usize {
        self.slots.push(SlotInfo {
            elems: up4(elems.max(4)),
            prec,
        });
        self.slots.len() - 1
    }

    /// A new NHWC place of its own for `shape`.
    pub fn own_nhwc(&mut self, shape: &[usize], prec: Prec) -> Place {
        let ps = up4(shape[1]);
        let slot = self.new_slot(shape[0] * shape[2] * shape[3] * ps, prec);
        Place {
            slot,
            offset: 0,
            layout: Layout::Nhwc,
            prec,
            ps,
        }
    }

    /// A new plain f32 place of its own for `shape`.
    pub fn own_plain(&mut self, shape: &[usize]) -> Place {
        let n: usize = shape.iter().product();
        let slot = self.new_slot(n, Prec::F32);
        Place {
            slot,
            offset: 0,
            layout: Layout::Plain,
            prec: Prec::F32,
            ps: 0,
        }
    }

    /// The place of an already planned value.
    pub fn place(&self, v: ValueId) -> Place {
        self.places[v].unwrap_or_else(|| panic!("value {v} planned before its producer"))
    }

    /// Where the vec4 writer of `v` writes: its concat storage when placed, else its own slot.
    pub fn vec4_out(&mut self, v: ValueId) -> Place {
        if let Some(&(c, off)) = self.placement.get(&v) {
            let cp = self.concat_storage(c);
            let p = Place {
                offset: cp.offset + off,
                ..cp
            };
            self.places[v] = Some(p);
            return p;
        }
        let shape = self.shapes[v].clone();
        let p = self.own_nhwc(&shape, self.prec);
        self.places[v] = Some(p);
        p
    }

    /// The storage of an aligned NHWC concat (created by whichever part is written first).
    pub fn concat_storage(&mut self, c: ValueId) -> Place {
        if let Some(p) = self.places[c] {
            return p;
        }
        let shape = self.shapes[c].clone();
        let p = self.own_nhwc(&shape, self.prec);
        self.places[c] = Some(p);
        p
    }

    /// Records a dispatch.
    pub fn push(&mut self, d: Dispatch) {
        self.steps.push(d);
    }

    /// A constant buffer holding `bytes`.
    pub fn add_const(&mut self, bytes: Vec<u8>) -> BufRef {
        self.consts.push(bytes);
        BufRef::Const(self.consts.len() - 1)
    }

    /// A graph constant as a plain f32 buffer (cached per value).
    pub fn const_plain(&mut self, v: ValueId) -> BufRef {
        if let Some(&i) = self.const_cache.get(&(v, 0)) {
            return BufRef::Const(i);
        }
        let data = self.g.consts[&v].to_f32();
        let b = self.add_const(Prec::F32.encode(&data));
        if let BufRef::Const(i) = b {
            self.const_cache.insert((v, 0), i);
        }
        b
    }
}

/// True when the input is an image in NCHW order (4-D, at most 4 channels).
pub(super) fn is_image_input(s: &[usize]) -> bool {
    s.len() == 4 && s[1] <= 4
}

/// Parts of an NHWC channel concat can be placed when every part but the last is 4-aligned.
pub(super) fn concat_aligned(g: &Graph, n: &crate::infer::graph::Node) -> bool {
    let k = n.inputs.len();
    n.inputs[..k - 1]
        .iter()
        .all(|&x| g.shape(x)[1].is_multiple_of(4))
}

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
    pub(super) flops: u64,
}

/// Uniform ranges are placed at this alignment (the WebGPU maximum of the offset alignment).
const UNIFORM_ALIGN: u64 = 256;

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
        // Inputs get their own slots first (written before the pass).
        let mut inputs = Vec::new();
        for &i in &graph.inputs {
            let shape = graph.shape(i).to_vec();
            let place = if pl.layout[i] == Layout::Nhwc {
                pl.own_nhwc(&shape, prec)
            } else {
                pl.own_plain(&shape)
            };
            pl.places[i] = Some(place);
            inputs.push(PlanInput { shape, place });
        }
        for n in &graph.nodes {
            pl.emit(n)?;
        }
        let outputs_v: Vec<(String, Vec<usize>, Place)> = graph
            .outputs
            .iter()
            .map(|&o| {
                let place = match pl.places[o] {
                    Some(p) => Ok(p),
                    None => Err(InferError::Unsupported {
                        op: "output".into(),
                        node: graph.values[o].name.clone(),
                        reason: "graph output is a constant".into(),
                    }),
                }?;
                Ok((graph.values[o].name.clone(), graph.shape(o).to_vec(), place))
            })
            .collect::<Result<_, InferError>>()?;
        let flops = graph.flops();
        build(ctx, cache, pl, inputs, outputs_v, flops)
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

    /// Copies outputs into the staging buffer (after the pass).
    pub(super) fn copy_outputs(&self, enc: &mut wgpu::CommandEncoder) {
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

    /// Maps the staging buffer and decodes every output (call after the submission).
    pub(super) fn read_outputs(&self, ctx: &GpuContext) -> Result<Vec<NamedTensor>, InferError> {
        let slice = self.staging.slice(..);
        map_and_wait(ctx, &slice, "outputs")?;
        let mut out = Vec::with_capacity(self.outputs.len());
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| InferError::Gpu(format!("reading the staging buffer: {e:?}")))?;
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
                let data = place.unpack(&o.shape, &bytes[skip * elem..]);
                out.push(NamedTensor {
                    name: o.name.clone(),
                    tensor: Tensor::new(o.shape.clone(), data),
                });
            }
        }
        self.staging.unmap();
        Ok(out)
    }

    /// Runs the plan once with one compute pass per dispatch, timing each with timestamp queries.
    pub(super) fn profile(
        &self,
        ctx: &GpuContext,
        before: impl Fn(&mut wgpu::CommandEncoder),
    ) -> Result<Vec<KernelProfile>, InferError> {
        if !ctx.supports_timestamps() {
            return Err(InferError::Gpu(format!(
                "{} has no timestamp queries",
                ctx.summary().name
            )));
        }
        let n = self.steps.len() as u32;
        let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n.max(1),
        });
        let bytes = 16 * n.max(1) as u64;
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile read"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("profile"),
            });
        before(&mut enc);
        for (i, s) in self.steps.iter().enumerate() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&s.name),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &qs,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&s.pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.dispatch_workgroups(s.groups[0], s.groups[1], s.groups[2]);
        }
        enc.resolve_query_set(&qs, 0..2 * n, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
        ctx.queue.submit([enc.finish()]);
        let slice = read.slice(..);
        map_and_wait(ctx, &slice, "timestamps")?;
        let period = ctx.queue.get_timestamp_period() as f64;
        let times: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| InferError::Gpu(format!("reading timestamps: {e:?}")))?;
            bytemuck::cast_slice::<u8, u64>(&view).to_vec()
        };
        read.unmap();
        Ok(self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| KernelProfile {
                name: s.name.clone(),
                kernel: s.kind.to_string(),
                time_ms: times[2 * i + 1].saturating_sub(times[2 * i]) as f64 * period / 1e6,
                flops: s.flops,
                bytes: s.bytes,
            })
            .collect())
    }
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

/// Turns the planner's slots, constants and dispatches into GPU objects.
fn build(
    ctx: &GpuContext,
    cache: &PipelineCache,
    pl: Planner<'_>,
    inputs: Vec<PlanInput>,
    outputs: Vec<(String, Vec<usize>, Place)>,
    flops: u64,
) -> Result<Plan, InferError> {
    let device = &ctx.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    // Liveness: first and last dispatch touching each slot (inputs live from the start,
    // outputs to the end).
    let n_slots = pl.slots.len();
    let mut first = vec![usize::MAX; n_slots];
    let mut last = vec![0usize; n_slots];
    for (i, s) in pl.steps.iter().enumerate() {
        for b in &s.bufs {
            if let BufRef::Slot(k) = *b {
                first[k] = first[k].min(i + 1);
                last[k] = last[k].max(i + 1);
            }
        }
    }
    for inp in &inputs {
        first[inp.place.slot] = 0;
    }
    for (_, _, p) in &outputs {
        last[p.slot] = usize::MAX;
        if first[p.slot] == usize::MAX {
            first[p.slot] = 0;
        }
    }
    // Greedy packing of slots into buffers by liveness.
    let mut order: Vec<usize> = (0..n_slots).filter(|&k| first[k] != usize::MAX).collect();
    order.sort_by_key(|&k| (first[k], std::cmp::Reverse(pl.slots[k].elems)));
    let mut buf_size: Vec<u64> = Vec::new();
    let mut buf_free_after: Vec<usize> = Vec::new();
    let mut slot_buf = vec![usize::MAX; n_slots];
    for &k in &order {
        let bytes = (pl.slots[k].elems * pl.slots[k].prec.bytes()) as u64;
        let free: Vec<usize> = (0..buf_size.len())
            .filter(|&b| buf_free_after[b] < first[k])
            .collect();
        let fit = free
            .iter()
            .copied()
            .filter(|&b| buf_size[b] >= bytes)
            .min_by_key(|&b| buf_size[b]);
        let b = match fit.or_else(|| free.iter().copied().max_by_key(|&b| buf_size[b])) {
            Some(b) => b,
            None => {
                buf_size.push(0);
                buf_free_after.push(0);
                buf_size.len() - 1
            }
        };
        buf_size[b] = buf_size[b].max(bytes);
        buf_free_after[b] = last[k];
        slot_buf[k] = b;
    }
    let max_binding = ctx.max_binding_bytes();
    let buffers: Vec<Arc<wgpu::Buffer>> = buf_size
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
                size: size.max(16).div_ceil(16) * 16,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })))
        })
        .collect::<Result<_, _>>()?;
    let slot_buffers: Vec<Arc<wgpu::Buffer>> = (0..n_slots)
        .map(|k| {
            if slot_buf[k] == usize::MAX {
                // A slot nobody touches (cannot happen for planned values): give it a tiny buffer.
                Arc::new(device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("unused"),
                    size: 16,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }))
            } else {
                buffers[slot_buf[k]].clone()
            }
        })
        .collect();
    let const_buffers: Vec<wgpu::Buffer> = pl
        .consts
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let size = (bytes.len() as u64).max(16).div_ceil(16) * 16;
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
        .collect();
    // All dispatch parameters in one uniform buffer.
    let mut uniform_bytes: Vec<u8> = Vec::new();
    let mut ranges = Vec::with_capacity(pl.steps.len());
    for s in &pl.steps {
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
    let mut steps = Vec::with_capacity(pl.steps.len());
    for (s, &(off, len)) in pl.steps.iter().zip(&ranges) {
        let pipeline = cache.get(device, s.kind, &s.src)?;
        let layout = pipeline.get_bind_group_layout(0);
        let Some(uniform) = uniform.as_ref() else {
            break;
        };
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: uniform,
                offset: off,
                size: wgpu::BufferSize::new(len),
            }),
        }];
        for (i, b) in s.bufs.iter().enumerate() {
            let buffer = match *b {
                BufRef::Slot(k) => slot_buffers[k].as_ref(),
                BufRef::Const(k) => &const_buffers[k],
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&s.name),
            layout: &layout,
            entries: &entries,
        });
        steps.push(Step {
            pipeline,
            bind_group,
            groups: s.groups,
            name: s.name.clone(),
            kind: s.kind,
            flops: s.flops,
            bytes: s.bytes,
        });
    }
    // Staging for outputs.
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
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("outputs"),
        size: staging_size.max(16),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(InferError::Gpu(format!("building the plan: {e}")));
    }
    tracing::debug!(
        dispatches = steps.len(),
        buffers = buffers.len(),
        activation_bytes = buf_size.iter().sum::<u64>(),
        "plan built"
    );
    Ok(Plan {
        inputs,
        outputs: outs,
        slot_buffers,
        _const_buffers: const_buffers,
        _uniform: uniform,
        steps,
        staging,
        flops,
    })
}
