//! Redaction on the GPU (real wgpu adapter, lavapipe without a GPU) and `lookout redact` on the
//! bundled astronaut picture and carphone video, judged by lookout's own face detectors.
//!
//! Stated amounts:
//! - inside every face box the mean absolute Laplacian (of luma) of the redacted picture is
//!   below [`HF_FRACTION`] of the original's when blurred ([`HF_FRACTION_PIXELATE`] when
//!   pixelated, [`HF_FRACTION_VIDEO`] for blurred video, which H.264 re-encodes);
//! - pixels outside the redacted boxes and masks are unchanged exactly (PNG in, PNG out).

mod common;
mod privacy_common;

use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::gpu::{AdapterChoice, GpuContext};
use lookout::privacy::regions::PixelBox;
use lookout::privacy::{RedactStyle, Redactor, Regions};
use privacy_common::{faces, redact};
use serde_json::Value;

/// High-frequency energy left inside a face box after blurring a picture, at most.
const HF_FRACTION: f64 = 0.1;
/// The same after pixelation, whose block edges are themselves sharp.
const HF_FRACTION_PIXELATE: f64 = 0.3;
/// The same after redaction of a video (the H.264 re-encoding adds its own noise).
#[cfg(feature = "capture")]
const HF_FRACTION_VIDEO: f64 = 0.2;

fn redactor() -> Redactor {
    let ctx = GpuContext::new(&AdapterChoice::HighPerformance).expect("a wgpu adapter (lavapipe)");
    Redactor::new(&ctx).expect("redaction kernels compile")
}

fn noise(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..w * h)
        .flat_map(|_| [rng.u8(..), rng.u8(..), rng.u8(..), 255])
        .collect()
}

fn rgba(data: &[u8], w: u32, h: u32) -> ImageRef<'_> {
    ImageRef::packed(PixelFormat::Rgba, w, h, data)
}

/// Mean absolute 4-neighbour Laplacian of luma over the inside of `b` (`[x1, y1, x2, y2]`).
fn hf_energy(px: &dyn Fn(u32, u32) -> [u8; 3], b: [f64; 4], w: u32, h: u32) -> f64 {
    let luma = |x: u32, y: u32| {
        let p = px(x, y);
        0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
    };
    let (x0, y0) = ((b[0].max(1.0)) as u32, (b[1].max(1.0)) as u32);
    let (x1, y1) = ((b[2] as u32).min(w - 2), (b[3] as u32).min(h - 2));
    let (mut sum, mut n) = (0.0, 0u64);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let l = 4.0 * luma(x, y)
                - luma(x - 1, y)
                - luma(x + 1, y)
                - luma(x, y - 1)
                - luma(x, y + 1);
            sum += l.abs();
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// Pixel accessor of a decoded frame.
#[cfg(feature = "capture")]
fn rgb_of(img: ImageRef<'_>) -> impl Fn(u32, u32) -> [u8; 3] + '_ {
    move |x, y| {
        let p = lookout::infer::preprocess::pixel_rgb(&img, x, y);
        [p[0] as u8, p[1] as u8, p[2] as u8]
    }
}

#[test]
fn gpu_redaction_changes_only_boxes_and_masks() {
    let (w, h) = (96u32, 64u32);
    let data = noise(w, h, 7);
    let regions = Regions::new(
        &[[10.0, 8.0, 42.0, 40.0], [70.0, 5.0, 90.0, 20.0]],
        vec![vec![[60.0, 40.0], [95.0, 40.0], [95.0, 63.0], [60.0, 63.0]]],
        w,
        h,
    );
    let mut r = redactor();
    for style in [RedactStyle::Blur, RedactStyle::Pixelate, RedactStyle::Fill] {
        let out = r.redact(&rgba(&data, w, h), &regions, style).unwrap();
        assert_eq!(out.len(), (w * h * 4) as usize);
        let px = |d: &[u8], x: u32, y: u32| {
            let i = ((y * w + x) * 4) as usize;
            [d[i], d[i + 1], d[i + 2], d[i + 3]]
        };
        let mut changed_in_boxes = 0;
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (px(&data, x, y), px(&out, x, y));
                let in_mask = (60..95).contains(&x) && (40..63).contains(&y);
                if in_mask {
                    assert_eq!(b, [0, 0, 0, 255], "{style:?} mask at {x},{y}");
                } else if !regions.covers(x, y) {
                    assert_eq!(a, b, "{style:?}: pixel {x},{y} outside changed");
                } else if !in_mask && a != b {
                    changed_in_boxes += 1;
                }
            }
        }
        assert!(changed_in_boxes > 900, "{style:?}: {changed_in_boxes}");
        let pix = |x: u32, y: u32| {
            let p = px(&out, x, y);
            [p[0], p[1], p[2]]
        };
        let orig = |x: u32, y: u32| {
            let p = px(&data, x, y);
            [p[0], p[1], p[2]]
        };
        let b = [11.0, 9.0, 40.0, 38.0];
        let (before, after) = (hf_energy(&orig, b, w, h), hf_energy(&pix, b, w, h));
        assert!(
            after < HF_FRACTION * before,
            "{style:?}: Laplacian {after:.1} vs {before:.1}"
        );
        if style == RedactStyle::Pixelate {
            // 32 px box, cells of ceil(32 / 6) = 6 px: at most 6 x 6 distinct colours.
            let mut colours: Vec<[u8; 3]> = Vec::new();
            for y in 8..40 {
                for x in 10..42 {
                    if !colours.contains(&pix(x, y)) {
                        colours.push(pix(x, y));
                    }
                }
            }
            assert!(colours.len() <= 36, "{} colours", colours.len());
        }
    }
}

