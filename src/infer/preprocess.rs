//! How a frame becomes a model input, and how boxes map back: shared by every backend.

use serde::{Deserialize, Serialize};

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
}
