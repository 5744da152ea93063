//! `lookout detect` end to end: the real binary, real models, real OpenCV, real footage.

mod common;

use std::path::{Path, PathBuf};

use common::lookout_in_root as lookout;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `detect --backend opencv --json` and returns one JSON object per picture.
fn detect(model: &str, extra: &[&str], input: &str) -> Vec<Value> {
    detect_on("opencv", model, extra, input)
}

/// Runs `detect --backend <backend> --json` and returns one JSON object per picture.
fn detect_on(backend: &str, model: &str, extra: &[&str], input: &str) -> Vec<Value> {
    let manifest = format!("models/{model}.yaml");
    let mut args = vec![
        "detect",
        "--model",
        &manifest,
        "--backend",
        backend,
        "--json",
    ];
    args.extend_from_slice(extra);
    args.push(input);
    common::lookout_json_lines(&args)
}

/// A JSON `[x1, y1, x2, y2]`.
fn bbox(v: &Value) -> [f64; 4] {
    let b: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [b[0], b[1], b[2], b[3]]
}

fn boxes(pic: &Value, label: &str) -> Vec<[f64; 4]> {
    pic["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["label"] == label)
        .map(|d| bbox(&d["box"]))
        .collect()
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    iw * ih / (area(a) + area(b) - iw * ih)
}

/// Exactly one face, the box inside the picture, and the first `inside` landmarks inside the box
/// (BlazeFace's last two keypoints are the ear tragions, which may sit on or past the box edge).
fn assert_one_face(pic: &Value, inside: usize) {
    let dets = pic["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 1, "want exactly one face: {pic}");
    let d = &dets[0];
    assert_eq!(d["label"], "face");
    let b = bbox(&d["box"]);
    let (w, h) = (
        pic["width"].as_f64().unwrap(),
        pic["height"].as_f64().unwrap(),
    );
    assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= w && b[3] <= h && b[0] < b[2] && b[1] < b[3]);
    for p in d["landmarks"].as_array().unwrap().iter().take(inside) {
        let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        assert!(
            x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3],
            "landmark ({x}, {y}) outside {b:?}"
        );
    }
}

