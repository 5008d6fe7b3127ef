//! What a block and its transactions add to the database, derived from the parsed
//! values: key images, outputs (RingCT or pre-RingCT, with their commitments), the miner
//! transaction's bytes inside the block blob.

use std::ops::Range;

use monero_oxide::{
    block::{Block, BlockHeader},
    ed25519::{Commitment, Scalar},
    io::VarInt,
    transaction::{Input, Timelock, Transaction},
};

use crate::{Hash, StorageError};

/// Parses a whole transaction blob (no trailing bytes).
pub(crate) fn parse_tx(blob: &[u8]) -> Result<Transaction, StorageError> {
    let mut rest = blob;
    let tx = Transaction::read(&mut rest)
        .map_err(|e| StorageError::Parse { what: "transaction", reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(StorageError::Parse {
            what: "transaction",
            reason: format!("{} trailing bytes", rest.len()),
        });
    }
    Ok(tx)
}

/// Parses a whole block blob; also returns where its miner transaction's bytes are.
pub(crate) fn parse_block(blob: &[u8]) -> Result<(Block, Range<usize>), StorageError> {
    let err = |reason: String| StorageError::Parse { what: "block", reason };
    let mut rest = blob;
    let header = BlockHeader::read(&mut rest).map_err(|e| err(e.to_string()))?;
    let miner_start = blob.len() - rest.len();
    let miner = Transaction::read(&mut rest).map_err(|e| err(e.to_string()))?;
    let miner_end = blob.len() - rest.len();
    let count: u64 = VarInt::read(&mut rest).map_err(|e| err(e.to_string()))?;
    // Each hash takes 32 bytes: the count is checked against what is left before anything
    // is allocated.
    let left = u64::try_from(rest.len()).unwrap_or(u64::MAX);
    if count.checked_mul(32) != Some(left) {
        return Err(err(format!("{count} transaction hashes but {left} bytes left")));
    }
    let hashes: Vec<Hash> = rest
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let block = Block::new(header, miner, hashes)
        .ok_or_else(|| err("the miner transaction has no generation input".into()))?;
    Ok((block, miner_start..miner_end))
}

/// Parses only a block blob's header.
pub(crate) fn parse_header(blob: &[u8]) -> Result<BlockHeader, StorageError> {
    BlockHeader::read(&mut &blob[..])
        .map_err(|e| StorageError::Parse { what: "block header", reason: e.to_string() })
}

/// The height a block's miner transaction names, if it is well formed.
pub(crate) fn miner_height(block: &Block) -> Option<u64> {
    match block.miner_transaction().prefix().inputs.first() {
        Some(Input::Gen(height)) => u64::try_from(*height).ok(),
        _ => None,
    }
}

/// Which pool an output goes to, and what is needed for its commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputKind {
    /// An output of a version-2 non-miner transaction, with its commitment.
    Rct { commitment: Hash },
    /// An output of a version-2 miner transaction: RingCT, with commitment
    /// `zeroCommit(amount)`.
    CoinbaseRct { amount: u64 },
    /// An output of a version-1 transaction, in the pool of its amount.
    PreRct { amount: u64 },
}

impl OutputKind {
    /// The pool's amount (0 for RingCT).
    pub(crate) fn pool(self) -> u64 {
        match self {
            OutputKind::Rct { .. } | OutputKind::CoinbaseRct { .. } => 0,
            OutputKind::PreRct { amount } => amount,
        }
    }

    /// The commitment to store (RingCT only). Computes `G + amount·H` for miner outputs.
    pub(crate) fn commitment(self) -> Option<Hash> {
        match self {
            OutputKind::Rct { commitment } => Some(commitment),
            OutputKind::CoinbaseRct { amount } => Some(zero_commit(amount)),
            OutputKind::PreRct { .. } => None,
        }
    }
}

/// monerod's `zeroCommit(amount)`: the commitment to `amount` with mask 1.
pub fn zero_commit(amount: u64) -> Hash {
    Commitment::new(Scalar::ONE, amount).commit().compress().to_bytes()
}

/// One output a transaction creates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewOutput {
    pub(crate) key: Hash,
    pub(crate) kind: OutputKind,
}

/// What a transaction adds to the database besides its blob.
#[derive(Debug, Clone)]
pub(crate) struct TxEffects {
    pub(crate) key_images: Vec<Hash>,
    pub(crate) outputs: Vec<NewOutput>,
    pub(crate) unlock_time: u64,
    pub(crate) is_coinbase: bool,
}

/// Derives a transaction's key images and outputs. The error says which rule of
/// well-formedness the transaction breaks.
pub(crate) fn tx_effects(tx: &Transaction) -> Result<TxEffects, String> {
    let prefix = tx.prefix();
    let is_coinbase = matches!(prefix.inputs.first(), Some(Input::Gen(_)));
    let mut key_images = Vec::with_capacity(prefix.inputs.len());
    for input in &prefix.inputs {
        match input {
            Input::ToKey { key_image, .. } => key_images.push(key_image.to_bytes()),
            Input::Gen(_) if is_coinbase && prefix.inputs.len() == 1 => {}
            Input::Gen(_) => return Err("a generation input in a transaction with other inputs".into()),
        }
    }
    let commitments = match tx {
        Transaction::V2 { proofs: Some(proofs), .. } if !is_coinbase => {
            if proofs.base.commitments.len() != prefix.outputs.len() {
                return Err(format!(
                    "{} outputs but {} commitments",
                    prefix.outputs.len(),
                    proofs.base.commitments.len()
                ));
            }
            Some(&proofs.base.commitments)
        }
        Transaction::V2 { proofs: None, .. } if !is_coinbase => {
            return Err("a version-2 non-miner transaction without RingCT proofs".into());
        }
        _ => None,
    };
    let mut outputs = Vec::with_capacity(prefix.outputs.len());
    for (i, out) in prefix.outputs.iter().enumerate() {
        let kind = match (tx.version(), commitments) {
            (2, Some(commitments)) => {
                let commitment = commitments.get(i).ok_or("missing commitment")?;
                OutputKind::Rct { commitment: commitment.to_bytes() }
            }
            (2, None) => match out.amount {
                Some(amount) => OutputKind::CoinbaseRct { amount },
                None => return Err("a version-2 miner output without an amount".into()),
            },
            _ => match out.amount {
                Some(amount) if amount > 0 => OutputKind::PreRct { amount },
                _ => return Err(format!("pre-RingCT output {i} has amount 0")),
            },
        };
        outputs.push(NewOutput { key: out.key.to_bytes(), kind });
    }
    let unlock_time = match prefix.additional_timelock {
        Timelock::None => 0,
        Timelock::Block(height) => u64::try_from(height).map_err(|_| "unlock height too large")?,
        Timelock::Time(time) => time,
    };
    Ok(TxEffects { key_images, outputs, unlock_time, is_coinbase })
}
