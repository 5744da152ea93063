//! The unit that flows from capture to inference: one decoded picture and where it came from.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
}

impl Frame {
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
}
