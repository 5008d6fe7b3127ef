//! The difficulty of the next block.
//!
//! # The rule (monerod 0.18, `src/cryptonote_basic/difficulty.cpp` `next_difficulty` and
//! `Blockchain::get_difficulty_for_next_block`)
//!
//! - The window is the last [`DIFFICULTY_BLOCKS_COUNT`] (735) blocks below the new one,
//!   genesis excluded, as `(timestamp, cumulative difficulty)` pairs, oldest first.
//! - The newest [`DIFFICULTY_LAG`] (15) of them are dropped: only the oldest
//!   [`DIFFICULTY_WINDOW`] (720) count.
//! - With at most one block the difficulty is 1.
//! - Timestamps are sorted (the cumulative difficulties keep chain order). If more than 600
//!   remain, [`DIFFICULTY_CUT`] (60) are cut from each end: the 600 kept start at
//!   `(len - 600 + 1) / 2`.
//! - `difficulty = ceil((cum[last] - cum[first]) * target / max(1, ts[last] - ts[first]))`
//!   over the kept range, in 256-bit arithmetic; a result above `u128::MAX` is 0, which
//!   monerod reports as "difficulty overhead" and refuses the block.
//! - The target is 60 s while the chain's current version is 1, 120 s after
//!   ([`HardFork::target_seconds`]).
//! - `--fixed-difficulty N` (regtest) replaces all of this: N for every block but genesis,
//!   which has 1.

use std::collections::VecDeque;

use thiserror::Error;

use crate::hardfork::HardFork;

/// Blocks whose timestamps and cumulative difficulties are used (`DIFFICULTY_WINDOW`).
pub const DIFFICULTY_WINDOW: usize = 720;
/// Newest blocks left out of the window (`DIFFICULTY_LAG`).
pub const DIFFICULTY_LAG: usize = 15;
/// Timestamps cut from each end of the sorted window (`DIFFICULTY_CUT`).
pub const DIFFICULTY_CUT: usize = 60;
/// Blocks a node keeps for the computation (`DIFFICULTY_BLOCKS_COUNT` = window + lag).
pub const DIFFICULTY_BLOCKS_COUNT: usize = DIFFICULTY_WINDOW + DIFFICULTY_LAG;

/// The difficulty computation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DifficultyError {
    /// The inputs have different lengths.
    #[error("{timestamps} timestamps but {difficulties} cumulative difficulties")]
    LengthMismatch {
        /// Number of timestamps.
        timestamps: usize,
        /// Number of cumulative difficulties.
        difficulties: usize,
    },
    /// A cumulative difficulty is below an older one (the inputs are not a chain).
    #[error("cumulative difficulty decreases inside the window ({first} then {last})")]
    NotCumulative {
        /// The older value.
        first: u128,
        /// The newer value.
        last: u128,
    },
    /// The result does not fit in 128 bits (monerod: "difficulty overhead").
    #[error("next difficulty overflows 128 bits")]
    Overflow,
    /// The result is 0 (monerod: "difficulty overhead").
    #[error("next difficulty is 0")]
    Zero,
}

