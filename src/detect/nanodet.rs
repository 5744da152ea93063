//! NanoDet (GFL head): per level, class scores per cell and a distribution over distances to the
//! four box sides; the expected distance times the stride gives the box.

use serde::Deserialize;

use crate::infer::NamedTensor;

use super::decoder::ModelGeometry;
use super::outputs::shaped;
use super::{Candidate, DetectError};

const NAME: &str = "nanodet";

/// Output names and parameters of a NanoDet model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NanoDetSpec {
    /// One entry per feature level, in output order.
    pub levels: Vec<NanoDetLevel>,
    /// Largest distance bin: each side has `reg_max + 1` bins (0..=reg_max, in strides).
    pub reg_max: usize,
}

/// One feature level of a NanoDet head.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NanoDetLevel {
    /// Pixels per cell.
    pub stride: u32,
    /// `[1, cells, classes]` class scores (after sigmoid), cells row-major.
    pub scores: String,
    /// `[1, cells, 4 * (reg_max + 1)]` distance logits, side-major (left, top, right, bottom).
    pub boxes: String,
}

/// Checks the spec against the model before the first frame.
pub fn check(spec: &NanoDetSpec, g: ModelGeometry) -> Result<(), DetectError> {
    let bad = |message: String| DetectError::Spec {
        decoder: NAME,
        message,
    };
    if spec.levels.is_empty() {
        return Err(bad("`levels` is empty".into()));
    }
    if spec.reg_max == 0 || spec.reg_max > 64 {
        return Err(bad(format!("`reg_max` {} is not in 1..=64", spec.reg_max)));
    }
    if let Some(l) = spec.levels.iter().find(|l| l.stride == 0) {
        return Err(bad(format!("level `{}` has stride 0", l.scores)));
    }
    if g.classes == 0 {
        return Err(bad("the manifest has no labels".into()));
    }
    Ok(())
}

/// Candidates of every cell whose best class scores at least `threshold`, in input pixels.
pub fn decode(
    spec: &NanoDetSpec,
    g: ModelGeometry,
    outputs: &[NamedTensor],
    threshold: f32,
) -> Result<Vec<Candidate>, DetectError> {
    check(spec, g)?;
    let bins = spec.reg_max + 1;
    let mut out = Vec::new();
    let mut probs = vec![0.0f32; bins];
    for level in &spec.levels {
        let s = level.stride as usize;
        let (cols, rows) = (
            (g.width as usize).div_ceil(s),
            (g.height as usize).div_ceil(s),
        );
        let cells = Some(rows * cols);
        let (scores, _) = shaped(NAME, outputs, &level.scores, &[cells, Some(g.classes)])?;
        let (dists, _) = shaped(NAME, outputs, &level.boxes, &[cells, Some(4 * bins)])?;
        for (cell, row) in scores.data.chunks_exact(g.classes).enumerate() {
            // Almost every cell is background: a plain maximum (which the compiler vectorises)
            // rejects it before the arg-max. NaN scores are never candidates (`f32::max` skips them).
            let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if best < threshold {
                continue;
            }
            let Some((class_id, &score)) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            else {
                continue;
            };
            if score < threshold || score.is_nan() {
                continue;
            }
            let cx = ((cell % cols) as f32 + 0.5) * s as f32;
            let cy = ((cell / cols) as f32 + 0.5) * s as f32;
            let d = &dists.data[cell * 4 * bins..(cell + 1) * 4 * bins];
            let mut side = [0.0f32; 4];
            for (k, v) in side.iter_mut().enumerate() {
                *v = expected_bin(&d[k * bins..(k + 1) * bins], &mut probs) * s as f32;
            }
            out.push(Candidate {
                class_id: class_id as u32,
                score,
                bbox: [cx - side[0], cy - side[1], cx + side[2], cy + side[3]],
                landmarks: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// Softmax over `logits`, then the expected bin index (0..len-1).
fn expected_bin(logits: &[f32], probs: &mut [f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (p, &l) in probs.iter_mut().zip(logits) {
        *p = (l - max).exp();
        sum += *p;
    }
    probs
        .iter()
        .enumerate()
        .map(|(i, p)| i as f32 * p)
        .sum::<f32>()
        / sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Tensor;

    fn spec() -> NanoDetSpec {
        NanoDetSpec {
            levels: vec![
                NanoDetLevel {
                    stride: 8,
                    scores: "s8".into(),
                    boxes: "b8".into(),
                },
                NanoDetLevel {
                    stride: 16,
                    scores: "s16".into(),
                    boxes: "b16".into(),
                },
            ],
            reg_max: 10,
        }
    }

    const G: ModelGeometry = ModelGeometry {
        width: 64,
        height: 32,
        classes: 3,
    };

    fn outputs() -> Vec<NamedTensor> {
        let t = |name: &str, shape: Vec<usize>| NamedTensor {
            name: name.into(),
            tensor: Tensor::zeros(shape),
        };
        vec![
            t("s8", vec![1, 4 * 8, 3]),
            t("b8", vec![1, 4 * 8, 44]),
            t("s16", vec![1, 2 * 4, 3]),
            t("b16", vec![1, 2 * 4, 44]),
        ]
    }

    #[test]
    fn peaked_distribution_gives_exact_distances() {
        let mut o = outputs();
        // Stride 16, grid 4 wide: cell 5 is row 1, column 1 -> centre (24, 24).
        let cell = 5;
        o[2].tensor.data[cell * 3 + 2] = 0.8;
        let d = &mut o[3].tensor.data[cell * 44..(cell + 1) * 44];
        for (side, bin) in [1usize, 2, 0, 10].into_iter().enumerate() {
            d[side * 11 + bin] = 100.0; // softmax ~ one-hot
        }
        let c = decode(&spec(), G, &o, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class_id, 2);
        let want = [24.0 - 16.0, 24.0 - 32.0, 24.0, 24.0 + 160.0];
        for (g, w) in c[0].bbox.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{:?}", c[0].bbox);
        }
    }

    #[test]
    fn flat_distribution_is_the_middle_bin() {
        let mut probs = [0.0; 11];
        assert!((expected_bin(&[0.0; 11], &mut probs) - 5.0).abs() < 1e-5);
    }

    #[test]
    fn wrong_cell_count_or_classes_is_an_error() {
        let mut o = outputs();
        o[0].tensor = Tensor::zeros(vec![1, 33, 3]);
        assert!(matches!(
            decode(&spec(), G, &o, 0.5),
            Err(DetectError::Shape { .. })
        ));
        let g = ModelGeometry { classes: 80, ..G };
        assert!(decode(&spec(), g, &outputs(), 0.5).is_err());
    }
}