#[test]
fn centerface_finds_the_astronaut_with_landmarks() {
    let pics = detect("centerface", &[], "pipelines/footage/astronaut.png");
    assert_eq!(pics.len(), 1);
    assert_eq!(pics[0]["input"], "pipelines/footage/astronaut.png");
    assert!(
        pics[0].get("frame").is_none(),
        "pictures have no frame index"
    );
    assert_eq!(
        (pics[0]["width"].as_u64(), pics[0]["height"].as_u64()),
        (Some(512), Some(512))
    );
    assert_one_face(&pics[0], 5);
    assert_eq!(
        pics[0]["detections"][0]["landmarks"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn centerface_finds_the_carphone_face() {
    // Frames 0 and 60 (decode order): the talking face, neutral and surprised.
    let pics = detect(
        "centerface",
        &["--every", "60"],
        "pipelines/footage/carphone_pristine.mp4",
    );
    assert_eq!(pics.len(), 2, "120 frames, every 60th");
    for (pic, frame) in pics.iter().zip([0, 60]) {
        assert_eq!(pic["frame"], frame);
        assert_eq!(
            (pic["width"].as_u64(), pic["height"].as_u64()),
            (Some(176), Some(144))
        );
        assert_one_face(pic, 5);
    }
}

#[test]
fn blazeface_short_and_full_range_find_the_astronaut() {
    for model in ["blazeface-short-range-128", "blazeface-full-range-192"] {
        let pics = detect(model, &[], "pipelines/footage/astronaut.png");
        assert_one_face(&pics[0], 4);
        assert_eq!(
            pics[0]["detections"][0]["landmarks"]
                .as_array()
                .unwrap()
                .len(),
            6,
            "{model}"
        );
    }
}

/// The hand-made labels of vtest.avi frame 300 (`tests/labels/vtest-frame300.json`).
fn hand_labels() -> Vec<(String, Vec<String>, [f64; 4])> {
    let text = std::fs::read_to_string(repo().join("tests/labels/vtest-frame300.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let mut also: Vec<String> = o["also"]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            also.push(o["label"].as_str().unwrap().to_string());
            (
                o["label"].as_str().unwrap().to_string(),
                also,
                bbox(&o["box"]),
            )
        })
        .collect()
}

/// Frame 300 of vtest.avi, from a run with `--every 300` (frames 0, 300, 600).
fn frame_300(model: &str) -> Value {
    let pics = detect(model, &["--every", "300"], "pipelines/footage/vtest.avi");
    let frames: Vec<u64> = pics.iter().map(|p| p["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, vec![0, 300, 600]);
    pics.into_iter().nth(1).unwrap()
}

/// Matching rule: each hand-labelled object takes the not-yet-taken detection of an accepted
/// label with the highest IoU; it counts as found when that IoU is >= 0.5.
fn matched(pic: &Value, wanted: impl Fn(&str) -> bool) -> Vec<(usize, f64)> {
    let mut taken: Vec<(String, usize)> = Vec::new();
    let mut found = Vec::new();
    for (i, (label, accepted, truth)) in hand_labels().into_iter().enumerate() {
        if !wanted(&label) {
            continue;
        }
        let mut best: Option<(String, usize, f64)> = None;
        for l in &accepted {
            for (j, b) in boxes(pic, l).iter().enumerate() {
                let v = iou(&truth, b);
                if !taken.contains(&(l.clone(), j)) && best.as_ref().is_none_or(|x| v > x.2) {
                    best = Some((l.clone(), j, v));
                }
            }
        }
        if let Some((l, j, v)) = best.filter(|b| b.2 >= 0.5) {
            taken.push((l, j));
            found.push((i, v));
        }
    }
    found
}

#[test]
fn nanodet_finds_the_pedestrians_and_vehicles_of_vtest_frame_300() {
    let pic = frame_300("nanodet-g-416");
    let people = matched(&pic, |l| l == "person");
    assert!(
        people.len() >= 6,
        "matched {people:?} of 6 hand-labelled people in {pic}"
    );
    let vehicles = matched(&pic, |l| l != "person");
    assert_eq!(
        vehicles.len(),
        2,
        "the van and the car: {vehicles:?} in {pic}"
    );
    // Nothing else that looks like a person: every person box matches a hand label.
    assert_eq!(boxes(&pic, "person").len(), people.len(), "{pic}");
}

#[test]
fn ssdlite_finds_people_in_vtest_frame_300() {
    let pic = frame_300("ssdlite-mobilenetv2-person-300");
    let people = matched(&pic, |l| l == "person");
    assert!(people.len() >= 4, "matched {people:?} in {pic}");
}

#[test]
fn annotate_draws_on_a_copy_of_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let out_png = dir.path().join("faces.png");
    let listing = common::lookout_ok(&[
        "detect",
        "--model",
        "models/centerface.yaml",
        "--backend",
        "opencv",
        "--annotate",
        out_png.to_str().unwrap(),
        "pipelines/footage/astronaut.png",
    ]);
    assert!(
        listing.contains("astronaut.png (512x512): 1 detection"),
        "{listing}"
    );
    let drawn = image::open(&out_png).unwrap().to_rgba8();
    let orig = image::open(repo().join("pipelines/footage/astronaut.png"))
        .unwrap()
        .to_rgba8();
    assert_eq!(drawn.dimensions(), orig.dimensions());
    let changed = drawn
        .pixels()
        .zip(orig.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > 500 && changed < 512 * 512 / 4,
        "{changed} pixels changed"
    );
}

/// A scratch copy of the CenterFace manifest whose model file is `model_bytes`, with the
/// manifest's sha256 set to `sha256` (or the true digest of the bytes when `None`).
fn scratch_model(model_bytes: &[u8], sha256: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("centerface.onnx"), model_bytes).unwrap();
    let digest: String = sha2::Sha256::digest(model_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = std::fs::read_to_string(repo().join("models/centerface.yaml")).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("sha256:") {
                format!("sha256: {}\n", sha256.unwrap_or(&digest))
            } else if l.starts_with("license_files:") {
                "license_files: [LICENSE]\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let p = dir.path().join("centerface.yaml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

fn assert_exit_2(args: &[&str], needles: &[&str]) {
    let out = lookout(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs `detect` with the manifest at `manifest` on astronaut.png and expects exit 2 with `needles`.
fn assert_model_rejected(manifest: &Path, needles: &[&str]) {
    let m = manifest.to_str().unwrap();
    let args = [
        "detect",
        "--model",
        m,
        "--backend",
        "opencv",
        "pipelines/footage/astronaut.png",
    ];
    assert_exit_2(&args, needles);
}

#[test]
fn corrupt_model_exits_2_with_a_clear_message() {
    let real = std::fs::read(repo().join("models/centerface.onnx")).unwrap();
    // Truncated in the middle of the weights, checksum updated so only the content is wrong.
    let (_d, manifest) = scratch_model(&real[..real.len() / 2], None);
    // Our IR's checks reject it before any backend sees it.
    assert_model_rejected(
        &manifest,
        &["centerface.onnx fails lookout's model checks", "bad model"],
    );
    // Not protobuf at all.
    let (_d, manifest) = scratch_model(b"this is not an onnx model", None);
    assert_model_rejected(
        &manifest,
        &["fails lookout's model checks", "not a valid ONNX protobuf"],
    );
}

#[test]
fn model_that_does_not_match_its_manifest_exits_2() {
    let real = std::fs::read(repo().join("models/centerface.onnx")).unwrap();
    let (d, manifest) = scratch_model(&real, None);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("name: input.1", "name: images")).unwrap();
    assert_model_rejected(&manifest, &["the manifest names input `images`", "input.1"]);
    // Right input, wrong output names: the decoder lists what the model has.
    std::fs::write(&manifest, text.replace("heatmap: \"537\"", "heatmap: hm")).unwrap();
    assert_model_rejected(&manifest, &["no output `hm`", "`537`"]);
    drop(d);
}

#[test]
fn wrong_sha256_exits_2_naming_both_digests() {
    let real = std::fs::read(repo().join("models/centerface.onnx")).unwrap();
    let wrong = "ab".repeat(32);
    let (_d, manifest) = scratch_model(&real, Some(&wrong));
    let actual = "9052795860132eaf5845666fbec63a15bf3674c97b7812690fefe4fb57bce6ec";
    assert_model_rejected(&manifest, &["sha256 mismatch", &wrong, actual]);
}

#[test]
fn bad_inputs_exit_2() {
    let run = |input: &str, needles: &[&str]| {
        let m = "models/centerface.yaml";
        assert_exit_2(
            &["detect", "--model", m, "--backend", "opencv", input],
            needles,
        );
    };
    run("pipelines/footage/nope.png", &["nope.png: no such file"]);
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.png");
    let mut bytes = std::fs::read(repo().join("pipelines/footage/astronaut.png")).unwrap();
    bytes.truncate(4000);
    std::fs::write(&broken, bytes).unwrap();
    run(
        broken.to_str().unwrap(),
        &["broken.png: cannot decode the picture"],
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a picture").unwrap();
    run(
        text.to_str().unwrap(),
        &["notes.txt: not a PNG or JPEG picture"],
    );
    assert_exit_2(
        &[
            "detect",
            "--model",
            "models/nope.yaml",
            "pipelines/footage/astronaut.png",
        ],
        &["models/nope.yaml:1:1: cannot read model manifest"],
    );
    assert_exit_2(
        &[
            "detect",
            "--model",
            "models/nanodet-g-416.yaml",
            "--size",
            "320x320",
            "pipelines/footage/astronaut.png",
        ],
        &["fixed at 416x416"],
    );
}

#[test]
fn centerface_takes_another_input_size() {
    let pics = detect(
        "centerface",
        &["--size", "320x320"],
        "pipelines/footage/astronaut.png",
    );
    assert_one_face(&pics[0], 5);
}

/// The same detections from both backends: same count, and each wgpu box matches an OpenCV box of
/// the same label with IoU >= 0.95 and a score within 0.02.
fn assert_same_detections(wgpu: &Value, opencv: &Value) {
    let (w, o) = (
        wgpu["detections"].as_array().unwrap(),
        opencv["detections"].as_array().unwrap(),
    );
    assert_eq!(w.len(), o.len(), "wgpu {wgpu}\nopencv {opencv}");
    for d in w {
        let found = o.iter().any(|e| {
            e["label"] == d["label"]
                && iou(&bbox(&e["box"]), &bbox(&d["box"])) >= 0.95
                && (e["score"].as_f64().unwrap() - d["score"].as_f64().unwrap()).abs() <= 0.02
        });
        assert!(
            found,
            "wgpu detection {d} has no twin from OpenCV: {opencv}"
        );
    }
}

#[test]
fn wgpu_backend_finds_the_same_faces() {
    for (model, inside) in [
        ("centerface", 5),
        ("blazeface-short-range-128", 4),
        ("blazeface-full-range-192", 4),
    ] {
        let w = detect_on("wgpu", model, &[], "pipelines/footage/astronaut.png");
        assert_one_face(&w[0], inside);
        let o = detect_on("opencv", model, &[], "pipelines/footage/astronaut.png");
        assert_same_detections(&w[0], &o[0]);
    }
    let w = detect_on(
        "wgpu",
        "centerface",
        &["--every", "60"],
        "pipelines/footage/carphone_pristine.mp4",
    );
    let o = detect_on(
        "opencv",
        "centerface",
        &["--every", "60"],
        "pipelines/footage/carphone_pristine.mp4",
    );
    assert_eq!(w.len(), 2);
    for (a, b) in w.iter().zip(&o) {
        assert_one_face(a, 5);
        assert_same_detections(a, b);
    }
}

#[test]
fn wgpu_backend_finds_the_pedestrians_of_vtest_frame_300() {
    let run = |backend: &str, model: &str| {
        detect_on(
            backend,
            model,
            &["--every", "300"],
            "pipelines/footage/vtest.avi",
        )
        .into_iter()
        .nth(1)
        .unwrap()
    };
    let pic = run("wgpu", "nanodet-g-416");
    assert_eq!(pic["frame"], 300);
    let people = matched(&pic, |l| l == "person");
    assert!(people.len() >= 6, "matched {people:?} in {pic}");
    assert_eq!(
        matched(&pic, |l| l != "person").len(),
        2,
        "the van and the car: {pic}"
    );
    assert_same_detections(&pic, &frame_300("nanodet-g-416"));
    let ssd = run("wgpu", "ssdlite-mobilenetv2-person-300");
    assert!(matched(&ssd, |l| l == "person").len() >= 4, "{ssd}");
    assert_same_detections(&ssd, &frame_300("ssdlite-mobilenetv2-person-300"));
}

#[test]
fn corrupt_model_on_wgpu_exits_2() {
    let real = std::fs::read(repo().join("models/centerface.onnx")).unwrap();
    let (_d, manifest) = scratch_model(&real[..real.len() / 2], None);
    let m = manifest.to_str().unwrap();
    assert_exit_2(
        &[
            "detect",
            "--model",
            m,
            "--backend",
            "wgpu",
            "pipelines/footage/astronaut.png",
        ],
        &["bad model"],
    );
}
