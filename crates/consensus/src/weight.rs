//! Transaction and block weights, the long-term weight and the block-weight medians.
//!
//! # The rules (monerod 0.18)
//!
//! - **Transaction weight** (`get_transaction_weight`, `cryptonote_format_utils.cpp`): the
//!   serialized size, plus for RingCT types with Bulletproofs (types 3, 4, 5) or
//!   Bulletproofs+ (type 6) a *clawback*: with `n` = the proof's padded output count
//!   (`2^(L.len() - 6)` when the proof's vector sizes are consistent with its commitment
//!   count, else 0), `fields` = 9 for Bulletproofs and 6 for Bulletproofs+,
//!   `base = 32 * (fields + 14) / 2` and `size = 32 * (fields + 2 * (log2(n) + 6))`, the
//!   clawback is `(base * n - size) * 4 / 5` when `n > 2`, else 0.
//! - **Block weight**: the coinbase's weight plus the weights of the block's transactions.
//! - **Long-term weight** (`Blockchain::get_next_long_term_block_weight`): before version 10
//!   the block weight. From version 10, with `M` = max(300,000, median of the last 100,000
//!   blocks' long-term weights): `min(weight, M + 2M/5)`; from version 15 the weight is first
//!   raised to at least `M * 10 / 17` and capped at `M + 7M/10`.
//! - **Effective median** for the next block (`update_next_cumulative_weight_limit`):
//!   before version 10 the median of the last 100 block weights; from version 10
//!   `min(max(300,000, short), 50 M)`; from version 15 `min(max(M, short), 50 M)`; in every
//!   version at least the full-reward zone ([`full_reward_zone`]). The block weight limit is
//!   twice the effective median.
//! - The reward penalty uses the effective median from version 12; before it, the plain
//!   median of the last 100 block weights (see [`crate::reward`]).

use std::collections::VecDeque;

use monero_oxide::ringct::RctPrunable;
use monero_oxide::ringct::bulletproofs::Bulletproof;
use monero_oxide::transaction::Transaction;

use crate::hardfork::HardFork;
use crate::timestamp::median_of_sorted;

/// Blocks of the short-term median (`CRYPTONOTE_REWARD_BLOCKS_WINDOW`).
pub const SHORT_TERM_WINDOW: usize = 100;
/// Blocks of the long-term median (`CRYPTONOTE_LONG_TERM_BLOCK_WEIGHT_WINDOW_SIZE`).
pub const LONG_TERM_WINDOW: usize = 100_000;
/// How far the effective median may rise above the long-term median
/// (`CRYPTONOTE_SHORT_TERM_BLOCK_WEIGHT_SURGE_FACTOR`).
pub const SURGE_FACTOR: u64 = 50;
/// Full-reward zone before version 2 (`CRYPTONOTE_BLOCK_GRANTED_FULL_REWARD_ZONE_V1`).
pub const FULL_REWARD_ZONE_V1: u64 = 20_000;
/// Full-reward zone for versions 2 to 4 (`..._ZONE_V2`).
pub const FULL_REWARD_ZONE_V2: u64 = 60_000;
/// Full-reward zone from version 5 (`..._ZONE_V5`).
pub const FULL_REWARD_ZONE_V5: u64 = 300_000;

/// The full-reward zone (`get_min_block_weight`): the smallest median the reward and the
/// weight limit use.
pub const fn full_reward_zone(version: HardFork) -> u64 {
    match version {
        HardFork::V1 => FULL_REWARD_ZONE_V1,
        HardFork::V2 | HardFork::V3 | HardFork::V4 => FULL_REWARD_ZONE_V2,
        _ => FULL_REWARD_ZONE_V5,
    }
}

/// The weight of a whole (not pruned) transaction, serializing it to learn its size.
///
/// This is the weight blocks count and fees are paid on; the transaction verifier uses the
/// same function.
pub fn transaction_weight(tx: &Transaction) -> u64 {
    transaction_weight_with_blob_len(tx, tx.serialize().len())
}

