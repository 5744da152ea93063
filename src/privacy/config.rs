//! The `privacy:` section of a camera, as written and after validation (the top-level `media:`
//! section is in [`crate::privacy::media::config`]).
//!
//! ```yaml
//! models:
//!   faces: {manifest: ../models/centerface.yaml}
//! cameras:
//!   - name: door
//!     source: rtsp://...
//!     detect: {model: objects}
//!     privacy:
//!       faces: faces          # face model from `models:` (CenterFace or BlazeFace)
//!       margin: 0.25          # each face box grown by 25 % of its size on every side
//!       style: blur           # blur (default), pixelate or fill
//!       units: relative       # mask coordinates: relative (default) or pixels
//!       masks:                # filled black on everything stored
//!         - [[0.7, 0.0], [1.0, 0.0], [1.0, 0.4], [0.7, 0.4]]
//!       deadline_ms: 1000     # face model + redaction per frame; past it nothing is stored
//! media:
//!   snapshots: {path: media/snapshots, max_age_s: 604800, max_bytes: 1073741824}
//!   recording: {path: media/recordings, segment_s: 300, max_age_s: 86400}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::regions::RedactStyle;
use crate::config::{ConfigError, did_you_mean};
use crate::geometry::Point;
use crate::model::ModelSpec;
use crate::rules::{Polygon, RulesConfig, Units};

/// Default growth of each face box, as a fraction of its width and height per side.
pub const DEFAULT_MARGIN: f32 = 0.25;
/// Default time allowed for face detection plus redaction of one frame.
pub const DEFAULT_DEADLINE_MS: u64 = 1000;

/// A camera's `privacy:` section: what is hidden on every picture stored from it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Face model (a name from `models:`: CenterFace or BlazeFace) run on every frame before it
    /// is stored; each face found is redacted. Required for cameras that store media.
    #[schemars(with = "Option<String>")]
    pub faces: Option<Spanned<String>>,
    /// Each face box grows by this fraction of its width (left and right) and height (top and
    /// bottom) before redaction (default 0.25).
    #[schemars(with = "Option<f32>", range(min = 0, max = 2))]
    pub margin: Option<Spanned<f32>>,
    /// How faces are hidden: `blur` (default), `pixelate` or `fill` (black).
    #[serde(default)]
    pub style: RedactStyle,
    /// Units of the mask corners: `relative` (0..1 of the frame, default) or `pixels`.
    #[serde(default)]
    pub units: Units,
    /// Privacy-mask polygons, filled black on every stored picture (a neighbour's window, a street).
    #[serde(default)]
    #[schemars(with = "Vec<Vec<crate::rules::PointSchema>>")]
    pub masks: Vec<Polygon>,
    /// Most milliseconds face detection and redaction of one frame may take; when it takes
    /// longer, nothing of that frame is stored (default 1000; 0 stores nothing at all).
    #[schemars(with = "Option<u64>", range(min = 0, max = 60000))]
    pub deadline_ms: Option<Spanned<u64>>,
}

/// A camera's privacy settings after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPrivacy {
    /// Face model name from `models:`; `None` redacts masks only.
    pub faces: Option<String>,
    pub margin: f32,
    pub style: RedactStyle,
    pub units: Units,
    /// Mask polygons in `units`.
    pub masks: Vec<Vec<Point>>,
    pub deadline: Duration,
}

impl CameraPrivacy {
    /// The masks in pixels of a `width` x `height` frame.
    pub fn masks_in_pixels(&self, width: u32, height: u32) -> Vec<Vec<Point>> {
        self.masks
            .iter()
            .map(|m| {
                m.iter()
                    .map(|&p| self.units.to_pixels(p, width, height))
                    .collect()
            })
            .collect()
    }
}

impl PrivacyConfig {
    /// Checks this section: the face model exists and detects faces, margin, masks and deadline
    /// are in range.
    pub fn validate(
        &self,
        file: &Path,
        models: &BTreeMap<String, ModelSpec>,
    ) -> Result<CameraPrivacy, ConfigError> {
        validate(self, file, models)
    }
}

fn validate(
    cfg: &PrivacyConfig,
    file: &Path,
    models: &BTreeMap<String, ModelSpec>,
) -> Result<CameraPrivacy, ConfigError> {
    let faces = match &cfg.faces {
        None => None,
        Some(name) => {
            let Some(spec) = models.get(&name.value) else {
                let names: Vec<&str> = models.keys().map(String::as_str).collect();
                let msg = format!(
                    "`privacy.faces`: model `{}` is not in `models:`; add a face model there, e.g. \
                     `faces: {{manifest: ../models/centerface.yaml}}`{}",
                    name.value,
                    did_you_mean(&name.value, names.iter().copied())
                );
                return Err(ConfigError::spanned(file, name, msg));
            };
            if !super::faces::detects_faces(&spec.manifest) {
                return Err(ConfigError::spanned(
                    file,
                    name,
                    format!(
                        "`privacy.faces`: model `{}` ({}) does not detect faces; use CenterFace \
                         or BlazeFace (models/centerface.yaml, models/blazeface-*.yaml)",
                        name.value, spec.manifest.name
                    ),
                ));
            }
            Some(name.value.clone())
        }
    };
    let margin = match &cfg.margin {
        None => DEFAULT_MARGIN,
        Some(m) if (0.0..=2.0).contains(&m.value) => m.value,
        Some(m) => {
            return Err(ConfigError::spanned(
                file,
                m,
                format!(
                    "`privacy.margin` is a fraction of the face box per side in 0..2, got {}",
                    m.value
                ),
            ));
        }
    };
    // Masks are checked like rule masks (at least 3 corners, coordinates in range).
    RulesConfig {
        units: cfg.units,
        masks: cfg.masks.clone(),
        ..RulesConfig::default()
    }
    .validate(file, None)
    .map_err(|e| ConfigError {
        message: format!("`privacy.masks`: {}", e.message),
        ..e
    })?;
    let deadline_ms = match &cfg.deadline_ms {
        None => DEFAULT_DEADLINE_MS,
        Some(d) if d.value <= 60_000 => d.value,
        Some(d) => {
            return Err(ConfigError::spanned(
                file,
                d,
                format!(
                    "`privacy.deadline_ms` must be at most 60000, got {}",
                    d.value
                ),
            ));
        }
    };
    Ok(CameraPrivacy {
        faces,
        margin,
        style: cfg.style,
        units: cfg.units,
        masks: cfg
            .masks
            .iter()
            .map(|m| m.value.iter().map(|p| p.value).collect())
            .collect(),
        deadline: Duration::from_millis(deadline_ms),
    })
}