#[test]
fn nv12_frames_are_converted_on_the_gpu_like_the_cpu_reference() {
    let (w, h) = (64u32, 48u32);
    let mut rng = fastrand::Rng::with_seed(3);
    let nv12: Vec<u8> = (0..PixelFormat::Nv12.packed_len(w, h))
        .map(|_| rng.u8(16..236))
        .collect();
    let image = ImageRef::packed(PixelFormat::Nv12, w, h, &nv12);
    let regions = Regions::new(&[[8.0, 8.0, 24.0, 24.0]], vec![], w, h);
    let out = redactor()
        .redact(&image, &regions, RedactStyle::Blur)
        .unwrap();
    let mut worst = 0.0f32;
    for y in 0..h {
        for x in 0..w {
            if regions.covers(x, y) {
                continue;
            }
            let want = lookout::infer::preprocess::pixel_rgb(&image, x, y);
            let i = ((y * w + x) * 4) as usize;
            for c in 0..3 {
                worst = worst.max((f32::from(out[i + c]) - want[c].round()).abs());
            }
            assert_eq!(out[i + 3], 255);
        }
    }
    // Rounding of the same formula on two processors: at most one step.
    assert!(worst <= 1.0, "worst channel difference {worst}");
}

#[test]
fn empty_regions_leave_a_picture_exactly_as_it_was() {
    let (w, h) = (33u32, 17u32);
    let data = noise(w, h, 11);
    let out = redactor()
        .redact(&rgba(&data, w, h), &Regions::default(), RedactStyle::Blur)
        .unwrap();
    assert_eq!(out, data);
}

// ---- `lookout redact`, judged by `lookout detect` ----

fn report_boxes(frame: &Value) -> Vec<PixelBox> {
    frame["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| PixelBox {
            x0: b["x0"].as_u64().unwrap() as u32,
            y0: b["y0"].as_u64().unwrap() as u32,
            x1: b["x1"].as_u64().unwrap() as u32,
            y1: b["y1"].as_u64().unwrap() as u32,
        })
        .collect()
}

