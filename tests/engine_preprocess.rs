//! GPU pre-processing (one kernel: NV12/RGBA -> resize -> channel order -> mean/std -> layout)
//! against the CPU reference `preprocess_cpu`, on odd frame sizes, letterbox and stretch, both
//! layouts, mixed batches. Tolerance: 1e-3 absolute on the 0..255 scale (that is 1e-3 / std
//! after normalization).

mod engine_support;

use engine_support::*;
use lookout::capture::frame::{ImageRef, PixelFormat, Planes};
use lookout::infer::Backend;
use lookout::infer::gpu::{ModelOptions, Precision, WgpuBackend};
use lookout::infer::preprocess::{
    ChannelOrder, InputLayout, Preprocess, Resize, preprocess_batch_cpu,
};

/// A model whose output is its input: the backend returns exactly what pre-processing wrote.
fn identity_model(layout: InputLayout, w: i64, h: i64) -> Vec<u8> {
    let dims = match layout {
        InputLayout::Nchw => [-1, 3, h, w],
        InputLayout::Nhwc => [-1, h, w, 3],
    };
    ModelBuilder::new(13)
        .input("img", &dims)
        .node("Identity", &["img"], &["out"], vec![])
        .output("out")
        .bytes()
}

/// A frame with structure in every channel (gradients and a checker), with padded rows.
fn frame(format: PixelFormat, w: u32, h: u32, seed: u64) -> (Vec<u8>, Planes) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let pad = 3; // extra bytes per row: strides larger than the width
    match format {
        PixelFormat::Rgba => {
            let stride = w as usize * 4 + pad;
            let mut data = vec![0u8; stride * h as usize];
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let i = y * stride + x * 4;
                    data[i] = (x * 255 / w as usize) as u8;
                    data[i + 1] = (y * 255 / h as usize) as u8;
                    data[i + 2] = if (x / 3 + y / 3) % 2 == 0 {
                        230
                    } else {
                        rng.u8(..)
                    };
                    data[i + 3] = 255;
                }
            }
            (
                data,
                Planes {
                    offsets: [0, 0],
                    strides: [stride, 0],
                },
            )
        }
        PixelFormat::Nv12 => {
            let ys = w as usize + pad;
            let uvs = 2 * (w as usize).div_ceil(2) + pad;
            let uv_off = ys * h as usize + 5;
            let mut data = vec![0u8; uv_off + uvs * (h as usize).div_ceil(2)];
            for y in 0..h as usize {
                for x in 0..w as usize {
                    data[y * ys + x] = (16 + (x * 7 + y * 3) % 220) as u8;
                }
            }
            for y in 0..(h as usize).div_ceil(2) {
                for x in 0..(w as usize).div_ceil(2) {
                    data[uv_off + y * uvs + 2 * x] = rng.u8(..);
                    data[uv_off + y * uvs + 2 * x + 1] = (x * 40 % 256) as u8;
                }
            }
            (
                data,
                Planes {
                    offsets: [0, uv_off],
                    strides: [ys, uvs],
                },
            )
        }
    }
}

/// `tol` is on the 0..255 scale; it is divided by the smallest std for normalized outputs.
fn check(pre: &Preprocess, frames: &[(PixelFormat, u32, u32)], tol: f32) {
    let tol = tol / pre.std.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let model = identity_model(pre.layout, pre.width as i64, pre.height as i64);
    let owned: Vec<(Vec<u8>, Planes)> = frames
        .iter()
        .enumerate()
        .map(|(i, &(f, w, h))| frame(f, w, h, i as u64))
        .collect();
    let images: Vec<ImageRef<'_>> = frames
        .iter()
        .zip(&owned)
        .map(|(&(format, width, height), (data, planes))| ImageRef {
            format,
            width,
            height,
            planes: *planes,
            data,
        })
        .collect();
    let mut b = WgpuBackend::new(
        ctx(),
        &model,
        pre,
        ModelOptions {
            input_width: pre.width,
            input_height: pre.height,
            max_batch: 4,
            precision: Precision::F32,
        },
    )
    .unwrap();
    let got = b.infer(&images).unwrap();
    let (want, transforms) = preprocess_batch_cpu(&images, pre).unwrap();
    let per = want.data.len() / images.len();
    for (i, out) in got.iter().enumerate() {
        assert_eq!(out.transform, transforms[i], "box transform of picture {i}");
        let g = &out.outputs[0].tensor;
        assert_eq!(g.shape[1..], want.shape[1..]);
        let w = &want.data[i * per..(i + 1) * per];
        let (d, m) = max_diff(&g.data, w);
        eprintln!("{pre:?} picture {i} {:?}: max |diff| {d:.2e}", frames[i]);
        let _ = m;
        assert!(
            d <= tol,
            "picture {i} {:?}: GPU differs from CPU by {d} (tolerance {tol})",
            frames[i]
        );
    }
}

fn pre(w: u32, h: u32, resize: Resize, order: ChannelOrder, layout: InputLayout) -> Preprocess {
    Preprocess {
        resize,
        channel_order: order,
        layout,
        pad_value: 114.0,
        ..pre_base(w, h)
    }
}

