//! Hostile input through the real binary: each case here was found by a fault run and broke
//! lookout before its fix (injection, hangs, panics, silent short runs, inconsistent exit codes).

mod common;

use std::process::Output;

use common::{lookout_cmd, pipeline_file};

fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = lookout_cmd();
    cmd.current_dir(common::root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run lookout")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn an_environment_value_is_one_scalar_and_never_printed() {
    let (_dir, path) = pipeline_file(
        "env.yaml",
        "cameras:\n  - name: door\n    source: test:smpte\n\
         sinks:\n  - mqtt:\n      host: 127.0.0.1\n      username: cam\n      password: ${MQTT_PASS}\n",
    );
    let p = path.to_str().unwrap();
    // A newline and a key in the value: it used to add `metrics.listen` of its own.
    let evil = "x\nmetrics:\n  listen: 0.0.0.0:9464";
    let out = run_with_env(&["audit", "--json", p], &[("MQTT_PASS", evil)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let audit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let metrics = audit["egress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "metrics")
        .expect("metrics endpoint");
    assert!(
        metrics["destination"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9464"),
        "{metrics}"
    );
    assert!(!text(&out.stdout).contains("listen: 0.0.0.0"));

    // ` #` in a password used to cut the value (and the cut part was printed in clear).
    let (_dir, path) = pipeline_file(
        "env.yaml",
        "cameras:\n  - name: door\n    source: rtsp://u:${CAM_PASS}@127.0.0.1:8554/x\n",
    );
    let p = path.to_str().unwrap();
    let out = run_with_env(&["validate", p], &[("CAM_PASS", "se #cret")]);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("rtsp://***@127.0.0.1:8554/x"), "{all}");
    assert!(!all.contains("se #") && !all.contains("cret"), "{all}");
    let out = run_with_env(&["validate", p], &[("CAM_PASS", "s3cr3t-pw")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("rtsp://***@127.0.0.1:8554/x"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");

    // A value that fails to parse is not echoed: the error names the variable instead.
    let (_dir, path) = pipeline_file(
        "env.yaml",
        "cameras:\n  - name: door\n    source: test:smpte\n\
         sinks:\n  - mqtt: {host: 127.0.0.1, port: ${MQTT_TOKEN}}\n",
    );
    let out = run_with_env(
        &["validate", path.to_str().unwrap()],
        &[("MQTT_TOKEN", "tok-123456")],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(":5:"), "{err}");
    assert!(
        !err.contains("tok-123456") && err.contains("${MQTT_TOKEN}"),
        "{err}"
    );
}

/// A GIF of one white pixel: valid, and a format lookout does not decode.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

#[test]
fn pictures_lookout_does_not_read_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("pixel.gif");
    let disguised = dir.path().join("pixel.png");
    std::fs::write(&gif, GIF).unwrap();
    std::fs::write(&disguised, GIF).unwrap();
    let out_png = dir.path().join("out.png");
    for input in [&gif, &disguised] {
        let i = input.to_str().unwrap();
        for args in [
            vec![
                "detect",
                "--model",
                "models/centerface.yaml",
                "--backend",
                "opencv",
                i,
            ],
            vec![
                "redact",
                "--backend",
                "opencv",
                i,
                out_png.to_str().unwrap(),
            ],
        ] {
            // Used to spin at 90% CPU forever in a video decoder.
            let started = std::time::Instant::now();
            let out = run_with_env(&args, &[]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains("is a GIF picture"), "{err}");
            assert!(
                started.elapsed().as_secs() < 30,
                "{args:?} took {:?}",
                started.elapsed()
            );
        }
        // As a camera source it is refused by validation, not after a 10 s stall.
        let (_d, path) = pipeline_file(
            "gif.yaml",
            &format!("cameras:\n  - name: a\n    source: {}\n", input.display()),
        );
        let out = run_with_env(&["validate", path.to_str().unwrap()], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(":3:13:") && err.contains("is a GIF picture, not a video"),
            "{err}"
        );
    }
    // A directory is a directory, not "not found".
    let d = dir.path().to_str().unwrap();
    let out = run_with_env(
        &[
            "detect",
            "--model",
            "models/centerface.yaml",
            "--backend",
            "opencv",
            d,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_same_bad_model_exits_2_from_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let onnx = std::fs::read(root.join("models/blazeface-short-range-128.onnx")).unwrap();
    let truncated = &onnx[..onnx.len() / 2];
    std::fs::write(dir.path().join("bf.onnx"), truncated).unwrap();
    let manifest = std::fs::read_to_string(root.join("models/blazeface-short-range-128.yaml"))
        .unwrap()
        .replace("file: blazeface-short-range-128.onnx", "file: bf.onnx");
    let sha = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(truncated);
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let manifest: String = manifest
        .lines()
        .map(|l| {
            if l.starts_with("sha256:") {
                format!("sha256: {sha}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let m = dir.path().join("bf.yaml");
    std::fs::write(&m, manifest).unwrap();
    let m = m.to_str().unwrap();
    let out_png = dir.path().join("o.png");
    let astronaut = "pipelines/footage/astronaut.png";
    for args in [
        vec!["detect", "--model", m, "--backend", "opencv", astronaut],
        vec![
            "bench",
            "--model",
            m,
            "--backend",
            "opencv",
            "--seconds",
            "0.1",
        ],
        vec![
            "bench",
            "--model",
            m,
            "--backend",
            "wgpu",
            "--seconds",
            "0.1",
        ],
        vec![
            "redact",
            "--model",
            m,
            "--backend",
            "opencv",
            astronaut,
            out_png.to_str().unwrap(),
        ],
    ] {
        let out = run_with_env(&args, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("bf.onnx") || err.contains("bad model"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_closed_standard_output_ends_quietly_and_files_are_still_written() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let (_d, path) = pipeline_file(
        "p.yaml",
        "cameras:\n  - name: a\n    source: test:ball?frames=20&live=false\n\
         sinks:\n  - stdout: {format: json}\nmetrics: {enabled: false}\n",
    );
    let runs: Vec<Vec<String>> = vec![
        vec!["schema".into()],
        vec!["validate".into(), path.display().to_string()],
        vec![
            "run".into(),
            path.display().to_string(),
            "--no-progress".into(),
            "--summary".into(),
            summary.display().to_string(),
        ],
    ];
    for args in runs {
        let mut child = lookout_cmd()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before lookout writes anything: every write gets EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let s: serde_json::Value = serde_json::from_str(&common::read(&summary)).unwrap();
    assert_eq!(s["cameras"]["a"]["frames_captured"], 20, "{s}");
}

#[test]
fn numbers_beyond_their_range_are_refused_by_validate_and_run() {
    for (extra, at, words) in [
        (
            "    queue_capacity: 18446744073709551615\n",
            ":4:21:",
            "`cameras.queue_capacity` must be 1 to 1024",
        ),
        (
            "    queue_capacity: 1000000000\n",
            ":4:21:",
            "must be 1 to 1024",
        ),
        (
            "sinks:\n  - webhook:\n      url: http://127.0.0.1:9/x\n      outbox: {drain_timeout_s: 18446744073709551615}\n",
            ":7:33:",
            "`sinks.webhook.outbox.drain_timeout_s` must be 0 to 3600",
        ),
    ] {
        let (_d, path) = pipeline_file(
            "n.yaml",
            &format!("cameras:\n  - name: a\n    source: test:ball?frames=5&live=false\n{extra}"),
        );
        for cmd in ["validate", "run"] {
            let out = run_with_env(&[cmd, path.to_str().unwrap()], &[]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
            assert!(err.contains(at) && err.contains(words), "{cmd}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // Every number of the schema that editors see carries its range.
    let schema = common::lookout_json(&["schema"]);
    let q = &schema["$defs"]["CameraConfig"]["properties"]["queue_capacity"];
    assert_eq!(
        (q["minimum"].as_u64(), q["maximum"].as_u64()),
        (Some(1), Some(1024)),
        "{q}"
    );
}

/// Runs `source` to its end with `--summary` and returns (exit code, stderr, summary).
#[cfg(feature = "capture")]
fn run_file(source: &std::path::Path) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let (_d, path) = pipeline_file(
        "f.yaml",
        &format!(
            "cameras:\n  - name: a\n    source: {}\nmetrics: {{enabled: false}}\n",
            source.display()
        ),
    );
    let out = run_with_env(
        &[
            "run",
            path.to_str().unwrap(),
            "--no-progress",
            "--summary",
            summary.to_str().unwrap(),
        ],
        &[],
    );
    let s = serde_json::from_str(&common::read(&summary)).unwrap();
    (out.status.code(), text(&out.stderr), s)
}

#[cfg(feature = "capture")]
#[test]
fn a_file_that_ends_early_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    // One flipped byte in the bundled AVI's index (the top byte of entry 131's size: what a
    // fault run's 2,000 random flips came down to): the demuxer stops early without an error.
    let mut avi = std::fs::read(common::footage("vtest.avi")).unwrap();
    let idx1 = avi
        .windows(4)
        .rposition(|w| w == b"idx1")
        .expect("an AVI index");
    avi[idx1 + 8 + 16 * 131 + 15] ^= 0xff;
    let flipped = dir.path().join("flipped.avi");
    std::fs::write(&flipped, &avi).unwrap();
    // A 10 s MP4 with its index in front, cut at 70 %.
    let mp4 = dir.path().join("whole.mp4");
    let status = std::process::Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=250", "pattern=ball", "!"])
        .args([
            "video/x-raw,width=320,height=240,framerate=25/1",
            "!",
            "videoconvert",
            "!",
        ])
        .args([
            "x264enc",
            "speed-preset=ultrafast",
            "!",
            "mp4mux",
            "faststart=true",
            "!",
        ])
        .arg("filesink")
        .arg(format!("location={}", mp4.display()))
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools)");
    assert!(status.success());
    let whole = std::fs::read(&mp4).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &whole[..whole.len() * 7 / 10]).unwrap();

    let (code, _, s) = run_file(&mp4);
    assert_eq!(code, Some(0));
    assert_eq!(s["cameras"]["a"]["state"], "ended", "{s}");
    for short in [&flipped, &cut] {
        let (code, err, s) = run_file(short);
        let cam = &s["cameras"]["a"];
        assert_eq!(code, Some(1), "{}: {cam} {err}", short.display());
        assert_eq!(cam["state"], "truncated", "{cam}");
        assert_eq!(cam["errors"]["truncated"], 1, "{cam}");
        assert!(
            cam["last_error"].as_str().unwrap().contains("ended at"),
            "{cam}"
        );
        assert!(err.contains("the file ended early"), "{err}");
        let frames = cam["frames_captured"].as_u64().unwrap();
        assert!(frames > 0 && frames < 795, "{cam}");
    }
}

/// `models/blazeface-short-range-128` with its first convolution's `group` set to `group`, and a
/// manifest (checksum updated) for it, in `dir`.
fn blazeface_with_group(dir: &std::path::Path, group: i64) -> std::path::PathBuf {
    use lookout::infer::onnx::proto::{AttributeProto, ModelProto, attribute_type};
    use prost::Message;
    let root = common::root();
    let bytes = std::fs::read(root.join("models/blazeface-short-range-128.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let conv = graph.node.iter_mut().find(|n| n.op_type == "Conv").unwrap();
    conv.attribute.retain(|a| a.name != "group");
    conv.attribute.push(AttributeProto {
        name: "group".into(),
        r#type: attribute_type::INT,
        i: Some(group),
        ..Default::default()
    });
    let broken = model.encode_to_vec();
    std::fs::write(dir.join("g.onnx"), &broken).unwrap();
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&broken)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let manifest: String =
        std::fs::read_to_string(root.join("models/blazeface-short-range-128.yaml"))
            .unwrap()
            .lines()
            .map(|l| match l {
                l if l.starts_with("sha256:") => format!("sha256: {sha}\n"),
                l if l.starts_with("file:") => "file: g.onnx\n".to_string(),
                l if l.starts_with("license_files:") => "license_files: []\n".to_string(),
                l => format!("{l}\n"),
            })
            .collect();
    let path = dir.join("g.yaml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn a_convolution_with_group_0_is_refused_by_every_backend_naming_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let m = blazeface_with_group(dir.path(), 0);
    let m = m.to_str().unwrap();
    for args in [
        vec![
            "bench",
            "--model",
            m,
            "--backend",
            "opencv",
            "--seconds",
            "0.1",
        ],
        vec![
            "bench",
            "--model",
            m,
            "--backend",
            "wgpu",
            "--seconds",
            "0.1",
        ],
        vec![
            "bench",
            "--model",
            m,
            "--backend",
            "cpu",
            "--seconds",
            "0.1",
        ],
        vec![
            "detect",
            "--model",
            m,
            "--backend",
            "opencv",
            "pipelines/footage/astronaut.png",
        ],
    ] {
        // OpenCV used to die of SIGFPE (no exit code, no message); wgpu accepted the model.
        let out = run_with_env(&args, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("group 0 must be at least 1"),
            "{args:?}: {err}"
        );
        assert!(err.contains("node \""), "{args:?}: the node's name: {err}");
    }
}
