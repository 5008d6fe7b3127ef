//! RandomX against monerod itself: monerod 0.18's `calc_pow` RPC hashes the same blocks'
//! hashing blobs (its `block_blob` parameter is the hashing blob, which it hashes as given),
//! on the same keys, and must give the same proof-of-work hashes. The run also times both side
//! by side (printed, never asserted): monerod's per-call time includes a loopback HTTP round
//! trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use umbra_consensus::Network;
use umbra_consensus::pow::{PowJob, RandomXConfig, RandomXHasher};
use umbra_test_kit::Monerod;

fn calc_pow(rpc: std::net::SocketAddr, height: u64, blob: &[u8], seed: &[u8; 32]) -> String {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": "0",
        "method": "calc_pow",
        "params": {
            "major_version": 16,
            "height": height,
            "block_blob": hex::encode(blob),
            "seed_hash": hex::encode(seed),
        }
    });
    let mut response = ureq::post(&format!("http://{rpc}/json_rpc"))
        .send_json(&body)
        .unwrap();
    let value: serde_json::Value = response.body_mut().read_json().unwrap();
    value["result"]
        .as_str()
        .unwrap_or_else(|| panic!("calc_pow: {value}"))
        .to_owned()
}

#[test]
fn randomx_hashes_match_monerod_calc_pow() {
    if !std::path::Path::new("/usr/bin/monerod").exists()
        && std::env::var_os("UMBRA_MONEROD").is_none()
    {
        eprintln!("skipping: no monerod");
        return;
    }
    let node = Monerod::start().unwrap();
    let hasher = RandomXHasher::new(RandomXConfig {
        threads: 1,
        ..RandomXConfig::default()
    })
    .unwrap();

    // Blocks shaped like regtest v16 blocks at heights 1..=N, keyed by the genesis hash, and a
    // second key (any 32 bytes monerod is given) for a few more.
    let genesis = Network::Regtest.genesis_block();
    let keys = [Network::Regtest.genesis_hash(), [0x5a; 32]];
    let n: u64 = 24;
    let mut blocks = Vec::new();
    for i in 0..n {
        let mut block = genesis.clone();
        block.header.hardfork_version = 16;
        block.header.hardfork_signal = 16;
        block.header.timestamp = 1_700_000_000 + 120 * i;
        block.header.nonce = 0xdead_0000 + i as u32;
        blocks.push(block);
    }
    // Warm both sides up (cache build, VM creation) before timing.
    for key in &keys {
        hasher.hash(key, &blocks[0].serialize_pow_hash()).unwrap();
        calc_pow(node.rpc_addr(), 1, &blocks[0].serialize_pow_hash(), key);
    }

    // Phase 1: one key (both sides keep its cache): light-mode hashing side by side.
    // Phase 2: alternating keys: monerod keeps one cache besides the chain's own key and
    // rebuilds it on every switch; the hasher keeps two.
    for (phase, alternate) in [("one key", false), ("alternating keys", true)] {
        let mut ours = Duration::ZERO;
        let mut theirs = Duration::ZERO;
        let mut count = 0u32;
        for (i, block) in blocks.iter().enumerate() {
            if alternate && i >= 8 {
                break;
            }
            let key = if alternate { keys[i % 2] } else { keys[0] };
            let height = 1 + i as u64;
            let started = Instant::now();
            let pow = hasher
                .hash_block(&PowJob {
                    block,
                    height,
                    seed: Some(key),
                })
                .unwrap();
            ours += started.elapsed();
            let started = Instant::now();
            let expected = calc_pow(node.rpc_addr(), height, &block.serialize_pow_hash(), &key);
            theirs += started.elapsed();
            assert_eq!(hex::encode(pow.hash()), expected, "block {i} ({phase})");
            count += 1;
        }
        println!(
            "RandomX light mode, {count} hashes, {phase}: umbra {:.1} ms/hash, monerod calc_pow {:.1} ms/hash (umbra/monerod {:.2})",
            ours.as_secs_f64() * 1000.0 / f64::from(count),
            theirs.as_secs_f64() * 1000.0 / f64::from(count),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    node.stop().unwrap();
}
