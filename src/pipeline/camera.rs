//! One camera of a pipeline: its section as written, and the validated bundle of what runs for it
//! (capture, the detection schedule, tracker, rules and privacy).

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::capture::PixelFormat;
use crate::capture::spec::{
    CaptureConfig, CaptureField, CaptureSpec, DEFAULT_LATENCY_MS, DEFAULT_QUEUE_CAPACITY,
    MAX_QUEUE_CAPACITY, QueuePolicy, ReconnectConfig, RtspTransport,
};
use crate::config::ConfigError;
use crate::model::ModelSpec;
use crate::motion::MotionConfig;
use crate::privacy::{CameraPrivacy, PrivacyConfig};
use crate::rules::RulesConfig;
use crate::schedule::{CameraDetect, DetectConfig};
use crate::track::TrackerConfig;

/// One camera as written in a pipeline file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique name, used in logs, metric labels and events.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Where frames come from: a file path (relative to the pipeline file), a URI (`file://`,
    /// `http(s)://`), `rtsp://user:pass@host/path`, a V4L2 device (`/dev/video0` or `v4l2:///dev/video0`),
    /// or a test pattern (`test:smpte`, `test:ball?frames=300`).
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// Scale frames to this width (pixels); native size when unset.
    #[schemars(range(min = 1, max = 16384))]
    pub width: Option<u32>,
    /// Scale frames to this height (pixels); native size when unset.
    #[schemars(range(min = 1, max = 16384))]
    pub height: Option<u32>,
    /// Frame rate to request (V4L2, test patterns) or to convert to; native rate when unset.
    #[schemars(range(min = 1, max = 1000))]
    pub fps: Option<u32>,
    /// Pixel format handed to inference: `nv12` (default, what decoders produce) or `rgba`.
    #[serde(default = "default_format")]
    pub format: PixelFormat,
    /// What to do when the consumer is slower than the camera: `latest` drops the oldest frame
    /// (default for live sources), `block` waits and processes every frame (default for files).
    pub queue: Option<QueuePolicy>,
    /// Frames the queue holds between capture and the next stage.
    #[serde(default = "default_capacity")]
    #[schemars(range(min = 1, max = MAX_QUEUE_CAPACITY))]
    pub queue_capacity: usize,
    /// RTSP transport: `tcp` (default, works through NAT and firewalls) or `udp`.
    #[serde(default)]
    pub rtsp_transport: RtspTransport,
    /// RTSP jitter-buffer latency in milliseconds.
    #[serde(default = "default_latency_ms")]
    #[schemars(range(min = 0, max = 60000))]
    pub latency_ms: u32,
    /// Reconnect backoff for live sources.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// Object detection on this camera (which model, how often); none when absent.
    pub detect: Option<DetectConfig>,
    /// Multi-object tracker settings.
    #[serde(default)]
    pub tracker: TrackerConfig,
    /// Zones, lines, loitering, occupancy, filters and masks.
    #[serde(default)]
    pub rules: RulesConfig,
    /// What is hidden on every picture stored from this camera: faces (a face model from
    /// `models:`), privacy-mask polygons, the redaction style.
    pub privacy: Option<PrivacyConfig>,
    /// Motion gating of detection: where and how motion is found (on by default).
    #[serde(default)]
    pub motion: MotionConfig,
}

fn default_format() -> PixelFormat {
    PixelFormat::Nv12
}
fn default_capacity() -> usize {
    DEFAULT_QUEUE_CAPACITY
}
fn default_latency_ms() -> u32 {
    DEFAULT_LATENCY_MS
}

/// A camera after validation: everything that runs for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// What capture needs: source, size, format, queue, reconnects.
    pub capture: CaptureSpec,
    /// Detection: the model's name and the rate; `None` when the camera only captures.
    pub detect: Option<CameraDetect>,
    pub tracker: TrackerConfig,
    pub rules: RulesConfig,
    /// Redaction of stored media; `None` when the camera has no `privacy:` section.
    pub privacy: Option<CameraPrivacy>,
    /// Motion gating of detection.
    pub motion: MotionConfig,
}

impl Camera {
    /// The camera's unique name.
    pub fn name(&self) -> &str {
        &self.capture.name
    }
}

impl CameraConfig {
    /// Checks this camera against the pipeline's models; relative sources are taken from `base`.
    pub fn validate(
        &self,
        file: &Path,
        base: &Path,
        models: &BTreeMap<String, ModelSpec>,
    ) -> Result<Camera, ConfigError> {
        let capture = CaptureSpec::new(
            CaptureConfig {
                name: self.name.value.trim(),
                source: &self.source.value,
                width: self.width,
                height: self.height,
                fps: self.fps,
                format: self.format,
                queue: self.queue,
                queue_capacity: self.queue_capacity,
                rtsp_transport: self.rtsp_transport,
                latency_ms: self.latency_ms,
                reconnect: &self.reconnect,
            },
            base,
        )
        .map_err(|(field, m)| match field {
            CaptureField::Source => ConfigError::spanned(file, &self.source, m),
            CaptureField::QueueCapacity | CaptureField::Reconnect => {
                ConfigError::spanned(file, &self.name, m)
            }
        })?;
        let detect = match &self.detect {
            None => {
                self.rules.validate(file, None)?;
                None
            }
            Some(d) => {
                let (detect, model) = d.validate(file, models, capture.source.is_live())?;
                let labels: Vec<&str> = model.manifest.labels.iter().map(|l| &**l).collect();
                self.rules.validate(file, Some(&labels))?;
                Some(detect)
            }
        };
        self.tracker
            .check()
            .map_err(|m| ConfigError::spanned(file, &self.name, format!("`tracker`: {m}")))?;
        let privacy = match &self.privacy {
            Some(p) => Some(p.validate(file, models)?),
            None => None,
        };
        self.motion
            .check()
            .map_err(|(i, m)| ConfigError::spanned(file, &self.motion.masks[i], m))?;
        Ok(Camera {
            capture,
            detect,
            tracker: self.tracker.clone(),
            rules: self.rules.clone(),
            privacy,
            motion: self.motion.clone(),
        })
    }
}
