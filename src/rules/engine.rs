//! The rule engine of one camera: tracker output in, events out, counters kept for the summary.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::zone::ZoneChange;
use super::{LineConfig, RulesConfig, ZoneConfig, line::LineTrack, zone::ZoneTrack};
use crate::detect::Detection;
use crate::events::{
    self, CrossingCounts, Event, EventKind, ObjectChange, ObjectSnapshot, SCHEMA_VERSION,
};
use crate::geometry::{self, Point, Segment};
use crate::track::{FrameInfo, Seen, Track, Tracker, TrackerConfig, TrackerOutput};

/// Events an object may produce before it is confirmed by its median score; older ones are dropped.
const PENDING_LIMIT: usize = 64;
/// A rise of the top score that is worth an `update` event.
const TOP_SCORE_STEP: f32 = 0.05;

/// What the rules have seen so far, for the run summary and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// Frames processed.
    pub frames: u64,
    /// Detections kept by the filters and masks.
    pub detections: u64,
    /// Detections dropped by the filters and masks.
    pub detections_filtered: u64,
    /// Objects reported (`object` `new` events), per label.
    pub objects: BTreeMap<String, u64>,
    /// Crossings per line, label and direction.
    pub lines: BTreeMap<String, BTreeMap<String, CrossingCounts>>,
    /// Per zone: visits, loitering and the most objects seen inside at once.
    pub zones: BTreeMap<String, ZoneCounters>,
    /// Events sent, per kind.
    pub events: BTreeMap<String, u64>,
}

/// What happened in one zone, per label.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZoneCounters {
    /// `zone_enter` events.
    pub visits: BTreeMap<String, u64>,
    /// `loitering` events.
    pub loitering: BTreeMap<String, u64>,
    /// Most objects inside at once.
    pub max_occupancy: BTreeMap<String, u32>,
}

/// Rule geometry in pixels of one frame size.
#[derive(Debug)]
struct Geometry {
    size: (u32, u32),
    masks: Vec<Vec<Point>>,
    label_masks: HashMap<String, Vec<Vec<Point>>>,
    zones: Vec<Vec<Point>>,
    lines: Vec<Segment>,
}

impl Geometry {
    fn new(c: &RulesConfig, width: u32, height: u32) -> Self {
        let px = |p: Point| c.units.to_pixels(p, width, height);
        let poly = |p: &super::Polygon| p.value.iter().map(|q| px(q.value)).collect::<Vec<_>>();
        Self {
            size: (width, height),
            masks: c.masks.iter().map(poly).collect(),
            label_masks: c
                .filters
                .iter()
                .map(|(l, f)| (l.value.clone(), f.masks.iter().map(poly).collect()))
                .collect(),
            zones: c.zones.iter().map(|z| poly(&z.points)).collect(),
            lines: c
                .lines
                .iter()
                .map(|l| Segment {
                    a: px(l.a.value),
                    b: px(l.b.value),
                })
                .collect(),
        }
    }

    fn masked(&self, label: &str, p: Point) -> bool {
        self.masks
            .iter()
            .chain(self.label_masks.get(label).into_iter().flatten())
            .any(|m| geometry::inside(m, p))
    }
}

/// One tracked object as the rules see it.
#[derive(Debug)]
struct Obj {
    label: Arc<str>,
    /// Its `object` id once reported (its median score passed the label's `threshold`).
    id: Option<String>,
    zones: Vec<ZoneTrack>,
    lines: Vec<LineTrack>,
    entered: Vec<String>,
    published: Option<ObjectSnapshot>,
    /// Events made before it was reported, sent if it ever is.
    pending: Vec<Event>,
}

/// Turns one camera's tracks into events: zones, lines, loitering, occupancy and object lifecycle.
#[derive(Debug)]
pub struct RuleEngine {
    config: RulesConfig,
    model: Option<String>,
    geometry: Option<Geometry>,
    objects: HashMap<u64, Obj>,
    /// Per zone, objects of each label inside on the last frame.
    occupancy: Vec<BTreeMap<String, u32>>,
    counters: Counters,
    last_frame: Option<FrameInfo>,
}

