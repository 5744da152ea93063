//! The common exported YOLO heads, so a user can drop in their own export:
//! YOLOv8/v11 `[1, 4+C, N]`, YOLOv5/v7 `[1, N, 5+C]`, and YOLOX `[1, N, 5+C]` on stride grids.

use serde::Deserialize;

use crate::infer::NamedTensor;

use super::decoder::ModelGeometry;
use super::outputs::shaped;
use super::{Candidate, DetectError};

/// The one output of a YOLO export whose boxes are already decoded to input pixels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoloSpec {
    /// Output name (Ultralytics exports call it `output0`).
    pub output: String,
}

/// A YOLOX export without decoding in the graph: offsets and log sizes per grid cell.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoloxSpec {
    /// Output name (YOLOX exports call it `output`).
    pub output: String,
    /// Strides of the levels, in output order.
    #[serde(default = "default_strides")]
    pub strides: Vec<u32>,
}

fn default_strides() -> Vec<u32> {
    vec![8, 16, 32]
}

/// A box from centre and size.
fn cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// Best class of `scores` (read through `get`), times `scale`.
fn best(classes: usize, scale: f32, get: impl Fn(usize) -> f32) -> (u32, f32) {
    let mut best = (0u32, f32::NEG_INFINITY);
    for c in 0..classes {
        let s = get(c);
        if s > best.1 {
            best = (c as u32, s);
        }
    }
    (best.0, best.1 * scale)
}

/// YOLOv8/v11: `[1, 4+C, N]` rows cx, cy, w, h, then C class scores (also accepts `[1, N, 4+C]`).
pub fn decode_v8(
    spec: &YoloSpec,
    g: ModelGeometry,
    outputs: &[NamedTensor],
    threshold: f32,
) -> Result<Vec<Candidate>, DetectError> {
    const NAME: &str = "yolov8";
    let rows = 4 + g.classes;
    let (t, d) = shaped(NAME, outputs, &spec.output, &[None, None])?;
    // Ultralytics writes attributes first; some converters transpose. Element (box i, attribute k)
    // is at i * step_i + k * step_k.
    let (n, step_i, step_k) = if d[0] == rows {
        (d[1], 1, d[1])
    } else if d[1] == rows {
        (d[0], rows, 1)
    } else {
        return Err(DetectError::Shape {
            decoder: NAME,
            name: spec.output.clone(),
            expected: format!("[1, {rows}, N] (4 + {} classes)", g.classes),
            actual: t.shape.clone(),
        });
    };
    let at = |i: usize, k: usize| t.data[i * step_i + k * step_k];
    let mut out = Vec::new();
    for i in 0..n {
        let (class_id, score) = best(g.classes, 1.0, |c| at(i, 4 + c));
        if score < threshold || score.is_nan() {
            continue;
        }
        out.push(Candidate {
            class_id,
            score,
            bbox: cxcywh(at(i, 0), at(i, 1), at(i, 2), at(i, 3)),
            landmarks: Vec::new(),
        });
    }
    Ok(out)
}

/// Rows of `[N, 5+C]`: cx, cy, w, h, objectness, C class scores; score = objectness x class.
fn rows_5c<'a>(
    name: &'static str,
    output: &str,
    g: ModelGeometry,
    outputs: &'a [NamedTensor],
    n: Option<usize>,
) -> Result<std::slice::ChunksExact<'a, f32>, DetectError> {
    let width = 5 + g.classes;
    let (t, _) = shaped(name, outputs, output, &[n, Some(width)])?;
    Ok(t.data.chunks_exact(width))
}

/// Best class and objectness x class score of a `[5+C]` row, when it reaches `threshold`.
fn objectness_score(r: &[f32], classes: usize, threshold: f32) -> Option<(u32, f32)> {
    if r[4] < threshold || r[4].is_nan() {
        return None; // objectness bounds the score from above
    }
    let (class_id, score) = best(classes, r[4], |c| r[5 + c]);
    (score >= threshold).then_some((class_id, score))
}

/// YOLOv5/v7: `[1, N, 5+C]` with boxes already in input pixels.
pub fn decode_v5(
    spec: &YoloSpec,
    g: ModelGeometry,
    outputs: &[NamedTensor],
    threshold: f32,
) -> Result<Vec<Candidate>, DetectError> {
    let mut out = Vec::new();
    for r in rows_5c("yolov5", &spec.output, g, outputs, None)? {
        let Some((class_id, score)) = objectness_score(r, g.classes, threshold) else {
            continue;
        };
        out.push(Candidate {
            class_id,
            score,
            bbox: cxcywh(r[0], r[1], r[2], r[3]),
            landmarks: Vec::new(),
        });
    }
    Ok(out)
}

/// A YOLOX decoder with its grid cells (x, y, stride) computed for the input size.
#[derive(Debug, Clone)]
pub struct Yolox {
    spec: YoloxSpec,
    cells: Vec<[f32; 3]>,
}

