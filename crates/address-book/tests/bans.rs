//! Bans with expiry, by host, and misbehaviour scores that decay and turn into bans.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use umbra_address_book::{AddressBookConfig, MAX_BAN, PeerListKind, Verdict};

#[test]
fn a_ban_expires_on_the_controlled_clock() {
    let mut book = book(small_config());
    let now = t0();
    let until = book.ban(&addr(1), secs(60), now).unwrap();
    assert_eq!(until, now + secs(60));
    assert!(book.is_banned(&addr(1), now));
    assert!(book.is_banned(&addr(1), now + secs(59)));
    assert_eq!(book.ban_expiry(&addr(1), now), Some(until));
    assert_eq!(book.stats(now).bans, 1);
    assert_eq!(
        book.stats(now + secs(60)).bans,
        0,
        "expired bans are not counted"
    );
    assert!(!book.is_banned(&addr(1), now + secs(60)));
    assert_eq!(book.ban_expiry(&addr(1), now + secs(60)), None);
    // Once expired the host is welcome again.
    assert!(book.handshake_succeeded(peer(1), now + secs(61)));
}

#[test]
fn a_ban_covers_the_whole_host_and_removes_its_entries() {
    let mut book = book(small_config());
    let now = t0();
    let host_a: SocketAddr = "11.1.1.1:18080".parse().unwrap();
    let host_b: SocketAddr = "11.1.1.1:28080".parse().unwrap();
    let host_c: SocketAddr = "11.1.1.1:38080".parse().unwrap();
    let other: SocketAddr = "11.1.1.2:18080".parse().unwrap();
    book.handshake_succeeded(peer_at(host_a), now);
    book.add_gray([peer_at(host_b), peer_at(other)], now);
    book.anchor_connected(peer_at(host_c), now);

    book.ban(&host_b, secs(3600), now);
    assert_eq!(book.list_of(&host_a), None);
    assert_eq!(book.list_of(&host_b), None);
    assert!(!book.is_anchor(&host_c));
    assert_eq!(book.list_of(&other), Some(PeerListKind::Gray));
    let any_port: SocketAddr = "11.1.1.1:1".parse().unwrap();
    assert!(book.is_banned(&any_port, now));

    // A banned host is not taken back in.
    assert_eq!(book.add_gray([peer_at(host_a)], now), 0);
    assert!(!book.handshake_succeeded(peer_at(host_a), now));
    assert!(!book.anchor_connected(peer_at(host_a), now));
}

#[test]
fn bans_are_extended_never_shortened_and_can_be_lifted() {
    let mut book = book(small_config());
    let now = t0();
    book.ban(&addr(1), secs(600), now);
    assert_eq!(book.ban(&addr(1), secs(10), now), Some(now + secs(600)));
    assert_eq!(book.ban(&addr(1), secs(900), now), Some(now + secs(900)));
    assert!(book.unban(&addr(1), now));
    assert!(!book.is_banned(&addr(1), now));
    assert!(!book.unban(&addr(1), now), "nothing left to lift");
    // "Forever" is cut to a century, not an overflow.
    let until = book.ban(&addr(2), std::time::Duration::MAX, now).unwrap();
    assert_eq!(until, now + MAX_BAN);
}

#[test]
fn misbehaviour_scores_decay_and_ban_at_the_threshold() {
    let config = AddressBookConfig {
        ban_threshold: 100,
        score_half_life: secs(60),
        default_ban: secs(3600),
        ..small_config()
    };
    let mut book = book(config);
    let now = t0();
    let bad = addr(1);
    book.handshake_succeeded(peer(1), now);

    assert_eq!(
        book.misbehaved(&bad, 60, now),
        Verdict::Tolerated { score: 60 }
    );
    // Two half-lives later 60 has decayed to 15: 15 + 60 stays under 100.
    let later = now + secs(120);
    assert_eq!(
        book.misbehaved(&bad, 60, later),
        Verdict::Tolerated { score: 75 }
    );
    assert!((book.score(&bad, later + secs(60)) - 37.5).abs() < 1e-6);
    // Quickly again: over the threshold.
    assert_eq!(book.misbehaved(&bad, 30, later), Verdict::Banned);
    assert!(book.is_banned(&bad, later));
    assert_eq!(book.ban_expiry(&bad, later), Some(later + secs(3600)));
    assert_eq!(book.list_of(&bad), None, "the ban removed its entry");
    assert_eq!(book.score(&bad, later), 0.0, "the score is spent");
    // Further offences while banned change nothing.
    assert_eq!(book.misbehaved(&bad, 1, later), Verdict::Banned);

    // Slow offences never add up.
    let slow = addr(2);
    for i in 0..100 {
        let verdict = book.misbehaved(&slow, 40, now + secs(600 * i));
        assert!(!verdict.is_banned(), "{verdict:?} at offence {i}");
    }
    // One serious offence bans at once.
    assert!(book.misbehaved(&addr(3), 100, now).is_banned());
}

#[test]
fn a_zero_half_life_only_bans_single_offences() {
    let config = AddressBookConfig {
        score_half_life: secs(0),
        ..small_config()
    };
    let mut book = book(config);
    for _ in 0..10 {
        assert!(!book.misbehaved(&addr(1), 99, t0()).is_banned());
    }
    assert!(book.misbehaved(&addr(1), 100, t0()).is_banned());
}

#[test]
fn bans_and_scores_are_bounded() {
    let config = AddressBookConfig {
        max_bans: 5,
        max_scored_hosts: 5,
        ..small_config()
    };
    let mut book = book(config);
    let now = t0();
    for i in 0..100 {
        book.ban(&addr(i), secs(60 + u64::from(i)), now);
        book.misbehaved(&addr(1000 + i), 10 + i % 50, now);
        let stats = book.stats(now);
        assert!(stats.bans <= 5 && stats.scored_hosts <= 5, "{stats:?}");
    }
    // The longest bans are the ones kept.
    assert!(book.is_banned(&addr(99), now));
    assert!(!book.is_banned(&addr(0), now));
}
