//! Every change to the database, each inside the caller's write transaction: append a
//! block, pop the top block, store or delete alternative blocks.
//!
//! These functions check before they write, but a failure half-way is harmless: the
//! caller aborts the whole transaction on any error, so nothing of it is committed.

use std::ops::Bound;

use crate::{
    AltBlock, BlockInfo, Hash, HexHash, NewAltBlock, OutputInfo, PoppedBlock, StorageError,
    TxLocation, VerifiedBlock,
    backend::{Table, WriteTx, contains, get_with},
    codec::{
        amount_index_key, chain_key, decode_alt_block, decode_tx_blob, decode_u64_value,
        decode_u64s, encode_alt_block, encode_block_info, encode_output, encode_tx_blob,
        encode_tx_location, encode_u64s, u64_key,
    },
    derive::{parse_header, parse_tx, tx_effects},
    read::Snapshot,
};

/// One transaction of a block, as [`append_block`] stores it.
struct TxToStore<'b> {
    hash: Hash,
    blob: &'b [u8],
    tx: &'b monero_oxide::transaction::Transaction,
}

/// Appends `block` on top of the main chain.
pub(crate) fn append_block(
    tx: &mut dyn WriteTx,
    block: &VerifiedBlock,
) -> Result<(), StorageError> {
    let hash = HexHash(block.hash);
    let inconsistent = |what: String| StorageError::InconsistentBlock {
        hash,
        height: block.height,
        what,
    };

    // Does it connect?
    let top = Snapshot::new(tx).top_info()?;
    let expected = top.map_or(0, |t| t.height + 1);
    if block.height != expected {
        return Err(StorageError::WrongHeight {
            hash,
            given: block.height,
            expected,
        });
    }
    let top_hash = top.map_or([0; 32], |t| t.hash);
    if block.block.header.previous != top_hash {
        return Err(StorageError::DoesNotConnect {
            hash,
            height: block.height,
            prev: HexHash(block.block.header.previous),
            top: HexHash(top_hash),
        });
    }
    if let Some(height) = Snapshot::new(tx).block_height(&block.hash)? {
        return Err(StorageError::DuplicateBlock { hash, height });
    }
    if crate::derive::miner_height(&block.block) != Some(block.height) {
        return Err(inconsistent(
            "the miner transaction names another height".into(),
        ));
    }
    if block.block.transactions.len() != block.txs.len() {
        return Err(inconsistent(format!(
            "the block lists {} transactions, {} were given",
            block.block.transactions.len(),
            block.txs.len()
        )));
    }
    for (i, (listed, given)) in block.block.transactions.iter().zip(&block.txs).enumerate() {
        if *listed != given.hash {
            return Err(inconsistent(format!(
                "transaction {i} is not the one the block lists"
            )));
        }
    }
    if top.is_some_and(|top| block.cumulative_difficulty <= top.cumulative_difficulty) {
        return Err(inconsistent("cumulative difficulty does not grow".into()));
    }

    // The miner transaction's bytes, exactly as they are in the block blob.
    let (_, miner_span) = crate::derive::parse_block(&block.blob)?;
    let miner_blob = block
        .blob
        .get(miner_span)
        .ok_or_else(|| inconsistent("the blob does not hold the miner transaction".into()))?;
    let miner_tx = block.block.miner_transaction();
    let mut txs = Vec::with_capacity(block.txs.len() + 1);
    txs.push(TxToStore {
        hash: miner_tx.hash(),
        blob: miner_blob,
        tx: miner_tx,
    });
    txs.extend(block.txs.iter().map(|t| TxToStore {
        hash: t.hash,
        blob: &t.blob,
        tx: &t.tx,
    }));

    let first_tx_index = top.map_or(0, |t| t.first_tx_index + t.tx_count);
    let mut rct_outputs = top.map_or(0, |t| t.cumulative_rct_outputs);
    for (i, item) in txs.iter().enumerate() {
        let index_in_block = i as u64;
        let tx_index = first_tx_index + index_in_block;
        let effects = tx_effects(item.tx)
            .map_err(|what| inconsistent(format!("transaction {}: {what}", HexHash(item.hash))))?;
        if i == 0 && !effects.is_coinbase {
            return Err(inconsistent(
                "the miner transaction has no generation input".into(),
            ));
        }
        if i > 0 && effects.is_coinbase {
            return Err(inconsistent(format!(
                "transaction {} is a miner transaction",
                HexHash(item.hash)
            )));
        }
        if let Some(other) = Snapshot::new(tx).tx_location(&item.hash)? {
            return Err(StorageError::DuplicateTx {
                tx: HexHash(item.hash),
                height: other.height,
            });
        }
        let location = TxLocation {
            tx_index,
            height: block.height,
            index_in_block,
        };
        tx.put(Table::TxIds, &item.hash, &encode_tx_location(&location))?;
        tx.put(
            Table::TxBlobs,
            &u64_key(tx_index),
            &encode_tx_blob(&item.hash, item.blob),
        )?;

        for key_image in &effects.key_images {
            if contains(tx, Table::KeyImages, key_image)? {
                return Err(StorageError::KeyImageSpent {
                    key_image: HexHash(*key_image),
                    tx: HexHash(item.hash),
                });
            }
            tx.put(Table::KeyImages, key_image, &[])?;
        }

        let mut indices = Vec::with_capacity(effects.outputs.len());
        for out in &effects.outputs {
            let info = OutputInfo {
                key: out.key,
                commitment: out.kind.commitment(),
                unlock_time: effects.unlock_time,
                height: block.height,
                tx_index,
                is_coinbase: effects.is_coinbase,
            };
            let amount = out.kind.pool();
            if amount == 0 {
                tx.put(
                    Table::RctOutputs,
                    &u64_key(rct_outputs),
                    &encode_output(&info),
                )?;
                indices.push(rct_outputs);
                rct_outputs += 1;
            } else {
                let count_key = u64_key(amount);
                let count = get_with(tx, Table::AmountCounts, &count_key, |v| {
                    decode_u64_value(Table::AmountCounts, &count_key, v)
                })?
                .unwrap_or(0);
                tx.put(
                    Table::PreRctOutputs,
                    &amount_index_key(amount, count),
                    &encode_output(&info),
                )?;
                tx.put(Table::AmountCounts, &count_key, &(count + 1).to_le_bytes())?;
                indices.push(count);
            }
        }
        tx.put(Table::TxOutputs, &u64_key(tx_index), &encode_u64s(&indices))?;
    }

    let info = BlockInfo {
        height: block.height,
        hash: block.hash,
        timestamp: block.block.header.timestamp,
        cumulative_difficulty: block.cumulative_difficulty,
        weight: block.weight,
        long_term_weight: block.long_term_weight,
        generated_coins: block.generated_coins,
        cumulative_generated_coins: top
            .map_or(0, |t| t.cumulative_generated_coins)
            .saturating_add(block.generated_coins),
        major_version: block.block.header.hardfork_version,
        minor_version: block.block.header.hardfork_signal,
        cumulative_rct_outputs: rct_outputs,
        blob_size: block.blob.len() as u64,
        first_tx_index,
        tx_count: txs.len() as u64,
    };
    let height_key = u64_key(block.height);
    tx.put(Table::BlockInfo, &height_key, &encode_block_info(&info))?;
    tx.put(
        Table::BlockHeights,
        &block.hash,
        &block.height.to_le_bytes(),
    )?;
    tx.put(Table::BlockBlobs, &height_key, &block.blob)?;
    Ok(())
}

