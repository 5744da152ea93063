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
        let (bw, bh) = (w.div_ceil(width).max(1), h.div_ceil(height).max(1));
        let step_x = (bw / 2).max(1);
        let step_y = (bh / 2).max(1);
        let stride = image.planes.strides[0];
        let base = image.planes.offsets[0];
        let mut pixels = vec![0u8; width * height];
        let mut sums = vec![0u32; width];
        let mut counts = vec![0u32; width];
        for oy in 0..height {
            sums.iter_mut().for_each(|s| *s = 0);
            counts.iter_mut().for_each(|c| *c = 0);
            let (y0, y1) = (
                oy * h / height,
                ((oy + 1) * h / height).max(oy * h / height + 1),
            );
            for y in (y0..y1.min(h)).step_by(step_y) {
                let row = base + y * stride;
                for (ox, (sum, count)) in sums.iter_mut().zip(counts.iter_mut()).enumerate() {
                    let (x0, x1) = (
                        ox * w / width,
                        ((ox + 1) * w / width).max(ox * w / width + 1),
                    );
                    for x in (x0..x1.min(w)).step_by(step_x) {
                        let v = match image.format {
                            PixelFormat::Nv12 => image.data.get(row + x).copied().unwrap_or(0),
                            PixelFormat::Rgba => {
                                let p = row + 4 * x;
                                match image.data.get(p..p + 3) {
                                    Some(c) => {
                                        ((77 * c[0] as u32 + 150 * c[1] as u32 + 29 * c[2] as u32)
                                            >> 8) as u8
                                    }
                                    None => 0,
                                }
                            }
                        };
                        *sum += v as u32;
                        *count += 1;
                    }
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

/// A boolean picture (motion or not), one byte per pixel.
pub type Mask = Vec<bool>;

/// Grows every set pixel to its 8 neighbours, `times` times: nearby changes join up.
pub fn dilate(mask: &Mask, width: usize, height: usize, times: usize) -> Mask {
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

/// A connected region of set pixels: its bounding box `[x1, y1, x2, y2]` (x2, y2 exclusive) and
/// how many pixels it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    pub bbox: [usize; 4],
    pub pixels: usize,
}

/// The 8-connected regions of `mask`, largest first.
pub fn blobs(mask: &Mask, width: usize, height: usize) -> Vec<Blob> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x1, mut y1, mut x2, mut y2) = (usize::MAX, usize::MAX, 0, 0);
        let mut pixels = 0;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            pixels += 1;
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x + 1);
            y2 = y2.max(y + 1);
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
        out.push(Blob {
            bbox: [x1, y1, x2, y2],
            pixels,
        });
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.pixels));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
