//! The main chain: what is written reads back in every form, what does not connect is
//! refused without a trace, pops remove exactly what blocks added, batches are atomic.
//! Each test runs on every engine built in (`--features lmdb` adds LMDB).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use monero_oxide::transaction::Input;
use umbra_storage::{
    BlockLocation, OutputId, StorageError, TxBlob, VerifiedBlock, VerifiedTx,
    synthetic::{Era, SyntheticChain},
    zero_commit,
};

fn key_images(tx: &VerifiedTx) -> Vec<[u8; 32]> {
    tx.tx
        .prefix()
        .inputs
        .iter()
        .filter_map(|i| match i {
            Input::ToKey { key_image, .. } => Some(key_image.to_bytes()),
            Input::Gen(_) => None,
        })
        .collect()
}

/// Writes genesis and `n - 1` more blocks with 0..4 transactions each.
fn build(db: &umbra_storage::Storage, chain: &mut SyntheticChain, n: u64) -> Vec<VerifiedBlock> {
    (0..n)
        .map(|i| {
            let block = chain.block(if i == 0 { 0 } else { (i % 4) as usize });
            db.write_block(&block).unwrap();
            block
        })
        .collect()
}

#[test]
fn blocks_written_read_back_in_every_form() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(11);
        let blocks = build(&db, &mut chain, 12);
        let top = blocks.last().unwrap();

        db.read(|s| {
            assert_eq!(s.chain_height()?, 12);
            assert_eq!(s.top()?, Some((11, top.hash)));
            let mut rct = 0u64;
            let mut coins = 0u64;
            let mut tx_index = 0u64;
            for b in &blocks {
                assert_eq!(s.block_hash(b.height)?, Some(b.hash));
                assert_eq!(s.block_height(&b.hash)?, Some(b.height));
                assert_eq!(
                    s.find_block(&b.hash)?,
                    BlockLocation::Main { height: b.height }
                );
                assert_eq!(s.block_blob(b.height)?.as_deref(), Some(&b.blob[..]));
                assert_eq!(s.block_blob_by_hash(&b.hash)?.as_deref(), Some(&b.blob[..]));
                let info = s.block_info(b.height)?.unwrap();
                rct += b.block.miner_transaction().prefix().outputs.len() as u64
                    + b.txs
                        .iter()
                        .map(|t| t.tx.prefix().outputs.len() as u64)
                        .sum::<u64>();
                coins += b.generated_coins;
                assert_eq!(info.hash, b.hash);
                assert_eq!(info.timestamp, b.block.header.timestamp);
                assert_eq!(info.cumulative_difficulty, b.cumulative_difficulty);
                assert_eq!(info.weight, b.weight);
                assert_eq!(info.long_term_weight, b.long_term_weight);
                assert_eq!(info.generated_coins, b.generated_coins);
                assert_eq!(info.cumulative_generated_coins, coins);
                assert_eq!(info.major_version, 16);
                assert_eq!(info.hard_fork_vote(), 16);
                assert_eq!(info.cumulative_rct_outputs, rct);
                assert_eq!(info.blob_size, b.blob.len() as u64);
                assert_eq!(info.first_tx_index, tx_index);
                assert_eq!(info.tx_count, b.txs.len() as u64 + 1);
                tx_index += info.tx_count;

                let txs = s.block_txs(b.height)?.unwrap();
                let expected: Vec<TxBlob> = b
                    .txs
                    .iter()
                    .map(|t| TxBlob {
                        hash: t.hash,
                        blob: t.blob.clone(),
                    })
                    .collect();
                assert_eq!(txs, expected);

                // The miner transaction is stored as a transaction too, at index 0.
                let miner = s.tx(&b.block.miner_transaction().hash())?.unwrap();
                assert_eq!(miner.location.index_in_block, 0);
                assert_eq!(miner.blob, b.block.miner_transaction().serialize());
                let out = s.output(OutputId::rct(miner.output_indices[0]))?.unwrap();
                assert!(out.is_coinbase);
                assert_eq!(out.commitment, Some(zero_commit(600_000_000_000)));
                assert_eq!(out.unlock_time, b.height + 60);

                for (i, t) in b.txs.iter().enumerate() {
                    let entry = s.tx(&t.hash)?.unwrap();
                    assert_eq!(entry.blob, t.blob);
                    assert_eq!(entry.location.height, b.height);
                    assert_eq!(entry.location.index_in_block, i as u64 + 1);
                    assert_eq!(s.tx_hash_by_index(entry.location.tx_index)?, Some(t.hash));
                    assert_eq!(entry.output_indices.len(), t.tx.prefix().outputs.len());
                    for (o, index) in t.tx.prefix().outputs.iter().zip(&entry.output_indices) {
                        let out = s.output(OutputId::rct(*index))?.unwrap();
                        assert_eq!(out.key, o.key.to_bytes());
                        assert_eq!(out.height, b.height);
                        assert_eq!(out.tx_index, entry.location.tx_index);
                        assert!(!out.is_coinbase);
                        let monero_oxide::transaction::Transaction::V2 {
                            proofs: Some(p), ..
                        } = &t.tx
                        else {
                            panic!("RingCT transaction expected")
                        };
                        let pos = t.tx.prefix().outputs.iter().position(|x| x == o).unwrap();
                        assert_eq!(out.commitment, Some(p.base.commitments[pos].to_bytes()));
                    }
                    let kis = key_images(t);
                    assert_eq!(s.key_images_spent(&kis)?, vec![true; kis.len()]);
                }
            }
            assert_eq!(s.num_outputs(0)?, rct);
            assert!(s.output(OutputId::rct(rct))?.is_none());
            assert_eq!(s.key_images_spent(&[[7; 32]])?, vec![false]);
            assert!(s.tx(&[9; 32])?.is_none());
            assert_eq!(s.find_block(&[9; 32])?, BlockLocation::Unknown);

            let infos = s.block_infos(3..9)?;
            assert_eq!(
                infos.iter().map(|i| i.height).collect::<Vec<_>>(),
                (3..9).collect::<Vec<_>>()
            );
            assert_eq!(
                s.block_infos(10..100)?.len(),
                2,
                "a range past the top stops at the top"
            );
            assert_eq!(
                s.block_hashes(0..12)?,
                blocks.iter().map(|b| b.hash).collect::<Vec<_>>()
            );
            assert!(matches!(
                s.block_infos(0..u64::MAX),
                Err(StorageError::RangeTooLarge { .. })
            ));

            let entries = s.block_entries(&[blocks[5].hash, [1; 32]])?;
            assert_eq!(entries[0].as_ref().unwrap().height, 5);
            assert_eq!(entries[0].as_ref().unwrap().txs.len(), blocks[5].txs.len());
            assert!(entries[1].is_none());
            Ok(())
        })
        .unwrap();
        let report = db.check_integrity().unwrap();
        assert_eq!(report.blocks, 12);
    });
}

