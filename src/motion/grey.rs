//! The small grey pictures motion is computed on, and the image operations it needs: downscaling
//! a frame's luma, contrast stretching, blur, dilation and connected regions. Plain loops over a
//! few thousand pixels (the compiler vectorises them); no frame-sized buffer is allocated.

use crate::capture::frame::{ImageRef, PixelFormat};

/// A grey picture, one byte per pixel, row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Grey {
    /// `image`'s luma averaged down to `width` x `height`. NV12 reads its Y plane; RGBA is
    /// weighted as BT.601. Each small pixel averages a grid of samples over its block (every
    /// second pixel of large blocks: motion needs the mean, not every pixel).
    pub fn from_image(image: &ImageRef<'_>, width: usize, height: usize) -> Grey {
        let (w, h) = (image.width as usize, image.height as usize);
        let step_x = sample_step(w, width);
        let stride = image.planes.strides[0];
        let base = image.planes.offsets[0];
        // Each small column's span of frame columns, worked out once rather than per row.
        let spans: Vec<(usize, usize)> = (0..width)
            .map(|ox| {
                let x0 = ox * w / width;
                (x0, ((ox + 1) * w / width).max(x0 + 1).min(w))
            })
            .collect();
        // Bytes of one frame row that hold its pixels.
        let bytes = match image.format {
            PixelFormat::Nv12 => w,
            PixelFormat::Rgba => 4 * w,
        };
        let mut pixels = vec![0u8; width * height];
        let mut sums = vec![0u32; width];
        let mut counts = vec![0u32; width];
        // NV12: the sampled rows of a block are first added up column by column over the whole
        // row (at most 3 of them: a block is at most twice its row step plus one high, so u16
        // holds the sum), which the compiler vectorises; each small pixel then adds its sampled
        // columns of that one row.
        let mut columns = vec![0u16; w];
        let samples: Vec<u32> = spans
            .iter()
            .map(|&(x0, x1)| (x1 - x0).div_ceil(step_x) as u32)
            .collect();
        let most = samples.iter().copied().max().unwrap_or(1) as usize;
        for oy in 0..height {
            let rows = sampled_rows(h, height, oy);
            let last = rows
                .clone()
                .next_back()
                .map_or(0, |y| base + y * stride + bytes);
            if image.format == PixelFormat::Nv12 && last <= image.data.len() {
                columns.iter_mut().for_each(|c| *c = 0);
                for y in rows.clone() {
                    let line = &image.data[base + y * stride..][..w];
                    for (c, &v) in columns.iter_mut().zip(line) {
                        *c += v as u16;
                    }
                }
                // Dividing by a sample count is multiplying by its rounded-up reciprocal in
                // 32.32 fixed point: exact for sums and counts below 2^16, and a division per
                // small pixel was a fifth of the time.
                let n = rows.len() as u64;
                let inverse: Vec<u64> = (0..=most as u64)
                    .map(|k| (1u64 << 32).div_ceil((k * n).max(1)))
                    .collect();
                let out = &mut pixels[oy * width..(oy + 1) * width];
                for ((o, &(x0, x1)), &k) in out.iter_mut().zip(&spans).zip(&samples) {
                    let s: u32 = columns[x0..x1]
                        .iter()
                        .step_by(step_x)
                        .map(|&v| v as u32)
                        .sum();
                    *o = ((s as u64 * inverse[k as usize]) >> 32) as u8;
                }
                continue;
            }
            sums.iter_mut().for_each(|s| *s = 0);
            counts.iter_mut().for_each(|c| *c = 0);
            for y in rows {
                let row = base + y * stride;
                let Some(line) = image.data.get(row..row + bytes) else {
                    // A short buffer: what is missing reads as black, sample by sample.
                    add_row_checked(image, row, &spans, step_x, &mut sums, &mut counts);
                    continue;
                };
                for (&(x0, x1), (sum, count)) in spans.iter().zip(sums.iter_mut().zip(&mut counts))
                {
                    let (s, n) = match image.format {
                        PixelFormat::Nv12 => line[x0..x1]
                            .iter()
                            .step_by(step_x)
                            .fold((0u32, 0u32), |(s, n), &v| (s + v as u32, n + 1)),
                        PixelFormat::Rgba => line[4 * x0..4 * x1]
                            .chunks_exact(4)
                            .step_by(step_x)
                            .fold((0u32, 0u32), |(s, n), c| (s + bt601(c), n + 1)),
                    };
                    *sum += s;
                    *count += n;
                }
            }
            let out = &mut pixels[oy * width..(oy + 1) * width];
            for ((o, s), c) in out.iter_mut().zip(&sums).zip(&counts) {
                *o = (s / (*c).max(1)) as u8;
            }
        }
        Grey {
            width,
            height,
            pixels,
        }
    }

    /// Stretches the grey levels so that the darkest 1 % and the brightest 1 % reach 0 and 255.
    pub fn stretch_contrast(&mut self) {
        let mut hist = [0u32; 256];
        for &p in &self.pixels {
            hist[p as usize] += 1;
        }
        let n = self.pixels.len() as u32;
        let cut = n / 100;
        let (mut lo, mut acc) = (0usize, 0u32);
        while lo < 255 && acc + hist[lo] <= cut {
            acc += hist[lo];
            lo += 1;
        }
        let (mut hi, mut acc) = (255usize, 0u32);
        while hi > lo && acc + hist[hi] <= cut {
            acc += hist[hi];
            hi -= 1;
        }
        if hi <= lo {
            return;
        }
        let span = (hi - lo) as u32;
        for p in &mut self.pixels {
            let v = (*p as usize).clamp(lo, hi) - lo;
            *p = ((v as u32 * 255) / span) as u8;
        }
    }

    /// A [1 2 1] x [1 2 1] blur (a small Gaussian): sensor noise stops looking like motion.
    pub fn blur(&mut self) {
        let (w, h) = (self.width, self.height);
        if w < 3 || h < 3 {
            return;
        }
        let mut tmp = vec![0u16; w * h];
        for y in 0..h {
            let row = &self.pixels[y * w..(y + 1) * w];
            let out = &mut tmp[y * w..(y + 1) * w];
            out[0] = 3 * row[0] as u16 + row[1] as u16;
            for x in 1..w - 1 {
                out[x] = row[x - 1] as u16 + 2 * row[x] as u16 + row[x + 1] as u16;
            }
            out[w - 1] = row[w - 2] as u16 + 3 * row[w - 1] as u16;
        }
        for y in 0..h {
            let up = tmp[y.saturating_sub(1) * w..][..w].to_vec();
            let down = &tmp[(y + 1).min(h - 1) * w..][..w];
            let mid = &tmp[y * w..(y + 1) * w];
            let out = &mut self.pixels[y * w..(y + 1) * w];
            for x in 0..w {
                out[x] = ((up[x] + 2 * mid[x] + down[x]) / 16) as u8;
            }
        }
    }
}

