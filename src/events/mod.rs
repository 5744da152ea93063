//! Events: the only thing lookout sends anywhere. Each one says what happened to which tracked object
//! on which camera, when, with which rule: metadata only (names, ids, scores, relative boxes, times).
//!
//! No type in this module holds pixels, image bytes or tensors, and none may: sinks accept
//! [`Event`]s only, which is what keeps footage on the device.
//!
//! The JSON form is versioned by [`SCHEMA_VERSION`] and described by [`json_schema`]
//! (`lookout schema --events`). Every event has the common fields of [`Event`] plus the fields of its
//! `kind`, at the same level:
//!
//! | `kind` | extra fields | when |
//! | --- | --- | --- |
//! | `object` | `type` (`new`/`update`/`end`), `before`, `after` | a tracked object appears, changes (zones, top score), or is gone; Frigate's shape |
//! | `zone_enter` | `zone` | an object's bottom centre has been inside a zone for `inertia` frames |
//! | `zone_exit` | `zone`, `duration_seconds` | ... outside again for `inertia` frames, or its track ended |
//! | `line_crossed` | `line`, `direction`, `counts` | an object's bottom centre crossed a line segment |
//! | `loitering` | `zone`, `duration_seconds` | an object stayed in a zone longer than the zone's limit (once per stay) |
//! | `occupancy` | `zone`, `count`, `previous`, `threshold` | the number of objects of a label in a zone changed (or passed a threshold) |

pub mod conform;
pub mod device;
pub mod id;
pub mod time;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use device::{Device, DeviceConfig};
pub use id::new_id;
pub use time::rfc3339;

/// Version of the event JSON; bumped on any change that could break a consumer.
pub const SCHEMA_VERSION: u32 = 1;

/// A box relative to the frame: `[x1, y1, x2, y2]`, each in 0..1, origin at the top left.
pub type RelBox = [f32; 4];

/// One thing that happened on one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "lookout event",
    description = "One thing that happened on one camera: metadata only, never pixels."
)]
pub struct Event {
    /// Version of this schema ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Unique id of this event (UUIDv7, time-ordered); a redelivered event keeps its id.
    pub id: String,
    /// The box that saw it (`device.name` of the pipeline file, default the host name).
    #[serde(default)]
    pub device: String,
    /// The site of that box (`device.site`, default `default`).
    #[serde(default)]
    pub site: String,
    /// Camera name from the pipeline file.
    pub camera: String,
    /// What happened; its fields sit beside the common ones.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Object label (e.g. `person`); for `occupancy`, the label being counted.
    pub label: String,
    /// Detection score of the object on this frame, 0..1; null for `occupancy`.
    pub score: Option<f32>,
    /// Per-camera track number of the object; null for `occupancy`.
    pub track_id: Option<u64>,
    /// The object's box on this frame, relative to the frame; null for `occupancy`.
    #[serde(rename = "box")]
    pub bbox: Option<RelBox>,
    /// Sequence number of the frame (per camera, from 0).
    pub seq: u64,
    /// Presentation time of the frame in seconds of media time; null when the source has none.
    pub pts_seconds: Option<f64>,
    /// Wall-clock time the frame reached lookout, RFC 3339 in UTC.
    #[schemars(extend("format" = "date-time"))]
    pub time: String,
    /// Detection model that saw the object.
    pub model: Option<String>,
}

/// What happened, with the fields particular to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A tracked object appeared, changed or ended: Frigate's `events` message.
    Object {
        /// `new`, `update` or `end`.
        #[serde(rename = "type")]
        change: ObjectChange,
        /// The object as last published (for `new`, the same as `after`).
        before: Box<ObjectSnapshot>,
        /// The object now.
        after: Box<ObjectSnapshot>,
    },
    /// An object entered a zone.
    ZoneEnter {
        /// Zone name.
        zone: String,
    },
    /// An object left a zone, or its track ended inside it.
    ZoneExit {
        /// Zone name.
        zone: String,
        /// Media time spent inside, in seconds; null when the source has no timestamps.
        duration_seconds: Option<f64>,
    },
    /// An object crossed a line.
    LineCrossed {
        /// Line name.
        line: String,
        /// Which way it crossed.
        direction: Crossing,
        /// Crossings of this line by objects of this label since start, this one included.
        counts: CrossingCounts,
    },
    /// An object has been in a zone longer than the zone allows.
    Loitering {
        /// Zone name.
        zone: String,
        /// Media time inside the zone so far, in seconds.
        duration_seconds: f64,
    },
    /// The number of objects of a label in a zone changed.
    Occupancy {
        /// Zone name.
        zone: String,
        /// Objects inside now.
        count: u32,
        /// Objects inside just before this change.
        previous: u32,
        /// The configured threshold when events are sent only on passing it.
        threshold: Option<u32>,
    },
}