#[test]
fn a_reopened_database_has_everything() {
    common::each_engine(|engine| {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = SyntheticChain::new(3);
        let blocks = {
            let db = umbra_storage::Storage::open(&common::config(&dir, engine)).unwrap();
            build(&db, &mut chain, 5)
        };
        let db = umbra_storage::Storage::open(&common::config(&dir, engine)).unwrap();
        assert_eq!(db.read(|s| s.top()).unwrap(), Some((4, blocks[4].hash)));
        assert_eq!(db.check_integrity().unwrap().blocks, 5);
        // And it goes on.
        db.write_block(&chain.block(2)).unwrap();
        assert_eq!(db.check_integrity().unwrap().blocks, 6);
    });
}

fn refused(db: &umbra_storage::Storage, block: &VerifiedBlock) -> StorageError {
    let before = db.check_integrity().unwrap();
    let err = db.write_block(block).unwrap_err();
    assert_eq!(
        db.check_integrity().unwrap(),
        before,
        "a refused block left something behind ({err})"
    );
    err
}

#[test]
fn a_block_that_does_not_fit_is_refused_and_leaves_nothing() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(5);
        build(&db, &mut chain, 4);

        // Wrong height.
        let mut block = chain.clone().block(1);
        block.height += 1;
        assert!(matches!(
            refused(&db, &block),
            StorageError::WrongHeight {
                given: 5,
                expected: 4,
                ..
            }
        ));

        // Not on top: a block building on height 2.
        let stale = SyntheticChain::on_top_of(
            9,
            3,
            db.read(|s| s.block_hash(2)).unwrap().unwrap(),
            1 << 40,
        )
        .block(1);
        assert!(matches!(
            refused(&db, &stale),
            StorageError::WrongHeight { .. }
        ));
        let mut fork = SyntheticChain::on_top_of(9, 4, [5; 32], 1 << 40);
        assert!(matches!(
            refused(&db, &fork.block(1)),
            StorageError::DoesNotConnect { height: 4, .. }
        ));

        // A key image spent in the chain already.
        let spent = db.read(|s| s.block_txs(3)).unwrap().unwrap();
        let spent_tx = VerifiedTx::from_blob(spent[0].blob.clone()).unwrap();
        let mut next = chain.clone();
        let double = next.rct_tx(1, 2, &key_images(&spent_tx));
        let block = next.block_with(vec![double]);
        assert!(matches!(
            refused(&db, &block),
            StorageError::KeyImageSpent { .. }
        ));

        // The same key image twice in one block.
        let mut next = chain.clone();
        let a = next.rct_tx(1, 2, &[[42; 32]]);
        let b = next.rct_tx(1, 2, &[[42; 32]]);
        let block = next.block_with(vec![a, b]);
        assert!(matches!(
            refused(&db, &block),
            StorageError::KeyImageSpent { .. }
        ));

        // A transaction stored already.
        let mut next = chain.clone();
        let block = next.block_with(vec![spent_tx]);
        assert!(matches!(
            refused(&db, &block),
            StorageError::DuplicateTx { height: 3, .. }
        ));

        // Transactions that are not the ones the block lists.
        let mut next = chain.clone();
        let mut block = next.block(2);
        block.txs.swap(0, 1);
        assert!(matches!(
            refused(&db, &block),
            StorageError::InconsistentBlock { .. }
        ));
        let mut next = chain.clone();
        let mut block = next.block(2);
        block.txs.pop();
        assert!(matches!(
            refused(&db, &block),
            StorageError::InconsistentBlock { .. }
        ));

        // Cumulative difficulty that does not grow.
        let mut next = chain.clone();
        let mut block = next.block(0);
        block.cumulative_difficulty = 1;
        assert!(matches!(
            refused(&db, &block),
            StorageError::InconsistentBlock { .. }
        ));

        // The same block twice.
        let block = chain.block(1);
        db.write_block(&block).unwrap();
        let mut again = block;
        again.height += 1;
        assert!(matches!(
            refused(&db, &again),
            StorageError::WrongHeight { .. } | StorageError::DoesNotConnect { .. }
        ));

        // After all that, the chain still grows.
        db.write_block(&chain.block(3)).unwrap();
        assert_eq!(db.check_integrity().unwrap().blocks, 6);
    });
}

