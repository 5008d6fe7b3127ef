//! What each hard fork allows: transaction versions, RingCT types, output types, ring sizes.

use monero_oxide::ringct::RctType;

use crate::HardFork;

/// The most outputs one Bulletproof(+) may cover (`BULLETPROOF_MAX_OUTPUTS`).
pub const MAX_BULLETPROOF_OUTPUTS: usize = 16;

/// The hard fork from which RingCT transactions need at least two outputs.
const MIN_2_OUTPUTS: HardFork = HardFork::V12;
/// The hard fork from which all inputs must use the same ring size.
const SAME_RING_SIZE: HardFork = HardFork::V12;
/// The hard fork from which inputs must be sorted by key image.
const SORTED_INPUTS: HardFork = HardFork::V7;
/// The hard fork from which a ring may not name the same output twice.
const DISTINCT_RING_MEMBERS: HardFork = HardFork::V6;
/// The hard fork from which version-1 outputs must be decomposed amounts.
const DECOMPOSED_AMOUNTS: HardFork = HardFork::V2;
/// The hard fork from which view tags are allowed (and after which they are required).
const VIEW_TAGS: HardFork = HardFork::V15;

/// Two RingCT transactions of type 4 (MLSAG + Bulletproof2) that entered the chain after
/// hard fork 13 because they were in pools before it; monerod accepts them by hash.
const GRANDFATHERED_MLSAG: [[u8; 32]; 2] = [
    // c5151944f0583097ba0c88cd0f43e7fabb3881278aa2f73b3b0a007c5d34e910
    [
        0xc5, 0x15, 0x19, 0x44, 0xf0, 0x58, 0x30, 0x97, 0xba, 0x0c, 0x88, 0xcd, 0x0f, 0x43, 0xe7,
        0xfa, 0xbb, 0x38, 0x81, 0x27, 0x8a, 0xa2, 0xf7, 0x3b, 0x3b, 0x0a, 0x00, 0x7c, 0x5d, 0x34,
        0xe9, 0x10,
    ],
    // 6f2f117cde6fbcf8d4a6ef8974fcac744726574ac38cf25d3322c996b21edd4c
    [
        0x6f, 0x2f, 0x11, 0x7c, 0xde, 0x6f, 0xbc, 0xf8, 0xd4, 0xa6, 0xef, 0x89, 0x74, 0xfc, 0xac,
        0x74, 0x47, 0x26, 0x57, 0x4a, 0xc3, 0x8c, 0xf2, 0x5d, 0x33, 0x22, 0xc9, 0x96, 0xb2, 0x1e,
        0xdd, 0x4c,
    ],
];

/// The highest transaction version accepted.
pub(crate) fn max_tx_version(hf: HardFork) -> u8 {
    if hf < HardFork::V4 { 1 } else { 2 }
}

/// The lowest transaction version accepted: 2 from hard fork 6, unless the transaction spends
/// an output that cannot be mixed (too few outputs of its amount).
pub(crate) fn min_tx_version(hf: HardFork, has_unmixable: bool) -> u8 {
    if !has_unmixable && hf >= HardFork::V6 {
        2
    } else {
        1
    }
}

/// Whether a RingCT type is allowed at a hard fork (monerod's `check_tx_outputs`). Version-2
/// transactions themselves exist only from hard fork 4 (checked separately).
pub(crate) fn rct_type_allowed(rct_type: RctType, hf: HardFork, tx_hash: &[u8; 32]) -> bool {
    let v = hf.as_u8();
    match rct_type {
        // Borromean range proofs: until hard fork 8.
        RctType::AggregateMlsagBorromean | RctType::MlsagBorromean => v <= 8,
        // Bulletproofs from 8, replaced by Bulletproof2 after 10.
        RctType::MlsagBulletproofs => (8..=10).contains(&v),
        // Bulletproof2 from 10, only CLSAG after 13.
        RctType::MlsagBulletproofsCompactAmount => {
            (10..=13).contains(&v) || (v > 13 && GRANDFATHERED_MLSAG.contains(tx_hash))
        }
        // CLSAG from 13, Bulletproofs forbidden after 15.
        RctType::ClsagBulletproof => (13..=15).contains(&v),
        // Bulletproofs+ from 15.
        RctType::ClsagBulletproofPlus => v >= 15,
    }
}

