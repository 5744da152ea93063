//! `/metrics` scraped during a real run, parsed by a real Prometheus parser; SIGTERM drains and exits 0.
#![cfg(feature = "capture")]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{metric_value, parse_metrics};

fn scrape(addr: SocketAddr) -> Option<Vec<prometheus_parse::Sample>> {
    let (status, body) = common::http_get(addr, "/metrics").ok()?;
    (status == 200).then(|| parse_metrics(&body))
}

#[test]
fn metrics_during_a_run_agree_with_the_summary_and_sigterm_exits_cleanly() {
    let port = common::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let text = format!(
        "cameras:\n  - name: vtest\n    source: {}\n  - name: live\n    source: test:smpte\n    width: 160\n    height: 120\n    fps: 30\nmetrics:\n  listen: ${{METRICS_ADDR}}\n",
        common::footage("vtest.avi").display()
    );
    let (dir, path) = common::pipeline_file("p.yaml", &text);
    let summary_path = dir.path().join("summary.json");
    let child = common::lookout_cmd()
        .args([
            "run",
            path.to_str().unwrap(),
            "--summary",
            summary_path.to_str().unwrap(),
        ])
        .env("METRICS_ADDR", addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Scrape until the file camera has ended and the live one is streaming.
    let deadline = Instant::now() + Duration::from_secs(60);
    let samples = loop {
        assert!(
            Instant::now() < deadline,
            "the run never reached the expected state"
        );
        if let Some(s) = scrape(addr) {
            let ended = metric_value(
                &s,
                "lookout_camera_state",
                &[("camera", "vtest"), ("state", "ended")],
            );
            let live_up = metric_value(&s, "lookout_camera_up", &[("camera", "live")]);
            if ended == Some(1.0) && live_up == Some(1.0) {
                break s;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        metric_value(
            &samples,
            "lookout_frames_captured_total",
            &[("camera", "vtest")]
        ),
        Some(795.0)
    );
    let live_mid = metric_value(
        &samples,
        "lookout_frames_captured_total",
        &[("camera", "live")],
    )
    .unwrap();
    assert!(samples.iter().any(|s| s.metric == "lookout_build_info"));
    // The box's identity: the host name and the default site, as in its events.
    let host = lookout::events::device::host_name();
    assert_eq!(
        metric_value(
            &samples,
            "lookout_device_info",
            &[("device", host.as_str()), ("site", "default")]
        ),
        Some(1.0)
    );
    assert!(
        samples
            .iter()
            .any(|s| s.metric == "lookout_capture_to_handoff_seconds_count"
                && s.labels.get("camera") == Some("vtest")),
        "latency histogram exported"
    );
    let (code, _) = common::http_get(addr, "/healthz").unwrap();
    assert_eq!(code, 200);
    let (code, body) = common::http_get(addr, "/readyz").unwrap();
    assert_eq!((code, body.trim()), (200, "ready"));

    // SIGTERM: sources stop, queues drain, exit 0, summary written.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("camera vtest [ended]"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_str(&common::read(&summary_path)).expect("summary JSON");
    assert_eq!(summary["ended_by"], "signal");
    let vtest = &summary["cameras"]["vtest"];
    assert_eq!(vtest["frames_captured"], 795);
    assert_eq!(vtest["frames_processed"], 795);
    assert_eq!(vtest["frames_dropped_total"], 0);
    let live = &summary["cameras"]["live"];
    assert_eq!(live["state"], "stopped");
    let live_end = live["frames_captured"].as_f64().unwrap();
    assert!(
        live_end >= live_mid,
        "counters never go back: {live_end} < {live_mid}"
    );
    let processed = live["frames_processed"].as_f64().unwrap();
    let dropped = live["frames_dropped_total"].as_f64().unwrap();
    assert_eq!(
        processed + dropped,
        live_end,
        "every captured frame is processed or counted as dropped"
    );
}

#[test]
fn readyz_reports_a_camera_that_is_not_streaming() {
    let port = common::free_port();
    let dead = common::free_port();
    let text = format!(
        "cameras:\n  - name: gate\n    source: rtsp://127.0.0.1:{dead}/x\nmetrics:\n  listen: 127.0.0.1:{port}\n"
    );
    let (_dir, path) = common::pipeline_file("p.yaml", &text);
    let mut child = common::lookout_cmd()
        .args(["run", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while Instant::now() < deadline {
        if let Ok(r) = common::http_get(addr, "/readyz") {
            seen = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let (code, body) = seen.expect("metrics endpoint answered");
    assert_eq!(code, 503);
    assert!(body.contains("gate"), "{body}");
    assert_eq!(status.code(), Some(0));
}
