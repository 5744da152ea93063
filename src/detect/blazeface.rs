//! MediaPipe BlazeFace: SSD-style anchors at cell centres (fixed size), regressors relative to them.

use serde::Deserialize;

use crate::infer::NamedTensor;

use super::decoder::ModelGeometry;
use super::outputs::{shaped, sigmoid};
use super::{Candidate, DetectError};

const NAME: &str = "blazeface";

/// Output names and anchor layout of a BlazeFace model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlazeFaceSpec {
    /// `[1, N, 4 + 2K]` box (dx, dy, w, h) and K keypoints (x, y), in input pixels.
    pub regressors: String,
    /// `[1, N, 1]` face logits.
    pub classificators: String,
    /// Anchor grids in output order (MediaPipe merges layers of equal stride into one grid).
    pub anchors: Vec<AnchorGrid>,
    /// Number of keypoints per face (6: eyes, nose, mouth, ears).
    pub keypoints: usize,
}

/// One grid of anchors: one cell per `stride` input pixels, `per_cell` anchors at each cell centre.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorGrid {
    pub stride: u32,
    pub per_cell: u32,
}

/// A BlazeFace decoder with its anchor centres computed for the model's input size.
#[derive(Debug, Clone)]
pub struct BlazeFace {
    spec: BlazeFaceSpec,
    /// Anchor centres in input pixels.
    anchors: Vec<[f32; 2]>,
}

/// Anchor centres in input pixels, grid by grid, row-major, `per_cell` copies per cell.
pub fn anchors(grids: &[AnchorGrid], width: u32, height: u32) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    for g in grids {
        let s = g.stride.max(1);
        let (cols, rows) = (width.div_ceil(s), height.div_ceil(s));
        for y in 0..rows {
            for x in 0..cols {
                // MediaPipe: centre = (x + 0.5) / cols, normalized to the input size.
                let c = [
                    (x as f32 + 0.5) / cols as f32 * width as f32,
                    (y as f32 + 0.5) / rows as f32 * height as f32,
                ];
                out.extend(std::iter::repeat_n(c, g.per_cell as usize));
            }
        }
    }
    out
}

impl BlazeFace {
    /// Computes the anchors for the model's input size.
    pub fn new(spec: &BlazeFaceSpec, g: ModelGeometry) -> Result<Self, DetectError> {
        if spec.anchors.is_empty()
            || spec
                .anchors
                .iter()
                .any(|a| a.stride == 0 || a.per_cell == 0)
        {
            return Err(DetectError::Spec {
                decoder: NAME,
                message: "`anchors` needs at least one grid, each with stride and per_cell > 0"
                    .into(),
            });
        }
        Ok(Self {
            spec: spec.clone(),
            anchors: anchors(&spec.anchors, g.width, g.height),
        })
    }

    /// Number of anchors (e.g. 896 for short range at 128, 2304 for full range at 192).
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// Faces scoring at least `threshold`, in input pixels, with keypoints.
    pub fn decode(
        &self,
        outputs: &[NamedTensor],
        threshold: f32,
    ) -> Result<Vec<Candidate>, DetectError> {
        let n = Some(self.anchors.len());
        let width = 4 + 2 * self.spec.keypoints;
        let (reg, _) = shaped(NAME, outputs, &self.spec.regressors, &[n, Some(width)])?;
        let (cls, _) = shaped(NAME, outputs, &self.spec.classificators, &[n, Some(1)])?;
        let mut out = Vec::new();
        for (i, (&logit, a)) in cls.data.iter().zip(&self.anchors).enumerate() {
            let score = sigmoid(logit.clamp(-100.0, 100.0));
            if score < threshold || score.is_nan() {
                continue;
            }
            let r = &reg.data[i * width..(i + 1) * width];
            let (cx, cy) = (a[0] + r[0], a[1] + r[1]);
            let (w, h) = (r[2], r[3]);
            out.push(Candidate {
                class_id: 0,
                score,
                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                landmarks: r[4..]
                    .chunks_exact(2)
                    .map(|k| [a[0] + k[0], a[1] + k[1]])
                    .collect(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Tensor;

    fn short() -> BlazeFaceSpec {
        BlazeFaceSpec {
            regressors: "regressors".into(),
            classificators: "classificators".into(),
            anchors: vec![
                AnchorGrid {
                    stride: 8,
                    per_cell: 2,
                },
                AnchorGrid {
                    stride: 16,
                    per_cell: 6,
                },
            ],
            keypoints: 6,
        }
    }

    fn geometry(s: u32) -> ModelGeometry {
        ModelGeometry {
            width: s,
            height: s,
            classes: 1,
        }
    }

    #[test]
    fn anchor_counts_match_mediapipe() {
        let b = BlazeFace::new(&short(), geometry(128)).unwrap();
        assert_eq!(b.anchor_count(), 896);
        let full = vec![AnchorGrid {
            stride: 4,
            per_cell: 1,
        }];
        assert_eq!(anchors(&full, 192, 192).len(), 2304);
        // First anchor: centre of the first stride-8 cell; the stride-16 grid starts at 512.
        let a = anchors(&short().anchors, 128, 128);
        assert_eq!(a[0], [4.0, 4.0]);
        assert_eq!(a[1], [4.0, 4.0]);
        assert_eq!(a[2], [12.0, 4.0]);
        assert_eq!(a[512], [8.0, 8.0]);
        assert_eq!(a[895], [120.0, 120.0]);
    }

    fn outputs(n: usize) -> Vec<NamedTensor> {
        vec![
            NamedTensor {
                name: "regressors".into(),
                tensor: Tensor::zeros(vec![1, n, 16]),
            },
            NamedTensor {
                name: "classificators".into(),
                tensor: Tensor::new(vec![1, n, 1], vec![-10.0; n]),
            },
        ]
    }

    #[test]
    fn one_anchor_becomes_a_known_face() {
        let b = BlazeFace::new(&short(), geometry(128)).unwrap();
        let mut o = outputs(896);
        let i = 512 + 6 * (8 + 3); // stride-16 grid, row 1, column 3 -> centre (56, 24)
        o[1].tensor.data[i] = 2.0;
        let r = &mut o[0].tensor.data[i * 16..(i + 1) * 16];
        r[..4].copy_from_slice(&[2.0, -1.0, 20.0, 30.0]);
        r[4] = -5.0; // keypoint 0 x
        r[5] = 3.0;
        let c = b.decode(&o, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert!((c[0].score - sigmoid(2.0)).abs() < 1e-6);
        assert_eq!(c[0].bbox, [48.0, 8.0, 68.0, 38.0]);
        assert_eq!(c[0].landmarks.len(), 6);
        assert_eq!(c[0].landmarks[0], [51.0, 27.0]);
    }

    #[test]
    fn anchor_count_mismatch_is_an_error() {
        let b = BlazeFace::new(&short(), geometry(128)).unwrap();
        let err = b.decode(&outputs(2304), 0.5).unwrap_err();
        assert!(err.to_string().contains("[1, 896, 16]"), "{err}");
    }
}
