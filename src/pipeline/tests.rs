//! Validation of sections that span components (privacy and media against models and cameras),
//! through the whole pipeline loader.

use std::path::Path;

use super::{Pipeline, load_str};
use crate::config::ConfigError;
use crate::privacy::config::{DEFAULT_DEADLINE_MS, DEFAULT_MARGIN};

fn load(privacy: &str, media: &str) -> Result<Pipeline, ConfigError> {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "models:\n  faces: {{manifest: {root}/models/centerface.yaml}}\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\n\
         cameras:\n  - name: gate\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects}}\n    privacy: {privacy}\n{media}"
    );
    load_str(&text, Path::new("/tmp/p.yaml"), |_| None)
}

#[test]
fn privacy_defaults_and_pixels() {
    let p = load(
        "{faces: faces, masks: [[[0.5, 0], [1, 0], [1, 0.5]]]}",
        "media: {snapshots: {path: snaps}}\n",
    )
    .unwrap();
    let c = p.cameras[0].privacy.clone().unwrap();
    assert_eq!(c.faces.as_deref(), Some("faces"));
    assert_eq!(c.margin, DEFAULT_MARGIN);
    assert_eq!(c.deadline.as_millis(), u128::from(DEFAULT_DEADLINE_MS));
    assert_eq!(
        c.masks_in_pixels(200, 100),
        vec![vec![[100.0, 0.0], [200.0, 0.0], [200.0, 50.0]]]
    );
    let media = p.media.unwrap();
    let s = media.snapshots.unwrap();
    assert_eq!(s.dir, Path::new("/tmp/snaps"));
    assert_eq!(s.cameras, vec!["gate".to_string()]);
    assert_eq!(s.retention.max_bytes, 1 << 30);
    assert!(media.recording.is_none());
}

#[test]
fn privacy_errors_point_at_their_place() {
    let e = load("{faces: face}", "").unwrap_err();
    assert_eq!((e.line, e.column), (8, 22), "{e}");
    assert!(e.message.contains("did you mean `faces`?"), "{e}");
    let e = load("{faces: faces, margin: 3}", "").unwrap_err();
    assert_eq!((e.line, e.column), (8, 37), "{e}");
    let e = load("{masks: [[[0, 0], [1, 1]]]}", "").unwrap_err();
    assert!(
        e.message
            .starts_with("`privacy.masks`: mask 1: a polygon needs at least 3 points"),
        "{e}"
    );
    let e = load(
        "{faces: faces}",
        "media: {recording: {path: r, cameras: [gat]}}\n",
    )
    .unwrap_err();
    assert!(e.message.contains("names camera `gat`"), "{e}");
    let e = load(
        "{faces: faces}",
        "media: {snapshots: {path: s, kinds: [crossing]}}\n",
    )
    .unwrap_err();
    assert!(e.message.contains("unknown event kind `crossing`"), "{e}");
}

#[test]
fn every_number_of_a_pipeline_file_has_a_range() {
    let unbounded = crate::config::ranges::unbounded(&super::json_schema());
    assert!(
        unbounded.is_empty(),
        "numbers without a range: {unbounded:?}"
    );
}

#[test]
fn numbers_out_of_range_are_errors_at_their_place() {
    let root = env!("CARGO_MANIFEST_DIR");
    let load = |extra: &str| {
        load_str(
            &format!(
                "cameras:\n  - name: a\n    source: {root}/pipelines/footage/vtest.avi\n{extra}"
            ),
            Path::new("/tmp/p.yaml"),
            |_| None,
        )
    };
    let e = load("    queue_capacity: 18446744073709551615\n").unwrap_err();
    assert_eq!((e.line, e.column), (4, 21), "{e}");
    assert!(
        e.message
            .contains("`cameras.queue_capacity` must be 1 to 1024"),
        "{e}"
    );
    let e = load("    queue_capacity: 1000000000\n").unwrap_err();
    assert!(e.message.contains("must be 1 to 1024"), "{e}");
    let e = load("sinks:\n  - webhook: {url: 'http://127.0.0.1:1/x', outbox: {drain_timeout_s: 18446744073709551615}}\n")
        .unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(
        e.message.contains("drain_timeout_s` must be 0 to 3600"),
        "{e}"
    );
    assert!(load("    queue_capacity: 16\n").is_ok());
}

#[test]
fn device_identity_defaults_to_the_host_and_is_checked_in_place() {
    let load = |device: &str| {
        let text = format!("{device}cameras:\n  - name: gate\n    source: test:ball\n");
        load_str(&text, Path::new("/tmp/p.yaml"), |_| None)
    };
    let d = load("").unwrap().device;
    assert_eq!(d.name, crate::events::device::host_name());
    assert_eq!(d.site, "default");
    let d = load("device: {name: door-box, site: oslo}\n")
        .unwrap()
        .device;
    assert_eq!((d.name.as_str(), d.site.as_str()), ("door-box", "oslo"));
    let e = load("device:\n  site: oslo.east\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 9), "{e}");
    assert!(e.message.contains("site name `oslo.east`"), "{e}");
}

#[test]
fn the_page_is_off_unless_written_local_by_default_and_listed_by_the_audit() {
    assert!(load("{faces: faces}", "").unwrap().ui.is_none());
    let p = load("{faces: faces}", "ui: {}\n").unwrap();
    assert_eq!(p.ui.as_ref().unwrap().listen.to_string(), "127.0.0.1:9465");
    let page = super::audit::audit(&p)
        .egress
        .into_iter()
        .find(|e| e.name == "ui")
        .expect("the page is listed");
    assert!(page.loopback);
    let p = load("{faces: faces}", "ui: {listen: 0.0.0.0:8080}\n").unwrap();
    let page = super::audit::audit(&p)
        .egress
        .into_iter()
        .find(|e| e.name == "ui")
        .unwrap();
    assert!(!page.loopback && page.destination.contains("0.0.0.0:8080"));
    assert!(
        load("{faces: faces}", "ui: {enabled: false}\n")
            .unwrap()
            .ui
            .is_none()
    );
    // Stills are redacted like stored media: they need a camera with a face model.
    let p = load("{faces: faces}", "ui: {stills: true}\n").unwrap();
    assert!(p.ui.as_ref().unwrap().stills);
    let e = load(
        "{masks: [[[0.5, 0], [1, 0], [1, 0.5]]]}",
        "ui: {stills: true}\n",
    )
    .unwrap_err();
    assert!(e.message.contains("face model") && e.line == 9, "{e}");
    let e = load("{faces: faces}", "ui: {listen: somewhere}\n").unwrap_err();
    assert_eq!(e.line, 9, "{e}");
    assert!(e.message.contains("not a listen address"), "{e}");
}

#[test]
fn onnxruntime_spinning_is_off_unless_a_model_asks() {
    let root = env!("CARGO_MANIFEST_DIR");
    let load = |extra: &str| {
        let text = format!(
            "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml, backend: onnxruntime{extra}}}\n\
             cameras:\n  - name: gate\n    source: {root}/pipelines/footage/vtest.avi\n    detect: {{model: objects}}\n"
        );
        load_str(&text, Path::new("/tmp/p.yaml"), |_| None)
    };
    let p = load("").unwrap();
    assert!(!p.models["objects"].backend_options().spin);
    let p = load(", spin: true").unwrap();
    assert!(p.models["objects"].backend_options().spin);
    // Not a boolean: an error at its line and column.
    let e = load(", spin: yes please").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("boolean"), "{e}");
}
