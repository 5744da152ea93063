//! Multi-object tracking per camera (ByteTrack): turns each frame's detections into tracks with
//! stable ids, and says which tracks are new, updated or ended.
//!
//! Each frame: every track's box is predicted by a constant-velocity Kalman filter
//! ([`kalman::BoxFilter`]); high-score detections are matched to confirmed and lost tracks by IoU; the
//! low-score ones then rescue tracks still unmatched (an occluded person scores low, but is the same
//! person); new tracks start from high-score detections left over and are confirmed after `min_hits`
//! consecutive matches; a track unseen for more than `max_age` frames ends. Matching is optimal
//! (Hungarian) and only between the same label.

pub mod assign;
pub mod kalman;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::detect::Detection;
use kalman::BoxFilter;

/// Where a frame sits in its stream: what the tracker and the rules need to know besides its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameInfo {
    /// Camera name.
    pub camera: Arc<str>,
    /// Per-camera sequence number.
    pub seq: u64,
    /// Presentation time (media time); `None` when the source has no timestamps.
    pub pts: Option<Duration>,
    /// Wall-clock time the frame reached lookout.
    pub wall: SystemTime,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
}

impl FrameInfo {
    /// The description of a captured frame.
    pub fn of(frame: &crate::capture::frame::Frame) -> Self {
        Self {
            camera: frame.camera.clone(),
            seq: frame.seq,
            pts: frame.pts,
            wall: frame.captured_at,
            width: frame.width,
            height: frame.height,
        }
    }

    /// When this frame was taken, for [`Track::first_seen`] and friends.
    pub fn seen(&self) -> Seen {
        Seen {
            seq: self.seq,
            pts: self.pts,
            wall: self.wall,
        }
    }
}

/// A moment a track was observed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Frame sequence number.
    pub seq: u64,
    /// Media time of the frame, when known.
    pub pts: Option<Duration>,
    /// Wall-clock time of the frame.
    pub wall: SystemTime,
}

impl Seen {
    /// Time from `earlier` to `self`: media time when both frames have it, else wall-clock time.
    pub fn since(&self, earlier: &Seen) -> Duration {
        match (self.pts, earlier.pts) {
            (Some(a), Some(b)) => a.saturating_sub(b),
            _ => self
                .wall
                .duration_since(earlier.wall)
                .unwrap_or(Duration::ZERO),
        }
    }
}

/// Scores kept per track for the median-score filter.
pub const SCORE_HISTORY: usize = 16;

/// One tracked object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Stable per-camera id, from 1, given when the track is confirmed.
    pub id: u64,
    /// Label of the detections it follows (tracks never change label).
    pub label: Arc<str>,
    /// Index of that label in the model's list.
    pub class_id: u32,
    /// Filtered box estimate `[x1, y1, x2, y2]` in frame pixels (predicted while unseen).
    pub bbox: [f32; 4],
    /// The last detection box it was matched with, in frame pixels.
    pub detection: [f32; 4],
    /// Score of the last matched detection.
    pub score: f32,
    /// Best score so far.
    pub top_score: f32,
    /// The last [`SCORE_HISTORY`] matched scores, oldest first.
    pub scores: VecDeque<f32>,
    /// First frame it was detected in.
    pub first_seen: Seen,
    /// Last frame it was matched in.
    pub last_seen: Seen,
    /// Frames processed since it started.
    pub age: u32,
    /// Frames it was matched in.
    pub hits: u32,
    /// Consecutive frames without a match (0 when seen this frame).
    pub misses: u32,
}

