//! Alternative chains: stored by hash with their chain, walked back to the split point,
//! deleted per chain or all at once; popped main-chain blocks stored again as
//! alternative blocks (the first half of a reorg).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use umbra_storage::{
    BlockLocation, NewAltBlock, Storage, StorageError, TxBlob, VerifiedBlock,
    synthetic::SyntheticChain,
};

fn alt(block: &VerifiedBlock) -> NewAltBlock {
    NewAltBlock {
        blob: block.blob.clone(),
        hash: block.hash,
        height: block.height,
        txs: block
            .txs
            .iter()
            .map(|t| TxBlob {
                hash: t.hash,
                blob: t.blob.clone(),
            })
            .collect(),
        weight: block.weight,
        long_term_weight: block.long_term_weight,
        cumulative_difficulty: block.cumulative_difficulty,
        generated_coins: block.generated_coins,
    }
}

/// A main chain of `n` blocks; returns the builder and the blocks.
fn main_chain(db: &Storage, n: u64) -> Vec<VerifiedBlock> {
    let mut chain = SyntheticChain::new(1);
    (0..n)
        .map(|i| {
            let b = chain.block((i % 3) as usize);
            db.write_block(&b).unwrap();
            b
        })
        .collect()
}

/// A fork of `len` blocks on top of `parent`.
fn fork(seed: u64, parent: &VerifiedBlock, len: u64) -> Vec<VerifiedBlock> {
    let mut chain = SyntheticChain::on_top_of(
        seed,
        parent.height + 1,
        parent.hash,
        parent.cumulative_difficulty,
    );
    (0..len).map(|_| chain.block(1)).collect()
}

#[test]
fn an_alt_chain_is_walked_back_to_its_split_point() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let main = main_chain(&db, 12);
        let a = fork(100, &main[6], 4); // heights 7..=10
        let mut chain_id = None;
        for b in &a {
            let id = db.write_alt_block(&alt(b)).unwrap();
            assert_eq!(*chain_id.get_or_insert(id), id, "one chain, one id");
        }
        let chain_id = chain_id.unwrap();
        assert_eq!(
            chain_id, a[0].hash,
            "the chain id is its first block's hash"
        );

        let walked = db.read(|s| s.alt_chain(&a[3].hash)).unwrap();
        assert_eq!(walked.split_height, 6);
        assert_eq!(
            walked.blocks.iter().map(|b| b.hash).collect::<Vec<_>>(),
            a.iter().map(|b| b.hash).collect::<Vec<_>>()
        );
        let first = &walked.blocks[0];
        assert_eq!(
            (first.height, first.prev, first.chain_id),
            (7, main[6].hash, chain_id)
        );
        assert_eq!(first.blob, a[0].blob);
        assert_eq!(first.txs.len(), 1);
        assert_eq!(first.cumulative_difficulty, a[0].cumulative_difficulty);
        assert_eq!(first.timestamp, a[0].block.header.timestamp);
        let main_coins = db
            .read(|s| s.block_info(6))
            .unwrap()
            .unwrap()
            .cumulative_generated_coins;
        assert_eq!(
            walked.blocks[3].cumulative_generated_coins,
            main_coins + 4 * 600_000_000_000
        );

        // A walk from the middle stops there.
        assert_eq!(
            db.read(|s| s.alt_chain(&a[1].hash)).unwrap().blocks.len(),
            2
        );
        assert_eq!(
            db.read(|s| s.find_block(&a[2].hash)).unwrap(),
            BlockLocation::Alt {
                height: 9,
                chain_id
            }
        );

        // A sub-fork of the alternative chain shares its id.
        let sub = fork(200, &a[1], 2);
        for b in &sub {
            assert_eq!(db.write_alt_block(&alt(b)).unwrap(), chain_id);
        }
        let walked = db.read(|s| s.alt_chain(&sub[1].hash)).unwrap();
        assert_eq!(walked.blocks.len(), 4);
        assert_eq!(walked.blocks[1].hash, a[1].hash);

        // A second chain from elsewhere gets its own id.
        let b = fork(300, &main[9], 2);
        for blk in &b {
            assert_eq!(db.write_alt_block(&alt(blk)).unwrap(), b[0].hash);
        }
        let mut chains = db.read(|s| s.alt_chains()).unwrap();
        chains.sort();
        let mut expected = vec![(chain_id, 6), (b[0].hash, 2)];
        expected.sort();
        assert_eq!(chains, expected);
        assert_eq!(db.check_integrity().unwrap().alt_blocks, 8);

        // Deleting one chain leaves the other.
        assert_eq!(db.delete_alt_chain(&chain_id).unwrap(), 6);
        assert_eq!(
            db.read(|s| s.find_block(&a[0].hash)).unwrap(),
            BlockLocation::Unknown
        );
        assert_eq!(
            db.read(|s| s.alt_chain(&b[1].hash)).unwrap().blocks.len(),
            2
        );
        assert_eq!(db.delete_alt_chain(&chain_id).unwrap(), 0);
        assert_eq!(db.clear_alt_blocks().unwrap(), 2);
        assert_eq!(db.check_integrity().unwrap().alt_blocks, 0);
    });
}

