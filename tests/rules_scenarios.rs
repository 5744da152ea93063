//! Rules end to end on synthetic scenes: detections -> filters -> ByteTrack -> rules -> events.
//! The frame is 1000 x 500 pixels; rules are written in relative units unless said otherwise.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout::detect::Detection;
use lookout::events::{Crossing, CrossingCounts, Event, EventKind, ObjectChange};
use lookout::rules::{Analytics, RulesConfig};
use lookout::track::{FrameInfo, TrackerConfig};

const W: u32 = 1000;
const H: u32 = 500;
const LABELS: &[&str] = &["person", "car", "truck"];

fn wall0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Frame `seq` at 10 fps, media and wall-clock time advancing together.
fn frame(seq: u64) -> FrameInfo {
    frame_at(
        seq,
        Duration::from_millis(100 * seq),
        wall0() + Duration::from_millis(100 * seq),
    )
}

fn frame_at(seq: u64, pts: Duration, wall: SystemTime) -> FrameInfo {
    FrameInfo {
        camera: Arc::from("gate"),
        seq,
        pts: Some(pts),
        wall,
        width: W,
        height: H,
    }
}

fn rules(yaml: &str) -> RulesConfig {
    let r: RulesConfig = lookout::config::parse_yaml(yaml, Path::new("rules.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    r.validate(Path::new("rules.yaml"), Some(LABELS))
        .unwrap_or_else(|e| panic!("{e}"));
    r
}

/// Tracks confirmed on their first frame and ended 3 frames after they vanish, to keep scenes short.
fn analytics(yaml: &str) -> Analytics {
    let tracker = TrackerConfig {
        min_hits: 1,
        max_age: 3,
        ..TrackerConfig::default()
    };
    Analytics::new(tracker, rules(yaml), Some("nanodet-g".into()))
}

/// A person-sized box (40 x 100 px) standing with its bottom centre at `p`.
fn person(p: [f32; 2], score: f32) -> Detection {
    Detection {
        class_id: 0,
        label: Arc::from("person"),
        score,
        bbox: [p[0] - 20.0, p[1] - 100.0, p[0] + 20.0, p[1]],
        landmarks: Vec::new(),
    }
}

/// Points from `a` to `b` in `n` equal steps, both ends included.
fn path(a: [f32; 2], b: [f32; 2], n: usize) -> Vec<[f32; 2]> {
    (0..=n)
        .map(|i| {
            let f = i as f32 / n as f32;
            [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f]
        })
        .collect()
}

/// Runs one person along `points` (one per frame), then ends the stream; returns every event.
fn walk(an: &mut Analytics, points: &[[f32; 2]]) -> Vec<Event> {
    let mut events = Vec::new();
    for (k, p) in points.iter().enumerate() {
        events.extend(an.process(&frame(k as u64), vec![person(*p, 0.9)]));
    }
    events.extend(an.finish());
    events
}

fn crossings(events: &[Event]) -> Vec<(String, Crossing, CrossingCounts)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LineCrossed {
                line,
                direction,
                counts,
            } => Some((line.clone(), *direction, *counts)),
            _ => None,
        })
        .collect()
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

/// A horizontal line across the middle of the frame, from x = 200 to x = 800 px, at y = 250 px.
const DOOR: &str = "
lines:
  - name: door
    a: [0.2, 0.5]
    b: [0.8, 0.5]
";

#[test]
fn line_crossing_in_both_directions() {
    let mut an = analytics(DOOR);
    let mut pts = path([400.0, 150.0], [400.0, 350.0], 20);
    pts.extend(path([400.0, 350.0], [420.0, 140.0], 20));
    let ev = walk(&mut an, &pts);
    assert_eq!(
        crossings(&ev),
        vec![
            (
                "door".into(),
                Crossing::AToB,
                CrossingCounts {
                    a_to_b: 1,
                    b_to_a: 0
                }
            ),
            (
                "door".into(),
                Crossing::BToA,
                CrossingCounts {
                    a_to_b: 1,
                    b_to_a: 1
                }
            ),
        ]
    );
    let c = &an.counters().lines["door"]["person"];
    assert_eq!((c.a_to_b, c.b_to_a), (1, 1));
    // The crossing happens around frame 10 (y = 250), not before the person gets there.
    let first = ev
        .iter()
        .find(|e| e.kind.name() == "line_crossed")
        .map(|e| e.seq);
    assert!(matches!(first, Some(10..=13)), "{first:?}");
}

