//! `lookout quantize`: a manifest's model calibrated on footage and written as a static QDQ int8
//! model with a manifest of its own, and the measures that say whether int8 is worth it here
//! (detections matched against the float model and against hand labels).

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{ManifestError, ModelManifest};
use crate::capture::frame::ImageRef;
use crate::detect::Detection;
use crate::detect::nms::iou;
use crate::infer::graph::{self, InputShape};
use crate::infer::preprocess::preprocess_batch_cpu;
use crate::infer::quant::{
    self, CalibrationEngine, Calibrator, QdqOptions, QdqSummary, QuantError, Ranges,
};
use crate::infer::{InferError, onnx};

/// Why a quantized model could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// Calibration or the rewrite failed.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// Our IR refuses the model it just wrote: a bug of the quantizer, reported as such.
    #[error("the quantized model fails lookout's model checks: {0}")]
    Check(InferError),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The manifest written does not load back.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The hand labels file cannot be read.
    #[error("{}: {message}", path.display())]
    Labels { path: PathBuf, message: String },
}

impl QuantizeError {
    /// Whether the user's model or files are at fault (exit code 2), not the machine.
    pub fn is_bad_input(&self) -> bool {
        match self {
            QuantizeError::Quant(QuantError::Infer(e)) => e.is_bad_model(),
            QuantizeError::Quant(_) | QuantizeError::Labels { .. } => true,
            QuantizeError::Check(_) | QuantizeError::Write { .. } | QuantizeError::Manifest(_) => {
                false
            }
        }
    }
}

/// A calibrator for `manifest`'s model at its input size, batch 1, on `engine`.
pub fn calibrator(
    manifest: &ModelManifest,
    engine: CalibrationEngine,
) -> Result<Calibrator, QuantizeError> {
    let model = onnx::load(&manifest.onnx).map_err(QuantError::from)?;
    let input = InputShape {
        name: manifest.input.name.clone(),
        shape: manifest.preprocess.input_shape(1),
    };
    match engine {
        CalibrationEngine::Reference => Ok(Calibrator::new(&model, input).map_err(QuantError::from)?),
        #[cfg(feature = "onnxruntime")]
        CalibrationEngine::Onnxruntime => Ok(Calibrator::onnxruntime(
            &manifest.onnx,
            &model,
            input,
            &manifest.preprocess,
        )?),
        #[cfg(not(feature = "onnxruntime"))]
        CalibrationEngine::Onnxruntime => Err(QuantError::Calibration(
            "this build has no ONNX Runtime (feature `onnxruntime`): calibrate with the reference executor".into(),
        )
        .into()),
    }
}

/// Pre-processes one calibration picture as the backends do and runs it through `cal`.
pub fn calibrate_picture(
    cal: &mut Calibrator,
    manifest: &ModelManifest,
    image: &ImageRef<'_>,
) -> Result<(), QuantizeError> {
    let (tensor, _) = preprocess_batch_cpu(std::slice::from_ref(image), &manifest.preprocess)
        .map_err(|e| QuantError::Infer(InferError::Input(format!("calibration picture: {e}"))))?;
    cal.add(&tensor)?;
    Ok(())
}

/// The files `lookout quantize` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// The int8 model.
    pub onnx: PathBuf,
    /// Its manifest, which pipelines name.
    pub manifest: PathBuf,
    /// The model's checksum, as the manifest records it.
    pub sha256: String,
    /// The model's size.
    pub bytes: usize,
    /// What the rewrite quantized.
    pub summary: QdqSummary,
}

/// `OUT` as the two paths written: `OUT.onnx` and `OUT.yaml` (an `.onnx` or `.yaml` extension
/// given is replaced).
pub fn output_paths(out: &Path) -> (PathBuf, PathBuf) {
    let base = match out.extension().and_then(|e| e.to_str()) {
        Some("onnx" | "yaml" | "yml") => out.with_extension(""),
        _ => out.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = base.clone().into_os_string();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    };
    (with("onnx"), with("yaml"))
}

