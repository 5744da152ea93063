//! Real GStreamer capture of the bundled footage through pipeline files.
#![cfg(feature = "capture")]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use lookout::capture::{CameraState, Frame, PixelFormat};
use lookout::metrics::Metrics;
use lookout::runtime::{self, RunOptions};

fn opts() -> RunOptions {
    RunOptions::new(Arc::new(AtomicBool::new(false)))
}

fn vtest_pipeline(extra: &str) -> (tempfile::TempDir, lookout::pipeline::Pipeline) {
    let text = format!(
        "cameras:\n  - name: vtest\n    source: {}\n{extra}metrics:\n  enabled: false\n",
        common::footage("vtest.avi").display()
    );
    let (dir, path) = common::pipeline_file("p.yaml", &text);
    let p = lookout::pipeline::load(&path).expect("valid pipeline");
    (dir, p)
}

#[test]
fn vtest_block_mode_delivers_every_frame_in_order() {
    let (_dir, pipeline) = vtest_pipeline("");
    let metrics = Arc::new(Metrics::new());
    let mut seqs = Vec::new();
    let mut bad_size = 0;
    let mut consumer = |f: Frame| {
        if (f.width, f.height, f.format) != (768, 576, PixelFormat::Nv12)
            || f.data.len() != 768 * 576 * 3 / 2
        {
            bad_size += 1;
        }
        seqs.push(f.seq);
    };
    let summary =
        runtime::run(&pipeline, Arc::clone(&metrics), opts(), &mut consumer).expect("run");
    // The summary says the camera's state and errors when frames are missing.
    assert_eq!(seqs.len(), 795, "{summary:?}");
    assert_eq!(bad_size, 0);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "frames out of order"
    );
    let cam = &summary.cameras["vtest"];
    assert_eq!(cam.state, CameraState::Ended);
    assert_eq!(
        (
            cam.frames_captured,
            cam.frames_processed,
            cam.frames_dropped_total
        ),
        (795, 795, 0)
    );
}

#[test]
fn vtest_rgba_at_a_configured_size() {
    let (_dir, pipeline) = vtest_pipeline("    format: rgba\n    width: 384\n    height: 288\n");
    let metrics = Arc::new(Metrics::new());
    let mut n = 0;
    let mut consumer = |f: Frame| {
        assert_eq!(
            (f.width, f.height, f.format, f.data.len()),
            (384, 288, PixelFormat::Rgba, 384 * 288 * 4)
        );
        n += 1;
    };
    let summary = runtime::run(&pipeline, metrics, opts(), &mut consumer).expect("run");
    assert_eq!(n, 795, "{summary:?}");
}

#[test]
fn slow_consumer_in_latest_mode_drops_oldest_and_counts() {
    let (_dir, pipeline) = vtest_pipeline("    queue: latest\n    queue_capacity: 2\n");
    let metrics = Arc::new(Metrics::new());
    let mut seqs = Vec::new();
    let mut consumer = |f: Frame| {
        seqs.push(f.seq);
        std::thread::sleep(Duration::from_millis(8));
    };
    let summary =
        runtime::run(&pipeline, Arc::clone(&metrics), opts(), &mut consumer).expect("run");
    let cam = &summary.cameras["vtest"];
    assert_eq!(
        cam.frames_captured, 795,
        "capture itself never skips frames"
    );
    assert!(
        cam.frames_dropped["queue_full"] > 0,
        "a consumer this slow must cause drops: {cam:?}"
    );
    assert_eq!(
        cam.frames_processed + cam.frames_dropped["queue_full"],
        795,
        "every frame is processed or counted as dropped"
    );
    assert_eq!(seqs.len() as u64, cam.frames_processed);
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "no frame arrives out of order"
    );
}

#[test]
fn steady_state_capture_reuses_buffers() {
    // Frames are dropped right away, so the pool must recycle instead of allocating per frame.
    let (_dir, pipeline) = vtest_pipeline("");
    let metrics = Arc::new(Metrics::new());
    let mut ptrs = std::collections::HashSet::new();
    let mut consumer = |f: Frame| {
        ptrs.insert(f.data.as_ptr() as usize);
    };
    runtime::run(&pipeline, metrics, opts(), &mut consumer).expect("run");
    assert!(
        ptrs.len() <= 8,
        "795 frames used {} distinct buffers",
        ptrs.len()
    );
}

#[test]
fn corrupt_and_garbage_files_fail_their_camera_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A real AVI header followed by noise, and pure noise.
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut corrupt = std::fs::read(common::footage("vtest.avi")).unwrap();
    corrupt.truncate(4096);
    corrupt.extend(&noise);
    std::fs::write(dir.path().join("corrupt.avi"), corrupt).unwrap();
    std::fs::write(dir.path().join("noise.avi"), &noise).unwrap();
    let text = format!(
        "cameras:\n  - name: corrupt\n    source: corrupt.avi\n  - name: noise\n    source: noise.avi\n  - name: good\n    source: {}\nmetrics:\n  enabled: false\n",
        common::footage("vtest.avi").display()
    );
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, text).unwrap();
    let pipeline = lookout::pipeline::load(&path).unwrap();
    let metrics = Arc::new(Metrics::new());
    let mut consumer = |_f: Frame| {};
    let summary =
        runtime::run(&pipeline, Arc::clone(&metrics), opts(), &mut consumer).expect("run returns");
    for (name, words) in [("corrupt", "demultiplex"), ("noise", "type of stream")] {
        let cam = &summary.cameras[name];
        assert_eq!(cam.state, CameraState::Failed, "{cam:?}");
        let err = cam.last_error.as_deref().unwrap_or("");
        assert!(err.contains(words), "{name}: unclear error `{err}`");
        assert_eq!(
            cam.errors.get("stream"),
            Some(&1),
            "the failure is counted once: {cam:?}"
        );
        assert_eq!(cam.reconnects, 0, "files are not retried");
    }
    // The healthy camera beside them is not disturbed.
    assert_eq!(summary.cameras["good"].frames_processed, 795);
    assert_eq!(summary.cameras["good"].state, CameraState::Ended);
}