/// The weight of a whole transaction whose serialized size is known (`blob_len`, the length
/// of the bytes it was parsed from).
pub fn transaction_weight_with_blob_len(tx: &Transaction, blob_len: usize) -> u64 {
    let blob = blob_len as u64;
    let Transaction::V2 {
        prefix,
        proofs: Some(proofs),
    } = tx
    else {
        return blob;
    };
    let (plus, bulletproof) = match &proofs.prunable {
        RctPrunable::MlsagBulletproofs { bulletproof, .. }
        | RctPrunable::MlsagBulletproofsCompactAmount { bulletproof, .. }
        | RctPrunable::Clsag { bulletproof, .. } => {
            (matches!(bulletproof, Bulletproof::Plus(_)), bulletproof)
        }
        RctPrunable::AggregateMlsagBorromean { .. } | RctPrunable::MlsagBorromean { .. } => {
            return blob;
        }
    };
    let padded = padded_outputs(bulletproof, prefix.outputs.len());
    blob.saturating_add(bulletproof_clawback(plus, padded))
}

/// The padded output count of a proof as monerod derives it (`n_bulletproof_max_amounts` /
/// `n_bulletproof_plus_max_amounts`): `2^(L - 6)` if `6 <= L <= 10`, `L == R` and the
/// commitment count (the outputs) is in `(2^(L-7), 2^(L-6)]`; else 0.
fn padded_outputs(bulletproof: &Bulletproof, commitments: usize) -> usize {
    // Both encodings start with 192 bytes of fixed fields, then `L` (a varint count, at most
    // 10, then points), then `R`.
    let bytes = bulletproof.serialize();
    let Some(&l_len) = bytes.get(192) else {
        return 0;
    };
    let l_len = usize::from(l_len);
    if !(6..=10).contains(&l_len) {
        return 0;
    }
    let Some(&r_len) = bytes.get(193 + 32 * l_len) else {
        return 0;
    };
    if usize::from(r_len) != l_len {
        return 0;
    }
    let max = 1usize << (l_len - 6);
    if commitments == 0 || commitments > max || commitments * 2 <= max {
        return 0;
    }
    max
}

/// The Bulletproof(+) weight clawback for a proof over `padded_outputs` (a power of two).
pub fn bulletproof_clawback(plus: bool, padded_outputs: usize) -> u64 {
    if padded_outputs <= 2 {
        return 0;
    }
    let fields: u64 = if plus { 6 } else { 9 };
    let base = 32 * (fields + 7 * 2) / 2;
    let mut log = 0u64;
    while (1usize << log) < padded_outputs {
        log += 1;
    }
    let size = 32 * (fields + 2 * (log + 6));
    let padded = padded_outputs as u64;
    (base * padded).saturating_sub(size) * 4 / 5
}

/// The long-term weight of a block of weight `block_weight` whose version is `version`, given
/// the median of the previous blocks' long-term weights (the last
/// min(100,000, height) of them).
pub fn long_term_block_weight(block_weight: u64, long_term_median: u64, version: HardFork) -> u64 {
    if version < HardFork::V10 {
        return block_weight;
    }
    let m = long_term_median.max(FULL_REWARD_ZONE_V5);
    let (weight, cap) = if version >= HardFork::V15 {
        (block_weight.max(m * 10 / 17), m + m * 7 / 10)
    } else {
        (block_weight, m + m * 2 / 5)
    };
    weight.min(cap)
}

/// The effective median for a block of version `version`, from the short-term median (last
/// 100 block weights) and the long-term median (last 100,000 long-term weights).
pub fn effective_median(short_term_median: u64, long_term_median: u64, version: HardFork) -> u64 {
    let median = if version < HardFork::V10 {
        short_term_median
    } else {
        let m = long_term_median.max(FULL_REWARD_ZONE_V5);
        let floor = if version >= HardFork::V15 {
            m
        } else {
            FULL_REWARD_ZONE_V5
        };
        short_term_median
            .max(floor)
            .min(SURGE_FACTOR.saturating_mul(m))
    };
    median.max(full_reward_zone(version))
}

/// A median over the last `capacity` values pushed, kept sorted so that a push costs a binary
/// search and a move of at most `capacity` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingMedian {
    capacity: usize,
    order: VecDeque<u64>,
    sorted: Vec<u64>,
}

