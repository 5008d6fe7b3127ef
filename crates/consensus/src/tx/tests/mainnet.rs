//! Real mainnet transactions (`testdata/mainnet`, copied from the shared test data with their
//! `blocks.json` facts): decoding, hashes, weights, the semantic rules of their hard fork and
//! their range proofs. Their ring members are not available offline, so their signatures are
//! not verified here.

use monero_oxide::{block::Block, ringct::RctType};

use crate::{
    HardFork,
    tx::{
        MAX_TX_SIZE, RangeProofMode, Reason, SemanticRules, Tx, TxId, batch,
        semantic::{self, CheckedTx},
    },
};

const BLOCKS_JSON: &str = include_str!("../testdata/mainnet/blocks.json");

pub(crate) fn mainnet_tx(hash: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/src/tx/testdata/mainnet/tx/{hash}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn mainnet_block(hash: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/src/tx/testdata/mainnet/block/{hash}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn facts() -> serde_json::Value {
    serde_json::from_str(BLOCKS_JSON).unwrap()
}

/// The hard fork each test transaction is checked at: the version of the block holding it
/// where blocks.json records it, else the fork its RingCT type belongs to.
fn hard_fork_of(hash: &str) -> HardFork {
    match hash {
        // Block 202,609 (v1).
        "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3"
        | "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df" => HardFork::V1,
        // Block 1,731,606 (v9).
        "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee"
        | "e57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474"
        | "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169" => HardFork::V9,
        // RingCT type 3 with ring size 11: hard forks 8 to 10.
        "84d48dc11ec91950f8b70a85af9db91fe0c8abef71ef5db08304f7344b99ea66" => HardFork::V9,
        // Version 1 with rings of one member: before ring sizes were enforced.
        "9e3f73e66d7c7293af59c59c1ff5d6aae047289f49e5884c66caaf4aea49fb34" => HardFork::V1,
        other => panic!("no hard fork for {other}"),
    }
}

fn rules(hard_fork: HardFork) -> SemanticRules {
    SemanticRules {
        hard_fork,
        max_weight: u64::MAX,
    }
}

#[test]
fn mainnet_transactions_decode_to_their_hash_and_recorded_shape() {
    let facts = facts();
    let mut decoded = 0;
    for fact in facts["transactions"].as_array().unwrap() {
        let hash = fact["hash"].as_str().unwrap();
        let blob = mainnet_tx(hash);
        match Tx::parse(&blob) {
            Ok(tx) => {
                assert_eq!(hex::encode(tx.hash()), hash);
                assert_eq!(
                    u64::from(tx.version()),
                    fact["version"].as_u64().unwrap(),
                    "{hash}"
                );
                let prefix = tx.transaction().prefix();
                assert_eq!(
                    prefix.inputs.len() as u64,
                    fact["inputs"].as_u64().unwrap(),
                    "{hash}"
                );
                assert_eq!(
                    prefix.outputs.len() as u64,
                    fact["outputs"].as_u64().unwrap(),
                    "{hash}"
                );
                assert_eq!(tx.blob(), blob.as_slice());
                decoded += 1;
            }
            Err(err) => {
                // The one coinbase among them is refused: coinbases are the block rules'.
                assert_eq!(
                    hash,
                    "3bc7ff015b227e7313cc2e8668bfbb3f3acbee274a9c201d6211cf681b5f6bb1"
                );
                assert_eq!(err.reason, Reason::CoinbaseInput { input: 0 });
                assert!(matches!(err.tx, TxId::Unparsed { len: 248, .. }));
            }
        }
    }
    assert_eq!(decoded, 7);
}

#[test]
fn mainnet_transactions_pass_the_rules_of_their_hard_fork_range_proofs_included() {
    for fact in facts()["transactions"].as_array().unwrap() {
        let hash = fact["hash"].as_str().unwrap();
        let Ok(tx) = Tx::parse(&mainnet_tx(hash)) else {
            continue;
        };
        let hf = hard_fork_of(hash);
        let checked = semantic::check(tx, &rules(hf)).unwrap_or_else(|e| panic!("{e}"));
        let request = checked.ring_request();
        assert_eq!(
            request.inputs.len(),
            fact["inputs"].as_u64().unwrap() as usize
        );
        // Version-1 transactions spend clear amounts: from hard fork 2 the ring-size rule
        // needs the chain's output counts; at v1 there is no such rule.
        assert!(!checked.needs_output_counts(), "{hash}");
    }
}

#[test]
fn ringct_type_3_transactions_are_accepted_from_hard_fork_8_to_10_only() {
    let hash = "84d48dc11ec91950f8b70a85af9db91fe0c8abef71ef5db08304f7344b99ea66";
    for v in 1..=16 {
        let hf = HardFork::from_version(v).unwrap();
        let result = semantic::check(Tx::parse(&mainnet_tx(hash)).unwrap(), &rules(hf));
        match v {
            8..=10 => assert!(result.is_ok(), "v{v}: {result:?}"),
            1..=3 => assert_eq!(
                result.unwrap_err().reason,
                Reason::VersionNotAllowed {
                    version: 2,
                    hard_fork: hf
                }
            ),
            // From 16 its outputs (without view tags) are refused first.
            16 => assert_eq!(
                result.unwrap_err().reason,
                Reason::OutputTypeNotAllowed {
                    output: 0,
                    tagged: false,
                    hard_fork: hf
                }
            ),
            _ => assert_eq!(
                result.unwrap_err().reason,
                Reason::RctTypeNotAllowed {
                    rct_type: 3,
                    hard_fork: hf
                },
                "v{v}"
            ),
        }
    }
}

#[test]
fn version_1_transactions_need_output_counts_from_hard_fork_2_and_are_refused_from_4_without_them()
{
    let hash = "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df";
    // At v2 the amounts are decomposed and the ring size (4) is above the minimum (3); the
    // rule still needs to know whether each amount can be mixed.
    let checked =
        semantic::check(Tx::parse(&mainnet_tx(hash)).unwrap(), &rules(HardFork::V2)).unwrap();
    assert!(checked.needs_output_counts());
    assert!(
        checked
            .ring_request()
            .inputs
            .iter()
            .all(|i| i.needs_output_count && i.amount != 0)
    );
    // Rings of one member (9e3f73…) are too small from v2 unless the amounts are unmixable.
    let small = semantic::check(
        Tx::parse(&mainnet_tx(
            "9e3f73e66d7c7293af59c59c1ff5d6aae047289f49e5884c66caaf4aea49fb34",
        ))
        .unwrap(),
        &rules(HardFork::V2),
    )
    .unwrap();
    assert!(small.needs_output_counts());
}

#[test]
fn version_1_outputs_must_be_decomposed_from_hard_fork_2() {
    // 2180a8… (block 202,609, v1) pays 85,050,000 in output 0: fine at v1, not from v2.
    let hash = "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3";
    semantic::check(Tx::parse(&mainnet_tx(hash)).unwrap(), &rules(HardFork::V1)).unwrap();
    let err =
        semantic::check(Tx::parse(&mainnet_tx(hash)).unwrap(), &rules(HardFork::V2)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::NotDecomposedAmount {
            output: 0,
            amount: 85_050_000
        }
    );
}

#[test]
fn mainnet_inputs_are_sorted_by_key_image_descending_from_hard_fork_7() {
    // b6b439… (v9, two inputs) is accepted, so its key images are in monerod's order.
    let hash = "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169";
    let tx = Tx::parse(&mainnet_tx(hash)).unwrap();
    let images: Vec<[u8; 32]> = tx.key_images().collect();
    assert!(images[0] > images[1]);
    // Swapping them is refused at v9.
    let mut t = tx.transaction().clone();
    t.prefix_mut().inputs.swap(0, 1);
    let swapped = Tx::from_transaction(&t).unwrap();
    let err = semantic::check(swapped, &rules(HardFork::V9)).unwrap_err();
    assert_eq!(err.reason, Reason::UnsortedInputs { input: 1 });
}

#[test]
fn block_weights_are_the_coinbase_plus_the_transaction_weights() {
    let facts = facts();
    for block in facts["blocks"].as_array().unwrap() {
        let Some(txs) = block["txs"].as_array() else {
            continue;
        };
        let hash = block["hash"].as_str().unwrap();
        let blob = mainnet_block(hash);
        let parsed = Block::read(&mut blob.as_slice()).unwrap();
        let coinbase = parsed.miner_transaction().serialize().len() as u64;
        let mut weight = coinbase;
        for tx_hash in txs {
            let tx = Tx::parse(&mainnet_tx(tx_hash.as_str().unwrap())).unwrap();
            weight += tx.weight();
        }
        assert_eq!(weight, block["weight"].as_u64().unwrap(), "block {hash}");
        let ids: Vec<String> = parsed.transactions.iter().map(hex::encode).collect();
        let expected: Vec<String> = txs.iter().map(|t| t.as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, expected);
    }
}

#[test]
fn mainnet_block_of_three_ringct_transactions_passes_as_a_batch_and_a_broken_bulletproof_is_named()
{
    let hashes = [
        "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee",
        "e57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474",
        "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169",
    ];
    let txs: Vec<Tx> = hashes
        .iter()
        .map(|h| Tx::parse(&mainnet_tx(h)).unwrap())
        .collect();
    assert!(
        txs.iter()
            .all(|tx| tx.rct_type() == Some(RctType::MlsagBulletproofs))
    );
    let checked: Vec<CheckedTx> = batch::check_block(txs.clone(), &rules(HardFork::V9)).unwrap();
    assert_eq!(checked.len(), 3);

    // Break the second transaction's Bulletproof: a byte of its `t_hat` (the last scalar of
    // the proof, just before the MLSAGs), low enough to keep the scalar canonical.
    let mut blob = txs[1].blob().to_vec();
    let Some(monero_oxide::transaction::Transaction::V2 {
        proofs: Some(proofs),
        ..
    }) = Some(txs[1].transaction())
    else {
        panic!()
    };
    let monero_oxide::ringct::RctPrunable::MlsagBulletproofs { bulletproof, .. } = &proofs.prunable
    else {
        panic!()
    };
    let bp = bulletproof.serialize();
    let at = blob
        .windows(bp.len())
        .position(|w| w == bp.as_slice())
        .unwrap()
        + bp.len()
        - 32;
    blob[at] ^= 1;
    let broken = Tx::parse(&blob).unwrap();
    let broken_hash = broken.hash();
    for mode in [RangeProofMode::Batched, RangeProofMode::Individual] {
        let items = vec![txs[0].clone(), broken.clone(), txs[2].clone()];
        let results = batch::check_many_with(
            items
                .into_iter()
                .map(|t| (t, rules(HardFork::V9)))
                .collect(),
            mode,
        );
        assert!(results[0].is_ok() && results[2].is_ok(), "{mode:?}");
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.hash(), Some(broken_hash));
        assert_eq!(
            err.reason,
            Reason::InvalidRangeProof {
                kind: crate::tx::ProofKind::Bulletproof,
                output: None
            }
        );
    }
    let err = batch::check_block(
        vec![txs[0].clone(), broken, txs[2].clone()],
        &rules(HardFork::V9),
    )
    .unwrap_err();
    assert_eq!(err.hash(), Some(broken_hash));
}

#[test]
fn decoding_refuses_oversized_truncated_trailing_and_non_canonical_blobs() {
    let blob = mainnet_tx("e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee");
    // Trailing bytes.
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(
        Tx::parse(&longer).unwrap_err().reason,
        Reason::TrailingBytes(1)
    );
    // Truncated.
    assert!(matches!(
        Tx::parse(&blob[..blob.len() - 1]).unwrap_err().reason,
        Reason::Malformed(_)
    ));
    // Over the limit.
    let huge = vec![0u8; MAX_TX_SIZE + 1];
    assert_eq!(
        Tx::parse(&huge).unwrap_err().reason,
        Reason::TooLarge {
            size: MAX_TX_SIZE + 1,
            limit: MAX_TX_SIZE
        }
    );
    // A varint written with a redundant continuation byte (the version 2 as 0x82 0x00).
    let mut padded = vec![0x82, 0x00];
    padded.extend_from_slice(&blob[1..]);
    assert!(Tx::parse(&padded).is_err());
    // Empty input.
    assert!(matches!(
        Tx::parse(&[]).unwrap_err().reason,
        Reason::Malformed(_)
    ));
}

#[test]
fn version_1_ring_signatures_match_monerods_check_ring_signature_vectors() {
    use monero_oxide::{ed25519::CompressedPoint, ring_signatures::RingSignature};
    let Ok(text) = std::fs::read_to_string("/usr/share/monero/testdata/crypto/tests.txt") else {
        eprintln!("monero-tests not installed; skipping");
        return;
    };
    let point =
        |s: &str| CompressedPoint::from(<[u8; 32]>::try_from(hex::decode(s).unwrap()).unwrap());
    let (mut checked, mut valid, mut unreadable) = (0, 0, 0);
    for line in text
        .lines()
        .filter(|l| l.starts_with("check_ring_signature "))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let message: [u8; 32] = hex::decode(parts[1]).unwrap().try_into().unwrap();
        let image = point(parts[2]);
        let n: usize = parts[3].parse().unwrap();
        let keys: Vec<CompressedPoint> = parts[4..4 + n].iter().map(|s| point(s)).collect();
        let signature = hex::decode(parts[4 + n]).unwrap();
        let expected = parts[5 + n] == "true";
        match RingSignature::read(n, &mut signature.as_slice()) {
            Ok(sig) => {
                let ok =
                    crate::tx::signatures::verify_ring_signature(&sig, &message, &keys, &image)
                        .unwrap();
                assert_eq!(ok, expected, "{}", &line[..120.min(line.len())]);
                valid += usize::from(ok);
            }
            // Unreduced scalars are refused when decoding (monerod's `sc_check` refuses them
            // when verifying): such a signature must be one monerod calls invalid.
            Err(_) => {
                assert!(!expected);
                unreadable += 1;
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 1024);
    assert!(
        valid > 100 && unreadable < checked,
        "valid {valid}, unreadable {unreadable}"
    );
}
