//! The block reward and the coinbase (miner) transaction rules.
//!
//! # Emission (monerod 0.18, `get_block_reward` in `cryptonote_basic_impl.cpp`)
//!
//! - `MONEY_SUPPLY` is `2^64 - 1` atomic units. With `t` the target in minutes (1 for
//!   version 1, 2 after), the base reward is `(MONEY_SUPPLY - already_generated_coins) >>
//!   (20 - (t - 1))`, at least the tail emission `FINAL_SUBSIDY_PER_MINUTE * t` (0.3 XMR per
//!   minute: 0.6 XMR per 2-minute block).
//! - The median `M` is raised to the full-reward zone; a block of weight `W <= M` gets the
//!   whole base reward, `W > 2M` is refused, and in between the reward is
//!   `base * (2M - W) * W / M / M` (128-bit product, two integer divisions).
//!
//! # The coinbase (`prevalidate_miner_transaction`, `validate_miner_transaction`,
//! `check_output_types`)
//!
//! - exactly one input, a generation input whose height is the block's height;
//! - from version 12 the transaction is version 2, and a version-2 coinbase carries no
//!   RingCT signatures (type null);
//! - `unlock_time` is exactly `height + 60` (`CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`);
//! - the output amounts do not overflow 64 bits when summed;
//! - output types: plain keys before version 15, tagged keys (view tags) after, either in
//!   version 15 but all the same;
//! - in version 3 only, every output amount is a "decomposed" amount (one significant
//!   digit; this also forbids 0);
//! - the outputs sum to at most reward + fees; before version 2 and from version 13 exactly
//!   (from 2 to 12 a miner may claim less, and the coins not claimed are never generated);
//! - there is no consensus limit on the coinbase `extra` in 0.18 (the 1,060-byte limit
//!   arrives with version 17); the block weight bounds it.

use monero_oxide::transaction::{Input, Output, Timelock, Transaction};
use thiserror::Error;
use tracing::debug;

use crate::hardfork::HardFork;
use crate::weight::full_reward_zone;

/// All coins that will ever be emitted before the tail (`MONEY_SUPPLY`).
pub const MONEY_SUPPLY: u64 = u64::MAX;
/// Tail emission per minute of target (`FINAL_SUBSIDY_PER_MINUTE`): 0.3 XMR.
pub const FINAL_SUBSIDY_PER_MINUTE: u64 = 300_000_000_000;
/// `EMISSION_SPEED_FACTOR_PER_MINUTE`.
pub const EMISSION_SPEED_FACTOR_PER_MINUTE: u64 = 20;
/// Blocks a coinbase output stays locked (`CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`).
pub const MINED_MONEY_UNLOCK_WINDOW: u64 = 60;

/// The reward computation refused the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RewardError {
    /// The block is heavier than twice the median.
    #[error("block weight {weight} is above twice the median {median}")]
    BlockTooHeavy {
        /// The block's weight.
        weight: u64,
        /// The median used (after raising it to the full-reward zone).
        median: u64,
    },
}

/// The base reward before any penalty.
pub fn base_reward(already_generated_coins: u64, version: HardFork) -> u64 {
    let target_minutes = version.target_seconds() / 60;
    let speed_factor = EMISSION_SPEED_FACTOR_PER_MINUTE - (target_minutes - 1);
    let reward = (MONEY_SUPPLY - already_generated_coins) >> speed_factor;
    reward.max(FINAL_SUBSIDY_PER_MINUTE * target_minutes)
}