#[test]
fn bad_alt_blocks_are_refused() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let main = main_chain(&db, 5);
        let a = fork(7, &main[2], 3);

        // Parent unknown: the second block before the first.
        assert!(matches!(
            db.write_alt_block(&alt(&a[1])),
            Err(StorageError::AltParentUnknown { .. })
        ));
        // Wrong height.
        let mut wrong = alt(&a[0]);
        wrong.height = 9;
        assert!(matches!(
            db.write_alt_block(&wrong),
            Err(StorageError::AltWrongHeight {
                given: 9,
                expected: 3,
                ..
            })
        ));
        // Twice, or a main-chain block.
        db.write_alt_block(&alt(&a[0])).unwrap();
        assert!(matches!(
            db.write_alt_block(&alt(&a[0])),
            Err(StorageError::AltDuplicate { .. })
        ));
        assert!(matches!(
            db.write_alt_block(&alt(&main[3])),
            Err(StorageError::AltDuplicate { .. })
        ));
        // Not a block at all.
        let mut junk = alt(&a[1]);
        junk.blob = vec![1, 2, 3];
        assert!(matches!(
            db.write_alt_block(&junk),
            Err(StorageError::Parse { .. })
        ));
        // Unknown tips.
        assert!(matches!(
            db.read(|s| s.alt_chain(&[3; 32])),
            Err(StorageError::AltUnknown { .. })
        ));
        assert_eq!(db.check_integrity().unwrap().alt_blocks, 1);
    });
}

#[test]
fn a_reorg_swaps_the_main_chain_and_the_alt_chain() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let main = main_chain(&db, 10);
        let a = fork(9, &main[5], 6); // heights 6..=11: longer than main
        for b in &a {
            db.write_alt_block(&alt(b)).unwrap();
        }
        let walked = db.read(|s| s.alt_chain(&a[5].hash)).unwrap();
        assert_eq!(walked.split_height, 5);

        // Pop main down to the split, keep the popped blocks as alternative blocks, put
        // the alternative chain on the main chain.
        let popped = db
            .pop_blocks(db.read(|s| s.chain_height()).unwrap() - 1 - walked.split_height)
            .unwrap();
        assert_eq!(popped.len(), 4);
        db.delete_alt_chain(&walked.blocks[0].chain_id).unwrap();
        for p in &popped {
            let txs = p
                .txs
                .iter()
                .map(|t| umbra_storage::VerifiedTx::from_blob(t.blob.clone()).unwrap())
                .collect();
            let mut again = main[usize::try_from(p.info.height).unwrap()].clone();
            again.txs = txs;
            db.write_alt_block(&alt(&again)).unwrap();
        }
        db.write_blocks(&a).unwrap();
        assert_eq!(db.read(|s| s.top()).unwrap(), Some((11, a[5].hash)));
        let old = db.read(|s| s.alt_chain(&main[9].hash)).unwrap();
        assert_eq!((old.split_height, old.blocks.len()), (5, 4));
        let report = db.check_integrity().unwrap();
        assert_eq!((report.blocks, report.alt_blocks), (12, 4));
    });
}
