//! One retry policy for everything that reconnects (cameras, webhooks, brokers): exponential
//! backoff with jitter, so many clients failing together do not retry in lockstep.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Retry schedule as written in a pipeline file: exponential backoff with jitter, forever.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// First delay after a failure, in milliseconds (default 500).
    #[serde(default = "default_initial_ms")]
    #[schemars(range(min = 1, max = 3_600_000))]
    pub initial_ms: u64,
    /// Longest delay, in milliseconds (default 30000).
    #[serde(default = "default_max_ms")]
    #[schemars(range(min = 1, max = 86_400_000))]
    pub max_ms: u64,
}

fn default_initial_ms() -> u64 {
    500
}
fn default_max_ms() -> u64 {
    30_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: default_initial_ms(),
            max_ms: default_max_ms(),
        }
    }
}

impl RetryConfig {
    /// Why this schedule cannot work, if it cannot (the message names the fields).
    pub fn check(&self) -> Result<(), String> {
        if self.initial_ms == 0 || self.max_ms < self.initial_ms {
            return Err(format!(
                "need 0 < initial_ms <= max_ms, got initial_ms {} and max_ms {}",
                self.initial_ms, self.max_ms
            ));
        }
        Ok(())
    }

    /// The running backoff this schedule describes.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.initial_ms.max(1)),
            Duration::from_millis(self.max_ms),
        )
    }
}

/// Reconnect delays: `initial * 2^n`, capped at `max`, each drawn uniformly from its upper half.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `initial` and never exceeding `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(self.rng.f64())
    }

    /// Called once a connection works again: the next failure starts from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        let ceilings = [100u64, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, c) in delays.iter().zip(ceilings) {
            assert!(
                *d >= Duration::from_millis(c / 2) && *d <= Duration::from_millis(c),
                "{d:?} vs {c}"
            );
        }
        // Jitter: eight draws are not all equal to their ceiling.
        assert!(
            delays
                .iter()
                .zip(ceilings)
                .any(|(d, c)| *d != Duration::from_millis(c))
        );
    }

    #[test]
    fn config_checks_and_builds() {
        assert!(RetryConfig::default().check().is_ok());
        let bad = RetryConfig {
            initial_ms: 10,
            max_ms: 5,
        };
        assert!(bad.check().unwrap_err().contains("initial_ms <= max_ms"));
        assert!(
            RetryConfig {
                initial_ms: 0,
                max_ms: 5
            }
            .check()
            .is_err()
        );
        let mut b = RetryConfig::default().backoff();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