#[test]
fn pop_removes_exactly_what_the_blocks_added() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(21);
        let blocks = build(&db, &mut chain, 8);
        let at_5 = {
            let (_d2, other) = common::open(engine);
            for b in &blocks[..5] {
                other.write_block(b).unwrap();
            }
            other.check_integrity().unwrap()
        };

        let popped = db.pop_blocks(3).unwrap();
        assert_eq!(db.check_integrity().unwrap(), at_5);
        assert_eq!(popped.len(), 3);
        for (p, b) in popped.iter().zip(&blocks[5..]) {
            assert_eq!(p.info.height, b.height);
            assert_eq!(p.info.hash, b.hash);
            assert_eq!(p.blob, b.blob);
            let txs: Vec<TxBlob> = b
                .txs
                .iter()
                .map(|t| TxBlob {
                    hash: t.hash,
                    blob: t.blob.clone(),
                })
                .collect();
            assert_eq!(p.txs, txs);
        }
        db.read(|s| {
            for b in &blocks[5..] {
                assert_eq!(s.find_block(&b.hash)?, BlockLocation::Unknown);
                for t in &b.txs {
                    assert!(s.tx(&t.hash)?.is_none());
                    assert_eq!(
                        s.key_images_spent(&key_images(t))?,
                        vec![false; key_images(t).len()]
                    );
                }
            }
            Ok(())
        })
        .unwrap();

        // The popped blocks go back on exactly as before.
        for b in &blocks[5..] {
            db.write_block(b).unwrap();
        }
        assert_eq!(db.read(|s| s.top()).unwrap(), Some((7, blocks[7].hash)));
        db.check_integrity().unwrap();

        // Popping nothing does nothing; genesis stays.
        assert!(db.pop_blocks(0).unwrap().is_empty());
        assert!(matches!(
            db.pop_blocks(8),
            Err(StorageError::PopTooDeep {
                requested: 8,
                height: 8
            })
        ));
        assert_eq!(db.pop_blocks(7).unwrap().len(), 7);
        assert_eq!(db.check_integrity().unwrap().blocks, 1);
    });
}