/// The reward for a block of weight `block_weight` given the median (monerod's
/// `get_block_reward`).
///
/// ```
/// use umbra_consensus::{HardFork, reward::block_reward};
///
/// // The tail emission: 0.6 XMR for a light block.
/// assert_eq!(block_reward(300_000, 100, u64::MAX - 1, HardFork::V16).unwrap(), 600_000_000_000);
/// ```
pub fn block_reward(
    median_weight: u64,
    block_weight: u64,
    already_generated_coins: u64,
    version: HardFork,
) -> Result<u64, RewardError> {
    let base = base_reward(already_generated_coins, version);
    let median = median_weight.max(full_reward_zone(version));
    if block_weight <= median {
        return Ok(base);
    }
    if u128::from(block_weight) > 2 * u128::from(median) {
        return Err(RewardError::BlockTooHeavy {
            weight: block_weight,
            median,
        });
    }
    // (2M - W) * W < 2^128 since both are below 2^64.
    let multiplicand =
        (2 * u128::from(median) - u128::from(block_weight)) * u128::from(block_weight);
    let median = u128::from(median);
    // base * multiplicand may exceed 128 bits; divide in two steps as monerod does
    // (floor(floor(x / M) / M) == floor(x / M^2)), computing x / M exactly in 192 bits.
    let reward = mul_div_div(u128::from(base), multiplicand, median);
    Ok(reward as u64)
}

/// floor(a * b / m / m) for a < 2^64, b < 2^128, m > 0, with the result below 2^64.
fn mul_div_div(a: u128, b: u128, m: u128) -> u128 {
    // a * b as (hi, lo) 128-bit halves.
    let b_lo = b & u128::from(u64::MAX);
    let b_hi = b >> 64;
    let p_lo = a * b_lo; // < 2^128
    let p_hi = a * b_hi; // < 2^128
    let lo = p_lo.wrapping_add(p_hi << 64);
    let carry = u128::from(lo < p_lo);
    let hi = (p_hi >> 64) + carry;
    // Long division of (hi, lo) by m twice, 64 bits at a time.
    let once = div_256_by_128(hi, lo, m);
    div_256_by_128(once.0, once.1, m).1
}

/// (hi, lo) / d as (hi, lo), for d > 0, d < 2^64 * 2^64; bitwise long division.
fn div_256_by_128(hi: u128, lo: u128, d: u128) -> (u128, u128) {
    let mut q_hi = 0u128;
    let mut q_lo = 0u128;
    let mut r = 0u128;
    for i in (0..256).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let overflow = r >> 127;
        r = (r << 1) | bit;
        if overflow == 1 || r >= d {
            r = r.wrapping_sub(d);
            if i >= 128 {
                q_hi |= 1 << (i - 128);
            } else {
                q_lo |= 1 << i;
            }
        }
    }
    (q_hi, q_lo)
}

/// A coinbase transaction breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MinerTxError {
    /// Not exactly one input.
    #[error("coinbase has {inputs} inputs, expected one generation input")]
    InputCount {
        /// Number of inputs.
        inputs: usize,
    },
    /// The input is not a generation input.
    #[error("coinbase input is not a generation input")]
    NotGenerationInput,
    /// The generation input names another height.
    #[error("coinbase input height {found} is not the block height {expected}")]
    WrongHeight {
        /// Height in the input.
        found: u64,
        /// The block's height.
        expected: u64,
    },
    /// Version 1 coinbase from version 12 on.
    #[error("coinbase transaction version {tx_version} is not allowed in hard fork {hard_fork}")]
    WrongVersion {
        /// The transaction's version.
        tx_version: u8,
        /// The block's hard fork.
        hard_fork: u8,
    },
    /// A version-2 coinbase with RingCT signatures from version 12.
    #[error("coinbase carries RingCT signatures")]
    RingCtNotNull,
    /// The unlock time is not height + 60.
    #[error("coinbase unlock time {found} is not {expected} (height + 60)")]
    WrongUnlockTime {
        /// The unlock time found (0 for none, a timestamp as itself).
        found: u64,
        /// `height + 60`.
        expected: u64,
    },
    /// The output amounts overflow.
    #[error("coinbase output amounts overflow 64 bits")]
    AmountOverflow,
    /// An output of the wrong type for the hard fork.
    #[error("coinbase output {index} has {found} in hard fork {hard_fork} ({expected} expected)")]
    WrongOutputType {
        /// The output's position.
        index: usize,
        /// "a view tag" or "no view tag".
        found: &'static str,
        /// What the fork wants.
        expected: &'static str,
        /// The hard fork.
        hard_fork: u8,
    },
    /// In version 3, an amount that is not one digit followed by zeros.
    #[error("coinbase output {index} amount {amount} is not a decomposed amount (hard fork 3)")]
    NotDecomposed {
        /// The output's position.
        index: usize,
        /// Its amount.
        amount: u64,
    },
    /// More than reward + fees.
    #[error("coinbase pays {paid}, more than the reward {reward} + fees {fees}")]
    TooMuch {
        /// Sum of the outputs.
        paid: u64,
        /// Block reward after the penalty.
        reward: u64,
        /// Fees of the block's transactions.
        fees: u64,
    },
    /// Less than reward + fees where the exact amount is required.
    #[error(
        "coinbase pays {paid}, not exactly the reward {reward} + fees {fees} (hard fork {hard_fork})"
    )]
    NotExact {
        /// Sum of the outputs.
        paid: u64,
        /// Block reward after the penalty.
        reward: u64,
        /// Fees of the block's transactions.
        fees: u64,
        /// The hard fork.
        hard_fork: u8,
    },
    /// From version 2 to 12: the coinbase pays less than the fees alone.
    #[error("coinbase pays {paid}, less than the fees {fees}")]
    BelowFees {
        /// Sum of the outputs.
        paid: u64,
        /// Fees of the block's transactions.
        fees: u64,
    },
    /// The reward computation refused the block weight.
    #[error(transparent)]
    Reward(#[from] RewardError),
    /// The fees overflow when added to the reward.
    #[error("reward {reward} + fees {fees} overflows 64 bits")]
    FeeOverflow {
        /// Block reward after the penalty.
        reward: u64,
        /// Fees of the block's transactions.
        fees: u64,
    },
}

