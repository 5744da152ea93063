//! The live feed from analytics to the page: per camera the latest tracks, motion and counts,
//! a heat map of where tracked objects' feet have been, each camera's zones, lines and masks,
//! and the recent events. Metadata only: nothing here can hold a pixel.
//!
//! The analytics thread writes through a [`FeedWriter`] and never waits for a reader: it takes
//! the lock only when it is free (`try_lock`), and keeps what it could not hand over (events,
//! the heat map) for its next frame. Readers (the page's event streams) wait on a version
//! number and copy what changed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::events::Event;
use crate::geometry::Point;
use crate::rules::{LineDirection, RulesConfig, Units};

/// Columns of a camera's heat map (relative positions: any frame size maps onto it).
pub const HEAT_W: usize = 64;
/// Rows of a camera's heat map.
pub const HEAT_H: usize = 36;
/// Foot points kept per track for its trail.
const TRAIL: usize = 24;
/// Events kept for a page that connects late.
const EVENTS_KEPT: usize = 100;
/// A camera's view is handed over at most this often; the page draws at about this rate.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// The heat map changes slowly: handed over at most this often.
const HEAT_INTERVAL: Duration = Duration::from_secs(1);

/// One tracked object on the latest analysed frame.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackView {
    pub id: u64,
    pub label: String,
    pub score: f32,
    /// `[x1, y1, x2, y2]`, relative to the frame (0..1).
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Its last foot points (bottom centre of the box), relative, oldest first.
    pub trail: Vec<Point>,
}

/// What the page draws of one camera: the latest analysed frame's metadata.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrameView {
    pub camera: String,
    pub seq: u64,
    pub pts_seconds: Option<f64>,
    /// Frame size in pixels (the canvas's aspect ratio; pixel rules are drawn in it).
    pub width: u32,
    pub height: u32,
    pub tracks: Vec<TrackView>,
    /// Where something moved, relative boxes.
    pub motion: Vec<[f32; 4]>,
    /// Parts of the frame the detector looked at (empty: the whole frame, or nothing).
    pub regions: Vec<[f32; 4]>,
    /// Objects inside each zone now.
    pub occupancy: BTreeMap<String, u32>,
    /// Crossings of each line since start: `[a_to_b, b_to_a]`.
    pub lines: BTreeMap<String, [u64; 2]>,
}

/// What a frame's analysis hands to [`FeedWriter::frame`]; boxes in frame pixels.
pub struct FrameInput<'a> {
    pub camera: &'a str,
    pub seq: u64,
    pub pts_seconds: Option<f64>,
    pub width: u32,
    pub height: u32,
    /// `(id, label, score, box)` of each confirmed track, and whether it was seen on this frame.
    pub tracks: Vec<(u64, &'a str, f32, [f32; 4], bool)>,
    pub motion: &'a [[f32; 4]],
    pub regions: &'a [[f32; 4]],
    pub occupancy: BTreeMap<String, u32>,
    pub lines: BTreeMap<String, [u64; 2]>,
}

/// Where tracked objects' feet have been on one camera, since start.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeatView {
    pub camera: String,
    /// Columns and rows; cell `(x, y)` is `cells[y * w + x]`.
    pub w: usize,
    pub h: usize,
    pub cells: Vec<u32>,
}

/// A zone as the page draws it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ZoneView {
    pub name: String,
    pub points: Vec<Point>,
    pub labels: Vec<String>,
}

/// A line as the page draws it (an arrow shows the counted direction).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LineView {
    pub name: String,
    pub a: Point,
    pub b: Point,
    /// `a_to_b`, `b_to_a` or `any`.
    pub direction: &'static str,
    pub labels: Vec<String>,
}

/// A camera's geometry as written in the file: what the page draws over the live view and lets
/// a user move.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayoutView {
    pub camera: String,
    /// Whether the camera detects (only then are there tracks and rules).
    pub detects: bool,
    /// `relative` (0..1) or `pixels`: the units of the points below.
    pub units: &'static str,
    pub zones: Vec<ZoneView>,
    pub lines: Vec<LineView>,
    /// Rule masks: nothing is reported with its feet in them.
    pub masks: Vec<Vec<Point>>,
    /// Motion masks (always relative): motion there is ignored.
    pub motion_masks: Vec<Vec<Point>>,
    /// Whether a redacted still can be asked for (`ui.stills` and a face model).
    pub stills: bool,
}

