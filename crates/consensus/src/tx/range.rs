//! Range proofs: Borromean (one per output, RingCT types 1–2) and aggregate Bulletproofs(+)
//! (types 3–6), the latter batch-verified across transactions.

use monero_oxide::{
    ed25519::CompressedPoint,
    ringct::{
        RctPrunable,
        borromean::BorromeanRange,
        bulletproofs::{BatchVerifier, Bulletproof},
    },
    transaction::Transaction,
};
use rand_core_v06::OsRng;
use rayon::prelude::*;

use super::{
    error::{ProofKind, Reason},
    guard,
};

/// The range proof of a transaction, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RangeProof<'a> {
    /// Version 1: amounts are in the clear.
    None,
    /// One Borromean proof per output commitment.
    Borromean {
        proofs: &'a [BorromeanRange],
        commitments: &'a [CompressedPoint],
    },
    /// One aggregate Bulletproof(+) over all output commitments.
    Bulletproof {
        proof: &'a Bulletproof,
        commitments: &'a [CompressedPoint],
    },
}

impl<'a> RangeProof<'a> {
    /// The range proof of a transaction.
    pub(crate) fn of(tx: &'a Transaction) -> Self {
        let Transaction::V2 {
            proofs: Some(proofs),
            ..
        } = tx
        else {
            return Self::None;
        };
        let commitments = proofs.base.commitments.as_slice();
        match &proofs.prunable {
            RctPrunable::AggregateMlsagBorromean { borromean, .. }
            | RctPrunable::MlsagBorromean { borromean, .. } => Self::Borromean {
                proofs: borromean,
                commitments,
            },
            RctPrunable::MlsagBulletproofs { bulletproof, .. }
            | RctPrunable::MlsagBulletproofsCompactAmount { bulletproof, .. }
            | RctPrunable::Clsag { bulletproof, .. } => Self::Bulletproof {
                proof: bulletproof,
                commitments,
            },
        }
    }
}

fn bulletproof_kind(proof: &Bulletproof) -> ProofKind {
    match proof {
        Bulletproof::Original(_) => ProofKind::Bulletproof,
        Bulletproof::Plus(_) => ProofKind::BulletproofPlus,
    }
}

fn invalid_bulletproof(proof: &Bulletproof) -> Reason {
    Reason::InvalidRangeProof {
        kind: bulletproof_kind(proof),
        output: None,
    }
}

/// Verifies one transaction's range proof on its own (Borromean outputs in parallel).
pub(crate) fn verify_one(proof: &RangeProof<'_>) -> Result<(), Reason> {
    match *proof {
        RangeProof::None => Ok(()),
        RangeProof::Borromean {
            proofs,
            commitments,
        } => {
            if proofs.len() != commitments.len() {
                return Err(Reason::InvalidRangeProof {
                    kind: ProofKind::Borromean,
                    output: None,
                });
            }
            let failed = proofs
                .par_iter()
                .zip(commitments.par_iter())
                .enumerate()
                .filter_map(|(i, (proof, commitment))| {
                    let ok = guard("Borromean range proof", || proof.verify(commitment));
                    match ok {
                        Ok(true) => None,
                        Ok(false) => Some(Reason::InvalidRangeProof {
                            kind: ProofKind::Borromean,
                            output: Some(i),
                        }),
                        Err(panic) => Some(panic),
                    }
                })
                .min_by_key(|reason| match reason {
                    Reason::InvalidRangeProof { output, .. } => output.unwrap_or(0),
                    _ => 0,
                });
            failed.map_or(Ok(()), Err)
        }
        RangeProof::Bulletproof { proof, commitments } => {
            match guard("Bulletproof", || proof.verify(&mut OsRng, commitments)) {
                Ok(true) => Ok(()),
                Ok(false) => Err(invalid_bulletproof(proof)),
                Err(panic) => Err(panic),
            }
        }
    }
}

/// How range proofs of many transactions are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangeProofMode {
    /// Bulletproofs(+) are accumulated into one multi-exponentiation per worker thread; if a
    /// batch fails, its proofs are verified one by one to name the bad ones.
    #[default]
    Batched,
    /// Every proof on its own (for comparison).
    Individual,
}

/// Verifies the range proofs of many transactions, spread over the rayon pool. The result
/// has one entry per proof, in order.
pub(crate) fn verify_many(
    proofs: &[RangeProof<'_>],
    mode: RangeProofMode,
) -> Vec<Result<(), Reason>> {
    let mut results: Vec<Result<(), Reason>> = vec![Ok(()); proofs.len()];
    let bulletproofs: Vec<usize> = proofs
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, RangeProof::Bulletproof { .. }))
        .map(|(i, _)| i)
        .collect();

    // Borromean proofs (and, unbatched, Bulletproofs) one by one.
    let singles: Vec<(usize, Result<(), Reason>)> = proofs
        .par_iter()
        .enumerate()
        .filter(|(_, p)| match p {
            RangeProof::None => false,
            RangeProof::Borromean { .. } => true,
            RangeProof::Bulletproof { .. } => mode == RangeProofMode::Individual,
        })
        .map(|(i, p)| (i, verify_one(p)))
        .collect();
    for (i, result) in singles {
        if let Some(slot) = results.get_mut(i) {
            *slot = result;
        }
    }

    if mode == RangeProofMode::Batched && !bulletproofs.is_empty() {
        // One batch per worker: each is one multi-exponentiation.
        let workers = rayon::current_num_threads().clamp(1, bulletproofs.len());
        let chunk = bulletproofs.len().div_ceil(workers);
        let batched: Vec<(usize, Result<(), Reason>)> = bulletproofs
            .par_chunks(chunk)
            .flat_map_iter(|indices| verify_batch(proofs, indices))
            .collect();
        for (i, result) in batched {
            if let Some(slot) = results.get_mut(i) {
                *slot = result;
            }
        }
    }
    results
}

/// One batch of Bulletproofs(+), falling back to one-by-one if the batch fails.
fn verify_batch(proofs: &[RangeProof<'_>], indices: &[usize]) -> Vec<(usize, Result<(), Reason>)> {
    let items: Vec<(usize, &Bulletproof, &[CompressedPoint])> = indices
        .iter()
        .filter_map(|&i| match proofs.get(i) {
            Some(RangeProof::Bulletproof { proof, commitments }) => Some((i, *proof, *commitments)),
            _ => None,
        })
        .collect();
    let batch_ok = guard("Bulletproof batch", || {
        let mut verifier = BatchVerifier::new();
        for (_, proof, commitments) in &items {
            // `false` means the proof is malformed; the verifier is then unusable.
            if !proof.batch_verify(&mut OsRng, &mut verifier, commitments) {
                return false;
            }
        }
        verifier.verify()
    });
    if batch_ok == Ok(true) {
        return items.into_iter().map(|(i, _, _)| (i, Ok(()))).collect();
    }
    tracing::debug!(
        proofs = items.len(),
        "range-proof batch failed; verifying one by one"
    );
    items
        .into_iter()
        .map(|(i, proof, commitments)| {
            (
                i,
                verify_one(&RangeProof::Bulletproof { proof, commitments }),
            )
        })
        .collect()
}