impl RuleEngine {
    /// An engine for validated rules (see [`RulesConfig::validate`]); `model` names the detector
    /// in events.
    pub fn new(config: RulesConfig, model: Option<String>) -> Self {
        let mut counters = Counters::default();
        for l in &config.lines {
            let per_label = counters.lines.entry(l.name.value.clone()).or_default();
            for label in &l.labels {
                per_label.entry(label.value.clone()).or_default();
            }
        }
        for z in &config.zones {
            counters.zones.entry(z.name.value.clone()).or_default();
        }
        Self {
            occupancy: vec![BTreeMap::new(); config.zones.len()],
            config,
            model,
            geometry: None,
            objects: HashMap::new(),
            counters,
            last_frame: None,
        }
    }

    /// Takes new rules (a reloaded pipeline file) without losing what it knows: each object's
    /// state in a zone or line that still exists under the same name (inside or not, since when,
    /// loitering reported, the side of a line) and each zone's occupancy carry over; new zones and
    /// lines start empty; removed ones are forgotten. Counters stay (the summary covers the run).
    pub fn reconfigure(&mut self, config: RulesConfig) {
        let zone_from = |name: &str| self.config.zones.iter().position(|z| z.name.value == name);
        let line_from = |name: &str| self.config.lines.iter().position(|l| l.name.value == name);
        let zones: Vec<Option<usize>> = config
            .zones
            .iter()
            .map(|z| zone_from(&z.name.value))
            .collect();
        let lines: Vec<Option<usize>> = config
            .lines
            .iter()
            .map(|l| line_from(&l.name.value))
            .collect();
        for obj in self.objects.values_mut() {
            obj.zones = zones
                .iter()
                .map(|old| {
                    old.and_then(|i| obj.zones.get(i).cloned())
                        .unwrap_or_default()
                })
                .collect();
            obj.lines = lines
                .iter()
                .map(|old| {
                    old.and_then(|i| obj.lines.get(i).cloned())
                        .unwrap_or_default()
                })
                .collect();
        }
        self.occupancy = zones
            .iter()
            .map(|old| {
                old.and_then(|i| self.occupancy.get(i).cloned())
                    .unwrap_or_default()
            })
            .collect();
        for l in &config.lines {
            let per_label = self.counters.lines.entry(l.name.value.clone()).or_default();
            for label in &l.labels {
                per_label.entry(label.value.clone()).or_default();
            }
        }
        for z in &config.zones {
            self.counters.zones.entry(z.name.value.clone()).or_default();
        }
        self.config = config;
        // Pixels are recomputed on the next frame.
        self.geometry = None;
    }

    /// Objects inside each zone on the last frame, all labels together: for live displays.
    pub fn occupancy_now(&self) -> BTreeMap<String, u32> {
        self.config
            .zones
            .iter()
            .zip(&self.occupancy)
            .map(|(z, o)| (z.name.value.clone(), o.values().sum()))
            .collect()
    }

    /// Crossings of each line since start, all labels together: `[a_to_b, b_to_a]`.
    pub fn line_totals(&self) -> BTreeMap<String, [u64; 2]> {
        self.config
            .lines
            .iter()
            .map(|l| {
                let per = self.counters.lines.get(&l.name.value);
                let sum = |f: fn(&crate::events::CrossingCounts) -> u64| {
                    per.map_or(0, |m| m.values().map(f).sum())
                };
                (l.name.value.clone(), [sum(|c| c.a_to_b), sum(|c| c.b_to_a)])
            })
            .collect()
    }

    /// Counts so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Drops detections the rules do not want tracked: labels outside `objects`, and those failing
    /// their label's score, size or shape filter or lying (bottom centre) in a mask.
    pub fn filter(&mut self, frame: &FrameInfo, detections: &mut Vec<Detection>) {
        self.ensure_geometry(frame);
        let before = detections.len();
        if let Some(geo) = &self.geometry {
            let c = &self.config;
            detections.retain(|d| {
                if !wanted(c, &d.label) {
                    return false;
                }
                let [x1, y1, x2, y2] = d.bbox;
                let (w, h) = ((x2 - x1).max(0.0), (y2 - y1).max(0.0));
                let area = c.units.area_from_pixels(w * h, frame.width, frame.height);
                let ok = c
                    .filter(&d.label)
                    .is_none_or(|f| f.passes(d.score, w, h, area));
                ok && !geo.masked(&d.label, [(x1 + x2) / 2.0, y2])
            });
        }
        let kept = detections.len() as u64;
        self.counters.detections += kept;
        self.counters.detections_filtered += before as u64 - kept;
    }

