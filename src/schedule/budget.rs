//! The box's budget for background detections: full frames run not because something moves but
//! to keep watch (a camera's first frame and recalibrations, the periodic full frame, the
//! fallback of motion that ran away). One budget per detector, shared by its cameras, so that
//! thirty cameras starting at once, or rain on every camera at the same time, cannot crowd out
//! the cameras where something moves: their background frames wait their turn instead.

use std::time::Instant;

/// A token bucket refilled at `rate` per second, holding at most `rate` tokens (at least one):
/// up to a second's worth may run at once, then one every `1 / rate` seconds.
#[derive(Debug, Clone)]
pub struct BackgroundBudget {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl BackgroundBudget {
    /// A full budget of `rate` background detections per second.
    pub fn new(rate: f64) -> Self {
        let rate = rate.max(1e-3);
        Self {
            rate,
            tokens: rate.max(1.0),
            last: None,
        }
    }

    /// Detections per second it allows.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether a background detection may run at `now` (refilling for the time since last asked).
    pub fn available(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.rate.max(1.0));
        }
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        self.tokens >= 1.0
    }

    /// Spends one detection (after [`BackgroundBudget::available`] said yes).
    pub fn spend(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_seconds_worth_at_once_then_at_the_rate() {
        let t0 = Instant::now();
        let mut b = BackgroundBudget::new(4.0);
        let mut ran = 0;
        // 30 cameras ask at once: 4 run.
        for _ in 0..30 {
            if b.available(t0) {
                b.spend();
                ran += 1;
            }
        }
        assert_eq!(ran, 4);
        // Over the next 10 s, asked every 10 ms: 4 per second.
        for i in 1..=1000 {
            if b.available(t0 + Duration::from_millis(10 * i)) {
                b.spend();
                ran += 1;
            }
        }
        assert_eq!(ran, 44);
    }

    #[test]
    fn a_slow_rate_still_allows_one() {
        let t0 = Instant::now();
        let mut b = BackgroundBudget::new(0.5);
        assert!(b.available(t0));
        b.spend();
        assert!(!b.available(t0 + Duration::from_millis(1900)));
        assert!(b.available(t0 + Duration::from_millis(2000)));
    }
}
