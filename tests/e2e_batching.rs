//! Two cameras sharing one model: the scheduler batches their frames into one inference call,
//! each camera keeps its own detection rate, tracks and order.
#![cfg(feature = "capture")]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use lookout::metrics::Metrics;
use lookout::runtime::analytics::Analyzer;
use lookout::runtime::{self, RunOptions};
use lookout::sinks::{Catalog, SinkContext, Sinks};

#[test]
fn frames_of_two_cameras_share_inference_calls() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv, max_batch: 2}}\n\
         cameras:\n\
         \x20 - {{name: left, source: {root}/pipelines/footage/vtest.avi, detect: {{model: objects, fps: 1}}}}\n\
         \x20 - {{name: right, source: {root}/pipelines/footage/vtest.avi, detect: {{model: objects, fps: 0.5}}}}\n\
         metrics: {{enabled: false}}\n",
        root = root.display()
    );
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, text).unwrap();
    let pipeline = lookout::pipeline::load(&path).expect("valid pipeline");
    let metrics = Arc::new(Metrics::new());
    let ctx = SinkContext {
        device: Default::default(),
        state_dir: dir.path().join("state"),
        metrics: Arc::clone(&metrics),
        catalog: Catalog::default(),
    };
    let sinks = Sinks::start(Vec::new(), &ctx).unwrap();
    let mut analyzer = Analyzer::new(&pipeline, Arc::clone(&metrics), sinks).unwrap();
    let opts = RunOptions::new(Arc::new(AtomicBool::new(false)));
    let summary = runtime::run(&pipeline, Arc::clone(&metrics), opts, &mut analyzer).unwrap();
    let a = analyzer.finish();

    // 795 frames at 10 fps = 79.5 s of media: 1 and 0.5 detections per second of it.
    let (left, right) = (&a.cameras["left"], &a.cameras["right"]);
    assert!(
        (79..=81).contains(&left.frames_detected),
        "{}",
        left.frames_detected
    );
    assert!(
        (39..=41).contains(&right.frames_detected),
        "{}",
        right.frames_detected
    );
    assert_eq!(left.frames_detected + left.frames_skipped, 795);
    assert_eq!(right.frames_detected + right.frames_skipped, 795);
    assert_eq!(summary.cameras["left"].frames_processed, 795);
    assert!(left.tracks > 0 && right.tracks > 0);

    // Inference calls: fewer than frames detected, so some carried a frame of each camera.
    let h = metrics.batch_size.with_label_values(&["objects"]);
    let (calls, frames) = (h.get_sample_count(), h.get_sample_sum() as u64);
    assert_eq!(frames, left.frames_detected + right.frames_detected);
    assert!(
        calls < frames,
        "{calls} inference calls for {frames} frames: no batch of two"
    );
}
