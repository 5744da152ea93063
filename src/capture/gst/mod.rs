//! GStreamer capture: one thread per camera, reconnecting live sources with backoff.

mod camera;
mod convert;
mod decode;
mod pipeline;

pub use camera::{CameraHandle, CameraReport, spawn_camera};
pub use decode::{DecodedFrame, STALL, VideoDecoder};

/// Why a camera could not be opened or stopped streaming.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaptureError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("GStreamer element `{0}` is missing: install the GStreamer plugins (see deps.sh)")]
    MissingElement(String),
    #[error("cannot build the pipeline: {0}")]
    Build(String),
    #[error("cannot start the source: {0}")]
    Start(String),
    #[error("{0}")]
    Stream(String),
    #[error("no frame for {0:.1} s")]
    Stall(f64),
    #[error("bad frame from the decoder: {0}")]
    Frame(String),
    #[error("{0}")]
    Truncated(String),
}

impl CaptureError {
    /// The `kind` label of `lookout_source_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            CaptureError::Init(_) | CaptureError::MissingElement(_) | CaptureError::Build(_) => {
                "setup"
            }
            CaptureError::Start(_) => "open",
            CaptureError::Stream(_) => "stream",
            CaptureError::Stall(_) => "stall",
            CaptureError::Frame(_) => "frame",
            CaptureError::Truncated(_) => "truncated",
        }
    }
}

/// Initialises GStreamer once per process (safe to call repeatedly).
pub fn init() -> Result<(), CaptureError> {
    gstreamer::init().map_err(|e| CaptureError::Init(e.to_string()))
}
