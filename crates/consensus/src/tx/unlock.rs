//! When an output may be spent: its unlock time, the coinbase window, the spendable age.

use crate::HardFork;

/// Unlock times below this are block heights, from it on Unix times
/// (`CRYPTONOTE_MAX_BLOCK_NUMBER`).
pub const MAX_BLOCK_NUMBER: u64 = 500_000_000;

/// Blocks after which a coinbase output may be spent (`CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`).
pub const COINBASE_UNLOCK_WINDOW: u64 = 60;

/// The age in blocks wallets wait before spending an output, and the minimum age of ring
/// members this crate applies by default (`CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE`).
///
/// monerod 0.18 does not enforce it on blocks: there a ring member only has to be in an
/// earlier block (age 1); monerod's development branch enforces 10 from a future fork.
pub const DEFAULT_SPENDABLE_AGE: u64 = 10;

/// The minimum age in blocks of a ring member in a block, as monerod 0.18 enforces it: the
/// member's output is in an earlier block. [`Context::new`](super::Context::new) uses it, so
/// the node accepts exactly the blocks monerod accepts; a transaction pool may ask for
/// [`DEFAULT_SPENDABLE_AGE`] as policy.
pub const BLOCK_MIN_RING_MEMBER_AGE: u64 = 1;

/// The number of recent blocks whose timestamps give the unlock reference time
/// (`BLOCKCHAIN_TIMESTAMP_CHECK_WINDOW`).
pub const TIMESTAMP_WINDOW: usize = 60;

/// The target block time from hard fork 2 (`DIFFICULTY_TARGET_V2`).
const BLOCK_TIME_V2: u64 = 120;
/// The target block time of hard fork 1 (`DIFFICULTY_TARGET_V1`).
const BLOCK_TIME_V1: u64 = 60;
/// The hard fork from which Unix-time unlocks are judged by block timestamps, not the clock
/// (`HF_VERSION_DETERMINISTIC_UNLOCK_TIME`).
const DETERMINISTIC_UNLOCK_TIME: HardFork = HardFork::V13;

/// Whether an output with this raw unlock time may be spent in the block at `chain_height`
/// (the number of blocks before it), with `time` the reference time from
/// [`reference_time`] (monerod's `is_tx_spendtime_unlocked`).
///
/// A height unlock passes one block early (`CRYPTONOTE_LOCKED_TX_ALLOWED_DELTA_BLOCKS`), a
/// time unlock one block time early (`…_DELTA_SECONDS`).
pub fn is_unlocked(unlock_time: u64, chain_height: u64, time: u64, hard_fork: HardFork) -> bool {
    if unlock_time < MAX_BLOCK_NUMBER {
        // top height + 1 block of leeway
        chain_height.saturating_sub(1).saturating_add(1) >= unlock_time
    } else {
        let leeway = if hard_fork < HardFork::V2 {
            BLOCK_TIME_V1
        } else {
            BLOCK_TIME_V2
        };
        time.saturating_add(leeway) >= unlock_time
    }
}

/// The time Unix-time unlocks are compared against for the block at `chain_height`.
///
/// From hard fork 13 it comes from the chain (monerod's `get_adjusted_time`): the median of
/// the last 60 timestamps moved forward by 61 half block times, but no later than the last
/// timestamp plus one block time. Before, and while the chain is shorter than 60 blocks, it
/// is the local clock `now`. `recent_timestamps` are the timestamps of the blocks just
/// before, oldest first (at least the last 60; extra older ones are ignored).
pub fn reference_time(hard_fork: HardFork, recent_timestamps: &[u64], now: u64) -> u64 {
    if hard_fork < DETERMINISTIC_UNLOCK_TIME || recent_timestamps.len() < TIMESTAMP_WINDOW {
        return now;
    }
    let window = recent_timestamps
        .get(recent_timestamps.len() - TIMESTAMP_WINDOW..)
        .unwrap_or(recent_timestamps);
    let mut sorted = window.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    let median = match (sorted.get(mid.wrapping_sub(1)), sorted.get(mid)) {
        // An even count: the mean of the two middle values, as epee's `median`.
        (Some(&a), Some(&b)) => {
            u64::try_from((u128::from(a) + u128::from(b)) / 2).unwrap_or(u64::MAX)
        }
        _ => 0,
    };
    let window_len = u64::try_from(TIMESTAMP_WINDOW).unwrap_or(u64::MAX);
    let projected_median = median.saturating_add((window_len + 1) * BLOCK_TIME_V2 / 2);
    let last = window
        .last()
        .copied()
        .unwrap_or(0)
        .saturating_add(BLOCK_TIME_V2);
    projected_median.min(last)
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
    fn height_unlocks_pass_one_block_early() {
        // Block at chain height 100 (top block 99) may spend outputs unlocking at 100.
        assert!(is_unlocked(100, 100, 0, HardFork::V16));
        assert!(!is_unlocked(101, 100, 0, HardFork::V16));
        assert!(is_unlocked(0, 100, 0, HardFork::V16));
        // A coinbase of block h unlocks at h + 60.
        assert!(is_unlocked(
            40 + COINBASE_UNLOCK_WINDOW,
            100,
            0,
            HardFork::V16
        ));
        assert!(!is_unlocked(
            41 + COINBASE_UNLOCK_WINDOW,
            100,
            0,
            HardFork::V16
        ));
    }

    #[test]
    fn time_unlocks_have_one_block_time_of_leeway() {
        let t = 1_600_000_000;
        assert!(is_unlocked(t + 120, 10, t, HardFork::V16));
        assert!(!is_unlocked(t + 121, 10, t, HardFork::V16));
        assert!(is_unlocked(t + 60, 10, t, HardFork::V1));
        assert!(!is_unlocked(t + 61, 10, t, HardFork::V1));
    }

    #[test]
    fn reference_time_is_clock_before_v13_and_chain_after() {
        let stamps: Vec<u64> = (0..60).map(|i| 1_000_000 + i * 120).collect();
        assert_eq!(reference_time(HardFork::V12, &stamps, 5), 5);
        assert_eq!(reference_time(HardFork::V16, &stamps[..59], 5), 5);
        // Median of 1_000_000 + 120·i, i < 60: mean of i = 29 and 30.
        let median = 1_000_000 + (29 * 120 + 30 * 120) / 2;
        let projected = median + 61 * 120 / 2;
        let last = 1_000_000 + 59 * 120 + 120;
        assert_eq!(
            reference_time(HardFork::V16, &stamps, 5),
            projected.min(last)
        );
        // A far-future last timestamp does not pull it forward.
        let mut skewed = stamps;
        skewed[59] = u64::MAX;
        assert_eq!(
            reference_time(HardFork::V16, &skewed, 5),
            median + 61 * 120 / 2
        );
    }
}
