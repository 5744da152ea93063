//! Builds the GStreamer pipeline for one camera: source -> decode -> convert/scale -> appsink.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::CaptureError;
use crate::capture::frame::PixelFormat;
use crate::capture::source::Source;
use crate::capture::spec::{CaptureSpec, RtspTransport};

/// A camera's pipeline and the sink frames are pulled from.
pub struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    pub sink: gst_app::AppSink,
}

fn make(factory: &str, name: &str) -> Result<gst::Element, CaptureError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| CaptureError::MissingElement(factory.to_string()))
}

/// Caps the appsink accepts: the configured format, plus size and rate when the camera sets them.
fn output_caps(cam: &CaptureSpec, with_rate: bool) -> gst::Caps {
    let format = match cam.format {
        PixelFormat::Nv12 => "NV12",
        PixelFormat::Rgba => "RGBA",
    };
    let mut b = gst::Caps::builder("video/x-raw").field("format", format);
    if let Some(w) = cam.width {
        b = b.field("width", w as i32);
    }
    if let Some(h) = cam.height {
        b = b.field("height", h as i32);
    }
    if let (true, Some(fps)) = (with_rate, cam.fps) {
        b = b.field("framerate", gst::Fraction::new(fps as i32, 1));
    }
    b.build()
}

/// Builds (but does not start) the pipeline for `cam`.
pub fn build(cam: &CaptureSpec) -> Result<CameraPipeline, CaptureError> {
    let pipeline = gst::Pipeline::with_name(&format!("camera-{}", cam.name));
    let convert = make("videoconvert", "convert")?;
    let scale = make("videoscale", "scale")?;
    let caps = make("capsfilter", "outcaps")?;
    let sink = gst_app::AppSink::builder()
        .name("sink")
        .sync(false)
        .max_buffers(2)
        .drop(false)
        .enable_last_sample(false)
        .build();
    let test_source = matches!(cam.source, Source::Test { .. });
    // A rate converter only where the user asked for a rate the source does not produce itself.
    let rate = match (cam.fps, test_source) {
        (Some(_), false) => Some(make("videorate", "rate")?),
        _ => None,
    };
    caps.set_property("caps", output_caps(cam, rate.is_some()));

    pipeline
        .add_many([&convert, &scale, &caps, sink.upcast_ref()])
        .map_err(|e| CaptureError::Build(e.to_string()))?;
    let mut tail: Vec<&gst::Element> = vec![&convert, &scale];
    if let Some(r) = &rate {
        pipeline
            .add(r)
            .map_err(|e| CaptureError::Build(e.to_string()))?;
        tail.push(r);
    }
    tail.push(&caps);
    tail.push(sink.upcast_ref());
    gst::Element::link_many(tail).map_err(|e| CaptureError::Build(e.to_string()))?;

    match &cam.source {
        Source::File(path) => {
            let uri = gst::glib::filename_to_uri(path, None)
                .map_err(|e| CaptureError::Build(e.to_string()))?;
            add_uridecodebin(&pipeline, &convert, uri.as_str(), cam)?;
        }
        Source::Uri(uri) | Source::Rtsp(uri) => add_uridecodebin(&pipeline, &convert, uri, cam)?,
        Source::V4l2(device) => {
            let src = make("v4l2src", "source")?;
            src.set_property("device", device.to_string_lossy().as_ref());
            let decode = make("decodebin3", "decode")?;
            pipeline
                .add_many([&src, &decode])
                .map_err(|e| CaptureError::Build(e.to_string()))?;
            src.link(&decode)
                .map_err(|e| CaptureError::Build(e.to_string()))?;
            link_video_pads(&pipeline, &decode, &convert);
        }
        Source::Test {
            pattern,
            frames,
            live,
        } => {
            let src = make("videotestsrc", "source")?;
            src.set_property_from_str("pattern", pattern);
            src.set_property("is-live", *live);
            if let Some(n) = frames {
                src.set_property("num-buffers", i32::try_from(*n).unwrap_or(i32::MAX));
            }
            let mut b = gst::Caps::builder("video/x-raw");
            if let Some(w) = cam.width {
                b = b.field("width", w as i32);
            }
            if let Some(h) = cam.height {
                b = b.field("height", h as i32);
            }
            if let Some(fps) = cam.fps {
                b = b.field("framerate", gst::Fraction::new(fps as i32, 1));
            }
            let src_caps = make("capsfilter", "srccaps")?;
            src_caps.set_property("caps", b.build());
            pipeline
                .add_many([&src, &src_caps])
                .map_err(|e| CaptureError::Build(e.to_string()))?;
            gst::Element::link_many([&src, &src_caps, &convert])
                .map_err(|e| CaptureError::Build(e.to_string()))?;
        }
    }
    Ok(CameraPipeline { pipeline, sink })
}

/// `uridecodebin3` for files, HTTP and RTSP: it auto-plugs hardware decoders where they exist.
fn add_uridecodebin(
    pipeline: &gst::Pipeline,
    convert: &gst::Element,
    uri: &str,
    cam: &CaptureSpec,
) -> Result<(), CaptureError> {
    let decode = make("uridecodebin3", "source")?;
    decode.set_property("uri", uri);
    let transport = cam.rtsp_transport;
    let latency = cam.latency_ms;
    decode.connect("source-setup", false, move |args| {
        let source = args.get(1).and_then(|v| v.get::<gst::Element>().ok());
        if let Some(src) = source
            && src.has_property("protocols")
            && src.has_property("latency")
        {
            let protocols = match transport {
                RtspTransport::Tcp => "tcp",
                RtspTransport::Udp => "udp",
            };
            src.set_property_from_str("protocols", protocols);
            src.set_property("latency", latency);
            if src.has_property("tcp-timeout") {
                // Fail a silent server in 5 s rather than the default 20 s (microseconds).
                src.set_property("tcp-timeout", 5_000_000u64);
            }
        }
        None
    });
    pipeline
        .add(&decode)
        .map_err(|e| CaptureError::Build(e.to_string()))?;
    link_video_pads(pipeline, &decode, convert);
    Ok(())
}

/// Links the first video pad of a decodebin to `convert`; other streams (audio, subtitles) go to
/// fakesinks so they never stall or fail the pipeline.
fn link_video_pads(pipeline: &gst::Pipeline, decode: &gst::Element, convert: &gst::Element) {
    let pipeline = pipeline.downgrade();
    let convert = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(convert)) = (pipeline.upgrade(), convert.upgrade()) else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"))
            || pad.name().starts_with("video");
        let sinkpad = convert.static_pad("sink");
        if let (true, Some(sinkpad)) = (is_video, sinkpad)
            && !sinkpad.is_linked()
        {
            if let Err(e) = pad.link(&sinkpad) {
                tracing::warn!(pad = %pad.name(), error = ?e, "cannot link video pad");
            }
            return;
        }
        // Not the first video stream: discard it.
        let Ok(fake) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
        else {
            return;
        };
        if pipeline.add(&fake).is_ok() {
            let _ = fake.sync_state_with_parent();
            if let Some(p) = fake.static_pad("sink") {
                let _ = pad.link(&p);
            }
        }
    });
}
