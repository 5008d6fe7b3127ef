//! Checks against the chain: ring members exist and are unlocked, key images unspent, and
//! the signatures over the rings.
//!
//! The verifier does no I/O. [`CheckedTx::ring_request`] lists what a transaction needs from
//! the chain; the caller (node and storage) fetches it into a [`RingData`]; [`verify`]
//! decides.

use monero_oxide::{ed25519::CompressedPoint, transaction::Timelock};
use rayon::prelude::*;

use super::{
    error::{Reason, TxError},
    parse::Tx,
    points, rules,
    semantic::{self, CheckedTx},
    signatures::{self, Ring},
    unlock,
};

/// What one input needs from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    /// The amount pool its ring members come from: 0 for RingCT outputs, else the clear
    /// amount of pre-RingCT outputs.
    pub amount: u64,
    /// The ring members' indices in that pool (absolute, in ring order). Computed from the
    /// relative offsets with wrapping addition, as monerod does.
    pub indices: Vec<u64>,
    /// The input's key image, to look up in the spent set.
    pub key_image: [u8; 32],
    /// Whether the number of outputs in the pool is needed ([`InputRingData::amount_outputs`]):
    /// for pre-RingCT amounts, where it decides the ring-size rule.
    pub needs_output_count: bool,
}

/// What a transaction needs from the chain, one entry per input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingRequest {
    /// Per input.
    pub inputs: Vec<InputRequest>,
}

impl CheckedTx {
    /// What this transaction needs from the chain before [`verify`].
    pub fn ring_request(&self) -> RingRequest {
        let inputs = semantic::to_key_inputs(self.tx.transaction()).unwrap_or_default();
        RingRequest {
            inputs: inputs
                .iter()
                .map(|input| InputRequest {
                    amount: input.amount,
                    indices: absolute_indices(input.key_offsets),
                    key_image: input.key_image,
                    needs_output_count: self.mixing_needs_chain && input.amount != 0,
                })
                .collect(),
        }
    }
}

/// Relative key offsets to absolute output indices (wrapping, as monerod's
/// `relative_output_offsets_to_absolute`).
pub fn absolute_indices(offsets: &[u64]) -> Vec<u64> {
    let mut sum = 0u64;
    offsets
        .iter()
        .map(|&offset| {
            sum = sum.wrapping_add(offset);
            sum
        })
        .collect()
}

/// An output on the chain, as a ring member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingMember {
    /// Its one-time public key.
    pub key: [u8; 32],
    /// Its amount commitment, for RingCT outputs (amount pool 0); coinbase RingCT outputs
    /// have [`zero_commitment`](super::zero_commitment) of their amount. `None` for
    /// pre-RingCT pools, where the verifier uses `G + amount·H` itself.
    pub commitment: Option<[u8; 32]>,
    /// The raw unlock time of the transaction that created it.
    pub unlock_time: u64,
    /// The height of the block that created it.
    pub height: u64,
    /// Whether a coinbase transaction created it.
    pub is_coinbase: bool,
}

/// The chain data for one input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InputRingData {
    /// The ring members, in the order of [`InputRequest::indices`]; `None` where the chain
    /// has no such output.
    pub members: Vec<Option<RingMember>>,
    /// Whether the key image is in the chain's spent set.
    pub key_image_spent: bool,
    /// The number of outputs in the amount's pool, where [`InputRequest::needs_output_count`].
    pub amount_outputs: Option<u64>,
}

/// The chain data for a transaction, one entry per input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RingData {
    /// Per input.
    pub inputs: Vec<InputRingData>,
}

/// Where the transaction would go on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The number of blocks before the one the transaction is in (for the pool: the chain's
    /// current height).
    pub chain_height: u64,
    /// The time Unix-time unlocks are compared with: [`unlock::reference_time`].
    pub time: u64,
    /// The minimum age in blocks of every ring member: a member created at height `h` may
    /// be used from chain height `h + min_ring_member_age`. [`Context::new`] sets
    /// [`BLOCK_MIN_RING_MEMBER_AGE`](unlock::BLOCK_MIN_RING_MEMBER_AGE) (1, monerod 0.18's
    /// block rule: any earlier block); wallets wait
    /// [`DEFAULT_SPENDABLE_AGE`](unlock::DEFAULT_SPENDABLE_AGE) (10).
    pub min_ring_member_age: u64,
}