impl EventKind {
    /// The `kind` string as it appears in JSON (for filters and metric labels).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Object { .. } => "object",
            EventKind::ZoneEnter { .. } => "zone_enter",
            EventKind::ZoneExit { .. } => "zone_exit",
            EventKind::LineCrossed { .. } => "line_crossed",
            EventKind::Loitering { .. } => "loitering",
            EventKind::Occupancy { .. } => "occupancy",
        }
    }
}

/// Every `kind` string, for validating sink filters.
pub const KIND_NAMES: &[&str] = &[
    "object",
    "zone_enter",
    "zone_exit",
    "line_crossed",
    "loitering",
    "occupancy",
];

/// Checks an event kind named in a pipeline file (a sink filter, `media.snapshots.kinds`).
pub fn check_kind_name(name: &str) -> Result<(), String> {
    if KIND_NAMES.contains(&name) {
        return Ok(());
    }
    Err(format!(
        "unknown event kind `{name}`, expected one of {}{}",
        KIND_NAMES.join(", "),
        crate::config::did_you_mean(name, KIND_NAMES.iter().copied())
    ))
}

/// The phase of an `object` event, as in Frigate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectChange {
    /// First report of the object.
    New,
    /// Its zones or top score changed.
    Update,
    /// Its track ended (gone from view, or the stream ended).
    End,
}

/// A tracked object as published in `object` events (Frigate's `before`/`after`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectSnapshot {
    /// Id of the object, the same in its `new`, `update` and `end` events (UUIDv7).
    pub id: String,
    /// Per-camera track number.
    pub track_id: u64,
    /// Camera name.
    pub camera: String,
    /// Object label.
    pub label: String,
    /// Latest detection score, 0..1.
    pub score: f32,
    /// Best detection score so far, 0..1.
    pub top_score: f32,
    /// Box relative to the frame.
    #[serde(rename = "box")]
    pub bbox: RelBox,
    /// Box area as a fraction of the frame area.
    pub area: f32,
    /// Box width over height, in pixels.
    pub ratio: f32,
    /// Zones the object is in now.
    pub current_zones: Vec<String>,
    /// Zones the object has entered since it appeared.
    pub entered_zones: Vec<String>,
    /// Wall-clock time it was first seen, RFC 3339.
    #[schemars(extend("format" = "date-time"))]
    pub start_time: String,
    /// Wall-clock time it was last seen, once it has ended; null while active.
    #[schemars(extend("format" = "date-time"))]
    pub end_time: Option<String>,
    /// Media time it was first seen, in seconds; null without timestamps.
    pub start_pts_seconds: Option<f64>,
    /// Media time it was last seen, in seconds; null without timestamps.
    pub last_pts_seconds: Option<f64>,
}

/// A direction of crossing a line from `a` to `b`.
///
/// Looking along the line from `a` towards `b` on the image, `a_to_b` is a crossing from its left
/// side to its right side, and `b_to_a` the reverse. For a horizontal line drawn left to right
/// (`a` = left end), `a_to_b` is moving down the image; for a vertical line drawn top to bottom,
/// `a_to_b` is moving left.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// From the left of a->b to its right.
    AToB,
    /// From the right of a->b to its left.
    BToA,
}

impl Crossing {
    /// The JSON name (`a_to_b`, `b_to_a`).
    pub fn name(self) -> &'static str {
        match self {
            Crossing::AToB => "a_to_b",
            Crossing::BToA => "b_to_a",
        }
    }
}

/// Running crossing counts of one line, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrossingCounts {
    /// Crossings from the left of a->b to its right.
    pub a_to_b: u64,
    /// Crossings from the right of a->b to its left.
    pub b_to_a: u64,
}

impl CrossingCounts {
    /// Adds one crossing in `dir`.
    pub fn add(&mut self, dir: Crossing) {
        match dir {
            Crossing::AToB => self.a_to_b += 1,
            Crossing::BToA => self.b_to_a += 1,
        }
    }
}

/// Why bytes are not an event.
#[derive(Debug, thiserror::Error)]
pub enum EventJsonError {
    #[error("not an event: {0}")]
    Json(#[from] serde_json::Error),
    /// A number that JSON cannot carry back (it would be written as `null`).
    #[error("event {id}: a number is not finite (too large for its type, or NaN)")]
    NotFinite { id: String },
}

impl Event {
    /// Reads an event from JSON (an outbox record, a message from a broker). Numbers too large for
    /// their type (`1e55` as a box corner becomes infinity) are refused: written back, they would
    /// be `null` and no longer an event.
    pub fn from_json(bytes: &[u8]) -> Result<Event, EventJsonError> {
        let event: Event = serde_json::from_slice(bytes)?;
        if event.numbers().all(f64::is_finite) {
            Ok(event)
        } else {
            Err(EventJsonError::NotFinite { id: event.id })
        }
    }

