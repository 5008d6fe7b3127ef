//! Reads the finished chain back from monerod and writes `blocks/`, `txs/`, `facts.json` and
//! `outputs.json`, checking that monerod's answers agree with each other on the way.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::facts::{
    BlockFacts, FACTS_FORMAT, InputFacts, MinerTxFacts, OutputFacts, OutputsFile, Totals, TxFacts,
    absolute_ring,
};
use super::recipe::TxNote;
use super::{BLOCKS_DIR, ChainFixtureError, TXS_DIR, randomx_seed_height};
use crate::rpc::{BlockHeader, Hash, RpcClient, TransactionEntry};

/// Headers asked for per `get_block_headers_range` (monerod hashes each with RandomX).
const HEADERS_PER_CALL: u64 = 100;

/// Transactions asked for per `/get_transactions`.
const TXS_PER_CALL: usize = 100;

/// Outputs asked for per `/get_outs`.
const OUTS_PER_CALL: u64 = 1000;

/// RingCT type of CLSAG + Bulletproofs+ transactions.
pub(crate) const RCT_TYPE_BULLETPROOF_PLUS: u64 = 6;

/// What the export produces besides the files.
#[derive(Debug)]
pub(crate) struct Exported {
    pub(crate) blocks: Vec<BlockFacts>,
    pub(crate) txs: Vec<TxFacts>,
    pub(crate) totals: Totals,
    pub(crate) outputs: OutputsFile,
}

