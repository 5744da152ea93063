//! The strided rank-6 kernel (`generic.wgsl`) that every op without a dedicated kernel goes
//! through: its iteration space, inputs, output, and element-wise ops on any layout.

use super::super::layout::{Layout, Place, up4};
use super::super::plan::{BufRef, Dispatch, Planner};
use super::super::shader::{Access, Prec, Slot, bindings, template, unary_op_fn};
use super::{Params, grid};
use crate::infer::InferError;
use crate::infer::graph::shape::strides as row_major;
use crate::infer::graph::{Act, Node, ValueId};

const GENERIC: &str = include_str!("../../../../shaders/generic.wgsl");

/// The iteration space of a generic kernel over its output.
pub(super) struct OutIter {
    /// Extent of each iteration dim, in the output's physical order.
    pub dims: Vec<usize>,
    /// Logical limits: coordinates at or past them are padding lanes, written as zero.
    pub lims: Vec<usize>,
    /// Output element strides of each iteration dim.
    pub strides: Vec<usize>,
    /// The logical dim each iteration dim walks.
    pub perm: Vec<usize>,
}

impl OutIter {
    /// Row-major iteration over `shape` written with `strides`.
    pub fn plain(shape: &[usize], strides: Vec<usize>) -> Self {
        OutIter {
            dims: shape.to_vec(),
            lims: shape.to_vec(),
            strides,
            perm: (0..shape.len()).collect(),
        }
    }

    /// NHWC iteration over a logical `[n, c, h, w]` written with pixel stride `ps`, walking
    /// `lanes` channels (past `c`: padding lanes).
    pub fn nhwc(shape: &[usize], ps: usize, lanes: usize) -> Self {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        OutIter {
            dims: vec![n, h, w, lanes],
            lims: vec![n, h, w, c],
            strides: vec![h * w * ps, w * ps, ps, 1],
            perm: vec![0, 2, 3, 1],
        }
    }

    /// The iteration that writes a tensor of `shape` into `place`, padding lanes included when
    /// `pad_lanes`.
    pub fn over(place: &Place, shape: &[usize], pad_lanes: bool) -> Self {
        match place.layout {
            Layout::Plain => OutIter::plain(shape, row_major(shape)),
            Layout::Nhwc => {
                let lanes = if pad_lanes { up4(shape[1]) } else { shape[1] };
                OutIter::nhwc(shape, place.ps, lanes)
            }
        }
    }
}

/// A generic kernel input.
pub(super) struct GenIn {
    pub buf: BufRef,
    pub prec: Prec,
    pub base: i64,
    /// Per iteration dim.
    pub strides: Vec<i64>,
    pub offs: Vec<i64>,
    pub lims: Vec<usize>,
}

impl GenIn {
    /// Reads `place` from `base` past its offset, with `strides` per iteration dim, valid up to
    /// `lims` (no coordinate offsets).
    pub fn strided(place: &Place, base: i64, strides: Vec<i64>, lims: Vec<usize>) -> Self {
        GenIn {
            buf: BufRef::Slot(place.slot),
            prec: place.prec,
            base: place.offset as i64 + base,
            offs: vec![0; strides.len()],
            strides,
            lims,
        }
    }
}

/// A generic kernel output (always f32).
pub(super) struct GenOut {
    pub buf: BufRef,
    pub base: usize,
    pub dims: Vec<usize>,
    pub lims: Vec<usize>,
    pub strides: Vec<usize>,
}

impl GenOut {
    /// Writes `place`'s slot from element `base` over the iteration `it`.
    pub fn at(place: &Place, base: usize, it: &OutIter) -> Self {
        GenOut {
            buf: BufRef::Slot(place.slot),
            base,
            dims: it.dims.clone(),
            lims: it.lims.clone(),
            strides: it.strides.clone(),
        }
    }
}

/// `v` reordered by `perm` (logical dims into iteration order).
pub(super) fn permute<T: Copy>(v: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| v[p]).collect()
}

/// Pads per-dim vectors to 6 entries at the front.
pub(super) fn pad6<T: Copy>(v: &[T], fill: T) -> Vec<T> {
    let mut out = vec![fill; 6 - v.len()];
    out.extend_from_slice(v);
    out
}

/// Strides of a tensor (in its place) along each logical dim of a broadcast output of rank
/// `rank`: zero on broadcast (size-1) dims.
fn logical_strides(place: &Place, shape: &[usize], rank: usize) -> Vec<i64> {
    let s = place.strides(shape);
    let off = rank - shape.len();
    (0..rank)
        .map(|d| {
            if d < off || shape[d - off] == 1 {
                0
            } else {
                s[d - off] as i64
            }
        })
        .collect()
}

