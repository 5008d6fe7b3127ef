//! Block timestamps: not below the median of the last blocks, not too far in the future.
//!
//! # The rules (monerod 0.18, `Blockchain::check_block_timestamp`)
//!
//! - A block's timestamp may be at most [`FUTURE_TIME_LIMIT`] (2 hours,
//!   `CRYPTONOTE_BLOCK_FUTURE_TIME_LIMIT`) ahead of the local clock. This depends on the
//!   node's clock, so a block refused for it may be accepted later; monerod applies it to
//!   blocks added on top of its main chain (not to alternative blocks).
//! - Once the chain has at least [`TIMESTAMP_CHECK_WINDOW`] (60,
//!   `BLOCKCHAIN_TIMESTAMP_CHECK_WINDOW`) blocks, a block's timestamp may not be below the
//!   median of the last 60 blocks' timestamps. Below 60 blocks there is no median check.
//! - The window is 60 for every hard-fork version in monerod 0.18 (forks of Monero that
//!   changed it per version are not Monero).
//!
//! The median is epee's: the middle element of the sorted values, or the integer mean of the
//! two middle ones for an even count.

use std::collections::VecDeque;

use thiserror::Error;

/// Blocks whose timestamps make the median (`BLOCKCHAIN_TIMESTAMP_CHECK_WINDOW`).
pub const TIMESTAMP_CHECK_WINDOW: usize = 60;
/// How far ahead of the local clock a timestamp may be, in seconds
/// (`CRYPTONOTE_BLOCK_FUTURE_TIME_LIMIT`).
pub const FUTURE_TIME_LIMIT: u64 = 2 * 60 * 60;

/// A block timestamp breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TimestampError {
    /// Below the median of the last 60 blocks.
    #[error("timestamp {timestamp} is below the median {median} of the last {window} blocks")]
    BelowMedian {
        /// The block's timestamp.
        timestamp: u64,
        /// The median.
        median: u64,
        /// How many timestamps made the median.
        window: usize,
    },
    /// Too far ahead of the local clock.
    #[error("timestamp {timestamp} is more than {limit} s ahead of the local time {now}")]
    TooFarInFuture {
        /// The block's timestamp.
        timestamp: u64,
        /// The local time given.
        now: u64,
        /// The allowed lead, [`FUTURE_TIME_LIMIT`].
        limit: u64,
    },
}

/// epee's median: middle element, or the floor of the mean of the two middle elements for an
/// even count; 0 for no values.
pub fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    median_of_sorted(&sorted)
}

/// [`median`] of values that are already sorted.
pub(crate) fn median_of_sorted(sorted: &[u64]) -> u64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let mid = n / 2;
    if n % 2 == 1 {
        sorted.get(mid).copied().unwrap_or(0)
    } else {
        let a = sorted.get(mid - 1).copied().unwrap_or(0);
        let b = sorted.get(mid).copied().unwrap_or(0);
        // The sum may not fit in 64 bits; the mean does.
        ((u128::from(a) + u128::from(b)) / 2) as u64
    }
}

/// The median rule: `last_timestamps` are the timestamps of the chain's last blocks (only the
/// last [`TIMESTAMP_CHECK_WINDOW`] are used; with fewer there is no check).
pub fn check_median(timestamp: u64, last_timestamps: &[u64]) -> Result<(), TimestampError> {
    if last_timestamps.len() < TIMESTAMP_CHECK_WINDOW {
        return Ok(());
    }
    let start = last_timestamps.len() - TIMESTAMP_CHECK_WINDOW;
    let window = last_timestamps.get(start..).unwrap_or(last_timestamps);
    let median = median(window);
    if timestamp < median {
        return Err(TimestampError::BelowMedian {
            timestamp,
            median,
            window: TIMESTAMP_CHECK_WINDOW,
        });
    }
    Ok(())
}

