//! How a frame becomes a model input, and how boxes map back: shared by every backend.

use serde::{Deserialize, Serialize};

use crate::capture::frame::{ImageError, ImageRef, PixelFormat};

use super::tensor::Tensor;

/// How the frame is fitted into the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Keep aspect ratio, scale to fit, pad the rest (centered) with `pad_value`.
    Letterbox,
    /// Scale each axis independently to fill the input.
    Stretch,
}

/// Order of colour channels the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Memory layout of the model's image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputLayout {
    /// `[N, 3, H, W]`
    Nchw,
    /// `[N, H, W, 3]`
    Nhwc,
}

/// Everything needed to turn a picture into the model's input tensor: from the model manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Model input width in pixels.
    pub width: u32,
    /// Model input height in pixels.
    pub height: u32,
    pub resize: Resize,
    pub channel_order: ChannelOrder,
    pub layout: InputLayout,
    /// Subtracted from each channel (in model channel order, 0..255 scale).
    pub mean: [f32; 3],
    /// Each channel is divided by this after subtracting the mean.
    pub std: [f32; 3],
    /// Value of padded pixels before normalization (0..255 scale).
    #[serde(default)]
    pub pad_value: f32,
}

impl Preprocess {
    /// The model input's shape for `batch` pictures: `[N, 3, H, W]` or `[N, H, W, 3]`.
    pub fn input_shape(&self, batch: usize) -> Vec<usize> {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.layout {
            InputLayout::Nchw => vec![batch, 3, h, w],
            InputLayout::Nhwc => vec![batch, h, w, 3],
        }
    }
}

/// Maps a point in model-input pixels back to frame pixels: `frame = (model - pad) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxTransform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    /// Frame size, for clamping.
    pub frame_width: u32,
    pub frame_height: u32,
}

impl BoxTransform {
    /// The transform that `pre` applies to a `width` x `height` frame.
    pub fn for_frame(pre: &Preprocess, width: u32, height: u32) -> Self {
        let sx = pre.width as f32 / width as f32;
        let sy = pre.height as f32 / height as f32;
        match pre.resize {
            Resize::Stretch => BoxTransform {
                scale_x: sx,
                scale_y: sy,
                pad_x: 0.0,
                pad_y: 0.0,
                frame_width: width,
                frame_height: height,
            },
            Resize::Letterbox => {
                let s = sx.min(sy);
                BoxTransform {
                    scale_x: s,
                    scale_y: s,
                    pad_x: (pre.width as f32 - width as f32 * s) / 2.0,
                    pad_y: (pre.height as f32 - height as f32 * s) / 2.0,
                    frame_width: width,
                    frame_height: height,
                }
            }
        }
    }

    /// A point in model-input pixels, in frame pixels (not clamped).
    pub fn point_to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.pad_x) / self.scale_x,
            (y - self.pad_y) / self.scale_y,
        )
    }

    /// A box `[x1, y1, x2, y2]` in model-input pixels, in frame pixels, clamped to the frame.
    pub fn box_to_frame(&self, b: [f32; 4]) -> [f32; 4] {
        let (x1, y1) = self.point_to_frame(b[0], b[1]);
        let (x2, y2) = self.point_to_frame(b[2], b[3]);
        let (w, h) = (self.frame_width as f32, self.frame_height as f32);
        [
            x1.clamp(0.0, w),
            y1.clamp(0.0, h),
            x2.clamp(0.0, w),
            y2.clamp(0.0, h),
        ]
    }
}

/// Source geometry of one output pixel: where its centre falls in the frame, or `None` in padding.
///
/// This is the single definition of the resize that every backend follows (the GPU kernel too):
/// pixel centres are aligned (half-pixel convention, as OpenCV's `INTER_LINEAR` and ONNX
/// `half_pixel`), the letterboxed picture is centred, and padding is `pad_value`.
#[inline]
pub fn source_coord(t: &BoxTransform, dx: u32, dy: u32) -> Option<(f32, f32)> {
    let (cx, cy) = (dx as f32 + 0.5, dy as f32 + 0.5);
    let content_w = t.frame_width as f32 * t.scale_x;
    let content_h = t.frame_height as f32 * t.scale_y;
    if cx < t.pad_x || cy < t.pad_y || cx >= t.pad_x + content_w || cy >= t.pad_y + content_h {
        return None;
    }
    Some((
        (cx - t.pad_x) / t.scale_x - 0.5,
        (cy - t.pad_y) / t.scale_y - 0.5,
    ))
}

