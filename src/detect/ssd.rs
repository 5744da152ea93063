//! TF Object Detection API SSD: box encodings against a fixed anchor table (read from `.npy`),
//! decoded with the Faster R-CNN box coder and its scale factors.

use std::path::PathBuf;

use serde::Deserialize;

use crate::infer::NamedTensor;

use super::decoder::ModelGeometry;
use super::outputs::{shaped, sigmoid};
use super::{Candidate, DetectError, npy};

const NAME: &str = "ssd";

/// Output names, anchors and box coder parameters of an SSD model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdSpec {
    /// `[1, N, 1, 4]` or `[1, N, 4]` box encodings (ty, tx, th, tw).
    pub boxes: String,
    /// `[1, N, C (+1)]` class logits (or probabilities, see `sigmoid`).
    pub scores: String,
    /// `.npy` file of `[N, 4]` anchors (ymin, xmin, ymax, xmax), normalized to 0..1; relative
    /// paths are taken from the manifest's folder.
    pub anchors: PathBuf,
    /// Divisors of (ty, tx, th, tw): TF's default is 10, 10, 5, 5.
    #[serde(default = "default_scales")]
    pub scale_factors: [f32; 4],
    /// Score column 0 is "background" and is not a class.
    #[serde(default = "yes")]
    pub background_class: bool,
    /// Scores are logits: apply the logistic function.
    #[serde(default = "yes")]
    pub sigmoid: bool,
}

fn default_scales() -> [f32; 4] {
    [10.0, 10.0, 5.0, 5.0]
}
fn yes() -> bool {
    true
}

/// An SSD decoder with its anchors loaded, as (centre y, centre x, height, width), normalized.
#[derive(Debug, Clone)]
pub struct Ssd {
    spec: SsdSpec,
    anchors: Vec<[f32; 4]>,
}

impl Ssd {
    /// Reads the anchors file named in `spec`.
    pub fn new(spec: &SsdSpec) -> Result<Self, DetectError> {
        let t = npy::read(&spec.anchors).map_err(|source| DetectError::Anchors {
            path: spec.anchors.clone(),
            source,
        })?;
        let corners: &[f32] = match t.shape.as_slice() {
            [_, 4] | [1, _, 4] => &t.data,
            _ => {
                return Err(DetectError::Spec {
                    decoder: NAME,
                    message: format!(
                        "anchors in {} have shape {:?}, need [N, 4]",
                        spec.anchors.display(),
                        t.shape
                    ),
                });
            }
        };
        if spec.scale_factors.iter().any(|s| !s.is_normal()) {
            return Err(DetectError::Spec {
                decoder: NAME,
                message: format!("scale_factors {:?} must be non-zero", spec.scale_factors),
            });
        }
        let anchors = corners
            .chunks_exact(4)
            .map(|a| {
                let (ymin, xmin, ymax, xmax) = (a[0], a[1], a[2], a[3]);
                [
                    (ymin + ymax) / 2.0,
                    (xmin + xmax) / 2.0,
                    ymax - ymin,
                    xmax - xmin,
                ]
            })
            .collect();
        Ok(Self {
            spec: spec.clone(),
            anchors,
        })
    }