/// Removes the top block and everything it added; returns it.
pub(crate) fn pop_block(tx: &mut dyn WriteTx) -> Result<PoppedBlock, StorageError> {
    let info = Snapshot::new(tx)
        .top_info()?
        .ok_or(StorageError::PopTooDeep {
            requested: 1,
            height: 0,
        })?;
    let height_key = u64_key(info.height);
    let corrupt = |table: Table, key: &[u8], what: &'static str| {
        StorageError::corrupt(table.name(), key, what)
    };
    let blob = get_with(tx, Table::BlockBlobs, &height_key, |v| Ok(v.to_vec()))?
        .ok_or_else(|| corrupt(Table::BlockBlobs, &height_key, "top block's blob missing"))?;

    let mut rct_outputs = info.cumulative_rct_outputs;
    let mut popped_txs = Vec::with_capacity(usize::try_from(info.tx_count).unwrap_or(0));
    // Newest transaction first, each one's outputs newest first: every index removed is
    // the last of its pool.
    for tx_index in (info.first_tx_index..info.first_tx_index + info.tx_count).rev() {
        let key = u64_key(tx_index);
        let stored = get_with(tx, Table::TxBlobs, &key, |v| decode_tx_blob(&key, v))?
            .ok_or_else(|| corrupt(Table::TxBlobs, &key, "transaction of the top block missing"))?;
        let parsed = parse_tx(&stored.blob)
            .map_err(|_| corrupt(Table::TxBlobs, &key, "transaction does not parse"))?;
        let effects = tx_effects(&parsed)
            .map_err(|_| corrupt(Table::TxBlobs, &key, "transaction is malformed"))?;
        let indices = get_with(tx, Table::TxOutputs, &key, |v| {
            decode_u64s(Table::TxOutputs, &key, v)
        })?
        .ok_or_else(|| corrupt(Table::TxOutputs, &key, "output indices missing"))?;
        if indices.len() != effects.outputs.len() {
            return Err(corrupt(
                Table::TxOutputs,
                &key,
                "output count disagrees with the transaction",
            ));
        }
        for (out, index) in effects.outputs.iter().zip(&indices).rev() {
            let amount = out.kind.pool();
            if amount == 0 {
                if rct_outputs.checked_sub(1) != Some(*index) {
                    return Err(corrupt(
                        Table::TxOutputs,
                        &key,
                        "RingCT output is not the last",
                    ));
                }
                rct_outputs = *index;
                if !tx.delete(Table::RctOutputs, &u64_key(*index))? {
                    return Err(corrupt(
                        Table::RctOutputs,
                        &u64_key(*index),
                        "output missing",
                    ));
                }
            } else {
                let count_key = u64_key(amount);
                let count = get_with(tx, Table::AmountCounts, &count_key, |v| {
                    decode_u64_value(Table::AmountCounts, &count_key, v)
                })?
                .unwrap_or(0);
                if count.checked_sub(1) != Some(*index) {
                    return Err(corrupt(
                        Table::AmountCounts,
                        &count_key,
                        "pre-RingCT output is not the last",
                    ));
                }
                let out_key = amount_index_key(amount, *index);
                if !tx.delete(Table::PreRctOutputs, &out_key)? {
                    return Err(corrupt(Table::PreRctOutputs, &out_key, "output missing"));
                }
                if *index == 0 {
                    tx.delete(Table::AmountCounts, &count_key)?;
                } else {
                    tx.put(Table::AmountCounts, &count_key, &index.to_le_bytes())?;
                }
            }
        }
        for key_image in &effects.key_images {
            if !tx.delete(Table::KeyImages, key_image)? {
                return Err(corrupt(
                    Table::KeyImages,
                    key_image,
                    "key image of the top block missing",
                ));
            }
        }
        if !tx.delete(Table::TxIds, &stored.hash)? {
            return Err(corrupt(
                Table::TxIds,
                &stored.hash,
                "transaction location missing",
            ));
        }
        tx.delete(Table::TxBlobs, &key)?;
        tx.delete(Table::TxOutputs, &key)?;
        popped_txs.push(stored);
    }
    let below = info
        .height
        .checked_sub(1)
        .map(|h| Snapshot::new(tx).block_info(h))
        .transpose()?
        .flatten();
    if rct_outputs != below.map_or(0, |b| b.cumulative_rct_outputs) {
        return Err(corrupt(
            Table::BlockInfo,
            &height_key,
            "RingCT output count disagrees with the block below",
        ));
    }
    tx.delete(Table::BlockInfo, &height_key)?;
    tx.delete(Table::BlockHeights, &info.hash)?;
    tx.delete(Table::BlockBlobs, &height_key)?;
    // The miner transaction was popped last; the others go back in block order.
    popped_txs.pop();
    popped_txs.reverse();
    Ok(PoppedBlock {
        info,
        blob,
        txs: popped_txs,
    })
}