impl Yolox {
    /// Computes the grid of every level, row-major, level by level.
    pub fn new(spec: &YoloxSpec, g: ModelGeometry) -> Result<Self, DetectError> {
        if spec.strides.is_empty() || spec.strides.contains(&0) {
            return Err(DetectError::Spec {
                decoder: "yolox",
                message: format!("strides {:?} must be non-empty and > 0", spec.strides),
            });
        }
        let mut cells = Vec::new();
        for &s in &spec.strides {
            for y in 0..g.height / s {
                for x in 0..g.width / s {
                    cells.push([x as f32, y as f32, s as f32]);
                }
            }
        }
        Ok(Self {
            spec: spec.clone(),
            cells,
        })
    }

    /// YOLOX: centre = (offset + cell) x stride, size = exp(log size) x stride.
    pub fn decode(
        &self,
        g: ModelGeometry,
        outputs: &[NamedTensor],
        threshold: f32,
    ) -> Result<Vec<Candidate>, DetectError> {
        let rows = rows_5c(
            "yolox",
            &self.spec.output,
            g,
            outputs,
            Some(self.cells.len()),
        )?;
        let mut out = Vec::new();
        for (r, &[gx, gy, s]) in rows.zip(&self.cells) {
            let Some((class_id, score)) = objectness_score(r, g.classes, threshold) else {
                continue;
            };
            out.push(Candidate {
                class_id,
                score,
                bbox: cxcywh(
                    (r[0] + gx) * s,
                    (r[1] + gy) * s,
                    r[2].exp() * s,
                    r[3].exp() * s,
                ),
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

    fn output(shape: Vec<usize>, data: Vec<f32>) -> Vec<NamedTensor> {
        vec![NamedTensor {
            name: "out".into(),
            tensor: Tensor::new(shape, data),
        }]
    }

    fn spec() -> YoloSpec {
        YoloSpec {
            output: "out".into(),
        }
    }

    const G2: ModelGeometry = ModelGeometry {
        width: 64,
        height: 64,
        classes: 2,
    };

    #[test]
    fn v8_attributes_first_and_transposed() {
        // 3 boxes, 2 classes: [1, 6, 3]; box 1 is class 1 at 0.9.
        let mut d = vec![0.0; 6 * 3];
        let set = |d: &mut Vec<f32>, k: usize, v: f32| d[k * 3 + 1] = v;
        for (k, v) in [
            (0, 20.0),
            (1, 30.0),
            (2, 10.0),
            (3, 4.0),
            (4, 0.1),
            (5, 0.9),
        ] {
            set(&mut d, k, v);
        }
        let c = decode_v8(&spec(), G2, &output(vec![1, 6, 3], d.clone()), 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].class_id, c[0].score), (1, 0.9));
        assert_eq!(c[0].bbox, [15.0, 28.0, 25.0, 32.0]);
        // The same data transposed to [1, 3, 6].
        let mut tr = vec![0.0; 18];
        for k in 0..6 {
            for i in 0..3 {
                tr[i * 6 + k] = d[k * 3 + i];
            }
        }
        let c2 = decode_v8(&spec(), G2, &output(vec![1, 3, 6], tr), 0.5).unwrap();
        assert_eq!(c, c2);
    }

    #[test]
    fn v8_wrong_class_count_is_an_error() {
        let err = decode_v8(&spec(), G2, &output(vec![1, 84, 10], vec![0.0; 840]), 0.5);
        assert!(matches!(err, Err(DetectError::Shape { .. })));
    }

    #[test]
    fn v5_multiplies_objectness() {
        let d = vec![
            10.0, 10.0, 4.0, 4.0, 0.9, 0.2, 0.8, // 0.72 class 1
            10.0, 10.0, 4.0, 4.0, 0.4, 1.0, 0.0, // objectness too low
        ];
        let c = decode_v5(&spec(), G2, &output(vec![1, 2, 7], d), 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class_id, 1);
        assert!((c[0].score - 0.72).abs() < 1e-6);
        assert_eq!(c[0].bbox, [8.0, 8.0, 12.0, 12.0]);
        assert!(decode_v5(&spec(), G2, &output(vec![1, 2, 8], vec![0.0; 16]), 0.5).is_err());
    }

    #[test]
    fn yolox_decodes_on_the_grid() {
        let s = YoloxSpec {
            output: "out".into(),
            strides: vec![8, 16, 32],
        };
        let y = Yolox::new(&s, G2).unwrap();
        let n = 64 + 16 + 4;
        let mut d = vec![0.0; n * 7];
        // Level 16 (after 64 cells of level 8), row 2, column 1.
        let i = 64 + 2 * 4 + 1;
        d[i * 7..(i + 1) * 7].copy_from_slice(&[0.5, 0.25, 0.0, 1f32.ln(), 1.0, 0.9, 0.1]);
        let c = y.decode(G2, &output(vec![1, n, 7], d), 0.5).unwrap();
        assert_eq!(c.len(), 1);
        // centre ((0.5 + 1) * 16, (0.25 + 2) * 16) = (24, 36), size 16 x 16
        assert_eq!(c[0].bbox, [16.0, 28.0, 32.0, 44.0]);
        assert_eq!(c[0].class_id, 0);
        let short = output(vec![1, n - 1, 7], vec![0.0; (n - 1) * 7]);
        assert!(y.decode(G2, &short, 0.5).is_err());
    }
}
