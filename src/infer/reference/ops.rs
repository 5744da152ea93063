//! Reference implementations of each op: NCHW, f32 (data movement generic over the element).

use crate::infer::graph::shape::{broadcast_strides, strides};
use crate::infer::graph::{Conv, ConvTranspose, Pool, PoolKind, Resize};
use crate::infer::tensor::Tensor;

/// Calls `f(flat_index, multi_index)` for every element of `shape` in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for flat in 0..n {
        f(flat, &idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Concatenation of `(shape, data)` parts along `axis`.
pub fn concat<T: Copy>(parts: &[(&[usize], &[T])], axis: usize) -> Vec<T> {
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    let outer: usize = first.0[..axis].iter().product();
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
    for o in 0..outer {
        for (shape, data) in parts {
            let chunk: usize = shape[axis..].iter().product();
            out.extend_from_slice(&data[o * chunk..(o + 1) * chunk]);
        }
    }
    out
}

/// Strided slice: element `i` of the output on axis `d` reads input `starts[d] + i * steps[d]`.
pub fn slice<T: Copy>(
    shape: &[usize],
    data: &[T],
    starts: &[usize],
    steps: &[i64],
    out_shape: &[usize],
) -> Vec<T> {
    let st = strides(shape);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_index(out_shape, |_, idx| {
        let mut off = 0usize;
        for d in 0..idx.len() {
            let i = starts[d] as i64 + idx[d] as i64 * steps[d];
            off += i as usize * st[d];
        }
        out.push(data[off]);
    });
    out
}

/// Axis permutation: output axis `d` is input axis `perm[d]`.
pub fn transpose<T: Copy>(shape: &[usize], data: &[T], perm: &[usize]) -> Vec<T> {
    let st = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut out = Vec::with_capacity(data.len());
    for_each_index(&out_shape, |_, idx| {
        let off: usize = idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum();
        out.push(data[off]);
    });
    out
}

/// Constant padding with `(before, after)` per axis.
pub fn pad<T: Copy>(shape: &[usize], data: &[T], pads: &[(usize, usize)], value: T) -> Vec<T> {
    let st = strides(shape);
    let out_shape: Vec<usize> = shape
        .iter()
        .zip(pads)
        .map(|(&d, &(b, a))| d + b + a)
        .collect();
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_index(&out_shape, |_, idx| {
        let mut off = 0;
        for d in 0..idx.len() {
            let i = idx[d] as i64 - pads[d].0 as i64;
            if i < 0 || i >= shape[d] as i64 {
                out.push(value);
                return;
            }
            off += i as usize * st[d];
        }
        out.push(data[off]);
    });
    out
}

/// Broadcasting binary operation.
pub fn binary<T: Copy>(
    a_shape: &[usize],
    a: &[T],
    b_shape: &[usize],
    b: &[T],
    out_shape: &[usize],
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_index(out_shape, |_, idx| {
        let oa: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ob: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        out.push(f(a[oa], b[ob]));
    });
    out
}

/// Direct convolution with fused epilogue: `post_act(act(conv + bias) + residual)`.
pub fn conv(c: &Conv, x: &Tensor, residual: Option<&Tensor>, out_shape: &[usize]) -> Vec<f32> {
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let g = &c.geom;
    let win = &g.window;
    let (cin_g, cout_g) = (g.cin_per_group(), g.cout_per_group());
    let [kh, kw] = win.kernel;
    let mut out = vec![0.0f32; n * g.cout * oh * ow];
    for b in 0..n {
        for oc in 0..g.cout {
            let grp = oc / cout_g;
            let plane = &mut out[(b * g.cout + oc) * oh * ow..][..oh * ow];
            plane.fill(c.bias[oc]);
            for icg in 0..cin_g {
                let ic = grp * cin_g + icg;
                let src = &x.data[(b * g.cin + ic) * h * w..][..h * w];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wv = c.weight[((oc * cin_g + icg) * kh + ky) * kw + kx];
                        // Output columns whose input column is inside the row.
                        let (lo, hi) =
                            valid_range(ow, w, win.stride[1], kx * win.dilation[1], win.pads[1]);
                        for y in 0..oh {
                            let iy = (y * win.stride[0] + ky * win.dilation[0]) as i64
                                - win.pads[0] as i64;
                            if iy < 0 || iy >= h as i64 || lo >= hi {
                                continue;
                            }
                            let row = &src[iy as usize * w..][..w];
                            let orow = &mut plane[y * ow..][..ow];
                            let x0 = lo * win.stride[1] + kx * win.dilation[1] - win.pads[1];
                            for (i, o) in orow[lo..hi].iter_mut().enumerate() {
                                *o += wv * row[x0 + i * win.stride[1]];
                            }
                        }
                    }
                }
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        let mut v = c.act.apply(*o);
        if let Some(r) = residual {
            v += r.data[i];
        }
        *o = c.post_act.apply(v);
    }
    out
}

/// Output positions `[lo, hi)` whose input position `x * stride + offset - pad` is in `0..len`.
fn valid_range(
    out_len: usize,
    len: usize,
    stride: usize,
    offset: usize,
    pad: usize,
) -> (usize, usize) {
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    // x * stride + offset - pad <= len - 1  <=>  x <= (len - 1 + pad - offset) / stride
    let hi = match (len + pad).checked_sub(offset + 1) {
        Some(v) => (v / stride + 1).min(out_len),
        None => 0,
    };
    (lo.min(hi), hi)
}

/// Transposed convolution: each input pixel scatters its kernel into the output.
pub fn conv_transpose(c: &ConvTranspose, x: &Tensor, out_shape: &[usize]) -> Vec<f32> {
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let g = &c.geom;
    let win = &g.window;
    let (cin_g, cout_g) = (g.cin_per_group(), g.cout_per_group());
    let [kh, kw] = win.kernel;
    let mut out = vec![0.0f32; n * g.cout * oh * ow];
    for b in 0..n {
        for oc in 0..g.cout {
            out[(b * g.cout + oc) * oh * ow..][..oh * ow].fill(c.bias[oc]);
        }
        for ic in 0..g.cin {
            let grp = ic / cin_g;
            for y in 0..h {
                for xx in 0..w {
                    let v = x.data[((b * g.cin + ic) * h + y) * w + xx];
                    for ocg in 0..cout_g {
                        let oc = grp * cout_g + ocg;
                        for ky in 0..kh {
                            let oy = (y * win.stride[0] + ky * win.dilation[0]) as i64
                                - win.pads[0] as i64;
                            if oy < 0 || oy >= oh as i64 {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (xx * win.stride[1] + kx * win.dilation[1]) as i64
                                    - win.pads[1] as i64;
                                if ox < 0 || ox >= ow as i64 {
                                    continue;
                                }
                                let wv = c.weight[((ic * cout_g + ocg) * kh + ky) * kw + kx];
                                out[((b * g.cout + oc) * oh + oy as usize) * ow + ox as usize] +=
                                    wv * v;
                            }
                        }
                    }
                }
            }
        }
    }
    for o in out.iter_mut() {
        *o = c.act.apply(*o);
    }
    out
}

/// Max or average pooling; padded cells never win a max and count in an average only if asked.
pub fn pool(p: &Pool, x: &Tensor, out_shape: &[usize]) -> Vec<f32> {
    let win = &p.window;
    let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let mut out = Vec::with_capacity(n * ch * oh * ow);
    for plane in x.data.chunks_exact(h * w).take(n * ch) {
        for y in 0..oh {
            for xo in 0..ow {
                let mut max = f32::NEG_INFINITY;
                let (mut sum, mut count, mut cells) = (0.0f32, 0usize, 0usize);
                for ky in 0..win.kernel[0] {
                    let iy = (y * win.stride[0] + ky * win.dilation[0]) as i64 - win.pads[0] as i64;
                    for kx in 0..win.kernel[1] {
                        let ix =
                            (xo * win.stride[1] + kx * win.dilation[1]) as i64 - win.pads[1] as i64;
                        // Cells of the window inside input + padding (for count_include_pad).
                        if iy < h as i64 + win.pads[2] as i64 && ix < w as i64 + win.pads[3] as i64
                        {
                            cells += 1;
                        }
                        if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                            continue;
                        }
                        let v = plane[iy as usize * w + ix as usize];
                        max = max.max(v);
                        sum += v;
                        count += 1;
                    }
                }
                out.push(match p.kind {
                    PoolKind::Max => max,
                    PoolKind::Avg { count_include_pad } => {
                        let d = if count_include_pad { cells } else { count };
                        sum / d.max(1) as f32
                    }
                });
            }
        }
    }
    out
}