    /// Applies the rules to one frame's tracker output.
    pub fn process(&mut self, frame: &FrameInfo, tracks: &TrackerOutput) -> Vec<Event> {
        self.ensure_geometry(frame);
        self.counters.frames += 1;
        self.last_frame = Some(frame.clone());
        self.apply(frame, tracks)
    }

    /// Ends the tracks of a finished stream (from [`Tracker::finish`]); events are stamped with the
    /// last frame processed.
    pub fn finish(&mut self, tracks: &TrackerOutput) -> Vec<Event> {
        match self.last_frame.clone() {
            Some(frame) => self.apply(&frame, tracks),
            None => Vec::new(),
        }
    }

    fn apply(&mut self, frame: &FrameInfo, tracks: &TrackerOutput) -> Vec<Event> {
        let mut out = Vec::new();
        for t in tracks.new.iter().chain(&tracks.updated) {
            if wanted(&self.config, &t.label) {
                self.observe(frame, t, &mut out);
            }
        }
        for t in &tracks.ended {
            self.end(frame, t, &mut out);
        }
        self.occupancy(frame, &mut out);
        out
    }

    fn ensure_geometry(&mut self, frame: &FrameInfo) {
        let size = (frame.width, frame.height);
        if self.geometry.as_ref().is_none_or(|g| g.size != size) {
            self.geometry = Some(Geometry::new(&self.config, frame.width, frame.height));
        }
    }

    /// One matched track on this frame: zones, loitering, lines, then its object events.
    fn observe(&mut self, frame: &FrameInfo, t: &Track, out: &mut Vec<Event>) {
        let Some(geo) = &self.geometry else { return };
        let c = &self.config;
        let obj = self.objects.entry(t.id).or_insert_with(|| Obj {
            label: t.label.clone(),
            id: None,
            zones: vec![ZoneTrack::default(); c.zones.len()],
            lines: vec![LineTrack::default(); c.lines.len()],
            entered: Vec::new(),
            published: None,
            pending: Vec::new(),
        });
        let now = frame.seen();
        let anchor = t.anchor();
        let mk = |kind| make_event(frame, &self.model, kind, &t.label, Some((t, t.bbox)));
        let mut evs = Vec::new();

        for (i, z) in c.zones.iter().enumerate() {
            if !applies(&z.labels, &t.label) {
                continue;
            }
            let state = &mut obj.zones[i];
            match state.observe(geometry::inside(&geo.zones[i], anchor), z.inertia, now) {
                Some(ZoneChange::Entered { .. }) => {
                    if !obj.entered.contains(&z.name.value) {
                        obj.entered.push(z.name.value.clone());
                    }
                    evs.push(mk(EventKind::ZoneEnter {
                        zone: z.name.value.clone(),
                    }));
                }
                Some(ZoneChange::Exited { since, until }) => {
                    evs.push(mk(zone_exit(z, since, until)))
                }
                None => {}
            }
            if let (Some(limit), Some(since)) = (z.loitering_seconds, state.since)
                && state.inside
                && !state.loitered
            {
                let stayed = now.since(&since).as_secs_f64();
                if stayed >= limit {
                    state.loitered = true;
                    evs.push(mk(EventKind::Loitering {
                        zone: z.name.value.clone(),
                        duration_seconds: stayed,
                    }));
                }
            }
        }

        let margin = |l: &LineConfig| (l.hysteresis * (t.bbox[3] - t.bbox[1])).max(1.0);
        for (i, l) in c.lines.iter().enumerate() {
            if !applies(&l.labels, &t.label) {
                continue;
            }
            if let Some(dir) = obj.lines[i].observe(&geo.lines[i], anchor, margin(l))
                && l.direction.admits(dir)
            {
                evs.push(mk(EventKind::LineCrossed {
                    line: l.name.value.clone(),
                    direction: dir,
                    counts: CrossingCounts::default(),
                }));
            }
        }

        let threshold = c.filter(&t.label).and_then(|f| f.threshold);
        if obj.id.is_none() && threshold.is_none_or(|th| t.median_score() >= th) {
            let id = events::new_id();
            obj.id = Some(id.clone());
            let snap = snapshot(frame, &id, t, t.bbox, obj, &c.zones, None);
            emit(
                &mut self.counters,
                out,
                mk(object_kind(ObjectChange::New, &snap, &snap)),
            );
            obj.published = Some(snap);
            for e in obj.pending.drain(..) {
                emit(&mut self.counters, out, e);
            }
        } else if obj.id.is_none() {
            obj.pending.extend(evs);
            let excess = obj.pending.len().saturating_sub(PENDING_LIMIT);
            obj.pending.drain(..excess);
            return;
        }
        for e in evs {
            emit(&mut self.counters, out, e);
        }
        if let (Some(id), Some(before)) = (&obj.id, &obj.published) {
            let snap = snapshot(frame, id, t, t.bbox, obj, &c.zones, None);
            if snap.current_zones != before.current_zones
                || snap.top_score >= before.top_score + TOP_SCORE_STEP
            {
                emit(
                    &mut self.counters,
                    out,
                    mk(object_kind(ObjectChange::Update, before, &snap)),
                );
                obj.published = Some(snap);
            }
        }
    }