fn inconsistent(text: String) -> ChainFixtureError {
    ChainFixtureError::Inconsistent(text)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ChainFixtureError> {
    fs::write(path, bytes).map_err(|source| ChainFixtureError::Io {
        what: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Exports the chain of the monerod behind `rpc` into `dir`.
pub(crate) fn export(
    rpc: &RpcClient,
    dir: &Path,
    notes: &HashMap<Hash, TxNote>,
) -> Result<Exported, ChainFixtureError> {
    for sub in [BLOCKS_DIR, TXS_DIR] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).map_err(|source| ChainFixtureError::Io {
            what: "create",
            path,
            source,
        })?;
    }
    let info = rpc.get_info()?;
    let tip = info
        .height
        .checked_sub(1)
        .ok_or_else(|| inconsistent("empty chain".into()))?;

    tracing::info!(tip, "chain fixture: exporting headers (with PoW hashes)");
    let mut headers: Vec<BlockHeader> = Vec::new();
    let mut start = 0;
    while start <= tip {
        let end = (start + HEADERS_PER_CALL - 1).min(tip);
        let chunk = rpc.get_block_headers_range_with_pow(start, end)?;
        if chunk.len() as u64 != end - start + 1 {
            return Err(inconsistent(format!(
                "get_block_headers_range {start}..={end} returned {} headers",
                chunk.len()
            )));
        }
        headers.extend(chunk);
        start = end + 1;
    }

    tracing::info!("chain fixture: exporting blocks");
    let mut blocks = Vec::with_capacity(headers.len());
    let mut miner_hashes = Vec::with_capacity(headers.len());
    let mut tx_order: Vec<(Hash, u64, u64)> = Vec::new();
    for (expected, header) in (0u64..).zip(&headers) {
        if header.height != expected {
            return Err(inconsistent(format!(
                "header {expected} says height {}",
                header.height
            )));
        }
        let block = rpc.get_block_by_height(expected)?;
        if block.block_header.hash != header.hash {
            return Err(inconsistent(format!(
                "block {expected}: get_block hash differs from the header's"
            )));
        }
        write(
            &dir.join(BLOCKS_DIR).join(format!("{expected}.bin")),
            &block.blob,
        )?;
        let json = block
            .json_value()
            .map_err(|e| inconsistent(format!("block {expected}: bad json: {e}")))?;
        let miner = json
            .get("miner_tx")
            .ok_or_else(|| inconsistent(format!("block {expected}: no miner_tx")))?;
        let amounts = miner
            .get("vout")
            .and_then(Value::as_array)
            .map(|outs| {
                outs.iter()
                    .filter_map(|o| o.get("amount")?.as_u64())
                    .collect()
            })
            .unwrap_or_default();
        let seed_height = randomx_seed_height(expected);
        let seed_hash = headers
            .get(usize::try_from(seed_height).unwrap_or(usize::MAX))
            .map(|h| h.hash)
            .ok_or_else(|| inconsistent(format!("no seed block {seed_height}")))?;
        for (index, hash) in (0u64..).zip(&block.tx_hashes) {
            tx_order.push((*hash, expected, index));
        }
        miner_hashes.push(block.miner_tx_hash);
        blocks.push(BlockFacts {
            height: expected,
            hash: header.hash,
            prev_hash: header.prev_hash,
            timestamp: header.timestamp,
            major_version: header.major_version,
            minor_version: header.minor_version,
            nonce: header.nonce,
            difficulty: header.difficulty_u128(),
            cumulative_difficulty: header.cumulative_difficulty_u128(),
            size: header.block_size,
            weight: header.block_weight,
            long_term_weight: header.long_term_weight,
            reward: header.reward,
            fees: 0,
            already_generated_coins: 0,
            pow_hash: header.pow_hash.unwrap_or_default(),
            seed_height,
            seed_hash,
            miner_tx: MinerTxFacts {
                hash: block.miner_tx_hash,
                version: miner.get("version").and_then(Value::as_u64).unwrap_or(0),
                unlock_time: miner
                    .get("unlock_time")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                amounts,
                output_indices: Vec::new(),
                blob_size: 0,
            },
            tx_hashes: block.tx_hashes.clone(),
        });
    }

    tracing::info!(
        txs = tx_order.len(),
        "chain fixture: exporting transactions"
    );
    let wanted: Vec<Hash> = miner_hashes
        .iter()
        .copied()
        .chain(tx_order.iter().map(|(h, _, _)| *h))
        .collect();
    let mut entries: HashMap<Hash, TransactionEntry> = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(TXS_PER_CALL) {
        let answer = rpc.get_transactions(chunk)?;
        if !answer.missed_tx.is_empty() {
            return Err(inconsistent(format!(
                "monerod does not know {} transactions of its own chain, e.g. {}",
                answer.missed_tx.len(),
                answer
                    .missed_tx
                    .first()
                    .map(hex::encode)
                    .unwrap_or_default()
            )));
        }
        for entry in answer.txs {
            entries.insert(entry.tx_hash, entry);
        }
    }
    let entry = |hash: &Hash| {
        entries.get(hash).ok_or_else(|| {
            inconsistent(format!(
                "no /get_transactions entry for {}",
                hex::encode(hash)
            ))
        })
    };

    let mut rct_outputs: u64 = 0;
    for block in &mut blocks {
        let e = entry(&block.miner_tx.hash)?;
        block.miner_tx.output_indices = e.output_indices.clone();
        block.miner_tx.blob_size = e.blob().len() as u64;
        if block.height > 0 {
            rct_outputs += e.output_indices.len() as u64;
        }
    }

    let mut txs = Vec::with_capacity(tx_order.len());
    for (hash, height, index_in_block) in &tx_order {
        let e = entry(hash)?;
        let tx = tx_facts(e, *height, *index_in_block, notes.get(hash))?;
        write(
            &dir.join(TXS_DIR).join(format!("{}.bin", hex::encode(hash))),
            &e.as_hex,
        )?;
        rct_outputs += tx.output_count;
        txs.push(tx);
    }

    let mut fees: HashMap<u64, u64> = HashMap::new();
    for tx in &txs {
        let entry = fees.entry(tx.block_height).or_default();
        *entry = entry
            .checked_add(tx.fee)
            .ok_or_else(|| inconsistent("fees overflow".into()))?;
    }
    let mut generated: u64 = 0;
    for block in &mut blocks {
        block.fees = fees.get(&block.height).copied().unwrap_or(0);
        let emitted = block.reward.checked_sub(block.fees).ok_or_else(|| {
            inconsistent(format!("block {}: fees exceed the reward", block.height))
        })?;
        generated = generated
            .checked_add(emitted)
            .ok_or_else(|| inconsistent("generated coins overflow".into()))?;
        block.already_generated_coins = generated;
    }

    tracing::info!(outputs = rct_outputs, "chain fixture: exporting outputs");
    let distribution = rpc.get_rct_output_distribution(0)?;
    let distributed = distribution
        .distribution
        .last()
        .copied()
        .unwrap_or(0)
        .saturating_add(distribution.base);
    if distributed != rct_outputs {
        return Err(inconsistent(format!(
            "get_output_distribution counts {distributed} RingCT outputs, the transactions {rct_outputs}"
        )));
    }
    let mut outputs = BTreeMap::new();
    let mut first = 0;
    while first < rct_outputs {
        let last = (first + OUTS_PER_CALL).min(rct_outputs);
        let indices: Vec<u64> = (first..last).collect();
        let outs = rpc.get_outs(&indices)?;
        if outs.len() != indices.len() {
            return Err(inconsistent(format!(
                "get_outs {first}..{last} returned {} outputs",
                outs.len()
            )));
        }
        for (index, out) in indices.into_iter().zip(outs) {
            outputs.insert(
                index,
                OutputFacts {
                    key: out.key,
                    mask: out.mask,
                    height: out.height,
                    unlocked: out.unlocked,
                    txid: out.txid,
                },
            );
        }
        first = last;
    }
    check_output_owners(&blocks, &txs, &outputs)?;

    let sums = rpc.get_coinbase_tx_sum(0, tip + 1)?;
    let template = rpc.get_block_template(crate::MINING_ADDRESS)?;
    if template.height != tip + 1 || template.seed_height != randomx_seed_height(tip + 1) {
        return Err(inconsistent(format!(
            "get_block_template for height {} uses seed height {}, the rule gives {}",
            template.height,
            template.seed_height,
            randomx_seed_height(template.height)
        )));
    }
    if u128::from(generated) != sums.emission_u128() {
        return Err(inconsistent(format!(
            "get_coinbase_tx_sum reports {} coins emitted, the block rewards minus fees {generated}",
            sums.emission_u128()
        )));
    }
    // monerod's get_info counts transactions without the coinbases.
    if info.tx_count != txs.len() as u64 {
        return Err(inconsistent(format!(
            "get_info counts {} transactions, the blocks list {}",
            info.tx_count,
            txs.len()
        )));
    }
    let last = blocks
        .last()
        .ok_or_else(|| inconsistent("no blocks".into()))?;
    if last.hash != info.top_block_hash {
        return Err(inconsistent(
            "the last header is not get_info's top block".into(),
        ));
    }
    let totals = Totals {
        tip_height: tip,
        tip_hash: last.hash,
        block_count: tip + 1,
        cumulative_difficulty: info.cumulative_difficulty_u128(),
        already_generated_coins: sums.emission_u128(),
        total_fees: sums.fee_u128(),
        tx_count: txs.len() as u64,
        ringct_tx_count: txs
            .iter()
            .filter(|t| t.rct_type == RCT_TYPE_BULLETPROOF_PLUS)
            .count() as u64,
        tx_count_with_coinbase: txs.len() as u64 + tip + 1,
        rct_output_count: rct_outputs,
        next_seed_height: template.seed_height,
        max_txs_per_block: blocks
            .iter()
            .map(|b| b.tx_hashes.len() as u64)
            .max()
            .unwrap_or(0),
    };
    Ok(Exported {
        blocks,
        txs,
        totals,
        outputs: OutputsFile {
            format: FACTS_FORMAT,
            amount: 0,
            count: rct_outputs,
            as_of_height: tip,
            outputs,
        },
    })
}

/// Facts of one non-coinbase transaction from its `/get_transactions` entry; fails unless
/// the entry is the whole transaction (prunable data included).
fn tx_facts(
    e: &TransactionEntry,
    height: u64,
    index_in_block: u64,
    note: Option<&TxNote>,
) -> Result<TxFacts, ChainFixtureError> {
    let name = hex::encode(e.tx_hash);
    if e.in_pool || e.block_height != height {
        return Err(inconsistent(format!(
            "tx {name}: monerod puts it at height {} (in pool: {}), the block list at {height}",
            e.block_height, e.in_pool
        )));
    }
    if e.as_hex.is_empty() || !e.prunable_as_hex.is_empty() {
        return Err(inconsistent(format!(
            "tx {name}: monerod sent it pruned or split, not whole"
        )));
    }
    let json = e
        .json_value()
        .map_err(|err| inconsistent(format!("tx {name}: bad json: {err}")))?;
    let rct = json.get("rct_signatures");
    let rct_type = rct
        .and_then(|r| r.get("type"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if rct_type != 0 && json.get("rctsig_prunable").is_none() {
        return Err(inconsistent(format!(
            "tx {name}: RingCT type {rct_type} without prunable data: the blob is not whole"
        )));
    }
    let mut inputs = Vec::new();
    for input in json
        .get("vin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = input
            .get("key")
            .ok_or_else(|| inconsistent(format!("tx {name}: an input is not txin_to_key")))?;
        let key_offsets: Vec<u64> = key
            .get("key_offsets")
            .and_then(Value::as_array)
            .map(|o| o.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let ring = absolute_ring(&key_offsets)
            .ok_or_else(|| inconsistent(format!("tx {name}: ring offsets overflow")))?;
        let image = key
            .get("k_image")
            .and_then(Value::as_str)
            .ok_or_else(|| inconsistent(format!("tx {name}: an input has no key image")))?;
        inputs.push(InputFacts {
            key_image: super::facts::hex32::parse(image).map_err(inconsistent)?,
            amount: key.get("amount").and_then(Value::as_u64).unwrap_or(0),
            key_offsets,
            ring,
        });
    }
    let output_count = json
        .get("vout")
        .and_then(Value::as_array)
        .map_or(0, |v| v.len() as u64);
    if output_count != e.output_indices.len() as u64 {
        return Err(inconsistent(format!(
            "tx {name}: {output_count} outputs but {} global indices",
            e.output_indices.len()
        )));
    }
    Ok(TxFacts {
        hash: e.tx_hash,
        block_height: height,
        index_in_block,
        version: json.get("version").and_then(Value::as_u64).unwrap_or(0),
        rct_type,
        fee: rct
            .and_then(|r| r.get("txnFee"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        unlock_time: json.get("unlock_time").and_then(Value::as_u64).unwrap_or(0),
        blob_size: e.as_hex.len() as u64,
        weight: note.and_then(|n| n.weight),
        tags: note.map(|n| n.tags.clone()).unwrap_or_default(),
        inputs,
        output_count,
        output_indices: e.output_indices.clone(),
    })
}

/// Every output's `txid` from `/get_outs` is the transaction whose `output_indices` list it,
/// and every ring member exists.
fn check_output_owners(
    blocks: &[BlockFacts],
    txs: &[TxFacts],
    outputs: &BTreeMap<u64, OutputFacts>,
) -> Result<(), ChainFixtureError> {
    let owned = blocks
        .iter()
        .skip(1)
        .map(|b| (b.miner_tx.hash, &b.miner_tx.output_indices))
        .chain(txs.iter().map(|t| (t.hash, &t.output_indices)));
    for (hash, indices) in owned {
        for index in indices {
            let out = outputs
                .get(index)
                .ok_or_else(|| inconsistent(format!("output {index} missing from get_outs")))?;
            if out.txid != hash {
                return Err(inconsistent(format!(
                    "output {index}: get_outs names tx {}, get_transactions {}",
                    hex::encode(out.txid),
                    hex::encode(hash)
                )));
            }
        }
    }
    for tx in txs {
        for member in tx.inputs.iter().flat_map(|i| &i.ring) {
            if !outputs.contains_key(member) {
                return Err(inconsistent(format!(
                    "tx {}: ring member {member} is not an output of the chain",
                    hex::encode(tx.hash)
                )));
            }
        }
    }
    Ok(())
}