impl RollingMedian {
    /// An empty median over at most `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    /// Adds a value, dropping the oldest when full.
    pub fn push(&mut self, value: u64) {
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
            && let Ok(pos) = self.sorted.binary_search(&old)
        {
            self.sorted.remove(pos);
        }
        self.order.push_back(value);
        let pos = self.sorted.partition_point(|&v| v < value);
        self.sorted.insert(pos, value);
    }

    /// epee's median of the values held (0 when empty).
    pub fn median(&self) -> u64 {
        median_of_sorted(&self.sorted)
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The block-weight state of a chain: the last 100 block weights and the last 100,000
/// long-term weights (genesis included). About 1.6 MB when full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightWindows {
    short_term: RollingMedian,
    long_term: RollingMedian,
}

impl Default for WeightWindows {
    fn default() -> Self {
        Self::new()
    }
}

impl WeightWindows {
    /// Empty windows.
    pub fn new() -> Self {
        Self {
            short_term: RollingMedian::new(SHORT_TERM_WINDOW),
            long_term: RollingMedian::new(LONG_TERM_WINDOW),
        }
    }

    /// From the chain's last blocks' `(weight, long-term weight)`, oldest first; pass at
    /// least the last 100,000 (or all, for a shorter chain).
    pub fn from_blocks(blocks: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut windows = Self::new();
        for (weight, long_term_weight) in blocks {
            windows.push(weight, long_term_weight);
        }
        windows
    }

    /// Records the block added on top.
    pub fn push(&mut self, weight: u64, long_term_weight: u64) {
        self.short_term.push(weight);
        self.long_term.push(long_term_weight);
    }

    /// Median of the last 100 block weights.
    pub fn short_term_median(&self) -> u64 {
        self.short_term.median()
    }

    /// Median of the last 100,000 long-term weights.
    pub fn long_term_median(&self) -> u64 {
        self.long_term.median()
    }

    /// The effective median for the next block, of version `version`.
    pub fn effective_median(&self, version: HardFork) -> u64 {
        effective_median(self.short_term_median(), self.long_term_median(), version)
    }

    /// The largest weight the next block may have: twice the effective median.
    pub fn max_block_weight(&self, version: HardFork) -> u64 {
        self.effective_median(version).saturating_mul(2)
    }

    /// The median the reward penalty uses for the next block: the effective median from
    /// version 12, the plain short-term median before.
    pub fn penalty_median(&self, version: HardFork) -> u64 {
        if version >= HardFork::V12 {
            self.effective_median(version)
        } else {
            self.short_term_median()
        }
    }

