//! The local page's test set-up, shared by the browser tests: the bundled footage served live
//! over RTSP and `lookout run` with the page, the metrics and a file sink, plus what the tests
//! read back (metrics, the track colour in screenshots).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::live::{RtspServer, Run, wait_until};
use super::webdriver::Browser;

/// A pipeline with one live camera, a zone, the page and the metrics; comments and blank lines
/// that a save must keep. With `stills`, a face model redacts the camera and the page shows
/// stills.
pub fn pipeline(rtsp: u16, metrics: u16, ui: u16, stills: bool) -> String {
    let root = super::root();
    let (faces, privacy, ui_stills) = if stills {
        (
            format!(
                "  faces: {{manifest: {}/models/centerface.yaml, backend: opencv, input_size: [192, 160]}}\n",
                root.display()
            ),
            // A generous deadline: a loaded test machine must not turn every still into a miss.
            "    privacy: {faces: faces, deadline_ms: 60000}\n",
            ", stills: true",
        )
    } else {
        (String::new(), "", "")
    };
    format!(
        "# The page's test pipeline: these comments must survive a save.\n\
         models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: opencv}}   # CPU\n\
         {faces}\
         \n\
         cameras:\n\
         \x20 - name: door   # the footpath\n\
         \x20   source: rtsp://127.0.0.1:{rtsp}/vtest\n\
         \x20   detect: {{model: objects, fps: 5}}\n\
         {privacy}\
         \x20   rules:\n\
         \x20     objects: [person]   # people only\n\
         \x20     zones:\n\
         \x20       - name: road\n\
         \x20         points: [[0.62, 0.17], [0.97, 0.12], [1.0, 0.32], [0.88, 0.45], [0.66, 0.42]]\n\
         \n\
         sinks:\n  - file: {{path: events.jsonl}}\n\
         metrics: {{listen: '127.0.0.1:{metrics}'}}\n\
         ui: {{listen: '127.0.0.1:{ui}'{ui_stills}}}   # the page\n",
        root = root.display(),
    )
}

/// Where the screenshots go: `docs/ui/` when asked for, else beside the test's pipeline.
pub fn screenshot_dir(scratch: &std::path::Path) -> std::path::PathBuf {
    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        super::root().join("docs/ui")
    } else {
        scratch.join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Pixels of `png` close to the live view's track colour (#00e5ff).
pub fn track_pixels(png: &[u8]) -> usize {
    let img = image::load_from_memory(png).expect("PNG").to_rgb8();
    img.pixels()
        .filter(|p| p[0] < 70 && p[1] > 190 && p[2] > 220)
        .count()
}

/// The sum of the samples of `name` whose labels include `labels` (all reasons, all kinds).
pub fn metric(run: &Run, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Ok((_, body)) = super::http_get(run.metrics, "/metrics") else {
        return 0.0;
    };
    super::parse_metrics(&body)
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
            _ => 0.0,
        })
        .sum()
}

/// The footage over RTSP, and `lookout run` on [`pipeline`] with the page and metrics on free
/// ports.
pub struct Live {
    pub run: Run,
    pub page: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The pipeline file as first written.
    pub original: String,
    _rtsp: RtspServer,
}

impl Live {
    /// Waits until the detector has seen frames of the camera.
    pub fn wait_detected(&self) {
        assert!(
            wait_until(Duration::from_secs(60), || {
                metric(
                    &self.run,
                    "lookout_frames_detected_total",
                    &[("camera", "door")],
                ) > 0.0
            }),
            "no frames detected: {}",
            self.run.log()
        );
    }

    pub fn start(stills: bool) -> Live {
        let rtsp_port = super::free_port();
        let rtsp = RtspServer::start(rtsp_port);
        let dir = tempfile::tempdir().unwrap();
        let (mport, uport) = (super::free_port(), super::free_port());
        let original = pipeline(rtsp_port, mport, uport, stills);
        let run = Run::start(dir.path(), &original, mport);
        Live {
            run,
            page: format!("127.0.0.1:{uport}").parse().unwrap(),
            dir,
            original,
            _rtsp: rtsp,
        }
    }
}

/// Clicks the page's Save and waits for its answer, which must say the file was saved.
pub fn save(browser: &Browser) -> Value {
    browser.js("window.lookout.saved = null;", vec![]);
    browser.click(&browser.find("#save"));
    let saved = browser
        .wait_js(
            Duration::from_secs(60),
            "const s = window.lookout.saved; return s && (s.saved || s.error) ? s : null;",
        )
        .expect("the save answered");
    assert!(saved["saved"].is_string(), "not saved: {saved}");
    saved
}
