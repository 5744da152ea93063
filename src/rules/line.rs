//! Lines: a segment from `a` to `b`; an object crosses it when its box's bottom centre moves from one
//! side to the other through the segment.
//!
//! Sides: looking along the line from `a` towards `b` on the image, `a_to_b` is a crossing from its
//! left to its right, `b_to_a` the reverse. For a horizontal line drawn left to right, `a_to_b` is
//! moving down the image; for a vertical line drawn top to bottom, it is moving left.
//!
//! Hysteresis: a point within `hysteresis` x the box height of the line is on neither side. The side
//! changes only when the point is clearly on the other side, so jitter around the line gives one
//! crossing, and a track that touches the line and turns back gives none.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::events::Crossing;
use crate::geometry::{Point, Segment};

/// One counting line of a camera.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Name used in events and metrics (letters, digits, `_`, `-`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// First end, in the rules' `units`.
    #[schemars(with = "crate::rules::PointSchema")]
    pub a: Spanned<Point>,
    /// Second end.
    #[schemars(with = "crate::rules::PointSchema")]
    pub b: Spanned<Point>,
    /// Crossings to report and count: `a_to_b` (from the left of a->b, seen on the image, to its
    /// right), `b_to_a`, or `any` (default).
    #[serde(default)]
    pub direction: LineDirection,
    /// Labels this line counts; all when empty.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub labels: Vec<Spanned<String>>,
    /// Dead band on each side of the line, as a fraction of the object's box height (default 0.1).
    #[serde(default = "default_hysteresis")]
    #[schemars(range(min = 0, max = 2))]
    pub hysteresis: f32,
}

fn default_hysteresis() -> f32 {
    0.1
}

/// Which crossings of a line count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineDirection {
    /// From the left of a->b to its right.
    AToB,
    /// From the right of a->b to its left.
    BToA,
    /// Both ways.
    #[default]
    Any,
}

impl LineDirection {
    /// Whether a crossing `c` counts.
    pub fn admits(self, c: Crossing) -> bool {
        match self {
            LineDirection::Any => true,
            LineDirection::AToB => c == Crossing::AToB,
            LineDirection::BToA => c == Crossing::BToA,
        }
    }
}

/// One object's state with respect to one line.
#[derive(Debug, Clone, Default)]
pub struct LineTrack {
    /// The side it was last clearly on (`true` = right of a->b), with the last point seen there.
    side: Option<(bool, Point)>,
}

impl LineTrack {
    /// Takes the object's bottom centre `p` on a frame; `margin` is the dead band in pixels.
    /// Returns the crossing, if this observation completes one through the segment.
    pub fn observe(&mut self, line: &Segment, p: Point, margin: f32) -> Option<Crossing> {
        let d = line.side(p);
        if d.abs() <= margin {
            return None;
        }
        let right = d > 0.0;
        let prev = self.side.replace((right, p));
        match prev {
            Some((was_right, from)) if was_right != right && line.crossed_by(from, p) => {
                Some(if right {
                    Crossing::AToB
                } else {
                    Crossing::BToA
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: Segment = Segment {
        a: [0.0, 100.0],
        b: [200.0, 100.0],
    };

    fn run(ys: &[f32], x: f32) -> Vec<Crossing> {
        let mut t = LineTrack::default();
        ys.iter()
            .filter_map(|&y| t.observe(&LINE, [x, y], 5.0))
            .collect()
    }

    #[test]
    fn both_directions() {
        assert_eq!(run(&[80.0, 90.0, 110.0, 120.0], 50.0), vec![Crossing::AToB]);
        assert_eq!(run(&[120.0, 104.0, 96.0, 80.0], 50.0), vec![Crossing::BToA]);
    }

    #[test]
    fn touch_and_turn_back_is_not_a_crossing() {
        assert!(run(&[80.0, 95.0, 99.0, 103.0, 96.0, 80.0], 50.0).is_empty());
    }

    #[test]
    fn jitter_gives_one_crossing() {
        let ys = [80.0, 97.0, 102.0, 98.0, 106.0, 101.0, 99.0, 103.0, 120.0];
        assert_eq!(run(&ys, 50.0), vec![Crossing::AToB]);
    }

    #[test]
    fn outside_the_segment_is_not_a_crossing() {
        assert!(run(&[80.0, 120.0], 250.0).is_empty());
        assert!(run(&[80.0, 120.0], -10.0).is_empty());
    }

    #[test]
    fn direction_filter() {
        assert!(LineDirection::AToB.admits(Crossing::AToB));
        assert!(!LineDirection::AToB.admits(Crossing::BToA));
        assert!(LineDirection::BToA.admits(Crossing::BToA));
        assert!(LineDirection::Any.admits(Crossing::BToA));
    }
}
