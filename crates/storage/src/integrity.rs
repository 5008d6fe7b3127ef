//! The integrity check: is the database exactly a chain of complete blocks?
//!
//! In one snapshot, for every main-chain height from 0 to the top:
//!
//! - the metadata, the hash → height entry and the blob are there; the blob parses, hashes
//!   to the stored hash, names its height in the miner transaction, and builds on the
//!   block below;
//! - its transactions are numbered consecutively after the block below's; each blob is
//!   there, parses and hashes to the hash the block lists (the miner transaction to its
//!   own); each hash → location entry points back to it;
//! - every output is stored at the index its transaction records, with its key, height,
//!   transaction and commitment (RingCT indices consecutive, pre-RingCT indices consecutive
//!   per amount), and every key image is spent;
//!
//! and then that no table holds anything else: each table's entry count is what the walk
//! found (so no part of a partly written or partly popped block survives), the per-amount
//! counters match, and every alternative block is indexed under its chain.

use std::collections::BTreeMap;

use crate::{
    IntegrityReport, OutputId, StorageError,
    backend::{Table, contains},
    codec::u64_key,
    derive::{parse_block, parse_tx, tx_effects},
    read::Snapshot,
};

fn fail(table: Table, key: &[u8], what: &'static str) -> StorageError {
    StorageError::corrupt(table.name(), key, what)
}

