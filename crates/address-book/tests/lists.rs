//! White, gray and anchor lists: bounds, random eviction, transitions and picks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashSet, net::SocketAddr};

use common::*;
use umbra_address_book::{AddressBookConfig, PeerListKind};
use umbra_p2p_core::MAX_PEER_LIST_LEN;

#[test]
fn lists_never_grow_past_their_bounds() {
    let mut book = book(small_config());
    let now = t0();
    let added = book.add_gray((0..100).map(peer), now);
    assert_eq!(added, 100, "every peer was new when added");
    assert_eq!(book.stats(now).gray, 20);
    for i in 100..150 {
        assert!(book.handshake_succeeded(peer(i), now));
        let stats = book.stats(now);
        assert!(stats.white <= 10 && stats.gray <= 20, "{stats:?}");
    }
    assert_eq!(book.stats(now).white, 10);
    assert_eq!(book.stats(now).gray, 20);
    for i in 150..160 {
        book.anchor_connected(peer(i), now);
    }
    assert_eq!(book.stats(now).anchors, 2);
}

#[test]
fn eviction_is_random_not_oldest_first() {
    // With FIFO eviction only peers 80..100 would survive; random eviction keeps some
    // early ones, and which ones depends on the seed.
    let survivors = |seed| {
        let mut book =
            umbra_address_book::AddressBook::<umbra_p2p_core::ClearNet>::new(small_config())
                .with_rng_seed(seed);
        book.add_gray((0..100).map(peer), t0());
        (0..100)
            .filter(|&i| book.list_of(&addr(i)).is_some())
            .collect::<Vec<u32>>()
    };
    let a = survivors(1);
    let b = survivors(2);
    assert_eq!(a.len(), 20);
    assert!(a.iter().any(|&i| i < 80), "{a:?}");
    assert_ne!(a, b);
    assert_eq!(a, survivors(1), "a seed makes eviction reproducible");
}

#[test]
fn a_full_white_list_demotes_to_gray() {
    let mut book = book(small_config());
    let now = t0();
    for i in 0..11 {
        book.handshake_succeeded(peer(i), now);
    }
    let white: Vec<_> = (0..11)
        .filter(|&i| book.list_of(&addr(i)) == Some(PeerListKind::White))
        .collect();
    let gray: Vec<_> = (0..11)
        .filter(|&i| book.list_of(&addr(i)) == Some(PeerListKind::Gray))
        .collect();
    assert_eq!(white.len(), 10);
    assert_eq!(gray.len(), 1, "the evicted white peer went to gray");
    assert!(
        white.contains(&10),
        "the newest peer is never the one evicted"
    );
}

#[test]
fn gray_to_white_and_back() {
    let mut book = book(small_config());
    let now = t0();
    let a = addr(1);
    assert_eq!(book.add_gray([peer(1)], now), 1);
    assert_eq!(book.list_of(&a), Some(PeerListKind::Gray));

    assert!(book.handshake_succeeded(peer(1), now + secs(5)));
    assert_eq!(book.list_of(&a), Some(PeerListKind::White));
    assert_eq!(book.stats(now).gray, 0, "an address is never in both lists");
    let entry = book.get(&a).unwrap();
    assert_eq!(
        entry.last_seen, 1_700_000_005,
        "last_seen is when we saw it"
    );

    // Hearing of a white peer again changes nothing.
    assert_eq!(book.add_gray([peer(1)], now), 0);
    assert_eq!(book.list_of(&a), Some(PeerListKind::White));

    // A failed dial demotes white to gray, then removes it from gray.
    book.dial_failed(&a);
    assert_eq!(book.list_of(&a), Some(PeerListKind::Gray));
    book.dial_failed(&a);
    assert_eq!(book.list_of(&a), None);
    // Unknown addresses are fine.
    book.dial_failed(&addr(99));
}

#[test]
fn gray_updates_keep_our_last_seen_and_known_pruning_seed() {
    let mut book = book(small_config());
    let now = t0();
    let now_secs = i64::try_from(1_700_000_000u64).unwrap();
    let mut first = peer(1);
    first.last_seen = now_secs - 100;
    first.pruning_seed = 0x181;
    book.add_gray([first], now);

    let mut again = peer(1);
    again.id = 42;
    again.last_seen = now_secs - 1; // newer, but an untrusted claim
    again.pruning_seed = 0;
    again.rpc_port = 18089;
    assert_eq!(book.add_gray([again], now), 0);
    let entry = book.get(&addr(1)).unwrap();
    assert_eq!(entry.id, 42);
    assert_eq!(entry.rpc_port, 18089);
    assert_eq!(entry.last_seen, now_secs - 100);
    assert_eq!(entry.pruning_seed, 0x181);

    // A claim from the future is clamped to now.
    let mut future = peer(2);
    future.last_seen = i64::MAX;
    book.add_gray([future], now);
    assert_eq!(book.get(&addr(2)).unwrap().last_seen, now_secs);
}

