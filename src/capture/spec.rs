//! What capture needs to run one camera: its source, output size and format, queue and reconnect
//! settings, as written in a pipeline file and after validation.

use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::frame::PixelFormat;
use super::source::Source;
use crate::config::RetryConfig;

/// Behaviour of a camera's queue when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueuePolicy {
    /// Drop the oldest queued frame: never lag behind a live camera.
    Latest,
    /// Wait for room: every frame of a file is processed.
    Block,
}

/// RTSP lower transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    #[default]
    Tcp,
    Udp,
}

/// Reconnecting live sources: the shared retry schedule plus how long a silent source is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    /// Backoff between attempts (`initial_ms`, `max_ms`).
    #[serde(flatten)]
    pub retry: RetryConfig,
    /// A source with no frame for this long (milliseconds) is treated as failed.
    #[serde(default = "default_stall_ms")]
    #[schemars(range(min = 100, max = 3_600_000))]
    pub stall_timeout_ms: u64,
}

fn default_stall_ms() -> u64 {
    10_000
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            retry: RetryConfig::default(),
            stall_timeout_ms: default_stall_ms(),
        }
    }
}

/// Default frames held between capture and the next stage.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4;
/// Most frames a camera's queue may hold (a queue is allocated up front).
pub const MAX_QUEUE_CAPACITY: usize = 1024;
/// Default RTSP jitter-buffer latency in milliseconds.
pub const DEFAULT_LATENCY_MS: u32 = 200;

/// A camera's capture settings as written (the camera section holds them beside detection, tracking,
/// rules and privacy, which capture does not need).
#[derive(Debug, Clone)]
pub struct CaptureConfig<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub format: PixelFormat,
    pub queue: Option<QueuePolicy>,
    pub queue_capacity: usize,
    pub rtsp_transport: RtspTransport,
    pub latency_ms: u32,
    pub reconnect: &'a ReconnectConfig,
}

/// A camera after validation: what capture needs to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSpec {
    pub name: String,
    pub source: Source,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub format: PixelFormat,
    pub queue: QueuePolicy,
    pub queue_capacity: usize,
    pub rtsp_transport: RtspTransport,
    pub latency_ms: u32,
    /// Backoff between reconnect attempts.
    pub retry: RetryConfig,
    /// A source silent this long counts as failed.
    pub stall_timeout: Duration,
}

/// Which capture setting is wrong, so the pipeline can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureField {
    Source,
    QueueCapacity,
    Reconnect,
}

impl CaptureSpec {
    /// Checks capture settings: the source parses (files exist, relative paths are taken from
    /// `base`), the queue holds a frame, the reconnect schedule works.
    pub fn new(c: CaptureConfig<'_>, base: &Path) -> Result<Self, (CaptureField, String)> {
        let source = Source::parse(c.source, base).map_err(|m| (CaptureField::Source, m))?;
        if c.queue_capacity == 0 {
            return Err((
                CaptureField::QueueCapacity,
                "`queue_capacity` must be at least 1".into(),
            ));
        }
        c.reconnect
            .retry
            .check()
            .map_err(|m| (CaptureField::Reconnect, format!("`reconnect`: {m}")))?;
        let queue = c.queue.unwrap_or(if source.is_live() {
            QueuePolicy::Latest
        } else {
            QueuePolicy::Block
        });
        Ok(CaptureSpec {
            name: c.name.to_string(),
            source,
            width: c.width,
            height: c.height,
            fps: c.fps,
            format: c.format,
            queue,
            queue_capacity: c.queue_capacity,
            rtsp_transport: c.rtsp_transport,
            latency_ms: c.latency_ms,
            retry: c.reconnect.retry.clone(),
            stall_timeout: Duration::from_millis(c.reconnect.stall_timeout_ms),
        })
    }
}
