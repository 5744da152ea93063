//! Pass 1: which values live in NHWC (spatial ops and what reads them) and which are plain
//! row-major, and which are written by a vec4 kernel (those can be placed in a larger storage).

use super::super::layout::Layout;
use super::planner::{Planner, Writer};
use crate::infer::InferError;
use crate::infer::graph::fuse::per_channel;
use crate::infer::graph::{Graph, Node, Op, ValueId};

/// True when a Slice node can be a view of its NHWC input: channel-only, step 1, aligned.
pub(in crate::infer::gpu) fn slice_is_view(g: &Graph, layout: &[Layout], n: &Node) -> bool {
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
fn binary_fits_vec4(g: &Graph, layout: &[Layout], a: ValueId, b: ValueId, out: ValueId) -> bool {
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

/// True when the input is an image in NCHW order (4-D, at most 4 channels).
fn is_image_input(s: &[usize]) -> bool {
    s.len() == 4 && s[1] <= 4
}

impl Planner<'_> {
    fn unsupported(n: &Node, why: &str) -> InferError {
        InferError::Unsupported {
            op: n.op.name().into(),
            node: n.name.clone(),
            reason: format!("on the GPU: {why}"),
        }
    }

    /// Pass 1: layouts and writers.
    pub(super) fn assign_layouts(&mut self) -> Result<(), InferError> {
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
                Op::Binary(_) if binary_fits_vec4(g, &self.layout, n.inputs[0], n.inputs[1], y) => {
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
}