/// Writes the QDQ model of `manifest` with `ranges` to `out` (see [`output_paths`]) with its
/// manifest, after checking that our IR accepts it, and loads the manifest back.
pub fn write(
    manifest: &ModelManifest,
    ranges: &Ranges,
    opts: &QdqOptions,
    out: &Path,
) -> Result<(Written, ModelManifest), QuantizeError> {
    if ranges.samples == 0 {
        return Err(QuantError::Calibration("no calibration picture was given".into()).into());
    }
    let (bytes, summary) = quant::quantize(&manifest.onnx, ranges, opts)?;
    let model = onnx::load(&bytes).map_err(QuantizeError::Check)?;
    let input = InputShape {
        name: manifest.input.name.clone(),
        shape: manifest.preprocess.input_shape(1),
    };
    graph::build(&model, &[input]).map_err(QuantizeError::Check)?;

    let (onnx_path, manifest_path) = output_paths(out);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QuantizeError::Write { path, source }
    };
    if let Some(dir) = onnx_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    }
    std::fs::write(&onnx_path, &bytes).map_err(write_err(&onnx_path))?;
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = std::fs::read_to_string(&manifest.path).map_err(|source| ManifestError::Read {
        manifest: manifest.path.clone(),
        path: manifest.path.clone(),
        source,
    })?;
    let text = quantized_manifest(
        &text,
        manifest,
        &onnx_path,
        &sha256,
        ranges.samples,
        &summary,
    );
    std::fs::write(&manifest_path, text).map_err(write_err(&manifest_path))?;
    let loaded = ModelManifest::load(&manifest_path)?;
    let written = Written {
        onnx: onnx_path,
        manifest: manifest_path,
        sha256,
        bytes: bytes.len(),
        summary,
    };
    Ok((written, loaded))
}

/// The float manifest's text with the quantized model's name, file, checksum and source, and its
/// relative paths (license texts, anchors) pointing from the new manifest's folder.
fn quantized_manifest(
    text: &str,
    float: &ModelManifest,
    onnx_path: &Path,
    sha256: &str,
    samples: usize,
    summary: &QdqSummary,
) -> String {
    let old_dir = dir_of(&float.path);
    let new_dir = dir_of(onnx_path);
    let file = onnx_path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut t = set_top_level(text, "name", &q(&format!("{}-int8", float.name)));
    t = set_top_level(&t, "file", &q(&file));
    t = set_top_level(&t, "sha256", sha256);
    t = set_top_level(
        &t,
        "source",
        &q(&format!(
            "{}; quantized by lookout quantize from {} (sha256 {}): static QDQ, int8 per-channel weights, uint8 activations, {} of {} convolutions int8, calibrated on {samples} pictures",
            float.source,
            float
                .model_path
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            float.sha256,
            summary.convs_quantized,
            summary.convs_quantized + summary.convs_float,
        )),
    );
    let licenses: Vec<String> = float
        .license_files
        .iter()
        .map(|p| relative_to(p, &new_dir))
        .collect();
    t = set_top_level(
        &t,
        "license_files",
        &serde_json::to_string(&licenses).unwrap_or_default(),
    );
    // Files the decoder reads (SSD anchors), as `key: path` lines relative to the old folder.
    let mut out = String::with_capacity(t.len());
    for line in t.lines() {
        let trimmed = line.trim_start();
        let rewritten = trimmed.strip_prefix("anchors:").and_then(|v| {
            let v = v.trim().trim_matches('"');
            let p = old_dir.join(v);
            (!v.is_empty() && p.is_file()).then(|| {
                format!(
                    "{}anchors: {}",
                    &line[..line.len() - trimmed.len()],
                    q(&relative_to(&p, &new_dir))
                )
            })
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    format!(
        "# Written by `lookout quantize` from {}: do not edit the model file without updating sha256.\n{out}",
        float.path.display()
    )
}

fn dir_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Replaces the top-level YAML entry `key` (its line and the indented lines after it) with
/// `key: value`, or appends it.
fn set_top_level(text: &str, key: &str, value: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let prefix = format!("{key}:");
    let Some(start) = lines.iter().position(|l| l.starts_with(&prefix)) else {
        return format!("{}{key}: {value}\n", ensure_newline(text));
    };
    let mut end = start + 1;
    while end < lines.len()
        && (lines[end].starts_with(' ') || lines[end].starts_with('\t'))
        && !lines[end].trim().is_empty()
    {
        end += 1;
    }
    let mut out: Vec<String> = lines[..start].iter().map(|s| s.to_string()).collect();
    out.push(format!("{key}: {value}"));
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    out.join("\n") + "\n"
}

fn ensure_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// `target` as a path relative to the folder `base` (both made absolute first).
fn relative_to(target: &Path, base: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (t, b) = (abs(target), abs(base));
    let tc: Vec<Component<'_>> = t.components().collect();
    let bc: Vec<Component<'_>> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c.as_os_str());
    }
    rel.to_string_lossy().to_string()
}

/// How two sets of detections of the same picture agree: boxes paired greedily by IoU with the
/// same label.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// Pairs with IoU at or above the threshold.
    pub matched: usize,
    /// Detections of the first set without a partner.
    pub only_first: usize,
    /// Detections of the second set without a partner.
    pub only_second: usize,
    /// Smallest IoU of a matched pair (1 when none).
    pub min_iou: f32,
    /// Largest score difference of a matched pair.
    pub max_score_diff: f32,
}

impl Agreement {
    /// Adds another picture's counts.
    pub fn merge(&mut self, o: &Agreement) {
        self.matched += o.matched;
        self.only_first += o.only_first;
        self.only_second += o.only_second;
        self.min_iou = self.min_iou.min(o.min_iou);
        self.max_score_diff = self.max_score_diff.max(o.max_score_diff);
    }

    /// Nothing compared yet: merging into this changes nothing.
    pub fn empty() -> Self {
        Agreement {
            min_iou: 1.0,
            ..Default::default()
        }
    }
}

/// Pairs `a` and `b` (best IoU first, same label, IoU >= `min_iou`).
pub fn agreement(a: &[Detection], b: &[Detection], min_iou: f32) -> Agreement {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let v = iou(&x.bbox, &y.bbox);
            if x.label == y.label && v >= min_iou {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut out = Agreement::empty();
    for (v, i, j) in pairs {
        if used_a[i] || used_b[j] {
            continue;
        }
        used_a[i] = true;
        used_b[j] = true;
        out.matched += 1;
        out.min_iou = out.min_iou.min(v);
        out.max_score_diff = out.max_score_diff.max((a[i].score - b[j].score).abs());
    }
    out.only_first = used_a.iter().filter(|u| !**u).count();
    out.only_second = used_b.iter().filter(|u| !**u).count();
    out
}

/// Hand-made boxes of one video frame (`tests/labels/vtest-frame300.json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HandLabels {
    /// The video (or picture), relative to the folder the command runs in.
    pub input: PathBuf,
    /// Frame index, counted from 0 in decode order (absent for a picture).
    #[serde(default)]
    pub frame: Option<u64>,
    /// The boxes drawn by hand.
    pub objects: Vec<LabelledObject>,
}

/// One hand-made box.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabelledObject {
    /// The label a detection should have.
    pub label: String,
    /// Other labels that count as right (a van is a truck, a car or a bus).
    #[serde(default)]
    pub also: Vec<String>,
    /// `[x1, y1, x2, y2]` in frame pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl HandLabels {
    /// Reads a labels file.
    pub fn load(path: &Path) -> Result<Self, QuantizeError> {
        read_json(path)
    }

    /// How many labelled objects `dets` finds (IoU >= `min_iou`, a label that counts), and how
    /// many detections of the labelled kinds match no label.
    pub fn score(&self, dets: &[Detection], min_iou: f32) -> LabelScore {
        let mut used = vec![false; dets.len()];
        let mut found = 0;
        for o in &self.objects {
            let ok = |d: &Detection| *d.label == o.label || o.also.iter().any(|a| **a == *d.label);
            let best = dets
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && ok(d))
                .map(|(i, d)| (i, iou(&o.bbox, &d.bbox)))
                .filter(|(_, v)| *v >= min_iou)
                .max_by(|x, y| x.1.total_cmp(&y.1));
            if let Some((i, _)) = best {
                used[i] = true;
                found += 1;
            }
        }
        let kinds = |d: &Detection| {
            self.objects
                .iter()
                .any(|o| *d.label == o.label || o.also.iter().any(|a| **a == *d.label))
        };
        let extra = dets
            .iter()
            .zip(&used)
            .filter(|(d, u)| !**u && kinds(d))
            .count();
        LabelScore {
            labelled: self.objects.len(),
            found,
            extra,
        }
    }
}