impl LayoutView {
    /// The layout of a camera's rules and motion masks.
    pub fn new(
        camera: &str,
        detects: bool,
        rules: &RulesConfig,
        motion_masks: &[Vec<Point>],
        stills: bool,
    ) -> Self {
        let names = |v: &[serde_saphyr::Spanned<String>]| -> Vec<String> {
            v.iter().map(|s| s.value.clone()).collect()
        };
        let poly =
            |p: &crate::rules::Polygon| -> Vec<Point> { p.value.iter().map(|q| q.value).collect() };
        LayoutView {
            camera: camera.to_string(),
            detects,
            units: match rules.units {
                Units::Relative => "relative",
                Units::Pixels => "pixels",
            },
            zones: rules
                .zones
                .iter()
                .map(|z| ZoneView {
                    name: z.name.value.clone(),
                    points: poly(&z.points),
                    labels: names(&z.labels),
                })
                .collect(),
            lines: rules
                .lines
                .iter()
                .map(|l| LineView {
                    name: l.name.value.clone(),
                    a: l.a.value,
                    b: l.b.value,
                    direction: match l.direction {
                        LineDirection::AToB => "a_to_b",
                        LineDirection::BToA => "b_to_a",
                        LineDirection::Any => "any",
                    },
                    labels: names(&l.labels),
                })
                .collect(),
            masks: rules.masks.iter().map(poly).collect(),
            motion_masks: motion_masks.to_vec(),
            stills,
        }
    }
}

/// What changed since a reader's last look.
#[derive(Debug, Default)]
pub struct Updates {
    /// Every camera's layout, when any changed (or on the first look).
    pub layouts: Option<Arc<Vec<LayoutView>>>,
    pub frames: Vec<Arc<FrameView>>,
    pub heat: Vec<Arc<HeatView>>,
    pub events: Vec<Arc<Event>>,
}

/// Where a reader is: the versions it has seen.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    version: u64,
    layouts: u64,
    frames: HashMap<String, u64>,
    heat: HashMap<String, u64>,
    /// Number of the next event it has not seen.
    events: u64,
}

#[derive(Default)]
struct State {
    /// Bumped on every change; readers wait for it to move.
    version: u64,
    layouts: (u64, Arc<Vec<LayoutView>>),
    frames: BTreeMap<String, (u64, Arc<FrameView>)>,
    heat: BTreeMap<String, (u64, Arc<HeatView>)>,
    /// Recent events, numbered from `first_event`.
    events: VecDeque<Arc<Event>>,
    first_event: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The feed, shared between the analytics writer and the page's readers.
#[derive(Clone, Default)]
pub struct Feed {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

impl Feed {
    /// An empty feed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The writer for the analytics thread (one per feed).
    pub fn writer(&self) -> FeedWriter {
        FeedWriter {
            feed: self.clone(),
            cameras: HashMap::new(),
            pending_frames: BTreeMap::new(),
            pending_events: Vec::new(),
            pending_layouts: None,
            removed: Vec::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `timeout` for something newer than `cursor` has seen, then returns what
    /// changed and moves the cursor.
    pub fn next(&self, cursor: &mut Cursor, timeout: Duration) -> Updates {
        let mut state = self.lock();
        if state.version == cursor.version {
            state = self
                .shared
                .changed
                .wait_timeout_while(state, timeout, |s| s.version == cursor.version)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let mut out = Updates::default();
        if state.layouts.0 != cursor.layouts || cursor.version == 0 {
            out.layouts = Some(Arc::clone(&state.layouts.1));
            cursor.layouts = state.layouts.0;
        }
        for (name, (v, f)) in &state.frames {
            if cursor.frames.get(name) != Some(v) {
                out.frames.push(Arc::clone(f));
                cursor.frames.insert(name.clone(), *v);
            }
        }
        for (name, (v, h)) in &state.heat {
            if cursor.heat.get(name) != Some(v) {
                out.heat.push(Arc::clone(h));
                cursor.heat.insert(name.clone(), *v);
            }
        }
        let end = state.first_event + state.events.len() as u64;
        let from = cursor.events.max(state.first_event);
        out.events = state
            .events
            .iter()
            .skip((from - state.first_event) as usize)
            .cloned()
            .collect();
        cursor.events = end;
        cursor.version = state.version.max(1);
        out
    }

    /// Every camera's layout now.
    pub fn layouts(&self) -> Arc<Vec<LayoutView>> {
        Arc::clone(&self.lock().layouts.1)
    }

    /// The latest view of `camera`, if it has been analysed.
    pub fn frame(&self, camera: &str) -> Option<Arc<FrameView>> {
        self.lock().frames.get(camera).map(|(_, f)| Arc::clone(f))
    }
}

/// One camera's accumulations on the writer's side.
struct CameraAcc {
    heat: Vec<u32>,
    heat_dirty: bool,
    heat_sent: Option<Instant>,
    frame_sent: Option<Instant>,
    trails: HashMap<u64, VecDeque<Point>>,
}

impl CameraAcc {
    fn new() -> Self {
        CameraAcc {
            heat: vec![0; HEAT_W * HEAT_H],
            heat_dirty: false,
            heat_sent: None,
            frame_sent: None,
            trails: HashMap::new(),
        }
    }
}

/// The analytics thread's side of the feed; never blocks on a reader.
pub struct FeedWriter {
    feed: Feed,
    cameras: HashMap<String, CameraAcc>,
    pending_frames: BTreeMap<String, Arc<FrameView>>,
    pending_events: Vec<Arc<Event>>,
    pending_layouts: Option<Vec<LayoutView>>,
    removed: Vec<String>,
}

impl std::fmt::Debug for FeedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedWriter").finish_non_exhaustive()
    }
}

impl FeedWriter {
    /// Replaces every camera's layout (at start and after a reload).
    pub fn layouts(&mut self, layouts: Vec<LayoutView>) {
        let keep: Vec<&str> = layouts.iter().map(|l| l.camera.as_str()).collect();
        let gone: Vec<String> = self
            .cameras
            .keys()
            .filter(|c| !keep.contains(&c.as_str()))
            .cloned()
            .collect();
        for c in gone {
            self.cameras.remove(&c);
            self.pending_frames.remove(&c);
            self.removed.push(c);
        }
        self.pending_layouts = Some(layouts);
        self.flush();
    }

