//! Softmax along one axis of a strided tensor (`softmax.wgsl`), one thread per row.

use super::super::plan::{BufRef, Dispatch, Planner};
use super::super::shader::{Access, Prec, Slot, bindings, template};
use super::generic::pad6;
use super::{Params, grid};
use crate::infer::InferError;
use crate::infer::graph::Node;
use crate::infer::graph::shape::strides as row_major;

const SOFTMAX: &str = include_str!("../../../../shaders/softmax.wgsl");

impl Planner<'_> {
    /// Softmax over `axis`: the input read in its place, the output written row-major (f32).
    pub(super) fn softmax(&mut self, n: &Node, axis: usize) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let xst = xp.strides(&shape);
        let ost = row_major(&shape);
        let mut dims = shape.clone();
        dims[axis] = 1;
        let total: usize = dims.iter().product();
        let (groups, row) = grid(total);
        let slots = [
            Slot::new("a", xp.prec, Access::Scalar),
            Slot::new("y", Prec::F32, Access::Scalar),
        ];
        let src = template(SOFTMAX, &[("BINDINGS", bindings(&slots))]);
        let params = Params::default()
            .u(total)
            .u(row)
            .u(shape[axis])
            .u(xp.offset)
            .u(out.offset)
            .u(xst[axis])
            .u(ost[axis])
            .u(0)
            .v6u(&pad6(&dims, 1))
            .v6u(&pad6(&xst, 0))
            .v6u(&pad6(&ost, 0));
        let elems: usize = shape.iter().product();
        self.push(Dispatch {
            name: n.name.clone(),
            kind: "softmax",
            src,
            params: params.0,
            bufs: vec![BufRef::Slot(xp.slot), BufRef::Slot(out.slot)],
            groups,
            flops: elems as u64 * 4,
            bytes: elems as u64 * 8,
        });
        Ok(())
    }
}
