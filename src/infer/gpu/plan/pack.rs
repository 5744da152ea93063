//! Liveness of the storage slots and their packing into GPU buffers: pure functions of sizes and
//! live intervals, so the memory plan is testable without a GPU.
//!
//! Every slot binds a whole buffer from offset 0 (the kernels address elements from there), so
//! packing decides which buffer each slot shares, never an offset inside one: two slots share a
//! buffer only when their live intervals do not overlap, and the buffer is as large as the
//! largest slot it holds, rounded up to the allocation alignment.

/// The dispatches during which a slot holds data, inclusive. Dispatches count from 1;
/// [`BEFORE`] is the upload before the pass (graph inputs), [`AFTER`] the read-back after it
/// (graph outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Live {
    pub first: usize,
    pub last: usize,
}

/// Position of the input upload in a live interval.
pub(super) const BEFORE: usize = 0;
/// Position of the output read-back in a live interval.
pub(super) const AFTER: usize = usize::MAX;

/// Live intervals of `n_slots` slots: `touches[i]` lists the slots dispatch `i + 1` binds;
/// `inputs` are live from the upload, `outputs` until the read-back. `None`: never used.
pub(super) fn liveness<'a>(
    n_slots: usize,
    touches: impl IntoIterator<Item = &'a [usize]>,
    inputs: &[usize],
    outputs: &[usize],
) -> Vec<Option<Live>> {
    let mut live: Vec<Option<Live>> = vec![None; n_slots];
    let mut extend = |k: usize, at: usize| match &mut live[k] {
        Some(l) => {
            l.first = l.first.min(at);
            l.last = l.last.max(at);
        }
        none => {
            *none = Some(Live {
                first: at,
                last: at,
            })
        }
    };
    for (i, slots) in touches.into_iter().enumerate() {
        for &k in slots {
            extend(k, i + 1);
        }
    }
    for &k in inputs {
        extend(k, BEFORE);
    }
    for &k in outputs {
        // From its first writer (or the upload, when no dispatch writes it) to the read-back.
        live[k]
            .get_or_insert(Live {
                first: BEFORE,
                last: AFTER,
            })
            .last = AFTER;
    }
    live
}

/// Which buffer holds each slot, and how large each buffer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Packing {
    /// Buffer of each slot; `None` for a slot that is never live.
    pub buffer_of: Vec<Option<usize>>,
    /// Bytes to allocate for each buffer: its largest slot, rounded up to the alignment.
    pub sizes: Vec<u64>,
}

impl Packing {
    /// Bytes of every buffer together (activation memory of the plan).
    pub fn total(&self) -> u64 {
        self.sizes.iter().sum()
    }
}