/// Every how many frame pixels a block of `frame / small` pixels is sampled, along one axis: half
/// a block (at least 1), so at most 3 samples per block and axis.
pub fn sample_step(frame: usize, small: usize) -> usize {
    (frame.div_ceil(small.max(1)).max(1) / 2).max(1)
}

/// The frame rows sampled for row `oy` of a grey picture `height` high, from a frame `frame_height`
/// high.
pub fn sampled_rows(
    frame_height: usize,
    height: usize,
    oy: usize,
) -> std::iter::StepBy<std::ops::Range<usize>> {
    let height = height.max(1);
    let (y0, y1) = (
        oy * frame_height / height,
        ((oy + 1) * frame_height / height).max(oy * frame_height / height + 1),
    );
    (y0..y1.min(frame_height)).step_by(sample_step(frame_height, height))
}

/// BT.601 luma of an RGB(A) pixel.
fn bt601(c: &[u8]) -> u32 {
    (77 * c[0] as u32 + 150 * c[1] as u32 + 29 * c[2] as u32) >> 8
}

/// Adds one frame row's samples to the column sums, reading each through a bounds check (a
/// buffer shorter than its size says; missing bytes count as black).
fn add_row_checked(
    image: &ImageRef<'_>,
    row: usize,
    spans: &[(usize, usize)],
    step_x: usize,
    sums: &mut [u32],
    counts: &mut [u32],
) {
    for (&(x0, x1), (sum, count)) in spans.iter().zip(sums.iter_mut().zip(counts)) {
        for x in (x0..x1).step_by(step_x) {
            *sum += match image.format {
                PixelFormat::Nv12 => image.data.get(row + x).copied().unwrap_or(0) as u32,
                PixelFormat::Rgba => image
                    .data
                    .get(row + 4 * x..row + 4 * x + 3)
                    .map_or(0, bt601),
            };
            *count += 1;
        }
    }
}

