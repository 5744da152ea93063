//! The deployment files: the systemd unit passes `systemd-analyze verify` and keeps its
//! hardening; the Kubernetes DaemonSet probes and scrapes the endpoints lookout serves, and the
//! pipeline in its ConfigMap validates.

mod common;

use std::process::Command;

use serde_json::Value;

fn deploy(path: &str) -> std::path::PathBuf {
    common::root().join("deploy").join(path)
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&common::read(&deploy(path))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = common::read(&deploy("systemd/lookout.service"));
    for line in [
        "DynamicUser=yes",
        "StateDirectory=lookout",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-drm rw",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing `{line}`");
    }
    let devices: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("DeviceAllow="))
        .collect();
    assert_eq!(devices.len(), 2, "video and render nodes only: {devices:?}");

    // systemd checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/lookout", env!("CARGO_BIN_EXE_lookout")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");

    // systemd's own exposure score (0 safest, 10 unprotected) stays low.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for lookout.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    assert!(score <= 2.0, "exposure {score}");
}

#[test]
fn kubernetes_daemonset_probes_scrapes_and_runs_a_valid_pipeline() {
    let ds = yaml("kubernetes/daemonset.yaml");
    assert_eq!(ds["kind"], "DaemonSet");
    let pod = &ds["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let notes = &pod["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], port.to_string());
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    let state = volumes.iter().find(|v| v["name"] == "state").unwrap();
    assert_eq!(state["hostPath"]["path"], "/var/lib/lookout");

    let cm = yaml("kubernetes/configmap.yaml");
    let config = volumes.iter().find(|v| v["name"] == "pipeline").unwrap();
    assert_eq!(config["configMap"]["name"], cm["metadata"]["name"]);
    let kustomize = yaml("kubernetes/kustomization.yaml");
    assert_eq!(
        kustomize["resources"],
        serde_json::json!(["configmap.yaml", "daemonset.yaml"])
    );

    // The ConfigMap's pipeline, with the image's model folder replaced by the repository's.
    let pipeline = cm["data"]["pipeline.yaml"].as_str().unwrap().replace(
        "/usr/share/lookout/models/",
        &format!("{}/models/", common::root().display()),
    );
    assert!(pipeline.contains(&format!("listen: 0.0.0.0:{port}")));
    assert!(pipeline.contains("state_dir: /var/lib/lookout"));
    let (dir, path) = common::pipeline_file("pipeline.yaml", &pipeline);
    let out = common::lookout_cmd()
        .args(["validate", path.to_str().unwrap()])
        .env("LOOKOUT_NODE", "camera-node-1")
        .env("CAM_USER", "viewer")
        .env("CAM_PASS", "secret")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(dir);
}