#[test]
fn touching_the_line_and_turning_back_is_no_crossing() {
    let mut an = analytics(DOOR);
    let mut pts = path([400.0, 150.0], [400.0, 253.0], 15);
    pts.extend(path([400.0, 253.0], [400.0, 150.0], 15));
    let ev = walk(&mut an, &pts);
    assert!(crossings(&ev).is_empty(), "{:?}", crossings(&ev));
}

/// A person who stops on the line and sways across it for 30 frames before going on.
fn sway() -> Vec<[f32; 2]> {
    let mut pts = path([400.0, 150.0], [400.0, 250.0], 10);
    let mut rng = fastrand::Rng::with_seed(9);
    for k in 0..30 {
        let off = if k % 2 == 0 { 7.0 } else { -7.0 };
        pts.push([
            400.0 + rng.f32() * 4.0,
            250.0 + off + (rng.f32() - 0.5) * 2.0,
        ]);
    }
    pts.extend(path([400.0, 250.0], [400.0, 380.0], 12));
    pts
}

#[test]
fn jitter_around_the_line_gives_one_crossing() {
    let mut an = analytics(DOOR);
    let ev = walk(&mut an, &sway());
    assert_eq!(crossings(&ev).len(), 1, "{:?}", crossings(&ev));
    assert_eq!(crossings(&ev)[0].1, Crossing::AToB);

    // The same sway without hysteresis counts many crossings: the dead band is what prevents it.
    let mut an = analytics(&format!("{DOOR}    hysteresis: 0.0\n"));
    let n = crossings(&walk(&mut an, &sway())).len();
    assert!(n >= 5, "only {n} crossings without hysteresis");
}

#[test]
fn crossing_beyond_the_segment_is_no_crossing() {
    let mut an = analytics(DOOR);
    // x = 900 px is past the end `b` (x = 800 px) of the segment.
    let ev = walk(&mut an, &path([900.0, 150.0], [900.0, 350.0], 20));
    assert!(crossings(&ev).is_empty());
    // A diagonal walk that meets the line's extension past `a` and ends up beside the segment.
    let mut an = analytics(DOOR);
    let ev = walk(&mut an, &path([100.0, 150.0], [250.0, 350.0], 20));
    assert!(crossings(&ev).is_empty(), "{:?}", crossings(&ev));
}

#[test]
fn direction_filter_counts_one_way_only() {
    let mut an = analytics(&format!("{DOOR}    direction: b_to_a\n"));
    let mut pts = path([400.0, 150.0], [400.0, 350.0], 20);
    pts.extend(path([400.0, 350.0], [400.0, 150.0], 20));
    pts.extend(path([400.0, 150.0], [400.0, 350.0], 20));
    let ev = walk(&mut an, &pts);
    let c = crossings(&ev);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].1, Crossing::BToA);
    assert_eq!(
        c[0].2,
        CrossingCounts {
            a_to_b: 0,
            b_to_a: 1
        }
    );
}

#[test]
fn vertical_line_sides_are_as_documented() {
    // Drawn top to bottom: `a_to_b` is moving left.
    let mut an = analytics(
        "
lines:
  - name: v
    a: [0.5, 0.1]
    b: [0.5, 0.9]
",
    );
    let ev = walk(&mut an, &path([700.0, 300.0], [300.0, 300.0], 20));
    assert_eq!(crossings(&ev)[0].1, Crossing::AToB);
}

#[test]
fn pixel_units_give_the_same_crossing() {
    let mut an = analytics(
        "
units: pixels
lines:
  - name: door
    a: [200, 250]
    b: [800, 250]
",
    );
    let ev = walk(&mut an, &path([400.0, 150.0], [400.0, 350.0], 20));
    assert_eq!(crossings(&ev).len(), 1);
}

/// A zone 200 x 200 px in the middle of the frame: x 400..600, y 200..400.
const ZONE: &str = "
zones:
  - name: pad
    points: [[0.4, 0.4], [0.6, 0.4], [0.6, 0.8], [0.4, 0.8]]
";

fn zone_events(ev: &[Event]) -> Vec<(&'static str, u64)> {
    ev.iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ZoneEnter { .. } | EventKind::ZoneExit { .. }
            )
        })
        .map(|e| (e.kind.name(), e.seq))
        .collect()
}