/// Whether `amount` is one non-zero digit followed by zeros (`is_valid_decomposed_amount`).
pub fn is_decomposed_amount(amount: u64) -> bool {
    if amount == 0 {
        return false;
    }
    let mut a = amount;
    while a.is_multiple_of(10) {
        a /= 10;
    }
    a < 10
}

/// The structural coinbase rules that do not depend on the reward
/// (`prevalidate_miner_transaction`).
pub fn prevalidate_miner_tx(
    tx: &Transaction,
    height: u64,
    version: HardFork,
) -> Result<(), MinerTxError> {
    let prefix = tx.prefix();
    if prefix.inputs.len() != 1 {
        return Err(MinerTxError::InputCount {
            inputs: prefix.inputs.len(),
        });
    }
    let Some(Input::Gen(input_height)) = prefix.inputs.first() else {
        return Err(MinerTxError::NotGenerationInput);
    };
    if tx.version() < 2 && version >= HardFork::V12 {
        return Err(MinerTxError::WrongVersion {
            tx_version: tx.version(),
            hard_fork: version.as_u8(),
        });
    }
    if version >= HardFork::V12
        && let Transaction::V2 {
            proofs: Some(_), ..
        } = tx
    {
        return Err(MinerTxError::RingCtNotNull);
    }
    let found_height = *input_height as u64;
    if found_height != height {
        return Err(MinerTxError::WrongHeight {
            found: found_height,
            expected: height,
        });
    }
    let expected_unlock = height.saturating_add(MINED_MONEY_UNLOCK_WINDOW);
    let found_unlock = match prefix.additional_timelock {
        Timelock::None => 0,
        Timelock::Block(block) => block as u64,
        Timelock::Time(time) => time,
    };
    if found_unlock != expected_unlock {
        return Err(MinerTxError::WrongUnlockTime {
            found: found_unlock,
            expected: expected_unlock,
        });
    }
    outputs_sum(&prefix.outputs)?;
    check_output_types(&prefix.outputs, version)
}

/// The sum of the coinbase's output amounts, refusing an overflow (`check_outs_overflow`).
pub fn outputs_sum(outputs: &[Output]) -> Result<u64, MinerTxError> {
    outputs.iter().try_fold(0u64, |sum, output| {
        sum.checked_add(output.amount.unwrap_or(0))
            .ok_or(MinerTxError::AmountOverflow)
    })
}