impl Context {
    /// A context with monerod 0.18's minimum ring-member age for blocks (1).
    pub fn new(chain_height: u64, time: u64) -> Self {
        Self {
            chain_height,
            time,
            min_ring_member_age: unlock::BLOCK_MIN_RING_MEMBER_AGE,
        }
    }

    /// The same context with another minimum ring-member age.
    pub fn with_min_ring_member_age(self, min_ring_member_age: u64) -> Self {
        Self {
            min_ring_member_age,
            ..self
        }
    }
}

/// An output of a verified transaction, for storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputInfo {
    /// Its one-time public key.
    pub key: [u8; 32],
    /// Its clear amount (version 1); 0 for RingCT outputs.
    pub amount: u64,
    /// Its amount commitment (RingCT outputs).
    pub commitment: Option<[u8; 32]>,
    /// Its view tag, if it has one.
    pub view_tag: Option<u8>,
}

/// A transaction that passed every check, with what storage and the block rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The transaction (blob, hash, weight).
    pub tx: Tx,
    /// The fee it pays.
    pub fee: u64,
    /// Its key images, in input order.
    pub key_images: Vec<[u8; 32]>,
    /// Its outputs.
    pub outputs: Vec<OutputInfo>,
    /// Its raw unlock time (for its outputs).
    pub unlock_time: u64,
    /// The height of the newest block any of its ring members comes from.
    pub newest_ring_member_height: u64,
}

impl From<&VerifiedTx> for crate::BlockTx {
    /// What the block rules need of a verified transaction (see
    /// [`verify_block_header_and_coinbase`](crate::verify_block_header_and_coinbase)).
    fn from(tx: &VerifiedTx) -> Self {
        Self {
            hash: tx.hash(),
            weight: tx.weight(),
            fee: tx.fee,
        }
    }
}

impl VerifiedTx {
    /// Its hash.
    pub fn hash(&self) -> [u8; 32] {
        self.tx.hash()
    }

    /// Its weight.
    pub fn weight(&self) -> u64 {
        self.tx.weight()
    }
}

/// Verifies a checked transaction against the chain data fetched for it.
///
/// Signatures of several inputs are verified in parallel on the rayon pool.
pub fn verify(tx: CheckedTx, ctx: &Context, data: &RingData) -> Result<VerifiedTx, TxError> {
    let result = prepare(&tx, ctx, data).and_then(|prepared| {
        let jobs = signatures::job_count(tx.tx.transaction());
        let first_error = (0..jobs)
            .into_par_iter()
            .filter_map(|job| prepared.verify_job(&tx, job).err().map(|e| (job, e)))
            .min_by_key(|(job, _)| *job);
        match first_error {
            Some((_, reason)) => Err(reason),
            None => Ok(prepared),
        }
    });
    match result {
        Ok(prepared) => Ok(finish(tx, &prepared)),
        Err(reason) => {
            let err = tx.tx.error(reason);
            tracing::debug!(tx = %err.tx, reason = %err.reason, "transaction rejected");
            Err(err)
        }
    }
}

/// The rings and message of a transaction whose chain checks passed, ready for signatures.
#[derive(Debug)]
pub(crate) struct Prepared {
    rings: Vec<Ring>,
    message: [u8; 32],
    newest_ring_member_height: u64,
}

impl Prepared {
    /// Verifies one signature job.
    pub(crate) fn verify_job(&self, tx: &CheckedTx, job: usize) -> Result<(), Reason> {
        signatures::verify_job(tx.tx.transaction(), &self.message, &self.rings, job)
    }
}