/// A labels file read as JSON, its errors naming it.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, QuantizeError> {
    let err = |message: String| QuantizeError::Labels {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(e.to_string()))
}

/// Line crossings counted by hand on a video (`tests/labels/vtest-line-footpath.json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CrossingLabels {
    /// The video, relative to the folder the command runs in.
    pub video: PathBuf,
    /// The line, as a pipeline's `lines:` entry takes it.
    pub line: LabelledLine,
    /// Crossings counted by hand, per direction.
    pub totals: CrossingCounts,
}

/// A line of a crossings file.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabelledLine {
    /// The line's name.
    pub name: String,
    /// `relative` (0..1 of the frame) or `pixels`.
    #[serde(default = "relative")]
    pub units: String,
    /// Start point.
    pub a: [f32; 2],
    /// End point.
    pub b: [f32; 2],
}

fn relative() -> String {
    "relative".into()
}

/// Crossings per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct CrossingCounts {
    /// From the left of a->b to its right.
    pub a_to_b: u64,
    /// The other way.
    pub b_to_a: u64,
}

impl CrossingLabels {
    /// Reads a crossings file.
    pub fn load(path: &Path) -> Result<Self, QuantizeError> {
        read_json(path)
    }

    /// A pipeline file that runs `manifest` on `backend` over the video and counts people
    /// crossing the line (paths made absolute from `cwd`; metrics on a free port).
    pub fn pipeline(&self, manifest: &Path, backend: &str, cwd: &Path) -> String {
        let abs = |p: &Path| {
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                cwd.join(p)
            };
            serde_json::to_string(&p.display().to_string()).unwrap_or_default()
        };
        let l = &self.line;
        format!(
            "models:\n  m: {{manifest: {}, backend: {backend}}}\ncameras:\n  - name: c\n    source: {}\n    detect: {{model: m}}\n    rules:\n      units: {}\n      objects: [person]\n      lines:\n        - {{name: {}, a: [{}, {}], b: [{}, {}], labels: [person]}}\nmetrics: {{listen: \"127.0.0.1:0\"}}\n",
            abs(manifest),
            abs(&self.video),
            l.units,
            serde_json::to_string(&l.name).unwrap_or_default(),
            l.a[0],
            l.a[1],
            l.b[0],
            l.b[1],
        )
    }

    /// The crossings of a run's summary (`lookout run --summary`) of [`CrossingLabels::pipeline`].
    pub fn counted(&self, summary: &serde_json::Value) -> Option<CrossingCounts> {
        let person = &summary["analytics"]["cameras"]["c"]["lines"][&self.line.name]["person"];
        Some(CrossingCounts {
            a_to_b: person["a_to_b"].as_u64().unwrap_or(0),
            b_to_a: person["b_to_a"].as_u64().unwrap_or(0),
        })
        .filter(|_| summary["analytics"]["cameras"]["c"].is_object())
    }
}

