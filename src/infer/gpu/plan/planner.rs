//! The planner's state, shared by the planning passes and the dispatch emitters: layouts,
//! places, storage slots, constants and the dispatches so far.

use std::collections::HashMap;

use super::super::layout::{Layout, Place, up4};
use super::super::shader::Prec;
use crate::infer::graph::{Graph, ValueId};

/// A buffer a dispatch binds: a pooled activation slot or a weight/constant buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::infer::gpu) enum BufRef {
    Slot(usize),
    Const(usize),
}

/// One dispatch as planned: kernel source, parameters, bindings and grid.
pub(in crate::infer::gpu) struct Dispatch {
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
pub(in crate::infer::gpu) struct SlotInfo {
    pub elems: usize,
    pub prec: Prec,
}

/// How a value is written, decided before emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::infer::gpu) enum Writer {
    /// A vec4 NHWC kernel in the plan precision: can write at a channel offset of a larger storage.
    Vec4,
    /// Anything else (generic kernels write f32, views write nothing).
    Other,
}

/// Planner state shared by the passes and the kernel emitters.
pub(in crate::infer::gpu) struct Planner<'g> {
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

impl<'g> Planner<'g> {
    /// An empty plan for `g`: every value plain, nothing placed yet.
    pub(super) fn new(g: &'g Graph, prec: Prec) -> Self {
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