    /// The long-term weight of the next block, of weight `weight` and version `version`.
    pub fn next_long_term_weight(&self, weight: u64, version: HardFork) -> u64 {
        long_term_block_weight(weight, self.long_term_median(), version)
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

    fn mainnet_tx(hash: &str) -> Vec<u8> {
        std::fs::read(format!(
            "/work/shared/testdata/monero/mainnet/tx/{hash}.bin"
        ))
        .unwrap()
    }

    #[test]
    fn clawback_matches_monerod_formula() {
        // 2 outputs: nothing.
        assert_eq!(bulletproof_clawback(true, 2), 0);
        // BP+ over 16: base = 32*20/2 = 320, size = 32*(6 + 2*10) = 832,
        // (320*16 - 832) * 4/5 = 3430.
        assert_eq!(bulletproof_clawback(true, 16), 3430);
        // BP over 4: base = 32*23/2 = 368, size = 32*(9+16) = 800, (1472-800)*4/5 = 537.
        assert_eq!(bulletproof_clawback(false, 4), 537);
        // Agrees with monero-oxide's formula for every output count a proof can cover.
        for n in 1usize..=16 {
            let padded = n.next_power_of_two();
            for plus in [false, true] {
                let (oxide, _) = Bulletproof::calculate_clawback(plus, n);
                assert_eq!(
                    bulletproof_clawback(plus, padded),
                    oxide as u64,
                    "n={n} plus={plus}"
                );
            }
        }
    }

    #[test]
    fn mainnet_transaction_weights() {
        // Blocks 1731606 (3 RingCT txs) and 202609 (2 v1 txs), blocks.json.
        for hash in [
            "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee",
            "e57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474",
            "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169",
            "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3",
            "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df",
            "84d48dc11ec91950f8b70a85af9db91fe0c8abef71ef5db08304f7344b99ea66",
            "9e3f73e66d7c7293af59c59c1ff5d6aae047289f49e5884c66caaf4aea49fb34",
            "3bc7ff015b227e7313cc2e8668bfbb3f3acbee274a9c201d6211cf681b5f6bb1",
        ] {
            let blob = mainnet_tx(hash);
            let tx = Transaction::read(&mut blob.as_slice()).unwrap();
            let weight = transaction_weight_with_blob_len(&tx, blob.len());
            assert_eq!(weight, transaction_weight(&tx));
            // monero-oxide's own weight agrees on every real transaction.
            assert_eq!(weight, tx.weight() as u64, "{hash}");
            // Two-output transactions have no clawback.
            if tx.prefix().outputs.len() <= 2 {
                assert_eq!(weight, blob.len() as u64, "{hash}");
            }
        }
    }

    #[test]
    fn long_term_weight_by_version() {
        // Before v10: the weight itself.
        assert_eq!(
            long_term_block_weight(1_000_000, 0, HardFork::V9),
            1_000_000
        );
        // v10..v14: capped at 1.4 M.
        assert_eq!(long_term_block_weight(1_000_000, 0, HardFork::V10), 420_000);
        assert_eq!(long_term_block_weight(100, 0, HardFork::V14), 100);
        // v15+: raised to M/1.7, capped at 1.7 M (block 2751506 of blocks.json: 106 -> 176470).
        assert_eq!(long_term_block_weight(106, 0, HardFork::V16), 176_470);
        assert_eq!(long_term_block_weight(106, 300_000, HardFork::V16), 176_470);
        assert_eq!(
            long_term_block_weight(1_000_000, 300_000, HardFork::V16),
            510_000
        );
        assert_eq!(
            long_term_block_weight(400_000, 400_000, HardFork::V15),
            400_000
        );
    }

    #[test]
    fn effective_median_by_version() {
        assert_eq!(effective_median(10, 0, HardFork::V1), 20_000);
        assert_eq!(effective_median(10, 0, HardFork::V4), 60_000);
        assert_eq!(effective_median(70_000, 0, HardFork::V4), 70_000);
        assert_eq!(effective_median(10, 0, HardFork::V9), 300_000);
        // v10..14: short term bounded by 50 * M.
        assert_eq!(effective_median(20_000_000, 0, HardFork::V12), 15_000_000);
        assert_eq!(effective_median(500_000, 0, HardFork::V12), 500_000);
        // v15+: at least M.
        assert_eq!(effective_median(10, 400_000, HardFork::V16), 400_000);
        assert_eq!(effective_median(10, 400_000, HardFork::V14), 300_000);
    }

    #[test]
    fn rolling_median_matches_sorting() {
        let mut rolling = RollingMedian::new(7);
        let mut all = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = x >> 54;
            rolling.push(v);
            all.push(v);
            let start = all.len().saturating_sub(7);
            assert_eq!(rolling.median(), crate::timestamp::median(&all[start..]));
            assert!(rolling.len() <= 7);
        }
    }

    #[test]
    fn windows_give_limits() {
        let mut windows = WeightWindows::new();
        for _ in 0..150 {
            windows.push(1_000_000, 400_000);
        }
        assert_eq!(windows.short_term_median(), 1_000_000);
        assert_eq!(windows.long_term_median(), 400_000);
        assert_eq!(windows.effective_median(HardFork::V16), 1_000_000);
        assert_eq!(windows.max_block_weight(HardFork::V16), 2_000_000);
        assert_eq!(windows.penalty_median(HardFork::V11), 1_000_000);
        assert_eq!(
            windows.next_long_term_weight(1_000_000, HardFork::V16),
            680_000
        );
    }
}
