//! A real RTSP server (gstreamer-rtsp-server) on 127.0.0.1: lookout streams from it, survives the
//! server going away and coming back, and a file camera beside it is not disturbed.
#![cfg(feature = "capture")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};
use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use lookout::capture::{CameraState, Frame};
use lookout::metrics::Metrics;
use lookout::runtime::{self, RunOptions};

/// An RTSP server serving a live H.264 test pattern at `/cam`, on its own GLib main loop thread.
struct RtspServer {
    main_loop: gst::glib::MainLoop,
    thread: std::thread::JoinHandle<()>,
}

impl RtspServer {
    fn start(port: u16) -> RtspServer {
        gst::init().unwrap();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let ctx = gst::glib::MainContext::new();
        let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let thread = std::thread::spawn(move || {
            ctx.with_thread_default(|| {
                let server = rtsp::RTSPServer::new();
                server.set_address("127.0.0.1");
                server.set_service(&port.to_string());
                let factory = rtsp::RTSPMediaFactory::new();
                factory.set_launch(
                    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 \
                     ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
                );
                factory.set_shared(true);
                server.mount_points().unwrap().add_factory("/cam", factory);
                let id = server.attach(Some(&ctx)).expect("RTSP server binds");
                ready_tx.send(()).unwrap();
                ml.run();
                // Shut down for real: drop every client, stop listening, drop the server.
                server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
                if let Some(src) = ctx.find_source_by_id(&id) {
                    src.destroy();
                }
                drop(server);
                // Let the sessions finish tearing down.
                while ctx.iteration(false) {}
            })
            .unwrap();
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        RtspServer { main_loop, thread }
    }

    fn stop(self) {
        self.main_loop.quit();
        self.thread.join().unwrap();
    }
}

/// Waits until `n` more frames of `camera` arrive, returning the last seq seen.
fn wait_frames(
    rx: &Receiver<(String, u64)>,
    camera: &str,
    n: usize,
    timeout: Duration,
) -> Option<u64> {
    let deadline = Instant::now() + timeout;
    let mut got = 0;
    let mut last = None;
    while got < n {
        let left = deadline.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok((c, seq)) if c == camera => {
                got += 1;
                last = Some(seq);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    last
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn rtsp_camera_reconnects_after_server_restart_without_disturbing_a_file_camera() {
    let port = common::free_port();
    let server = RtspServer::start(port);
    let text = format!(
        "cameras:\n\
         \x20 - name: door\n\
         \x20   source: rtsp://127.0.0.1:{port}/cam\n\
         \x20   reconnect: {{initial_ms: 200, max_ms: 1000, stall_timeout_ms: 3000}}\n\
         \x20 - name: file\n\
         \x20   source: {}\n\
         metrics:\n  enabled: false\n",
        common::footage("vtest.avi").display()
    );
    let (_dir, path) = common::pipeline_file("p.yaml", &text);
    let pipeline = lookout::pipeline::load(&path).expect("valid pipeline");
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = unbounded();
    let door_seqs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let run = {
        let (metrics, stop, door_seqs) = (
            Arc::clone(&metrics),
            Arc::clone(&stop),
            Arc::clone(&door_seqs),
        );
        std::thread::spawn(move || {
            let mut consumer = move |f: Frame| {
                if &*f.camera == "door" {
                    door_seqs.lock().unwrap().push(f.seq);
                }
                let _ = tx.send((f.camera.to_string(), f.seq));
            };
            runtime::run(&pipeline, metrics, RunOptions::new(stop), &mut consumer)
        })
    };

    assert!(
        wait_frames(&rx, "door", 10, Duration::from_secs(60)).is_some(),
        "no frames from the RTSP camera"
    );
    server.stop();

    let reconnects = metrics.reconnects.with_label_values(&["door"]);
    assert!(
        wait_until(Duration::from_secs(30), || reconnects.get() >= 1),
        "lookout did not notice the server going away"
    );
    assert_eq!(
        metrics.camera_up.with_label_values(&["door"]).get(),
        0,
        "camera is down while the server is"
    );
    // Stay down across a few retries, then come back on the same port.
    std::thread::sleep(Duration::from_millis(1500));
    let server = RtspServer::start(port);
    while rx.try_recv().is_ok() {}
    assert!(
        wait_frames(&rx, "door", 10, Duration::from_secs(60)).is_some(),
        "frames did not resume after restart"
    );
    assert_eq!(metrics.camera_up.with_label_values(&["door"]).get(), 1);

    stop.store(true, Ordering::SeqCst);
    let summary = run.join().unwrap().expect("run ends cleanly");
    server.stop();

    let door = &summary.cameras["door"];
    assert!(door.reconnects >= 1, "{door:?}");
    assert!(
        door.errors.values().sum::<u64>() >= 1,
        "the outage is counted: {door:?}"
    );
    assert_eq!(door.state, CameraState::Stopped);
    let seqs = door_seqs.lock().unwrap();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "door frames out of order"
    );

    let file = &summary.cameras["file"];
    assert_eq!(
        (file.frames_processed, file.reconnects, file.state),
        (795, 0, CameraState::Ended),
        "{file:?}"
    );
    assert!(file.errors.is_empty(), "{file:?}");
}

#[test]
fn unreachable_rtsp_camera_backs_off_and_counts_attempts() {
    // Nothing listens on this port: the camera must keep retrying with backoff, never give up.
    let port = common::free_port();
    let text = format!(
        "cameras:\n  - name: dead\n    source: rtsp://127.0.0.1:{port}/none\n    reconnect: {{initial_ms: 100, max_ms: 400}}\nmetrics:\n  enabled: false\n"
    );
    let (_dir, path) = common::pipeline_file("p.yaml", &text);
    let pipeline = lookout::pipeline::load(&path).unwrap();
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let (metrics, stop) = (Arc::clone(&metrics), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut consumer = |_f: Frame| {};
            runtime::run(&pipeline, metrics, RunOptions::new(stop), &mut consumer)
        })
    };
    let reconnects = metrics.reconnects.with_label_values(&["dead"]);
    assert!(
        wait_until(Duration::from_secs(30), || reconnects.get() >= 3),
        "no retries"
    );
    stop.store(true, Ordering::SeqCst);
    let summary = run.join().unwrap().unwrap();
    let dead = &summary.cameras["dead"];
    assert_eq!(dead.frames_captured, 0);
    assert!(
        dead.errors.get("open").copied().unwrap_or(0)
            + dead.errors.get("stream").copied().unwrap_or(0)
            >= 3,
        "{dead:?}"
    );
    assert_eq!(dead.state, CameraState::Stopped);
}
