//! Vec4 element-wise kernels over NHWC views (`eltwise.wgsl`): unary functions, binary ops with a
//! second NHWC tensor or a per-channel constant, and copies to a channel offset (Concat parts).

use super::super::layout::{Place, up4};
use super::super::plan::{BufRef, Dispatch, Planner};
use super::super::shader::{Access, Prec, Slot, bindings, binop_fn, template, unary_op_fn};
use super::{Params, grid};
use crate::infer::InferError;
use crate::infer::graph::fuse::per_channel;
use crate::infer::graph::{Act, BinOp, Node};

const ELTWISE: &str = include_str!("../../../../shaders/eltwise.wgsl");

/// A vec4 element-wise operation: `op(a, b)` (or `op(b, a)` with `swap`).
pub(super) struct EltOp {
    pub a: Place,
    pub b: Option<EltB>,
    pub swap: bool,
    pub op: String,
}

impl EltOp {
    /// A copy of `a` (a Concat part moved to its channel offset).
    pub fn copy(a: Place) -> Self {
        EltOp {
            a,
            b: None,
            swap: false,
            op: unary_op_fn(Act::Identity, true),
        }
    }
}

/// The second operand of a vec4 element-wise kernel.
pub(super) enum EltB {
    Tensor(Place),
    /// A per-channel constant (vec4 per 4 channels, f32).
    Channel(BufRef),
}

impl Planner<'_> {
    /// A unary function of an NHWC tensor.
    pub(super) fn vec4_unary(&mut self, n: &Node, act: Act) -> Result<(), InferError> {
        let a = self.nhwc_input(n.inputs[0]);
        let e = EltOp {
            op: unary_op_fn(act, true),
            ..EltOp::copy(a)
        };
        self.eltwise(n, e)
    }

    /// A binary op of an NHWC tensor and a second one or a per-channel constant (on either side).
    pub(super) fn vec4_binary(&mut self, n: &Node, op: BinOp) -> Result<(), InferError> {
        let (a0, a1) = (n.inputs[0], n.inputs[1]);
        let c = self.shapes[n.output][1];
        let (t, other, swap) = if !self.g.consts.contains_key(&a0) {
            (a0, a1, false)
        } else {
            (a1, a0, true)
        };
        let a = self.nhwc_input(t);
        let channel = self
            .g
            .consts
            .contains_key(&other)
            .then(|| per_channel(self.g, other, c))
            .flatten();
        let b = if let Some(mut v) = channel {
            v.resize(up4(c), 0.0);
            EltB::Channel(self.add_const(Prec::F32.encode(&v)))
        } else {
            EltB::Tensor(self.nhwc_input(other))
        };
        let e = EltOp {
            a,
            b: Some(b),
            swap,
            op: binop_fn(op, true),
        };
        self.eltwise(n, e)
    }

    /// A vec4 NHWC element-wise dispatch writing the node's output.
    fn eltwise(&mut self, n: &Node, e: EltOp) -> Result<(), InferError> {
        let out = self.vec4_out(n.output);
        let shape = self.shapes[n.output].clone();
        self.eltwise_to(&n.name, e, out, &shape);
        Ok(())
    }

    /// A vec4 NHWC element-wise dispatch writing `out` (a node output or a concat part's view).
    pub(super) fn eltwise_to(&mut self, name: &str, e: EltOp, out: Place, shape: &[usize]) {
        let EltOp { a, b, swap, op } = e;
        let c = shape[1];
        let c4 = up4(c) / 4;
        let total = shape[0] * shape[2] * shape[3] * c4;
        let (groups, row) = grid(total);
        // B_MODE, the second operand's storage and buffer, and its view (a tensor's only).
        let (mode, b_prec, b_buf, b_view) = match b {
            None => (0, None, None, None),
            Some(EltB::Tensor(bp)) => (1, Some(bp.prec), Some(BufRef::Slot(bp.slot)), Some(bp)),
            Some(EltB::Channel(buf)) => (2, Some(Prec::F32), Some(buf), None),
        };
        let slots = [
            Slot::new("a", a.prec, Access::Vec4),
            Slot::optional("b", b_prec, Access::Vec4),
            Slot::new("y", out.prec, Access::Vec4),
        ];
        let mut bufs = vec![BufRef::Slot(a.slot)];
        bufs.extend(b_buf);
        bufs.push(BufRef::Slot(out.slot));
        let src = template(
            ELTWISE,
            &[
                ("BINDINGS", bindings(&slots)),
                ("B_MODE", mode.to_string()),
                ("SWAP", swap.to_string()),
                ("OP", op),
            ],
        );
        let params = Params::default()
            .u(total)
            .u(c4)
            .u(c)
            .view4(Some(a))
            .view4(b_view)
            .view4(Some(out))
            .u(row);
        let elems: usize = shape.iter().product();
        self.push(Dispatch {
            name: name.to_string(),
            kind: "eltwise",
            src,
            params: params.0,
            bufs,
            groups,
            flops: elems as u64,
            bytes: elems as u64 * 8,
        });
    }
}
