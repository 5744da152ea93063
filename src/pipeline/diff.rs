//! What changed between two validated pipelines, per camera, model and sink, so a reload touches
//! only that: a camera whose source settings did not change keeps its stream.

use super::{Camera, Pipeline};
use crate::model::ModelSpec;

/// How one camera changed.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraChange {
    /// New in the file: start it.
    Added(Camera),
    /// Gone from the file: stop it and let its queue drain.
    Removed(String),
    /// Its source, size, format, queue or reconnect settings changed: a new stream (its
    /// analytics settings are applied too, keeping its tracks).
    Capture(Camera),
    /// Only detection, tracking, rules, motion or privacy settings changed: applied on its next
    /// frame, the stream untouched.
    Analytics(Camera),
}

/// Everything that differs, in the order it should be applied.
#[derive(Debug, Clone, Default)]
pub struct PipelineDiff {
    pub cameras: Vec<CameraChange>,
    /// Models added or whose manifest, file (sha256) or placement changed.
    pub models: Vec<String>,
    /// Models no longer in the file.
    pub removed_models: Vec<String>,
    /// Sinks that are new or changed (rebuilt, their outboxes kept), by name.
    pub sinks: Vec<String>,
    /// Sinks no longer in the file (drained and stopped).
    pub removed_sinks: Vec<String>,
    /// Parts that cannot change without a restart (the metrics address, the state folder,
    /// media storage, the device identity), named for the log.
    pub needs_restart: Vec<&'static str>,
}

impl PipelineDiff {
    /// The differences from `old` to `new`.
    pub fn between(old: &Pipeline, new: &Pipeline) -> PipelineDiff {
        let mut d = PipelineDiff::default();
        for c in &new.cameras {
            match old.cameras.iter().find(|o| o.name() == c.name()) {
                None => d.cameras.push(CameraChange::Added(c.clone())),
                Some(o) if o.capture != c.capture => {
                    d.cameras.push(CameraChange::Capture(c.clone()))
                }
                Some(o) if o != c => d.cameras.push(CameraChange::Analytics(c.clone())),
                Some(_) => {}
            }
        }
        for o in &old.cameras {
            if !new.cameras.iter().any(|c| c.name() == o.name()) {
                d.cameras.push(CameraChange::Removed(o.name().to_string()));
            }
        }
        for (name, m) in &new.models {
            if old.models.get(name).is_none_or(|o| !same_model(o, m)) {
                d.models.push(name.clone());
            }
        }
        d.removed_models = old
            .models
            .keys()
            .filter(|k| !new.models.contains_key(*k))
            .cloned()
            .collect();
        for s in &new.sinks {
            let before = old.sinks.iter().find(|o| o.name == s.name);
            if before.is_none_or(|o| format!("{o:?}") != format!("{s:?}")) {
                d.sinks.push(s.name.clone());
            }
        }
        d.removed_sinks = old
            .sinks
            .iter()
            .filter(|o| !new.sinks.iter().any(|s| s.name == o.name))
            .map(|o| o.name.clone())
            .collect();
        if old.metrics_listen != new.metrics_listen {
            d.needs_restart.push("metrics.listen");
        }
        if old.ui != new.ui {
            d.needs_restart.push("ui");
        }
        if old.state_dir != new.state_dir {
            d.needs_restart.push("state_dir");
        }
        if old.device != new.device {
            d.needs_restart.push("device");
        }
        if format!("{:?}", old.media) != format!("{:?}", new.media) {
            d.needs_restart.push("media");
        }
        d
    }

    /// Whether nothing that can change live changed.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
            && self.models.is_empty()
            && self.removed_models.is_empty()
            && self.sinks.is_empty()
            && self.removed_sinks.is_empty()
    }
}

/// Two models are the same when their file (sha256), input, decoding and placement are.
fn same_model(a: &ModelSpec, b: &ModelSpec) -> bool {
    a.manifest.sha256 == b.manifest.sha256
        && a.manifest.path == b.manifest.path
        && a.manifest.input == b.manifest.input
        && a.manifest.score_threshold == b.manifest.score_threshold
        && a.manifest.nms_iou == b.manifest.nms_iou
        && a.manifest.keep == b.manifest.keep
        && a.manifest.decoder == b.manifest.decoder
        && a.backend == b.backend
        && a.adapter == b.adapter
        && a.precision == b.precision
        && a.max_batch == b.max_batch
        && a.spin == b.spin
        && a.background_fps == b.background_fps
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::pipeline::load_str;

    fn load(cameras: &str) -> Pipeline {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = format!(
            "models:\n  objects: {{manifest: {root}/models/nanodet-g-416.yaml}}\ncameras:\n{cameras}"
        );
        load_str(&text, Path::new("/tmp/p.yaml"), |_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_kind_of_camera_change_is_told_apart() {
        let a = load(
            "  - {name: a, source: 'test:ball', detect: {model: objects}}\n\
             \x20 - {name: b, source: 'test:snow', detect: {model: objects}}\n\
             \x20 - {name: c, source: 'test:smpte'}\n",
        );
        let b = load(
            "  - {name: a, source: 'test:ball', detect: {model: objects}, rules: {lines: [{name: l, a: [0, 0.5], b: [1, 0.5]}]}}\n\
             \x20 - {name: b, source: 'test:smpte', detect: {model: objects}}\n\
             \x20 - {name: d, source: 'test:smpte'}\n",
        );
        let d = PipelineDiff::between(&a, &b);
        let kinds: Vec<String> = d
            .cameras
            .iter()
            .map(|c| match c {
                CameraChange::Added(c) => format!("added {}", c.name()),
                CameraChange::Removed(n) => format!("removed {n}"),
                CameraChange::Capture(c) => format!("capture {}", c.name()),
                CameraChange::Analytics(c) => format!("analytics {}", c.name()),
            })
            .collect();
        assert_eq!(kinds, ["analytics a", "capture b", "added d", "removed c"]);
        assert!(d.models.is_empty() && d.sinks.is_empty());
        assert!(PipelineDiff::between(&a, &a).is_empty());
    }
}
