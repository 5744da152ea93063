//! Capture throughput of the bundled vtest.avi: lookout's capture (decode, convert to NV12, copy
//! into pooled frames, queue, consume) beside the same decode in `gst-launch-1.0 ... ! fakesink`.
//!
//! Run: `cargo bench --bench capture`. Each iteration decodes all 795 frames. Two peers: the
//! `gst-launch-1.0` process (start-up included) and the same description run in this process
//! (start-up excluded); the ratio of lookout's mean to the in-process peer is lookout's overhead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout::metrics::Metrics;
use lookout::runtime::{self, RunOptions};

fn vtest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/footage/vtest.avi")
}

fn capture(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.yaml");
    let yaml = format!(
        "cameras:\n  - name: vtest\n    source: {}\nmetrics:\n  enabled: false\n",
        vtest().display()
    );
    std::fs::write(&path, yaml).expect("write pipeline");
    let pipeline = lookout::pipeline::load(&path).expect("valid pipeline");

    let mut group = c.benchmark_group("capture_vtest_795_frames");
    group.sample_size(10);
    group.throughput(Throughput::Elements(795));
    group.bench_function("lookout_run_nv12", |b| {
        b.iter(|| {
            let opts = RunOptions::new(Arc::new(AtomicBool::new(false)));
            let mut n = 0u64;
            let mut consumer = |_f: lookout::capture::Frame| n += 1;
            runtime::run(&pipeline, Arc::new(Metrics::new()), opts, &mut consumer).expect("run");
            assert_eq!(n, 795);
        })
    });
    // The peer: the same decode and conversion to NV12, into a fakesink, as a gst-launch process.
    let uri = format!("file://{}", vtest().display());
    group.bench_function("gst_launch_fakesink_nv12", |b| {
        b.iter(|| {
            let status = Command::new("gst-launch-1.0")
                .args([
                    "-q",
                    "uridecodebin3",
                    &format!("uri={uri}"),
                    "!",
                    "videoconvert",
                    "!",
                ])
                .args(["video/x-raw,format=NV12", "!", "fakesink", "sync=false"])
                .status()
                .expect("gst-launch-1.0 (package gstreamer1.0-tools)");
            assert!(status.success());
        })
    });
    // The same description run in this process, so start-up cost is not counted for the peer.
    let description = format!(
        "uridecodebin3 uri={uri} ! videoconvert ! video/x-raw,format=NV12 ! fakesink sync=false"
    );
    group.bench_function("gst_in_process_fakesink_nv12", |b| {
        use gstreamer::prelude::*;
        gstreamer::init().expect("GStreamer");
        b.iter(|| {
            let pipeline = gstreamer::parse::launch(&description).expect("pipeline");
            pipeline.set_state(gstreamer::State::Playing).expect("play");
            let bus = pipeline.bus().expect("bus");
            let msg = bus.timed_pop_filtered(
                gstreamer::ClockTime::NONE,
                &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
            );
            assert!(matches!(
                msg.map(|m| m.type_()),
                Some(gstreamer::MessageType::Eos)
            ));
            pipeline.set_state(gstreamer::State::Null).expect("stop");
        })
    });
    group.finish();
}

criterion_group!(benches, capture);
criterion_main!(benches);
