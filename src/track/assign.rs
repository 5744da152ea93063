//! Optimal assignment of tracks to detections (Hungarian algorithm) and the IoU that scores a pair.

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 for empty or disjoint boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Minimum-cost assignment of rows to columns: for each row, its column, or `None` when there are
/// more rows than columns and the row is left over.
///
/// `cost` is row-major with `cols` columns. O(n^2 m) (the shortest augmenting path form of
/// Kuhn-Munkres); the matrices here are tracks x detections of one frame, a few dozen at most.
pub fn hungarian(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    debug_assert_eq!(cost.len(), rows * cols);
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows > cols {
        // Solve the transpose (rows must not outnumber columns), then invert the answer.
        let t: Vec<f64> = (0..cols * rows)
            .map(|k| cost[(k % rows) * cols + k / rows])
            .collect();
        let by_col = hungarian(&t, cols, rows);
        let mut by_row = vec![None; rows];
        for (c, r) in by_col.into_iter().enumerate() {
            if let Some(r) = r {
                by_row[r] = Some(c);
            }
        }
        return by_row;
    }
    let (n, m) = (rows, cols);
    let at = |i: usize, j: usize| cost[(i - 1) * m + (j - 1)];
    // Potentials u (rows) and v (columns); p[j] = row matched to column j (1-based, 0 = none).
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = at(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut by_row = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            by_row[p[j] - 1] = Some(j - 1);
        }
    }
    by_row
}

/// Pairs `(row, col)` with `score(row, col) >= min_score`, chosen to match as many pairs as possible
/// and, among those, to maximise the total score. `score` returns `None` for pairs that may not
/// match (e.g. different labels).
pub fn match_pairs(
    rows: usize,
    cols: usize,
    min_score: f32,
    score: impl Fn(usize, usize) -> Option<f32>,
) -> Vec<(usize, usize)> {
    // Cost 1 - score for allowed pairs; a cost far above any allowed total for the others, so
    // the solver uses a forbidden pair only when a row has nothing else, and we drop it after.
    const FORBIDDEN: f64 = 1e6;
    let mut cost = vec![FORBIDDEN; rows * cols];
    let mut any = false;
    for r in 0..rows {
        for c in 0..cols {
            if let Some(s) = score(r, c).filter(|s| *s >= min_score && *s > 0.0) {
                cost[r * cols + c] = 1.0 - f64::from(s);
                any = true;
            }
        }
    }
    if !any {
        return Vec::new();
    }
    hungarian(&cost, rows, cols)
        .into_iter()
        .enumerate()
        .filter_map(|(r, c)| c.map(|c| (r, c)))
        .filter(|&(r, c)| cost[r * cols + c] < FORBIDDEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every assignment of rows to distinct columns (or none, for surplus rows), by brute force.
    fn brute_min(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(r: usize, rows: usize, cols: usize, cost: &[f64], used: &mut Vec<bool>) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[r * cols + c] + go(r + 1, rows, cols, cost, used));
                    used[c] = false;
                }
            }
            if rows > cols {
                // A surplus row may stay unassigned, as long as all columns can still be used.
                let assigned = used.iter().filter(|u| **u).count();
                if rows - r > cols - assigned {
                    best = best.min(go(r + 1, rows, cols, cost, used));
                }
            }
            best
        }
        go(0, rows, cols, cost, &mut vec![false; cols])
    }

    #[test]
    fn hungarian_matches_brute_force() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let rows = rng.usize(1..6);
            let cols = rng.usize(1..6);
            let cost: Vec<f64> = (0..rows * cols).map(|_| rng.f64() * 10.0).collect();
            let got = hungarian(&cost, rows, cols);
            let mut seen = vec![false; cols];
            let mut total = 0.0;
            for (r, c) in got.iter().enumerate() {
                if let Some(c) = *c {
                    assert!(!seen[c], "column {c} used twice");
                    seen[c] = true;
                    total += cost[r * cols + c];
                }
            }
            assert_eq!(got.iter().filter(|c| c.is_some()).count(), rows.min(cols));
            let best = brute_min(&cost, rows, cols);
            assert!(
                (total - best).abs() < 1e-9,
                "{rows}x{cols}: {total} vs {best}"
            );
        }
    }

    #[test]
    fn greedy_would_be_wrong_here() {
        // Greedy takes (0,0)=0.9 first and leaves row 1 with 0.0; the optimum pairs crosswise.
        let s = [[0.9f32, 0.8], [0.7, 0.0]];
        let m = match_pairs(2, 2, 0.1, |r, c| Some(s[r][c]));
        assert_eq!(m, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn forbidden_and_weak_pairs_are_dropped() {
        let s = [[Some(0.9f32), None], [None, Some(0.05)]];
        let m = match_pairs(2, 2, 0.1, |r, c| s[r][c]);
        assert_eq!(m, vec![(0, 0)]);
        assert!(match_pairs(0, 3, 0.1, |_, _| Some(1.0)).is_empty());
        assert!(match_pairs(2, 2, 0.1, |_, _| None).is_empty());
    }

    #[test]
    fn iou_values() {
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]), 1.0);
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0]), 0.0);
        assert!((iou([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]), 0.0);
    }
}