/// Output types by fork (`check_output_types`): no view tags before 15, view tags after,
/// either in 15 but all alike.
pub fn check_output_types(outputs: &[Output], version: HardFork) -> Result<(), MinerTxError> {
    let first_tagged = outputs.first().map(|o| o.view_tag.is_some());
    for (index, output) in outputs.iter().enumerate() {
        let tagged = output.view_tag.is_some();
        let found = if tagged { "a view tag" } else { "no view tag" };
        let wrong = |expected| MinerTxError::WrongOutputType {
            index,
            found,
            expected,
            hard_fork: version.as_u8(),
        };
        if version > HardFork::V15 && !tagged {
            return Err(wrong("a view tag"));
        }
        if version < HardFork::V15 && tagged {
            return Err(wrong("no view tag"));
        }
        if version == HardFork::V15 && Some(tagged) != first_tagged {
            return Err(wrong("the same type as output 0"));
        }
    }
    Ok(())
}

/// What the coinbase generated: the new coins (reward actually claimed, without fees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinbaseOutcome {
    /// The reward after the penalty (what the miner may claim besides fees).
    pub reward: u64,
    /// The coins this block creates: `reward` when the exact amount is required, else what
    /// the coinbase pays minus the fees (from version 2 to 12 a miner may leave some).
    pub generated: u64,
    /// What the coinbase pays in all.
    pub paid: u64,
    /// Whether the miner claimed less than allowed.
    pub partial: bool,
}

