//! Checks that need no chain data: structure and version rules, key images, outputs,
//! amounts, weight, RingCT type, commitment balance and range proofs.
//!
//! The result is a [`CheckedTx`], the only input [`contextual::verify`] takes, so the
//! chain-dependent checks can never run on a transaction that skipped these.
//!
//! [`contextual::verify`]: super::contextual::verify

use std::collections::HashMap;

use monero_oxide::{
    ringct::{RctProofs, RctPrunable},
    transaction::{Input, Transaction},
};

use super::{
    error::{Reason, TxError},
    parse::Tx,
    points, range, rules,
};
use crate::HardFork;

/// The bytes a block reserves for its coinbase when the largest transaction is computed
/// (`CRYPTONOTE_COINBASE_BLOB_RESERVED_SIZE`).
pub const COINBASE_BLOB_RESERVED_SIZE: u64 = 600;

/// What the semantic checks need to know about the chain: the hard fork, and the largest
/// transaction weight to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemanticRules {
    /// The hard fork of the block the transaction is for (for the pool: of the next block).
    pub hard_fork: HardFork,
    /// The largest weight accepted. For a block, the block's weight limit minus
    /// [`COINBASE_BLOB_RESERVED_SIZE`] ([`SemanticRules::for_block`]); for the pool,
    /// [`pool_max_tx_weight`](super::policy::pool_max_tx_weight).
    pub max_weight: u64,
}

impl SemanticRules {
    /// The rules for a transaction in a block of this hard fork whose weight limit (the
    /// block rules' cumulative limit, twice the effective median) is `block_weight_limit`.
    pub fn for_block(hard_fork: HardFork, block_weight_limit: u64) -> Self {
        Self {
            hard_fork,
            max_weight: block_weight_limit.saturating_sub(COINBASE_BLOB_RESERVED_SIZE),
        }
    }
}

/// A transaction that passed the semantic checks (including its range proofs) for one hard
/// fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTx {
    pub(crate) tx: Tx,
    pub(crate) hard_fork: HardFork,
    pub(crate) fee: u64,
    /// The ring-size and minimum-version rules depend on how many outputs the spent amounts
    /// have on the chain (pre-RingCT inputs); they are finished in the contextual step.
    pub(crate) mixing_needs_chain: bool,
}

impl CheckedTx {
    /// The transaction.
    pub fn tx(&self) -> &Tx {
        &self.tx
    }

    /// Gives the transaction back.
    pub fn into_tx(self) -> Tx {
        self.tx
    }

    /// Its hash.
    pub fn hash(&self) -> [u8; 32] {
        self.tx.hash()
    }

    /// The hard fork it was checked for.
    pub fn hard_fork(&self) -> HardFork {
        self.hard_fork
    }

    /// The fee it pays.
    pub fn fee(&self) -> u64 {
        self.fee
    }

    /// Whether finishing the ring-size rule needs the number of outputs of the spent amounts
    /// (see [`InputRequest::needs_output_count`](super::contextual::InputRequest)).
    pub fn needs_output_counts(&self) -> bool {
        self.mixing_needs_chain
    }
}

/// Runs every semantic check on one transaction, its range proof included.
///
/// For the transactions of a block, [`check_many`](super::batch::check_many) does the same
/// in parallel and batches the range proofs.
pub fn check(tx: Tx, rules: &SemanticRules) -> Result<CheckedTx, TxError> {
    let result = check_structure(&tx, rules).and_then(|info| {
        range::verify_one(&range::RangeProof::of(tx.transaction())).map(|()| info)
    });
    match result {
        Ok(info) => Ok(info.into_checked(tx, rules.hard_fork)),
        Err(reason) => {
            let err = tx.error(reason);
            tracing::debug!(tx = %err.tx, reason = %err.reason, "transaction rejected");
            Err(err)
        }
    }
}

/// What the structure checks learned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StructureInfo {
    fee: u64,
    mixing_needs_chain: bool,
}

impl StructureInfo {
    pub(crate) fn into_checked(self, tx: Tx, hard_fork: HardFork) -> CheckedTx {
        CheckedTx {
            tx,
            hard_fork,
            fee: self.fee,
            mixing_needs_chain: self.mixing_needs_chain,
        }
    }
}

/// An input that spends an output, with its parts borrowed.
pub(crate) struct ToKey<'a> {
    pub amount: u64,
    pub key_offsets: &'a [u64],
    pub key_image: [u8; 32],
}