/// Resize of H and W with ONNX coordinate transforms (nearest or bilinear).
pub fn resize(r: &Resize, x: &Tensor, out_shape: &[usize]) -> Vec<f32> {
    let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let mut out = Vec::with_capacity(n * ch * oh * ow);
    for plane in x.data.chunks_exact(h * w).take(n * ch) {
        for y in 0..oh {
            let sy = r.source(y, 0, h, oh);
            for xo in 0..ow {
                let sx = r.source(xo, 1, w, ow);
                out.push(match r.nearest {
                    Some(mode) => {
                        let iy = Resize::nearest_index(mode, sy, h);
                        let ix = Resize::nearest_index(mode, sx, w);
                        plane[iy * w + ix]
                    }
                    None => {
                        let cy = sy.max(0.0).min(h as f32 - 1.0);
                        let cx = sx.max(0.0).min(w as f32 - 1.0);
                        let (y0, x0) = (cy.floor() as usize, cx.floor() as usize);
                        let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                        let (fy, fx) = (cy - y0 as f32, cx - x0 as f32);
                        let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
                        let bot = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
                        top * (1.0 - fy) + bot * fy
                    }
                });
            }
        }
    }
    out
}

/// Softmax along `axis`, max-subtracted.
pub fn softmax(shape: &[usize], data: &[f32], axis: usize) -> Vec<f32> {
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut out = vec![0.0; data.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let max = (0..len)
                .map(|k| data[at(k)])
                .fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = (0..len).map(|k| (data[at(k)] - max).exp()).sum();
            for k in 0..len {
                out[at(k)] = (data[at(k)] - max).exp() / sum;
            }
        }
    }
    out
}

