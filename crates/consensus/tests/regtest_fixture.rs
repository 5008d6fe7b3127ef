//! The whole regtest chain fixture (monerod 0.18 `--regtest --fixed-difficulty 1`, about
//! 2,000 blocks with real RingCT transactions, built by `umbra-test-kit`'s chain fixture):
//! every block parsed, its proof of work computed by RandomX in parallel batches, and every
//! header and coinbase rule checked in order with the chain context, against what monerod
//! recorded in `facts.json` (hashes, proof-of-work hashes, weights, long-term weights,
//! difficulties, rewards, generated coins).
//!
//! The fixture is cached in `$UMBRA_FIXTURE_DIR` (default `~/.cache/umbra-fixtures`); when
//! it is missing, `ChainFixture::ensure` builds it first (about 12 minutes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use monero_oxide::transaction::Transaction;
use serde_json::Value;
use umbra_consensus::block::{BlockTx, parse_block};
use umbra_consensus::pow::{RandomXConfig, RandomXHasher};
use umbra_consensus::weight::transaction_weight_with_blob_len;
use umbra_consensus::{ChainConfig, ChainContext, PowCheck, verify_block_header_and_coinbase};

/// The regtest chain fixture's dir (`umbra_test_kit::chain_fixture`).
fn fixture_dir() -> Option<PathBuf> {
    // Builds the fixture (monerod + monero-wallet-rpc, ~12 min) when it is not cached yet.
    let fixture = umbra_test_kit::chain_fixture::ChainFixture::ensure().expect("the chain fixture");
    Some(fixture.dir().to_path_buf())
}

fn hash32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn num(v: &Value) -> u128 {
    v.as_u64()
        .map(u128::from)
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| {
            // serde_json without arbitrary_precision reads 128-bit numbers as f64 only; the
            // fixture's values fit in u64 on a 2,000-block chain.
            panic!("not an integer: {v}")
        })
}

#[test]
fn every_rule_over_the_regtest_fixture() {
    let Some(dir) = fixture_dir() else {
        eprintln!(
            "skipping: no complete regtest chain fixture under $UMBRA_FIXTURE_DIR or ~/.cache/umbra-fixtures"
        );
        return;
    };
    let facts: Value =
        serde_json::from_slice(&std::fs::read(dir.join("facts.json")).unwrap()).unwrap();
    let blocks = facts["blocks"].as_array().unwrap();
    let fixed = num(&blocks[1]["difficulty"]);
    let config = ChainConfig::regtest(Some(fixed));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // The wallet's own weight of each transaction, when it reported one.
    let wallet_weights: std::collections::HashMap<[u8; 32], u64> = facts["txs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tx| Some((hash32(&tx["hash"]), tx["weight"].as_u64()?)))
        .collect();

    // Read everything first (I/O is the caller's business).
    let started = Instant::now();
    let mut parsed = Vec::with_capacity(blocks.len());
    let mut block_txs: Vec<Vec<BlockTx>> = Vec::with_capacity(blocks.len());
    for (height, fact) in blocks.iter().enumerate() {
        let bytes = std::fs::read(dir.join(format!("blocks/{height}.bin"))).unwrap();
        let block = parse_block(&bytes, u64::MAX).unwrap();
        assert_eq!(
            block.hash(),
            hash32(&fact["hash"]),
            "hash of block {height}"
        );
        let mut txs = Vec::new();
        for tx_hash in fact["tx_hashes"].as_array().unwrap() {
            let hash = hash32(tx_hash);
            let blob = std::fs::read(dir.join(format!("txs/{}.bin", hex::encode(hash)))).unwrap();
            let tx = Transaction::read(&mut blob.as_slice()).unwrap();
            assert_eq!(tx.hash(), hash);
            let fee = match &tx {
                Transaction::V2 {
                    proofs: Some(proofs),
                    ..
                } => proofs.base.fee,
                _ => panic!("fixture transactions are RingCT"),
            };
            let weight = transaction_weight_with_blob_len(&tx, blob.len());
            if let Some(&wallet) = wallet_weights.get(&hash) {
                assert_eq!(
                    weight,
                    wallet,
                    "weight of transaction {}",
                    hex::encode(hash)
                );
            }
            txs.push(BlockTx { hash, weight, fee });
        }
        parsed.push(block);
        block_txs.push(txs);
    }
    let read = started.elapsed();

    let hasher = RandomXHasher::new(RandomXConfig::default()).unwrap();
    let mut ctx = ChainContext::new(config);
    let started = Instant::now();
    let mut hashing = std::time::Duration::ZERO;
    let mut height = 0usize;
    let batch = 512;
    while height < parsed.len() {
        let end = (height + batch).min(parsed.len());
        let chunk = &parsed[height..end];
        let t = Instant::now();
        let pows = hasher.hash_blocks(&ctx.pow_jobs(chunk));
        hashing += t.elapsed();
        for (offset, (block, pow)) in chunk.iter().zip(&pows).enumerate() {
            let h = height + offset;
            let fact = &blocks[h];
            let pow_check = match pow {
                Ok(pow) => PowCheck::Computed(pow),
                // Genesis is v1 (CryptoNight): known by hash.
                Err(_) if h == 0 => PowCheck::Checkpoint(block.hash()),
                Err(e) => panic!("block {h}: {e}"),
            };
            let info =
                verify_block_header_and_coinbase(block, &ctx, &block_txs[h], pow_check, Some(now))
                    .unwrap_or_else(|e| panic!("block {h}: {e}"));
            if h > 0 {
                assert_eq!(
                    info.pow_hash,
                    Some(hash32(&fact["pow_hash"])),
                    "pow hash of {h}"
                );
                assert_eq!(
                    hash32(&fact["seed_hash"]),
                    pow.as_ref().unwrap().seed().unwrap(),
                    "seed of {h}"
                );
            }
            assert_eq!(
                u128::from(info.weight),
                num(&fact["weight"]),
                "weight of {h}"
            );
            assert_eq!(
                u128::from(info.long_term_weight),
                num(&fact["long_term_weight"]),
                "long-term weight of {h}"
            );
            assert_eq!(
                info.difficulty,
                num(&fact["difficulty"]),
                "difficulty of {h}"
            );
            assert_eq!(
                info.cumulative_difficulty,
                num(&fact["cumulative_difficulty"]),
                "cumulative difficulty of {h}"
            );
            assert_eq!(
                u128::from(info.coinbase_amount),
                num(&fact["reward"]),
                "reward of {h}"
            );
            assert_eq!(
                u128::from(info.miner_tx_weight),
                num(&fact["miner_tx"]["blob_size"]),
                "coinbase size of {h}"
            );
            ctx.apply(&info).unwrap();
        }
        height = end;
    }
    let verified = started.elapsed();
    let totals = &facts["totals"];
    assert_eq!(
        u128::from(ctx.already_generated_coins()),
        num(&totals["already_generated_coins"])
    );
    assert_eq!(
        ctx.cumulative_difficulty(),
        num(&totals["cumulative_difficulty"])
    );
    assert_eq!(ctx.top_hash(), hash32(&totals["tip_hash"]));
    println!(
        "regtest fixture: {} blocks, {} transactions read in {:.1} s; verified in {:.1} s ({:.1} s of it RandomX on {} threads, {:.0} blocks/s); {:?}",
        parsed.len(),
        block_txs.iter().map(Vec::len).sum::<usize>(),
        read.as_secs_f64(),
        verified.as_secs_f64(),
        hashing.as_secs_f64(),
        hasher.config().threads,
        parsed.len() as f64 / verified.as_secs_f64(),
        hasher.stats()
    );
}
