//! The privacy boundary: footage never leaves the device, stored media is redacted, and what
//! does leave is auditable.
//!
//! - Structurally, sinks take [`Event`](crate::events::Event)s only ([`Sinks::publish`](crate::sinks::Sinks::publish)),
//!   and no event field can hold pixels; `tests/privacy_boundary.rs` proves with compile-fail
//!   tests that frames, tensors, images and bytes cannot be handed to a sink.
//! - [`guard`] refuses, at validation, any setting that would send video or pictures elsewhere
//!   (image attachments on webhooks, restreams, media folders on other machines).
//! - [`redact`] hides faces (found by [`faces`] on the same frame, grown by a margin) and
//!   privacy-mask polygons on the GPU, before anything encodes a frame.
//! - [`media`] stores per-event snapshots and an annotated debug recording on local disk, with
//!   retention, and only after redaction succeeded in time: otherwise nothing is written (fail
//!   closed), and the miss is logged and counted in `lookout_media_withheld_total`.
//! - The egress audit of a whole pipeline (`lookout audit`) lives with the pipeline, above this layer.

pub mod config;
pub mod faces;
pub mod guard;
pub mod media;
pub mod redact;
pub mod regions;
pub mod retention;
pub mod snapshot;
#[cfg(feature = "capture")]
pub mod video;

pub use config::{CameraPrivacy, PrivacyConfig};
pub use faces::FaceFinder;
pub use media::{MediaCamera, MediaConfig, MediaSpec, validate_media};
pub use redact::Redactor;
pub use regions::{RedactStyle, Regions};

use std::path::PathBuf;

/// What went wrong with a face model.
#[derive(Debug, thiserror::Error)]
pub enum FaceModelError {
    /// The model reports no `face` label.
    #[error("the model does not detect faces")]
    NotFaces,
    /// No backend could load it.
    #[error(transparent)]
    Backend(#[from] crate::model::SelectError),
    /// Its decoder could not be prepared, or it failed on a frame.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
}

impl FaceModelError {
    /// Whether the model itself is at fault (not the machine): bad input for the CLI.
    pub fn is_bad_model(&self) -> bool {
        match self {
            FaceModelError::NotFaces => true,
            FaceModelError::Backend(e) => e.is_bad_model(),
            FaceModelError::Detect(e) => e.is_bad_model(),
        }
    }
}

/// Why a frame could not be redacted or stored.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The face model could not be loaded or failed on a frame.
    #[error("face model `{model}`: {cause}")]
    FaceModel {
        model: String,
        cause: FaceModelError,
    },
    /// The GPU could not be opened or failed while redacting.
    #[error("GPU redaction: {0}")]
    Gpu(String),
    /// The frame does not fit its own description (size, planes).
    #[error("bad frame: {0}")]
    Frame(String),
    /// Encoding a picture or video failed.
    #[error("encoding: {0}")]
    Encode(String),
    /// A file could not be written, read or removed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
