//! The unit that flows from capture to inference: one decoded picture and where it came from.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::pool::PooledBuf;

/// Pixel layouts that capture delivers and the pre-processing kernels read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Y plane then interleaved UV at half resolution: what decoders emit, 1.5 bytes per pixel.
    Nv12,
    /// 8-bit R, G, B, A per pixel.
    Rgba,
}

impl PixelFormat {
    /// Bytes needed for a tightly packed picture of this size.
    pub fn packed_len(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        match self {
            PixelFormat::Nv12 => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
            PixelFormat::Rgba => w * h * 4,
        }
    }
}

/// Plane geometry of a picture inside its byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planes {
    /// Byte offset of each plane (NV12: Y, UV; RGBA: one plane).
    pub offsets: [usize; 2],
    /// Bytes per row of each plane.
    pub strides: [usize; 2],
}

impl Planes {
    /// Geometry of a tightly packed picture.
    pub fn packed(format: PixelFormat, width: u32, height: u32) -> Self {
        let w = width as usize;
        match format {
            PixelFormat::Nv12 => Planes {
                offsets: [0, w * height as usize],
                strides: [w, 2 * w.div_ceil(2)],
            },
            PixelFormat::Rgba => Planes {
                offsets: [0, 0],
                strides: [w * 4, 0],
            },
        }
    }
}

/// A borrowed picture: what inference backends read, whether it came from a camera or a file.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: Planes,
    pub data: &'a [u8],
}

/// Why a picture's bytes cannot be read as its format and size say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("empty picture ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error("picture buffer too small: {have} bytes for a {width}x{height} {format:?} picture")]
    ShortBuffer {
        have: usize,
        width: u32,
        height: u32,
        format: PixelFormat,
    },
}

impl<'a> ImageRef<'a> {
    /// A tightly packed picture: what decoded files and tests hand over.
    pub fn packed(format: PixelFormat, width: u32, height: u32, data: &'a [u8]) -> Self {
        ImageRef {
            format,
            width,
            height,
            planes: Planes::packed(format, width, height),
            data,
        }
    }

    /// The `width` x `height` part of the picture at `(x, y)`, borrowing the same bytes: plane
    /// offsets move, strides stay. For NV12 the corner is rounded down to even pixels (chroma is
    /// shared by 2x2 pixels). The rectangle is clipped to the picture.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> ImageRef<'a> {
        let (x, y) = match self.format {
            PixelFormat::Nv12 => (x & !1, y & !1),
            PixelFormat::Rgba => (x, y),
        };
        let (x, y) = (x.min(self.width), y.min(self.height));
        let width = width.min(self.width - x);
        let height = height.min(self.height - y);
        let (xs, ys) = (x as usize, y as usize);
        let [o0, o1] = self.planes.offsets;
        let [s0, s1] = self.planes.strides;
        let offsets = match self.format {
            PixelFormat::Rgba => [o0 + ys * s0 + xs * 4, 0],
            PixelFormat::Nv12 => [o0 + ys * s0 + xs, o1 + (ys / 2) * s1 + xs],
        };
        ImageRef {
            format: self.format,
            width,
            height,
            planes: Planes {
                offsets,
                strides: self.planes.strides,
            },
            data: self.data,
        }
    }

    /// Bytes of `data` that the planes span (what sampling may read); 0 for an empty picture.
    pub fn required_len(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return 0;
        }
        match self.format {
            PixelFormat::Rgba => self.planes.offsets[0] + (h - 1) * self.planes.strides[0] + w * 4,
            PixelFormat::Nv12 => {
                let y_end = self.planes.offsets[0] + (h - 1) * self.planes.strides[0] + w;
                let uv_end = self.planes.offsets[1]
                    + (h.div_ceil(2) - 1) * self.planes.strides[1]
                    + w.div_ceil(2) * 2;
                y_end.max(uv_end)
            }
        }
    }

    /// The part of `data` the planes span, never past its end: what is uploaded or copied.
    pub fn used_bytes(&self) -> &'a [u8] {
        &self.data[..self.required_len().min(self.data.len())]
    }

    /// Checks that the planes fit in the buffer, so sampling cannot read out of bounds.
    pub fn check(&self) -> Result<(), ImageError> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return Err(ImageError::Empty {
                width: self.width,
                height: self.height,
            });
        }
        let strides_ok = match self.format {
            PixelFormat::Rgba => self.planes.strides[0] >= w * 4,
            PixelFormat::Nv12 => {
                self.planes.strides[0] >= w && self.planes.strides[1] >= w.div_ceil(2) * 2
            }
        };
        if self.data.len() < self.required_len() || !strides_ok {
            return Err(ImageError::ShortBuffer {
                have: self.data.len(),
                width: self.width,
                height: self.height,
                format: self.format,
            });
        }
        Ok(())
    }
}

