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
    let tx = Transaction::read(&mut rest).map_err(|e| StorageError::Parse {
        what: "transaction",
        reason: e.to_string(),
    })?;
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
    let err = |reason: String| StorageError::Parse {
        what: "block",
        reason,
    };
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
        return Err(err(format!(
            "{count} transaction hashes but {left} bytes left"
        )));
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

/// Parses a block blob and computes its hash (what the block downloader does before
/// handing a block to consensus).
pub fn parse_block_blob(blob: &[u8]) -> Result<(Block, Hash), StorageError> {
    let (block, _) = parse_block(blob)?;
    let hash = block.hash();
    Ok((block, hash))
}

/// Parses only a block blob's header.
pub(crate) fn parse_header(blob: &[u8]) -> Result<BlockHeader, StorageError> {
    BlockHeader::read(&mut &blob[..]).map_err(|e| StorageError::Parse {
        what: "block header",
        reason: e.to_string(),
    })
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
    Commitment::new(Scalar::ONE, amount)
        .commit()
        .compress()
        .to_bytes()
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
            Input::Gen(_) => {
                return Err("a generation input in a transaction with other inputs".into());
            }
        }
    }
    let commitments = match tx {
        Transaction::V2 {
            proofs: Some(proofs),
            ..
        } if !is_coinbase => {
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
                OutputKind::Rct {
                    commitment: commitment.to_bytes(),
                }
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
        outputs.push(NewOutput {
            key: out.key.to_bytes(),
            kind,
        });
    }
    let unlock_time = match prefix.additional_timelock {
        Timelock::None => 0,
        Timelock::Block(height) => u64::try_from(height).map_err(|_| "unlock height too large")?,
        Timelock::Time(time) => time,
    };
    Ok(TxEffects {
        key_images,
        outputs,
        unlock_time,
        is_coinbase,
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

    use super::*;

    fn block(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/mainnet/block/{name}.bin",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn tx(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/mainnet/tx/{name}.bin",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    const BLOCKS: [(&str, Option<u64>); 5] = [
        (
            "bbd604d2ba11ba27935e006ed39c9bfdd99b76bf4a50654bc1e1e61217962698",
            Some(202_612),
        ),
        (
            "5ecb7e663bbe947c734c8059e7d7d52dc7d6644bb82d81a6ad4057d127ee8eda",
            Some(202_609),
        ),
        (
            "f910435a5477ca27be1986c080d5476aeab52d0c07cf3d9c72513213350d25d4",
            Some(1_731_606),
        ),
        (
            "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428",
            Some(2_751_506),
        ),
        (
            "5da0a3d004c352a90cc86b00fab676695d76a4d1de16036c41ba4dd188c4d76f",
            None,
        ),
    ];

    #[test]
    fn mainnet_blocks_parse_hash_and_locate_their_miner_transaction() {
        for (name, height) in BLOCKS {
            let blob = block(name);
            let (parsed, hash) = parse_block_blob(&blob).unwrap();
            assert_eq!(hex_of(&hash), name);
            if let Some(height) = height {
                assert_eq!(miner_height(&parsed), Some(height));
            }
            let (_, span) = parse_block(&blob).unwrap();
            let miner = parse_tx(&blob[span]).unwrap();
            assert_eq!(miner.hash(), parsed.miner_transaction().hash());
            let effects = tx_effects(&miner).unwrap();
            assert!(effects.is_coinbase && effects.key_images.is_empty());
            // Version-1 miner outputs are pre-RingCT; version-2 ones RingCT with zeroCommit.
            for out in &effects.outputs {
                match (miner.version(), out.kind) {
                    (1, OutputKind::PreRct { amount })
                    | (2, OutputKind::CoinbaseRct { amount }) => {
                        assert!(amount > 0);
                    }
                    other => panic!("{name}: unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_and_truncation_are_parse_errors() {
        let mut blob = block(BLOCKS[1].0);
        assert!(parse_block(&blob[..blob.len() - 1]).is_err());
        blob.push(0);
        assert!(parse_block(&blob).is_err());
        let mut t = tx("3bc7ff015b227e7313cc2e8668bfbb3f3acbee274a9c201d6211cf681b5f6bb1");
        t.push(0);
        assert!(parse_tx(&t).is_err());
        for cut in 0..40 {
            assert!(parse_tx(&t[..cut]).is_err());
            assert!(parse_block(&blob[..cut]).is_err());
        }
    }

    #[test]
    fn mainnet_transactions_yield_their_key_images_and_outputs() {
        // (hash, version, inputs, outputs) from blocks.json.
        let txs = [
            (
                "3bc7ff015b227e7313cc2e8668bfbb3f3acbee274a9c201d6211cf681b5f6bb1",
                1,
                1,
                5,
            ),
            (
                "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3",
                1,
                19,
                61,
            ),
            (
                "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df",
                1,
                46,
                46,
            ),
            (
                "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee",
                2,
                1,
                2,
            ),
            (
                "e57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474",
                2,
                1,
                2,
            ),
            (
                "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169",
                2,
                2,
                2,
            ),
            (
                "9e3f73e66d7c7293af59c59c1ff5d6aae047289f49e5884c66caaf4aea49fb34",
                1,
                2,
                5,
            ),
            (
                "84d48dc11ec91950f8b70a85af9db91fe0c8abef71ef5db08304f7344b99ea66",
                2,
                2,
                2,
            ),
        ];
        for (name, version, inputs, outputs) in txs {
            let verified = crate::VerifiedTx::from_blob(tx(name)).unwrap();
            assert_eq!(hex_of(&verified.hash), name);
            let effects = tx_effects(&verified.tx).unwrap();
            // 3bc7ff… is a miner transaction (its one input generates coins).
            let coinbase = name.starts_with("3bc7ff");
            assert_eq!(effects.is_coinbase, coinbase, "{name}");
            assert_eq!(
                effects.key_images.len(),
                if coinbase { 0 } else { inputs },
                "{name}"
            );
            assert_eq!(effects.outputs.len(), outputs, "{name}");
            let Transaction::V2 { proofs, .. } = &verified.tx else {
                assert_eq!(version, 1);
                assert!(
                    effects
                        .outputs
                        .iter()
                        .all(|o| matches!(o.kind, OutputKind::PreRct { amount } if amount > 0))
                );
                continue;
            };
            assert_eq!(version, 2);
            let commitments = &proofs.as_ref().unwrap().base.commitments;
            for (out, c) in effects.outputs.iter().zip(commitments) {
                assert_eq!(
                    out.kind,
                    OutputKind::Rct {
                        commitment: c.to_bytes()
                    }
                );
                assert_eq!(out.kind.pool(), 0);
            }
        }
    }

    #[test]
    fn zero_commit_of_zero_is_the_base_point_and_differs_per_amount() {
        // G, compressed.
        let mut g = [0x66; 32];
        g[0] = 0x58;
        assert_eq!(zero_commit(0), g);
        assert_ne!(zero_commit(1), zero_commit(2));
        assert_eq!(
            OutputKind::CoinbaseRct { amount: 5 }.commitment(),
            Some(zero_commit(5))
        );
        assert_eq!(OutputKind::PreRct { amount: 5 }.commitment(), None);
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
