//! Regions to detect on: squares around motion and tracked objects, at least the model's input
//! size (so small, distant objects get more pixels than in a downscaled whole frame), merged
//! when they overlap, and given up for one full-frame pass when they would cost as much.

use crate::capture::frame::ImageRef;
use crate::detect::Detection;

/// A square part of the frame to run the detector on; corners on even pixels (NV12 chroma).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

impl Region {
    /// The region as `[x1, y1, x2, y2]` in frame pixels.
    pub fn bbox(&self) -> [f32; 4] {
        [
            self.x as f32,
            self.y as f32,
            (self.x + self.side) as f32,
            (self.y + self.side) as f32,
        ]
    }

    /// The part of `image` this region covers (no copy).
    pub fn view<'a>(&self, image: &ImageRef<'a>) -> ImageRef<'a> {
        image.crop(self.x, self.y, self.side, self.side)
    }

    /// A detection in this region's pixels, moved to the frame's.
    pub fn to_frame(&self, mut d: Detection) -> Detection {
        let (dx, dy) = (self.x as f32, self.y as f32);
        d.bbox = [
            d.bbox[0] + dx,
            d.bbox[1] + dy,
            d.bbox[2] + dx,
            d.bbox[3] + dy,
        ];
        for p in &mut d.landmarks {
            p[0] += dx;
            p[1] += dy;
        }
        d
    }

    /// Whether the point `(x, y)` lies inside.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x as f32
            && y >= self.y as f32
            && x < (self.x + self.side) as f32
            && y < (self.y + self.side) as f32
    }

    fn overlaps(&self, o: &Region) -> bool {
        self.x < o.x + o.side
            && o.x < self.x + self.side
            && self.y < o.y + o.side
            && o.y < self.y + self.side
    }
}

/// Regions around `boxes` in a `width` x `height` frame for a model whose input side is
/// `model_side`, or `None` when the whole frame is the better choice: more than `max_regions`
/// regions, a box larger than the frame's short side, or regions covering more than
/// `full_above` of the frame.
pub fn plan(
    boxes: &[[f32; 4]],
    width: u32,
    height: u32,
    model_side: u32,
    max_regions: usize,
    full_above: f32,
) -> Option<Vec<Region>> {
    let short = width.min(height) & !1;
    let mut regions: Vec<Region> = Vec::with_capacity(boxes.len());
    for b in boxes {
        let r = square_around(b, width, height, model_side, MARGIN, short)?;
        regions.push(r);
    }
    // Merge overlapping squares into the square around both, until none overlap.
    loop {
        let mut merged = false;
        'outer: for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                if regions[i].overlaps(&regions[j]) {
                    let (a, b) = (regions[i].bbox(), regions[j].bbox());
                    let union = [
                        a[0].min(b[0]),
                        a[1].min(b[1]),
                        a[2].max(b[2]),
                        a[3].max(b[3]),
                    ];
                    // The union already has its margins: no new one, or merges would snowball.
                    let r = square_around(&union, width, height, 0, 1.0, short)?;
                    regions[i] = r;
                    regions.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            break;
        }
    }
    let area: u64 = regions.iter().map(|r| u64::from(r.side).pow(2)).sum();
    if regions.len() > max_regions
        || area as f64 > f64::from(full_above) * f64::from(width) * f64::from(height)
    {
        return None;
    }
    Some(regions)
}

/// Growth of a box before its square is drawn: 10 % on each side, so an object at the edge of its
/// motion is whole.
const MARGIN: f32 = 1.2;

/// The square of side at least `min_side` (and the box's longer side times `margin`) centred on
/// `b`, moved inside the frame; `None` when it cannot fit in `short`.
fn square_around(
    b: &[f32; 4],
    width: u32,
    height: u32,
    min_side: u32,
    margin: f32,
    short: u32,
) -> Option<Region> {
    let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
    let want = (bw.max(bh) * margin).ceil().max(min_side as f32) as u32;
    let side = (want + (want & 1)).max(2);
    if side > short {
        return None;
    }
    let cx = (b[0] + b[2]) / 2.0;
    let cy = (b[1] + b[3]) / 2.0;
    let place = |c: f32, len: u32| -> u32 {
        let start = (c - side as f32 / 2.0).round().max(0.0) as u32;
        start.min(len - side) & !1
    };
    Some(Region {
        x: place(cx, width),
        y: place(cy, height),
        side,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_box_gets_a_model_sized_square_inside_the_frame() {
        let r = plan(&[[10.0, 10.0, 30.0, 50.0]], 1920, 1080, 416, 4, 0.6).unwrap();
        assert_eq!(
            r,
            vec![Region {
                x: 0,
                y: 0,
                side: 416
            }]
        );
        let r = plan(&[[1900.0, 1000.0, 1910.0, 1070.0]], 1920, 1080, 416, 4, 0.6).unwrap();
        assert_eq!(
            r,
            vec![Region {
                x: 1504,
                y: 664,
                side: 416
            }]
        );
    }

    #[test]
    fn overlapping_squares_merge_and_distant_ones_stay_apart() {
        let r = plan(
            &[[100.0, 100.0, 150.0, 200.0], [300.0, 120.0, 350.0, 220.0]],
            1920,
            1080,
            416,
            4,
            0.6,
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        let r = plan(
            &[[100.0, 100.0, 150.0, 200.0], [1500.0, 700.0, 1550.0, 800.0]],
            1920,
            1080,
            416,
            4,
            0.6,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert!(!r[0].overlaps(&r[1]));
    }

    #[test]
    fn too_much_becomes_a_full_frame() {
        // A box taller than the frame is short.
        assert_eq!(
            plan(&[[0.0, 0.0, 100.0, 1000.0]], 1920, 1080, 416, 4, 0.6),
            None
        );
        // Regions covering most of a small frame.
        assert_eq!(
            plan(
                &[[10.0, 10.0, 40.0, 40.0], [700.0, 500.0, 730.0, 530.0]],
                768,
                576,
                416,
                4,
                0.6
            ),
            None
        );
        // More regions than allowed.
        let many: Vec<[f32; 4]> = (0..5)
            .map(|i| [i as f32 * 700.0, 0.0, i as f32 * 700.0 + 10.0, 10.0])
            .collect();
        assert_eq!(plan(&many, 3840, 2160, 300, 4, 0.6), None);
        assert_eq!(
            plan(&many, 3840, 2160, 300, 5, 0.6).map(|r| r.len()),
            Some(5)
        );
    }
}