#[test]
fn pre_ringct_outputs_are_indexed_by_amount_and_popped_exactly() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(8);
        chain.era = Era::PreRct;
        let blocks = build(&db, &mut chain, 6);
        db.read(|s| {
            let mut counts = std::collections::BTreeMap::<u64, u64>::new();
            for b in &blocks {
                let miner = b.block.miner_transaction();
                for tx in std::iter::once(miner).chain(b.txs.iter().map(|t| &t.tx)) {
                    let entry = s.tx(&tx.hash())?.unwrap();
                    for (o, index) in tx.prefix().outputs.iter().zip(&entry.output_indices) {
                        let amount = o.amount.unwrap();
                        let n = counts.entry(amount).or_default();
                        assert_eq!(*index, *n, "indices count up per amount");
                        *n += 1;
                        let out = s
                            .output(OutputId {
                                amount,
                                index: *index,
                            })?
                            .unwrap();
                        assert_eq!(out.key, o.key.to_bytes());
                        assert_eq!(out.commitment, None);
                    }
                }
            }
            for (amount, n) in &counts {
                assert_eq!(s.num_outputs(*amount)?, *n);
            }
            assert_eq!(s.num_outputs(0)?, 0);
            Ok(())
        })
        .unwrap();
        db.check_integrity().unwrap();

        // RingCT blocks on top of pre-RingCT ones, then pop back across the boundary.
        chain.era = Era::Rct;
        for _ in 0..3 {
            db.write_block(&chain.block(2)).unwrap();
        }
        let report = db.check_integrity().unwrap();
        assert!(report.pre_rct_outputs > 0 && report.rct_outputs > 0);
        db.pop_blocks(5).unwrap();
        let report = db.check_integrity().unwrap();
        assert_eq!((report.blocks, report.rct_outputs), (4, 0));
    });
}

#[test]
fn a_batch_is_stored_whole_or_not_at_all() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(31);
        let batch: Vec<VerifiedBlock> = (0..6).map(|i| chain.block(i % 3)).collect();
        db.write_blocks(&batch[..3]).unwrap();
        assert_eq!(db.check_integrity().unwrap().blocks, 3);

        // The fifth block of the next batch is broken: none of the batch is stored.
        let mut broken = batch[3..].to_vec();
        broken[1].cumulative_difficulty = 0;
        let before = db.check_integrity().unwrap();
        assert!(db.write_blocks(&broken).is_err());
        assert_eq!(db.check_integrity().unwrap(), before);

        db.write_blocks(&batch[3..]).unwrap();
        assert_eq!(db.read(|s| s.top()).unwrap(), Some((5, batch[5].hash)));
        db.check_integrity().unwrap();
    });
}
