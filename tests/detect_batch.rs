//! Decoding a whole batch at once (spread over the CPU cores) gives each picture exactly what
//! decoding it alone gives, in order: real NanoDet outputs of different pictures (the CPU backend,
//! OpenCV DNN, for speed).

#![cfg(feature = "opencv")]

use std::path::Path;

use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::model::Detector;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, BackendOptions};

#[test]
fn batch_decoding_matches_picture_by_picture_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = ModelManifest::load(&root.join("models/nanodet-g-416.yaml")).unwrap();
    let backend =
        select::create(BackendKind::Opencv, &manifest, &BackendOptions::default()).unwrap();
    let mut detector = Detector::new(manifest, backend).unwrap();
    let still = image::open(root.join("pipelines/footage/vtest-frame300.jpg"))
        .unwrap()
        .to_rgba8();
    // Nine different pictures: crops of the frame at different places and sizes.
    let crops: Vec<(u32, u32, Vec<u8>)> = (0..9u32)
        .map(|i| {
            let (w, h) = (448 + 32 * (i % 3), 336 + 24 * (i / 3));
            let c = image::imageops::crop_imm(&still, 30 * i, 20 * (i % 4), w, h).to_image();
            (w, h, c.into_raw())
        })
        .collect();
    let mut outputs = Vec::new();
    for (w, h, data) in &crops {
        let img = ImageRef::packed(PixelFormat::Rgba, *w, *h, data);
        outputs.extend(detector.infer(&[img]).unwrap());
    }
    let alone: Vec<_> = outputs
        .iter()
        .map(|o| detector.decode(o).unwrap())
        .collect();
    let together: Vec<_> = detector
        .decode_all(&outputs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(together, alone);
    // The pictures differ, so a mix-up of their order would show.
    assert!(alone.iter().any(|d| d != &alone[0]), "{alone:?}");
    assert!(alone.iter().all(|d| !d.is_empty()), "people in every crop");
}
