//! Medians and percentiles.

use std::time::Duration;

/// The median of `values` (the mean of the two middle ones for an even count); `None`
/// if there are none or one is NaN.
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

/// The `q`-quantile (0.0 to 1.0) of `samples` by the nearest-rank method: the smallest
/// sample such that at least `q` of all samples are at or below it.
#[must_use]
pub fn quantile(samples: &[Duration], q: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    #[allow(clippy::cast_precision_loss)] // sample counts are far below 2^52
    let rank = (q * n as f64).ceil();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= rank <= n
    let rank = rank as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
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
    fn medians_and_quantiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[1.0, f64::NAN]), None);
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(quantile(&samples, 0.5), Some(Duration::from_micros(50)));
        assert_eq!(quantile(&samples, 0.99), Some(Duration::from_micros(99)));
        assert_eq!(quantile(&samples, 1.0), Some(Duration::from_micros(100)));
        assert_eq!(quantile(&samples, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(quantile(&[], 0.5), None);
        assert!((rate(1000, Duration::from_millis(500)) - 2000.0).abs() < 1e-9);
    }
}
