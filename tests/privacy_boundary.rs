//! The structural privacy boundary: `Sinks::publish` takes an `Event`, and handing it a frame, a
//! tensor, a decoded picture or raw bytes does not compile.
//!
//! Each case in `tests/ui/` is compiled against the library by `cargo check` in a scratch
//! project (`target/ui-boundary/`). A line marked `//~ ERROR E0308` must get exactly that error
//! code there; a case without a mark must compile. Only the error's code and place are compared,
//! not rustc's wording, so a toolchain upgrade that rephrases messages does not break the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a case expects: (line, error code) pairs.
fn expectations(source: &str) -> Vec<(u64, String)> {
    source
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (_, mark) = line.split_once("//~ ERROR ")?;
            Some((i as u64 + 1, mark.trim().to_string()))
        })
        .collect()
}

/// The scratch project: one binary per case, the library without default features (no GStreamer
/// or OpenCV needed to type-check), the dependency versions of the main lock file.
fn scratch_project(root: &Path, cases: &[PathBuf]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("ui-boundary");
    let bin = dir.join("src/bin");
    if bin.exists() {
        std::fs::remove_dir_all(&bin).expect("clear old cases");
    }
    std::fs::create_dir_all(&bin).expect("scratch project");
    let manifest = format!(
        "[package]\nname = \"ui-boundary\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nlookout = {{ path = {root:?}, default-features = false }}\n\
         image = {{ version = \"0.25\", default-features = false, features = [\"png\"] }}\n\n\
         [workspace]\n",
        root = root.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    }
    for case in cases {
        let name = case.file_name().expect("case file");
        std::fs::copy(case, bin.join(name)).expect("copy case");
    }
    dir
}

/// Errors per case: case name -> [(line, code)], from cargo's JSON messages.
fn check(project: &Path) -> BTreeMap<String, Vec<(u64, String)>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(project)
        .env("CARGO_TARGET_DIR", project.join("target"))
        .args([
            "check",
            "--bins",
            "--keep-going",
            "--message-format=json",
            "--quiet",
        ])
        .output()
        .expect("run cargo check");
    let mut errors: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-message" || msg["message"]["level"] != "error" {
            continue;
        }
        let Some(case) = msg["target"]["name"].as_str() else {
            continue;
        };
        let code = msg["message"]["code"]["code"]
            .as_str()
            .unwrap_or("(no code)")
            .to_string();
        let line = msg["message"]["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["is_primary"] == true))
            .and_then(|s| s["line_start"].as_u64())
            .unwrap_or(0);
        errors
            .entry(case.to_string())
            .or_default()
            .push((line, code));
    }
    assert!(
        !errors.is_empty() || out.status.success(),
        "cargo check failed without compiler errors:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    errors
}

#[test]
fn pixels_cannot_reach_a_sink() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/ui"))
        .expect("tests/ui")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "{cases:?}");
    let errors = check(&scratch_project(root, &cases));
    let mut failing = 0;
    for case in &cases {
        let name = case
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("case name");
        let want = expectations(&std::fs::read_to_string(case).expect("case"));
        let got = errors.get(name).cloned().unwrap_or_default();
        assert_eq!(
            got, want,
            "{name}: compiler errors (line, code) vs the //~ marks"
        );
        failing += usize::from(!want.is_empty());
    }
    assert!(
        failing >= 4,
        "frame, tensor, picture and bytes must each fail"
    );
}
