//! The regtest chain fixture (real type-6 transactions made by monero-wallet-rpc and mined
//! by monerod 0.18): every transaction verified fully against the fixture's outputs, and
//! real transactions broken in each way a bad block can be.
//!
//! The fixture is built by `umbra-test-kit`'s `ChainFixture` into
//! `$UMBRA_FIXTURE_DIR` (default `~/.cache/umbra-fixtures`), built first when it is missing
//! (about 12 minutes); these tests read its files (`facts.json`, `outputs.json`,
//! `txs/<hash>.bin`).

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
};

use monero_oxide::{ed25519::Scalar, ringct::RctPrunable, transaction::Transaction};
use rand_core_v06::OsRng;
use serde_json::Value;

use crate::{
    HardFork,
    tx::{
        Context, InputRingData, ProofKind, Reason, RingData, RingMember, SemanticRules, Tx,
        VerifiedTx, batch, contextual,
        semantic::{self, CheckedTx},
        unlock,
    },
};

/// The regtest chain fixture's dir (`umbra_test_kit::chain_fixture`).
fn fixture_dir() -> Option<PathBuf> {
    // Builds the fixture (monerod + monero-wallet-rpc, ~12 min) when it is not cached yet.
    let fixture = umbra_test_kit::chain_fixture::ChainFixture::ensure().expect("the chain fixture");
    Some(fixture.dir().to_path_buf())
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// The fixture, loaded: blocks, transactions and the chain's outputs as ring members.
pub(super) struct Fixture {
    dir: PathBuf,
    facts: Value,
    /// RingCT outputs by global index.
    outputs: HashMap<u64, RingMember>,
}

impl Fixture {
    pub(super) fn load() -> Option<Self> {
        let Some(dir) = fixture_dir() else {
            eprintln!(
                "no chain fixture under $UMBRA_FIXTURE_DIR or ~/.cache/umbra-fixtures; skipping"
            );
            return None;
        };
        let facts: Value =
            serde_json::from_slice(&std::fs::read(dir.join("facts.json")).unwrap()).unwrap();
        let outputs_file: Value =
            serde_json::from_slice(&std::fs::read(dir.join("outputs.json")).unwrap()).unwrap();
        // Unlock time and origin of every transaction's outputs.
        let mut origin: HashMap<[u8; 32], (u64, bool)> = HashMap::new();
        for block in facts["blocks"].as_array().unwrap() {
            let miner = &block["miner_tx"];
            origin.insert(
                hex32(&miner["hash"]),
                (miner["unlock_time"].as_u64().unwrap(), true),
            );
        }
        for tx in facts["txs"].as_array().unwrap() {
            origin.insert(
                hex32(&tx["hash"]),
                (tx["unlock_time"].as_u64().unwrap(), false),
            );
        }
        let mut outputs = HashMap::new();
        for (index, output) in outputs_file["outputs"].as_object().unwrap() {
            let (unlock_time, is_coinbase) = origin[&hex32(&output["txid"])];
            outputs.insert(
                index.parse::<u64>().unwrap(),
                RingMember {
                    key: hex32(&output["key"]),
                    commitment: Some(hex32(&output["mask"])),
                    unlock_time,
                    height: output["height"].as_u64().unwrap(),
                    is_coinbase,
                },
            );
        }
        Some(Self {
            dir,
            facts,
            outputs,
        })
    }

    pub(super) fn tx(&self, hash: &[u8; 32]) -> Tx {
        let blob = std::fs::read(
            self.dir
                .join("txs")
                .join(format!("{}.bin", hex::encode(hash))),
        )
        .unwrap();
        Tx::parse(&blob).unwrap()
    }

    pub(super) fn blocks(&self) -> &Vec<Value> {
        self.facts["blocks"].as_array().unwrap()
    }

    pub(super) fn hard_fork(&self, height: u64) -> HardFork {
        HardFork::from_version(
            self.blocks()[height as usize]["major_version"]
                .as_u64()
                .unwrap() as u8,
        )
        .unwrap()
    }

    /// Where a transaction of the block at `height` goes: the reference time from the 60
    /// timestamps before it (or the block's own timestamp, as monerod's clock, below 60).
    pub(super) fn context(&self, height: u64) -> Context {
        let blocks = self.blocks();
        let h = height as usize;
        let stamps: Vec<u64> = blocks[h.saturating_sub(unlock::TIMESTAMP_WINDOW)..h]
            .iter()
            .map(|b| b["timestamp"].as_u64().unwrap())
            .collect();
        let now = blocks[h]["timestamp"].as_u64().unwrap();
        Context::new(
            height,
            unlock::reference_time(self.hard_fork(height), &stamps, now),
        )
    }

    pub(super) fn ring_data(&self, checked: &CheckedTx, spent: &HashSet<[u8; 32]>) -> RingData {
        RingData {
            inputs: checked
                .ring_request()
                .inputs
                .iter()
                .map(|input| {
                    assert_eq!(input.amount, 0);
                    InputRingData {
                        members: input
                            .indices
                            .iter()
                            .map(|i| self.outputs.get(i).copied())
                            .collect(),
                        key_image_spent: spent.contains(&input.key_image),
                        amount_outputs: None,
                    }
                })
                .collect(),
        }
    }

    pub(super) fn rules(&self, height: u64) -> SemanticRules {
        SemanticRules::for_block(self.hard_fork(height), 600_000)
    }

    /// Every block with transactions, with them parsed: (height, block facts, txs).
    pub(super) fn blocks_with_txs(&self) -> Vec<(u64, &Value, Vec<Tx>)> {
        self.blocks()
            .iter()
            .filter(|b| !b["tx_hashes"].as_array().unwrap().is_empty())
            .map(|b| {
                let txs = b["tx_hashes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| self.tx(&hex32(h)))
                    .collect();
                (b["height"].as_u64().unwrap(), b, txs)
            })
            .collect()
    }

    fn tx_facts(&self, hash: &[u8; 32]) -> &Value {
        self.facts["txs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| hex32(&t["hash"]) == *hash)
            .unwrap()
    }

    /// Checks and verifies one transaction of the block at `height` against the chain
    /// before it.
    fn verify(
        &self,
        tx: Tx,
        height: u64,
        spent: &HashSet<[u8; 32]>,
    ) -> Result<VerifiedTx, crate::tx::TxError> {
        let checked = semantic::check(tx, &self.rules(height))?;
        let data = self.ring_data(&checked, spent);
        contextual::verify(checked, &self.context(height), &data)
    }

    /// Key images spent in blocks below `height`.
    fn spent_below(&self, height: u64) -> HashSet<[u8; 32]> {
        self.facts["txs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["block_height"].as_u64().unwrap() < height)
            .flat_map(|t| {
                t["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| hex32(&i["key_image"]))
            })
            .collect()
    }
}

#[test]
fn every_fixture_transaction_verifies_block_by_block() {
    let Some(fixture) = Fixture::load() else {
        return;
    };
    let mut spent: HashSet<[u8; 32]> = HashSet::new();
    let mut verified_count = 0;
    for (height, block, txs) in fixture.blocks_with_txs() {
        let ctx = fixture.context(height);
        let checked = batch::check_block(txs.clone(), &fixture.rules(height))
            .unwrap_or_else(|e| panic!("block {height}: {e}"));
        let items: Vec<(CheckedTx, RingData)> = checked
            .into_iter()
            .map(|c| {
                let data = fixture.ring_data(&c, &spent);
                (c, data)
            })
            .collect();
        let verified =
            batch::verify_block(items, &ctx).unwrap_or_else(|e| panic!("block {height}: {e}"));

        // What monerod said about them.
        let mut weight = block["miner_tx"]["blob_size"].as_u64().unwrap();
        for v in &verified {
            let facts = fixture.tx_facts(&v.hash());
            assert_eq!(v.fee, facts["fee"].as_u64().unwrap());
            assert_eq!(v.unlock_time, facts["unlock_time"].as_u64().unwrap());
            assert_eq!(v.tx.rct_type().map(u8::from), Some(6));
            assert_eq!(
                v.outputs.len() as u64,
                facts["output_count"].as_u64().unwrap()
            );
            if let Some(w) = facts["weight"].as_u64() {
                assert_eq!(v.weight(), w, "weight of {}", hex::encode(v.hash()));
            }
            let inputs = facts["inputs"].as_array().unwrap();
            assert_eq!(
                v.key_images,
                inputs
                    .iter()
                    .map(|i| hex32(&i["key_image"]))
                    .collect::<Vec<_>>()
            );
            let rings: Vec<Vec<u64>> = inputs
                .iter()
                .map(|i| {
                    i["ring"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .collect()
                })
                .collect();
            let checked = semantic::check(v.tx.clone(), &fixture.rules(height)).unwrap();
            let requested: Vec<Vec<u64>> = checked
                .ring_request()
                .inputs
                .into_iter()
                .map(|i| i.indices)
                .collect();
            assert_eq!(requested, rings);
            weight += v.weight();
        }
        assert_eq!(
            weight,
            block["weight"].as_u64().unwrap(),
            "weight of block {height}"
        );
        for v in &verified {
            spent.extend(v.key_images.iter().copied());
        }
        verified_count += verified.len();
    }
    let expected = fixture.facts["totals"]["tx_count"].as_u64().unwrap() as usize;
    assert_eq!(verified_count, expected);
    assert!(
        verified_count >= 50,
        "only {verified_count} transactions in the fixture"
    );
    eprintln!("verified {verified_count} fixture transactions");
}

/// A fixture transaction with at least `inputs` inputs, and its block height.
fn sample(fixture: &Fixture, inputs: usize) -> (Tx, u64) {
    let facts = fixture.facts["txs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["inputs"].as_array().unwrap().len() >= inputs)
        .unwrap();
    (
        fixture.tx(&hex32(&facts["hash"])),
        facts["block_height"].as_u64().unwrap(),
    )
}

fn clsag_parts(
    tx: &mut Transaction,
) -> (
    &mut Vec<monero_oxide::ringct::clsag::Clsag>,
    &mut Vec<monero_oxide::ed25519::CompressedPoint>,
) {
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = tx
    else {
        panic!()
    };
    let RctPrunable::Clsag {
        clsags,
        pseudo_outs,
        ..
    } = &mut proofs.prunable
    else {
        panic!()
    };
    (clsags, pseudo_outs)
}

#[test]
fn broken_fixture_transactions_are_rejected_with_the_reason() {
    let Some(fixture) = Fixture::load() else {
        return;
    };
    let (tx, height) = sample(&fixture, 2);
    let spent = fixture.spent_below(height);
    fixture.verify(tx.clone(), height, &spent).unwrap();

    // A flipped CLSAG scalar.
    let mut t = tx.transaction().clone();
    clsag_parts(&mut t).0[1].s[0] = Scalar::random(&mut OsRng);
    let err = fixture
        .verify(Tx::from_transaction(&t).unwrap(), height, &spent)
        .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 1
        }
    );

    // A flipped Bulletproof+ byte (the low byte of `r1`, so it still decodes).
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = tx.transaction()
    else {
        panic!()
    };
    let RctPrunable::Clsag { bulletproof, .. } = &proofs.prunable else {
        panic!()
    };
    let bp = bulletproof.serialize();
    let start = tx
        .blob()
        .windows(bp.len())
        .position(|w| w == bp.as_slice())
        .unwrap();
    let mut blob = tx.blob().to_vec();
    blob[start + 96] ^= 1;
    let err = fixture
        .verify(Tx::parse(&blob).unwrap(), height, &spent)
        .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidRangeProof {
            kind: ProofKind::BulletproofPlus,
            output: None
        }
    );

    // Wrong pseudo-outputs: swapped (balanced, CLSAGs fail) and replaced (unbalanced).
    let mut t = tx.transaction().clone();
    clsag_parts(&mut t).1.swap(0, 1);
    let err = fixture
        .verify(Tx::from_transaction(&t).unwrap(), height, &spent)
        .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 0
        }
    );
    let mut t = tx.transaction().clone();
    let pseudo_outs = clsag_parts(&mut t).1;
    pseudo_outs[0] = pseudo_outs[1];
    let err = fixture
        .verify(Tx::from_transaction(&t).unwrap(), height, &spent)
        .unwrap_err();
    assert_eq!(err.reason, Reason::Unbalanced);

    // Its key images already spent on the chain (as if a later block repeated it).
    let mut later = spent.clone();
    later.extend(tx.key_images());
    let err = fixture.verify(tx.clone(), height, &later).unwrap_err();
    assert_eq!(err.reason, Reason::KeyImageSpent { input: 0 });

    // A ring member not yet unlocked: verified at an earlier height than its own block.
    let checked = semantic::check(tx.clone(), &fixture.rules(height)).unwrap();
    let data = fixture.ring_data(&checked, &spent);
    let newest = data
        .inputs
        .iter()
        .flat_map(|i| i.members.iter().flatten())
        .map(|m| m.height)
        .max()
        .unwrap();
    let early = Context {
        chain_height: newest + 5,
        ..fixture.context(height)
    };
    let err = contextual::verify(checked, &early, &data).unwrap_err();
    assert!(
        matches!(
            err.reason,
            Reason::RingMemberTooYoung { .. } | Reason::RingMemberLocked { .. }
        ),
        "{err}"
    );

    // The same transaction twice in one block: a double spend within the block.
    let err = batch::check_block(vec![tx.clone(), tx.clone()], &fixture.rules(height)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::KeyImageSpentInBatch {
            input: 0,
            other: crate::tx::TxHash(tx.hash())
        }
    );
}

#[test]
fn two_fixture_transactions_spending_one_output_in_one_block_are_a_double_spend() {
    let Some(fixture) = Fixture::load() else {
        return;
    };
    let (tx, height) = sample(&fixture, 1);
    let spent = fixture.spent_below(height);
    // A second transaction with the same key image: the original with another extra (its
    // signatures break, but the block is refused before they are checked).
    let mut t = tx.transaction().clone();
    t.prefix_mut().extra.push(0);
    let twin = Tx::from_transaction(&t).unwrap();
    let err =
        batch::check_block(vec![tx.clone(), twin.clone()], &fixture.rules(height)).unwrap_err();
    assert_eq!(err.hash(), Some(twin.hash()));
    assert!(matches!(
        err.reason,
        Reason::KeyImageSpentInBatch { input: 0, .. }
    ));
    let _ = spent;
}