    /// Number of anchors (1917 for SSDLite at 300x300).
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// Candidates of every anchor whose best class scores at least `threshold`, in input pixels.
    pub fn decode(
        &self,
        g: ModelGeometry,
        outputs: &[NamedTensor],
        threshold: f32,
    ) -> Result<Vec<Candidate>, DetectError> {
        let n = Some(self.anchors.len());
        let enc = match shaped(NAME, outputs, &self.spec.boxes, &[n, Some(1), Some(4)]) {
            Ok((t, _)) => t,
            Err(_) => shaped(NAME, outputs, &self.spec.boxes, &[n, Some(4)])?.0,
        };
        let offset = usize::from(self.spec.background_class);
        let columns = g.classes + offset;
        if g.classes == 0 {
            return Err(DetectError::Spec {
                decoder: NAME,
                message: "the manifest has no labels".into(),
            });
        }
        let (scores, _) = shaped(NAME, outputs, &self.spec.scores, &[n, Some(columns)])?;
        let [sy, sx, sh, sw] = self.spec.scale_factors;
        let (w_in, h_in) = (g.width as f32, g.height as f32);
        let mut out = Vec::new();
        for (i, (row, a)) in scores
            .data
            .chunks_exact(columns)
            .zip(&self.anchors)
            .enumerate()
        {
            let Some((class_id, &raw)) = row[offset..]
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
            else {
                continue;
            };
            let score = if self.spec.sigmoid { sigmoid(raw) } else { raw };
            if score < threshold || score.is_nan() {
                continue;
            }
            let e = &enc.data[i * 4..(i + 1) * 4];
            let cy = e[0] / sy * a[2] + a[0];
            let cx = e[1] / sx * a[3] + a[1];
            let h = (e[2] / sh).exp() * a[2];
            let w = (e[3] / sw).exp() * a[3];
            out.push(Candidate {
                class_id: class_id as u32,
                score,
                bbox: [
                    (cx - w / 2.0) * w_in,
                    (cy - h / 2.0) * h_in,
                    (cx + w / 2.0) * w_in,
                    (cy + h / 2.0) * h_in,
                ],
                landmarks: Vec::new(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Tensor;

    fn write_anchors(dir: &std::path::Path, anchors: &[[f32; 4]]) -> PathBuf {
        let mut h = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 4), }}",
            anchors.len()
        );
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        for a in anchors {
            for x in a {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        let p = dir.join("anchors.npy");
        std::fs::write(&p, v).unwrap();
        p
    }

    fn spec(anchors: PathBuf) -> SsdSpec {
        SsdSpec {
            boxes: "boxes".into(),
            scores: "scores".into(),
            anchors,
            scale_factors: default_scales(),
            background_class: true,
            sigmoid: true,
        }
    }

    const G: ModelGeometry = ModelGeometry {
        width: 300,
        height: 200,
        classes: 1,
    };

    #[test]
    fn encoding_against_a_known_anchor() {
        let dir = tempfile::tempdir().unwrap();
        // Anchor 1: centre (y 0.5, x 0.25), 0.2 high, 0.1 wide.
        let p = write_anchors(dir.path(), &[[0.0, 0.0, 0.1, 0.1], [0.4, 0.2, 0.6, 0.3]]);
        let ssd = Ssd::new(&spec(p)).unwrap();
        assert_eq!(ssd.anchor_count(), 2);
        let enc = vec![0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 5.0 * 2f32.ln(), 0.0];
        let outputs = vec![
            NamedTensor {
                name: "boxes".into(),
                tensor: Tensor::new(vec![1, 2, 1, 4], enc),
            },
            NamedTensor {
                name: "scores".into(),
                tensor: Tensor::new(vec![1, 2, 2], vec![5.0, -5.0, -5.0, 3.0]),
            },
        ];
        let c = ssd.decode(G, &outputs, 0.5).unwrap();
        assert_eq!(c.len(), 1, "background column must not count");
        // cy = 0.1 * 0.2 + 0.5 = 0.52, cx = -0.2 * 0.1 + 0.25 = 0.23, h = 2 * 0.2, w = 0.1
        let want = [
            (0.23 - 0.05) * 300.0,
            (0.52 - 0.2) * 200.0,
            (0.23 + 0.05) * 300.0,
            (0.52 + 0.2) * 200.0,
        ];
        for (g, w) in c[0].bbox.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{:?} vs {want:?}", c[0].bbox);
        }
        assert!((c[0].score - sigmoid(3.0)).abs() < 1e-6);
    }

    #[test]
    fn anchor_and_output_count_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_anchors(dir.path(), &[[0.0, 0.0, 0.1, 0.1]]);
        let ssd = Ssd::new(&spec(p)).unwrap();
        let outputs = vec![
            NamedTensor {
                name: "boxes".into(),
                tensor: Tensor::zeros(vec![1, 3, 1, 4]),
            },
            NamedTensor {
                name: "scores".into(),
                tensor: Tensor::zeros(vec![1, 3, 2]),
            },
        ];
        assert!(matches!(
            ssd.decode(G, &outputs, 0.5),
            Err(DetectError::Shape { .. })
        ));
    }

    #[test]
    fn missing_anchors_file_is_an_error() {
        let err = Ssd::new(&spec("/nonexistent/anchors.npy".into())).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/anchors.npy"),
            "{err}"
        );
    }
}