/// The inputs of a transaction as [`ToKey`]s; `Err` names the first coinbase input.
pub(crate) fn to_key_inputs(tx: &Transaction) -> Result<Vec<ToKey<'_>>, Reason> {
    tx.prefix()
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| match input {
            Input::ToKey {
                amount,
                key_offsets,
                key_image,
            } => Ok(ToKey {
                amount: amount.unwrap_or(0),
                key_offsets,
                key_image: key_image.to_bytes(),
            }),
            Input::Gen(_) => Err(Reason::CoinbaseInput { input: i }),
        })
        .collect()
}

/// Every semantic check except the range proof.
pub(crate) fn check_structure(tx: &Tx, rules: &SemanticRules) -> Result<StructureInfo, Reason> {
    let hf = rules.hard_fork;
    let t = tx.transaction();
    let version = tx.version();

    if version > rules::max_tx_version(hf) {
        return Err(Reason::VersionNotAllowed {
            version,
            hard_fork: hf,
        });
    }
    if tx.weight() > rules.max_weight {
        return Err(Reason::TooHeavy {
            weight: tx.weight(),
            limit: rules.max_weight,
        });
    }

    let inputs = to_key_inputs(t)?;
    check_key_images(&inputs, hf)?;
    check_rings(&inputs, hf)?;
    check_outputs(t, hf)?;

    let input_sum = inputs
        .iter()
        .try_fold(0u64, |acc, input| acc.checked_add(input.amount))
        .ok_or(Reason::AmountOverflow { inputs: true })?;
    let output_sum = t
        .prefix()
        .outputs
        .iter()
        .try_fold(0u64, |acc, output| {
            acc.checked_add(output.amount.unwrap_or(0))
        })
        .ok_or(Reason::AmountOverflow { inputs: false })?;

    let fee = match t {
        Transaction::V1 { .. } => {
            if input_sum <= output_sum {
                return Err(Reason::InputsNotAboveOutputs {
                    inputs: input_sum,
                    outputs: output_sum,
                });
            }
            input_sum - output_sum
        }
        Transaction::V2 { proofs: None, .. } => return Err(Reason::MissingRctProofs),
        Transaction::V2 {
            proofs: Some(proofs),
            ..
        } => {
            check_rct(tx, proofs, &inputs, hf)?;
            proofs.base.fee
        }
    };

    // The ring-size rule and the minimum version depend on whether the spent amounts can be
    // mixed. RingCT inputs (amount 0) always can; for others it takes the chain's count of
    // outputs of that amount, so the rule is finished in the contextual step.
    let all_rct = inputs.iter().all(|input| input.amount == 0);
    let mixing_needs_chain = !all_rct && rules::min_mixin(hf).is_some();
    if !mixing_needs_chain {
        let mixing = rules::Mixing {
            min_mixin: min_mixin(&inputs),
            mixable: inputs.len(),
            unmixable: 0,
        };
        check_mixing(mixing, version, hf)?;
    }

    Ok(StructureInfo {
        fee,
        mixing_needs_chain,
    })
}

