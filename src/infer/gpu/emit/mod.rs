//! Emission of dispatches for each IR op: weights repacked for the kernels, parameters, grids.
//!
//! One file per kernel family: `conv` (implicit GEMM for convolutions and transposed ones),
//! `depthwise`, `pixelwise` (pooling and resize), `eltwise` (vec4 NHWC element-wise ops and
//! placed copies), `generic` (the strided rank-6 kernel), `movement` (Slice, Transpose, Reshape,
//! Pad, Concat and NHWC conversion, all through the generic or eltwise kernels) and `softmax`.

mod conv;
mod depthwise;
mod eltwise;
mod generic;
mod movement;
mod pixelwise;
mod softmax;

use super::layout::Place;
use super::plan::{Planner, Writer};
use super::shader::{binop_fn, unary_op_fn};
use crate::infer::InferError;
use crate::infer::graph::{Node, Op, Window};
use conv::Epilogue;

/// Kernel parameters as the u32 words of the WGSL `Params` struct.
#[derive(Default)]
pub(super) struct Params(pub Vec<u32>);

impl Params {
    fn u(mut self, v: usize) -> Self {
        self.0.push(v as u32);
        self
    }
    fn i(mut self, v: i64) -> Self {
        self.0.push(v as i32 as u32);
        self
    }
    fn f(mut self, v: f32) -> Self {
        self.0.push(v.to_bits());
        self
    }
    /// The pixel stride and channel offset (in vec4 units) of an NHWC view, zeros when absent:
    /// the `*_ps4`, `*_off4` pair of every vec4 kernel.
    fn view4(self, p: Option<Place>) -> Self {
        let (off4, ps4) = p.map_or((0, 0), |p| p.vec4());
        self.u(ps4 as usize).u(off4 as usize)
    }
    /// A 6-vector stored as `array<vec4<u32>, 2>`.
    fn v6u(mut self, v: &[usize]) -> Self {
        for k in 0..8 {
            self.0
                .push(v.get(k).map_or(0, |&x| x.min(u32::MAX as usize) as u32));
        }
        self
    }
    fn v6i(mut self, v: &[i64]) -> Self {
        for k in 0..8 {
            self.0.push(v.get(k).map_or(0, |&x| x as i32 as u32));
        }
        self
    }
}

/// Workgroups for `threads` one-dimensional threads of a 64-wide kernel, folding into y when
/// the count exceeds the per-dimension limit; and the thread count of one row.
fn grid(threads: usize) -> ([u32; 3], usize) {
    let wg = threads.div_ceil(64).max(1);
    if wg <= 65535 {
        ([wg as u32, 1, 1], wg * 64)
    } else {
        ([65535, wg.div_ceil(65535) as u32, 1], 65535 * 64)
    }
}

/// Template values of a sliding window: kernel, stride, dilation, top/left pads (the kernels
/// need no bottom/right pads: bounds checks cover them).
fn window_vars(w: &Window) -> Vec<(&'static str, String)> {
    vec![
        ("KH", w.kernel[0].to_string()),
        ("KW", w.kernel[1].to_string()),
        ("SH", w.stride[0].to_string()),
        ("SW", w.stride[1].to_string()),
        ("DH", w.dilation[0].to_string()),
        ("DW", w.dilation[1].to_string()),
        ("PT", w.pads[0].to_string()),
        ("PL", w.pads[1].to_string()),
    ]
}

/// Bytes one NHWC kernel moves: its input and output tensors at the plan precision, for the
/// profile's bandwidth column.
fn io_bytes(planner: &Planner<'_>, n: &Node) -> u64 {
    let elems = |v: usize| planner.shapes[v].iter().product::<usize>();
    (elems(n.inputs[0]) + elems(n.output)) as u64 * planner.prec.bytes() as u64
}

impl Planner<'_> {
    /// Emits the dispatches of one node and records its output's place.
    pub(super) fn emit(&mut self, n: &Node) -> Result<(), InferError> {
        let vec4 = self.writer[n.output] == Writer::Vec4;
        match &n.op {
            Op::Conv(c) if c.geom.is_depthwise() => self.depthwise(n, c),
            Op::Conv(c) => self.gemm(n, &c.geom, [&c.weight, &c.bias], false, Epilogue::of(c)),
            Op::ConvTranspose(c) => {
                let epi = Epilogue::act(c.act);
                self.gemm(n, &c.geom, [&c.weight, &c.bias], true, epi)
            }
            Op::Pool(p) => self.pool(n, p),
            Op::Resize(r) => self.resize(n, r),
            Op::Unary(a) if vec4 => self.vec4_unary(n, *a),
            Op::Unary(a) => self.generic_map(n, unary_op_fn(*a, false)),
            Op::Binary(b) if vec4 => self.vec4_binary(n, *b),
            Op::Binary(b) => self.generic_map(n, binop_fn(*b, false)),
            Op::Concat { axis } => self.concat(n, *axis),
            Op::Slice { starts, steps } => self.slice(n, starts, steps),
            Op::Transpose { perm } => self.transpose(n, perm),
            Op::Reshape => self.reshape(n),
            Op::Pad { pads, value } => self.pad(n, pads, *value),
            Op::Softmax { axis } => self.softmax(n, *axis),
            Op::MatMul | Op::ReduceMean { .. } => Err(InferError::Unsupported {
                op: n.op.name().into(),
                node: n.name.clone(),
                reason: "not implemented on the GPU yet".into(),
            }),
        }
    }
}
