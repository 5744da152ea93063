//! Redacted RGBA frames encoded to H.264 in MP4 on local disk, through GStreamer (decoding files
//! is capture's: [`crate::capture::gst::VideoDecoder`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::PrivacyError;

fn video_err(e: impl std::fmt::Display) -> PrivacyError {
    PrivacyError::Encode(e.to_string())
}

/// The first H.264 encoder installed, with its options.
fn h264_encoder() -> Result<&'static str, PrivacyError> {
    const ENCODERS: [(&str, &str); 2] = [
        ("x264enc", "x264enc speed-preset=veryfast bframes=0"),
        ("openh264enc", "openh264enc"),
    ];
    ENCODERS
        .iter()
        .find(|(name, _)| gst::ElementFactory::find(name).is_some())
        .map(|(_, desc)| *desc)
        .ok_or_else(|| {
            PrivacyError::Encode(
                "no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc) or openh264enc"
                    .into(),
            )
        })
}

/// Reports the first error on `bus`, if any, without waiting.
fn bus_error(bus: &gst::Bus) -> Result<(), PrivacyError> {
    if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
        && let gst::MessageView::Error(e) = msg.view()
    {
        let detail = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
        return Err(video_err(format!("{}{detail}", e.error())));
    }
    Ok(())
}

/// RGBA frames in, an H.264 MP4 file out.
pub struct VideoEncoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    path: PathBuf,
    /// Encoded size (the frame size rounded down to even numbers, which 4:2:0 needs).
    width: u32,
    height: u32,
    frames: u64,
    /// PTS of the first frame: the file starts at 0.
    origin: Option<Duration>,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish()
    }
}

impl VideoEncoder {
    /// Starts writing `path` for `width` x `height` frames at a nominal `fps` (numerator,
    /// denominator: frames keep their own timestamps; without a nominal rate the last frame would
    /// be lost). `fragmented` writes an MP4 that stays playable up to the last second if the
    /// process dies (for recordings).
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fps: (i32, i32),
        fragmented: bool,
    ) -> Result<Self, PrivacyError> {
        gst::init().map_err(video_err)?;
        let (w, h) = (width & !1, height & !1);
        if w == 0 || h == 0 {
            return Err(PrivacyError::Frame(format!(
                "{width}x{height} is too small to encode"
            )));
        }
        let mux = if fragmented {
            "mp4mux fragment-duration=1000"
        } else {
            "mp4mux"
        };
        let desc = format!(
            "appsrc name=src format=time block=true caps=video/x-raw,format=RGBA,width={w},height={h},framerate={n}/{d} \
             ! videoconvert ! video/x-raw,format=I420 ! {} ! h264parse ! {mux} ! filesink name=sink",
            h264_encoder()?,
            n = fps.0.max(1),
            d = fps.1.max(1),
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(video_err)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| video_err("the encoding pipeline is not a pipeline"))?;
        let sink = pipeline
            .by_name("sink")
            .ok_or_else(|| video_err("no filesink"))?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| video_err("no appsrc"))?;
        pipeline.set_state(gst::State::Playing).map_err(|e| {
            let _ = pipeline.set_state(gst::State::Null);
            video_err(format!("cannot start encoding to {}: {e}", path.display()))
        })?;
        Ok(VideoEncoder {
            pipeline,
            src,
            path: path.to_path_buf(),
            width: w,
            height: h,
            frames: 0,
            origin: None,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one tightly packed RGBA frame of `width` pixels per row, shown at `pts` (media
    /// time; the file starts at the first frame's) for `duration`.
    pub fn push(
        &mut self,
        rgba: &[u8],
        width: u32,
        pts: Duration,
        duration: Option<Duration>,
    ) -> Result<(), PrivacyError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let row = width as usize * 4;
        if width < self.width || rgba.len() < row * h {
            return Err(PrivacyError::Frame(format!(
                "frame of {} bytes does not hold {w}x{h} RGBA",
                rgba.len()
            )));
        }
        let mut bytes = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            bytes.extend_from_slice(&rgba[y * row..y * row + w * 4]);
        }
        let origin = *self.origin.get_or_insert(pts);
        let mut buffer = gst::Buffer::from_mut_slice(bytes);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(
                pts.saturating_sub(origin).as_nanos() as u64,
            ));
            if let Some(d) = duration {
                b.set_duration(gst::ClockTime::from_nseconds(d.as_nanos() as u64));
            }
        }
        bus_error(&self.pipeline.bus().ok_or_else(|| video_err("no bus"))?)?;
        self.src
            .push_buffer(buffer)
            .map_err(|e| video_err(format!("cannot encode into {}: {e:?}", self.path.display())))?;
        self.frames += 1;
        Ok(())
    }

    /// Ends the stream and waits until the file is complete.
    pub fn finish(self) -> Result<u64, PrivacyError> {
        let frames = self.frames;
        let result = (|| {
            self.src
                .end_of_stream()
                .map_err(|e| video_err(format!("{e:?}")))?;
            let bus = self.pipeline.bus().ok_or_else(|| video_err("no bus"))?;
            match bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            ) {
                Some(msg) => match msg.view() {
                    gst::MessageView::Error(e) => Err(video_err(e.error())),
                    _ => Ok(()),
                },
                None => Err(video_err("the encoder did not finish within 60 s")),
            }
        })();
        let _ = self.pipeline.set_state(gst::State::Null);
        result.map(|()| frames)
    }
}

impl Drop for VideoEncoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::gst::VideoDecoder;

    fn round_trip(fragmented: bool) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.mp4");
        let (w, h) = (66u32, 50u32);
        // A nominal rate unlike the frames' own spacing: timestamps rule.
        let mut enc = VideoEncoder::create(&path, w, h, (25, 1), fragmented).unwrap();
        for i in 0..10u64 {
            let rgba: Vec<u8> = (0..w * h)
                .flat_map(|p| [(p % w) as u8 * 3, (i * 20) as u8, 90, 255])
                .collect();
            let t = Duration::from_millis(500 + 40 * i);
            enc.push(&rgba, w, t, Some(Duration::from_millis(40)))
                .unwrap();
        }
        assert_eq!(enc.finish().unwrap(), 10);
        let mut dec = VideoDecoder::open(&path).unwrap();
        let mut n = 0;
        while let Some(f) = dec.next_frame().unwrap() {
            let img = f.image();
            assert_eq!((img.width, img.height), (w, h));
            n += 1;
        }
        n
    }

    #[test]
    fn every_frame_encoded_is_decoded_again() {
        assert_eq!(round_trip(false), 10);
        assert_eq!(round_trip(true), 10);
    }
}
