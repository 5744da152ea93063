//! Reads a decoded GStreamer sample where the decoder left it, and copies it into a pooled,
//! tightly packed [`Frame`] only when the consumer takes it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer_video as gst_video;

use super::CaptureError;
use crate::capture::frame::{Frame, FrameNote, FrameView, ImageRef, PixelFormat, Planes};
use crate::capture::pool::BufferPool;

/// Caches the `VideoInfo` of the last caps so steady-state conversion parses nothing.
#[derive(Default)]
pub struct Converter {
    info: Option<(gst::Caps, gst_video::VideoInfo)>,
}

/// A decoded sample mapped for reading, not copied: its pixels as `format` in the decoder's
/// buffer, with the decoder's strides.
pub struct Mapped<'s> {
    map: gst::BufferMap<'s, gst::buffer::Readable>,
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: Planes,
    pts: Option<Duration>,
    arrived: Instant,
    captured_at: SystemTime,
}

impl Converter {
    /// Maps `sample`'s buffer (no copy for the single-memory buffers decoders hand out) and
    /// reads its plane layout, from the buffer's video meta when it has one.
    pub fn map<'s>(
        &mut self,
        sample: &'s gst::Sample,
        format: PixelFormat,
    ) -> Result<Mapped<'s>, CaptureError> {
        let arrived = Instant::now();
        let captured_at = SystemTime::now();
        let caps = sample
            .caps()
            .ok_or_else(|| CaptureError::Frame("sample without caps".into()))?;
        let info = match &self.info {
            Some((c, info)) if c.as_ref() == caps => info,
            _ => {
                let info = gst_video::VideoInfo::from_caps(caps)
                    .map_err(|e| CaptureError::Frame(e.to_string()))?;
                &self.info.insert((caps.to_owned(), info)).1
            }
        };
        let buffer = sample
            .buffer()
            .ok_or_else(|| CaptureError::Frame("sample without buffer".into()))?;
        let meta = buffer.meta::<gst_video::VideoMeta>();
        let (offsets, strides): (&[usize], &[i32]) = match &meta {
            Some(meta) => (meta.offset(), meta.stride()),
            None => (info.offset(), info.stride()),
        };
        let n_planes = match format {
            PixelFormat::Nv12 => 2,
            PixelFormat::Rgba => 1,
        };
        let mut planes = Planes {
            offsets: [0; 2],
            strides: [0; 2],
        };
        for p in 0..n_planes {
            let (Some(&offset), Some(&stride)) = (offsets.get(p), strides.get(p)) else {
                return Err(CaptureError::Frame(format!(
                    "{format:?} sample without plane {p}"
                )));
            };
            planes.offsets[p] = offset;
            planes.strides[p] = usize::try_from(stride)
                .map_err(|_| CaptureError::Frame("negative stride".into()))?;
        }
        let map = buffer
            .map_readable()
            .map_err(|e| CaptureError::Frame(format!("cannot map a decoded buffer: {e}")))?;
        let mapped = Mapped {
            map,
            format,
            width: info.width(),
            height: info.height(),
            planes,
            pts: buffer.pts().map(|t| Duration::from_nanos(t.nseconds())),
            arrived,
            captured_at,
        };
        mapped
            .image()
            .check()
            .map_err(|e| CaptureError::Frame(format!("plane shorter than its geometry: {e}")))?;
        Ok(mapped)
    }
}

impl Mapped<'_> {
    /// The pixels where the decoder left them.
    pub fn image(&self) -> ImageRef<'_> {
        ImageRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self.planes,
            data: self.map.as_slice(),
        }
    }

    /// What the consumer's prep looks at, as frame `seq`.
    pub fn view(&self, seq: u64) -> FrameView<'_> {
        FrameView {
            seq,
            pts: self.pts,
            arrived: self.arrived,
            image: self.image(),
        }
    }

    /// Copies the pixels into a buffer from `pool`, tightly packed, as frame `seq` of `camera`
    /// carrying `note`.
    pub fn copy(
        &self,
        camera: &Arc<str>,
        seq: u64,
        pool: &BufferPool,
        note: Option<FrameNote>,
    ) -> Frame {
        let (format, width, height) = (self.format, self.width, self.height);
        let planes = Planes::packed(format, width, height);
        let mut data = pool.take(format.packed_len(width, height));
        let src = self.map.as_slice();
        let planes_rows: &[(usize, usize)] = match format {
            PixelFormat::Nv12 => &[(0, height as usize), (1, (height as usize).div_ceil(2))],
            PixelFormat::Rgba => &[(0, height as usize)],
        };
        // `map` checked the geometry against the buffer: every row is there.
        for &(p, rows) in planes_rows {
            let row_len = planes.strides[p];
            for r in 0..rows {
                let s = self.planes.offsets[p] + r * self.planes.strides[p];
                let d = planes.offsets[p] + r * row_len;
                data[d..d + row_len].copy_from_slice(&src[s..s + row_len]);
            }
        }
        Frame {
            camera: Arc::clone(camera),
            seq,
            pts: self.pts,
            captured_at: self.captured_at,
            arrived: self.arrived,
            width,
            height,
            format,
            planes,
            data,
            note,
        }
    }
}
