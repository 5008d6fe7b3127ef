//! Verifying many transactions at once (a block, or several): independent work spread over
//! the rayon pool, Bulletproofs(+) batched, key images checked across the batch.
//!
//! Work runs on the current rayon pool: call these inside `ThreadPool::install` to choose
//! the threads. Results name the offending transaction; when several are bad, the one
//! reported is the first in the given order, whatever the threads did.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{
    contextual::{self, Context, RingData, VerifiedTx},
    error::{Reason, TxError, TxHash},
    parse::Tx,
    range::{self, RangeProof, RangeProofMode},
    semantic::{self, CheckedTx, SemanticRules},
};

/// Runs the semantic checks on many transactions, each with its own rules: structure checks
/// in parallel, range proofs batched. One result per transaction, in order.
pub fn check_many(items: Vec<(Tx, SemanticRules)>) -> Vec<Result<CheckedTx, TxError>> {
    check_many_with(items, RangeProofMode::Batched)
}

/// [`check_many`] with a choice of range-proof verification.
pub fn check_many_with(
    items: Vec<(Tx, SemanticRules)>,
    mode: RangeProofMode,
) -> Vec<Result<CheckedTx, TxError>> {
    let structure: Vec<Result<semantic::StructureInfo, Reason>> = items
        .par_iter()
        .map(|(tx, rules)| semantic::check_structure(tx, rules))
        .collect();
    // Range proofs only of transactions whose structure is sound.
    let proofs: Vec<RangeProof<'_>> = items
        .iter()
        .zip(&structure)
        .map(|((tx, _), s)| {
            if s.is_ok() {
                RangeProof::of(tx.transaction())
            } else {
                RangeProof::None
            }
        })
        .collect();
    let ranges = range::verify_many(&proofs, mode);
    drop(proofs);
    items
        .into_iter()
        .zip(structure)
        .zip(ranges)
        .map(|(((tx, rules), structure), range)| {
            match structure.and_then(|info| range.map(|()| info)) {
                Ok(info) => Ok(info.into_checked(tx, rules.hard_fork)),
                Err(reason) => {
                    let err = tx.error(reason);
                    tracing::debug!(tx = %err.tx, reason = %err.reason, "transaction rejected");
                    Err(err)
                }
            }
        })
        .collect()
}

/// The semantic checks for the transactions of one block, plus no key image twice in the
/// block. The first failure (in block order) rejects the block.
pub fn check_block(txs: Vec<Tx>, rules: &SemanticRules) -> Result<Vec<CheckedTx>, TxError> {
    let checked: Vec<CheckedTx> = check_many(txs.into_iter().map(|tx| (tx, *rules)).collect())
        .into_iter()
        .collect::<Result<_, _>>()?;
    if let Some(dup) = find_duplicate_key_image(checked.iter().map(CheckedTx::tx)) {
        let err = dup.error();
        tracing::debug!(tx = %err.tx, reason = %err.reason, "transaction rejected");
        return Err(err);
    }
    Ok(checked)
}

/// A key image used by two transactions of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateKeyImage {
    /// The key image.
    pub key_image: [u8; 32],
    /// The transaction that uses it first.
    pub first: [u8; 32],
    /// The later transaction that uses it again.
    pub second: [u8; 32],
    /// The input of the later transaction.
    pub input: usize,
}

impl DuplicateKeyImage {
    /// The error rejecting the later transaction.
    pub fn error(&self) -> TxError {
        TxError::new(
            self.second,
            Reason::KeyImageSpentInBatch {
                input: self.input,
                other: TxHash(self.first),
            },
        )
    }
}

/// The first key image (in order) that two transactions share, if any: a double spend
/// inside a block or batch (also when one transaction is listed twice). Duplicates inside
/// one transaction are the semantic checks'.
pub fn find_duplicate_key_image<'a>(
    txs: impl IntoIterator<Item = &'a Tx>,
) -> Option<DuplicateKeyImage> {
    let mut seen: HashMap<[u8; 32], (usize, [u8; 32])> = HashMap::new();
    for (position, tx) in txs.into_iter().enumerate() {
        for (input, key_image) in tx.key_images().enumerate() {
            match seen.get(&key_image) {
                Some(&(at, first)) if at != position => {
                    return Some(DuplicateKeyImage {
                        key_image,
                        first,
                        second: tx.hash(),
                        input,
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(key_image, (position, tx.hash()));
                }
            }
        }
    }
    None
}

/// Verifies many checked transactions against their chain data, each with its own context:
/// every signature job of every transaction is spread over the pool. One result per
/// transaction, in order. Key images shared between them are not checked here (see
/// [`verify_block`] and [`find_duplicate_key_image`]).
pub fn verify_many(items: Vec<(CheckedTx, RingData, Context)>) -> Vec<Result<VerifiedTx, TxError>> {
    let prepared: Vec<Result<contextual::Prepared, Reason>> = items
        .par_iter()
        .map(|(tx, data, ctx)| contextual::prepare(tx, ctx, data))
        .collect();
    // (transaction, job) pairs of the prepared transactions.
    let jobs: Vec<(usize, usize)> = items
        .iter()
        .zip(&prepared)
        .enumerate()
        .filter(|(_, (_, p))| p.is_ok())
        .flat_map(|(i, ((tx, _, _), _))| {
            (0..super::signatures::job_count(tx.tx.transaction())).map(move |job| (i, job))
        })
        .collect();
    let failures: Vec<(usize, usize, Reason)> = jobs
        .par_iter()
        .filter_map(|&(i, job)| {
            let (tx, _, _) = items.get(i)?;
            let prepared = prepared.get(i)?.as_ref().ok()?;
            prepared
                .verify_job(tx, job)
                .err()
                .map(|reason| (i, job, reason))
        })
        .collect();
    let mut first_failure: HashMap<usize, (usize, Reason)> = HashMap::new();
    for (i, job, reason) in failures {
        let entry = first_failure.entry(i).or_insert((job, reason.clone()));
        if job < entry.0 {
            *entry = (job, reason);
        }
    }
    items
        .into_iter()
        .zip(prepared)
        .enumerate()
        .map(|(i, ((tx, _, _), prepared))| {
            let result = match (prepared, first_failure.remove(&i)) {
                (Err(reason), _) | (Ok(_), Some((_, reason))) => Err(reason),
                (Ok(prepared), None) => Ok(prepared),
            };
            match result {
                Ok(prepared) => Ok(contextual::finish(tx, &prepared)),
                Err(reason) => {
                    let err = tx.tx.error(reason);
                    tracing::debug!(tx = %err.tx, reason = %err.reason, "transaction rejected");
                    Err(err)
                }
            }
        })
        .collect()
}

/// Verifies the checked transactions of one block against their chain data: no key image
/// twice in the block, then [`verify_many`]. The first failure (in block order) rejects the
/// block.
pub fn verify_block(
    items: Vec<(CheckedTx, RingData)>,
    ctx: &Context,
) -> Result<Vec<VerifiedTx>, TxError> {
    if let Some(dup) = find_duplicate_key_image(items.iter().map(|(tx, _)| tx.tx())) {
        return Err(dup.error());
    }
    verify_many(
        items
            .into_iter()
            .map(|(tx, data)| (tx, data, *ctx))
            .collect(),
    )
    .into_iter()
    .collect()
}
