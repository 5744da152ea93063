//! The `privacy:` section of a camera and the top-level `media:` section, as written and after
//! validation.
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
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::guard;
use super::regions::RedactStyle;
use crate::capture::source::Camera;
use crate::config::ConfigError;
use crate::config::models::ModelSpec;
use crate::events::KIND_NAMES;
use crate::rules::geometry::Point;
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
    #[schemars(with = "Option<f32>")]
    pub margin: Option<Spanned<f32>>,
    /// How faces are hidden: `blur` (default), `pixelate` or `fill` (black).
    #[serde(default)]
    pub style: RedactStyle,
    /// Units of the mask corners: `relative` (0..1 of the frame, default) or `pixels`.
    #[serde(default)]
    pub units: Units,
    /// Privacy-mask polygons, filled black on every stored picture (a neighbour's window, a street).
    #[serde(default)]
    #[schemars(with = "Vec<Vec<[f32; 2]>>")]
    pub masks: Vec<Polygon>,
    /// Most milliseconds face detection and redaction of one frame may take; when it takes
    /// longer, nothing of that frame is stored (default 1000).
    #[schemars(with = "Option<u64>")]
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

/// Checks a camera's `privacy:` section.
pub fn validate_camera(
    cfg: &PrivacyConfig,
    file: &Path,
    models: &BTreeMap<String, ModelSpec>,
) -> Result<CameraPrivacy, ConfigError> {
    let faces = match &cfg.faces {
        None => None,
        Some(name) => {
            let Some(spec) = models.get(&name.value) else {
                let names: Vec<&str> = models.keys().map(String::as_str).collect();
                let mut msg = format!(
                    "`privacy.faces`: model `{}` is not in `models:`; add a face model there, e.g. \
                     `faces: {{manifest: ../models/centerface.yaml}}`",
                    name.value
                );
                if let Some(close) =
                    crate::config::error::closest(&name.value, names.iter().copied())
                {
                    msg.push_str(&format!("; did you mean `{close}`?"));
                }
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

/// The top-level `media:` section: pictures kept on this machine, always redacted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// One JPEG per event, taken from the frame the event came from.
    pub snapshots: Option<SnapshotConfig>,
    /// A debug video of the analysed frames with boxes and labels drawn (H.264 in MP4 segments).
    pub recording: Option<RecordingConfig>,
}

/// `media.snapshots`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// Folder on this machine (relative to the pipeline file); files are
    /// `<path>/<camera>/<event id>.jpg`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// Cameras to take snapshots of (default: every camera with `detect`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cameras: Vec<Spanned<String>>,
    /// Event kinds that get a snapshot (default: all; `object` events only when `type: new`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub kinds: Vec<Spanned<String>>,
    /// JPEG quality, 1..100 (default 85).
    #[serde(default = "default_quality")]
    pub quality: u8,
    /// Snapshots older than this many seconds are deleted (default 604800, a week; 0 keeps them).
    #[serde(default = "week")]
    pub max_age_s: u64,
    /// The oldest snapshots are deleted while the folder holds more bytes (default 1 GiB).
    #[serde(default = "gib")]
    pub max_bytes: u64,
}

/// `media.recording`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// Folder on this machine (relative to the pipeline file); files are
    /// `<path>/<camera>/<camera>-<UTC start>.mp4`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// Cameras to record (default: every camera with `detect`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cameras: Vec<Spanned<String>>,
    /// Start a new file after this many seconds of media time (default 300).
    #[serde(default = "five_minutes")]
    pub segment_s: u64,
    /// Draw boxes and labels of the detections (default true).
    #[serde(default = "yes")]
    pub annotate: bool,
    /// Files older than this many seconds are deleted (default 86400, a day; 0 keeps them).
    #[serde(default = "day")]
    pub max_age_s: u64,
    /// The oldest files are deleted while the folder holds more bytes (default 4 GiB).
    #[serde(default = "four_gib")]
    pub max_bytes: u64,
}

fn default_quality() -> u8 {
    85
}
fn week() -> u64 {
    7 * 86_400
}
fn day() -> u64 {
    86_400
}
fn gib() -> u64 {
    1 << 30
}
fn four_gib() -> u64 {
    4 << 30
}
fn five_minutes() -> u64 {
    300
}
fn yes() -> bool {
    true
}

/// How long and how much stored media is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Files older than this are deleted; `None` keeps them regardless of age.
    pub max_age: Option<Duration>,
    /// The oldest files are deleted while the folder holds more.
    pub max_bytes: u64,
}

