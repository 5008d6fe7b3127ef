//! Rules for the transaction pool only (monerod applies them to transactions it relays, not
//! to transactions in blocks): extra size, weight and fee.

use super::{
    error::{Reason, TxError},
    semantic::{COINBASE_BLOB_RESERVED_SIZE, CheckedTx},
};
use crate::HardFork;

/// The largest `extra` field relayed (`MAX_TX_EXTRA_SIZE`).
pub const MAX_TX_EXTRA_SIZE: usize = 1060;

/// The hard fork from which fees are per byte and a transaction may weigh at most half the
/// minimum block weight (`HF_VERSION_PER_BYTE_FEE`).
const PER_BYTE_FEE: HardFork = HardFork::V8;

/// The smallest block weight limit of a hard fork (`get_min_block_weight`): the full-reward
/// zone.
fn min_block_weight(hard_fork: HardFork) -> u64 {
    if hard_fork < HardFork::V2 {
        20_000
    } else if hard_fork < HardFork::V5 {
        60_000
    } else {
        300_000
    }
}

/// The heaviest transaction the pool accepts (`get_transaction_weight_limit`): from hard fork
/// 8 half the minimum block weight, before the whole of it, less the coinbase reserve.
pub fn pool_max_tx_weight(hard_fork: HardFork) -> u64 {
    let zone = min_block_weight(hard_fork);
    let limit = if hard_fork >= PER_BYTE_FEE {
        zone / 2
    } else {
        zone
    };
    limit - COINBASE_BLOB_RESERVED_SIZE
}

/// The pool's fee level, from the block rules' dynamic fee (per byte, from hard fork 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// The base fee per byte of weight.
    pub fee_per_byte: u64,
    /// The fee is rounded up to a multiple of this (`get_fee_quantization_mask`, 10^4 on
    /// mainnet).
    pub quantization_mask: u64,
}

impl FeePolicy {
    /// The smallest fee the pool accepts for this weight: weight × fee per byte, rounded up
    /// to the quantization, less a 2 % tolerance (as monerod's `check_fee`).
    pub fn minimum_fee(&self, weight: u64) -> u64 {
        let needed = weight.saturating_mul(self.fee_per_byte);
        let mask = self.quantization_mask.max(1);
        let rounded = needed.div_ceil(mask).saturating_mul(mask);
        rounded - rounded / 50
    }
}

/// The pool's checks on a transaction that passed the semantic checks: extra size, weight
/// (at most [`pool_max_tx_weight`]) and, if a fee policy is given, the fee.
pub fn check_relay(tx: &CheckedTx, fee: Option<&FeePolicy>) -> Result<(), TxError> {
    let t = tx.tx().transaction();
    let extra = t.prefix().extra.len();
    let result = if extra > MAX_TX_EXTRA_SIZE {
        Err(Reason::ExtraTooLarge {
            size: extra,
            limit: MAX_TX_EXTRA_SIZE,
        })
    } else if tx.tx().weight() > pool_max_tx_weight(tx.hard_fork()) {
        Err(Reason::TooHeavy {
            weight: tx.tx().weight(),
            limit: pool_max_tx_weight(tx.hard_fork()),
        })
    } else if let Some(policy) = fee.filter(|_| tx.hard_fork() >= PER_BYTE_FEE) {
        let minimum = policy.minimum_fee(tx.tx().weight());
        if tx.fee() < minimum {
            Err(Reason::FeeTooLow {
                fee: tx.fee(),
                minimum,
            })
        } else {
            Ok(())
        }
    } else {
        Ok(())
    };
    result.map_err(|reason| tx.tx().error(reason))
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
    fn pool_weight_limits() {
        assert_eq!(pool_max_tx_weight(HardFork::V1), 19_400);
        assert_eq!(pool_max_tx_weight(HardFork::V4), 59_400);
        assert_eq!(pool_max_tx_weight(HardFork::V7), 299_400);
        assert_eq!(pool_max_tx_weight(HardFork::V16), 149_400);
    }

    #[test]
    fn minimum_fee_rounds_up_then_allows_two_percent() {
        let policy = FeePolicy {
            fee_per_byte: 20_000,
            quantization_mask: 10_000,
        };
        // 1500 × 20000 = 30,000,000 exactly; 2 % below.
        assert_eq!(policy.minimum_fee(1500), 30_000_000 - 600_000);
        let policy = FeePolicy {
            fee_per_byte: 3,
            quantization_mask: 10_000,
        };
        assert_eq!(policy.minimum_fee(1), 10_000 - 200);
    }
}
