//! Changing a running pipeline without a restart, through the real binary: the bundled footage
//! served live by a real RTSP server, the pipeline file rewritten while `lookout run` runs.
#![cfg(feature = "capture")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use serde_json::Value;

/// An RTSP server playing vtest.avi at its own pace, over and over, at `/vtest`.
struct RtspServer {
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspServer {
    fn start(port: u16) -> RtspServer {
        gst::init().unwrap();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let ctx = gst::glib::MainContext::new();
        let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let video = common::footage("vtest.avi");
        let thread = std::thread::spawn(move || {
            ctx.with_thread_default(|| {
                let server = rtsp::RTSPServer::new();
                server.set_address("127.0.0.1");
                server.set_service(&port.to_string());
                let factory = rtsp::RTSPMediaFactory::new();
                factory.set_launch(&format!(
                    "( filesrc location={} ! decodebin ! videoconvert ! x264enc tune=zerolatency \
                     speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 )",
                    video.display()
                ));
                factory.set_shared(true);
                server
                    .mount_points()
                    .unwrap()
                    .add_factory("/vtest", factory);
                let _id = server.attach(Some(&ctx)).expect("RTSP server binds");
                ready_tx.send(()).unwrap();
                ml.run();
                server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
                drop(server);
                while ctx.iteration(false) {}
            })
            .unwrap();
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        RtspServer {
            main_loop,
            thread: Some(thread),
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `lookout run` in the background, stopped (SIGTERM) when dropped.
struct Run {
    child: Child,
    dir: PathBuf,
    metrics: std::net::SocketAddr,
}

impl Run {
    fn start(dir: &Path, yaml: &str, metrics_port: u16) -> Run {
        let path = dir.join("p.yaml");
        std::fs::write(&path, yaml).unwrap();
        let child = common::lookout_cmd()
            .env("LOOKOUT_LOG", "info")
            .args(["run", path.to_str().unwrap(), "--no-progress", "--summary"])
            .arg(dir.join("summary.json"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        Run {
            child,
            dir: dir.to_path_buf(),
            metrics: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
        }
    }

    fn write(&self, yaml: &str) {
        // As an editor saves: a new file renamed over the old one.
        let tmp = self.dir.join(".p.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.dir.join("p.yaml")).unwrap();
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (_, body) = common::http_get(self.metrics, "/metrics").ok()?;
        common::metric_value(&common::parse_metrics(&body), name, labels)
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn stop(mut self) -> Value {
        let pid = self.child.id();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}: {}", self.log());
        serde_json::from_str(&common::read(&self.dir.join("summary.json"))).unwrap()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Two cameras on the live footage; `door_rules` goes into the first camera's section.
fn pipeline(rtsp: u16, metrics: u16, door_rules: &str) -> String {
    format!(
        "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}\n\
         cameras:\n\
         \x20 - name: door\n    source: rtsp://127.0.0.1:{rtsp}/vtest\n    detect: {{model: objects, fps: 5}}\n\
         \x20   rules:\n      objects: [person]\n{door_rules}\
         \x20 - name: hall\n    source: rtsp://127.0.0.1:{rtsp}/vtest\n    detect: {{model: objects, fps: 5}}\n\
         \x20   rules: {{objects: [person]}}\n\
         sinks:\n  - file: {{path: events.jsonl}}\n\
         metrics: {{listen: '127.0.0.1:{metrics}'}}\n",
        root = common::root().display()
    )
}

#[test]
fn a_line_added_to_a_running_pipeline_names_the_next_crossing_and_a_broken_edit_changes_nothing() {
    let rtsp_port = common::free_port();
    let _server = RtspServer::start(rtsp_port);
    let metrics_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let run = Run::start(
        dir.path(),
        &pipeline(rtsp_port, metrics_port, ""),
        metrics_port,
    );
    let hall_ids = |events: &[Value]| -> Vec<u64> {
        events
            .iter()
            .filter(|e| e["camera"] == "hall" && e["kind"] == "object" && e["type"] == "new")
            .filter_map(|e| e["track_id"].as_u64())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(120), || hall_ids(&run.events()).len()
            >= 2),
        "no tracks on the second camera: {}",
        run.log()
    );
    let before = hall_ids(&run.events());

    // (b) A broken edit: counted, logged at its place, and nothing stops.
    run.write("cameras:\n  - name: door\n    source: [oops\n");
    assert!(
        wait_until(Duration::from_secs(30), || run
            .metric("lookout_config_reloads_total", &[("result", "error")])
            == Some(1.0)),
        "{}",
        run.log()
    );
    assert!(
        run.log().contains("p.yaml:3:"),
        "error with its position: {}",
        run.log()
    );
    let (status, _) = common::http_get(run.metrics, "/readyz").unwrap();
    assert_eq!(status, 200, "/readyz keeps answering");

    // (a) A line across the footpath: the next crossing names it.
    let line = "      lines:\n        - {name: footpath, a: [0.45, 0.30], b: [0.45, 0.68]}\n";
    run.write(&pipeline(rtsp_port, metrics_port, line));
    assert!(
        wait_until(Duration::from_secs(30), || run
            .metric("lookout_config_reloads_total", &[("result", "ok")])
            == Some(1.0)),
        "{}",
        run.log()
    );
    assert!(
        wait_until(Duration::from_secs(150), || run
            .events()
            .iter()
            .any(|e| e["kind"] == "line_crossed" && e["line"] == "footpath")),
        "no crossing of the new line: {}",
        run.log()
    );
    let after = hall_ids(&run.events());
    let summary = run.stop();
    // The other camera kept its stream and tracker: its ids go on from where they were.
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    let mut sorted = after.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        after.len(),
        "a track id was given twice: {after:?}"
    );
    assert_eq!(summary["cameras"]["hall"]["reconnects"], 0, "{summary}");
}