    /// Records one analysed frame: trails and heat map grow, and the view is handed over when
    /// the camera's last one is older than [`FRAME_INTERVAL`].
    pub fn frame(&mut self, input: FrameInput<'_>) {
        let (w, h) = (input.width.max(1) as f32, input.height.max(1) as f32);
        let rel = |b: [f32; 4]| [b[0] / w, b[1] / h, b[2] / w, b[3] / h];
        let acc = self
            .cameras
            .entry(input.camera.to_string())
            .or_insert_with(CameraAcc::new);
        let mut tracks = Vec::with_capacity(input.tracks.len());
        for &(id, label, score, bbox, seen) in &input.tracks {
            let b = rel(bbox);
            let foot = [((b[0] + b[2]) / 2.0).clamp(0.0, 1.0), b[3].clamp(0.0, 1.0)];
            let trail = acc.trails.entry(id).or_default();
            if seen {
                trail.push_back(foot);
                if trail.len() > TRAIL {
                    trail.pop_front();
                }
                let x = ((foot[0] * HEAT_W as f32) as usize).min(HEAT_W - 1);
                let y = ((foot[1] * HEAT_H as f32) as usize).min(HEAT_H - 1);
                acc.heat[y * HEAT_W + x] = acc.heat[y * HEAT_W + x].saturating_add(1);
                acc.heat_dirty = true;
            }
            tracks.push(TrackView {
                id,
                label: label.to_string(),
                score,
                bbox: b,
                trail: trail.iter().copied().collect(),
            });
        }
        acc.trails
            .retain(|id, _| input.tracks.iter().any(|t| t.0 == *id));
        let due = acc.frame_sent.is_none_or(|t| t.elapsed() >= FRAME_INTERVAL);
        if due {
            acc.frame_sent = Some(Instant::now());
            let view = FrameView {
                camera: input.camera.to_string(),
                seq: input.seq,
                pts_seconds: input.pts_seconds,
                width: input.width,
                height: input.height,
                tracks,
                motion: input.motion.iter().map(|b| rel(*b)).collect(),
                regions: input.regions.iter().map(|b| rel(*b)).collect(),
                occupancy: input.occupancy,
                lines: input.lines,
            };
            self.pending_frames
                .insert(input.camera.to_string(), Arc::new(view));
        }
        self.flush();
    }

