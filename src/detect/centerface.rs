//! CenterFace: one face per heatmap peak on a stride-4 grid, with box size, offset and 5 landmarks.

use serde::Deserialize;

use crate::infer::NamedTensor;

use super::outputs::shaped;
use super::{Candidate, DetectError};

const NAME: &str = "centerface";
const STRIDE: f32 = 4.0;
const LANDMARKS: usize = 5;

/// Output names of a CenterFace model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterFaceSpec {
    /// `[1, 1, H/4, W/4]` face probability (after sigmoid).
    pub heatmap: String,
    /// `[1, 2, H/4, W/4]` log box height and width, in stride units.
    pub scale: String,
    /// `[1, 2, H/4, W/4]` centre offset (dy, dx) within the cell.
    pub offset: String,
    /// `[1, 10, H/4, W/4]` landmark (y, x) pairs relative to the box, in box sizes.
    pub landmarks: String,
}

/// Every cell with heat >= `threshold` becomes a face box with 5 landmarks, in input pixels.
pub fn decode(
    spec: &CenterFaceSpec,
    outputs: &[NamedTensor],
    threshold: f32,
) -> Result<Vec<Candidate>, DetectError> {
    let (heat, d) = shaped(NAME, outputs, &spec.heatmap, &[Some(1), None, None])?;
    let (h, w) = (d[1], d[2]);
    let grid = [Some(h), Some(w)];
    let (scale, _) = shaped(
        NAME,
        outputs,
        &spec.scale,
        &[&[Some(2)][..], &grid].concat(),
    )?;
    let (offset, _) = shaped(
        NAME,
        outputs,
        &spec.offset,
        &[&[Some(2)][..], &grid].concat(),
    )?;
    let (lms, _) = shaped(
        NAME,
        outputs,
        &spec.landmarks,
        &[&[Some(2 * LANDMARKS)][..], &grid].concat(),
    )?;
    let plane = h * w;
    let mut out = Vec::new();
    for (i, &score) in heat.data.iter().enumerate() {
        if score < threshold || score.is_nan() {
            continue;
        }
        let (y, x) = ((i / w) as f32, (i % w) as f32);
        let bh = scale.data[i].exp() * STRIDE;
        let bw = scale.data[plane + i].exp() * STRIDE;
        let cy = (y + offset.data[i] + 0.5) * STRIDE;
        let cx = (x + offset.data[plane + i] + 0.5) * STRIDE;
        let (x1, y1) = (cx - bw / 2.0, cy - bh / 2.0);
        let landmarks = (0..LANDMARKS)
            .map(|j| {
                [
                    lms.data[(2 * j + 1) * plane + i] * bw + x1,
                    lms.data[2 * j * plane + i] * bh + y1,
                ]
            })
            .collect();
        out.push(Candidate {
            class_id: 0,
            score,
            bbox: [x1, y1, x1 + bw, y1 + bh],
            landmarks,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Tensor;

    fn spec() -> CenterFaceSpec {
        CenterFaceSpec {
            heatmap: "537".into(),
            scale: "538".into(),
            offset: "539".into(),
            landmarks: "540".into(),
        }
    }

    fn outputs(h: usize, w: usize) -> Vec<NamedTensor> {
        [("537", 1), ("538", 2), ("539", 2), ("540", 10)]
            .into_iter()
            .map(|(n, c)| NamedTensor {
                name: n.into(),
                tensor: Tensor::zeros(vec![1, c, h, w]),
            })
            .collect()
    }

    #[test]
    fn one_hot_cell_becomes_a_known_box() {
        let (h, w) = (8, 10);
        let mut o = outputs(h, w);
        let i = 3 * w + 5; // row 3, column 5
        let plane = h * w;
        o[0].tensor.data[i] = 0.9;
        o[1].tensor.data[i] = 2f32.ln(); // height = 2 * 4 = 8
        o[1].tensor.data[plane + i] = 1f32.ln(); // width = 4
        o[2].tensor.data[i] = 0.25; // dy
        o[2].tensor.data[plane + i] = -0.5; // dx
        o[3].tensor.data[i] = 0.5; // landmark 0: y at half the height
        o[3].tensor.data[plane + i] = 0.25; // x at a quarter of the width
        let c = decode(&spec(), &o, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        // cx = (5 - 0.5 + 0.5) * 4 = 20, cy = (3 + 0.25 + 0.5) * 4 = 15
        assert_eq!(c[0].bbox, [18.0, 11.0, 22.0, 19.0]);
        assert_eq!(c[0].landmarks[0], [19.0, 15.0]);
        assert_eq!(c[0].landmarks.len(), 5);
        assert_eq!(c[0].score, 0.9);
    }

    #[test]
    fn below_threshold_is_nothing() {
        let mut o = outputs(4, 4);
        o[0].tensor.data[0] = 0.4;
        assert!(decode(&spec(), &o, 0.5).unwrap().is_empty());
    }

    #[test]
    fn mismatched_grids_are_an_error() {
        let mut o = outputs(4, 4);
        o[3].tensor = Tensor::zeros(vec![1, 10, 4, 5]);
        let err = decode(&spec(), &o, 0.5).unwrap_err();
        assert!(
            matches!(err, DetectError::Shape { ref name, .. } if name == "540"),
            "{err}"
        );
        let mut o = outputs(4, 4);
        o[1].tensor = Tensor::zeros(vec![1, 3, 4, 4]);
        assert!(decode(&spec(), &o, 0.5).is_err());
    }
}