#[test]
fn zone_enter_and_exit_with_inertia() {
    // Walks right at y = 300 px, 20 px per frame: inside from frame 10 (x = 400) to 20 (x = 600).
    let pts = path([200.0, 300.0], [800.0, 300.0], 30);
    let mut an = analytics(&format!("{ZONE}    inertia: 3\n"));
    let ev = walk(&mut an, &pts);
    let z = zone_events(&ev);
    assert_eq!(z.len(), 2, "{z:?}");
    assert_eq!(z[0].0, "zone_enter");
    assert!((12..=13).contains(&z[0].1), "entered on frame {}", z[0].1);
    assert_eq!(z[1].0, "zone_exit");
    assert!((22..=23).contains(&z[1].1), "left on frame {}", z[1].1);
    let EventKind::ZoneExit {
        duration_seconds, ..
    } = &ev
        .iter()
        .find(|e| e.kind.name() == "zone_exit")
        .unwrap()
        .kind
    else {
        unreachable!()
    };
    // Inside from about frame 10 to frame 20: about one second of media time.
    let d = duration_seconds.expect("PTS known");
    assert!((0.9..=1.2).contains(&d), "{d}");
    assert_eq!(an.counters().zones["pad"].visits["person"], 1);
}

#[test]
fn a_brief_visit_shorter_than_inertia_is_ignored() {
    // Steps into the zone (x >= 400 px) for two frames, then walks back out.
    let xs = [
        340.0, 360.0, 380.0, 410.0, 430.0, 390.0, 370.0, 350.0, 330.0,
    ];
    let pts: Vec<[f32; 2]> = xs.iter().map(|&x| [x, 300.0]).collect();
    let mut an = analytics(&format!("{ZONE}    inertia: 4\n"));
    assert!(zone_events(&walk(&mut an, &pts)).is_empty());
    let mut an = analytics(&format!("{ZONE}    inertia: 1\n"));
    assert_eq!(zone_events(&walk(&mut an, &pts)).len(), 2);
}

#[test]
fn zone_labels_restrict_what_a_zone_sees() {
    let mut an = analytics(&format!("{ZONE}    labels: [car]\n"));
    let ev = walk(&mut an, &path([200.0, 300.0], [800.0, 300.0], 30));
    assert!(zone_events(&ev).is_empty());
}

#[test]
fn track_ending_inside_a_zone_exits_it() {
    let mut an = analytics(&format!("{ZONE}    inertia: 1\n"));
    let ev = walk(&mut an, &[[500.0, 300.0]; 10]);
    // The object is announced first, then what it did on that frame.
    assert_eq!(
        kinds(&ev),
        vec!["object", "zone_enter", "zone_exit", "object"]
    );
}

#[test]
fn loitering_is_timed_by_media_time() {
    let yaml = format!("{ZONE}    inertia: 1\n    loitering_seconds: 30\n");
    // Media time 10 s per frame, wall clock frozen: loitering after 30 s of media time, once.
    let mut an = analytics(&yaml);
    let mut ev = Vec::new();
    for k in 0..12u64 {
        let f = frame_at(k, Duration::from_secs(10 * k), wall0());
        ev.extend(an.process(&f, vec![person([500.0, 300.0], 0.9)]));
    }
    let loiter: Vec<_> = ev
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Loitering {
                duration_seconds, ..
            } => Some((e.seq, duration_seconds)),
            _ => None,
        })
        .collect();
    assert_eq!(loiter, vec![(3, 30.0)]);
    assert_eq!(an.counters().zones["pad"].loitering["person"], 1);

    // Wall clock racing (10 s per frame) while media time crawls (0.1 s): no loitering.
    let mut an = analytics(&yaml);
    let mut ev = Vec::new();
    for k in 0..12u64 {
        let f = frame_at(
            k,
            Duration::from_millis(100 * k),
            wall0() + Duration::from_secs(10 * k),
        );
        ev.extend(an.process(&f, vec![person([500.0, 300.0], 0.9)]));
    }
    assert!(!kinds(&ev).contains(&"loitering"));
}

