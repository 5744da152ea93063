//! What to redact on one frame, in frame pixels: face boxes grown by a margin and merged until
//! disjoint, and privacy-mask polygons.

use crate::geometry::Point;

/// How the pixels of a face box are hidden.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RedactStyle {
    /// A strong Gaussian blur (sigma = 1/8 of the box's larger side), only over the box's own pixels.
    #[default]
    Blur,
    /// Blocks of the mean colour, about 6 across the box.
    Pixelate,
    /// Solid black.
    Fill,
}

impl RedactStyle {
    /// The name as written in pipeline files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RedactStyle::Blur => "blur",
            RedactStyle::Pixelate => "pixelate",
            RedactStyle::Fill => "fill",
        }
    }
}

impl std::str::FromStr for RedactStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "blur" => Ok(RedactStyle::Blur),
            "pixelate" => Ok(RedactStyle::Pixelate),
            "fill" => Ok(RedactStyle::Fill),
            _ => Err(format!("unknown style `{s}` (blur, pixelate or fill)")),
        }
    }
}

/// A box in whole pixels, `[x0, x1) x [y0, y1)`, inside the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PixelBox {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl PixelBox {
    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.x1 - self.x0, self.y1 - self.y0)
    }

    /// Whether pixel (x, y) is inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    fn overlaps(&self, o: &PixelBox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    fn union(&self, o: &PixelBox) -> PixelBox {
        PixelBox {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }

    /// Gaussian sigma of the blur, in pixels: strong enough that features the size of an eye
    /// are gone.
    pub fn sigma(&self) -> f32 {
        let (w, h) = self.size();
        (w.max(h) as f32 / 8.0).max(1.0)
    }

    /// Side of a pixelation block, in pixels.
    pub fn cell(&self) -> u32 {
        let (w, h) = self.size();
        w.max(h).div_ceil(6).max(2)
    }
}

/// Grows `b` (`[x1, y1, x2, y2]`) by `margin` times its width on the left and right and times
/// its height at the top and bottom.
pub fn grow(b: [f32; 4], margin: f32) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    [
        b[0] - margin * w,
        b[1] - margin * h,
        b[2] + margin * w,
        b[3] + margin * h,
    ]
}

/// Everything to hide on one frame, in its pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Regions {
    /// Disjoint boxes (faces), redacted in the camera's style.
    pub boxes: Vec<PixelBox>,
    /// Polygons (privacy masks), filled.
    pub masks: Vec<Vec<Point>>,
}

impl Regions {
    /// Boxes in float pixels (already grown) clipped to a `width` x `height` frame, rounded
    /// outwards, and merged where they overlap; empty boxes are dropped.
    pub fn new(boxes: &[[f32; 4]], masks: Vec<Vec<Point>>, width: u32, height: u32) -> Self {
        let clip = |v: f32, max: u32| {
            if v.is_nan() {
                0
            } else {
                v.clamp(0.0, max as f32) as u32
            }
        };
        let mut out: Vec<PixelBox> = boxes
            .iter()
            .map(|b| PixelBox {
                x0: clip(b[0].floor(), width),
                y0: clip(b[1].floor(), height),
                x1: clip(b[2].ceil(), width),
                y1: clip(b[3].ceil(), height),
            })
            .filter(|b| b.x1 > b.x0 && b.y1 > b.y0)
            .collect();
        // Merge until no two overlap (a union can reach a third box).
        let mut merged = true;
        while merged {
            merged = false;
            'outer: for i in 0..out.len() {
                for j in i + 1..out.len() {
                    if out[i].overlaps(&out[j]) {
                        out[i] = out[i].union(&out[j]);
                        out.swap_remove(j);
                        merged = true;
                        break 'outer;
                    }
                }
            }
        }
        Regions {
            boxes: out,
            masks: masks.into_iter().filter(|m| m.len() >= 3).collect(),
        }
    }

    /// Whether pixel (x, y) is redacted (inside a box or, by its centre, inside a mask).
    pub fn covers(&self, x: u32, y: u32) -> bool {
        let centre = [x as f32 + 0.5, y as f32 + 0.5];
        self.boxes.iter().any(|b| b.contains(x, y))
            || self
                .masks
                .iter()
                .any(|m| crate::geometry::inside(m, centre))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_merge_and_clip() {
        let r = Regions::new(
            &[
                [-5.0, -5.0, 10.0, 10.0],
                [8.0, 8.0, 20.2, 20.0],
                [50.0, 50.0, 60.0, 60.0],
                [30.0, 30.0, 30.0, 40.0],
            ],
            vec![],
            55,
            100,
        );
        assert_eq!(
            r.boxes,
            vec![
                PixelBox {
                    x0: 0,
                    y0: 0,
                    x1: 21,
                    y1: 20
                },
                PixelBox {
                    x0: 50,
                    y0: 50,
                    x1: 55,
                    y1: 60
                }
            ]
        );
    }

    #[test]
    fn chains_of_overlaps_become_one_box() {
        // a overlaps b, b overlaps c, a does not overlap c.
        let r = Regions::new(
            &[
                [0.0, 0.0, 10.0, 10.0],
                [20.0, 0.0, 30.0, 10.0],
                [9.0, 5.0, 21.0, 6.0],
            ],
            vec![],
            100,
            100,
        );
        assert_eq!(r.boxes.len(), 1);
        assert_eq!(r.boxes[0].size(), (30, 10));
    }

    #[test]
    fn margin_grows_each_side() {
        assert_eq!(
            grow([10.0, 20.0, 30.0, 60.0], 0.25),
            [5.0, 10.0, 35.0, 70.0]
        );
    }

    #[test]
    fn covers_boxes_and_masks() {
        let r = Regions::new(
            &[[0.0, 0.0, 2.0, 2.0]],
            vec![vec![[10.0, 10.0], [20.0, 10.0], [20.0, 20.0]]],
            32,
            32,
        );
        assert!(r.covers(1, 1));
        assert!(!r.covers(2, 2));
        assert!(r.covers(18, 12));
        assert!(!r.covers(11, 18));
    }
}
