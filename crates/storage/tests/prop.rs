//! Properties over random sequences of writes, batches, pops and alternative blocks,
//! checked against a model (the list of main-chain blocks): after every step the
//! database passes the integrity check, its top is the model's, pops return exactly the
//! blocks the model drops, and their key images are unspent again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use proptest::prelude::*;
use umbra_storage::{
    BlockLocation, NewAltBlock, Storage, TxBlob, VerifiedBlock, synthetic::SyntheticChain,
};

#[derive(Debug, Clone)]
enum Op {
    Append { txs: usize },
    Batch { blocks: usize },
    Pop { blocks: u64 },
    Alt { below_top: u64, len: u64 },
    ClearAlt,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(|txs| Op::Append { txs }),
        2 => (1usize..4).prop_map(|blocks| Op::Batch { blocks }),
        2 => (1u64..4).prop_map(|blocks| Op::Pop { blocks }),
        2 => (0u64..4, 1u64..3).prop_map(|(below_top, len)| Op::Alt { below_top, len }),
        1 => Just(Op::ClearAlt),
    ]
}

fn key_images(b: &VerifiedBlock) -> Vec<[u8; 32]> {
    b.txs
        .iter()
        .flat_map(|t| t.tx.prefix().inputs.clone())
        .filter_map(|i| match i {
            monero_oxide::transaction::Input::ToKey { key_image, .. } => Some(key_image.to_bytes()),
            monero_oxide::transaction::Input::Gen(_) => None,
        })
        .collect()
}

fn run(engine: umbra_storage::EngineKind, ops: &[Op], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Storage::open(&common::config(&dir, engine)).unwrap();
    let mut model: Vec<VerifiedBlock> = Vec::new();
    let mut alt_blocks = 0u64;
    let mut step = 0u64;
    let builder = |model: &[VerifiedBlock], step: u64| match model.last() {
        None => SyntheticChain::new(seed ^ step),
        Some(top) => SyntheticChain::on_top_of(
            seed ^ step,
            top.height + 1,
            top.hash,
            top.cumulative_difficulty,
        ),
    };
    let genesis = builder(&model, 0).block(0);
    db.write_block(&genesis).unwrap();
    model.push(genesis);

    for op in ops {
        step += 1;
        match op {
            Op::Append { txs } => {
                let b = builder(&model, step).block(*txs);
                db.write_block(&b).unwrap();
                model.push(b);
            }
            Op::Batch { blocks } => {
                let mut chain = builder(&model, step);
                let batch: Vec<_> = (0..*blocks).map(|i| chain.block(i % 3)).collect();
                db.write_blocks(&batch).unwrap();
                model.extend(batch);
            }
            Op::Pop { blocks } => {
                let height = model.len() as u64;
                if *blocks >= height {
                    assert!(db.pop_blocks(*blocks).is_err());
                    continue;
                }
                let popped = db.pop_blocks(*blocks).unwrap();
                let dropped = model.split_off(model.len() - *blocks as usize);
                assert_eq!(popped.len(), dropped.len());
                for (p, d) in popped.iter().zip(&dropped) {
                    assert_eq!(
                        (p.info.height, p.info.hash, &p.blob),
                        (d.height, d.hash, &d.blob)
                    );
                    let txs: Vec<TxBlob> = d
                        .txs
                        .iter()
                        .map(|t| TxBlob {
                            hash: t.hash,
                            blob: t.blob.clone(),
                        })
                        .collect();
                    assert_eq!(p.txs, txs);
                    let kis = key_images(d);
                    assert_eq!(
                        db.read(|s| s.key_images_spent(&kis)).unwrap(),
                        vec![false; kis.len()]
                    );
                    assert_eq!(db.read(|s| s.block_height(&d.hash)).unwrap(), None);
                }
            }
            Op::Alt { below_top, len } => {
                let Some(parent) = model
                    .len()
                    .checked_sub(1 + *below_top as usize)
                    .map(|i| &model[i])
                else {
                    continue;
                };
                let mut chain = SyntheticChain::on_top_of(
                    seed ^ step ^ 0xa17,
                    parent.height + 1,
                    parent.hash,
                    parent.cumulative_difficulty,
                );
                let mut tip = None;
                for _ in 0..*len {
                    let b = chain.block(1);
                    let id = db
                        .write_alt_block(&NewAltBlock {
                            blob: b.blob.clone(),
                            hash: b.hash,
                            height: b.height,
                            txs: b
                                .txs
                                .iter()
                                .map(|t| TxBlob {
                                    hash: t.hash,
                                    blob: t.blob.clone(),
                                })
                                .collect(),
                            weight: b.weight,
                            long_term_weight: b.long_term_weight,
                            cumulative_difficulty: b.cumulative_difficulty,
                            generated_coins: b.generated_coins,
                        })
                        .unwrap();
                    assert!(
                        matches!(db.read(|s| s.find_block(&b.hash)).unwrap(), BlockLocation::Alt { chain_id, .. } if chain_id == id)
                    );
                    alt_blocks += 1;
                    tip = Some(b.hash);
                }
                let walked = db.read(|s| s.alt_chain(&tip.unwrap())).unwrap();
                assert_eq!(walked.split_height, parent.height);
                assert_eq!(walked.blocks.len() as u64, *len);
            }
            Op::ClearAlt => {
                assert_eq!(db.clear_alt_blocks().unwrap(), alt_blocks);
                alt_blocks = 0;
            }
        }
        let report = db
            .check_integrity()
            .unwrap_or_else(|e| panic!("after {op:?}: {e}"));
        assert_eq!(report.blocks, model.len() as u64);
        assert_eq!(report.alt_blocks, alt_blocks);
        let top = model.last().unwrap();
        assert_eq!(db.read(|s| s.top()).unwrap(), Some((top.height, top.hash)));
        assert_eq!(
            db.read(|s| s.short_chain_history()).unwrap().first(),
            Some(&top.hash)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_database_exactly_the_model(ops in prop::collection::vec(op(), 1..14), seed in any::<u64>()) {
        for engine in umbra_storage::EngineKind::ALL {
            run(*engine, &ops, seed);
        }
    }
}