#[test]
fn loitering_once_per_stay() {
    let yaml = format!("{ZONE}    inertia: 1\n    loitering_seconds: 2\n");
    let mut an = analytics(&yaml);
    // 3 s inside, 1 s outside (x = 700), 3 s inside again, 10 fps: two stays, two events.
    let mut pts = vec![[500.0, 300.0]; 30];
    pts.extend(path([500.0, 300.0], [700.0, 300.0], 3));
    pts.extend(vec![[700.0, 300.0]; 6]);
    pts.extend(path([700.0, 300.0], [500.0, 300.0], 3));
    pts.extend(vec![[500.0, 300.0]; 30]);
    let ev = walk(&mut an, &pts);
    assert_eq!(kinds(&ev).iter().filter(|k| **k == "loitering").count(), 2);
}

/// People standing in the zone: person i appears on frame 5i and leaves (is no longer detected)
/// on frame 40 + 5i.
fn crowd(an: &mut Analytics, n: usize) -> Vec<Event> {
    let mut ev = Vec::new();
    for k in 0..(60 + 5 * n as u64) {
        let dets = (0..n)
            .filter(|&i| k >= 5 * i as u64 && k < 40 + 5 * i as u64)
            .map(|i| person([420.0 + 60.0 * i as f32, 300.0], 0.9))
            .collect();
        ev.extend(an.process(&frame(k), dets));
    }
    ev.extend(an.finish());
    ev
}

fn occupancy(ev: &[Event]) -> Vec<(u32, u32)> {
    ev.iter()
        .filter_map(|e| match e.kind {
            EventKind::Occupancy {
                count, previous, ..
            } => Some((previous, count)),
            _ => None,
        })
        .collect()
}

#[test]
fn occupancy_reports_every_change() {
    let mut an = analytics(&format!("{ZONE}    occupancy: {{}}\n"));
    let ev = crowd(&mut an, 3);
    assert_eq!(
        occupancy(&ev),
        vec![(0, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 0)]
    );
    assert_eq!(an.counters().zones["pad"].max_occupancy["person"], 3);
    let e = ev.iter().find(|e| e.kind.name() == "occupancy").unwrap();
    assert_eq!(
        (e.label.as_str(), e.track_id, e.bbox),
        ("person", None, None)
    );
}

#[test]
fn occupancy_threshold_reports_only_passing_it() {
    let mut an = analytics(&format!("{ZONE}    occupancy: {{ threshold: 2 }}\n"));
    let ev = crowd(&mut an, 3);
    assert_eq!(occupancy(&ev), vec![(1, 2), (2, 1)]);
}

#[test]
fn filters_drop_detections_before_tracking() {
    let yaml = "
filters:
  person: { min_score: 0.7, min_area: 0.005, max_ratio: 1.0 }
";
    let cases: [(Detection, bool); 4] = [
        (person([500.0, 300.0], 0.9), true),
        (person([500.0, 300.0], 0.65), false),
        // 40 x 100 px is 0.008 of the frame; 20 x 50 px is 0.002.
        (
            Detection {
                bbox: [490.0, 250.0, 510.0, 300.0],
                ..person([0.0, 0.0], 0.9)
            },
            false,
        ),
        // Lying down: wider than tall.
        (
            Detection {
                bbox: [440.0, 260.0, 560.0, 300.0],
                ..person([0.0, 0.0], 0.9)
            },
            false,
        ),
    ];
    for (i, (d, kept)) in cases.into_iter().enumerate() {
        let mut an = analytics(yaml);
        let mut ev = Vec::new();
        for k in 0..5 {
            ev.extend(an.process(&frame(k), vec![d.clone()]));
        }
        let reported = ev.iter().any(|e| e.kind.name() == "object");
        assert_eq!(reported, kept, "case {i}");
        assert_eq!(
            an.counters().detections_filtered,
            if kept { 0 } else { 5 },
            "case {i}"
        );
    }
}

#[test]
fn objects_list_and_masks() {
    let yaml = "
objects: [person]
masks:
  - [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]]