    /// A track ended: it leaves its zones, and its object ends.
    fn end(&mut self, frame: &FrameInfo, t: &Track, out: &mut Vec<Event>) {
        let Some(mut obj) = self.objects.remove(&t.id) else {
            return;
        };
        let Some(id) = obj.id.clone() else { return };
        let mk = |kind| make_event(frame, &self.model, kind, &t.label, Some((t, t.detection)));
        for (i, z) in self.config.zones.iter().enumerate() {
            if let Some(ZoneChange::Exited { since, until }) = obj.zones[i].end(t.last_seen) {
                emit(&mut self.counters, out, mk(zone_exit(z, since, until)));
            }
        }
        let end = Some(events::rfc3339(t.last_seen.wall));
        let snap = snapshot(frame, &id, t, t.detection, &obj, &self.config.zones, end);
        let before = obj.published.take().unwrap_or_else(|| snap.clone());
        emit(
            &mut self.counters,
            out,
            mk(object_kind(ObjectChange::End, &before, &snap)),
        );
    }

    /// Counts reported objects inside each zone, per label, and reports changes.
    fn occupancy(&mut self, frame: &FrameInfo, out: &mut Vec<Event>) {
        for (i, z) in self.config.zones.iter().enumerate() {
            let mut now: BTreeMap<String, u32> = BTreeMap::new();
            for o in self.objects.values() {
                if o.id.is_some() && o.zones[i].inside {
                    *now.entry(o.label.to_string()).or_default() += 1;
                }
            }
            let last = std::mem::take(&mut self.occupancy[i]);
            let zc = self.counters.zones.entry(z.name.value.clone()).or_default();
            for (label, n) in &now {
                let m = zc.max_occupancy.entry(label.clone()).or_default();
                *m = (*m).max(*n);
            }
            if let Some(occ) = &z.occupancy {
                let labels: std::collections::BTreeSet<&String> =
                    last.keys().chain(now.keys()).collect();
                for label in labels {
                    let (before, count) = (
                        last.get(label).copied().unwrap_or(0),
                        now.get(label).copied().unwrap_or(0),
                    );
                    if occ.reports(before, count) {
                        let kind = EventKind::Occupancy {
                            zone: z.name.value.clone(),
                            count,
                            previous: before,
                            threshold: occ.threshold,
                        };
                        emit(
                            &mut self.counters,
                            out,
                            make_event(frame, &self.model, kind, label, None),
                        );
                    }
                }
            }
            self.occupancy[i] = now;
        }
    }
}

/// Whether `objects` keeps `label`.
fn wanted(c: &RulesConfig, label: &str) -> bool {
    c.objects
        .as_ref()
        .is_none_or(|o| o.iter().any(|l| l.value == label))
}

/// Whether a zone or line with these `labels` (empty: all) watches `label`.
fn applies(labels: &[serde_saphyr::Spanned<String>], label: &str) -> bool {
    labels.is_empty() || labels.iter().any(|l| l.value == label)
}

fn zone_exit(z: &ZoneConfig, since: Seen, until: Seen) -> EventKind {
    EventKind::ZoneExit {
        zone: z.name.value.clone(),
        duration_seconds: (since.pts.is_some() && until.pts.is_some())
            .then(|| until.since(&since).as_secs_f64()),
    }
}

fn object_kind(change: ObjectChange, before: &ObjectSnapshot, after: &ObjectSnapshot) -> EventKind {
    EventKind::Object {
        change,
        before: Box::new(before.clone()),
        after: Box::new(after.clone()),
    }
}

