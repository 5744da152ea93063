//! Model manifests (`models/<name>.yaml`): which ONNX file, its checksum, how to feed it, how to
//! decode it, what it detects and where it came from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, did_you_mean, parse_yaml};
use crate::detect::DecoderSpec;
use crate::detect::decoder::{ModelGeometry, PostProcess};
use crate::infer::preprocess::{ChannelOrder, InputLayout, Preprocess, Resize};

/// Why a model manifest or the model it names cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The YAML is malformed or a value is invalid: `file:line:column: message`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ONNX file (or another file the manifest names) cannot be read.
    #[error("{manifest}: cannot read {path}: {source}")]
    Read {
        manifest: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The ONNX file is not the one the manifest was written for.
    #[error(
        "{path}: sha256 mismatch: the manifest {manifest} expects {expected}, the file has {actual}; the model file is corrupt or not the one the manifest describes"
    )]
    Checksum {
        manifest: PathBuf,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// An input size was asked for that the model cannot take.
    #[error("model `{model}`: {message}")]
    InputSize { model: String, message: String },
}

/// The model input as written in a manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name of the model's image input.
    pub name: String,
    /// Default input width in pixels.
    pub width: u32,
    /// Default input height in pixels.
    pub height: u32,
    /// Whether the model accepts other sizes (then `--size` may override them).
    #[serde(default)]
    pub dynamic: bool,
    /// With `dynamic`, width and height must be multiples of this.
    #[serde(default = "one")]
    pub multiple_of: u32,
}

fn one() -> u32 {
    1
}

/// Pre-processing as written in a manifest: [`Preprocess`] without the size, which `input` gives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessSpec {
    pub resize: Resize,
    pub channel_order: ChannelOrder,
    pub layout: InputLayout,
    /// Subtracted from each channel (model channel order, 0..255 scale).
    pub mean: [f32; 3],
    /// Divides each channel after the mean is subtracted.
    pub std: [f32; 3],
    /// Value of letterbox padding, 0..255 scale, before normalization.
    #[serde(default)]
    pub pad_value: f32,
}

/// A manifest file exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    /// Short name of the model.
    name: String,
    /// What the model detects, in a few words.
    detects: String,
    /// ONNX file, relative to the manifest.
    file: Spanned<String>,
    /// Expected sha256 of the ONNX file, hex.
    sha256: Spanned<String>,
    input: Spanned<InputSpec>,
    preprocess: Spanned<PreprocessSpec>,
    decoder: DecoderSpec,
    /// Class labels in the model's order.
    labels: Spanned<Vec<String>>,
    /// Detections below this score are dropped.
    score_threshold: Spanned<f32>,
    /// IoU above which a lower-scored box of the same class is suppressed.
    nms_iou: Spanned<f32>,
    /// Labels to keep; all when empty or absent.
    #[serde(default)]
    keep: Vec<Spanned<String>>,
    /// At most this many detections per picture.
    #[serde(default = "default_max_detections")]
    max_detections: usize,
    /// Where the weights come from (registry package, version, path inside it).
    source: String,
    /// SPDX license of the weights.
    license: String,
    /// License texts, relative to the manifest.
    license_files: Vec<String>,
}

fn default_max_detections() -> usize {
    300
}

/// A loaded, checked model manifest with the ONNX bytes it names.
#[derive(Debug, Clone)]
pub struct ModelManifest {
    /// The manifest file.
    pub path: PathBuf,
    pub name: String,
    pub detects: String,
    /// The ONNX file, resolved against the manifest's folder.
    pub model_path: PathBuf,
    /// The ONNX file's contents, checksum verified.
    pub onnx: Arc<[u8]>,
    pub sha256: String,
    pub input: InputSpec,
    /// Pre-processing at the current input size.
    pub preprocess: Preprocess,
    /// Decoder, with file paths resolved against the manifest's folder.
    pub decoder: DecoderSpec,
    pub labels: Vec<Arc<str>>,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Class ids to keep; `None` keeps all.
    pub keep: Option<Vec<u32>>,
    pub max_detections: usize,
    pub source: String,
    pub license: String,
    /// License texts, resolved against the manifest's folder.
    pub license_files: Vec<PathBuf>,
}