/// Every check but the signatures: the shape of the ring data, the ring-size rule where it
/// needs chain data, ring members existing and unlocked, key images unspent.
pub(crate) fn prepare(tx: &CheckedTx, ctx: &Context, data: &RingData) -> Result<Prepared, Reason> {
    let hf = tx.hard_fork;
    let request = tx.ring_request();
    if request.inputs.len() != data.inputs.len() {
        return Err(Reason::RingDataMismatch {
            input: data.inputs.len(),
            problem: "wrong number of inputs",
        });
    }

    if tx.mixing_needs_chain {
        let required = rules::min_mixin(hf).unwrap_or(0);
        let mut mixing = rules::Mixing {
            min_mixin: usize::MAX,
            mixable: 0,
            unmixable: 0,
        };
        for (i, (req, got)) in request.inputs.iter().zip(&data.inputs).enumerate() {
            mixing.min_mixin = mixing.min_mixin.min(req.indices.len().saturating_sub(1));
            if req.amount == 0 {
                mixing.mixable += 1;
                continue;
            }
            let count = got.amount_outputs.ok_or(Reason::RingDataMismatch {
                input: i,
                problem: "the amount's output count is missing",
            })?;
            // The count includes the output being spent.
            if count <= u64::try_from(required).unwrap_or(u64::MAX) {
                mixing.unmixable += 1;
            } else {
                mixing.mixable += 1;
            }
        }
        semantic::check_mixing(mixing, tx.tx.version(), hf)?;
    }

    let mut rings = Vec::with_capacity(request.inputs.len());
    let mut newest = 0u64;
    for (i, (req, got)) in request.inputs.iter().zip(&data.inputs).enumerate() {
        if got.key_image_spent {
            return Err(Reason::KeyImageSpent { input: i });
        }
        if got.members.len() != req.indices.len() {
            return Err(Reason::RingDataMismatch {
                input: i,
                problem: "wrong number of ring members",
            });
        }
        let clear_commitment = (req.amount != 0).then(|| points::zero_commitment(req.amount));
        let mut ring = Vec::with_capacity(got.members.len());
        for (m, (member, &index)) in got.members.iter().zip(&req.indices).enumerate() {
            let member = member.ok_or(Reason::RingMemberMissing {
                input: i,
                member: m,
                index,
            })?;
            if !unlock::is_unlocked(member.unlock_time, ctx.chain_height, ctx.time, hf) {
                return Err(Reason::RingMemberLocked {
                    input: i,
                    member: m,
                    unlock_time: member.unlock_time,
                });
            }
            let min_age = if member.is_coinbase {
                ctx.min_ring_member_age.max(unlock::COINBASE_UNLOCK_WINDOW)
            } else {
                ctx.min_ring_member_age
            };
            if member.height.saturating_add(min_age) > ctx.chain_height
                || member.height >= ctx.chain_height
            {
                return Err(Reason::RingMemberTooYoung {
                    input: i,
                    member: m,
                    height: member.height,
                });
            }
            newest = newest.max(member.height);
            let Some(commitment) = clear_commitment.or(member.commitment) else {
                return Err(Reason::RingDataMismatch {
                    input: i,
                    problem: "a RingCT ring member without commitment",
                });
            };
            ring.push([
                CompressedPoint::from(member.key),
                CompressedPoint::from(commitment),
            ]);
        }
        rings.push(ring);
    }

    let message = signatures::message(tx.tx.transaction())?;
    Ok(Prepared {
        rings,
        message,
        newest_ring_member_height: newest,
    })
}

/// Builds the [`VerifiedTx`] of a transaction whose every check passed.
pub(crate) fn finish(tx: CheckedTx, prepared: &Prepared) -> VerifiedTx {
    let t = tx.tx.transaction();
    let commitments = match t {
        monero_oxide::transaction::Transaction::V2 {
            proofs: Some(proofs),
            ..
        } => Some(&proofs.base.commitments),
        _ => None,
    };
    let outputs = t
        .prefix()
        .outputs
        .iter()
        .enumerate()
        .map(|(i, output)| OutputInfo {
            key: output.key.to_bytes(),
            amount: output.amount.unwrap_or(0),
            commitment: commitments
                .and_then(|c| c.get(i))
                .map(CompressedPoint::to_bytes),
            view_tag: output.view_tag,
        })
        .collect();
    let unlock_time = match t.prefix().additional_timelock {
        Timelock::None => 0,
        Timelock::Block(height) => u64::try_from(height).unwrap_or(u64::MAX),
        Timelock::Time(time) => time,
    };
    VerifiedTx {
        key_images: tx.tx.key_images().collect(),
        fee: tx.fee,
        outputs,
        unlock_time,
        newest_ring_member_height: prepared.newest_ring_member_height,
        tx: tx.tx,
    }
}