/// A boolean picture (motion or not), one byte per pixel.
pub type Mask = Vec<bool>;

/// Grows every set pixel to its 8 neighbours, `times` times: nearby changes join up.
///
/// Done as what it amounts to, a square of side `2 * times + 1` around each set pixel, one row
/// pass and one column pass of 3-wide ORs per time (slices the compiler vectorises).
pub fn dilate(mask: &Mask, width: usize, height: usize, times: usize) -> Mask {
    let mut cur = mask.clone();
    if width == 0 || height == 0 {
        return cur;
    }
    let mut next = vec![false; cur.len()];
    for _ in 0..times {
        for (src, dst) in cur.chunks_exact(width).zip(next.chunks_exact_mut(width)) {
            grow_line(src, dst);
        }
        // Columns: each row becomes itself OR the rows above and below it.
        for y in 0..height {
            let up = y.saturating_sub(1) * width;
            let down = (y + 1).min(height - 1) * width;
            let row = &mut cur[y * width..(y + 1) * width];
            for (x, o) in row.iter_mut().enumerate() {
                *o = next[up + x] | next[y * width + x] | next[down + x];
            }
        }
    }
    cur
}

/// `dst[x]` = `src[x - 1] | src[x] | src[x + 1]` (within the row).
fn grow_line(src: &[bool], dst: &mut [bool]) {
    let n = src.len();
    dst.copy_from_slice(src);
    if n < 2 {
        return;
    }
    for (d, (&l, &r)) in dst[1..n - 1]
        .iter_mut()
        .zip(src[..n - 2].iter().zip(&src[2..]))
    {
        *d |= l | r;
    }
    dst[0] |= src[1];
    dst[n - 1] |= src[n - 2];
}

/// A connected region of set pixels: its bounding box `[x1, y1, x2, y2]` (x2, y2 exclusive) and
/// how many pixels it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    pub bbox: [usize; 4],
    pub pixels: usize,
}

/// The 8-connected regions of `mask`, largest first (ties in the order their first pixel comes
/// in, row by row).
///
/// Labels runs of set pixels rather than pixels: each run joins the runs of the row above that
/// touch it, diagonals included, in a union-find over runs.
pub fn blobs(mask: &Mask, width: usize, height: usize) -> Vec<Blob> {
    // Runs as (y, x start, x end exclusive), row by row; `starts[y]` is row y's first run.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut starts = Vec::with_capacity(height + 1);
    for (y, row) in mask.chunks_exact(width.max(1)).take(height).enumerate() {
        starts.push(runs.len());
        let mut x = 0;
        while x < width {
            if !row[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < width && row[x] {
                x += 1;
            }
            runs.push((y, x0, x));
        }
    }
    starts.push(runs.len());
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    for y in 1..starts.len().saturating_sub(1) {
        let (above, here) = (starts[y - 1]..starts[y], starts[y]..starts[y + 1]);
        let mut a = above.start;
        for r in here {
            let (_, x0, x1) = runs[r];
            // Runs above that end before this one's left neighbour touch no later run either.
            while a < above.end && runs[a].2 < x0 {
                a += 1;
            }
            let mut b = a;
            while b < above.end && runs[b].1 <= x1 {
                union(&mut parent, r, b);
                b += 1;
            }
        }
    }
    // One blob per root, in the order of its first run (raster order of its first pixel).
    let mut slot = vec![usize::MAX; runs.len()];
    let mut out: Vec<Blob> = Vec::new();
    for (i, &(y, x0, x1)) in runs.iter().enumerate() {
        let root = find(&mut parent, i);
        if slot[root] == usize::MAX {
            slot[root] = out.len();
            out.push(Blob {
                bbox: [x0, y, x1, y + 1],
                pixels: 0,
            });
        }
        let b = &mut out[slot[root]];
        b.bbox = [
            b.bbox[0].min(x0),
            b.bbox[1].min(y),
            b.bbox[2].max(x1),
            b.bbox[3].max(y + 1),
        ];
        b.pixels += x1 - x0;
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.pixels));
    out
}