/// Runs the check (see the module documentation).
pub(crate) fn check(s: &Snapshot<'_>) -> Result<IntegrityReport, StorageError> {
    let tx = s.raw();
    let mut report = IntegrityReport::default();
    let mut amount_counts: BTreeMap<u64, u64> = BTreeMap::new();
    let height = s.chain_height()?;
    let mut prev_hash = [0u8; 32];
    let mut next_tx_index = 0u64;
    let mut rct = 0u64;

    for h in 0..height {
        let hk = u64_key(h);
        let info = s
            .block_info(h)?
            .ok_or_else(|| fail(Table::BlockInfo, &hk, "block missing below the top"))?;
        if s.block_height(&info.hash)? != Some(h) {
            return Err(fail(
                Table::BlockHeights,
                &info.hash,
                "hash does not map to its height",
            ));
        }
        let blob = s
            .block_blob(h)?
            .ok_or_else(|| fail(Table::BlockBlobs, &hk, "block blob missing"))?;
        let (block, _) =
            parse_block(&blob).map_err(|_| fail(Table::BlockBlobs, &hk, "block does not parse"))?;
        if block.hash() != info.hash {
            return Err(fail(
                Table::BlockBlobs,
                &hk,
                "block blob hashes to another hash",
            ));
        }
        if block.header.previous != prev_hash {
            return Err(fail(
                Table::BlockBlobs,
                &hk,
                "block does not build on the block below",
            ));
        }
        if crate::derive::miner_height(&block) != Some(h) {
            return Err(fail(
                Table::BlockBlobs,
                &hk,
                "miner transaction names another height",
            ));
        }
        if info.first_tx_index != next_tx_index
            || info.tx_count != block.transactions.len() as u64 + 1
        {
            return Err(fail(
                Table::BlockInfo,
                &hk,
                "transaction numbering has a gap",
            ));
        }
        let expected_hashes = std::iter::once(block.miner_transaction().hash())
            .chain(block.transactions.iter().copied());
        for (i, expected) in expected_hashes.enumerate() {
            let tx_index = info.first_tx_index + i as u64;
            let tk = u64_key(tx_index);
            let entry = s
                .tx(&expected)?
                .ok_or_else(|| fail(Table::TxIds, &expected, "transaction missing"))?;
            if entry.location.tx_index != tx_index
                || entry.location.height != h
                || entry.location.index_in_block != i as u64
            {
                return Err(fail(
                    Table::TxIds,
                    &expected,
                    "transaction location is wrong",
                ));
            }
            let parsed = parse_tx(&entry.blob)
                .map_err(|_| fail(Table::TxBlobs, &tk, "transaction does not parse"))?;
            if parsed.hash() != expected {
                return Err(fail(
                    Table::TxBlobs,
                    &tk,
                    "transaction blob hashes to another hash",
                ));
            }
            let effects = tx_effects(&parsed)
                .map_err(|_| fail(Table::TxBlobs, &tk, "transaction is malformed"))?;
            if effects.outputs.len() != entry.output_indices.len() {
                return Err(fail(
                    Table::TxOutputs,
                    &tk,
                    "output count disagrees with the transaction",
                ));
            }
            for (out, index) in effects.outputs.iter().zip(&entry.output_indices) {
                let amount = out.kind.pool();
                let expected_index = if amount == 0 {
                    let i = rct;
                    rct += 1;
                    i
                } else {
                    let count = amount_counts.entry(amount).or_insert(0);
                    let i = *count;
                    *count += 1;
                    i
                };
                if *index != expected_index {
                    return Err(fail(Table::TxOutputs, &tk, "output index out of sequence"));
                }
                let stored = s
                    .output(OutputId {
                        amount,
                        index: *index,
                    })?
                    .ok_or_else(|| fail(Table::TxOutputs, &tk, "output missing"))?;
                if stored.key != out.key
                    || stored.height != h
                    || stored.tx_index != tx_index
                    || stored.is_coinbase != effects.is_coinbase
                    || stored.unlock_time != effects.unlock_time
                    || stored.commitment != out.kind.commitment()
                {
                    return Err(fail(
                        Table::TxOutputs,
                        &tk,
                        "stored output differs from the transaction's",
                    ));
                }
            }
            for key_image in &effects.key_images {
                if !contains(tx, Table::KeyImages, key_image)? {
                    return Err(fail(
                        Table::KeyImages,
                        key_image,
                        "key image of a stored transaction missing",
                    ));
                }
            }
            report.key_images += effects.key_images.len() as u64;
        }
        if info.cumulative_rct_outputs != rct {
            return Err(fail(
                Table::BlockInfo,
                &hk,
                "cumulative RingCT outputs wrong",
            ));
        }
        next_tx_index += info.tx_count;
        prev_hash = info.hash;
    }

    report.blocks = height;
    report.txs = next_tx_index;
    report.rct_outputs = rct;
    report.pre_rct_outputs = amount_counts.values().sum();

    let expect_len =
        |table: Table, expected: u64, what: &'static str| -> Result<(), StorageError> {
            if tx.len(table)? == expected {
                Ok(())
            } else {
                Err(fail(table, &[], what))
            }
        };
    expect_len(Table::BlockInfo, height, "entries beyond the chain")?;
    expect_len(Table::BlockHeights, height, "entries beyond the chain")?;
    expect_len(Table::BlockBlobs, height, "entries beyond the chain")?;
    expect_len(Table::TxIds, report.txs, "transactions beyond the chain")?;
    expect_len(Table::TxBlobs, report.txs, "transactions beyond the chain")?;
    expect_len(
        Table::TxOutputs,
        report.txs,
        "transactions beyond the chain",
    )?;
    expect_len(
        Table::RctOutputs,
        report.rct_outputs,
        "outputs beyond the chain",
    )?;
    expect_len(
        Table::PreRctOutputs,
        report.pre_rct_outputs,
        "outputs beyond the chain",
    )?;
    expect_len(
        Table::KeyImages,
        report.key_images,
        "key images beyond the chain",
    )?;
    expect_len(
        Table::AmountCounts,
        amount_counts.len() as u64,
        "amount counters beyond the chain",
    )?;
    for (amount, count) in &amount_counts {
        if s.num_outputs(*amount)? != *count {
            return Err(fail(
                Table::AmountCounts,
                &u64_key(*amount),
                "amount counter wrong",
            ));
        }
    }

    // Alternative blocks: each decodes and is indexed under its chain, and nothing else is.
    report.alt_blocks = s.alt_block_count()?;
    expect_len(
        Table::AltChains,
        report.alt_blocks,
        "alternative chain index disagrees",
    )?;
    let mut bad = None;
    tx.scan(
        Table::AltBlocks,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        false,
        &mut |k, v| {
            let alt = crate::codec::decode_alt_block(k, v)?;
            if !contains(
                tx,
                Table::AltChains,
                &crate::codec::chain_key(&alt.chain_id, &alt.hash),
            )? {
                bad = Some(alt.hash);
                return Ok(false);
            }
            Ok(true)
        },
    )?;
    if let Some(hash) = bad {
        return Err(fail(
            Table::AltChains,
            &hash,
            "alternative block not indexed under its chain",
        ));
    }
    Ok(report)
}
