//! ByteTrack on synthetic trajectories: crossing paths, occlusion gaps, noise, low-score frames.
//! Identity errors are counted the way MOT benchmarks do (id switches, fragmentations) and bounded.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lookout::detect::Detection;
use lookout::track::assign::{iou, match_pairs};
use lookout::track::{FrameInfo, Tracker, TrackerConfig, TrackerOutput};

fn frame(seq: u64) -> FrameInfo {
    FrameInfo {
        camera: Arc::from("cam"),
        seq,
        pts: Some(Duration::from_millis(100 * seq)),
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(100 * seq),
        width: 1000,
        height: 600,
    }
}

fn det(label: &str, score: f32, b: [f32; 4]) -> Detection {
    Detection {
        class_id: 0,
        label: Arc::from(label),
        score,
        bbox: b,
        landmarks: Vec::new(),
    }
}

/// A box `w` x `h` with its top left at (x, y).
fn rect(x: f32, y: f32, w: f32, h: f32) -> [f32; 4] {
    [x, y, x + w, y + h]
}

/// Ground truth of one frame: (object number, label, box, score), or `None` when undetected.
type Truth = Vec<(usize, &'static str, [f32; 4], Option<f32>)>;

/// Identity statistics against ground truth.
#[derive(Debug, Default)]
struct Score {
    /// A ground-truth object's track id changed from one frame where it was tracked to the next.
    id_switches: usize,
    /// Distinct track ids given to each object, minus one (0 = one id all along).
    fragmentations: usize,
    /// Frames where a detected object had no confirmed track over it.
    missed: usize,
    /// Ids seen per object.
    ids: HashMap<usize, BTreeSet<u64>>,
}

/// Runs the tracker over `frames` and scores identities: objects are paired one-to-one with the
/// confirmed tracks matched this frame, by best total IoU (each pair at least 0.5).
fn run(config: TrackerConfig, frames: &[Truth]) -> (Score, Vec<TrackerOutput>) {
    let mut tracker = Tracker::new(config);
    let mut score = Score::default();
    let mut last: HashMap<usize, u64> = HashMap::new();
    let mut outs = Vec::new();
    for (k, truth) in frames.iter().enumerate() {
        let dets: Vec<Detection> = truth
            .iter()
            .filter_map(|(_, l, b, s)| s.map(|s| det(l, s, *b)))
            .collect();
        let out = tracker.update(&frame(k as u64), &dets);
        let live: Vec<_> = out.new.iter().chain(&out.updated).collect();
        // One-to-one pairing of objects and tracks, as MOT metrics do.
        let pairs = match_pairs(truth.len(), live.len(), 0.5, |r, c| {
            Some(iou(truth[r].2, live[c].bbox))
        });
        for (r, (obj, _, _, s)) in truth.iter().enumerate() {
            match pairs.iter().find(|(pr, _)| *pr == r) {
                Some(&(_, c)) => {
                    let id = live[c].id;
                    if let Some(prev) = last.insert(*obj, id)
                        && prev != id
                    {
                        score.id_switches += 1;
                    }
                    score.ids.entry(*obj).or_default().insert(id);
                }
                // Only detected objects past the confirmation frame count as missed.
                None if s.is_some() && k > 2 => score.missed += 1,
                None => {}
            }
        }
        outs.push(out);
    }
    score.fragmentations = score.ids.values().map(|s| s.len().saturating_sub(1)).sum();
    (score, outs)
}

#[test]
fn crossing_paths_keep_their_ids() {
    // A walks right, B walks left, slightly lower; they overlap heavily for several frames.
    let frames: Vec<Truth> = (0..60)
        .map(|k| {
            let k = k as f32;
            vec![
                (
                    0,
                    "person",
                    rect(100.0 + 12.0 * k, 200.0, 50.0, 120.0),
                    Some(0.9),
                ),
                (
                    1,
                    "person",
                    rect(800.0 - 12.0 * k, 215.0, 50.0, 120.0),
                    Some(0.85),
                ),
            ]
        })
        .collect();
    let (s, _) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.id_switches, 0, "{s:?}");
    assert_eq!(s.fragmentations, 0, "{s:?}");
    assert_eq!(s.missed, 0, "{s:?}");
    assert_ne!(s.ids[&0], s.ids[&1]);
}

#[test]
fn crossing_with_occlusion_keeps_ids() {
    // As above, but the object behind is not detected at all while the boxes overlap (as after
    // NMS in a real detector): the tracker must coast it through and pick it up on the far side.
    let frames: Vec<Truth> = (0..120)
        .map(|k| {
            let kf = k as f32;
            let a = rect(100.0 + 6.0 * kf, 200.0, 50.0, 120.0);
            let b = rect(800.0 - 6.0 * kf, 210.0, 50.0, 120.0);
            let hidden = iou(a, b) > 0.1;
            vec![
                (0, "person", a, Some(0.9)),
                (1, "person", b, (!hidden).then_some(0.85)),
            ]
        })
        .collect();
    let hidden = frames.iter().filter(|f| f[1].3.is_none()).count();
    assert!(
        hidden >= 5,
        "the scenario must hide B for a while ({hidden} frames)"
    );
    let (s, _) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.id_switches, 0, "{s:?}");
    assert_eq!(s.fragmentations, 0, "{s:?}");
}

