//! The top-level `media:` section, as written and after validation: which cameras' pictures are
//! stored where, for how long.

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::ConfigError;
use crate::events::check_kind_name;
use crate::privacy::guard;

/// What media validation needs to know of a camera.
#[derive(Debug, Clone, Copy)]
pub struct MediaCamera<'a> {
    pub name: &'a str,
    /// It runs detection (media is taken from analysed frames).
    pub detects: bool,
    /// It names a face model, so its pictures can be redacted.
    pub redacts_faces: bool,
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
    #[schemars(range(min = 1, max = 100))]
    pub quality: u8,
    /// Snapshots older than this many seconds are deleted (default 604800, a week; 0 keeps them).
    #[serde(default = "week")]
    #[schemars(range(min = 0, max = 315_360_000))]
    pub max_age_s: u64,
    /// The oldest snapshots are deleted while the folder holds more bytes (default 1 GiB).
    #[serde(default = "gib")]
    #[schemars(range(min = 1_048_576, max = 1_125_899_906_842_624_u64))]
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
    #[schemars(range(min = 1, max = 86400))]
    pub segment_s: u64,
    /// Draw boxes and labels of the detections (default true).
    #[serde(default = "yes")]
    pub annotate: bool,
    /// Files older than this many seconds are deleted (default 86400, a day; 0 keeps them).
    #[serde(default = "day")]
    #[schemars(range(min = 0, max = 315_360_000))]
    pub max_age_s: u64,
    /// The oldest files are deleted while the folder holds more bytes (default 4 GiB).
    #[serde(default = "four_gib")]
    #[schemars(range(min = 1_048_576, max = 1_125_899_906_842_624_u64))]
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
    cameras: &[MediaCamera<'_>],
) -> Result<Option<MediaSpec>, ConfigError> {
    let Some(cfg) = cfg else {
        return Ok(None);
    };
    let mut spec = MediaSpec::default();
    if let Some(s) = cfg.snapshots {
        let dir = guard::local_folder(&s.path, "snapshot", file, base)?;
        let cams = media_cameras(&s.cameras, &s.path, "snapshots", file, cameras)?;
        for k in &s.kinds {
            check_kind_name(&k.value).map_err(|m| ConfigError::spanned(file, k, m))?;
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
    cameras: &[MediaCamera<'_>],
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    if listed.is_empty() {
        for c in cameras.iter().filter(|c| c.detects) {
            check_redacted(c, path, section, file)?;
            out.push(c.name.to_string());
        }
        return Ok(out);
    }
    for name in listed {
        let Some(c) = cameras.iter().find(|c| c.name == name.value) else {
            let names: Vec<&str> = cameras.iter().map(|c| c.name).collect();
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
        if !c.detects {
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
        out.push(c.name.to_string());
    }
    Ok(out)
}

fn check_redacted(
    c: &MediaCamera<'_>,
    at: &Spanned<String>,
    section: &str,
    file: &Path,
) -> Result<(), ConfigError> {
    if c.redacts_faces {
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