/// The reward rules for a coinbase (`validate_miner_transaction`): `penalty_median` is the
/// median for the penalty ([`crate::weight::WeightWindows::penalty_median`]), `block_weight`
/// the whole block's weight, `fees` the sum of its transactions' fees.
pub fn validate_miner_tx_reward(
    tx: &Transaction,
    penalty_median: u64,
    block_weight: u64,
    fees: u64,
    already_generated_coins: u64,
    version: HardFork,
) -> Result<CoinbaseOutcome, MinerTxError> {
    let outputs = &tx.prefix().outputs;
    let paid = outputs_sum(outputs)?;
    if version == HardFork::V3 {
        for (index, output) in outputs.iter().enumerate() {
            let amount = output.amount.unwrap_or(0);
            if !is_decomposed_amount(amount) {
                return Err(MinerTxError::NotDecomposed { index, amount });
            }
        }
    }
    let reward = block_reward(
        penalty_median,
        block_weight,
        already_generated_coins,
        version,
    )?;
    let allowed = reward
        .checked_add(fees)
        .ok_or(MinerTxError::FeeOverflow { reward, fees })?;
    if paid > allowed {
        return Err(MinerTxError::TooMuch { paid, reward, fees });
    }
    let exact = version < HardFork::V2 || version >= HardFork::V13;
    if exact {
        if paid != allowed {
            return Err(MinerTxError::NotExact {
                paid,
                reward,
                fees,
                hard_fork: version.as_u8(),
            });
        }
        return Ok(CoinbaseOutcome {
            reward,
            generated: reward,
            paid,
            partial: false,
        });
    }
    // paid <= reward + fees; a coinbase that pays less than the fees would make monerod's
    // unsigned `money_in_use - fee` wrap and fail its own sanity check: refuse it the same.
    let generated = paid
        .checked_sub(fees)
        .ok_or(MinerTxError::BelowFees { paid, fees })?;
    let partial = paid != allowed;
    if partial {
        debug!(
            paid,
            reward, fees, "coinbase claims less than the full reward"
        );
    }
    Ok(CoinbaseOutcome {
        reward,
        generated,
        paid,
        partial,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use monero_oxide::ed25519::CompressedPoint;
    use monero_oxide::transaction::TransactionPrefix;

    use super::*;

    #[test]
    fn genesis_reward_is_the_first_emission() {
        // Mainnet genesis pays 17592186044415 = (2^64 - 1) >> 20.
        assert_eq!(base_reward(0, HardFork::V1), 17_592_186_044_415);
        // Version 2 targets 2 minutes: shift by 19.
        assert_eq!(base_reward(0, HardFork::V2), (u64::MAX) >> 19);
    }

    #[test]
    fn tail_emission() {
        assert_eq!(base_reward(u64::MAX - 1000, HardFork::V16), 600_000_000_000);
        assert_eq!(base_reward(u64::MAX, HardFork::V1), 300_000_000_000);
        // Where the curve meets the tail.
        let generated = u64::MAX - (600_000_000_000u64 << 19);
        assert_eq!(base_reward(generated, HardFork::V16), 600_000_000_000);
        assert_eq!(
            base_reward(generated - (1 << 19), HardFork::V16),
            600_000_000_001
        );
    }

    #[test]
    fn penalty() {
        let base = base_reward(1 << 62, HardFork::V16);
        let m = 300_000;
        assert_eq!(block_reward(m, m, 1 << 62, HardFork::V16).unwrap(), base);
        // 1.5 M: reward * (2M - 1.5M) * 1.5M / M^2 = 0.75 base.
        let w = m + m / 2;
        let expected = (u128::from(base) * u128::from(2 * m - w) * u128::from(w)
            / u128::from(m)
            / u128::from(m)) as u64;
        assert_eq!(
            block_reward(m, w, 1 << 62, HardFork::V16).unwrap(),
            expected
        );
        // 2M exactly gets nothing; above is refused.
        assert_eq!(block_reward(m, 2 * m, 1 << 62, HardFork::V16).unwrap(), 0);
        assert_eq!(
            block_reward(m, 2 * m + 1, 1 << 62, HardFork::V16),
            Err(RewardError::BlockTooHeavy {
                weight: 2 * m + 1,
                median: m
            })
        );
        // The median is raised to the full-reward zone.
        assert_eq!(
            block_reward(10, 250_000, 1 << 62, HardFork::V16).unwrap(),
            base
        );
        assert_eq!(
            block_reward(10, 25_000, 1 << 62, HardFork::V1),
            Ok(block_reward(20_000, 25_000, 1 << 62, HardFork::V1).unwrap())
        );
    }

    #[test]
    fn penalty_with_large_values_matches_two_step_division() {
        // Values where base * multiplicand exceeds 128 bits.
        let m: u64 = 1 << 40;
        let w: u64 = m + (m / 3);
        let base = base_reward(0, HardFork::V2);
        let got = block_reward(m, w, 0, HardFork::V2).unwrap();
        // Reference: (base * ((2m - w) * w) / m) / m with big integers via u128 pieces.
        let mult = u128::from(2 * m - w) * u128::from(w);
        // mult < 2^82, base < 2^45 -> product < 2^127: fits, so compare directly.
        let reference = (u128::from(base) * mult / u128::from(m) / u128::from(m)) as u64;
        assert_eq!(got, reference);
        assert_eq!(
            mul_div_div(u128::from(u64::MAX), u128::MAX, u128::from(u64::MAX)),
            u128::MAX / u128::from(u64::MAX)
        );
    }

    #[test]
    fn decomposed_amounts() {
        for ok in [
            1,
            9,
            10,
            20,
            900,
            7_000_000_000_000,
            10_000_000_000_000_000_000,
        ] {
            assert!(is_decomposed_amount(ok), "{ok}");
        }
        for bad in [0, 11, 101, 1_234, u64::MAX] {
            assert!(!is_decomposed_amount(bad), "{bad}");
        }
    }

    fn coinbase(version: u8, height: usize, unlock: Timelock, outputs: Vec<Output>) -> Transaction {
        let prefix = TransactionPrefix {
            additional_timelock: unlock,
            inputs: vec![Input::Gen(height)],
            outputs,
            extra: vec![1; 33],
        };
        if version == 1 {
            Transaction::V1 {
                prefix,
                signatures: vec![],
            }
        } else {
            Transaction::V2 {
                prefix,
                proofs: None,
            }
        }
    }

    fn out(amount: u64, tagged: bool) -> Output {
        Output {
            amount: Some(amount),
            key: CompressedPoint::G,
            view_tag: tagged.then_some(3),
        }
    }

    #[test]
    fn structural_rules() {
        let good = coinbase(2, 100, Timelock::Block(160), vec![out(5, true)]);
        prevalidate_miner_tx(&good, 100, HardFork::V16).unwrap();
        assert_eq!(
            prevalidate_miner_tx(&good, 101, HardFork::V16),
            Err(MinerTxError::WrongHeight {
                found: 100,
                expected: 101
            })
        );
        let v1 = coinbase(1, 100, Timelock::Block(160), vec![out(5, false)]);
        prevalidate_miner_tx(&v1, 100, HardFork::V11).unwrap();
        assert!(matches!(
            prevalidate_miner_tx(&v1, 100, HardFork::V12),
            Err(MinerTxError::WrongVersion {
                tx_version: 1,
                hard_fork: 12
            })
        ));
        let unlock = coinbase(2, 100, Timelock::Block(159), vec![out(5, true)]);
        assert_eq!(
            prevalidate_miner_tx(&unlock, 100, HardFork::V16),
            Err(MinerTxError::WrongUnlockTime {
                found: 159,
                expected: 160
            })
        );
        let none = coinbase(2, 100, Timelock::None, vec![out(5, true)]);
        assert!(prevalidate_miner_tx(&none, 100, HardFork::V16).is_err());
        let overflow = coinbase(
            2,
            100,
            Timelock::Block(160),
            vec![out(u64::MAX, true), out(1, true)],
        );
        assert_eq!(
            prevalidate_miner_tx(&overflow, 100, HardFork::V16),
            Err(MinerTxError::AmountOverflow)
        );
    }

    #[test]
    fn output_types_by_fork() {
        check_output_types(&[out(1, false)], HardFork::V14).unwrap();
        assert!(check_output_types(&[out(1, true)], HardFork::V14).is_err());
        check_output_types(&[out(1, true), out(1, true)], HardFork::V15).unwrap();
        check_output_types(&[out(1, false), out(1, false)], HardFork::V15).unwrap();
        assert!(check_output_types(&[out(1, false), out(1, true)], HardFork::V15).is_err());
        assert!(check_output_types(&[out(1, false)], HardFork::V16).is_err());
        check_output_types(&[out(1, true)], HardFork::V16).unwrap();
    }

    #[test]
    fn reward_sums() {
        let generated = u64::MAX - 1000; // tail: 0.6 XMR
        let exact = coinbase(
            2,
            5,
            Timelock::Block(65),
            vec![out(600_000_000_000 + 7, true)],
        );
        let outcome =
            validate_miner_tx_reward(&exact, 0, 100, 7, generated, HardFork::V16).unwrap();
        assert_eq!(outcome.generated, 600_000_000_000);
        assert!(!outcome.partial);
        let less = coinbase(2, 5, Timelock::Block(65), vec![out(600_000_000_000, true)]);
        assert!(matches!(
            validate_miner_tx_reward(&less, 0, 100, 7, generated, HardFork::V16),
            Err(MinerTxError::NotExact { .. })
        ));
        // Version 12 allows claiming less; what is not claimed is not generated.
        let less12 = coinbase(2, 5, Timelock::Block(65), vec![out(500_000_000_000, false)]);
        let outcome =
            validate_miner_tx_reward(&less12, 0, 100, 7, generated, HardFork::V12).unwrap();
        assert_eq!(outcome.generated, 500_000_000_000 - 7);
        assert!(outcome.partial);
        let more = coinbase(2, 5, Timelock::Block(65), vec![out(600_000_000_008, true)]);
        assert!(matches!(
            validate_miner_tx_reward(&more, 0, 100, 7, generated, HardFork::V16),
            Err(MinerTxError::TooMuch { .. })
        ));
        // Version 3 wants decomposed amounts.
        let v3 = coinbase(1, 5, Timelock::Block(65), vec![out(1_234, false)]);
        assert!(matches!(
            validate_miner_tx_reward(&v3, 0, 100, 0, generated, HardFork::V3),
            Err(MinerTxError::NotDecomposed {
                index: 0,
                amount: 1_234
            })
        ));
    }
}
