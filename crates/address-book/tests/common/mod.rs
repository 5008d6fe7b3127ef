//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use umbra_address_book::{AddressBook, AddressBookConfig};
use umbra_p2p_core::{ClearNet, PeerCandidate};

/// A fixed start time, so that tests control the clock.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A distinct public address per `i` (11.0.0.0/8 is routable), port 18080.
pub fn addr(i: u32) -> SocketAddr {
    let [_, b, c, d] = i.to_be_bytes();
    SocketAddr::from(([11, b, c, d], 18080))
}

pub fn peer(i: u32) -> PeerCandidate<SocketAddr> {
    peer_at(addr(i))
}

pub fn peer_at(addr: SocketAddr) -> PeerCandidate<SocketAddr> {
    PeerCandidate {
        addr,
        id: u64::from(addr.port()) + 1,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
    }
}

pub fn small_config() -> AddressBookConfig {
    AddressBookConfig {
        max_white: 10,
        max_gray: 20,
        max_anchors: 2,
        ..AddressBookConfig::default()
    }
}

pub fn book(config: AddressBookConfig) -> AddressBook<ClearNet> {
    AddressBook::new(config).with_rng_seed(7)
}
