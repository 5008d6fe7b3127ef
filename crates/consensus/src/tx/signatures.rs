//! Ring signatures: v1 ring signatures, MLSAGs (aggregate and per input) and CLSAGs.
//!
//! A transaction's signatures split into independent jobs (one per input, or one for an
//! aggregate MLSAG), so a block's jobs can be spread over threads.

use monero_oxide::{
    ed25519::CompressedPoint,
    ring_signatures::RingSignature,
    ringct::{
        RctPrunable,
        mlsag::{AggregateRingMatrixBuilder, RingMatrix},
    },
    transaction::{Input, Transaction},
};

use super::{
    error::{ProofKind, Reason},
    guard,
};

/// The ring of one input: `[output key, commitment]` per member, in ring order.
pub(crate) type Ring = Vec<[CompressedPoint; 2]>;

/// How many independent signature jobs a transaction has.
pub(crate) fn job_count(tx: &Transaction) -> usize {
    match tx {
        Transaction::V2 {
            proofs: Some(proofs),
            ..
        } => match proofs.prunable {
            RctPrunable::AggregateMlsagBorromean { .. } => 1,
            _ => tx.prefix().inputs.len(),
        },
        _ => tx.prefix().inputs.len(),
    }
}

/// The message signed: the prefix hash for version 1, the RingCT message (prefix hash, base
/// hash, range-proof hash) for version 2.
pub(crate) fn message(tx: &Transaction) -> Result<[u8; 32], Reason> {
    guard("signature message", || tx.signature_hash())?
        .ok_or_else(|| Reason::Malformed("transaction has nothing to sign".into()))
}

fn key_image(tx: &Transaction, input: usize) -> Option<CompressedPoint> {
    match tx.prefix().inputs.get(input)? {
        Input::ToKey { key_image, .. } => Some(*key_image),
        Input::Gen(_) => None,
    }
}

/// Verifies signature job `job` of a transaction whose rings (one per input) are `rings`.
pub(crate) fn verify_job(
    tx: &Transaction,
    message: &[u8; 32],
    rings: &[Ring],
    job: usize,
) -> Result<(), Reason> {
    let mismatch = |problem| Reason::RingDataMismatch {
        input: job,
        problem,
    };
    match tx {
        Transaction::V1 { signatures, .. } => {
            let bad = Reason::InvalidSignature {
                kind: ProofKind::RingSignature,
                input: job,
            };
            let signature = signatures
                .get(job)
                .ok_or_else(|| mismatch("no signature"))?;
            let ring = rings.get(job).ok_or_else(|| mismatch("no ring"))?;
            let image = key_image(tx, job).ok_or_else(|| mismatch("no key image"))?;
            let keys: Vec<CompressedPoint> = ring.iter().map(|[key, _]| *key).collect();
            match verify_ring_signature(signature, message, &keys, &image)? {
                true => Ok(()),
                false => Err(bad),
            }
        }
        Transaction::V2 { proofs: None, .. } => Err(Reason::MissingRctProofs),
        Transaction::V2 {
            proofs: Some(proofs),
            ..
        } => match &proofs.prunable {
            RctPrunable::AggregateMlsagBorromean { mlsag, .. } => {
                let bad = Reason::InvalidSignature {
                    kind: ProofKind::AggregateMlsag,
                    input: 0,
                };
                let images: Vec<CompressedPoint> = (0..tx.prefix().inputs.len())
                    .map(|i| key_image(tx, i).ok_or_else(|| mismatch("no key image")))
                    .collect::<Result<_, _>>()?;
                let verified = guard("aggregate MLSAG", || {
                    let mut builder =
                        AggregateRingMatrixBuilder::new(&proofs.base.commitments, proofs.base.fee)
                            .ok()?;
                    for ring in rings {
                        builder.push_ring(ring).ok()?;
                    }
                    let matrix = builder.build().ok()?;
                    Some(mlsag.verify(message, &matrix, &images).is_ok())
                })?;
                match verified {
                    Some(true) => Ok(()),
                    _ => Err(bad),
                }
            }
            RctPrunable::MlsagBorromean { mlsags, .. } => verify_mlsag(
                tx,
                message,
                rings,
                job,
                mlsags.get(job),
                proofs.base.pseudo_outs.get(job),
            ),
            RctPrunable::MlsagBulletproofs {
                mlsags,
                pseudo_outs,
                ..
            }
            | RctPrunable::MlsagBulletproofsCompactAmount {
                mlsags,
                pseudo_outs,
                ..
            } => verify_mlsag(
                tx,
                message,
                rings,
                job,
                mlsags.get(job),
                pseudo_outs.get(job),
            ),
            RctPrunable::Clsag {
                clsags,
                pseudo_outs,
                ..
            } => {
                let bad = Reason::InvalidSignature {
                    kind: ProofKind::Clsag,
                    input: job,
                };
                let clsag = clsags.get(job).ok_or_else(|| mismatch("no CLSAG"))?;
                let pseudo_out = pseudo_outs
                    .get(job)
                    .ok_or_else(|| mismatch("no pseudo-output"))?;
                let ring = rings.get(job).ok_or_else(|| mismatch("no ring"))?;
                let image = key_image(tx, job).ok_or_else(|| mismatch("no key image"))?;
                match guard("CLSAG", || {
                    clsag.verify(ring.clone(), &image, pseudo_out, message)
                })? {
                    Ok(()) => Ok(()),
                    Err(_) => Err(bad),
                }
            }
        },
    }
}

fn verify_mlsag(
    tx: &Transaction,
    message: &[u8; 32],
    rings: &[Ring],
    job: usize,
    mlsag: Option<&monero_oxide::ringct::mlsag::Mlsag>,
    pseudo_out: Option<&CompressedPoint>,
) -> Result<(), Reason> {
    let mismatch = |problem| Reason::RingDataMismatch {
        input: job,
        problem,
    };
    let bad = Reason::InvalidSignature {
        kind: ProofKind::Mlsag,
        input: job,
    };
    let mlsag = mlsag.ok_or_else(|| mismatch("no MLSAG"))?;
    let pseudo_out = *pseudo_out.ok_or_else(|| mismatch("no pseudo-output"))?;
    let ring = rings.get(job).ok_or_else(|| mismatch("no ring"))?;
    let image = key_image(tx, job).ok_or_else(|| mismatch("no key image"))?;
    let verified = guard("MLSAG", || {
        let matrix = RingMatrix::individual(ring, pseudo_out).ok()?;
        Some(mlsag.verify(message, &matrix, &[image]).is_ok())
    })?;
    match verified {
        Some(true) => Ok(()),
        _ => Err(bad),
    }
}

/// Verifies a version-1 ring signature over `message` (the prefix hash).
pub(crate) fn verify_ring_signature(
    signature: &RingSignature,
    message: &[u8; 32],
    keys: &[CompressedPoint],
    key_image: &CompressedPoint,
) -> Result<bool, Reason> {
    guard("ring signature", || {
        signature.verify(message, keys, key_image)
    })
}
