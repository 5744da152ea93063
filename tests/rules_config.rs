//! Rules configuration errors (with their place in the file) and the event schema: every event the
//! engine makes validates against `lookout schema --events` and carries no image data.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lookout::detect::Detection;
use lookout::events::{self, Event};
use lookout::rules::{Analytics, RulesConfig};
use lookout::track::{FrameInfo, TrackerConfig};

const LABELS: &[&str] = &["person", "bicycle", "car", "truck"];

/// Parses and validates `yaml`; the error as `file:line:column: message`.
fn check(yaml: &str) -> Result<RulesConfig, String> {
    let r: RulesConfig =
        lookout::config::parse_yaml(yaml, Path::new("p.yaml")).map_err(|e| e.to_string())?;
    r.validate(Path::new("p.yaml"), Some(LABELS))
        .map_err(|e| e.to_string())?;
    Ok(r)
}

fn err(yaml: &str) -> String {
    match check(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e,
    }
}

#[test]
fn polygon_needs_three_points() {
    let e = err("zones:\n  - name: pad\n    points: [[0.1, 0.1], [0.5, 0.5]]\n");
    assert_eq!(
        e,
        "p.yaml:3:13: zone `pad`: a polygon needs at least 3 points, got 2"
    );
    let e = err("masks:\n  - [[0.1, 0.1], [0.5, 0.5]]\n");
    assert!(
        e.starts_with("p.yaml:2:5: mask 1: a polygon needs at least 3 points"),
        "{e}"
    );
}

#[test]
fn relative_coordinates_stay_in_the_frame() {
    let e = err(
        "zones:\n  - name: pad\n    points:\n      - [0.1, 0.1]\n      - [1.5, 0.1]\n      - [0.5, 0.5]\n",
    );
    assert!(
        e.starts_with("p.yaml:5:9: zone `pad`: coordinate 1.5 is outside 0..1"),
        "{e}"
    );
    assert!(e.contains("units: pixels"), "{e}");
    // The same point is fine in pixels.
    let ok =
        "units: pixels\nzones:\n  - name: pad\n    points: [[10, 10], [1500, 10], [500, 500]]\n";
    assert!(check(ok).is_ok());
    let e = err("units: pixels\nlines:\n  - name: l\n    a: [-5, 0]\n    b: [10, 10]\n");
    assert!(e.starts_with("p.yaml:4:8: line `l`: coordinate -5"), "{e}");
}

#[test]
fn lines_need_length() {
    let e = err("lines:\n  - name: gate\n    a: [0.5, 0.5]\n    b: [0.5, 0.5]\n");
    assert_eq!(
        e,
        "p.yaml:4:8: line `gate` has no length: `a` and `b` are (almost) the same point"
    );
}

#[test]
fn unknown_labels_are_named_with_a_suggestion() {
    let e =
        err("lines:\n  - name: gate\n    a: [0.1, 0.5]\n    b: [0.9, 0.5]\n    labels: [persn]\n");
    assert!(
        e.starts_with("p.yaml:5:14: line `gate`: unknown label `persn`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean `person`?"), "{e}");
    let e = err("objects: [person, airplane]\n");
    assert!(
        e.starts_with("p.yaml:1:19: `objects`: unknown label `airplane`"),
        "{e}"
    );
    let e = err("filters:\n  dog: { min_score: 0.5 }\n");
    assert!(
        e.starts_with("p.yaml:2:3: filter `dog`: unknown label `dog`"),
        "{e}"
    );
}

#[test]
fn labels_outside_objects_are_errors() {
    let e = err(
        "objects: [person]\nzones:\n  - name: road\n    points: [[0, 0], [1, 0], [1, 1]]\n    labels: [car]\n",
    );
    assert_eq!(
        e,
        "p.yaml:5:14: zone `road`: label `car` is not in `objects`, so it is never reported"
    );
}

#[test]
fn names_and_numbers() {
    let z = "    points: [[0, 0], [1, 0], [1, 1]]\n";
    let e = err(&format!("zones:\n  - name: road\n{z}  - name: road\n{z}"));
    assert_eq!(
        e,
        "p.yaml:4:11: zone name `road` is used twice (first on line 2)"
    );
    let e = err(&format!("zones:\n  - name: main road\n{z}"));
    assert!(e.contains("zone name `main road` must be non-empty"), "{e}");
    let e = err(&format!("zones:\n  - name: road\n{z}    inertia: 0\n"));
    assert!(
        e.ends_with("zone `road`: `inertia` must be at least 1"),
        "{e}"
    );
    let e = err(&format!(
        "zones:\n  - name: road\n{z}    loitering_seconds: -3\n"
    ));
    assert!(e.contains("`loitering_seconds` must be more than 0"), "{e}");
    let e = err(&format!(
        "zones:\n  - name: road\n{z}    occupancy: {{ threshold: 0 }}\n"
    ));
    assert!(
        e.contains("occupancy `threshold` must be at least 1"),
        "{e}"
    );
    let e = err("filters:\n  person: { min_score: 1.5 }\n");
    assert_eq!(
        e,
        "p.yaml:2:3: filter `person`: `min_score` must be in 0..1, got 1.5"
    );
    let e = err("filters:\n  person: { min_area: 0.5, max_area: 0.1 }\n");
    assert!(
        e.contains("`min_area` (0.5) exceeds `max_area` (0.1)"),
        "{e}"
    );
    let e = err("filters:\n  person: { min_area: 400 }\n");
    assert!(e.contains("more than the whole frame"), "{e}");
}