/// Batched matrix product over the last two axes, batch axes broadcast.
pub fn matmul(a: &Tensor, b: &Tensor, out_shape: &[usize]) -> Vec<f32> {
    let r = out_shape.len();
    let (m, n) = (out_shape[r - 2], out_shape[r - 1]);
    let k = *a.shape.last().unwrap_or(&1);
    let batch_shape = &out_shape[..r - 2];
    let a_batch = &a.shape[..a.shape.len() - 2];
    let b_batch = &b.shape[..b.shape.len() - 2];
    let sa = broadcast_strides(a_batch, batch_shape);
    let sb = broadcast_strides(b_batch, batch_shape);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_index(batch_shape, |_, idx| {
        let oa: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum::<usize>() * m * k;
        let ob: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum::<usize>() * k * n;
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for kk in 0..k {
                    acc += a.data[oa + i * k + kk] * b.data[ob + kk * n + j];
                }
                out.push(acc);
            }
        }
    });
    out
}

/// Mean over `axes` (kept as size 1 in `out_shape`).
pub fn reduce_mean(shape: &[usize], data: &[f32], axes: &[usize], out_shape: &[usize]) -> Vec<f32> {
    let mut sums = vec![0.0f32; out_shape.iter().product()];
    let ost = strides(out_shape);
    for_each_index(shape, |flat, idx| {
        let o: usize = idx
            .iter()
            .enumerate()
            .map(|(d, &i)| if axes.contains(&d) { 0 } else { i * ost[d] })
            .sum();
        sums[o] += data[flat];
    });
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    sums.iter().map(|s| s / count.max(1) as f32).collect()
}