#[test]
fn unroutable_addresses_are_refused_unless_local_is_allowed() {
    let local: SocketAddr = "10.0.0.1:18080".parse().unwrap();
    let junk: SocketAddr = "0.0.0.0:18080".parse().unwrap();
    let mut strict = book(small_config());
    assert_eq!(strict.add_gray([peer_at(local), peer_at(junk)], t0()), 0);
    assert!(!strict.handshake_succeeded(peer_at(local), t0()));
    assert!(!strict.anchor_connected(peer_at(local), t0()));

    let mut lax = book(AddressBookConfig {
        allow_local: true,
        ..small_config()
    });
    assert_eq!(lax.add_gray([peer_at(local), peer_at(junk)], t0()), 1);
    assert!(lax.handshake_succeeded(peer_at(local), t0()));
}

#[test]
fn picks_never_return_excluded_or_banned_peers() {
    let config = AddressBookConfig {
        max_white: 100,
        max_gray: 100,
        ..AddressBookConfig::default()
    };
    let mut book = book(config);
    let now = t0();
    book.add_gray((0..50).map(peer), now);
    for i in 50..100 {
        book.handshake_succeeded(peer(i), now);
    }
    let excluded: HashSet<SocketAddr> = (0..100).filter(|i| i % 3 != 0).map(addr).collect();
    for i in (0..100).step_by(9) {
        book.ban(&addr(i), secs(3600), now);
    }
    let mut seen = HashSet::new();
    for _ in 0..500 {
        for pick in [
            book.take_gray(|a| excluded.contains(a), now),
            book.take_white(|a| excluded.contains(a), now),
        ] {
            let pick = pick.expect("eligible peers remain");
            assert!(!excluded.contains(&pick.addr));
            assert!(!book.is_banned(&pick.addr, now));
            seen.insert(pick.addr);
        }
    }
    assert!(seen.len() > 20, "picks are spread: {}", seen.len());
    // Picking does not remove.
    assert_eq!(book.stats(now).white + book.stats(now).gray, 100 - 12);
    // Everything excluded: nothing to dial.
    assert!(book.take_gray(|_| true, now).is_none());
    assert!(book.take_white(|_| true, now).is_none());
    // Only one eligible peer: it is found.
    let only = addr(51);
    assert_eq!(book.take_white(|a| *a != only, now).unwrap().addr, only);
}

#[test]
fn anchors_follow_outbound_connections() {
    let mut book = book(small_config());
    let now = t0();
    assert!(book.anchor_connected(peer(1), now));
    assert!(book.anchor_connected(peer(2), now));
    assert!(book.anchor_connected(peer(3), now));
    let anchors = book.anchors(now);
    assert_eq!(anchors.len(), 2);
    assert!(
        anchors.iter().any(|p| p.addr == addr(3)),
        "the new anchor is kept"
    );

    let other = anchors.iter().find(|p| p.addr != addr(3)).unwrap().addr;
    book.anchor_disconnected(&other);
    assert_eq!(book.anchors(now).len(), 1);
    book.dial_failed(&addr(3));
    assert!(book.anchors(now).is_empty());

    book.anchor_connected(peer(4), now);
    book.ban(&addr(4), secs(60), now);
    assert!(book.anchors(now).is_empty());
    assert!(!book.anchor_connected(peer(4), now));
}

#[test]
fn shared_peers_are_random_white_entries_without_last_seen() {
    let config = AddressBookConfig {
        max_white: 1000,
        ..AddressBookConfig::default()
    };
    let mut book = book(config);
    let now = t0();
    for i in 0..400 {
        book.handshake_succeeded(peer(i), now);
    }
    book.add_gray((1000..1100).map(peer), now);
    let shared = book.white_peers_for_sharing(1000, now);
    assert_eq!(shared.len(), MAX_PEER_LIST_LEN);
    let distinct: HashSet<_> = shared.iter().map(|p| p.addr).collect();
    assert_eq!(distinct.len(), shared.len());
    for p in &shared {
        assert_eq!(p.last_seen, 0);
        assert_eq!(book.list_of(&p.addr), Some(PeerListKind::White));
    }
    assert_eq!(book.white_peers_for_sharing(5, now).len(), 5);
    // Two requests do not return the same (most recent) head.
    let again: HashSet<_> = book
        .white_peers_for_sharing(50, now)
        .iter()
        .map(|p| p.addr)
        .collect();
    let other: HashSet<_> = book
        .white_peers_for_sharing(50, now)
        .iter()
        .map(|p| p.addr)
        .collect();
    assert_ne!(again, other);
}