fn make_event(
    frame: &FrameInfo,
    model: &Option<String>,
    kind: EventKind,
    label: &str,
    track: Option<(&Track, [f32; 4])>,
) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        id: events::new_id(),
        // Stamped by the sinks, which know the box.
        device: String::new(),
        site: String::new(),
        camera: frame.camera.to_string(),
        kind,
        label: label.to_string(),
        score: track.map(|(t, _)| t.score),
        track_id: track.map(|(t, _)| t.id),
        bbox: track.map(|(_, b)| events::relative_box(b, frame.width, frame.height)),
        seq: frame.seq,
        pts_seconds: frame.pts.map(|p| p.as_secs_f64()),
        time: events::rfc3339(frame.wall),
        model: model.clone(),
    }
}

fn snapshot(
    frame: &FrameInfo,
    id: &str,
    t: &Track,
    bbox: [f32; 4],
    obj: &Obj,
    zones: &[ZoneConfig],
    end_time: Option<String>,
) -> ObjectSnapshot {
    let rel = events::relative_box(bbox, frame.width, frame.height);
    let (w, h) = ((bbox[2] - bbox[0]).max(0.0), (bbox[3] - bbox[1]).max(0.0));
    ObjectSnapshot {
        id: id.to_string(),
        track_id: t.id,
        camera: frame.camera.to_string(),
        label: t.label.to_string(),
        score: t.score,
        top_score: t.top_score,
        bbox: rel,
        area: (rel[2] - rel[0]) * (rel[3] - rel[1]),
        ratio: if h > 0.0 { w / h } else { 0.0 },
        current_zones: zones
            .iter()
            .zip(&obj.zones)
            .filter(|(_, s)| s.inside)
            .map(|(z, _)| z.name.value.clone())
            .collect(),
        entered_zones: obj.entered.clone(),
        start_time: events::rfc3339(t.first_seen.wall),
        end_time,
        start_pts_seconds: t.first_seen.pts.map(|p| p.as_secs_f64()),
        last_pts_seconds: t.last_seen.pts.map(|p| p.as_secs_f64()),
    }
}

/// Sends an event: fills in running counts and updates the counters.
fn emit(counters: &mut Counters, out: &mut Vec<Event>, mut e: Event) {
    match &mut e.kind {
        EventKind::LineCrossed {
            line,
            direction,
            counts,
        } => {
            let c = counters
                .lines
                .entry(line.clone())
                .or_default()
                .entry(e.label.clone())
                .or_default();
            c.add(*direction);
            *counts = *c;
        }
        EventKind::ZoneEnter { zone } => {
            let z = counters.zones.entry(zone.clone()).or_default();
            *z.visits.entry(e.label.clone()).or_default() += 1;
        }
        EventKind::Loitering { zone, .. } => {
            let z = counters.zones.entry(zone.clone()).or_default();
            *z.loitering.entry(e.label.clone()).or_default() += 1;
        }
        EventKind::Object {
            change: ObjectChange::New,
            ..
        } => *counters.objects.entry(e.label.clone()).or_default() += 1,
        _ => {}
    }
    *counters
        .events
        .entry(e.kind.name().to_string())
        .or_default() += 1;
    out.push(e);
}

/// Tracker and rules of one camera together: detections in, events out.
#[derive(Debug)]
pub struct Analytics {
    tracker: Tracker,
    engine: RuleEngine,
}

impl Analytics {
    /// A camera's tracker and rule engine; `rules` must have passed [`RulesConfig::validate`].
    pub fn new(tracker: TrackerConfig, rules: RulesConfig, model: Option<String>) -> Self {
        Self {
            tracker: Tracker::new(tracker),
            engine: RuleEngine::new(rules, model),
        }
    }

    /// Filters, tracks and judges one frame's detections.
    pub fn process(&mut self, frame: &FrameInfo, mut detections: Vec<Detection>) -> Vec<Event> {
        self.engine.filter(frame, &mut detections);
        let tracks = self.tracker.update(frame, &detections);
        self.engine.process(frame, &tracks)
    }

    /// Ends every track at the end of the stream.
    pub fn finish(&mut self) -> Vec<Event> {
        let tracks = self.tracker.finish();
        self.engine.finish(&tracks)
    }

    /// New tracker settings and rules, keeping tracks and what the rules know of them (see
    /// [`RuleEngine::reconfigure`]).
    pub fn reconfigure(&mut self, tracker: TrackerConfig, rules: RulesConfig) {
        self.tracker.reconfigure(tracker);
        self.engine.reconfigure(rules);
    }

    /// Counts so far.
    pub fn counters(&self) -> &Counters {
        self.engine.counters()
    }

    /// The tracker, e.g. to list live tracks.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }
}
