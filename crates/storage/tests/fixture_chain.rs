//! A real chain: the regtest fixture built by monerod 0.18 with real RingCT transactions
//! (`umbra_test_kit::chain_fixture`, cached under `$UMBRA_FIXTURE_DIR` or
//! `~/.cache/umbra-fixtures`). Every block goes in; what comes out must be what
//! monerod said about the same chain: each RingCT output's key, commitment (`mask` from
//! monerod's `get_outs`, `zeroCommit(amount)` for miner outputs), height and transaction;
//! each transaction's output indices (`get_o_indexes`); each block's metadata; the total
//! of generated coins. Then the last 300 blocks are popped and written again.
//!
//! When the fixture is not cached yet, the test kit builds it first (10–14 minutes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::{collections::HashMap, path::PathBuf};

use serde_json::Value;
use umbra_storage::{OutputId, VerifiedBlock, VerifiedTx, parse_block_blob};

/// The regtest chain fixture's dir, built first when it is not cached.
fn fixture_dir() -> PathBuf {
    let fixture = umbra_test_kit::chain_fixture::ChainFixture::ensure().expect("the chain fixture");
    fixture.dir().to_path_buf()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn the_regtest_fixture_chain_reads_back_as_monerod_reported_it() {
    let dir = fixture_dir();
    eprintln!("fixture: {}", dir.display());
    let facts: Value =
        serde_json::from_slice(&std::fs::read(dir.join("facts.json")).unwrap()).unwrap();
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(dir.join("outputs.json")).unwrap()).unwrap();
    let fees: HashMap<String, u64> = facts["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["hash"].as_str().unwrap().to_owned(),
                t["fee"].as_u64().unwrap(),
            )
        })
        .collect();

    let mut blocks = Vec::new();
    for b in facts["blocks"].as_array().unwrap() {
        let height = b["height"].as_u64().unwrap();
        let blob = std::fs::read(dir.join(format!("blocks/{height}.bin"))).unwrap();
        let (block, hash) = parse_block_blob(&blob).unwrap();
        assert_eq!(hash, hex32(&b["hash"]));
        let txs: Vec<VerifiedTx> = b["tx_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let tx = VerifiedTx::from_blob(
                    std::fs::read(dir.join(format!("txs/{}.bin", h.as_str().unwrap()))).unwrap(),
                )
                .unwrap();
                assert_eq!(tx.hash, hex32(h));
                tx
            })
            .collect();
        let block_fees: u64 = b["tx_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| fees[h.as_str().unwrap()])
            .sum();
        blocks.push(VerifiedBlock {
            block,
            blob,
            hash,
            height,
            txs,
            weight: b["weight"].as_u64().unwrap(),
            long_term_weight: b["long_term_weight"].as_u64().unwrap(),
            cumulative_difficulty: u128::from(b["cumulative_difficulty"].as_u64().unwrap()),
            generated_coins: b["reward"].as_u64().unwrap() - block_fees,
        });
    }

    common::each_engine(|engine| {
        let (_tmp, db) = common::open(engine);
        for batch in blocks.chunks(100) {
            db.write_blocks(batch).unwrap();
        }
        let report = db.check_integrity().unwrap();
        let totals = &facts["totals"];
        assert_eq!(report.blocks, totals["block_count"].as_u64().unwrap());
        assert_eq!(
            report.rct_outputs,
            totals["rct_output_count"].as_u64().unwrap()
        );
        assert_eq!(
            report.txs,
            report.blocks + totals["tx_count"].as_u64().unwrap()
        );

        db.read(|s| {
            let top = s.top_info()?.unwrap();
            assert_eq!(top.hash, hex32(&totals["tip_hash"]));
            assert_eq!(
                top.cumulative_generated_coins,
                totals["already_generated_coins"].as_u64().unwrap()
            );
            assert_eq!(s.num_outputs(0)?, outputs["count"].as_u64().unwrap());

            for b in facts["blocks"].as_array().unwrap() {
                let info = s.block_info(b["height"].as_u64().unwrap())?.unwrap();
                assert_eq!(info.timestamp, b["timestamp"].as_u64().unwrap());
                assert_eq!(
                    u64::from(info.major_version),
                    b["major_version"].as_u64().unwrap()
                );
                assert_eq!(
                    u64::from(info.minor_version),
                    b["minor_version"].as_u64().unwrap()
                );
                let miner = &b["miner_tx"];
                let entry = s.tx(&hex32(&miner["hash"]))?.unwrap();
                assert_eq!(entry.location.index_in_block, 0);
                let indices: Vec<u64> = miner["output_indices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(
                    entry.output_indices, indices,
                    "miner tx of block {}",
                    info.height
                );
            }
            for t in facts["txs"].as_array().unwrap() {
                let entry = s.tx(&hex32(&t["hash"]))?.unwrap();
                assert_eq!(entry.location.height, t["block_height"].as_u64().unwrap());
                assert_eq!(
                    entry.location.index_in_block,
                    t["index_in_block"].as_u64().unwrap() + 1
                );
                let indices: Vec<u64> = t["output_indices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(entry.output_indices, indices);
                let kis: Vec<[u8; 32]> = t["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| hex32(&i["key_image"]))
                    .collect();
                assert_eq!(s.key_images_spent(&kis)?, vec![true; kis.len()]);
            }
            for (index, o) in outputs["outputs"].as_object().unwrap() {
                let index: u64 = index.parse().unwrap();
                let out = s.output(OutputId::rct(index))?.unwrap();
                assert_eq!(out.key, hex32(&o["key"]), "output {index}");
                assert_eq!(
                    out.commitment,
                    Some(hex32(&o["mask"])),
                    "commitment of output {index}"
                );
                assert_eq!(out.height, o["height"].as_u64().unwrap());
                assert_eq!(s.tx_hash_by_index(out.tx_index)?, Some(hex32(&o["txid"])));
            }
            Ok(())
        })
        .unwrap();

        // Pop the last 300 blocks (most of the transactions are there) and put them back.
        let before = db.check_integrity().unwrap();
        let popped = db.pop_blocks(300).unwrap();
        let mid = db.check_integrity().unwrap();
        assert_eq!(mid.blocks, before.blocks - 300);
        assert_eq!(popped.first().unwrap().info.height, before.blocks - 300);
        let start = usize::try_from(mid.blocks).unwrap();
        db.write_blocks(&blocks[start..]).unwrap();
        assert_eq!(db.check_integrity().unwrap(), before);
        eprintln!("{}: {before:?}", engine.name());
    });
}