/// Detections scored against hand labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LabelScore {
    /// Objects labelled by hand.
    pub labelled: usize,
    /// Of those, found by the model.
    pub found: usize,
    /// Detections of a labelled kind that match no label.
    pub extra: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn det(label: &str, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class_id: 0,
            label: Arc::from(label),
            score,
            bbox,
            landmarks: Vec::new(),
        }
    }

    #[test]
    fn top_level_entries_are_replaced_with_their_continuation_lines() {
        let text = "# head\nname: a\nlabels: [x,\n  y]\nsource: s\n";
        let t = set_top_level(text, "labels", "[z]");
        assert_eq!(t, "# head\nname: a\nlabels: [z]\nsource: s\n");
        assert_eq!(set_top_level("a: 1", "b", "2"), "a: 1\nb: 2\n");
    }

    #[test]
    fn relative_paths_walk_up_and_down() {
        assert_eq!(
            relative_to(Path::new("/m/licenses/a.txt"), Path::new("/out/q")),
            "../../m/licenses/a.txt"
        );
        assert_eq!(relative_to(Path::new("/m/a.txt"), Path::new("/m")), "a.txt");
    }

    #[test]
    fn output_paths_share_a_stem() {
        let (o, m) = output_paths(Path::new("out/nano.int8"));
        assert_eq!(
            (o.as_path(), m.as_path()),
            (
                Path::new("out/nano.int8.onnx"),
                Path::new("out/nano.int8.yaml")
            )
        );
        let (o, m) = output_paths(Path::new("x.yaml"));
        assert_eq!(
            (o.as_path(), m.as_path()),
            (Path::new("x.onnx"), Path::new("x.yaml"))
        );
    }

    #[test]
    fn agreement_pairs_by_label_and_overlap() {
        let a = [
            det("person", 0.8, [0.0, 0.0, 10.0, 10.0]),
            det("car", 0.6, [20.0, 20.0, 30.0, 30.0]),
        ];
        let b = [
            det("person", 0.7, [0.0, 0.0, 10.0, 9.0]),
            det("truck", 0.6, [20.0, 20.0, 30.0, 30.0]),
        ];
        let g = agreement(&a, &b, 0.5);
        assert_eq!((g.matched, g.only_first, g.only_second), (1, 1, 1));
        assert!((g.min_iou - 0.9).abs() < 1e-6);
        assert!((g.max_score_diff - 0.1).abs() < 1e-6);
    }

    #[test]
    fn hand_labels_count_found_and_extra() {
        let labels = HandLabels {
            input: PathBuf::from("v.avi"),
            frame: Some(3),
            objects: vec![
                LabelledObject {
                    label: "truck".into(),
                    also: vec!["car".into()],
                    bbox: [0.0, 0.0, 10.0, 10.0],
                },
                LabelledObject {
                    label: "person".into(),
                    also: vec![],
                    bbox: [50.0, 50.0, 60.0, 70.0],
                },
            ],
        };
        let dets = [
            det("car", 0.5, [1.0, 0.0, 10.0, 10.0]),
            det("person", 0.5, [200.0, 200.0, 210.0, 220.0]),
            det("dog", 0.5, [50.0, 50.0, 60.0, 70.0]),
        ];
        assert_eq!(
            labels.score(&dets, 0.5),
            LabelScore {
                labelled: 2,
                found: 1,
                extra: 1
            }
        );
    }
}
