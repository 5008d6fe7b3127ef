//! Peak-EWMA round-trip estimate: the latency a peer is judged by when routing.
//!
//! An exponentially weighted moving average that jumps up at once to a slower sample and
//! decays down slowly (time constant [`DEFAULT_DECAY`]), as Finagle's and tower's
//! peak-EWMA balancers do: one slow answer makes a peer look slow right away, and it has to
//! be fast for a while to look fast again. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// How fast the estimate forgets a slow sample: after this long, a sample weighs `1/e`.
pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// A peak-EWMA estimate of round-trip time.
#[derive(Debug, Clone, Copy)]
pub struct PeakEwma {
    /// The estimate in nanoseconds; `None` before the first sample.
    estimate_ns: Option<f64>,
    updated: Option<Instant>,
    decay_ns: f64,
}

impl PeakEwma {
    /// No samples yet, forgetting with time constant `decay`.
    #[must_use]
    pub fn new(decay: Duration) -> Self {
        Self {
            estimate_ns: None,
            updated: None,
            decay_ns: (decay.as_secs_f64() * 1e9).max(1.0),
        }
    }

    /// Adds a sample `rtt` observed at `now`.
    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let sample = rtt.as_secs_f64() * 1e9;
        let estimate = match (self.estimate_ns, self.updated) {
            (Some(estimate), Some(updated)) if sample <= estimate => {
                let elapsed = now.saturating_duration_since(updated).as_secs_f64() * 1e9;
                let weight = (-elapsed / self.decay_ns).exp();
                estimate * weight + sample * (1.0 - weight)
            }
            // The first sample, or a slower one: take it as it is (the "peak").
            _ => sample,
        };
        self.estimate_ns = Some(estimate);
        self.updated = Some(now);
    }

    /// The estimate, if there has been a sample.
    #[must_use]
    pub fn estimate(&self) -> Option<Duration> {
        self.estimate_ns
            .map(|ns| Duration::from_secs_f64((ns / 1e9).max(0.0)))
    }
}

impl Default for PeakEwma {
    fn default() -> Self {
        Self::new(DEFAULT_DECAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn jumps_up_at_once_and_decays_slowly() {
        let start = Instant::now();
        let mut ewma = PeakEwma::new(Duration::from_secs(10));
        assert_eq!(ewma.estimate(), None);
        ewma.observe(ms(10), start);
        assert_eq!(ewma.estimate(), Some(ms(10)));
        // A slow answer counts in full.
        ewma.observe(ms(500), start + ms(100));
        assert_eq!(ewma.estimate(), Some(ms(500)));
        // A fast answer right after barely moves it...
        ewma.observe(ms(10), start + ms(200));
        let after_one = ewma.estimate().unwrap_or_default();
        assert!(after_one > ms(490), "{after_one:?}");
        // ...but fast answers over a long time bring it down.
        for i in 1..=60 {
            ewma.observe(ms(10), start + ms(200) + Duration::from_secs(i));
        }
        let later = ewma.estimate().unwrap_or_default();
        assert!(later < ms(15), "{later:?}");
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let start = Instant::now() + Duration::from_secs(5);
        let mut ewma = PeakEwma::default();
        ewma.observe(ms(100), start);
        ewma.observe(ms(50), start - Duration::from_secs(1));
        assert_eq!(ewma.estimate(), Some(ms(100)));
    }
}