/// Stores an alternative block; returns its chain id.
pub(crate) fn put_alt_block(
    tx: &mut dyn WriteTx,
    block: &NewAltBlock,
) -> Result<Hash, StorageError> {
    let hash = HexHash(block.hash);
    let header = parse_header(&block.blob)?;
    let snapshot = Snapshot::new(tx);
    if snapshot.block_height(&block.hash)?.is_some() || snapshot.alt_block(&block.hash)?.is_some() {
        return Err(StorageError::AltDuplicate { hash });
    }
    let (parent_height, chain_id, parent_coins) =
        if let Some(h) = snapshot.block_height(&header.previous)? {
            let parent = snapshot.block_info(h)?.ok_or_else(|| {
                StorageError::corrupt(Table::BlockInfo.name(), &u64_key(h), "block info missing")
            })?;
            (h, block.hash, parent.cumulative_generated_coins)
        } else if let Some(parent) = snapshot.alt_block(&header.previous)? {
            (
                parent.height,
                parent.chain_id,
                parent.cumulative_generated_coins,
            )
        } else {
            return Err(StorageError::AltParentUnknown {
                hash,
                prev: HexHash(header.previous),
            });
        };
    let expected = parent_height + 1;
    if block.height != expected {
        return Err(StorageError::AltWrongHeight {
            hash,
            given: block.height,
            expected,
        });
    }
    let record = AltBlock {
        hash: block.hash,
        height: block.height,
        chain_id,
        prev: header.previous,
        timestamp: header.timestamp,
        major_version: header.hardfork_version,
        minor_version: header.hardfork_signal,
        blob: block.blob.clone(),
        txs: block.txs.clone(),
        weight: block.weight,
        long_term_weight: block.long_term_weight,
        cumulative_difficulty: block.cumulative_difficulty,
        generated_coins: block.generated_coins,
        cumulative_generated_coins: parent_coins.saturating_add(block.generated_coins),
    };
    tx.put(Table::AltBlocks, &block.hash, &encode_alt_block(&record)?)?;
    tx.put(Table::AltChains, &chain_key(&chain_id, &block.hash), &[])?;
    Ok(chain_id)
}