#[test]
fn occlusion_gap_within_max_age_keeps_the_id() {
    let frames: Vec<Truth> = (0..50)
        .map(|k| {
            let seen = !(20..28).contains(&k);
            vec![(
                0,
                "car",
                rect(50.0 + 10.0 * k as f32, 300.0, 120.0, 60.0),
                seen.then_some(0.8),
            )]
        })
        .collect();
    let (s, outs) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.fragmentations, 0, "{s:?}");
    assert_eq!(s.id_switches, 0, "{s:?}");
    // Nothing ended during the gap; the track came back as an update, not as a new track.
    assert!(outs[..50].iter().all(|o| o.ended.is_empty()));
    assert!(outs[28].new.is_empty() && outs[28].updated.len() == 1);
}

#[test]
fn gap_longer_than_max_age_ends_the_track() {
    let config = TrackerConfig {
        max_age: 5,
        ..TrackerConfig::default()
    };
    let frames: Vec<Truth> = (0..40)
        .map(|k| {
            let seen = !(10..20).contains(&k);
            vec![(
                0,
                "car",
                rect(50.0 + 4.0 * k as f32, 300.0, 120.0, 60.0),
                seen.then_some(0.8),
            )]
        })
        .collect();
    let (s, outs) = run(config, &frames);
    // Last seen on frame 9, so it ends after 6 misses, on frame 15.
    let ended: Vec<usize> = (0..40).filter(|&k| !outs[k].ended.is_empty()).collect();
    assert_eq!(ended, vec![15]);
    assert_eq!(outs[15].ended[0].last_seen.seq, 9);
    assert_eq!(s.fragmentations, 1, "a new track after the gap: {s:?}");
}

#[test]
fn noisy_boxes_do_not_switch_ids() {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut noise = |amp: f32| (rng.f32() - 0.5) * 2.0 * amp;
    // Three people walking side by side, 70 px apart, boxes jittering by up to 6 px per edge,
    // scores jittering too.
    let frames: Vec<Truth> = (0..80)
        .map(|k| {
            (0..3)
                .map(|i| {
                    let x = 100.0 + 70.0 * i as f32 + 6.0 * k as f32;
                    let b = rect(x, 150.0 + 5.0 * i as f32, 45.0, 110.0);
                    let b = b.map(|v| v + noise(6.0));
                    (i, "person", b, Some(0.6 + noise(0.05).abs() * 4.0))
                })
                .collect()
        })
        .collect();
    let (s, _) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.id_switches, 0, "{s:?}");
    assert_eq!(s.fragmentations, 0, "{s:?}");
    assert!(s.missed <= 2, "{s:?}");
}

#[test]
fn low_score_detections_keep_a_track_alive() {
    // Score drops to 0.3 for frames 15..20 (partly occluded): under `high_score`, over `low_score`.
    let frames: Vec<Truth> = (0..30)
        .map(|k| {
            let s = if (15..20).contains(&k) { 0.3 } else { 0.8 };
            vec![(
                0,
                "person",
                rect(100.0 + 8.0 * k as f32, 100.0, 40.0, 100.0),
                Some(s),
            )]
        })
        .collect();
    let (s, outs) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.fragmentations, 0);
    for o in &outs[15..20] {
        assert_eq!(
            o.updated.len(),
            1,
            "second association must match the low-score box"
        );
        assert_eq!(o.updated[0].score, 0.3);
    }
    // The same frames with the low stage disabled: the track coasts (not updated) instead.
    let strict = TrackerConfig {
        low_score: 0.5,
        ..TrackerConfig::default()
    };
    let (s2, outs2) = run(strict, &frames);
    assert!(outs2[15..20].iter().all(|o| o.updated.is_empty()));
    assert_eq!(s2.fragmentations, 0, "it still comes back with its id");
}

#[test]
fn labels_never_share_a_track() {
    // A person standing right in front of a car, same box: two tracks, each keeping its label.
    let frames: Vec<Truth> = (0..20)
        .map(|k| {
            let b = rect(300.0 + 2.0 * k as f32, 200.0, 60.0, 120.0);
            vec![(0, "person", b, Some(0.9)), (1, "car", b, Some(0.9))]
        })
        .collect();
    let (s, outs) = run(TrackerConfig::default(), &frames);
    assert_eq!(s.fragmentations, 0);
    let last = &outs[19].updated;
    assert_eq!(last.len(), 2);
    let labels: BTreeSet<&str> = last.iter().map(|t| &*t.label).collect();
    assert_eq!(labels, BTreeSet::from(["car", "person"]));
    assert_ne!(last[0].id, last[1].id);
}

