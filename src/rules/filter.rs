//! Object filters: which detections are worth tracking (score, size, shape, masks) and which tracks
//! are worth reporting (median score).

use schemars::JsonSchema;
use serde::Deserialize;

use super::Polygon;

/// Filters for one label (Frigate's `objects.filters.<label>`). Sizes are in the rules' `units`:
/// areas as a fraction of the frame (relative) or in square pixels.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectFilter {
    /// Detections scoring below this are dropped before tracking.
    #[schemars(range(min = 0, max = 1))]
    pub min_score: Option<f32>,
    /// Smallest box area kept.
    #[schemars(range(min = 0, max = 1e10))]
    pub min_area: Option<f32>,
    /// Largest box area kept.
    #[schemars(range(min = 0, max = 1e10))]
    pub max_area: Option<f32>,
    /// Smallest width / height kept (a standing person is about 0.4).
    #[schemars(range(min = 0, max = 1000))]
    pub min_ratio: Option<f32>,
    /// Largest width / height kept.
    #[schemars(range(min = 0, max = 1000))]
    pub max_ratio: Option<f32>,
    /// A track is reported only once the median of its recent scores reaches this (Frigate's
    /// `threshold`): one lucky frame does not make an object.
    #[schemars(range(min = 0, max = 1))]
    pub threshold: Option<f32>,
    /// Polygons where this label is never reported, judged on the box's bottom centre.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<crate::rules::PointSchema>>")]
    pub masks: Vec<Polygon>,
}

impl ObjectFilter {
    /// Whether a detection of this label with `score`, box `w` x `h` and area `area` (in the rules'
    /// units) passes the score, size and shape tests.
    pub fn passes(&self, score: f32, w: f32, h: f32, area: f32) -> bool {
        let ratio = if h > 0.0 { w / h } else { f32::INFINITY };
        let ge = |v: f32, min: Option<f32>| min.is_none_or(|m| v >= m);
        let le = |v: f32, max: Option<f32>| max.is_none_or(|m| v <= m);
        ge(score, self.min_score)
            && ge(area, self.min_area)
            && le(area, self.max_area)
            && ge(ratio, self.min_ratio)
            && le(ratio, self.max_ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_applies() {
        let f = ObjectFilter {
            min_score: Some(0.5),
            min_area: Some(100.0),
            max_area: Some(1000.0),
            min_ratio: Some(0.2),
            max_ratio: Some(1.0),
            ..Default::default()
        };
        assert!(f.passes(0.6, 10.0, 20.0, 200.0));
        assert!(!f.passes(0.4, 10.0, 20.0, 200.0), "score");
        assert!(!f.passes(0.6, 10.0, 20.0, 50.0), "min area");
        assert!(!f.passes(0.6, 10.0, 20.0, 5000.0), "max area");
        assert!(!f.passes(0.6, 30.0, 20.0, 200.0), "max ratio");
        assert!(!f.passes(0.6, 2.0, 20.0, 200.0), "min ratio");
        assert!(ObjectFilter::default().passes(0.0, 0.0, 0.0, 0.0));
    }
}