/// Packs slots of `bytes` each, live during `live`, into as few and as small buffers as a
/// greedy pass finds: slots in order of first use (larger first on ties) go into the smallest
/// free buffer that fits, else the largest free one (which grows), else a new buffer. A buffer
/// is free for a slot when every slot in it died before the new one starts. Sizes are rounded
/// up to `align` (at least `align`).
pub(super) fn pack(bytes: &[u64], live: &[Option<Live>], align: u64) -> Packing {
    let mut order: Vec<(usize, Live)> = live
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.map(|l| (k, l)))
        .collect();
    order.sort_by_key(|&(k, l)| (l.first, std::cmp::Reverse(bytes[k])));
    let mut size: Vec<u64> = Vec::new();
    let mut free_after: Vec<usize> = Vec::new();
    let mut buffer_of = vec![None; bytes.len()];
    for (k, l) in order {
        let free = || (0..size.len()).filter(|&b| free_after[b] < l.first);
        let fit = free()
            .filter(|&b| size[b] >= bytes[k])
            .min_by_key(|&b| size[b]);
        let b = match fit.or_else(|| free().max_by_key(|&b| size[b])) {
            Some(b) => b,
            None => {
                size.push(0);
                free_after.push(0);
                size.len() - 1
            }
        };
        size[b] = size[b].max(bytes[k]);
        free_after[b] = l.last;
        buffer_of[k] = Some(b);
    }
    let sizes = size
        .iter()
        .map(|&s| s.max(align).div_ceil(align) * align)
        .collect();
    Packing { buffer_of, sizes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(first: usize, last: usize) -> Option<Live> {
        Some(Live { first, last })
    }

    /// True when two intervals share a dispatch (then their slots need separate buffers).
    fn overlaps(a: &Live, b: &Live) -> bool {
        a.first <= b.last && b.first <= a.last
    }

    /// The properties every packing must have, checked against its input.
    fn check(bytes: &[u64], lives: &[Option<Live>], align: u64, p: &Packing) {
        for (k, l) in lives.iter().enumerate() {
            assert_eq!(
                p.buffer_of[k].is_some(),
                l.is_some(),
                "slot {k} placed iff live"
            );
        }
        for i in 0..bytes.len() {
            for j in i + 1..bytes.len() {
                if let (Some(a), Some(b), Some(li), Some(lj)) =
                    (p.buffer_of[i], p.buffer_of[j], lives[i], lives[j])
                    && a == b
                {
                    assert!(
                        !overlaps(&li, &lj),
                        "slots {i} and {j} share buffer {a} while live"
                    );
                }
            }
        }
        for (k, b) in p.buffer_of.iter().enumerate() {
            if let Some(b) = *b {
                assert!(p.sizes[b] >= bytes[k], "buffer {b} smaller than slot {k}");
            }
        }
        assert!(p.sizes.iter().all(|&s| s >= align && s % align == 0));
        let aligned_sum: u64 = (0..bytes.len())
            .filter(|&k| lives[k].is_some())
            .map(|k| bytes[k].max(align).div_ceil(align) * align)
            .sum();
        assert!(p.total() <= aligned_sum, "{} > {aligned_sum}", p.total());
    }

    #[test]
    fn overlapping_slots_get_separate_buffers() {
        let bytes = [64, 64, 64];
        let lives = [live(1, 3), live(2, 4), live(3, 3)];
        let p = pack(&bytes, &lives, 16);
        check(&bytes, &lives, 16, &p);
        assert_eq!(p.sizes.len(), 3);
    }

    #[test]
    fn disjoint_slots_reuse_a_buffer() {
        // A chain a -> b -> c: a is dead when c is written, so c reuses a's buffer.
        let bytes = [256, 128, 256];
        let lives = [live(1, 2), live(2, 3), live(3, 4)];
        let p = pack(&bytes, &lives, 16);
        check(&bytes, &lives, 16, &p);
        assert_eq!(p.buffer_of[0], p.buffer_of[2]);
        assert_ne!(p.buffer_of[0], p.buffer_of[1]);
        assert_eq!(p.total(), 256 + 128);
    }

    #[test]
    fn a_reused_buffer_grows_to_its_largest_slot() {
        let bytes = [100, 300];
        let lives = [live(1, 1), live(2, 2)];
        let p = pack(&bytes, &lives, 16);
        check(&bytes, &lives, 16, &p);
        assert_eq!(p.buffer_of, vec![Some(0), Some(0)]);
        assert_eq!(p.sizes, vec![304]);
    }

    #[test]
    fn sizes_are_aligned_and_never_empty() {
        let bytes = [8, 24, 0];
        let lives = [live(1, 2), live(2, 3), live(BEFORE, AFTER)];
        let p = pack(&bytes, &lives, 16);
        check(&bytes, &lives, 16, &p);
        assert_eq!(p.sizes, vec![16, 16, 32]);
    }

    #[test]
    fn unused_slots_get_no_buffer() {
        let bytes = [64, 64];
        let lives = [None, live(1, 1)];
        let p = pack(&bytes, &lives, 16);
        check(&bytes, &lives, 16, &p);
        assert_eq!(p.buffer_of, vec![None, Some(0)]);
    }

    #[test]
    fn inputs_and_outputs_live_to_the_ends() {
        // Dispatch 1 reads slot 0 (an input) and writes 1; dispatch 2 writes slot 2 (an output)
        // from slot 1; slot 3 is an output that no dispatch writes (an input passed through).
        let touches: [&[usize]; 2] = [&[0, 1], &[1, 2]];
        let l = liveness(4, touches, &[0], &[2, 3]);
        assert_eq!(l[0], live(BEFORE, 1));
        assert_eq!(l[1], live(1, 2));
        assert_eq!(l[2], live(2, AFTER));
        assert_eq!(l[3], live(BEFORE, AFTER));
        // The input is dead after dispatch 1, so the output (from dispatch 2) may reuse it; the
        // intermediate overlaps both.
        let bytes = [64, 64, 64, 64];
        let p = pack(&bytes, &l, 16);
        check(&bytes, &l, 16, &p);
        assert_eq!(p.buffer_of[0], p.buffer_of[2]);
    }

    #[test]
    fn random_plans_keep_every_property() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..200 {
            let n = rng.usize(1..40);
            let steps = rng.usize(1..30);
            let bytes: Vec<u64> = (0..n).map(|_| rng.u64(0..5000)).collect();
            let lives: Vec<Option<Live>> = (0..n)
                .map(|_| {
                    if rng.u8(..) < 20 {
                        return None;
                    }
                    let a = rng.usize(0..=steps);
                    let b = if rng.u8(..) < 20 {
                        AFTER
                    } else {
                        rng.usize(a..=steps)
                    };
                    live(a, b)
                })
                .collect();
            let p = pack(&bytes, &lives, 16);
            check(&bytes, &lives, 16, &p);
        }
    }
}
