//! Ops that only move elements: NHWC conversion of plain inputs, Slice (a view when it can be),
//! Transpose, Reshape out of NHWC, Pad and Concat (parts placed by their producers skipped).

use super::super::layout::{Layout, Place, up4};
use super::super::plan::{Planner, concat_aligned, slice_is_view};
use super::super::shader::{Prec, unary_op_fn};
use super::eltwise::EltOp;
use super::generic::{GenIn, GenOut, OutIter, permute};
use crate::infer::InferError;
use crate::infer::graph::shape::strides as row_major;
use crate::infer::graph::{Act, Node, ValueId};

impl Planner<'_> {
    /// The NHWC place of `v`, converting a plain tensor once (cached) when needed.
    pub(super) fn nhwc_input(&mut self, v: ValueId) -> Place {
        if self.layout[v] == Layout::Nhwc {
            return self.place(v);
        }
        if let Some(&t) = self.nhwc_copies.get(&v) {
            return self.place(t);
        }
        // A plain tensor (or a constant) copied into NHWC.
        let shape = self.shapes[v].clone();
        let out = self.own_nhwc(&shape, Prec::F32);
        let it = OutIter::over(&out, &shape, true);
        let a = self.gen_input(v, &shape, &it);
        let o = GenOut::at(&out, out.offset, &it);
        let name = format!(
            "{}/to_nhwc",
            self.g.values.get(v).map_or("", |x| x.name.as_str())
        );
        self.copy(&name, "to_nhwc", o, a);
        self.shapes.push(shape);
        self.places.push(Some(out));
        let t = self.places.len() - 1;
        self.nhwc_copies.insert(v, t);
        out
    }

    /// A Slice: a view of its input when channel-aligned, else a strided copy.
    pub(super) fn slice(
        &mut self,
        n: &Node,
        starts: &[usize],
        steps: &[i64],
    ) -> Result<(), InferError> {
        let x = n.inputs[0];
        let xp = self.place(x);
        if slice_is_view(self.g, &self.layout, n) {
            self.places[n.output] = Some(Place {
                offset: xp.offset + starts[1],
                ..xp
            });
            return Ok(());
        }
        let st = xp.strides(&self.shapes[x]);
        let base: i64 = starts.iter().zip(&st).map(|(&s, &k)| (s * k) as i64).sum();
        let strides: Vec<i64> = st.iter().zip(steps).map(|(&k, &s)| k as i64 * s).collect();
        self.generic_from(n, x, base, strides)
    }

    /// A Transpose: a copy reading the input with permuted strides.
    pub(super) fn transpose(&mut self, n: &Node, perm: &[usize]) -> Result<(), InferError> {
        let x = n.inputs[0];
        let st = self.place(x).strides(&self.shapes[x]);
        let strides: Vec<i64> = perm.iter().map(|&p| st[p] as i64).collect();
        self.generic_from(n, x, 0, strides)
    }

    /// Copy from input `x` with explicit logical strides (Slice, Transpose) through the generic kernel.
    fn generic_from(
        &mut self,
        n: &Node,
        x: ValueId,
        base: i64,
        strides: Vec<i64>,
    ) -> Result<(), InferError> {
        let y = n.output;
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let it = OutIter::over(&out, &shape, true);
        let a = GenIn::strided(&xp, base, permute(&strides, &it.perm), it.lims.clone());
        let o = GenOut::at(&out, out.offset, &it);
        self.copy(&n.name, "copy", o, a);
        Ok(())
    }

    /// A Reshape: an alias of a plain input; out of NHWC, a copy into row-major order.
    pub(super) fn reshape(&mut self, n: &Node) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let xp = self.place(x);
        if xp.layout == Layout::Plain {
            self.places[y] = Some(xp);
            return Ok(());
        }
        // NHWC -> row-major: iterate over the input's logical shape, write in flat order.
        let xs = self.shapes[x].clone();
        let out = self.generic_out(y);
        let strides = xp.strides(&xs).iter().map(|&s| s as i64).collect();
        let a = GenIn::strided(&xp, 0, strides, xs.clone());
        let o = GenOut::at(&out, out.offset, &OutIter::plain(&xs, row_major(&xs)));
        self.copy(&n.name, "copy", o, a);
        Ok(())
    }

    /// Constant padding: the input read at coordinates shifted by the leading pads, `value`
    /// outside it.
    pub(super) fn pad(
        &mut self,
        n: &Node,
        pads: &[(usize, usize)],
        value: f32,
    ) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let xs = self.shapes[x].clone();
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let it = OutIter::over(&out, &shape, true);
        let offs: Vec<i64> = pads.iter().map(|&(b, _)| -(b as i64)).collect();
        let strides: Vec<i64> = xp.strides(&xs).iter().map(|&s| s as i64).collect();
        let a = GenIn {
            offs: permute(&offs, &it.perm),
            ..GenIn::strided(&xp, 0, permute(&strides, &it.perm), permute(&xs, &it.perm))
        };
        let o = GenOut::at(&out, out.offset, &it);
        let op = unary_op_fn(Act::Identity, false);
        self.generic(&n.name, "pad", o, a, None, op, value);
        Ok(())
    }

    /// A Concat: aligned NHWC parts copied (or already written) at their channel offsets by the
    /// vec4 kernel, other layouts part by part through the generic kernel.
    pub(super) fn concat(&mut self, n: &Node, axis: usize) -> Result<(), InferError> {
        let y = n.output;
        let ys = self.shapes[y].clone();
        if self.layout[y] == Layout::Nhwc && concat_aligned(self.g, n) {
            // Parts already written in place by their producers are skipped; the rest are copied.
            let out = self.concat_storage(y);
            let mut off = 0;
            for (i, &part) in n.inputs.iter().enumerate() {
                let ps = self.shapes[part].clone();
                let here = self.places[part].is_some_and(|p| {
                    p.layout == Layout::Nhwc
                        && p.slot == out.slot
                        && p.offset == out.offset + off
                        && p.prec == out.prec
                });
                if !here {
                    let a = self.nhwc_input(part);
                    let view = Place {
                        offset: out.offset + off,
                        ..out
                    };
                    let name = format!("{}:{i}", n.name);
                    self.eltwise_to(&name, EltOp::copy(a), view, &ps);
                }
                off += ps[1];
            }
            return Ok(());
        }
        let out = self.generic_out(y);
        let ost = out.strides(&ys);
        let mut off = 0;
        let k = n.inputs.len();
        for (i, &part) in n.inputs.iter().enumerate() {
            let ps = self.shapes[part].clone();
            let block = out.offset + off * ost.get(axis).copied().unwrap_or(0);
            let in_place = out.layout == Layout::Plain
                && self.places[part].is_some_and(|p| {
                    p.layout == Layout::Plain && p.slot == out.slot && p.offset == block
                });
            if in_place {
                off += ps[axis];
                continue;
            }
            let (it, base) = match out.layout {
                Layout::Nhwc => {
                    // Channels [off, off + C) of each pixel; the last part also zeroes the tail.
                    let lanes = if i + 1 == k { up4(ys[1]) - off } else { ps[1] };
                    (OutIter::nhwc(&ps, out.ps, lanes), out.offset + off)
                }
                Layout::Plain => (OutIter::plain(&ps, ost.clone()), block),
            };
            let a = self.gen_input(part, &ps, &it);
            let o = GenOut::at(&out, base, &it);
            let name = format!("{}:{i}", n.name);
            self.copy(&name, "concat", o, a);
            off += ps[axis];
        }
        Ok(())
    }
}