impl ModelManifest {
    /// Reads and validates a manifest, then reads the ONNX file and checks its sha256.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(path, 1, 1, format!("cannot read model manifest: {e}")))?;
        let file: ManifestFile = parse_yaml(&text, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let manifest = validate(file, path, &dir)?;
        let onnx = std::fs::read(&manifest.model_path).map_err(|source| ManifestError::Read {
            manifest: path.to_path_buf(),
            path: manifest.model_path.clone(),
            source,
        })?;
        let actual = hex(&Sha256::digest(&onnx));
        if actual != manifest.sha256 {
            return Err(ManifestError::Checksum {
                manifest: path.to_path_buf(),
                path: manifest.model_path.clone(),
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        Ok(ModelManifest {
            onnx: onnx.into(),
            ..manifest
        })
    }

    /// The same model at another input size; only for models whose input is `dynamic`.
    pub fn with_input_size(mut self, width: u32, height: u32) -> Result<Self, ManifestError> {
        let err = |message: String| ManifestError::InputSize {
            model: self.name.clone(),
            message,
        };
        if !self.input.dynamic {
            return Err(err(format!(
                "the input size is fixed at {}x{}; only dynamic models take another size",
                self.input.width, self.input.height
            )));
        }
        let m = self.input.multiple_of.max(1);
        if !size_fits(width, height, m) {
            return Err(err(format!(
                "input size {width}x{height} must be positive multiples of {m}, at most {MAX_SIDE}"
            )));
        }
        self.input.width = width;
        self.input.height = height;
        self.preprocess.width = width;
        self.preprocess.height = height;
        Ok(self)
    }

    /// Lets go of this copy of the ONNX bytes once the backends have the model: a file can be
    /// tens of MB, and a long run needs only what the backend built from it.
    pub fn forget_onnx(&mut self) {
        self.onnx = Arc::from(Vec::new());
    }

    /// Input size and class count, what decoders need to know about the model.
    pub fn geometry(&self) -> ModelGeometry {
        ModelGeometry {
            width: self.input.width,
            height: self.input.height,
            classes: self.labels.len(),
        }
    }

    /// Thresholds, class filter and labels for [`PostProcess::finish`].
    pub fn post_process(&self) -> PostProcess {
        PostProcess {
            score_threshold: self.score_threshold,
            nms_iou: self.nms_iou,
            keep: self.keep.clone(),
            max_detections: self.max_detections,
            labels: self.labels.clone(),
        }
    }
}

/// Largest model input side we accept: bounds the memory a manifest or `--size` can ask for.
const MAX_SIDE: u32 = 8192;

/// Whether `width` x `height` is a positive multiple of `m` on both sides, within [`MAX_SIDE`].
fn size_fits(width: u32, height: u32, m: u32) -> bool {
    (1..=MAX_SIDE).contains(&width)
        && (1..=MAX_SIDE).contains(&height)
        && width.is_multiple_of(m)
        && height.is_multiple_of(m)
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a parsed manifest; everything but reading the ONNX file.
fn validate(f: ManifestFile, path: &Path, dir: &Path) -> Result<ModelManifest, ManifestError> {
    let sha256 = f.sha256.value.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError::spanned(
            path,
            &f.sha256,
            "`sha256` must be 64 hex digits (the output of `sha256sum MODEL.onnx`)",
        )
        .into());
    }
    if f.file.value.trim().is_empty() {
        return Err(ConfigError::spanned(path, &f.file, "`file` is empty").into());
    }
    let input = &f.input.value;
    let m = input.multiple_of.max(1);
    if !size_fits(input.width, input.height, m) {
        return Err(ConfigError::spanned(
            path,
            &f.input,
            format!(
                "`input`: {}x{} must be positive multiples of `multiple_of` ({m}), at most {MAX_SIDE}",
                input.width, input.height
            ),
        )
        .into());
    }
    if f.preprocess.value.std.iter().any(|s| !s.is_normal()) {
        return Err(ConfigError::spanned(path, &f.preprocess, "`std` must be non-zero").into());
    }
    if f.labels.value.is_empty() {
        return Err(ConfigError::spanned(
            path,
            &f.labels,
            "`labels` is empty: a model detects at least one class",
        )
        .into());
    }
    for (key, v) in [
        ("score_threshold", &f.score_threshold),
        ("nms_iou", &f.nms_iou),
    ] {
        if !(0.0..=1.0).contains(&v.value) {
            return Err(ConfigError::spanned(
                path,
                v,
                format!("`{key}` must be within 0..1, got {}", v.value),
            )
            .into());
        }
    }
    let labels = f.labels.value;
    let mut keep = Vec::new();
    for k in &f.keep {
        let Some(id) = labels.iter().position(|l| *l == k.value) else {
            let near = did_you_mean(&k.value, labels.iter().map(String::as_str));
            return Err(ConfigError::spanned(
                path,
                k,
                format!("`keep`: `{}` is not one of the labels{near}", k.value),
            )
            .into());
        };
        keep.push(id as u32);
    }
    let mut decoder = f.decoder;
    if let DecoderSpec::Ssd(s) = &mut decoder {
        s.anchors = dir.join(&s.anchors);
    }
    let p = f.preprocess.value;
    let input = f.input.value;
    Ok(ModelManifest {
        path: path.to_path_buf(),
        name: f.name,
        detects: f.detects,
        model_path: dir.join(f.file.value.trim()),
        onnx: Arc::from(Vec::new()),
        sha256,
        preprocess: Preprocess {
            width: input.width,
            height: input.height,
            resize: p.resize,
            channel_order: p.channel_order,
            layout: p.layout,
            mean: p.mean,
            std: p.std,
            pad_value: p.pad_value,
        },
        input,
        decoder,
        labels: labels.into_iter().map(Arc::from).collect(),
        score_threshold: f.score_threshold.value,
        nms_iou: f.nms_iou.value,
        keep: (!keep.is_empty()).then_some(keep),
        max_detections: f.max_detections.max(1),
        source: f.source,
        license: f.license,
        license_files: f.license_files.iter().map(|l| dir.join(l)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    }

    const SHIPPED: [&str; 5] = [
        "centerface",
        "nanodet-g-416",
        "blazeface-short-range-128",
        "blazeface-full-range-192",
        "ssdlite-mobilenetv2-person-300",
    ];

    #[test]
    fn every_shipped_manifest_loads_and_its_license_exists() {
        for name in SHIPPED {
            let m = ModelManifest::load(&repo(&format!("models/{name}.yaml")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(m.name, name);
            assert!(!m.onnx.is_empty());
            assert!(!m.license_files.is_empty());
            for l in &m.license_files {
                assert!(l.is_file(), "{}", l.display());
            }
            crate::detect::Decoder::new(&m.decoder, m.geometry())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// A copy of the CenterFace manifest and model in a temporary folder, with `edit` applied.
    fn scratch(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(repo("models/centerface.yaml")).unwrap();
        std::fs::copy(
            repo("models/centerface.onnx"),
            dir.path().join("centerface.onnx"),
        )
        .unwrap();
        let p = dir.path().join("centerface.yaml");
        std::fs::write(&p, edit(text)).unwrap();
        (dir, p)
    }

    #[test]
    fn wrong_sha256_names_both_digests() {
        let wrong = "0".repeat(64);
        let (_d, p) = scratch(|t| {
            let line = t
                .lines()
                .find(|l| l.starts_with("sha256:"))
                .unwrap()
                .to_string();
            t.replace(&line, &format!("sha256: {wrong}"))
        });
        let err = ModelManifest::load(&p).unwrap_err().to_string();
        assert!(err.contains(&wrong), "{err}");
        assert!(
            err.contains("9052795860132eaf5845666fbec63a15bf3674c97b7812690fefe4fb57bce6ec"),
            "{err}"
        );
    }

    #[test]
    fn bad_yaml_has_line_and_column() {
        let (_d, p) = scratch(|t| t.replace("score_threshold: 0.5", "score_threshold: high"));
        let err = ModelManifest::load(&p).unwrap_err();
        let line = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .position(|l| l.starts_with("score_threshold"))
            .unwrap()
            + 1;
        let s = err.to_string();
        assert!(
            s.starts_with(&format!("{}:{line}:", p.display())),
            "{s} (want line {line})"
        );
        // score_threshold: high
        //                  ^ column 18
        assert!(
            s.contains(&format!(":{line}:18: invalid floating point")),
            "{s}"
        );
    }

    #[test]
    fn out_of_range_threshold_names_its_line() {
        let (_d, p) = scratch(|t| t.replace("nms_iou: 0.3", "nms_iou: 3"));
        let s = ModelManifest::load(&p).unwrap_err().to_string();
        let line = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .position(|l| l.starts_with("nms_iou"))
            .unwrap()
            + 1;
        assert!(
            s.contains(&format!(":{line}:10: `nms_iou` must be within 0..1, got 3")),
            "{s}"
        );
    }

    #[test]
    fn unknown_keep_label_points_at_it_with_a_suggestion() {
        let (_d, p) = scratch(|t| t.replace("labels: [face]", "labels: [face]\nkeep: [fase]"));
        let s = ModelManifest::load(&p).unwrap_err().to_string();
        let line = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .position(|l| l.starts_with("keep:"))
            .unwrap()
            + 1;
        assert!(
            s.contains(&format!(
                ":{line}:8: `keep`: `fase` is not one of the labels"
            )),
            "{s}"
        );
        assert!(s.contains("did you mean `face`?"), "{s}");
    }

    #[test]
    fn missing_model_file_is_an_error() {
        let (d, p) = scratch(|t| t);
        std::fs::remove_file(d.path().join("centerface.onnx")).unwrap();
        let err = ModelManifest::load(&p).unwrap_err();
        assert!(matches!(err, ManifestError::Read { .. }), "{err}");
        assert!(err.to_string().contains("centerface.onnx"), "{err}");
        let missing = ModelManifest::load(&d.path().join("nope.yaml")).unwrap_err();
        assert!(
            missing.to_string().contains("nope.yaml:1:1: cannot read"),
            "{missing}"
        );
    }

    #[test]
    fn input_size_override_only_for_dynamic_models() {
        let m = ModelManifest::load(&repo("models/centerface.yaml")).unwrap();
        let m = m.with_input_size(320, 256).unwrap();
        assert_eq!((m.preprocess.width, m.preprocess.height), (320, 256));
        assert!(m.clone().with_input_size(330, 256).is_err());
        let n = ModelManifest::load(&repo("models/nanodet-g-416.yaml")).unwrap();
        let err = n.with_input_size(320, 320).unwrap_err().to_string();
        assert!(err.contains("fixed at 416x416"), "{err}");
    }
}