/// Deletes every block of the alternative chain `chain_id`; returns how many.
pub(crate) fn delete_alt_chain(tx: &mut dyn WriteTx, chain_id: &Hash) -> Result<u64, StorageError> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let from = chain_key(chain_id, &[0; 32]);
    let to = chain_key(chain_id, &[0xff; 32]);
    tx.scan(
        Table::AltChains,
        Bound::Included(&from),
        Bound::Included(&to),
        false,
        &mut |k, _| {
            keys.push(k.to_vec());
            Ok(true)
        },
    )?;
    remove_alt_keys(tx, &keys)
}

/// Deletes every alternative block; returns how many.
pub(crate) fn clear_alt_blocks(tx: &mut dyn WriteTx) -> Result<u64, StorageError> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    tx.scan(
        Table::AltChains,
        Bound::Unbounded,
        Bound::Unbounded,
        false,
        &mut |k, _| {
            keys.push(k.to_vec());
            Ok(true)
        },
    )?;
    remove_alt_keys(tx, &keys)
}

fn remove_alt_keys(tx: &mut dyn WriteTx, chain_keys: &[Vec<u8>]) -> Result<u64, StorageError> {
    for key in chain_keys {
        let hash = key
            .get(32..)
            .ok_or_else(|| StorageError::corrupt(Table::AltChains.name(), key, "short key"))?;
        // The record must be ours to delete: it decodes (or the file is damaged).
        get_with(tx, Table::AltBlocks, hash, |v| {
            decode_alt_block(hash, v).map(|_| ())
        })?;
        tx.delete(Table::AltBlocks, hash)?;
        tx.delete(Table::AltChains, key)?;
    }
    Ok(chain_keys.len() as u64)
}