    /// Records an event for the page's timeline.
    pub fn event(&mut self, event: &Event) {
        self.pending_events.push(Arc::new(event.clone()));
        if self.pending_events.len() > EVENTS_KEPT {
            let extra = self.pending_events.len() - EVENTS_KEPT;
            self.pending_events.drain(..extra);
        }
    }

    /// Hands over what is pending if no reader holds the lock; otherwise keeps it for later.
    pub fn flush(&mut self) {
        let nothing = self.pending_frames.is_empty()
            && self.pending_events.is_empty()
            && self.pending_layouts.is_none()
            && self.removed.is_empty()
            && !self.heat_due();
        if nothing {
            return;
        }
        let mut state = match self.feed.shared.state.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        state.version += 1;
        let v = state.version;
        if let Some(l) = self.pending_layouts.take() {
            state.layouts = (v, Arc::new(l));
        }
        for c in self.removed.drain(..) {
            state.frames.remove(&c);
            state.heat.remove(&c);
        }
        for (c, f) in std::mem::take(&mut self.pending_frames) {
            state.frames.insert(c, (v, f));
        }
        for e in self.pending_events.drain(..) {
            state.events.push_back(e);
        }
        while state.events.len() > EVENTS_KEPT {
            state.events.pop_front();
            state.first_event += 1;
        }
        for (c, acc) in &mut self.cameras {
            if acc.heat_dirty && acc.heat_sent.is_none_or(|t| t.elapsed() >= HEAT_INTERVAL) {
                acc.heat_dirty = false;
                acc.heat_sent = Some(Instant::now());
                let heat = HeatView {
                    camera: c.clone(),
                    w: HEAT_W,
                    h: HEAT_H,
                    cells: acc.heat.clone(),
                };
                state.heat.insert(c.clone(), (v, Arc::new(heat)));
            }
        }
        drop(state);
        self.feed.shared.changed.notify_all();
    }

    fn heat_due(&self) -> bool {
        self.cameras
            .values()
            .any(|a| a.heat_dirty && a.heat_sent.is_none_or(|t| t.elapsed() >= HEAT_INTERVAL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(seq: u64, tracks: Vec<(u64, &'a str, f32, [f32; 4], bool)>) -> FrameInput<'a> {
        FrameInput {
            camera: "door",
            seq,
            pts_seconds: None,
            width: 200,
            height: 100,
            tracks,
            motion: &[],
            regions: &[],
            occupancy: BTreeMap::new(),
            lines: BTreeMap::new(),
        }
    }

    #[test]
    fn a_reader_gets_relative_tracks_trails_and_heat() {
        let feed = Feed::new();
        let mut w = feed.writer();
        let mut cursor = Cursor::default();
        let first = feed.next(&mut cursor, Duration::ZERO);
        assert!(first.layouts.is_some() && first.frames.is_empty());
        w.frame(input(
            0,
            vec![(7, "person", 0.9, [20.0, 10.0, 60.0, 90.0], true)],
        ));
        let got = feed.next(&mut cursor, Duration::from_secs(1));
        assert_eq!(got.frames.len(), 1);
        let t = &got.frames[0].tracks[0];
        assert_eq!(t.bbox, [0.1, 0.1, 0.3, 0.9]);
        assert_eq!(t.trail.len(), 1);
        assert!((t.trail[0][0] - 0.2).abs() < 1e-6 && (t.trail[0][1] - 0.9).abs() < 1e-6);
        let heat = &got.heat[0];
        let (x, y) = (
            (0.2 * HEAT_W as f32) as usize,
            (0.9 * HEAT_H as f32) as usize,
        );
        assert_eq!(heat.cells[y * HEAT_W + x], 1);
        assert_eq!(heat.cells.iter().sum::<u32>(), 1);
        // Nothing new: the reader waits and gets nothing.
        let none = feed.next(&mut cursor, Duration::from_millis(20));
        assert!(none.frames.is_empty() && none.heat.is_empty() && none.events.is_empty());
    }

    #[test]
    fn the_writer_never_waits_for_a_reader() {
        let feed = Feed::new();
        let mut w = feed.writer();
        let held = feed.lock();
        let t = Instant::now();
        w.frame(input(
            0,
            vec![(1, "person", 0.8, [0.0, 0.0, 10.0, 10.0], true)],
        ));
        assert!(t.elapsed() < Duration::from_millis(50));
        drop(held);
        // What could not be handed over goes with the next flush.
        w.flush();
        assert!(feed.frame("door").is_some());
    }
}