/// The smallest mixin (ring size − 1) of the inputs.
pub(crate) fn min_mixin(inputs: &[ToKey<'_>]) -> usize {
    inputs
        .iter()
        .map(|i| i.key_offsets.len().saturating_sub(1))
        .min()
        .unwrap_or(0)
}

/// The ring-size rule and minimum version, once it is known how the inputs mix.
pub(crate) fn check_mixing(mixing: rules::Mixing, version: u8, hf: HardFork) -> Result<(), Reason> {
    if !rules::ring_size_allowed(hf, mixing) {
        return Err(Reason::RingSizeNotAllowed {
            size: mixing.min_mixin.saturating_add(1),
            hard_fork: hf,
        });
    }
    if version < rules::min_tx_version(hf, mixing.unmixable > 0) {
        return Err(Reason::VersionNotAllowed {
            version,
            hard_fork: hf,
        });
    }
    Ok(())
}

/// Key images: valid points of the prime-order subgroup, unique, and (from hard fork 7)
/// sorted in descending byte order.
fn check_key_images(inputs: &[ToKey<'_>], hf: HardFork) -> Result<(), Reason> {
    let mut seen = HashMap::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        if let Some(&first) = seen.get(&input.key_image) {
            return Err(Reason::DuplicateKeyImage { input: i, first });
        }
        seen.insert(input.key_image, i);
    }
    if rules::inputs_must_be_sorted(hf) {
        for (i, pair) in inputs.windows(2).enumerate() {
            if let [prev, next] = pair
                && next.key_image >= prev.key_image
            {
                return Err(Reason::UnsortedInputs { input: i + 1 });
            }
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        if !points::is_valid_key_image(&input.key_image) {
            return Err(Reason::InvalidKeyImage { input: i });
        }
    }
    Ok(())
}

/// Rings: not empty; no output named twice (from hard fork 6); one size for all inputs from
/// hard fork 12.
fn check_rings(inputs: &[ToKey<'_>], hf: HardFork) -> Result<(), Reason> {
    for (i, input) in inputs.iter().enumerate() {
        if input.key_offsets.is_empty() {
            return Err(Reason::EmptyRing { input: i });
        }
        if rules::ring_members_must_differ(hf)
            && let Some(member) = input.key_offsets.iter().skip(1).position(|&o| o == 0)
        {
            return Err(Reason::DuplicateRingMember {
                input: i,
                member: member + 1,
            });
        }
    }
    if rules::same_ring_size(hf) {
        check_equal_ring_sizes(inputs)?;
    }
    Ok(())
}

fn check_equal_ring_sizes(inputs: &[ToKey<'_>]) -> Result<(), Reason> {
    let Some(first) = inputs.first() else {
        return Ok(());
    };
    let expected = first.key_offsets.len();
    for (i, input) in inputs.iter().enumerate() {
        if input.key_offsets.len() != expected {
            return Err(Reason::RingSizesDiffer {
                input: i,
                size: input.key_offsets.len(),
                expected,
            });
        }
    }
    Ok(())
}

/// Outputs: valid keys, the output types of the hard fork, and (version 1) non-zero,
/// decomposed amounts.
fn check_outputs(t: &Transaction, hf: HardFork) -> Result<(), Reason> {
    let outputs = &t.prefix().outputs;
    let types = rules::output_types(hf);
    let first_tagged = outputs.first().map(|o| o.view_tag.is_some());
    for (i, output) in outputs.iter().enumerate() {
        if !points::is_valid_point(&output.key.to_bytes()) {
            return Err(Reason::InvalidOutputKey { output: i });
        }
        let tagged = output.view_tag.is_some();
        match types {
            rules::OutputTypes::Untagged if tagged => {
                return Err(Reason::OutputTypeNotAllowed {
                    output: i,
                    tagged,
                    hard_fork: hf,
                });
            }
            rules::OutputTypes::Tagged if !tagged => {
                return Err(Reason::OutputTypeNotAllowed {
                    output: i,
                    tagged,
                    hard_fork: hf,
                });
            }
            rules::OutputTypes::Either if Some(tagged) != first_tagged => {
                return Err(Reason::MixedOutputTypes { output: i });
            }
            _ => {}
        }
        if let Transaction::V1 { .. } = t {
            let amount = output.amount.unwrap_or(0);
            if amount == 0 {
                return Err(Reason::ZeroAmountOutput { output: i });
            }
            if rules::amounts_must_be_decomposed(hf) && !rules::is_decomposed_amount(amount) {
                return Err(Reason::NotDecomposedAmount { output: i, amount });
            }
        }
    }
    Ok(())
}

/// RingCT: the type allowed at the fork, output counts, one ring size (RingCT signatures are
/// encoded with the first input's), and the pseudo-outputs balancing the outputs and fee.
fn check_rct(
    tx: &Tx,
    proofs: &RctProofs,
    inputs: &[ToKey<'_>],
    hf: HardFork,
) -> Result<(), Reason> {
    let rct_type = proofs.rct_type();
    if !rules::rct_type_allowed(rct_type, hf, &tx.hash()) {
        return Err(Reason::RctTypeNotAllowed {
            rct_type: u8::from(rct_type),
            hard_fork: hf,
        });
    }
    let outputs = tx.transaction().prefix().outputs.len();
    let min = rules::min_rct_outputs(hf);
    if outputs < min {
        return Err(Reason::TooFewOutputs { outputs, min });
    }
    if rules::uses_bulletproofs(rct_type) && outputs > rules::MAX_BULLETPROOF_OUTPUTS {
        return Err(Reason::TooManyOutputs {
            outputs,
            max: rules::MAX_BULLETPROOF_OUTPUTS,
        });
    }
    check_equal_ring_sizes(inputs)?;

    let pseudo_outs = match &proofs.prunable {
        // The aggregate MLSAG balances the amounts itself.
        RctPrunable::AggregateMlsagBorromean { .. } => return Ok(()),
        RctPrunable::MlsagBorromean { .. } => &proofs.base.pseudo_outs,
        RctPrunable::MlsagBulletproofs { pseudo_outs, .. }
        | RctPrunable::MlsagBulletproofsCompactAmount { pseudo_outs, .. }
        | RctPrunable::Clsag { pseudo_outs, .. } => pseudo_outs,
    };
    match points::balances(pseudo_outs, &proofs.base.commitments, proofs.base.fee) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Reason::Unbalanced),
        Err((true, index)) => Err(Reason::InvalidCommitment {
            what: "pseudo-output",
            index,
        }),
        Err((false, index)) => Err(Reason::InvalidCommitment {
            what: "output commitment",
            index,
        }),
    }
}