#[test]
fn confirmation_ids_and_history() {
    let config = TrackerConfig {
        min_hits: 3,
        ..TrackerConfig::default()
    };
    let mut t = Tracker::new(config);
    let b = |k: u64| rect(10.0 * k as f32, 0.0, 30.0, 60.0);
    // A one-frame false positive never becomes a track and burns no id.
    let out = t.update(
        &frame(0),
        &[det("person", 0.9, rect(500.0, 400.0, 30.0, 60.0))],
    );
    assert_eq!(out, TrackerOutput::default());
    let mut news = Vec::new();
    for k in 1..=40u64 {
        let out = t.update(
            &frame(k),
            &[det("person", 0.6 + 0.01 * (k % 7) as f32, b(k))],
        );
        news.extend(out.new.iter().map(|t| (k, t.id)));
    }
    // Confirmed on its third consecutive match, with the first id.
    assert_eq!(news, vec![(3, 1)]);
    let track = t.tracks().next().expect("one live track").clone();
    assert_eq!(track.first_seen.seq, 1);
    assert_eq!(track.last_seen.seq, 40);
    assert_eq!(track.first_seen.pts, Some(Duration::from_millis(100)));
    assert_eq!(track.hits, 40);
    assert_eq!(track.scores.len(), lookout::track::SCORE_HISTORY);
    assert!((track.top_score - 0.66).abs() < 1e-6);
    assert!(track.median_score() > 0.6 && track.median_score() < 0.67);
    let ended = t.finish().ended;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].id, 1);
    assert_eq!(t.tracks().count(), 0);
    // Ids keep counting after earlier tracks end.
    let mut news = Vec::new();
    for k in 41..50 {
        let out = t.update(&frame(k), &[det("person", 0.9, b(k))]);
        news.extend(out.new.iter().map(|t| (k, t.id)));
    }
    assert_eq!(news, vec![(43, 2)]);
}

#[test]
fn non_finite_detections_are_ignored() {
    let config = TrackerConfig {
        min_hits: 1,
        ..TrackerConfig::default()
    };
    let mut t = Tracker::new(config);
    let good = |k: u64| {
        det(
            "person",
            0.9,
            rect(100.0 + 5.0 * k as f32, 100.0, 40.0, 100.0),
        )
    };
    for k in 0..10 {
        let mut dets = vec![good(k)];
        dets.push(det("person", f32::NAN, rect(100.0, 100.0, 40.0, 100.0)));
        dets.push(det("person", 0.9, [f32::NAN, 100.0, 140.0, 200.0]));
        dets.push(det(
            "person",
            0.9,
            [100.0 + 5.0 * k as f32, 100.0, f32::INFINITY, 200.0],
        ));
        t.update(&frame(k), &dets);
    }
    let tracks: Vec<_> = t.tracks().collect();
    assert_eq!(tracks.len(), 1);
    assert!(tracks[0].bbox.iter().all(|v| v.is_finite()));
    assert_eq!(tracks[0].hits, 10);
}

#[test]
fn tracks_outside_the_detected_regions_are_left_as_they_are() {
    // A person standing still on the left, a walker on the right; only the right half is
    // detected for 100 frames (motion there), far longer than `max_age`.
    let config = TrackerConfig::default();
    let mut tracker = Tracker::new(config.clone());
    let still = rect(100.0, 200.0, 50.0, 120.0);
    let walker = |k: u64| rect(600.0 + 2.0 * k as f32, 200.0, 50.0, 120.0);
    for k in 0..3 {
        tracker.update(
            &frame(k),
            &[det("person", 0.9, still), det("person", 0.9, walker(k))],
        );
    }
    let right = [[500.0, 0.0, 1000.0, 600.0]];
    let mut ended = Vec::new();
    for k in 3..103 {
        let out = tracker.update_in(&frame(k), &[det("person", 0.9, walker(k))], Some(&right));
        ended.extend(out.ended);
    }
    assert!(ended.is_empty(), "{ended:?}");
    assert_eq!(tracker.tracks().count(), 2);
    // Looked for and not found, it ages out as usual.
    let left = [[0.0, 0.0, 500.0, 600.0]];
    for k in 103..(104 + u64::from(config.max_age)) {
        let out = tracker.update_in(&frame(k), &[], Some(&left));
        ended.extend(out.ended);
    }
    assert_eq!(
        ended.len(),
        1,
        "the stationary person ends once looked for and gone"
    );
    assert!(iou(ended[0].bbox, still) > 0.9);
}