/// Whether the RingCT type carries one aggregate Bulletproof(+) (and so at most 16 outputs).
pub(crate) fn uses_bulletproofs(rct_type: RctType) -> bool {
    !matches!(
        rct_type,
        RctType::AggregateMlsagBorromean | RctType::MlsagBorromean
    )
}

/// The fewest outputs a RingCT transaction may have.
pub(crate) fn min_rct_outputs(hf: HardFork) -> usize {
    if hf >= MIN_2_OUTPUTS { 2 } else { 1 }
}

/// Whether inputs must be sorted by key image (descending byte order).
pub(crate) fn inputs_must_be_sorted(hf: HardFork) -> bool {
    hf >= SORTED_INPUTS
}

/// Whether a ring may not name the same output twice (no zero relative offset after the
/// first).
pub(crate) fn ring_members_must_differ(hf: HardFork) -> bool {
    hf >= DISTINCT_RING_MEMBERS
}

/// Whether version-1 outputs must be decomposed amounts.
pub(crate) fn amounts_must_be_decomposed(hf: HardFork) -> bool {
    hf >= DECOMPOSED_AMOUNTS
}

/// Which output types (without / with view tag) a hard fork allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputTypes {
    /// Only outputs without view tags (before hard fork 15).
    Untagged,
    /// Either type, but one type for all outputs of a transaction (hard fork 15).
    Either,
    /// Only outputs with view tags (from hard fork 16).
    Tagged,
}

/// The output types allowed at a hard fork.
pub(crate) fn output_types(hf: HardFork) -> OutputTypes {
    match hf.cmp(&VIEW_TAGS) {
        std::cmp::Ordering::Less => OutputTypes::Untagged,
        std::cmp::Ordering::Equal => OutputTypes::Either,
        std::cmp::Ordering::Greater => OutputTypes::Tagged,
    }
}

/// Whether all inputs must use the same ring size.
pub(crate) fn same_ring_size(hf: HardFork) -> bool {
    hf >= SAME_RING_SIZE
}

/// monerod's minimum mixin (ring size − 1) at a hard fork; `None` before hard fork 2, where
/// there is no ring-size rule.
pub(crate) fn min_mixin(hf: HardFork) -> Option<usize> {
    let v = hf.as_u8();
    Some(match v {
        0..=1 => return None,
        2..=5 => 2,
        6 => 4,
        7 => 6,
        8..=14 => 10,
        _ => 15,
    })
}

/// How the inputs of a transaction mix, for the ring-size rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mixing {
    /// The smallest mixin (ring size − 1) of any input.
    pub min_mixin: usize,
    /// Inputs spending an amount with more outputs than the minimum mixin (and all RingCT
    /// inputs).
    pub mixable: usize,
    /// Inputs spending an amount with at most the minimum mixin outputs on the chain.
    pub unmixable: usize,
}

/// monerod's ring-size rule (`check_tx_inputs`), given how the inputs mix. Returns whether
/// the smallest ring is acceptable; equal ring sizes are checked separately.
pub(crate) fn ring_size_allowed(hf: HardFork, mixing: Mixing) -> bool {
    let Some(required) = min_mixin(hf) else {
        return true;
    };
    let v = hf.as_u8();
    let min = mixing.min_mixin;
    if min < required && !(v == 15 && min == 10) {
        // Smaller rings only when spending outputs that cannot be mixed, and then with at
        // most one mixable input beside them.
        return mixing.unmixable > 0 && mixing.mixable <= 1;
    }
    let too_large = (v > 15 && min > 15)
        || (v == 15 && min != 15 && min != 10)
        || ((10..15).contains(&v) && min > 10)
        || ((v == 8 || v == 9) && min != 10);
    !too_large
}