/// One decoded frame of one camera, carried in a pooled buffer.
#[derive(Debug)]
pub struct Frame {
    /// Camera name from the pipeline file.
    pub camera: Arc<str>,
    /// Per-camera sequence number, starting at 0, without gaps at the source.
    pub seq: u64,
    /// Presentation time in media time (from the stream), when the source has one.
    pub pts: Option<Duration>,
    /// Wall-clock time at which the frame reached lookout.
    pub captured_at: SystemTime,
    /// Monotonic instant of arrival, for latency measurements.
    pub arrived: std::time::Instant,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub planes: Planes,
    pub data: PooledBuf,
    /// What the consumer worked out about this frame in the camera's thread before it was
    /// queued (see [`super::queue::FramePrep`]); capture never looks inside.
    pub note: Option<FrameNote>,
}

/// A consumer's own record on a frame, opaque to capture (the consumer sits in a layer above).
pub type FrameNote = Box<dyn std::any::Any + Send + Sync>;

/// A frame as its camera's thread first sees it, possibly still in the decoder's buffer: what a
/// consumer's prep looks at before the pixels are copied.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub seq: u64,
    pub pts: Option<Duration>,
    pub arrived: Instant,
    pub image: ImageRef<'a>,
}

impl Frame {
    /// What a consumer's prep looks at.
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            seq: self.seq,
            pts: self.pts,
            arrived: self.arrived,
            image: self.image(),
        }
    }

    /// A borrowed view for pre-processing.
    pub fn image(&self) -> ImageRef<'_> {
        ImageRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self.planes,
            data: &self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_len_rounds_chroma_up() {
        assert_eq!(PixelFormat::Nv12.packed_len(4, 2), 8 + 4);
        assert_eq!(PixelFormat::Nv12.packed_len(3, 3), 9 + 2 * 2 * 2);
        assert_eq!(PixelFormat::Rgba.packed_len(3, 3), 36);
    }

    #[test]
    fn crops_read_the_same_pixels() {
        // RGBA 4x3 whose red is the pixel index; NV12 4x4 whose Y is the pixel index.
        let rgba: Vec<u8> = (0..12u8).flat_map(|i| [i, 0, 0, 255]).collect();
        let img = ImageRef::packed(PixelFormat::Rgba, 4, 3, &rgba);
        let c = img.crop(1, 1, 2, 2);
        assert!(c.check().is_ok());
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(c.data[c.planes.offsets[0]], 5);
        assert_eq!(c.data[c.planes.offsets[0] + c.planes.strides[0]], 9);
        let mut nv12: Vec<u8> = (0..16u8).collect();
        nv12.extend((0..8u8).map(|i| 100 + i));
        let img = ImageRef::packed(PixelFormat::Nv12, 4, 4, &nv12);
        let c = img.crop(3, 3, 9, 9);
        assert_eq!(
            (c.width, c.height),
            (2, 2),
            "corner rounded to (2, 2), clipped"
        );
        assert_eq!(c.data[c.planes.offsets[0]], 10);
        assert_eq!(c.data[c.planes.offsets[1]], 106, "chroma row 1, pair 1");
        assert!(c.check().is_ok());
    }

    #[test]
    fn packed_images_check_and_span_their_bytes() {
        let data = vec![0u8; PixelFormat::Nv12.packed_len(4, 4) + 5];
        let img = ImageRef::packed(PixelFormat::Nv12, 4, 4, &data);
        assert!(img.check().is_ok());
        assert_eq!(img.used_bytes().len(), 24);
        let short = ImageRef::packed(PixelFormat::Rgba, 4, 4, &data[..10]);
        assert!(matches!(
            short.check(),
            Err(ImageError::ShortBuffer { have: 10, .. })
        ));
        assert_eq!(short.used_bytes().len(), 10);
        let empty = ImageRef::packed(PixelFormat::Rgba, 0, 4, &data);
        assert!(matches!(empty.check(), Err(ImageError::Empty { .. })));
    }
}