    /// Every floating-point number of the event.
    fn numbers(&self) -> impl Iterator<Item = f64> + '_ {
        let common = self
            .score
            .map(f64::from)
            .into_iter()
            .chain(self.bbox.iter().flatten().map(|&v| f64::from(v)))
            .chain(self.pts_seconds);
        let kind: Vec<f64> = match &self.kind {
            EventKind::Object { before, after, .. } => {
                [before, after].iter().flat_map(|o| o.numbers()).collect()
            }
            EventKind::ZoneExit {
                duration_seconds, ..
            } => duration_seconds.iter().copied().collect(),
            EventKind::Loitering {
                duration_seconds, ..
            } => vec![*duration_seconds],
            _ => Vec::new(),
        };
        common.chain(kind)
    }
}

impl ObjectSnapshot {
    fn numbers(&self) -> Vec<f64> {
        [self.score, self.top_score, self.area, self.ratio]
            .into_iter()
            .chain(self.bbox)
            .map(f64::from)
            .chain(self.start_pts_seconds)
            .chain(self.last_pts_seconds)
            .collect()
    }
}

impl std::fmt::Display for Event {
    /// One readable line, for consoles and logs: `[gate t=12.300s] person #4 crossed door (a_to_b)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pts_seconds {
            Some(t) => write!(f, "[{} t={t:.3}s] ", self.camera)?,
            None => write!(f, "[{} {}] ", self.camera, self.time)?,
        }
        let who = match self.track_id {
            Some(id) => format!("{} #{id}", self.label),
            None => self.label.clone(),
        };
        match &self.kind {
            EventKind::Object { change, after, .. } => {
                let what = match change {
                    ObjectChange::New => "appeared",
                    ObjectChange::Update => "updated",
                    ObjectChange::End => "gone",
                };
                write!(f, "{who} {what} (score {:.2}", after.top_score)?;
                if !after.current_zones.is_empty() {
                    write!(f, ", in {}", after.current_zones.join(", "))?;
                }
                write!(f, ")")
            }
            EventKind::ZoneEnter { zone } => write!(f, "{who} entered zone {zone}"),
            EventKind::ZoneExit {
                zone,
                duration_seconds,
            } => match duration_seconds {
                Some(d) => write!(f, "{who} left zone {zone} after {d:.1}s"),
                None => write!(f, "{who} left zone {zone}"),
            },
            EventKind::LineCrossed {
                line,
                direction,
                counts,
            } => write!(
                f,
                "{who} crossed {line} ({}; totals a_to_b {}, b_to_a {})",
                direction.name(),
                counts.a_to_b,
                counts.b_to_a
            ),
            EventKind::Loitering {
                zone,
                duration_seconds,
            } => write!(
                f,
                "{who} loitering in zone {zone} for {duration_seconds:.1}s"
            ),
            EventKind::Occupancy {
                zone,
                count,
                previous,
                ..
            } => write!(f, "zone {zone}: {count} {who} (was {previous})"),
        }
    }
}

/// Converts a box in frame pixels to [`RelBox`], clamped to the frame.
pub fn relative_box(bbox: [f32; 4], width: u32, height: u32) -> RelBox {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    [
        (bbox[0] / w).clamp(0.0, 1.0),
        (bbox[1] / h).clamp(0.0, 1.0),
        (bbox[2] / w).clamp(0.0, 1.0),
        (bbox[3] / h).clamp(0.0, 1.0),
    ]
}

/// The JSON Schema of events (`lookout schema --events`), with `schema_version` pinned to
/// [`SCHEMA_VERSION`].
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default();
    if let Some(v) = schema.pointer_mut("/properties/schema_version") {
        v["const"] = serde_json::Value::from(SCHEMA_VERSION);
    }
    // lookout writes them in every event; they default only so that records an older version
    // left in an outbox are still read.
    if let Some(serde_json::Value::Array(required)) = schema.get_mut("required") {
        for field in ["device", "site"] {
            if !required.iter().any(|r| r == field) {
                required.push(field.into());
            }
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `event_json` fuzz target found: a box corner too large for f32.
    const HUGE_CORNER: &str = r#"{"schema_version":1,"id":"01a21337-ee16-7727-b00d-5fcb825452c5","camera":"vtest","kind":"line_crossed","line":"footpath","direction":"b_to_a","counts":{"a_to_b":0,"b_to_a":1},"label":"person","score":0.74,"track_id":2,"box":[0.43,2.2e55,0.48,0.49],"seq":14,"pts_seconds":1.4,"time":"2026-11-25T14:59:21.456Z","model":"objects"}"#;

    #[test]
    fn events_read_back_only_when_they_round_trip() {
        let e = Event::from_json(HUGE_CORNER.as_bytes()).unwrap_err();
        assert!(matches!(e, EventJsonError::NotFinite { .. }), "{e}");
        let fine = HUGE_CORNER.replace("2.2e55", "0.2");
        let event = Event::from_json(fine.as_bytes()).unwrap();
        let again = Event::from_json(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(again, event);
    }
}