/// The next difficulty from the window's timestamps and cumulative difficulties (oldest first,
/// as monerod passes them: up to [`DIFFICULTY_BLOCKS_COUNT`], only the first
/// [`DIFFICULTY_WINDOW`] are used).
///
/// ```
/// use umbra_consensus::difficulty::next_difficulty;
///
/// // Ten blocks of difficulty 100, two minutes apart: the difficulty stays 100.
/// let timestamps: Vec<u64> = (0..10).map(|i| 1_000 + 120 * i).collect();
/// let cumulative: Vec<u128> = (1..=10).map(|i| 100 * i).collect();
/// assert_eq!(next_difficulty(&timestamps, &cumulative, 120).unwrap(), 100);
/// ```
pub fn next_difficulty(
    timestamps: &[u64],
    cumulative_difficulties: &[u128],
    target_seconds: u64,
) -> Result<u128, DifficultyError> {
    if timestamps.len() != cumulative_difficulties.len() {
        return Err(DifficultyError::LengthMismatch {
            timestamps: timestamps.len(),
            difficulties: cumulative_difficulties.len(),
        });
    }
    let length = timestamps.len().min(DIFFICULTY_WINDOW);
    let (Some(timestamps), Some(cumulative)) = (
        timestamps.get(..length),
        cumulative_difficulties.get(..length),
    ) else {
        return Err(DifficultyError::Overflow);
    };
    if length <= 1 {
        return Ok(1);
    }
    let mut sorted = timestamps.to_vec();
    sorted.sort_unstable();

    let kept = DIFFICULTY_WINDOW - 2 * DIFFICULTY_CUT;
    let (cut_begin, cut_end) = if length <= kept {
        (0, length)
    } else {
        let begin = (length - kept).div_ceil(2);
        (begin, begin + kept)
    };
    let last = cut_end - 1;
    let (Some(&ts_first), Some(&ts_last), Some(&cum_first), Some(&cum_last)) = (
        sorted.get(cut_begin),
        sorted.get(last),
        cumulative.get(cut_begin),
        cumulative.get(last),
    ) else {
        return Err(DifficultyError::Overflow);
    };
    let time_span = ts_last.saturating_sub(ts_first).max(1);
    let total_work = cum_last
        .checked_sub(cum_first)
        .ok_or(DifficultyError::NotCumulative {
            first: cum_first,
            last: cum_last,
        })?;

    // ceil(total_work * target / time_span) in 256 bits.
    let product = U256::mul_u128_u64(total_work, target_seconds);
    let rounded = product.add_u64(time_span - 1);
    let quotient = rounded.div_u64(time_span);
    let difficulty = quotient.to_u128().ok_or(DifficultyError::Overflow)?;
    if difficulty == 0 {
        return Err(DifficultyError::Zero);
    }
    Ok(difficulty)
}

/// The difficulty window of a chain: the `(timestamp, cumulative difficulty)` of its last
/// [`DIFFICULTY_BLOCKS_COUNT`] blocks, genesis excluded.
///
/// It holds at most 735 entries; feed it every block added ([`DifficultyWindow::push`]),
/// build it again after a reorg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DifficultyWindow {
    timestamps: VecDeque<u64>,
    cumulative: VecDeque<u128>,
}

impl DifficultyWindow {
    /// An empty window (a chain of only its genesis block, or none).
    pub fn new() -> Self {
        Self::default()
    }

    /// A window from the chain's last blocks `(timestamp, cumulative difficulty)`, oldest
    /// first, genesis excluded; only the last [`DIFFICULTY_BLOCKS_COUNT`] are kept.
    pub fn from_blocks(blocks: impl IntoIterator<Item = (u64, u128)>) -> Self {
        let mut window = Self::new();
        for (timestamp, cumulative) in blocks {
            window.push(timestamp, cumulative);
        }
        window
    }

    /// Records the block added on top (not genesis).
    pub fn push(&mut self, timestamp: u64, cumulative_difficulty: u128) {
        self.timestamps.push_back(timestamp);
        self.cumulative.push_back(cumulative_difficulty);
        while self.timestamps.len() > DIFFICULTY_BLOCKS_COUNT {
            self.timestamps.pop_front();
            self.cumulative.pop_front();
        }
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The difficulty of the next block for a chain whose current version is `current`.
    pub fn next_difficulty(&self, current: HardFork) -> Result<u128, DifficultyError> {
        let timestamps: Vec<u64> = self.timestamps.iter().copied().collect();
        let cumulative: Vec<u128> = self.cumulative.iter().copied().collect();
        next_difficulty(&timestamps, &cumulative, current.target_seconds())
    }
}

/// A 256-bit unsigned integer as four little-endian 64-bit limbs (just what the difficulty
/// and proof-of-work rules need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct U256(pub(crate) [u64; 4]);

impl U256 {
    /// From 32 little-endian bytes.
    pub(crate) fn from_le_bytes(bytes: &[u8; 32]) -> Self {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(word);
        }
        Self(limbs)
    }

