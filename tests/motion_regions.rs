//! Small, distant objects get more pixels from a region than from the whole frame: the people of
//! vtest frame 300 as a 4K camera would see them (the scene occupying a corner of a 3840x2160
//! frame), found by NanoDet on the whole frame and on regions around them, against the hand
//! labels of `tests/labels/vtest-frame300.json`.

mod common;

use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::detect::{Detection, nms};
use lookout::model::select::{self, BackendKind, BackendOptions};
use lookout::model::{Detector, ModelManifest};
use lookout::schedule::regions;
use serde_json::Value;

/// People found among `truth` (IoU at least 0.5 with a person detection), and their mean score.
fn found(dets: &[Detection], truth: &[[f32; 4]]) -> (usize, f32) {
    let mut hits = Vec::new();
    for t in truth {
        let best = dets
            .iter()
            .filter(|d| &*d.label == "person")
            .map(|d| (nms::iou(&d.bbox, t), d.score))
            .filter(|(iou, _)| *iou >= 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, s)) = best {
            hits.push(s);
        }
    }
    let mean = hits.iter().sum::<f32>() / hits.len().max(1) as f32;
    (hits.len(), mean)
}

#[test]
fn regions_find_distant_people_the_whole_frame_misses() {
    let root = common::root();
    let still = image::open(common::footage("vtest-frame300.jpg"))
        .unwrap()
        .to_rgba8();
    let (sw, sh) = still.dimensions();
    let (w, h, ox, oy) = (3840u32, 2160u32, 1600u32, 900u32);
    let mut canvas = vec![96u8; (w * h * 4) as usize];
    for y in 0..sh {
        for x in 0..sw {
            let i = (((oy + y) * w + ox + x) * 4) as usize;
            canvas[i..i + 4].copy_from_slice(&still.get_pixel(x, y).0);
        }
    }
    let labels: Value = serde_json::from_str(&common::read(
        &root.join("tests/labels/vtest-frame300.json"),
    ))
    .unwrap();
    let people: Vec<[f32; 4]> = labels["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["label"] == "person")
        .map(|o| {
            let b: Vec<f32> = o["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            [
                b[0] + ox as f32,
                b[1] + oy as f32,
                b[2] + ox as f32,
                b[3] + oy as f32,
            ]
        })
        .collect();

    let manifest = ModelManifest::load(&root.join("models/nanodet-g-416.yaml")).unwrap();
    let side = manifest.input.width.max(manifest.input.height);
    let backend =
        select::create(BackendKind::Opencv, &manifest, &BackendOptions::default()).unwrap();
    let mut detector = Detector::new(manifest, backend).unwrap();
    let frame = ImageRef::packed(PixelFormat::Rgba, w, h, &canvas);

    let whole = detector.detect(&[frame]).unwrap().remove(0);
    // Motion would box each walking person; the regions around them are the model's size.
    let planned = regions::plan(&people, w, h, side, 4, 0.6).expect("regions, not a full frame");
    let views: Vec<ImageRef<'_>> = planned.iter().map(|r| r.view(&frame)).collect();
    let per_region = detector.detect(&views).unwrap();
    let in_regions: Vec<Detection> = planned
        .iter()
        .zip(per_region)
        .flat_map(|(r, dets)| dets.into_iter().map(|d| r.to_frame(d)))
        .collect();
    let in_regions = nms::merge(in_regions, 0.5);

    let (n_whole, s_whole) = found(&whole, &people);
    let (n_regions, s_regions) = found(&in_regions, &people);
    println!(
        "people of 6 found: whole 3840x2160 frame {n_whole} (mean score {s_whole:.2}), regions {:?} px {n_regions} (mean score {s_regions:.2})",
        planned.iter().map(|r| r.side).collect::<Vec<_>>()
    );
    assert!(n_regions >= 5, "regions found {n_regions} of 6");
    assert!(
        n_regions > n_whole,
        "regions {n_regions} vs whole frame {n_whole}"
    );
}