/// Whether a version-1 amount is a single non-zero digit times a power of ten
/// (`is_valid_decomposed_amount`).
pub(crate) fn is_decomposed_amount(amount: u64) -> bool {
    if amount == 0 {
        return false;
    }
    let mut a = amount;
    while a.is_multiple_of(10) {
        a /= 10;
    }
    a < 10
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

    fn hf(v: u8) -> HardFork {
        HardFork::from_version(v).unwrap()
    }

    #[test]
    fn decomposed_amounts_are_digit_times_power_of_ten() {
        let mut valid = 0;
        for exp in 0..=19u32 {
            for d in 1..=9u64 {
                if let Some(a) = 10u64.checked_pow(exp).and_then(|p| p.checked_mul(d)) {
                    assert!(is_decomposed_amount(a), "{a}");
                    valid += 1;
                }
            }
        }
        // monerod's table has 172 entries: d · 10^k for k < 19, and 10^19.
        assert_eq!(valid, 172);
        for a in [0u64, 11, 12, 101, 110, 999, 1_000_001, u64::MAX] {
            assert!(!is_decomposed_amount(a), "{a}");
        }
    }

    #[test]
    fn rct_types_per_fork() {
        let h = [0u8; 32];
        let allowed = |t, v| rct_type_allowed(t, hf(v), &h);
        assert!(allowed(RctType::MlsagBorromean, 4));
        assert!(allowed(RctType::MlsagBorromean, 8));
        assert!(!allowed(RctType::MlsagBorromean, 9));
        assert!(!allowed(RctType::MlsagBulletproofs, 7));
        assert!(allowed(RctType::MlsagBulletproofs, 8));
        assert!(!allowed(RctType::MlsagBulletproofs, 11));
        assert!(!allowed(RctType::MlsagBulletproofsCompactAmount, 9));
        assert!(allowed(RctType::MlsagBulletproofsCompactAmount, 13));
        assert!(!allowed(RctType::MlsagBulletproofsCompactAmount, 14));
        assert!(rct_type_allowed(
            RctType::MlsagBulletproofsCompactAmount,
            hf(14),
            &GRANDFATHERED_MLSAG[1]
        ));
        assert!(!allowed(RctType::ClsagBulletproof, 12));
        assert!(allowed(RctType::ClsagBulletproof, 15));
        assert!(!allowed(RctType::ClsagBulletproof, 16));
        assert!(!allowed(RctType::ClsagBulletproofPlus, 14));
        assert!(allowed(RctType::ClsagBulletproofPlus, 15));
        assert!(allowed(RctType::ClsagBulletproofPlus, 16));
    }

    #[test]
    fn ring_sizes_per_fork() {
        let all_rct = |min_mixin| Mixing {
            min_mixin,
            mixable: 2,
            unmixable: 0,
        };
        // No rule at v1.
        assert!(ring_size_allowed(hf(1), all_rct(0)));
        assert!(!ring_size_allowed(hf(2), all_rct(1)));
        assert!(ring_size_allowed(hf(2), all_rct(2)));
        assert!(ring_size_allowed(hf(2), all_rct(50)));
        assert!(!ring_size_allowed(hf(6), all_rct(3)));
        assert!(ring_size_allowed(hf(7), all_rct(6)));
        assert!(!ring_size_allowed(hf(8), all_rct(11)));
        assert!(ring_size_allowed(hf(8), all_rct(10)));
        assert!(!ring_size_allowed(hf(12), all_rct(11)));
        // Hard fork 15: ring size 11 or 16.
        assert!(ring_size_allowed(hf(15), all_rct(10)));
        assert!(ring_size_allowed(hf(15), all_rct(15)));
        assert!(!ring_size_allowed(hf(15), all_rct(12)));
        // Hard fork 16: exactly 16.
        assert!(!ring_size_allowed(hf(16), all_rct(10)));
        assert!(ring_size_allowed(hf(16), all_rct(15)));
        assert!(!ring_size_allowed(hf(16), all_rct(16)));
        // Unmixable outputs allow smaller rings with at most one mixable input.
        let unmixable = |mixable| Mixing {
            min_mixin: 0,
            mixable,
            unmixable: 1,
        };
        assert!(ring_size_allowed(hf(8), unmixable(1)));
        assert!(!ring_size_allowed(hf(8), unmixable(2)));
    }
}