#[test]
fn unknown_fields_are_refused() {
    let e = err("zones:\n  - name: road\n    pionts: [[0, 0], [1, 0], [1, 1]]\n");
    assert!(e.contains("did you mean `points`?"), "{e}");
    let e = err("lines:\n  - name: l\n    a: [0, 0]\n    b: [1, 1]\n    direction: in\n");
    assert!(e.starts_with("p.yaml:5:"), "{e}");
}

#[test]
fn rules_schema_is_part_of_the_config_schema() {
    let s = serde_json::to_value(schemars::schema_for!(RulesConfig)).unwrap();
    let props = s["properties"].as_object().unwrap();
    for k in ["units", "objects", "filters", "masks", "zones", "lines"] {
        assert!(props.contains_key(k), "{k}");
    }
    assert_eq!(s["additionalProperties"], false);
}

/// Runs a scene that produces every kind of event.
fn all_kinds() -> Vec<Event> {
    let rules = check(
        "
objects: [person, car]
zones:
  - name: pad
    points: [[0.3, 0.3], [0.7, 0.3], [0.7, 0.9], [0.3, 0.9]]
    inertia: 1
    loitering_seconds: 1
    occupancy: {}
lines:
  - name: door
    a: [0.0, 0.5]
    b: [1.0, 0.5]
",
    )
    .unwrap();
    let tracker = TrackerConfig {
        min_hits: 1,
        ..TrackerConfig::default()
    };
    let mut an = Analytics::new(tracker, rules, Some("nanodet-g".into()));
    let mut out = Vec::new();
    for k in 0..40u64 {
        let f = FrameInfo {
            camera: Arc::from("gate"),
            seq: k,
            pts: (k % 2 == 0 || k < 30).then(|| Duration::from_millis(100 * k)),
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + k),
            width: 640,
            height: 480,
        };
        // Walks down through the zone and the line, 10 px per frame.
        let y = 100.0 + 10.0 * k as f32;
        let d = Detection {
            class_id: 0,
            label: Arc::from("person"),
            score: 0.5 + 0.01 * k as f32,
            bbox: [300.0, y - 90.0, 340.0, y],
            landmarks: vec![[310.0, y - 80.0]],
        };
        out.extend(an.process(&f, vec![d]));
    }
    out.extend(an.finish());
    out
}

#[test]
fn every_event_validates_against_the_schema() {
    let schema = events::json_schema();
    assert_eq!(
        schema["properties"]["schema_version"]["const"],
        events::SCHEMA_VERSION
    );
    let evs = all_kinds();
    let mut seen = std::collections::BTreeSet::new();
    for e in &evs {
        let v = serde_json::to_value(e).unwrap();
        events::conform::check(&schema, &v).unwrap_or_else(|m| panic!("{m}\n{v:#}"));
        seen.insert(e.kind.name());
        // The JSON reads back to the same event.
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(&back, e);
    }
    let want: std::collections::BTreeSet<&str> = events::KIND_NAMES.iter().copied().collect();
    assert_eq!(seen, want, "the scene must produce every kind");

    // And the check is real: a damaged event fails.
    let mut v = serde_json::to_value(&evs[0]).unwrap();
    v.as_object_mut().unwrap().remove("camera");
    assert!(events::conform::check(&schema, &v).is_err());
    let mut v = serde_json::to_value(&evs[0]).unwrap();
    v["kind"] = "teleported".into();
    assert!(events::conform::check(&schema, &v).is_err());
}

/// Walks JSON and fails on anything that could smuggle pixels: long strings (base64), long
/// numeric arrays, image signatures, keys that name image data.
fn assert_no_image_data(v: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            assert!(s.len() <= 64, "{at}: string of {} chars", s.len());
            for sig in ["/9j/", "iVBORw0KGgo", "\u{FFFD}PNG", "JFIF"] {
                assert!(!s.contains(sig), "{at}: image signature in {s}");
            }
        }
        Value::Array(a) => {
            assert!(a.len() <= 8, "{at}: array of {} items", a.len());
            for (i, x) in a.iter().enumerate() {
                assert_no_image_data(x, &format!("{at}/{i}"));
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let lk = k.to_lowercase();
                for bad in [
                    "image",
                    "jpeg",
                    "jpg",
                    "png",
                    "pixel",
                    "thumbnail",
                    "frame_data",
                    "bytes",
                ] {
                    assert!(!lk.contains(bad), "{at}: key `{k}`");
                }
                assert_no_image_data(x, &format!("{at}/{k}"));
            }
        }
        _ => {}
    }
}

#[test]
fn events_never_carry_image_data() {
    for e in all_kinds() {
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.len() < 2048, "event of {} bytes: {text}", text.len());
        assert_no_image_data(&serde_json::from_str(&text).unwrap(), "");
        // Landmarks of the detection (face points) are not passed on either.
        assert!(!text.contains("landmarks"));
    }
    // The schema itself admits no such field: every property name, at any depth, is metadata.
    let schema = events::json_schema();
    let text = schema.to_string().to_lowercase();
    for bad in ["\"image", "\"jpeg", "\"thumbnail", "\"pixels\""] {
        assert!(!text.contains(bad), "{bad} in the schema");
    }
}
