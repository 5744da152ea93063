//! `lookout validate` and `lookout run` on good and bad pipeline files, through the real binary.

mod common;

use common::{lookout, pipeline_file};

/// Runs `validate` on `text` and returns (exit code, stderr).
fn validate(text: &str) -> (i32, String, String) {
    let (_dir, path) = pipeline_file("cams.yaml", text);
    let out = lookout(&["validate", path.to_str().unwrap()]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
        path.display().to_string(),
    )
}

fn assert_error_at(text: &str, line: u32, column: u32, words: &[&str]) {
    let (code, stderr, path) = validate(text);
    assert_eq!(code, 2, "exit code for bad file; stderr: {stderr}");
    let at = format!("{path}:{line}:{column}: ");
    assert!(stderr.contains(&at), "expected `{at}` in: {stderr}");
    for w in words {
        assert!(stderr.contains(w), "expected `{w}` in: {stderr}");
    }
}

#[test]
fn demo_pipeline_is_valid() {
    let out = lookout(&[
        "validate",
        &common::root().join("pipelines/demo.yaml").to_string_lossy(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn yaml_syntax_error() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: \"test:ball\n",
        3,
        13,
        &["unclosed quote"],
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    assert_error_at(
        "cameras:\n  - name: a\n    sorce: test:ball\n",
        3,
        5,
        &["unknown field `sorce`", "did you mean `source`?"],
    );
}

#[test]
fn wrong_type() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: test:ball\n    width: wide\n",
        4,
        12,
        &["expected a whole number", "`wide`"],
    );
}

#[test]
fn missing_video_file() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: clips/nope.mp4\n",
        3,
        13,
        &["nope.mp4", "not found"],
    );
}

#[test]
fn bad_uri() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: rtsp://:554/stream\n",
        3,
        13,
        &["no host"],
    );
    assert_error_at(
        "cameras:\n  - name: a\n    source: rtps://cam/stream\n",
        3,
        13,
        &["unsupported source scheme `rtps`"],
    );
}

#[test]
fn unset_environment_variable() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: rtsp://${LOOKOUT_TEST_UNSET_HOST}/x\n",
        3,
        20,
        &["LOOKOUT_TEST_UNSET_HOST", "not set"],
    );
}

#[test]
fn environment_default_is_used() {
    let (code, stderr, _) =
        validate("cameras:\n  - name: a\n    source: test:${LOOKOUT_TEST_UNSET_PATTERN:-ball}\n");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn duplicate_camera_names() {
    assert_error_at(
        "cameras:\n  - name: a\n    source: test:ball\n  - name: a\n    source: test:snow\n",
        4,
        11,
        &["used twice", "line 2"],
    );
}

#[test]
fn missing_pipeline_file_exits_2() {
    let out = lookout(&["validate", "/nonexistent/pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read pipeline file"));
}

#[test]
fn run_with_bad_file_exits_2_too() {
    let (_dir, path) = pipeline_file("p.yaml", "cameras: 5\n");
    let out = lookout(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1:10: expected a list"));
}

#[test]
fn schema_is_json_schema_of_the_pipeline() {
    let v = common::lookout_json(&["schema"]);
    assert!(
        v["$schema"]
            .as_str()
            .unwrap_or("")
            .contains("json-schema.org")
    );
    assert!(v["properties"]["cameras"].is_object());
    assert_eq!(v["additionalProperties"], serde_json::Value::Bool(false));
}