impl Planner<'_> {
    /// A generic strided dispatch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn generic(
        &mut self,
        name: &str,
        kind: &'static str,
        o: GenOut,
        a: GenIn,
        b: Option<GenIn>,
        op: String,
        pad_value: f32,
    ) {
        let total: usize = o.dims.iter().product();
        let (groups, row) = grid(total);
        let slots = [
            Slot::new("a", a.prec, Access::Scalar),
            Slot::optional("b", b.as_ref().map(|b| b.prec), Access::Scalar),
            Slot::new("y", Prec::F32, Access::Scalar),
        ];
        let mut bufs = vec![a.buf];
        bufs.extend(b.as_ref().map(|b| b.buf));
        bufs.push(o.buf);
        let src = template(
            GENERIC,
            &[
                ("BINDINGS", bindings(&slots)),
                ("NB", if b.is_some() { "2" } else { "1" }.to_string()),
                ("OP", op),
            ],
        );
        let (b_base, b_str) = b
            .as_ref()
            .map_or((0, vec![0; o.dims.len()]), |b| (b.base, b.strides.clone()));
        let params = Params::default()
            .u(total)
            .u(row)
            .u(o.base)
            .i(a.base)
            .u(b_base as usize)
            .f(pad_value)
            .u(0)
            .u(0)
            .v6u(&pad6(&o.dims, 1))
            .v6u(&pad6(&o.lims, 1))
            .v6u(&pad6(&o.strides, 0))
            .v6i(&pad6(&a.strides, 0))
            .v6i(&pad6(&a.offs, 0))
            .v6u(&pad6(&a.lims, 1))
            .v6u(&pad6(
                &b_str.iter().map(|&s| s.max(0) as usize).collect::<Vec<_>>(),
                0,
            ));
        self.push(Dispatch {
            name: name.to_string(),
            kind,
            src,
            params: params.0,
            bufs,
            groups,
            flops: total as u64,
            bytes: total as u64 * 8,
        });
    }

    /// A generic kernel copying `a` to `o`.
    pub(super) fn copy(&mut self, name: &str, kind: &'static str, o: GenOut, a: GenIn) {
        self.generic(
            name,
            kind,
            o,
            a,
            None,
            unary_op_fn(Act::Identity, false),
            0.0,
        );
    }

    /// Output place for a generic kernel writing value `y`: NHWC f32 or plain f32.
    /// A plain value placed in a concat gets its block of the concat's storage.
    pub(super) fn generic_out(&mut self, y: ValueId) -> Place {
        if let Some(p) = self.places[y] {
            // A concat whose storage a part already created.
            return p;
        }
        let shape = self.shapes[y].clone();
        let p = if self.layout[y] == Layout::Nhwc {
            self.own_nhwc(&shape, Prec::F32)
        } else if let Some(&(c, off)) = self.plain_placement.get(&y) {
            let cp = self.generic_out(c);
            Place {
                offset: cp.offset + off,
                ..cp
            }
        } else {
            self.own_plain(&shape)
        };
        self.places[y] = Some(p);
        p
    }

    /// Input of a generic kernel: a planned tensor or a constant, strides along the output's
    /// logical dims (broadcast), permuted into the iteration order of `it`.
    pub(super) fn gen_input(&mut self, v: ValueId, out_shape: &[usize], it: &OutIter) -> GenIn {
        let shape = self.shapes[v].clone();
        let place = if self.g.consts.contains_key(&v) {
            None
        } else {
            Some(self.place(v))
        };
        let buf = match place {
            Some(p) => BufRef::Slot(p.slot),
            None => self.const_plain(v),
        };
        let place = place.unwrap_or(Place {
            slot: 0,
            offset: 0,
            layout: Layout::Plain,
            prec: Prec::F32,
            ps: 0,
        });
        let strides = permute(&logical_strides(&place, &shape, out_shape.len()), &it.perm);
        GenIn {
            buf,
            ..GenIn::strided(&place, 0, strides, it.lims.clone())
        }
    }

    /// Unary or binary op on any layouts through the generic kernel.
    pub(super) fn generic_map(&mut self, n: &Node, op: String) -> Result<(), InferError> {
        let y = n.output;
        let shape = self.shapes[y].clone();
        let out = self.generic_out(y);
        let it = OutIter::over(&out, &shape, true);
        let a = self.gen_input(n.inputs[0], &shape, &it);
        let b = (n.inputs.len() > 1).then(|| self.gen_input(n.inputs[1], &shape, &it));
        let o = GenOut::at(&out, out.offset, &it);
        self.generic(&n.name, "elementwise", o, a, b, op, 0.0);
        Ok(())
    }
}
