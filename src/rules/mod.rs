//! Rules per camera: which tracked objects matter (filters, masks) and what they did (zones, lines,
//! loitering, occupancy), turned into [`Event`](crate::events::Event)s by a [`RuleEngine`].
//!
//! A camera's `rules:` section, e.g.
//! ```yaml
//! rules:
//!   units: relative            # coordinates in 0..1 of the frame (default), or `pixels`
//!   objects: [person, car]     # labels to report; all the model's when absent
//!   filters:
//!     person: { min_score: 0.4, min_area: 0.001, max_ratio: 1.0, threshold: 0.6 }
//!   masks:                     # nothing is reported with its bottom centre in these
//!     - [[0.0, 0.0], [0.3, 0.0], [0.3, 0.1], [0.0, 0.1]]
//!   zones:
//!     - name: road
//!       points: [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]
//!       labels: [car]
//!       inertia: 3
//!       loitering_seconds: 60
//!       occupancy: { threshold: 3 }
//!   lines:
//!     - name: footpath
//!       a: [0.2, 0.5]
//!       b: [0.8, 0.5]
//!       direction: any         # a_to_b: from the left of a->b (seen on the image) to its right
//!       labels: [person]
//! ```
//! Zones, lines and masks judge an object by the bottom centre of its box, where it touches the ground.

mod check;
pub mod engine;
pub mod filter;
pub mod line;
pub mod zone;

use std::collections::HashMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::ConfigError;
use crate::geometry;
pub use engine::{Analytics, Counters, RuleEngine, ZoneCounters};
pub use filter::ObjectFilter;
pub use line::{LineConfig, LineDirection};
pub use zone::{OccupancyConfig, ZoneConfig};

/// A polygon as written: its corners, each with its place in the file.
pub type Polygon = Spanned<Vec<Spanned<geometry::Point>>>;

/// How a point is written, for the JSON Schema: `[x, y]`, each a fraction of the frame
/// (`units: relative`, checked to 0..1 by the rules) or a pixel position.
#[derive(JsonSchema)]
#[serde(transparent)]
#[schemars(rename = "Point")]
#[expect(dead_code, reason = "only its JSON Schema is used")]
pub struct PointSchema([Coordinate; 2]);

/// One coordinate of a point, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(transparent)]
#[expect(dead_code, reason = "only its JSON Schema is used")]
pub struct Coordinate(#[schemars(range(min = 0, max = 65535))] f32);

/// How coordinates in the rules are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Fractions of the frame, 0..1 from the top left: survive a change of resolution (default).
    #[default]
    Relative,
    /// Frame pixels from the top left.
    Pixels,
}

impl Units {
    /// A point in frame pixels for a `width` x `height` frame.
    pub fn to_pixels(self, p: geometry::Point, width: u32, height: u32) -> geometry::Point {
        match self {
            Units::Relative => [p[0] * width as f32, p[1] * height as f32],
            Units::Pixels => p,
        }
    }

    /// An area in these units from one in square pixels.
    pub fn area_from_pixels(self, px: f32, width: u32, height: u32) -> f32 {
        match self {
            Units::Relative => px / (width.max(1) as f32 * height.max(1) as f32),
            Units::Pixels => px,
        }
    }
}

/// The rules of one camera, as written in its `rules:` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Units of every coordinate and area below: `relative` (0..1, default) or `pixels`.
    #[serde(default)]
    pub units: Units,
    /// Labels to track and report; every label of the model when absent.
    #[schemars(with = "Option<Vec<String>>")]
    pub objects: Option<Vec<Spanned<String>>>,
    /// Per-label filters.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, ObjectFilter>")]
    pub filters: HashMap<Spanned<String>, ObjectFilter>,
    /// Polygons where no object is reported (judged on the box's bottom centre).
    #[serde(default)]
    #[schemars(with = "Vec<Vec<crate::rules::PointSchema>>")]
    pub masks: Vec<Polygon>,
    /// Zones: enter/exit, loitering and occupancy events.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Counting lines: crossing events with direction.
    #[serde(default)]
    pub lines: Vec<LineConfig>,
}

impl RulesConfig {
    /// Checks geometry, names, numbers and labels; `labels` are those the camera's model reports
    /// (`None` skips the label check). Errors point at the offending place in `file`.
    pub fn validate(&self, file: &Path, labels: Option<&[&str]>) -> Result<(), ConfigError> {
        check::Checker::new(file, self, labels).run()
    }

    /// The filter for `label`, if any.
    pub fn filter(&self, label: &str) -> Option<&ObjectFilter> {
        self.filters
            .iter()
            .find(|(k, _)| k.value == label)
            .map(|(_, f)| f)
    }
}