#[test]
fn rgba_and_nv12_letterbox_nchw() {
    let p = pre(
        40,
        32,
        Resize::Letterbox,
        ChannelOrder::Rgb,
        InputLayout::Nchw,
    );
    check(
        &p,
        &[
            (PixelFormat::Rgba, 77, 35),
            (PixelFormat::Nv12, 33, 51),
            (PixelFormat::Nv12, 64, 48),
        ],
        1e-3,
    );
}

#[test]
fn stretch_bgr_nhwc_with_normalization() {
    let mut p = pre(
        24,
        24,
        Resize::Stretch,
        ChannelOrder::Bgr,
        InputLayout::Nhwc,
    );
    p.mean = [103.53, 116.28, 123.675];
    p.std = [57.375, 57.12, 58.395];
    check(
        &p,
        &[(PixelFormat::Nv12, 17, 9), (PixelFormat::Rgba, 13, 40)],
        1e-3,
    );
}

#[test]
fn upscaling_tiny_frames_and_odd_outputs() {
    let p = pre(
        31,
        17,
        Resize::Letterbox,
        ChannelOrder::Bgr,
        InputLayout::Nchw,
    );
    check(
        &p,
        &[
            (PixelFormat::Nv12, 5, 3),
            (PixelFormat::Rgba, 2, 7),
            (PixelFormat::Rgba, 1, 1),
        ],
        1e-3,
    );
}

#[test]
fn short_frame_buffer_is_an_error() {
    let p = pre(
        16,
        16,
        Resize::Stretch,
        ChannelOrder::Rgb,
        InputLayout::Nchw,
    );
    let model = identity_model(p.layout, 16, 16);
    let mut b = WgpuBackend::new(
        ctx(),
        &model,
        &p,
        ModelOptions {
            input_width: 16,
            input_height: 16,
            max_batch: 1,
            precision: Precision::F32,
        },
    )
    .unwrap();
    let data = vec![0u8; 10];
    let img = ImageRef::packed(PixelFormat::Rgba, 8, 8, &data);
    let e = b.infer(&[img]).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
    let e = b.infer(&[img, img]).unwrap_err();
    assert!(e.to_string().contains("max_batch"), "{e}");
}

/// Batches of varying size (cameras come and go) share a few padded plans, and the padding never
/// leaks into the pictures returned.
#[test]
fn varying_batches_share_padded_plans() {
    let p = pre(
        20,
        12,
        Resize::Letterbox,
        ChannelOrder::Rgb,
        InputLayout::Nchw,
    );
    let model = identity_model(p.layout, 20, 12);
    let mut b = WgpuBackend::new(
        ctx(),
        &model,
        &p,
        ModelOptions {
            input_width: 20,
            input_height: 12,
            max_batch: 6,
            precision: Precision::F32,
        },
    )
    .unwrap();
    let owned: Vec<(Vec<u8>, Planes)> = (0..6)
        .map(|i| frame(PixelFormat::Rgba, 30 + i, 17, u64::from(i)))
        .collect();
    let images: Vec<ImageRef<'_>> = owned
        .iter()
        .enumerate()
        .map(|(i, (data, planes))| ImageRef {
            format: PixelFormat::Rgba,
            width: 30 + i as u32,
            height: 17,
            planes: *planes,
            data,
        })
        .collect();
    // Largest first, so the padded slots of later, smaller batches hold stale pictures.
    for n in (1..=6).rev() {
        let got = b.infer(&images[..n]).unwrap();
        assert_eq!(got.len(), n, "one output per picture of a batch of {n}");
        let (want, _) = preprocess_batch_cpu(&images[..n], &p).unwrap();
        let per = want.data.len() / n;
        for (i, out) in got.iter().enumerate() {
            let (d, _) = max_diff(
                &out.outputs[0].tensor.data,
                &want.data[i * per..(i + 1) * per],
            );
            assert!(d <= 1e-3, "batch of {n}, picture {i}: differs by {d}");
        }
    }
    assert_eq!(b.compiled_batches(), [1, 2, 4, 6]);
}

/// A batch of frames larger than the GPU can bind at once is refused with a clear error (the
/// device would otherwise fail validation in the middle of a run).
#[test]
fn frames_beyond_what_the_gpu_binds_are_an_error() {
    let limit = ctx().max_binding_bytes();
    // 4K NV12 pictures, all the same bytes, just enough of them to pass the limit.
    let (w, h) = (3840u32, 2160u32);
    let per = PixelFormat::Nv12.packed_len(w, h) as u64;
    let n = (limit / per + 1) as usize;
    assert!(
        n <= 256,
        "limit {limit}: {n} frames is beyond a test's batch"
    );
    let p = pre(
        16,
        16,
        Resize::Stretch,
        ChannelOrder::Rgb,
        InputLayout::Nchw,
    );
    let model = identity_model(p.layout, 16, 16);
    let mut b = WgpuBackend::new(
        ctx(),
        &model,
        &p,
        ModelOptions {
            input_width: 16,
            input_height: 16,
            max_batch: n,
            precision: Precision::F32,
        },
    )
    .unwrap();
    let data = vec![128u8; per as usize];
    let img = ImageRef::packed(PixelFormat::Nv12, w, h, &data);
    let e = b.infer(&vec![img; n]).unwrap_err();
    assert!(e.to_string().contains("more than it binds"), "{e}");
    // One frame fits and runs.
    assert_eq!(b.infer(&[img]).unwrap().len(), 1);
}
