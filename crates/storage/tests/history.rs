//! The `NOTIFY_REQUEST_CHAIN` exchange: our short chain history, and the answer to a
//! peer's — the highest common block and our ids from there — for peers behind us, on a
//! fork, ahead of us and on another network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use umbra_storage::{
    Hash, Storage, VerifiedBlock, history::short_history_heights, synthetic::SyntheticChain,
};

fn chain_of(db: &Storage, chain: &mut SyntheticChain, n: u64) -> Vec<VerifiedBlock> {
    let blocks: Vec<VerifiedBlock> = (0..n).map(|_| chain.block(0)).collect();
    for batch in blocks.chunks(250) {
        db.write_blocks(batch).unwrap();
    }
    blocks
}

/// The short history of a chain given as its hashes, as a peer would send it.
fn history_of(hashes: &[Hash]) -> Vec<Hash> {
    short_history_heights(hashes.len() as u64).into_iter().map(|h| hashes[h as usize]).collect()
}

#[test]
fn our_history_is_the_blocks_at_the_history_heights() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        assert!(db.read(|s| s.short_chain_history()).unwrap().is_empty());
        let mut chain = SyntheticChain::new(4);
        let blocks = chain_of(&db, &mut chain, 700);
        let hashes: Vec<Hash> = blocks.iter().map(|b| b.hash).collect();
        let ours = db.read(|s| s.short_chain_history()).unwrap();
        assert_eq!(ours, history_of(&hashes));
        assert_eq!(ours[0], hashes[699]);
        assert_eq!(*ours.last().unwrap(), hashes[0]);
    });
}

#[test]
fn a_peer_history_is_answered_from_the_highest_common_block() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(5);
        let blocks = chain_of(&db, &mut chain, 600);
        let ours: Vec<Hash> = blocks.iter().map(|b| b.hash).collect();
        let top_cd = blocks[599].cumulative_difficulty;

        // A peer behind us, on our chain at height 299.
        let reply = db.read(|s| s.chain_supplement(&history_of(&ours[..300]), 10_000)).unwrap().unwrap();
        assert_eq!(reply.start_height, 299);
        assert_eq!(reply.total_height, 600);
        assert_eq!(reply.cumulative_difficulty, top_cd);
        assert_eq!(reply.block_ids, ours[299..].to_vec());

        // The limit.
        let reply = db.read(|s| s.chain_supplement(&history_of(&ours[..300]), 50)).unwrap().unwrap();
        assert_eq!(reply.block_ids, ours[299..349].to_vec());

        // A peer on a fork from height 450: its history's first common entry is at or
        // below the split, and our ids from there lead to our top.
        let mut fork = SyntheticChain::on_top_of(77, 451, ours[450], blocks[450].cumulative_difficulty);
        let mut theirs = ours[..451].to_vec();
        theirs.extend((0..100).map(|_| fork.block(0).hash));
        let reply = db.read(|s| s.chain_supplement(&history_of(&theirs), 10_000)).unwrap().unwrap();
        assert!(reply.start_height <= 450, "{}", reply.start_height);
        let expected_start = short_history_heights(theirs.len() as u64).into_iter().find(|h| *h <= 450).unwrap();
        assert_eq!(reply.start_height, expected_start);
        assert_eq!(reply.block_ids.first(), Some(&ours[expected_start as usize]));
        assert_eq!(reply.block_ids.last(), Some(&ours[599]));

        // A peer level with us, or ahead of us on our chain: from our top.
        let reply = db.read(|s| s.chain_supplement(&history_of(&ours), 10_000)).unwrap().unwrap();
        assert_eq!((reply.start_height, reply.block_ids.clone()), (599, vec![ours[599]]));
        let mut ahead = chain.clone();
        let mut longer = ours.clone();
        longer.extend((0..30).map(|_| ahead.block(0).hash));
        let reply = db.read(|s| s.chain_supplement(&history_of(&longer), 10_000)).unwrap().unwrap();
        assert_eq!(reply.start_height, 599);

        // Another genesis, or nothing: no answer.
        let mut other = history_of(&ours[..100]);
        *other.last_mut().unwrap() = [1; 32];
        assert_eq!(db.read(|s| s.chain_supplement(&other, 100)).unwrap(), None);
        assert_eq!(db.read(|s| s.chain_supplement(&[], 100)).unwrap(), None);
        // Only genesis in common: from genesis.
        let reply = db.read(|s| s.chain_supplement(&[[2; 32], [3; 32], ours[0]], 5)).unwrap().unwrap();
        assert_eq!((reply.start_height, reply.block_ids.len()), (0, 5));
    });
}
