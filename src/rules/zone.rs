//! Zones: polygons an object is inside of when its box's bottom centre is, with `inertia` against
//! flicker at the edge, plus the loitering and occupancy settings that hang off a zone.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Polygon;
use crate::track::Seen;

/// One zone of a camera.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Name used in events and metrics (letters, digits, `_`, `-`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Corners of the polygon, at least 3, in the rules' `units`.
    #[schemars(with = "Vec<crate::rules::PointSchema>")]
    pub points: Polygon,
    /// Labels this zone watches; all when empty.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub labels: Vec<Spanned<String>>,
    /// Consecutive frames an object must be inside to count as inside, and outside to count as
    /// outside again (Frigate's `inertia`).
    #[serde(default = "default_inertia")]
    #[schemars(range(min = 1, max = 10000))]
    pub inertia: u32,
    /// Send a `loitering` event when an object stays longer than this many seconds of media time
    /// (PTS; wall-clock time for sources without timestamps), once per stay.
    #[schemars(range(min = 0.001, max = 31_536_000))]
    pub loitering_seconds: Option<f64>,
    /// Send `occupancy` events with the count of each label inside.
    pub occupancy: Option<OccupancyConfig>,
}

fn default_inertia() -> u32 {
    3
}

/// When a zone reports how many objects of a label are inside.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OccupancyConfig {
    /// Report only when the count reaches this value from below, or drops below it again; without
    /// it (`occupancy: {}`), every change of the count is reported.
    #[schemars(range(min = 1, max = 100_000))]
    pub threshold: Option<u32>,
}

impl OccupancyConfig {
    /// Whether a change from `before` to `now` objects deserves an event.
    pub fn reports(&self, before: u32, now: u32) -> bool {
        match self.threshold {
            None => before != now,
            Some(t) => (before >= t) != (now >= t),
        }
    }
}

/// A zone's judgement of one object changing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZoneChange {
    /// Now inside; `since` is the first frame of the run of inside frames.
    Entered { since: Seen },
    /// Now outside; it had been inside from `since` until `until` (the first outside frame).
    Exited { since: Seen, until: Seen },
}

/// One object's state with respect to one zone.
#[derive(Debug, Clone, Default)]
pub struct ZoneTrack {
    /// Whether the object counts as inside.
    pub inside: bool,
    /// When the current stay began (while inside).
    pub since: Option<Seen>,
    /// Whether this stay has been reported as loitering.
    pub loitered: bool,
    /// Consecutive observations that disagree with `inside`, and when that run began.
    streak: u32,
    streak_start: Option<Seen>,
}

impl ZoneTrack {
    /// Takes one observation (`is_in` on frame `now`); the state flips after `inertia` consecutive
    /// disagreeing observations.
    pub fn observe(&mut self, is_in: bool, inertia: u32, now: Seen) -> Option<ZoneChange> {
        if is_in == self.inside {
            self.streak = 0;
            self.streak_start = None;
            return None;
        }
        self.streak += 1;
        let start = *self.streak_start.get_or_insert(now);
        if self.streak < inertia.max(1) {
            return None;
        }
        self.streak = 0;
        self.streak_start = None;
        self.inside = is_in;
        if is_in {
            self.since = Some(start);
            self.loitered = false;
            Some(ZoneChange::Entered { since: start })
        } else {
            let since = self.since.take().unwrap_or(start);
            Some(ZoneChange::Exited {
                since,
                until: start,
            })
        }
    }

    /// Leaves the zone because the track ended; `last` is when it was last seen.
    pub fn end(&mut self, last: Seen) -> Option<ZoneChange> {
        if !self.inside {
            return None;
        }
        self.inside = false;
        let since = self.since.take().unwrap_or(last);
        Some(ZoneChange::Exited { since, until: last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(seq: u64) -> Seen {
        Seen {
            seq,
            pts: Some(Duration::from_millis(100 * seq)),
            wall: UNIX_EPOCH,
        }
    }

    #[test]
    fn inertia_needs_consecutive_frames() {
        let mut z = ZoneTrack::default();
        let obs = [
            true, true, false, true, true, true, false, false, true, false, false, false,
        ];
        let mut changes = Vec::new();
        for (i, o) in obs.into_iter().enumerate() {
            if let Some(c) = z.observe(o, 3, at(i as u64)) {
                changes.push((i, c));
            }
        }
        assert_eq!(
            changes,
            vec![
                (5, ZoneChange::Entered { since: at(3) }),
                (
                    11,
                    ZoneChange::Exited {
                        since: at(3),
                        until: at(9)
                    }
                ),
            ]
        );
    }

    #[test]
    fn inertia_one_is_immediate() {
        let mut z = ZoneTrack::default();
        assert_eq!(
            z.observe(true, 1, at(0)),
            Some(ZoneChange::Entered { since: at(0) })
        );
        assert!(z.end(at(4)).is_some());
        assert!(z.end(at(5)).is_none());
    }

    #[test]
    fn occupancy_threshold() {
        let every = OccupancyConfig { threshold: None };
        assert!(every.reports(0, 1) && every.reports(2, 1) && !every.reports(2, 2));
        let t = OccupancyConfig { threshold: Some(3) };
        assert!(!t.reports(1, 2));
        assert!(t.reports(2, 3));
        assert!(!t.reports(3, 4));
        assert!(t.reports(4, 2));
        assert!(t.reports(0, 5));
    }
}