";
    let car = Detection {
        label: Arc::from("car"),
        ..person([600.0, 300.0], 0.9)
    };
    let mut an = analytics(yaml);
    let mut ev = Vec::new();
    for k in 0..5 {
        // Left third of the frame is masked (x < 300 px): judged on the bottom centre, so a box
        // reaching into the mask with its feet outside it is still seen.
        let masked = person([200.0, 300.0], 0.9);
        let straddling = Detection {
            bbox: [250.0, 200.0, 400.0, 300.0],
            ..person([0.0, 0.0], 0.9)
        };
        ev.extend(an.process(&frame(k), vec![masked, straddling, car.clone()]));
    }
    let new: Vec<_> = ev.iter().filter(|e| e.kind.name() == "object").collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].label, "person");
    assert!((new[0].bbox.unwrap()[0] - 0.25).abs() < 0.01);
    assert_eq!(an.counters().detections_filtered, 10);
}

#[test]
fn label_specific_mask() {
    let yaml = "
filters:
  car:
    masks: [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]
";
    let mut an = analytics(yaml);
    let car = Detection {
        label: Arc::from("car"),
        ..person([600.0, 300.0], 0.9)
    };
    let mut ev = Vec::new();
    for k in 0..5 {
        ev.extend(an.process(&frame(k), vec![car.clone(), person([300.0, 300.0], 0.9)]));
    }
    let labels: Vec<&str> = ev.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, vec!["person"]);
}

#[test]
fn median_score_threshold_delays_and_keeps_early_events() {
    let yaml = format!("{DOOR}filters:\n  person: {{ threshold: 0.7 }}\n");
    // Crosses the line on frame ~10 while its scores are still mediocre; they rise from frame 12.
    let pts = path([400.0, 150.0], [400.0, 350.0], 20);
    let mut an = analytics(&yaml);
    let mut ev = Vec::new();
    for (k, p) in pts.iter().enumerate() {
        let s = if k < 12 { 0.6 } else { 0.95 };
        ev.extend(an.process(&frame(k as u64), vec![person(*p, s)]));
    }
    let first = &ev[0];
    assert!(matches!(
        first.kind,
        EventKind::Object {
            change: ObjectChange::New,
            ..
        }
    ));
    // Median of 16 scores passes 0.7 once more than half are 0.95: on frame 18.
    assert!(first.seq >= 12, "reported on frame {}", first.seq);
    let c = crossings(&ev);
    assert_eq!(
        c.len(),
        1,
        "the early crossing is delivered once the object is confirmed"
    );
    let crossed = ev.iter().find(|e| e.kind.name() == "line_crossed").unwrap();
    assert!(crossed.seq < first.seq, "it keeps the time it happened");

    // Never confident enough: nothing at all, and nothing counted.
    let mut an = analytics(&yaml);
    let mut ev = Vec::new();
    for (k, p) in pts.iter().enumerate() {
        ev.extend(an.process(&frame(k as u64), vec![person(*p, 0.6)]));
    }
    ev.extend(an.finish());
    assert!(ev.is_empty(), "{:?}", kinds(&ev));
    assert_eq!(an.counters().lines["door"].get("person"), None);
}

#[test]
fn object_lifecycle_in_frigate_shape() {
    let mut an = analytics(&format!("{ZONE}    inertia: 1\n"));
    let ev = walk(&mut an, &path([200.0, 300.0], [800.0, 300.0], 30));
    let objects: Vec<(ObjectChange, Vec<String>, Vec<String>, bool)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Object {
                change,
                before,
                after,
            } => Some((
                *change,
                before.current_zones.clone(),
                after.current_zones.clone(),
                after.end_time.is_some(),
            )),
            _ => None,
        })
        .collect();
    let pad = || vec!["pad".to_string()];
    assert_eq!(
        objects,
        vec![
            (ObjectChange::New, vec![], vec![], false),
            (ObjectChange::Update, vec![], pad(), false),
            (ObjectChange::Update, pad(), vec![], false),
            (ObjectChange::End, vec![], vec![], true),
        ]
    );
    // One object id and one track id throughout; every event id distinct.
    let ids: std::collections::BTreeSet<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Object { after, .. } => Some((after.id.clone(), after.track_id)),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let event_ids: std::collections::BTreeSet<_> = ev.iter().map(|e| &e.id).collect();
    assert_eq!(event_ids.len(), ev.len());
    let EventKind::Object { after, .. } = &ev.last().unwrap().kind else {
        unreachable!()
    };
    assert_eq!(after.entered_zones, pad());
    assert_eq!(after.start_time, "2023-11-14T22:13:20.000Z");
    assert_eq!(an.counters().objects["person"], 1);
}