impl Track {
    /// Median of the score history (Frigate's `threshold` test); 0 when empty.
    pub fn median_score(&self) -> f32 {
        let mut s: Vec<f32> = self.scores.iter().copied().collect();
        if s.is_empty() {
            return 0.0;
        }
        s.sort_by(f32::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }

    /// Bottom centre of the filtered box: the point zones and lines judge (where feet touch the ground).
    pub fn anchor(&self) -> [f32; 2] {
        [(self.bbox[0] + self.bbox[2]) / 2.0, self.bbox[3]]
    }
}

/// Tracker settings; a camera's `tracker:` section.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrackerConfig {
    /// Detections scoring at least this are matched first and may start tracks (ByteTrack's
    /// `track_thresh`).
    #[serde(default = "default_high")]
    #[schemars(range(min = 0, max = 1))]
    pub high_score: f32,
    /// Detections between this and `high_score` only keep existing tracks alive; lower ones are ignored.
    #[serde(default = "default_low")]
    #[schemars(range(min = 0, max = 1))]
    pub low_score: f32,
    /// A new track starts only from a detection scoring at least this.
    #[serde(default = "default_new_track")]
    #[schemars(range(min = 0, max = 1))]
    pub new_track_score: f32,
    /// Minimum IoU between a track's predicted box and a high-score detection to match.
    #[serde(default = "default_match_iou")]
    #[schemars(range(min = 0, max = 1))]
    pub match_iou: f32,
    /// Minimum IoU to match a low-score detection (stricter: they are less trustworthy).
    #[serde(default = "default_low_match_iou")]
    #[schemars(range(min = 0, max = 1))]
    pub low_match_iou: f32,
    /// Consecutive matches before a new track is confirmed and reported.
    #[serde(default = "default_min_hits")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_hits: u32,
    /// Frames a confirmed track survives without a match before it ends.
    #[serde(default = "default_max_age")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_age: u32,
}

fn default_high() -> f32 {
    0.5
}
fn default_low() -> f32 {
    0.1
}
fn default_new_track() -> f32 {
    0.6
}
fn default_match_iou() -> f32 {
    0.2
}
fn default_low_match_iou() -> f32 {
    0.5
}
fn default_min_hits() -> u32 {
    2
}
fn default_max_age() -> u32 {
    30
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: default_high(),
            low_score: default_low(),
            new_track_score: default_new_track(),
            match_iou: default_match_iou(),
            low_match_iou: default_low_match_iou(),
            min_hits: default_min_hits(),
            max_age: default_max_age(),
        }
    }
}

impl TrackerConfig {
    /// Checks that thresholds are in 0..1 and ordered; the message names the offending field.
    pub fn check(&self) -> Result<(), String> {
        let unit = [
            ("high_score", self.high_score),
            ("low_score", self.low_score),
            ("new_track_score", self.new_track_score),
            ("match_iou", self.match_iou),
            ("low_match_iou", self.low_match_iou),
        ];
        for (name, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("tracker `{name}` must be in 0..1, got {v}"));
            }
        }
        if self.low_score > self.high_score {
            return Err(format!(
                "tracker `low_score` ({}) must not exceed `high_score` ({})",
                self.low_score, self.high_score
            ));
        }
        if self.min_hits == 0 {
            return Err("tracker `min_hits` must be at least 1".into());
        }
        Ok(())
    }
}

/// What one frame did to the tracks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackerOutput {
    /// Tracks confirmed on this frame.
    pub new: Vec<Track>,
    /// Confirmed tracks matched on this frame (not new).
    pub updated: Vec<Track>,
    /// Confirmed tracks that ended on this frame (unseen for more than `max_age` frames, or the
    /// stream ended); their boxes are where they were last seen.
    pub ended: Vec<Track>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not confirmed yet; dropped at its first miss.
    Tentative,
    /// Confirmed and matched on the last frame.
    Tracked,
    /// Confirmed, not matched lately.
    Lost,
}

#[derive(Debug, Clone)]
struct Slot {
    track: Track,
    filter: BoxFilter,
    state: State,
}

/// ByteTrack for one camera.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    slots: Vec<Slot>,
    next_id: u64,
}

