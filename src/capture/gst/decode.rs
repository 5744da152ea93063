//! Video files decoded to RGBA frames one at a time, for commands that work on a file
//! (`lookout detect`, `lookout redact`) rather than on a camera.

use std::path::Path;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::CaptureError;
use crate::capture::frame::{ImageRef, PixelFormat, Planes};

/// Longest wait for the next frame of a file before decoding counts as stuck.
pub const STALL: Duration = Duration::from_secs(10);

fn build_err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Build(e.to_string())
}

fn frame_err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Frame(e.to_string())
}

/// Reports the first error on `bus`, if any, without waiting.
fn bus_error(bus: &gst::Bus) -> Result<(), CaptureError> {
    if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
        && let gst::MessageView::Error(e) = msg.view()
    {
        let detail = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
        return Err(CaptureError::Stream(format!("{}{detail}", e.error())));
    }
    Ok(())
}

/// One decoded frame: RGBA, with its timing.
pub struct DecodedFrame {
    /// Position in the file, from 0.
    pub index: u64,
    pub pts: Option<Duration>,
    pub duration: Option<Duration>,
    width: u32,
    height: u32,
    offset: usize,
    stride: usize,
    map: gst::buffer::MappedBuffer<gst::buffer::Readable>,
}

impl DecodedFrame {
    /// The picture, borrowed.
    pub fn image(&self) -> ImageRef<'_> {
        ImageRef {
            format: PixelFormat::Rgba,
            width: self.width,
            height: self.height,
            planes: Planes {
                offsets: [self.offset, 0],
                strides: [self.stride, 0],
            },
            data: self.map.as_slice(),
        }
    }
}

/// A video file decoded to RGBA frames, one at a time.
pub struct VideoDecoder {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    next: u64,
    fps: Option<(i32, i32)>,
}

impl VideoDecoder {
    /// Opens `path`; fails when it is not a video GStreamer can decode.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        super::init()?;
        let pipeline = gst::parse::launch(
            "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! \
             appsink name=sink sync=false max-buffers=2",
        )
        .map_err(build_err)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| build_err("the decoding pipeline is not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .ok_or_else(|| build_err("no filesrc"))?;
        src.set_property("location", path.to_string_lossy().as_ref());
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| build_err("no appsink"))?;
        let dec = VideoDecoder {
            pipeline,
            sink,
            next: 0,
            fps: None,
        };
        dec.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| CaptureError::Start(format!("{}: cannot decode: {e}", path.display())))?;
        Ok(dec)
    }

    /// The next frame, or `None` at the end of the file. A decoder that produces neither a
    /// frame nor the end for [`STALL`] is an error, never a hang.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>, CaptureError> {
        let bus = self.pipeline.bus().ok_or_else(|| build_err("no bus"))?;
        let waiting = Instant::now();
        loop {
            bus_error(&bus)?;
            let Some(sample) = self
                .sink
                .try_pull_sample(gst::ClockTime::from_mseconds(200))
            else {
                if self.sink.is_eos() {
                    return Ok(None);
                }
                if waiting.elapsed() > STALL {
                    return Err(CaptureError::Stall(waiting.elapsed().as_secs_f64()));
                }
                continue;
            };
            let caps = sample
                .caps()
                .ok_or_else(|| frame_err("frame without caps"))?;
            let info = gst_video::VideoInfo::from_caps(caps).map_err(frame_err)?;
            let fps = info.fps();
            if fps.numer() > 0 {
                self.fps = Some((fps.numer(), fps.denom()));
            }
            let buffer = sample
                .buffer_owned()
                .ok_or_else(|| frame_err("sample without buffer"))?;
            let pts = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
            let duration = buffer
                .duration()
                .map(|t| Duration::from_nanos(t.nseconds()));
            let map = buffer
                .into_mapped_buffer_readable()
                .map_err(|_| frame_err("cannot map frame"))?;
            let stride =
                usize::try_from(info.stride()[0]).map_err(|_| frame_err("negative stride"))?;
            let index = self.next;
            self.next += 1;
            return Ok(Some(DecodedFrame {
                index,
                pts,
                duration,
                width: info.width(),
                height: info.height(),
                offset: info.offset()[0],
                stride,
                map,
            }));
        }
    }

    /// The frame rate the file announces, once the first frame is decoded.
    pub fn framerate(&self) -> Option<(i32, i32)> {
        self.fps
    }

    /// Frames the file should hold (duration x frame rate), once known.
    pub fn estimated_frames(&self) -> Option<u64> {
        let (n, d) = self.fps?;
        let dur = self.pipeline.query_duration::<gst::ClockTime>()?;
        Some((dur.nseconds() as f64 / 1e9 * n as f64 / d as f64).round() as u64)
    }
}

impl Drop for VideoDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
