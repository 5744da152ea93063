//! Copies a decoded GStreamer sample into a pooled, tightly packed [`Frame`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::CaptureError;
use crate::capture::frame::{Frame, PixelFormat, Planes};
use crate::capture::pool::BufferPool;

/// Caches the `VideoInfo` of the last caps so steady-state conversion parses nothing.
#[derive(Default)]
pub struct Converter {
    info: Option<(gst::Caps, gst_video::VideoInfo)>,
}

impl Converter {
    /// Copies `sample` into a buffer from `pool`, packed as `format` expects.
    pub fn frame(
        &mut self,
        sample: &gst::Sample,
        camera: &Arc<str>,
        seq: u64,
        format: PixelFormat,
        pool: &BufferPool,
    ) -> Result<Frame, CaptureError> {
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
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|e| CaptureError::Frame(e.to_string()))?;
        let (width, height) = (vframe.width(), vframe.height());
        let planes = Planes::packed(format, width, height);
        let mut data = pool.take(format.packed_len(width, height));
        let strides = vframe.plane_stride();
        let rows = |plane: usize| -> usize {
            match (format, plane) {
                (PixelFormat::Nv12, 1) => (height as usize).div_ceil(2),
                _ => height as usize,
            }
        };
        let n_planes = match format {
            PixelFormat::Nv12 => 2,
            PixelFormat::Rgba => 1,
        };
        for (p, &stride) in strides.iter().enumerate().take(n_planes) {
            let src = vframe
                .plane_data(p as u32)
                .map_err(|e| CaptureError::Frame(e.to_string()))?;
            let src_stride = usize::try_from(stride)
                .map_err(|_| CaptureError::Frame("negative stride".into()))?;
            let row_len = planes.strides[p];
            for r in 0..rows(p) {
                let s = &src
                    .get(r * src_stride..r * src_stride + row_len)
                    .ok_or_else(|| CaptureError::Frame("plane shorter than its geometry".into()))?;
                let d = planes.offsets[p] + r * row_len;
                data[d..d + row_len].copy_from_slice(s);
            }
        }
        Ok(Frame {
            camera: Arc::clone(camera),
            seq,
            pts: buffer.pts().map(|t| Duration::from_nanos(t.nseconds())),
            captured_at,
            arrived,
            width,
            height,
            format,
            planes,
            data,
            note: None,
        })
    }
}