/// RGB (0..255) of one source pixel; NV12 is converted with BT.601 limited-range coefficients.
#[inline]
pub fn pixel_rgb(img: &ImageRef<'_>, x: u32, y: u32) -> [f32; 3] {
    let (x, y) = (
        x.min(img.width - 1) as usize,
        y.min(img.height - 1) as usize,
    );
    match img.format {
        PixelFormat::Rgba => {
            let i = img.planes.offsets[0] + y * img.planes.strides[0] + x * 4;
            [
                img.data[i] as f32,
                img.data[i + 1] as f32,
                img.data[i + 2] as f32,
            ]
        }
        PixelFormat::Nv12 => {
            let yv = img.data[img.planes.offsets[0] + y * img.planes.strides[0] + x] as f32;
            let ci = img.planes.offsets[1] + (y / 2) * img.planes.strides[1] + (x / 2) * 2;
            let (u, v) = (img.data[ci] as f32 - 128.0, img.data[ci + 1] as f32 - 128.0);
            let c = 1.164 * (yv - 16.0);
            [
                (c + 1.596 * v).clamp(0.0, 255.0),
                (c - 0.392 * u - 0.813 * v).clamp(0.0, 255.0),
                (c + 2.017 * u).clamp(0.0, 255.0),
            ]
        }
    }
}

/// Bilinear sample at fractional source coordinates, neighbours clamped to the frame.
#[inline]
pub fn sample_bilinear(img: &ImageRef<'_>, sx: f32, sy: f32) -> [f32; 3] {
    let sx = sx.clamp(0.0, (img.width - 1) as f32);
    let sy = sy.clamp(0.0, (img.height - 1) as f32);
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
    let (p00, p10) = (pixel_rgb(img, x0, y0), pixel_rgb(img, x1, y0));
    let (p01, p11) = (pixel_rgb(img, x0, y1), pixel_rgb(img, x1, y1));
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bottom = p01[c] + (p11[c] - p01[c]) * fx;
        out[c] = top + (bottom - top) * fy;
    }
    out
}