impl Retention {
    fn new(max_age_s: u64, max_bytes: u64) -> Self {
        Retention {
            max_age: (max_age_s > 0).then(|| Duration::from_secs(max_age_s)),
            max_bytes,
        }
    }
}

/// `media.snapshots` after validation.
#[derive(Debug, Clone)]
pub struct SnapshotSpec {
    pub dir: PathBuf,
    pub cameras: Vec<String>,
    /// Event kinds that get a snapshot; empty means all.
    pub kinds: Vec<String>,
    pub quality: u8,
    pub retention: Retention,
}

/// `media.recording` after validation.
#[derive(Debug, Clone)]
pub struct RecordingSpec {
    pub dir: PathBuf,
    pub cameras: Vec<String>,
    pub segment: Duration,
    pub annotate: bool,
    pub retention: Retention,
}

/// What a pipeline stores on this machine.
#[derive(Debug, Clone, Default)]
pub struct MediaSpec {
    pub snapshots: Option<SnapshotSpec>,
    pub recording: Option<RecordingSpec>,
}

impl MediaSpec {
    /// Whether anything of `camera` is stored.
    pub fn stores(&self, camera: &str) -> bool {
        self.snapshots
            .as_ref()
            .is_some_and(|s| s.cameras.iter().any(|c| c == camera))
            || self
                .recording
                .as_ref()
                .is_some_and(|r| r.cameras.iter().any(|c| c == camera))
    }
}

/// Checks the `media:` section against the validated cameras.
pub fn validate_media(
    cfg: Option<MediaConfig>,
    file: &Path,
    base: &Path,
    cameras: &[Camera],
) -> Result<Option<MediaSpec>, ConfigError> {
    let Some(cfg) = cfg else {
        return Ok(None);
    };
    let mut spec = MediaSpec::default();
    if let Some(s) = cfg.snapshots {
        let dir = guard::local_folder(&s.path, "snapshot", file, base)?;
        let cams = media_cameras(&s.cameras, &s.path, "snapshots", file, cameras)?;
        for k in &s.kinds {
            if !KIND_NAMES.contains(&k.value.as_str()) {
                return Err(ConfigError::spanned(
                    file,
                    k,
                    format!(
                        "unknown event kind `{}`, expected one of {}",
                        k.value,
                        KIND_NAMES.join(", ")
                    ),
                ));
            }
        }
        if !(1..=100).contains(&s.quality) {
            return Err(ConfigError::spanned(
                file,
                &s.path,
                format!("`quality` must be in 1..100, got {}", s.quality),
            ));
        }
        spec.snapshots = Some(SnapshotSpec {
            dir,
            cameras: cams,
            kinds: s.kinds.iter().map(|k| k.value.clone()).collect(),
            quality: s.quality,
            retention: Retention::new(s.max_age_s, s.max_bytes),
        });
    }
    if let Some(r) = cfg.recording {
        if !cfg!(feature = "capture") {
            return Err(ConfigError::spanned(
                file,
                &r.path,
                "`media.recording` needs a build with the `capture` feature (GStreamer)",
            ));
        }
        let dir = guard::local_folder(&r.path, "recording", file, base)?;
        let cams = media_cameras(&r.cameras, &r.path, "recording", file, cameras)?;
        if r.segment_s == 0 {
            return Err(ConfigError::spanned(
                file,
                &r.path,
                "`segment_s` must be at least 1",
            ));
        }
        spec.recording = Some(RecordingSpec {
            dir,
            cameras: cams,
            segment: Duration::from_secs(r.segment_s),
            annotate: r.annotate,
            retention: Retention::new(r.max_age_s, r.max_bytes),
        });
    }
    Ok(Some(spec))
}

