//! Constant-velocity Kalman filter on a box's centre and size (cx, cy, w, h), as in BoT-SORT.
//!
//! The textbook form is one 8-state filter with a block transition matrix. Its process and measurement
//! noise are diagonal and its initial covariance is diagonal, so the covariance never couples one
//! coordinate with another: the 8-state filter is exactly four independent (position, velocity)
//! filters, which is what this module runs. Noise scales with the box size, so a far (small) object
//! and a near (large) one are equally easy to follow.

/// Position noise per unit of box size (BoT-SORT's `std_weight_position`).
const STD_POSITION: f32 = 1.0 / 20.0;
/// Velocity noise per unit of box size (BoT-SORT's `std_weight_velocity`).
const STD_VELOCITY: f32 = 1.0 / 160.0;

/// One coordinate: value, velocity per frame, and their 2x2 covariance.
#[derive(Debug, Clone, Copy)]
struct Axis {
    x: f32,
    v: f32,
    p00: f32,
    p01: f32,
    p11: f32,
}

impl Axis {
    fn new(x: f32, scale: f32) -> Self {
        let sp = 2.0 * STD_POSITION * scale;
        let sv = 10.0 * STD_VELOCITY * scale;
        Self {
            x,
            v: 0.0,
            p00: sp * sp,
            p01: 0.0,
            p11: sv * sv,
        }
    }

    /// One frame ahead: x += v, P = F P F^T + Q.
    fn predict(&mut self, scale: f32) {
        let qp = (STD_POSITION * scale).powi(2);
        let qv = (STD_VELOCITY * scale).powi(2);
        self.x += self.v;
        self.p00 += 2.0 * self.p01 + self.p11 + qp;
        self.p01 += self.p11;
        self.p11 += qv;
    }

    /// Folds in a measurement `z` of the value.
    fn update(&mut self, z: f32, scale: f32) {
        let r = (STD_POSITION * scale).powi(2);
        let s = self.p00 + r;
        if s <= 0.0 || !s.is_finite() {
            return;
        }
        let (k0, k1) = (self.p00 / s, self.p01 / s);
        let y = z - self.x;
        self.x += k0 * y;
        self.v += k1 * y;
        let (p00, p01, p11) = (self.p00, self.p01, self.p11);
        self.p00 = (1.0 - k0) * p00;
        self.p01 = (1.0 - k0) * p01;
        self.p11 = p11 - k1 * p01;
    }
}

/// The motion state of one tracked box.
#[derive(Debug, Clone)]
pub struct BoxFilter {
    /// cx, cy, w, h.
    axes: [Axis; 4],
}

impl BoxFilter {
    /// Starts from a first observed `[x1, y1, x2, y2]` box, at rest.
    pub fn new(bbox: [f32; 4]) -> Self {
        let [cx, cy, w, h] = to_cxcywh(bbox);
        Self {
            axes: [
                Axis::new(cx, w),
                Axis::new(cy, h),
                Axis::new(w, w),
                Axis::new(h, h),
            ],
        }
    }

    /// Advances one frame; `hold_size` freezes width and height (for tracks not seen lately, whose
    /// size estimate would otherwise drift towards zero or grow without bound).
    pub fn predict(&mut self, hold_size: bool) {
        if hold_size {
            self.axes[2].v = 0.0;
            self.axes[3].v = 0.0;
        }
        let (w, h) = self.size();
        for (axis, scale) in self.axes.iter_mut().zip([w, h, w, h]) {
            axis.predict(scale);
        }
    }

    /// Corrects the state with an observed `[x1, y1, x2, y2]` box.
    pub fn update(&mut self, bbox: [f32; 4]) {
        let z = to_cxcywh(bbox);
        let (w, h) = (z[2].max(1.0), z[3].max(1.0));
        for ((axis, zi), scale) in self.axes.iter_mut().zip(z).zip([w, h, w, h]) {
            axis.update(zi, scale);
        }
    }

    /// The current estimate as `[x1, y1, x2, y2]`.
    pub fn bbox(&self) -> [f32; 4] {
        let (cx, cy) = (self.axes[0].x, self.axes[1].x);
        let (w, h) = self.size();
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
    }

    /// Estimated velocity of the centre, in pixels per frame.
    pub fn velocity(&self) -> [f32; 2] {
        [self.axes[0].v, self.axes[1].v]
    }

    fn size(&self) -> (f32, f32) {
        (self.axes[2].x.max(1.0), self.axes[3].x.max(1.0))
    }
}

fn to_cxcywh(b: [f32; 4]) -> [f32; 4] {
    [
        (b[0] + b[2]) / 2.0,
        (b[1] + b[3]) / 2.0,
        b[2] - b[0],
        b[3] - b[1],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shifted(b: [f32; 4], dx: f32, dy: f32) -> [f32; 4] {
        [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
    }

    #[test]
    fn learns_constant_velocity() {
        let start = [100.0, 100.0, 140.0, 200.0];
        let mut f = BoxFilter::new(start);
        for k in 1..30 {
            f.predict(false);
            f.update(shifted(start, 5.0 * k as f32, -2.0 * k as f32));
        }
        let [vx, vy] = f.velocity();
        assert!(
            (vx - 5.0).abs() < 0.2 && (vy + 2.0).abs() < 0.2,
            "{vx} {vy}"
        );
        // Coasting without measurements keeps moving at that velocity.
        f.predict(true);
        let b = f.bbox();
        let want = shifted(start, 5.0 * 30.0, -2.0 * 30.0);
        for i in 0..4 {
            assert!((b[i] - want[i]).abs() < 1.5, "{b:?} vs {want:?}");
        }
    }

    #[test]
    fn smooths_noise() {
        let start = [200.0, 200.0, 250.0, 300.0];
        let mut f = BoxFilter::new(start);
        let mut rng = fastrand::Rng::with_seed(3);
        let (mut raw_err, mut filt_err) = (0.0f32, 0.0f32);
        for k in 1..60 {
            let truth = shifted(start, 3.0 * k as f32, 0.0);
            let noisy = truth.map(|v| v + (rng.f32() - 0.5) * 10.0);
            f.predict(false);
            f.update(noisy);
            if k > 10 {
                raw_err += (noisy[0] - truth[0]).abs();
                filt_err += (f.bbox()[0] - truth[0]).abs();
            }
        }
        assert!(
            filt_err < raw_err * 0.8,
            "filtered {filt_err} raw {raw_err}"
        );
    }

    #[test]
    fn hold_size_freezes_size() {
        let mut f = BoxFilter::new([0.0, 0.0, 10.0, 10.0]);
        for k in 1..10 {
            f.predict(false);
            let s = 10.0 + k as f32 * 2.0;
            f.update([0.0, 0.0, s, s]);
        }
        let w0 = f.bbox()[2] - f.bbox()[0];
        for _ in 0..20 {
            f.predict(true);
        }
        let w1 = f.bbox()[2] - f.bbox()[0];
        assert!((w1 - w0).abs() < 1e-3, "{w0} -> {w1}");
    }
}