/// The root of `i`'s set, halving the path on the way.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Joins the sets of `a` and `b`; the smaller index stays the root.
fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    let (lo, hi) = (ra.min(rb), ra.max(rb));
    parent[hi] = lo;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block means the way they are defined: every sampled pixel read on its own.
    fn reference(image: &ImageRef<'_>, width: usize, height: usize) -> Vec<u8> {
        let (w, h) = (image.width as usize, image.height as usize);
        let (sx, sy) = (
            (w.div_ceil(width) / 2).max(1),
            (h.div_ceil(height) / 2).max(1),
        );
        let mut out = Vec::new();
        for oy in 0..height {
            let (y0, y1) = (
                oy * h / height,
                ((oy + 1) * h / height).max(oy * h / height + 1),
            );
            for ox in 0..width {
                let (x0, x1) = (
                    ox * w / width,
                    ((ox + 1) * w / width).max(ox * w / width + 1),
                );
                let (mut s, mut n) = (0u32, 0u32);
                for y in (y0..y1.min(h)).step_by(sy) {
                    for x in (x0..x1.min(w)).step_by(sx) {
                        let p = image.planes.offsets[0] + y * image.planes.strides[0];
                        s += match image.format {
                            PixelFormat::Nv12 => image.data.get(p + x).copied().unwrap_or(0) as u32,
                            PixelFormat::Rgba => {
                                image.data.get(p + 4 * x..p + 4 * x + 3).map_or(0, bt601)
                            }
                        };
                        n += 1;
                    }
                }
                out.push((s / n.max(1)) as u8);
            }
        }
        out
    }

    #[test]
    fn block_means_match_the_definition_for_odd_sizes_and_short_buffers() {
        let mut seed = 7u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect()
        };
        for (format, fw, fh, gw, gh) in [
            (PixelFormat::Nv12, 1920u32, 1080u32, 213usize, 120usize),
            (PixelFormat::Nv12, 641, 359, 97, 53),
            (PixelFormat::Rgba, 333, 250, 40, 31),
        ] {
            let full = noise(format.packed_len(fw, fh));
            for len in [full.len(), full.len() * 2 / 3] {
                let img = ImageRef::packed(format, fw, fh, &full[..len]);
                assert_eq!(
                    Grey::from_image(&img, gw, gh).pixels,
                    reference(&img, gw, gh),
                    "{format:?} {fw}x{fh} -> {gw}x{gh}, {len} bytes"
                );
            }
        }
    }

    #[test]
    fn downscales_nv12_luma_by_block_means() {
        // 8x4 NV12 whose Y is 10 on the left half and 200 on the right.
        let (w, h) = (8u32, 4u32);
        let mut data = vec![128u8; PixelFormat::Nv12.packed_len(w, h)];
        for y in 0..4 {
            for x in 0..8 {
                data[y * 8 + x] = if x < 4 { 10 } else { 200 };
            }
        }
        let img = ImageRef::packed(PixelFormat::Nv12, w, h, &data);
        let g = Grey::from_image(&img, 2, 1);
        assert_eq!(g.pixels, vec![10, 200]);
    }

    #[test]
    fn rgba_is_weighted_like_bt601() {
        let data = [255u8, 0, 0, 255, 0, 255, 0, 255];
        let img = ImageRef::packed(PixelFormat::Rgba, 2, 1, &data);
        let g = Grey::from_image(&img, 2, 1);
        assert_eq!(g.pixels, vec![76, 149]);
    }

    #[test]
    fn contrast_stretch_spans_the_range() {
        let mut g = Grey {
            width: 100,
            height: 1,
            pixels: (0..100).map(|i| 100 + (i % 20) as u8).collect(),
        };
        g.stretch_contrast();
        assert_eq!(g.pixels.iter().min(), Some(&0));
        assert_eq!(g.pixels.iter().max(), Some(&255));
    }

    /// Dilation the way it is defined: every set pixel grows to its 8 neighbours, `times` times.
    fn dilate_by_definition(mask: &Mask, width: usize, height: usize, times: usize) -> Mask {
        let mut cur = mask.clone();
        for _ in 0..times {
            let mut next = vec![false; cur.len()];
            for y in 0..height {
                for x in 0..width {
                    if !cur[y * width + x] {
                        continue;
                    }
                    for ny in y.saturating_sub(1)..(y + 2).min(height) {
                        for nx in x.saturating_sub(1)..(x + 2).min(width) {
                            next[ny * width + nx] = true;
                        }
                    }
                }
            }
            cur = next;
        }
        cur
    }

    /// Connected regions by flood fill from each unseen set pixel, in raster order.
    fn blobs_by_flood_fill(mask: &Mask, width: usize, height: usize) -> Vec<Blob> {
        let mut seen = vec![false; mask.len()];
        let mut out = Vec::new();
        for start in 0..mask.len() {
            if !mask[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            let mut stack = vec![start];
            let mut b = Blob {
                bbox: [usize::MAX, usize::MAX, 0, 0],
                pixels: 0,
            };
            while let Some(i) = stack.pop() {
                let (x, y) = (i % width, i / width);
                b.pixels += 1;
                b.bbox = [
                    b.bbox[0].min(x),
                    b.bbox[1].min(y),
                    b.bbox[2].max(x + 1),
                    b.bbox[3].max(y + 1),
                ];
                for ny in y.saturating_sub(1)..(y + 2).min(height) {
                    for nx in x.saturating_sub(1)..(x + 2).min(width) {
                        let j = ny * width + nx;
                        if mask[j] && !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            out.push(b);
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.pixels));
        out
    }

    #[test]
    fn dilation_and_regions_match_their_definitions_on_random_masks() {
        let mut seed = 11u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for (w, h) in [(1, 1), (1, 7), (9, 1), (2, 2), (17, 13), (213, 120)] {
            for density in [0u32, 3, 20, 50, 90] {
                let mask: Mask = (0..w * h).map(|_| next() % 100 < density).collect();
                for times in 0..3 {
                    assert_eq!(
                        dilate(&mask, w, h, times),
                        dilate_by_definition(&mask, w, h, times),
                        "{w}x{h} density {density} times {times}"
                    );
                }
                assert_eq!(
                    blobs(&mask, w, h),
                    blobs_by_flood_fill(&mask, w, h),
                    "{w}x{h} density {density}"
                );
            }
        }
    }

    #[test]
    fn a_ring_and_a_staircase_are_one_region_each() {
        // A U shape: its arms meet only at the bottom, after both were seen as separate runs.
        let (w, h) = (9, 5);
        let mut m = vec![false; w * h];
        for y in 0..5 {
            m[y * w] = true;
            m[y * w + 4] = true;
        }
        for x in 0..5 {
            m[4 * w + x] = true;
        }
        // A staircase joined only through corners.
        m[8] = true;
        m[w + 7] = true;
        let b = blobs(&m, w, h);
        assert_eq!(b.len(), 2, "{b:?}");
        assert_eq!(b[0].bbox, [0, 0, 5, 5]);
        assert_eq!(b[1].bbox, [7, 0, 9, 2]);
    }

    #[test]
    fn blobs_are_8_connected_and_dilation_joins_neighbours() {
        let (w, h) = (6, 4);
        let mut m = vec![false; w * h];
        m[0] = true; // (0,0)
        m[w + 1] = true; // (1,1): diagonal to (0,0)
        m[2 * w + 5] = true; // (5,2)
        let b = blobs(&m, w, h);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].bbox, [0, 0, 2, 2]);
        assert_eq!(b[0].pixels, 2);
        let d = dilate(&m, w, h, 2);
        assert_eq!(blobs(&d, w, h).len(), 1);
    }
}