#[test]
fn redacted_astronaut_has_no_face_left_and_nothing_else_changed() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::footage("astronaut.png");
    let before = faces("centerface", std::slice::from_ref(&input), &[]);
    assert_eq!(before[0].len(), 1, "the original has one face: {before:?}");
    let blaze_before = faces(
        "blazeface-full-range-192",
        std::slice::from_ref(&input),
        &[],
    );

    for style in ["blur", "pixelate"] {
        let out = dir.path().join(format!("astronaut-{style}.png"));
        // A mask over the top-left corner as well.
        let report = redact(
            &input,
            &out,
            &["--style", style, "--mask", "0,0 0.2,0 0.2,0.1 0,0.1"],
        );
        let frame = &report["frames"][0];
        let boxes = report_boxes(frame);
        assert_eq!(boxes.len(), 1, "{report}");

        assert_eq!(
            faces("centerface", std::slice::from_ref(&out), &[]),
            vec![Vec::<[f64; 4]>::new()],
            "{style}: CenterFace still finds a face"
        );
        if !blaze_before[0].is_empty() {
            assert_eq!(
                faces("blazeface-full-range-192", std::slice::from_ref(&out), &[]),
                vec![Vec::<[f64; 4]>::new()],
                "{style}: BlazeFace still finds a face"
            );
        }

        let a = image::open(&input).unwrap().to_rgba8();
        let b = image::open(&out).unwrap().to_rgba8();
        assert_eq!(a.dimensions(), b.dimensions());
        let (w, h) = a.dimensions();
        let regions = Regions {
            boxes: boxes.clone(),
            masks: vec![vec![
                [0.0, 0.0],
                [0.2 * w as f32, 0.0],
                [0.2 * w as f32, 0.1 * h as f32],
                [0.0, 0.1 * h as f32],
            ]],
        };
        let mut changed_outside = 0;
        for (x, y, p) in a.enumerate_pixels() {
            if !regions.covers(x, y) && b.get_pixel(x, y) != p {
                changed_outside += 1;
            }
        }
        assert_eq!(changed_outside, 0, "{style}: pixels outside changed");
        assert_eq!(b.get_pixel(5, 5).0, [0, 0, 0, 255], "{style}: mask filled");

        let rgb = |img: &image::RgbaImage| {
            let img = img.clone();
            move |x: u32, y: u32| {
                let p = img.get_pixel(x, y).0;
                [p[0], p[1], p[2]]
            }
        };
        let limit = if style == "blur" {
            HF_FRACTION
        } else {
            HF_FRACTION_PIXELATE
        };
        for f in &before[0] {
            let (e0, e1) = (hf_energy(&rgb(&a), *f, w, h), hf_energy(&rgb(&b), *f, w, h));
            eprintln!("{style}: Laplacian inside the face {e1:.2}, before {e0:.2}");
            assert!(
                e1 < limit * e0,
                "{style}: Laplacian inside the face {e1:.2} vs {e0:.2} before"
            );
        }
    }
}

#[cfg(feature = "capture")]
#[test]
fn redacted_carphone_video_has_no_face_left() {
    use lookout::capture::gst::VideoDecoder;

    let dir = tempfile::tempdir().unwrap();
    let input = common::footage("carphone_pristine.mp4");
    let out = dir.path().join("carphone.mp4");
    let report = redact(&input, &out, &[]);
    let frames = report["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 120, "every frame of the clip");
    let with_faces = frames
        .iter()
        .filter(|f| !f["faces"].as_array().unwrap().is_empty())
        .count();
    assert!(
        with_faces >= 100,
        "faces found on {with_faces} of 120 frames"
    );
    assert!(!dir.path().join(".carphone.mp4.part.mp4").exists());

    // Every 8th frame, through the same detector: the face is gone.
    let after = faces("centerface", std::slice::from_ref(&out), &["--every", "8"]);
    assert_eq!(after.len(), 15, "the redacted video has all its frames");
    let found: usize = after.iter().map(Vec::len).sum();
    assert_eq!(found, 0, "faces found in the redacted video: {after:?}");

    // High-frequency energy inside the face, frame by frame.
    let mut a = VideoDecoder::open(&input).unwrap();
    let mut b = VideoDecoder::open(&out).unwrap();
    let mut checked = 0;
    while let (Some(fa), Some(fb)) = (a.next_frame().unwrap(), b.next_frame().unwrap()) {
        let i = fa.index as usize;
        let face = &frames[i]["faces"];
        if !i.is_multiple_of(10) || face.as_array().unwrap().is_empty() {
            continue;
        }
        let (ia, ib) = (fa.image(), fb.image());
        let (w, h) = (ia.width, ia.height);
        let f: Vec<f64> = face[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let f = [f[0], f[1], f[2], f[3]];
        let (e0, e1) = (
            hf_energy(&rgb_of(ia), f, w, h),
            hf_energy(&rgb_of(ib), f, w, h),
        );
        eprintln!("frame {i}: Laplacian inside the face {e1:.2}, before {e0:.2}");
        assert!(
            e1 < HF_FRACTION_VIDEO * e0,
            "frame {i}: Laplacian inside the face {e1:.2} vs {e0:.2}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked} frames checked");
}