/// The future rule: at most [`FUTURE_TIME_LIMIT`] ahead of `now` (Unix seconds, from the
/// caller's clock).
pub fn check_future(timestamp: u64, now: u64) -> Result<(), TimestampError> {
    if timestamp > now.saturating_add(FUTURE_TIME_LIMIT) {
        return Err(TimestampError::TooFarInFuture {
            timestamp,
            now,
            limit: FUTURE_TIME_LIMIT,
        });
    }
    Ok(())
}

/// The timestamps of a chain's last [`TIMESTAMP_CHECK_WINDOW`] blocks (genesis included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimestampWindow {
    timestamps: VecDeque<u64>,
}

impl TimestampWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// From the chain's last blocks' timestamps, oldest first (only the last 60 are kept).
    pub fn from_timestamps(timestamps: impl IntoIterator<Item = u64>) -> Self {
        let mut window = Self::new();
        for t in timestamps {
            window.push(t);
        }
        window
    }

    /// Records the block added on top.
    pub fn push(&mut self, timestamp: u64) {
        self.timestamps.push_back(timestamp);
        while self.timestamps.len() > TIMESTAMP_CHECK_WINDOW {
            self.timestamps.pop_front();
        }
    }

    /// Number of timestamps held (at most 60).
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether no timestamp is held.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The median the next block must reach, once the chain has 60 blocks.
    pub fn median(&self) -> Option<u64> {
        if self.timestamps.len() < TIMESTAMP_CHECK_WINDOW {
            return None;
        }
        let values: Vec<u64> = self.timestamps.iter().copied().collect();
        Some(median(&values))
    }

    /// Both rules for a block on top of this chain; `now` is the local clock, or `None` to
    /// skip the future rule (blocks already in the chain, or alternative blocks).
    pub fn check(&self, timestamp: u64, now: Option<u64>) -> Result<(), TimestampError> {
        if let Some(now) = now {
            check_future(timestamp, now)?;
        }
        if let Some(median) = self.median()
            && timestamp < median
        {
            return Err(TimestampError::BelowMedian {
                timestamp,
                median,
                window: TIMESTAMP_CHECK_WINDOW,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    #[test]
    fn epee_median() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5]), 5);
        assert_eq!(median(&[3, 1, 2]), 2);
        assert_eq!(median(&[4, 1, 3, 2]), 2); // (2 + 3) / 2 rounds down
        assert_eq!(median(&[u64::MAX, u64::MAX - 1]), u64::MAX - 1);
    }

    #[test]
    fn no_median_check_below_60_blocks() {
        let ts: Vec<u64> = (0..59).map(|i| 1_000 + i).collect();
        check_median(0, &ts).unwrap();
        let window = TimestampWindow::from_timestamps(ts);
        assert_eq!(window.median(), None);
        window.check(0, None).unwrap();
    }

    #[test]
    fn median_of_the_last_60() {
        let ts: Vec<u64> = (0..100).map(|i| 1_000 + 10 * i).collect();
        // Last 60: 1400..=1990 step 10, median = (1690 + 1700) / 2 = 1695.
        assert_eq!(
            check_median(1_694, &ts),
            Err(TimestampError::BelowMedian {
                timestamp: 1_694,
                median: 1_695,
                window: 60
            })
        );
        check_median(1_695, &ts).unwrap();
        let window = TimestampWindow::from_timestamps(ts);
        assert_eq!(window.len(), 60);
        assert_eq!(window.median(), Some(1_695));
        assert!(window.check(1_694, None).is_err());
        window.check(1_695, None).unwrap();
    }

    #[test]
    fn two_hours_ahead_is_the_limit() {
        check_future(10_000 + 7_200, 10_000).unwrap();
        assert_eq!(
            check_future(10_000 + 7_201, 10_000),
            Err(TimestampError::TooFarInFuture {
                timestamp: 17_201,
                now: 10_000,
                limit: 7_200
            })
        );
        check_future(u64::MAX, u64::MAX - 5).unwrap();
        let window = TimestampWindow::new();
        assert!(window.check(20_000, Some(10_000)).is_err());
        window.check(20_000, None).unwrap();
    }
}
