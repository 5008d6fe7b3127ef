//! The `NOTIFY_REQUEST_CHAIN` exchange: our short chain history, and the answer to a
//! peer's — the highest common block and our ids from there — for peers behind us, on a
//! fork, ahead of us and on another network.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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
    short_history_heights(hashes.len() as u64)
        .into_iter()
        .map(|h| hashes[h as usize])
        .collect()
}

#[test]
fn our_history_is_the_blocks_at_the_history_heights() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        assert!(db.read(|s| s.short_chain_history()).unwrap().is_empty());
        let mut chain = SyntheticChain::new(4);
        let blocks = chain_of(&db, &mut chain, 300);
        let hashes: Vec<Hash> = blocks.iter().map(|b| b.hash).collect();
        let ours = db.read(|s| s.short_chain_history()).unwrap();
        assert_eq!(ours, history_of(&hashes));
        assert_eq!(ours[0], hashes[299]);
        assert_eq!(*ours.last().unwrap(), hashes[0]);
    });
}

#[test]
fn a_peer_history_is_answered_from_the_highest_common_block() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(5);
        let blocks = chain_of(&db, &mut chain, 300);
        let ours: Vec<Hash> = blocks.iter().map(|b| b.hash).collect();
        let top_cd = blocks[299].cumulative_difficulty;

        // A peer behind us, on our chain at height 149.
        let reply = db
            .read(|s| s.chain_supplement(&history_of(&ours[..150]), 10_000))
            .unwrap()
            .unwrap();
        assert_eq!(reply.start_height, 149);
        assert_eq!(reply.total_height, 300);
        assert_eq!(reply.cumulative_difficulty, top_cd);
        assert_eq!(reply.block_ids, ours[149..].to_vec());

        // The limit.
        let reply = db
            .read(|s| s.chain_supplement(&history_of(&ours[..150]), 50))
            .unwrap()
            .unwrap();
        assert_eq!(reply.block_ids, ours[149..199].to_vec());

        // A peer on a fork from height 220: the first entry of its history that is ours
        // is at or below the split, and our ids from there lead to our top.
        let mut fork =
            SyntheticChain::on_top_of(77, 221, ours[220], blocks[220].cumulative_difficulty);
        let mut theirs = ours[..221].to_vec();
        theirs.extend((0..100).map(|_| fork.block(0).hash));
        let reply = db
            .read(|s| s.chain_supplement(&history_of(&theirs), 10_000))
            .unwrap()
            .unwrap();
        let first_common = |peer_len: u64, common_up_to: u64| {
            short_history_heights(peer_len)
                .into_iter()
                .find(|h| *h <= common_up_to)
                .unwrap()
        };
        assert_eq!(reply.start_height, first_common(theirs.len() as u64, 220));
        assert_eq!(
            reply.block_ids.first(),
            Some(&ours[reply.start_height as usize])
        );
        assert_eq!(reply.block_ids.last(), Some(&ours[299]));

        // A peer level with us: from our top. Ahead of us on our chain: from the highest
        // entry of its history we have.
        let reply = db
            .read(|s| s.chain_supplement(&history_of(&ours), 10_000))
            .unwrap()
            .unwrap();
        assert_eq!(
            (reply.start_height, reply.block_ids),
            (299, vec![ours[299]])
        );
        let mut ahead = chain.clone();
        let mut longer = ours.clone();
        longer.extend((0..30).map(|_| ahead.block(0).hash));
        let reply = db
            .read(|s| s.chain_supplement(&history_of(&longer), 10_000))
            .unwrap()
            .unwrap();
        assert_eq!(reply.start_height, first_common(longer.len() as u64, 299));

        // Another genesis, or nothing: no answer.
        let mut other = history_of(&ours[..100]);
        *other.last_mut().unwrap() = [1; 32];
        assert_eq!(db.read(|s| s.chain_supplement(&other, 100)).unwrap(), None);
        assert_eq!(db.read(|s| s.chain_supplement(&[], 100)).unwrap(), None);
        // Only genesis in common: from genesis.
        let reply = db
            .read(|s| s.chain_supplement(&[[2; 32], [3; 32], ours[0]], 5))
            .unwrap()
            .unwrap();
        assert_eq!((reply.start_height, reply.block_ids.len()), (0, 5));
    });
}
