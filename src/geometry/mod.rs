//! Plane geometry shared by motion masks, rules and privacy masks: points in polygons, sides of
//! lines, segment crossings. Pure functions; it imports nothing of the crate.

/// A point `[x, y]`; y grows downwards, as in images.
pub type Point = [f32; 2];

/// Whether `p` lies inside the polygon `poly` (even-odd rule; points on an edge may go either way).
pub fn inside(poly: &[Point], p: Point) -> bool {
    if poly.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// A line segment from `a` to `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub a: Point,
    pub b: Point,
}

impl Segment {
    /// Signed distance of `p` from the infinite line through `a` and `b`: negative on the left of
    /// a->b as seen on the image, positive on its right (y grows downwards).
    pub fn side(&self, p: Point) -> f32 {
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            return 0.0;
        }
        (dx * (p[1] - self.a[1]) - dy * (p[0] - self.a[0])) / len
    }

    /// Whether the move from `p` to `q` (on opposite sides of the infinite line) passes through the
    /// segment itself, not the line's extension beyond `a` or `b`.
    pub fn crossed_by(&self, p: Point, q: Point) -> bool {
        let (dp, dq) = (self.side(p), self.side(q));
        if dp * dq > 0.0 || dp == dq {
            return false;
        }
        let f = dp / (dp - dq);
        let x = [p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f];
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let len2 = dx * dx + dy * dy;
        if len2 == 0.0 {
            return false;
        }
        let t = ((x[0] - self.a[0]) * dx + (x[1] - self.a[1]) * dy) / len2;
        (0.0..=1.0).contains(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_polygon() {
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(inside(&square, [5.0, 5.0]));
        assert!(!inside(&square, [15.0, 5.0]));
        assert!(!inside(&square, [5.0, -1.0]));
        // A concave "U": the notch is outside.
        let u = [
            [0.0, 0.0],
            [3.0, 0.0],
            [3.0, 8.0],
            [7.0, 8.0],
            [7.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
        ];
        assert!(inside(&u, [1.0, 1.0]));
        assert!(!inside(&u, [5.0, 4.0]));
        assert!(inside(&u, [5.0, 9.0]));
        assert!(!inside(&[[0.0, 0.0], [1.0, 1.0]], [0.5, 0.5]));
    }

    #[test]
    fn sides_follow_image_orientation() {
        // Horizontal line drawn left to right: up is its left (negative), down its right.
        let s = Segment {
            a: [0.0, 50.0],
            b: [100.0, 50.0],
        };
        assert_eq!(s.side([10.0, 40.0]), -10.0);
        assert_eq!(s.side([10.0, 60.0]), 10.0);
        assert_eq!(s.side([500.0, 50.0]), 0.0);
    }

    #[test]
    fn crossing_must_hit_the_segment() {
        let s = Segment {
            a: [0.0, 50.0],
            b: [100.0, 50.0],
        };
        assert!(s.crossed_by([50.0, 40.0], [50.0, 60.0]));
        assert!(s.crossed_by([50.0, 60.0], [50.0, 40.0]));
        assert!(s.crossed_by([0.0, 40.0], [0.0, 60.0]));
        assert!(!s.crossed_by([150.0, 40.0], [150.0, 60.0]));
        assert!(!s.crossed_by([-1.0, 40.0], [-1.0, 60.0]));
        // A diagonal move that meets the line past `b`.
        assert!(!s.crossed_by([90.0, 40.0], [130.0, 60.0]));
        // ... and one that meets it at x = 97.5, inside.
        assert!(s.crossed_by([90.0, 40.0], [105.0, 60.0]));
        // Both on one side.
        assert!(!s.crossed_by([50.0, 40.0], [60.0, 45.0]));
    }
}
