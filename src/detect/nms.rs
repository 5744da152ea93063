//! Class-wise greedy non-maximum suppression.

use super::{Candidate, Detection};

/// Candidates beyond this many (best first) are dropped before NMS, which is quadratic per class.
pub const MAX_CANDIDATES: usize = 4096;

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 when either is empty.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Keeps, per class, each box that overlaps no better box of its class by more than `iou_threshold`;
/// returns at most `max_out` boxes over all classes, best first.
///
/// Boxes of different classes never suppress each other (a person in front of a car keeps both).
pub fn class_wise(
    candidates: Vec<Candidate>,
    iou_threshold: f32,
    max_out: usize,
) -> Vec<Candidate> {
    greedy(
        candidates,
        |c| (c.class_id, c.score, c.bbox),
        iou_threshold,
        max_out,
    )
}

/// [`class_wise`] for detections already in frame pixels: detections of several regions of one
/// frame merged (an object seen from two regions is kept once).
pub fn merge(detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    greedy(
        detections,
        |d| (d.class_id, d.score, d.bbox),
        iou_threshold,
        usize::MAX,
    )
}

fn greedy<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (u32, f32, [f32; 4]),
    iou_threshold: f32,
    max_out: usize,
) -> Vec<T> {
    // NaN scores (a broken model) sort last and never win.
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    items.retain(|c| !key(c).1.is_nan());
    items.truncate(MAX_CANDIDATES);
    let mut kept: Vec<T> = Vec::new();
    for c in items {
        if kept.len() >= max_out {
            break;
        }
        let (class, _, bbox) = key(&c);
        let suppressed = kept.iter().any(|k| {
            let (kc, _, kb) = key(k);
            kc == class && iou(&kb, &bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class_id: u32, score: f32, bbox: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox,
            landmarks: vec![],
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]), 2.0 / 6.0);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn suppresses_within_a_class_only() {
        let out = class_wise(
            vec![
                cand(0, 0.6, [1.0, 1.0, 11.0, 11.0]),
                cand(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
                cand(1, 0.7, [0.0, 0.0, 10.0, 10.0]),
                cand(0, 0.5, [50.0, 50.0, 60.0, 60.0]),
            ],
            0.5,
            100,
        );
        let got: Vec<(u32, f32)> = out.iter().map(|c| (c.class_id, c.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (0, 0.5)]);
    }

    #[test]
    fn overlap_below_threshold_survives_and_max_out_caps() {
        // IoU 1/3 < 0.5: both stay; then the cap keeps only the best.
        let boxes = vec![
            cand(0, 0.8, [0.0, 0.0, 2.0, 2.0]),
            cand(0, 0.7, [1.0, 0.0, 3.0, 2.0]),
        ];
        assert_eq!(class_wise(boxes.clone(), 0.5, 10).len(), 2);
        assert_eq!(class_wise(boxes.clone(), 0.3, 10).len(), 1);
        assert_eq!(class_wise(boxes, 0.5, 1)[0].score, 0.8);
    }

    #[test]
    fn nan_scores_are_dropped() {
        let out = class_wise(vec![cand(0, f32::NAN, [0.0, 0.0, 1.0, 1.0])], 0.5, 10);
        assert!(out.is_empty());
    }
}