#[test]
fn events_carry_frame_metadata() {
    let mut an = analytics(DOOR);
    let ev = walk(&mut an, &path([400.0, 150.0], [400.0, 350.0], 20));
    let e = ev.iter().find(|e| e.kind.name() == "line_crossed").unwrap();
    assert_eq!(e.camera, "gate");
    assert_eq!(e.model.as_deref(), Some("nanodet-g"));
    assert_eq!(e.schema_version, lookout::events::SCHEMA_VERSION);
    assert_eq!(e.track_id, Some(1));
    assert!((e.pts_seconds.unwrap() - e.seq as f64 * 0.1).abs() < 1e-9);
    assert!(e.time.starts_with("2023-11-14T22:13:2"), "{}", e.time);
    let b = e.bbox.unwrap();
    assert!(b.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!((b[3] - 0.5).abs() < 0.05, "bottom near the line: {b:?}");
}

#[test]
fn events_read_as_one_line_each() {
    let mut an = analytics(&format!(
        "{DOOR}{}    occupancy: {{}}\n    inertia: 1\n",
        &ZONE[1..]
    ));
    let ev = walk(&mut an, &path([500.0, 150.0], [500.0, 350.0], 20));
    let lines: Vec<String> = ev.iter().map(|e| e.to_string()).collect();
    let text = lines.join("\n");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("[gate t=") && !l.contains('\n')),
        "{text}"
    );
    for want in [
        "] person #1 appeared (score 0.90)",
        "] person #1 entered zone pad",
        "] person #1 crossed door (a_to_b; totals a_to_b 1, b_to_a 0)",
        "] zone pad: 1 person (was 0)",
        "] person #1 left zone pad after ",
        "] person #1 gone (score 0.90)",
    ] {
        assert!(text.contains(want), "missing `{want}` in\n{text}");
    }
}

#[test]
fn new_rules_keep_the_state_of_zones_and_lines_that_stay() {
    let before = "zones:\n  - {name: yard, points: [[0.0, 0.0], [0.6, 0.0], [0.6, 1.0], [0.0, 1.0]], loitering_seconds: 3, occupancy: {}}\n";
    let after = "zones:\n  - {name: yard, points: [[0.0, 0.0], [0.6, 0.0], [0.6, 1.0], [0.0, 1.0]], loitering_seconds: 3, occupancy: {}}\n\
                 lines:\n  - {name: gate, a: [0.7, 0.0], b: [0.7, 1.0]}\n";
    let mut a = analytics(before);
    let mut events = Vec::new();
    // 2 s standing in the yard, the rules change, 2 more s, then a walk out through the new line.
    let mut seq = 0;
    for _ in 0..20 {
        events.extend(a.process(&frame(seq), vec![person([200.0, 300.0], 0.9)]));
        seq += 1;
    }
    a.reconfigure(
        TrackerConfig {
            min_hits: 1,
            max_age: 3,
            ..TrackerConfig::default()
        },
        rules(after),
    );
    for _ in 0..20 {
        events.extend(a.process(&frame(seq), vec![person([200.0, 300.0], 0.9)]));
        seq += 1;
    }
    for p in path([200.0, 300.0], [900.0, 300.0], 100) {
        events.extend(a.process(&frame(seq), vec![person(p, 0.9)]));
        seq += 1;
    }
    events.extend(a.finish());
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    // One entry (not a second after the reload), loitering after 3 s of one stay, the new line.
    assert_eq!(
        kinds.iter().filter(|k| **k == "zone_enter").count(),
        1,
        "{kinds:?}"
    );
    let loiter: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind.name() == "loitering")
        .collect();
    assert_eq!(loiter.len(), 1, "{kinds:?}");
    assert!(
        (3.0..3.3).contains(&loiter[0].pts_seconds.unwrap()),
        "{:?}",
        loiter[0].pts_seconds
    );
    let crossed: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind.name() == "line_crossed")
        .collect();
    assert_eq!(crossed.len(), 1, "{kinds:?}");
    assert!(
        matches!(&crossed[0].kind, EventKind::LineCrossed { line, direction: Crossing::BToA, .. } if line == "gate"),
        "{:?}",
        crossed[0].kind
    );
    assert_eq!(
        a.counters().lines["gate"]["person"],
        CrossingCounts {
            a_to_b: 0,
            b_to_a: 1
        }
    );
    assert!(a.tracker().tracks().count() <= 1);
}