/// The cameras a media section applies to: those listed, or every camera with detection. Each
/// must run detection (media is taken from analysed frames) and name a face model.
fn media_cameras(
    listed: &[Spanned<String>],
    path: &Spanned<String>,
    section: &str,
    file: &Path,
    cameras: &[Camera],
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    if listed.is_empty() {
        for c in cameras.iter().filter(|c| c.detect.is_some()) {
            check_redacted(c, path, section, file)?;
            out.push(c.name.clone());
        }
        return Ok(out);
    }
    for name in listed {
        let Some(c) = cameras.iter().find(|c| c.name == name.value) else {
            let names: Vec<&str> = cameras.iter().map(|c| c.name.as_str()).collect();
            return Err(ConfigError::spanned(
                file,
                name,
                format!(
                    "`media.{section}` names camera `{}`, which is not in `cameras` ({})",
                    name.value,
                    names.join(", ")
                ),
            ));
        };
        if c.detect.is_none() {
            return Err(ConfigError::spanned(
                file,
                name,
                format!(
                    "`media.{section}`: camera `{}` has no `detect`, and media is taken from \
                     analysed frames",
                    c.name
                ),
            ));
        }
        check_redacted(c, name, section, file)?;
        out.push(c.name.clone());
    }
    Ok(out)
}

fn check_redacted(
    c: &Camera,
    at: &Spanned<String>,
    section: &str,
    file: &Path,
) -> Result<(), ConfigError> {
    if c.privacy.as_ref().is_some_and(|p| p.faces.is_some()) {
        return Ok(());
    }
    Err(ConfigError::spanned(
        file,
        at,
        format!(
            "`media.{section}` would store pictures of camera `{}`, which has no face model: \
             lookout redacts faces before it stores anything. Add one under `models:` (e.g. \
             `faces: {{manifest: ../models/centerface.yaml}}`) and `privacy: {{faces: faces}}` to \
             the camera, or leave it out of `media.{section}.cameras`",
            c.name
        ),
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, Pipeline, load_str};
    use std::path::Path;

    fn load(privacy: &str, media: &str) -> Result<Pipeline, ConfigError> {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = format!(
            "models:\n  faces: {{manifest: {root}/models/centerface.yaml}}\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
             cameras:\n  - name: gate\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects}}\n    privacy: {privacy}\n{media}"
        );
        load_str(&text, Path::new("/tmp/p.yaml"), |_| None)
    }

    #[test]
    fn privacy_defaults_and_pixels() {
        let p = load(
            "{faces: faces, masks: [[[0.5, 0], [1, 0], [1, 0.5]]]}",
            "media: {snapshots: {path: snaps}}\n",
        )
        .unwrap();
        let c = p.cameras[0].privacy.clone().unwrap();
        assert_eq!(c.faces.as_deref(), Some("faces"));
        assert_eq!(c.margin, super::DEFAULT_MARGIN);
        assert_eq!(
            c.deadline.as_millis(),
            u128::from(super::DEFAULT_DEADLINE_MS)
        );
        assert_eq!(
            c.masks_in_pixels(200, 100),
            vec![vec![[100.0, 0.0], [200.0, 0.0], [200.0, 50.0]]]
        );
        let media = p.media.unwrap();
        let s = media.snapshots.unwrap();
        assert_eq!(s.dir, Path::new("/tmp/snaps"));
        assert_eq!(s.cameras, vec!["gate".to_string()]);
        assert_eq!(s.retention.max_bytes, 1 << 30);
        assert!(media.recording.is_none());
    }

    #[test]
    fn privacy_errors_point_at_their_place() {
        let e = load("{faces: face}", "").unwrap_err();
        assert_eq!((e.line, e.column), (8, 22), "{e}");
        assert!(e.message.contains("did you mean `faces`?"), "{e}");
        let e = load("{faces: faces, margin: 3}", "").unwrap_err();
        assert_eq!((e.line, e.column), (8, 37), "{e}");
        let e = load("{masks: [[[0, 0], [1, 1]]]}", "").unwrap_err();
        assert!(
            e.message
                .starts_with("`privacy.masks`: mask 1: a polygon needs at least 3 points"),
            "{e}"
        );
        let e = load(
            "{faces: faces}",
            "media: {recording: {path: r, cameras: [gat]}}\n",
        )
        .unwrap_err();
        assert!(e.message.contains("names camera `gat`"), "{e}");
        let e = load(
            "{faces: faces}",
            "media: {snapshots: {path: s, kinds: [crossing]}}\n",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown event kind `crossing`"), "{e}");
    }
}
