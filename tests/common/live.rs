//! A live camera and a running `lookout run` for tests: the bundled footage served by a real RTSP
//! server, the binary in the background.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use serde_json::Value;

/// An RTSP server playing vtest.avi at its own pace, over and over, at `/vtest`.
pub struct RtspServer {
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspServer {
    pub fn start(port: u16) -> RtspServer {
        gst::init().unwrap();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let ctx = gst::glib::MainContext::new();
        let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let video = super::footage("vtest.avi");
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
pub struct Run {
    pub child: Child,
    pub dir: PathBuf,
    pub metrics: std::net::SocketAddr,
}

impl Run {
    pub fn start(dir: &Path, yaml: &str, metrics_port: u16) -> Run {
        let path = dir.join("p.yaml");
        std::fs::write(&path, yaml).unwrap();
        let child = super::lookout_cmd()
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

    pub fn write(&self, yaml: &str) {
        // As an editor saves: a new file renamed over the old one.
        let tmp = self.dir.join(".p.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.dir.join("p.yaml")).unwrap();
    }

    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (_, body) = super::http_get(self.metrics, "/metrics").ok()?;
        super::metric_value(&super::parse_metrics(&body), name, labels)
    }

    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    pub fn stop(mut self) -> Value {
        let pid = self.child.id();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}: {}", self.log());
        serde_json::from_str(&super::read(&self.dir.join("summary.json"))).unwrap()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Polls `cond` every 200 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