impl Tracker {
    /// A tracker with no tracks; ids start at 1.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            slots: Vec::new(),
            next_id: 1,
        }
    }

    /// New settings for the tracks it has (a reloaded pipeline file): ids and states carry on.
    pub fn reconfigure(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// Confirmed tracks alive now (seen lately or coasting), in id order.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.slots
            .iter()
            .filter(|s| s.state != State::Tentative)
            .map(|s| &s.track)
    }

    /// Boxes of tracks not confirmed yet: seen, waiting for `min_hits` matches. Motion gating
    /// looks at them on the next frame, so a new object is confirmed (or dropped) quickly.
    pub fn tentative(&self) -> impl Iterator<Item = [f32; 4]> + '_ {
        self.slots
            .iter()
            .filter(|s| s.state == State::Tentative)
            .map(|s| s.track.bbox)
    }

    /// Advances by one frame with its detections.
    pub fn update(&mut self, frame: &FrameInfo, detections: &[Detection]) -> TrackerOutput {
        self.update_in(frame, detections, None)
    }

    /// Advances by one frame whose detector looked only at `covered` (boxes in frame pixels;
    /// `None` is the whole frame). Tracks whose centre lies outside every covered box are left as
    /// they are: not predicted, not aged, not missed, since nobody looked for them.
    pub fn update_in(
        &mut self,
        frame: &FrameInfo,
        detections: &[Detection],
        covered: Option<&[[f32; 4]]>,
    ) -> TrackerOutput {
        let in_view: Vec<bool> = self
            .slots
            .iter()
            .map(|s| {
                let b = s.track.bbox;
                let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
                covered.is_none_or(|rs| {
                    rs.iter()
                        .any(|r| cx >= r[0] && cx < r[2] && cy >= r[1] && cy < r[3])
                })
            })
            .collect();
        let cfg = &self.config;
        for (slot, _) in self.slots.iter_mut().zip(&in_view).filter(|(_, v)| **v) {
            slot.filter.predict(slot.state == State::Lost);
            slot.track.bbox = slot.filter.bbox();
            slot.track.age += 1;
        }
        // Non-finite numbers from a broken model output would poison a track's filter for good.
        let sane = |d: &&Detection| d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite());
        let high: Vec<&Detection> = detections
            .iter()
            .filter(sane)
            .filter(|d| d.score >= cfg.high_score)
            .collect();
        let low: Vec<&Detection> = detections
            .iter()
            .filter(sane)
            .filter(|d| d.score >= cfg.low_score && d.score < cfg.high_score)
            .collect();

        let mut slot_matched = vec![false; self.slots.len()];
        let mut high_used = vec![false; high.len()];
        let mut low_used = vec![false; low.len()];
        let mut pairs: Vec<(usize, &Detection)> = Vec::new();

        // 1. High-score detections against confirmed tracks, seen lately or not.
        let confirmed: Vec<usize> = self.indices(&in_view, |s| s != State::Tentative);
        self.associate(
            &confirmed,
            &high,
            cfg.match_iou,
            &mut slot_matched,
            &mut high_used,
            &mut pairs,
        );
        // 2. Low-score detections rescue confirmed tracks seen on the last frame.
        let tracked: Vec<usize> = self
            .indices(&in_view, |s| s == State::Tracked)
            .into_iter()
            .filter(|&i| !slot_matched[i])
            .collect();
        self.associate(
            &tracked,
            &low,
            cfg.low_match_iou,
            &mut slot_matched,
            &mut low_used,
            &mut pairs,
        );
        // 3. Tentative tracks against the high-score detections left.
        let tentative: Vec<usize> = self.indices(&in_view, |s| s == State::Tentative);
        self.associate(
            &tentative,
            &high,
            cfg.match_iou,
            &mut slot_matched,
            &mut high_used,
            &mut pairs,
        );

        let mut out = TrackerOutput::default();
        let seen = frame.seen();
        for (i, det) in pairs {
            let slot = &mut self.slots[i];
            slot.filter.update(det.bbox);
            let t = &mut slot.track;
            t.bbox = slot.filter.bbox();
            t.detection = det.bbox;
            t.score = det.score;
            t.top_score = t.top_score.max(det.score);
            if t.scores.len() == SCORE_HISTORY {
                t.scores.pop_front();
            }
            t.scores.push_back(det.score);
            t.last_seen = seen;
            t.hits += 1;
            t.misses = 0;
            match slot.state {
                State::Tentative if t.hits >= self.config.min_hits => {
                    t.id = self.next_id;
                    self.next_id += 1;
                    slot.state = State::Tracked;
                    out.new.push(t.clone());
                }
                State::Tentative => {}
                State::Tracked | State::Lost => {
                    slot.state = State::Tracked;
                    out.updated.push(t.clone());
                }
            }
        }

        // Unmatched tracks: tentative ones are dropped, confirmed ones coast until `max_age`.
        let max_age = self.config.max_age;
        let mut kept = Vec::with_capacity(self.slots.len());
        for ((slot, matched), looked) in std::mem::take(&mut self.slots)
            .into_iter()
            .zip(slot_matched)
            .zip(in_view)
        {
            if matched || !looked {
                kept.push(slot);
                continue;
            }
            let mut slot = slot;
            slot.track.misses += 1;
            match slot.state {
                State::Tentative => {}
                _ if slot.track.misses > max_age => out.ended.push(slot.track),
                _ => {
                    slot.state = State::Lost;
                    kept.push(slot);
                }
            }
        }
        self.slots = kept;

        // Leftover high-score detections start tracks.
        for (det, used) in high.iter().zip(&high_used) {
            if *used || det.score < self.config.new_track_score {
                continue;
            }
            let mut slot = Slot {
                track: Track {
                    id: 0,
                    label: det.label.clone(),
                    class_id: det.class_id,
                    bbox: det.bbox,
                    detection: det.bbox,
                    score: det.score,
                    top_score: det.score,
                    scores: VecDeque::from([det.score]),
                    first_seen: seen,
                    last_seen: seen,
                    age: 0,
                    hits: 1,
                    misses: 0,
                },
                filter: BoxFilter::new(det.bbox),
                state: State::Tentative,
            };
            if self.config.min_hits <= 1 {
                slot.track.id = self.next_id;
                self.next_id += 1;
                slot.state = State::Tracked;
                out.new.push(slot.track.clone());
            }
            self.slots.push(slot);
        }
        self.slots.sort_by_key(|s| (s.track.id == 0, s.track.id));
        out.new.sort_by_key(|t| t.id);
        out.updated.sort_by_key(|t| t.id);
        out.ended.sort_by_key(|t| t.id);
        out
    }

    /// Ends every confirmed track (end of stream); returns them as ended.
    pub fn finish(&mut self) -> TrackerOutput {
        let ended = std::mem::take(&mut self.slots)
            .into_iter()
            .filter(|s| s.state != State::Tentative)
            .map(|s| s.track)
            .collect();
        TrackerOutput {
            ended,
            ..TrackerOutput::default()
        }
    }

    fn indices(&self, in_view: &[bool], keep: impl Fn(State) -> bool) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| in_view[i] && keep(self.slots[i].state))
            .collect()
    }

    /// Matches the given slots with the unused detections by IoU of the same label.
    fn associate<'d>(
        &self,
        slots: &[usize],
        dets: &[&'d Detection],
        min_iou: f32,
        slot_matched: &mut [bool],
        det_used: &mut [bool],
        pairs: &mut Vec<(usize, &'d Detection)>,
    ) {
        let free: Vec<usize> = (0..dets.len()).filter(|&d| !det_used[d]).collect();
        let matches = assign::match_pairs(slots.len(), free.len(), min_iou, |r, c| {
            let t = &self.slots[slots[r]].track;
            let d = dets[free[c]];
            (t.label == d.label).then(|| assign::iou(t.bbox, d.bbox))
        });
        for (r, c) in matches {
            slot_matched[slots[r]] = true;
            det_used[free[c]] = true;
            pairs.push((slots[r], dets[free[c]]));
        }
    }
}
