//! Medians, percentiles and rates.

use std::time::Duration;

/// A summary of timed samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median (the mean of the two middle samples for an even count).
    pub median: Duration,
    /// The 90th percentile, by the nearest-rank method.
    pub p90: Duration,
    /// The fastest sample.
    pub min: Duration,
    /// The slowest sample.
    pub max: Duration,
}

impl Summary {
    /// The summary of `samples`; `None` if there are none.
    #[must_use]
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let min = *sorted.first()?;
        let max = *sorted.last()?;
        let mid = n / 2;
        let median = if n % 2 == 1 {
            *sorted.get(mid)?
        } else {
            (*sorted.get(mid - 1)? + *sorted.get(mid)?) / 2
        };
        Some(Self {
            n,
            median,
            p90: quantile(&sorted, 0.9)?,
            min,
            max,
        })
    }
}

/// The `q`-quantile (0.0 to 1.0) of `sorted` (ascending) by the nearest-rank method: the
/// smallest sample such that at least `q` of all samples are at or below it.
fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // sample counts are far below 2^52
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= rank <= n
    let rank = rank as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` if
/// there are none or one is NaN.
#[must_use]
pub fn median(values: &[f64]) -> Option<f64> {
    if values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    if n % 2 == 1 {
        sorted.get(mid).copied()
    } else {
        Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0)
    }
}

/// Bytes per second, from a byte count and a duration.
#[must_use]
pub fn rate(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // byte counts are far below 2^52
    let bytes = bytes as f64;
    bytes / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_medians_and_rates() {
        assert_eq!(Summary::of(&[]), None);
        let ms = Duration::from_millis;
        let s = Summary::of(&[ms(3), ms(1), ms(2)]).unwrap();
        assert_eq!(
            (s.n, s.median, s.min, s.max, s.p90),
            (3, ms(2), ms(1), ms(3), ms(3))
        );
        let s = Summary::of(&[ms(4), ms(1), ms(2), ms(3)]).unwrap();
        assert_eq!(s.median, Duration::from_micros(2500));
        let hundred: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(Summary::of(&hundred).unwrap().p90, ms(90));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, f64::NAN]), None);
        assert!((rate(1000, ms(500)) - 2000.0).abs() < 1e-9);
    }
}