/// What every CPU pre-processing starts with: the picture checked, the output's length asserted
/// (one picture in the model's size), the transform, and for each model channel its RGB source.
pub(crate) fn start(
    img: &ImageRef<'_>,
    pre: &Preprocess,
    out_len: usize,
) -> Result<(BoxTransform, [usize; 3]), ImageError> {
    img.check()?;
    let (w, h) = (pre.width as usize, pre.height as usize);
    assert_eq!(out_len, 3 * w * h, "output slice must hold one picture");
    let order = match pre.channel_order {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    Ok((BoxTransform::for_frame(pre, img.width, img.height), order))
}

/// CPU pre-processing: the reference the GPU kernel is tested against, and the OpenCV backend's input.
///
/// Writes one picture into `out` (length `3 * pre.width * pre.height`) in the model's layout and
/// returns the transform that maps model pixels back to this frame.
pub fn preprocess_cpu(
    img: &ImageRef<'_>,
    pre: &Preprocess,
    out: &mut [f32],
) -> Result<BoxTransform, ImageError> {
    let (t, order) = start(img, pre, out.len())?;
    let (w, h) = (pre.width as usize, pre.height as usize);
    for dy in 0..h {
        for dx in 0..w {
            let rgb = match source_coord(&t, dx as u32, dy as u32) {
                Some((sx, sy)) => sample_bilinear(img, sx, sy),
                None => [pre.pad_value; 3],
            };
            for (c, &src_c) in order.iter().enumerate() {
                let v = (rgb[src_c] - pre.mean[c]) / pre.std[c];
                let i = match pre.layout {
                    InputLayout::Nchw => c * w * h + dy * w + dx,
                    InputLayout::Nhwc => (dy * w + dx) * 3 + c,
                };
                out[i] = v;
            }
        }
    }
    Ok(t)
}

/// Pre-processes a batch into one tensor (`[N,3,H,W]` or `[N,H,W,3]`) plus a transform per picture.
pub fn preprocess_batch_cpu(
    images: &[ImageRef<'_>],
    pre: &Preprocess,
) -> Result<(Tensor, Vec<BoxTransform>), ImageError> {
    let (w, h) = (pre.width as usize, pre.height as usize);
    let per = 3 * w * h;
    let mut data = vec![0.0f32; per * images.len()];
    let mut transforms = Vec::with_capacity(images.len());
    for (img, chunk) in images.iter().zip(data.chunks_exact_mut(per)) {
        transforms.push(preprocess_cpu(img, pre, chunk)?);
    }
    Ok((Tensor::new(pre.input_shape(images.len()), data), transforms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(resize: Resize) -> Preprocess {
        Preprocess {
            width: 416,
            height: 416,
            resize,
            channel_order: ChannelOrder::Rgb,
            layout: InputLayout::Nchw,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad_value: 0.0,
        }
    }

    #[test]
    fn letterbox_round_trips_corners() {
        let t = BoxTransform::for_frame(&pre(Resize::Letterbox), 768, 576);
        assert!((t.scale_x - 416.0 / 768.0).abs() < 1e-6);
        assert!((t.pad_y - (416.0 - 576.0 * 416.0 / 768.0) / 2.0).abs() < 1e-4);
        let b = t.box_to_frame([0.0, t.pad_y, 416.0, 416.0 - t.pad_y]);
        for (got, want) in b.iter().zip([0.0, 0.0, 768.0, 576.0]) {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn stretch_scales_axes_independently() {
        let t = BoxTransform::for_frame(&pre(Resize::Stretch), 832, 208);
        assert_eq!(t.point_to_frame(208.0, 208.0), (416.0, 104.0));
    }

    fn rgba(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&f(x, y));
            }
        }
        v
    }

    fn image(data: &[u8], w: u32, h: u32, format: PixelFormat) -> ImageRef<'_> {
        ImageRef::packed(format, w, h, data)
    }

    #[test]
    fn identity_size_copies_pixels_and_normalizes() {
        let data = rgba(4, 4, |x, y| [(x * 10) as u8, (y * 10) as u8, 200, 255]);
        let img = image(&data, 4, 4, PixelFormat::Rgba);
        let mut p = pre(Resize::Stretch);
        (p.width, p.height, p.mean, p.std) = (4, 4, [100.0, 0.0, 0.0], [2.0, 1.0, 1.0]);
        let mut out = vec![0.0; 48];
        preprocess_cpu(&img, &p, &mut out).unwrap();
        // NCHW: channel 0 (R) at (x=3, y=1) = (30 - 100) / 2
        assert_eq!(out[4 + 3], -35.0);
        assert_eq!(out[16 + 4 * 2 + 1], 20.0); // G at (1,2)
        assert_eq!(out[32], 200.0); // B
    }

    #[test]
    fn letterbox_pads_and_bgr_swaps() {
        let data = rgba(8, 4, |_, _| [10, 20, 30, 255]);
        let img = image(&data, 8, 4, PixelFormat::Rgba);
        let mut p = pre(Resize::Letterbox);
        (p.width, p.height, p.channel_order, p.layout, p.pad_value) =
            (8, 8, ChannelOrder::Bgr, InputLayout::Nhwc, 114.0);
        let mut out = vec![0.0; 8 * 8 * 3];
        let t = preprocess_cpu(&img, &p, &mut out).unwrap();
        assert_eq!(t.pad_y, 2.0);
        assert_eq!(&out[0..3], &[114.0, 114.0, 114.0]); // row 0 is padding
        let row3 = 3 * 8 * 3;
        assert_eq!(&out[row3..row3 + 3], &[30.0, 20.0, 10.0]); // content, BGR
    }

    #[test]
    fn nv12_grey_converts_to_grey() {
        // Y=126 U=V=128 -> 1.164 * 110 = 128.04 in every channel.
        let (w, h) = (4u32, 2u32);
        let mut data = vec![126u8; (w * h) as usize];
        data.extend(std::iter::repeat_n(128u8, (w * h / 2) as usize));
        let img = image(&data, w, h, PixelFormat::Nv12);
        let rgb = pixel_rgb(&img, 3, 1);
        for c in rgb {
            assert!((c - 128.04).abs() < 1e-3, "{rgb:?}");
        }
    }

    #[test]
    fn downscale_averages_neighbours() {
        // A 2x1 picture of black and white, stretched to 1x1: the centre samples halfway.
        let data = rgba(2, 1, |x, _| {
            if x == 0 {
                [0, 0, 0, 255]
            } else {
                [200, 200, 200, 255]
            }
        });
        let img = image(&data, 2, 1, PixelFormat::Rgba);
        let mut p = pre(Resize::Stretch);
        (p.width, p.height) = (1, 1);
        let mut out = vec![0.0; 3];
        preprocess_cpu(&img, &p, &mut out).unwrap();
        assert_eq!(out, vec![100.0; 3]);
    }

    #[test]
    fn short_buffer_is_an_error_not_a_panic() {
        let data = vec![0u8; 10];
        let img = image(&data, 4, 4, PixelFormat::Rgba);
        let mut out = vec![0.0; 3 * 416 * 416];
        assert!(matches!(
            preprocess_cpu(&img, &pre(Resize::Letterbox), &mut out),
            Err(ImageError::ShortBuffer { .. })
        ));
    }
}
