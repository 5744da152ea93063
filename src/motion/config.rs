//! A camera's `motion:` section: how motion is found, and how it gates detection.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A polygon of `[x, y]` corners, fractions of the frame (0..1).
pub type MaskPolygon = Vec<[f32; 2]>;

/// `motion:` as written; every field has a default that works on the bundled footage.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionConfig {
    /// Run the detector only where something moves (default true); `false` detects on every
    /// admitted frame, whole.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Change in grey level (0..255) between a pixel and its background that counts as motion.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 1, max = 255))]
    pub threshold: u8,
    /// Smallest moving area that counts, as a fraction of the frame.
    #[serde(default = "default_min_area")]
    #[schemars(range(min = 0, max = 1))]
    pub min_area: f32,
    /// Stretch each frame's grey levels to the full range before comparing (helps dim scenes
    /// and infrared; off by default).
    #[serde(default)]
    pub contrast: bool,
    /// Height in pixels of the grey picture motion is computed on (the width follows the
    /// frame's aspect ratio); smaller is cheaper and ignores smaller things.
    #[serde(default = "default_frame_height")]
    #[schemars(range(min = 16, max = 1080))]
    pub frame_height: u32,
    /// How fast the background follows the scene: the weight of each new frame (0..1).
    #[serde(default = "default_alpha")]
    #[schemars(range(min = 0.001, max = 1))]
    pub alpha: f32,
    /// A frame where more than this fraction changes at once (lights, an infrared switch, a
    /// camera that moved) resets the background instead of counting as motion everywhere.
    #[serde(default = "default_calibrate_above")]
    #[schemars(range(min = 0.05, max = 1))]
    pub calibrate_above: f32,
    /// Areas where motion is ignored (a tree, a road, a clock): polygons in fractions of the frame.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<crate::motion::config::CornerSchema>>")]
    pub masks: Vec<Spanned<MaskPolygon>>,
    /// Seconds between full-frame detections even without motion, so that nothing present
    /// before lookout started, or standing still since, is missed (default 30).
    #[serde(default = "default_full_frame_interval")]
    #[schemars(range(min = 1, max = 3600))]
    pub full_frame_interval: f64,
    /// Seconds between re-checks of tracked objects that stopped moving (default 2): they stay
    /// tracked, for loitering and occupancy, without a detection on every frame.
    #[serde(default = "default_stationary_interval")]
    #[schemars(range(min = 0.1, max = 600))]
    pub stationary_interval: f64,
    /// Most regions detected per frame; more motion than that is detected as one full frame.
    #[serde(default = "default_max_regions")]
    #[schemars(range(min = 1, max = 32))]
    pub max_regions: usize,
    /// When motion areas cover more than this fraction of the frame for `runaway_seconds` (rain,
    /// snow, a spider web at night, sensor noise), detection falls back to full frames at
    /// `runaway_fps` until it calms.
    #[serde(default = "default_runaway_fraction")]
    #[schemars(range(min = 0.01, max = 1))]
    pub runaway_fraction: f32,
    /// How long motion must stay above `runaway_fraction` before falling back.
    #[serde(default = "default_runaway_seconds")]
    #[schemars(range(min = 0.5, max = 600))]
    pub runaway_seconds: f64,
    /// Full-frame detections per second while motion runs away.
    #[serde(default = "default_runaway_fps")]
    #[schemars(range(min = 0.01, max = 30))]
    pub runaway_fps: f64,
    /// Run the motion pass on this GPU (`high-performance`, `low-power` or part of an adapter's
    /// name, as a model's `adapter:`) instead of the camera's thread on the CPU: only the frame
    /// rows the pass samples are uploaded; the background stays on the GPU. Unset: the CPU.
    #[serde(default)]
    pub gpu: Option<String>,
}

/// One corner of a motion mask, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(transparent)]
#[expect(dead_code, reason = "only its JSON Schema is used")]
pub struct CornerSchema([MaskCoordinate; 2]);

/// One coordinate of a motion mask corner, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(transparent)]
#[expect(dead_code, reason = "only its JSON Schema is used")]
pub struct MaskCoordinate(#[schemars(range(min = 0, max = 1))] f32);

fn yes() -> bool {
    true
}
fn default_threshold() -> u8 {
    25
}
fn default_min_area() -> f32 {
    0.0005
}
fn default_frame_height() -> u32 {
    120
}
fn default_alpha() -> f32 {
    0.05
}
fn default_calibrate_above() -> f32 {
    0.5
}
fn default_full_frame_interval() -> f64 {
    30.0
}
fn default_stationary_interval() -> f64 {
    2.0
}
fn default_max_regions() -> usize {
    4
}
fn default_runaway_fraction() -> f32 {
    0.25
}
fn default_runaway_seconds() -> f64 {
    2.0
}
fn default_runaway_fps() -> f64 {
    1.0
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: default_threshold(),
            min_area: default_min_area(),
            contrast: false,
            frame_height: default_frame_height(),
            alpha: default_alpha(),
            calibrate_above: default_calibrate_above(),
            masks: Vec::new(),
            full_frame_interval: default_full_frame_interval(),
            stationary_interval: default_stationary_interval(),
            max_regions: default_max_regions(),
            runaway_fraction: default_runaway_fraction(),
            runaway_seconds: default_runaway_seconds(),
            runaway_fps: default_runaway_fps(),
            gpu: None,
        }
    }
}

impl MotionConfig {
    /// Checks what the schema's ranges cannot: masks have at least 3 corners.
    pub fn check(&self) -> Result<(), (usize, String)> {
        for (i, m) in self.masks.iter().enumerate() {
            if m.value.len() < 3 {
                return Err((
                    i,
                    format!(
                        "`motion.masks`: mask {} needs at least 3 corners, got {}",
                        i + 1,
                        m.value.len()
                    ),
                ));
            }
            if m.value.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                return Err((
                    i,
                    format!(
                        "`motion.masks`: mask {} has a corner outside 0..1 (fractions of the frame)",
                        i + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The masks as plain polygons.
    pub fn mask_polygons(&self) -> Vec<MaskPolygon> {
        self.masks.iter().map(|m| m.value.clone()).collect()
    }
}
