//! Pass 2: Concat parts that their producers write directly at their offset in the concat's
//! storage (NHWC channel concats, and plain concats whose parts are contiguous blocks), and
//! Split/Slice parts that are views of their source.

use std::collections::HashMap;

use super::super::layout::Layout;
use super::layouts::slice_is_view;
use super::planner::{Planner, Writer};
use crate::infer::graph::{Graph, Node, Op, ValueId};

/// Parts of an NHWC channel concat can be placed when every part but the last is 4-aligned.
pub(in crate::infer::gpu) fn concat_aligned(g: &Graph, n: &Node) -> bool {
    let k = n.inputs.len();
    n.inputs[..k - 1]
        .iter()
        .all(|&x| g.shape(x)[1].is_multiple_of(4))
}

impl Planner<'_> {
    /// Pass 2: Concat parts written in place by their producers.
    pub(super) fn assign_placements(&mut self) {
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
        n: &Node,
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
}
