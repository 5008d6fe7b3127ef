//! Decoding a transaction blob into a [`Tx`]: size limit, exact and canonical encoding, hash.

use monero_oxide::{
    primitives::keccak256,
    ringct::RctType,
    transaction::{Input, Transaction},
};

use super::{
    error::{Reason, TxError, TxHash, TxId},
    guard,
};

/// The largest transaction blob accepted, in bytes (monerod's `CRYPTONOTE_MAX_TX_SIZE`).
pub const MAX_TX_SIZE: usize = 1_000_000;

/// A decoded non-coinbase transaction with its blob, hash and weight.
///
/// Decoding checks only the encoding: the blob is at most [`MAX_TX_SIZE`] bytes, is one
/// transaction with nothing after it, and is the canonical encoding of what it decodes to
/// (so the hash computed from the decoded form is the hash of these bytes). The consensus
/// rules come after, in [`semantic`](super::semantic) and [`contextual`](super::contextual).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    tx: Transaction,
    blob: Vec<u8>,
    hash: [u8; 32],
    weight: u64,
}

impl Tx {
    /// Decodes a transaction blob (copied).
    pub fn parse(blob: &[u8]) -> Result<Self, TxError> {
        Self::parse_with_limit(blob.to_vec(), MAX_TX_SIZE)
    }

    /// Decodes a transaction blob, keeping the buffer.
    pub fn parse_owned(blob: Vec<u8>) -> Result<Self, TxError> {
        Self::parse_with_limit(blob, MAX_TX_SIZE)
    }

    /// Decodes a transaction blob of at most `limit` bytes.
    pub fn parse_with_limit(blob: Vec<u8>, limit: usize) -> Result<Self, TxError> {
        let unparsed = |reason| TxError {
            tx: TxId::Unparsed {
                blob_hash: TxHash(keccak256(&blob)),
                len: blob.len(),
            },
            reason,
        };
        if blob.len() > limit {
            return Err(unparsed(Reason::TooLarge {
                size: blob.len(),
                limit,
            }));
        }
        let decoded = guard("transaction encoding", || {
            let mut rest = blob.as_slice();
            let tx = Transaction::read(&mut rest);
            (tx, rest.len())
        });
        let tx = match decoded {
            Err(reason) => return Err(unparsed(reason)),
            Ok((Err(e), _)) => return Err(unparsed(Reason::Malformed(e.to_string()))),
            Ok((Ok(_), trailing)) if trailing != 0 => {
                return Err(unparsed(Reason::TrailingBytes(trailing)));
            }
            Ok((Ok(tx), _)) => tx,
        };
        if let Some(input) = coinbase_input(&tx) {
            // Coinbase transactions belong to blocks and are checked by the block rules.
            return Err(unparsed(Reason::CoinbaseInput { input }));
        }
        let encoded = guard("transaction encoding", || tx.serialize()).map_err(unparsed)?;
        if encoded != blob {
            return Err(unparsed(Reason::NonCanonical));
        }
        let hash = guard("transaction hash", || tx.hash()).map_err(unparsed)?;
        let weight = crate::weight::transaction_weight_with_blob_len(&tx, blob.len());
        Ok(Self {
            tx,
            blob,
            hash,
            weight,
        })
    }

    /// Wraps a transaction built in memory (for example by a wallet or a test): encodes it
    /// and computes its hash. Transactions with a coinbase input are refused.
    pub fn from_transaction(tx: &Transaction) -> Result<Self, TxError> {
        let blob = guard("transaction encoding", || tx.serialize()).map_err(|reason| TxError {
            tx: TxId::Unparsed {
                blob_hash: TxHash([0; 32]),
                len: 0,
            },
            reason,
        })?;
        Self::parse_with_limit(blob, usize::MAX)
    }

    /// The transaction's hash (its id).
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The blob it was decoded from.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The decoded transaction.
    pub fn transaction(&self) -> &Transaction {
        &self.tx
    }

    /// Takes the blob back.
    pub fn into_blob(self) -> Vec<u8> {
        self.blob
    }

    /// The version: 1 (ring signatures) or 2 (RingCT).
    pub fn version(&self) -> u8 {
        self.tx.version()
    }

    /// The RingCT type, for a version-2 transaction with RingCT data.
    pub fn rct_type(&self) -> Option<RctType> {
        match &self.tx {
            Transaction::V2 {
                proofs: Some(proofs),
                ..
            } => Some(proofs.rct_type()),
            Transaction::V1 { .. } | Transaction::V2 { proofs: None, .. } => None,
        }
    }

    /// The weight: the blob's size, plus the Bulletproof(+) clawback for transactions with
    /// more than two outputs.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// The key image of every input, in input order.
    pub fn key_images(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.tx
            .prefix()
            .inputs
            .iter()
            .filter_map(|input| match input {
                Input::ToKey { key_image, .. } => Some(key_image.to_bytes()),
                Input::Gen(_) => None,
            })
    }

    /// The error for this transaction with this reason.
    pub fn error(&self, reason: Reason) -> TxError {
        TxError::new(self.hash, reason)
    }
}

/// The first coinbase input, if any (the transaction is then a miner transaction).
fn coinbase_input(tx: &Transaction) -> Option<usize> {
    tx.prefix()
        .inputs
        .iter()
        .position(|input| matches!(input, Input::Gen(_)))
}