    fn mul_u128_u64(a: u128, b: u64) -> Self {
        let low = (a as u64 as u128) * u128::from(b);
        let high = (a >> 64) * u128::from(b);
        // low fits in 128 bits, high in 128 bits shifted by 64.
        let l0 = low as u64;
        let carry = low >> 64;
        // high <= (2^64 - 1)^2 and carry < 2^64, so the sum stays below 2^128.
        let mid = high + carry;
        Self([l0, mid as u64, (mid >> 64) as u64, 0])
    }

    fn add_u64(self, b: u64) -> Self {
        let mut limbs = self.0;
        let mut carry = u128::from(b);
        for limb in &mut limbs {
            let sum = u128::from(*limb) + carry;
            *limb = sum as u64;
            carry = sum >> 64;
        }
        Self(limbs)
    }

    fn div_u64(self, d: u64) -> Self {
        let mut limbs = self.0;
        let mut remainder: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let current = (remainder << 64) | u128::from(*limb);
            *limb = (current / u128::from(d)) as u64;
            remainder = current % u128::from(d);
        }
        Self(limbs)
    }

    fn to_u128(self) -> Option<u128> {
        let [l0, l1, l2, l3] = self.0;
        if l2 != 0 || l3 != 0 {
            return None;
        }
        Some((u128::from(l1) << 64) | u128::from(l0))
    }

    /// `self * d < 2^256`.
    pub(crate) fn mul_fits(self, d: u128) -> bool {
        // Schoolbook multiplication by the two 64-bit halves of `d`; any carry out of the
        // fourth limb means the product reaches 2^256.
        let d_lo = d as u64;
        let d_hi = (d >> 64) as u64;
        let mut out = [0u128; 6];
        for (i, &limb) in self.0.iter().enumerate() {
            let p_lo = u128::from(limb) * u128::from(d_lo);
            let p_hi = u128::from(limb) * u128::from(d_hi);
            if let Some(slot) = out.get_mut(i) {
                *slot += p_lo & u128::from(u64::MAX);
            }
            if let Some(slot) = out.get_mut(i + 1) {
                *slot += (p_lo >> 64) + (p_hi & u128::from(u64::MAX));
            }
            if let Some(slot) = out.get_mut(i + 2) {
                *slot += p_hi >> 64;
            }
        }
        // Propagate carries.
        let mut carry = 0u128;
        for slot in &mut out {
            let value = *slot + carry;
            *slot = value & u128::from(u64::MAX);
            carry = value >> 64;
        }
        carry == 0 && out.get(4).copied().unwrap_or(0) == 0 && out.get(5).copied().unwrap_or(0) == 0
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

    /// Monero's own vectors (`tests/difficulty/data.txt`, Debian `monero-tests`): one line per
    /// block, `timestamp difficulty`; the difficulty of block `n` is computed from the blocks
    /// before it as monerod's `tests/difficulty/difficulty.cpp` does (window of the oldest 720
    /// of the last 735, target 120).
    #[test]
    fn monero_difficulty_vectors() {
        let path = "/usr/share/monero/testdata/difficulty/data.txt";
        let Ok(data) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} not found (Debian package monero-tests)");
            return;
        };
        let mut timestamps = Vec::new();
        let mut cumulative = Vec::new();
        let mut total: u128 = 0;
        let mut checked = 0;
        for (n, line) in data.lines().enumerate() {
            let mut fields = line.split_whitespace();
            let timestamp: u64 = fields.next().unwrap().parse().unwrap();
            let expected: u128 = fields.next().unwrap().parse().unwrap();
            let (begin, end) = if n < DIFFICULTY_BLOCKS_COUNT {
                (0, n.min(DIFFICULTY_WINDOW))
            } else {
                (n - DIFFICULTY_BLOCKS_COUNT, n - DIFFICULTY_LAG)
            };
            let got =
                next_difficulty(&timestamps[begin..end], &cumulative[begin..end], 120).unwrap();
            assert_eq!(got, expected, "block {n}");
            // The same through the window type (which takes the 735 and drops the lag).
            if n >= 1 {
                let window = DifficultyWindow::from_blocks(
                    timestamps.iter().copied().zip(cumulative.iter().copied()),
                );
                assert_eq!(
                    window.next_difficulty(HardFork::V2).unwrap(),
                    expected,
                    "block {n}"
                );
            }
            timestamps.push(timestamp);
            total += expected;
            cumulative.push(total);
            checked += 1;
        }
        assert_eq!(checked, 1000);
    }

    #[test]
    fn tiny_windows_give_one() {
        assert_eq!(next_difficulty(&[], &[], 120).unwrap(), 1);
        assert_eq!(next_difficulty(&[5], &[7], 120).unwrap(), 1);
    }

    #[test]
    fn equal_timestamps_count_as_one_second() {
        // Two blocks in the same second: span 1, work 10 -> 10 * 120.
        assert_eq!(next_difficulty(&[100, 100], &[10, 20], 120).unwrap(), 1200);
    }

    #[test]
    fn rounds_up() {
        // work 10, target 120, span 7: 1200 / 7 = 171.43 -> 172.
        assert_eq!(next_difficulty(&[0, 7], &[10, 20], 120).unwrap(), 172);
    }

    #[test]
    fn mismatched_and_decreasing_inputs_are_errors() {
        assert!(matches!(
            next_difficulty(&[1, 2], &[1], 120),
            Err(DifficultyError::LengthMismatch { .. })
        ));
        assert!(matches!(
            next_difficulty(&[1, 2], &[20, 10], 120),
            Err(DifficultyError::NotCumulative { .. })
        ));
    }

    #[test]
    fn overflow_past_128_bits_is_refused() {
        let got = next_difficulty(&[0, 1], &[0, u128::MAX], 120);
        assert_eq!(got, Err(DifficultyError::Overflow));
        // Just fits: u128::MAX work over 120 s at target 120.
        assert_eq!(
            next_difficulty(&[0, 120], &[0, u128::MAX], 120).unwrap(),
            u128::MAX
        );
    }

    #[test]
    fn cut_keeps_600_from_the_middle() {
        // 720 blocks; the 60 earliest and 60 latest timestamps are outliers that must be cut.
        let mut timestamps: Vec<u64> = (0..720).map(|i| 1_000_000 + 120 * i).collect();
        for t in timestamps.iter_mut().take(60) {
            *t = 0;
        }
        for t in timestamps.iter_mut().skip(660) {
            *t = u64::MAX / 2;
        }
        let cumulative: Vec<u128> = (1..=720).map(|i| 1000 * i).collect();
        // Kept: sorted[60..660] = blocks 60..659, span 599 * 120, work = cum[659] - cum[60].
        let d = next_difficulty(&timestamps, &cumulative, 120).unwrap();
        assert_eq!(d, 1000);
    }

    #[test]
    fn window_drops_the_lag_and_genesis_is_callers_business() {
        let mut window = DifficultyWindow::new();
        for i in 1..=800u64 {
            window.push(120 * i, u128::from(i) * 50);
        }
        assert_eq!(window.len(), DIFFICULTY_BLOCKS_COUNT);
        assert_eq!(window.next_difficulty(HardFork::V16).unwrap(), 50);
        assert_eq!(window.next_difficulty(HardFork::V1).unwrap(), 25);
    }

    #[test]
    fn u256_mul_fits() {
        let one = U256([1, 0, 0, 0]);
        assert!(one.mul_fits(u128::MAX));
        let top = U256([0, 0, 0, 1 << 63]);
        assert!(top.mul_fits(1));
        assert!(!top.mul_fits(2));
        let max = U256([u64::MAX; 4]);
        assert!(max.mul_fits(1));
        assert!(!max.mul_fits(2));
        let almost = U256([0, 0, 0, 1]); // 2^192
        assert!(almost.mul_fits(u128::from(u64::MAX)));
        assert!(!almost.mul_fits(1u128 << 64));
    }
}
