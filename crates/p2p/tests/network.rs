//! Whole zone networks in one process over the in-memory transport: the inbound server,
//! the connection maintainer, the address book and the peer set working together.
//! Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, SystemTime},
};

use tokio::sync::{broadcast, watch};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle, PeerListKind};
use umbra_p2p::{DialSource, Network, NetworkConfig, NetworkEvent, NetworkSetup, Refused};
use umbra_p2p_core::{ClearNet, Direction, PeerCandidate, connection::NothingToServe};
use umbra_transport::{Transport, memory::MemoryTransport};
use umbra_wire::{CoreSyncData, network_id};

type Zone = ClearNet<MemoryTransport>;

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

fn chain() -> CoreSyncData {
    CoreSyncData {
        current_height: 1,
        cumulative_difficulty: 1,
        cumulative_difficulty_top64: 0,
        top_id: [7; 32],
        top_version: 1,
        pruning_seed: 0,
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 18080)
}

/// A node of the test network: listening on 10.0.0.n:18080 and dialling from 10.0.0.n.
struct Node {
    network: Network<Zone>,
    events: broadcast::Receiver<NetworkEvent<SocketAddr>>,
    _sync: watch::Sender<CoreSyncData>,
}

fn config(n: u8) -> NetworkConfig<SocketAddr> {
    let mut config = NetworkConfig::new(network_id::MAINNET);
    config.listen = Some(addr(n));
    config.allow_local = true;
    config.maintain_interval = Duration::from_millis(50);
    config.redial_backoff_initial = Duration::from_millis(100);
    config.redial_backoff_max = Duration::from_millis(400);
    config.max_connections_per_host = 4;
    config
}

fn book(data_dir: Option<&Path>) -> AddressBookHandle<Zone> {
    let config = AddressBookConfig {
        allow_local: true,
        data_dir: data_dir.map(Path::to_path_buf),
        ..AddressBookConfig::default()
    };
    AddressBookHandle::new(AddressBook::load(config, SystemTime::now()))
}

async fn start(
    net: &MemoryTransport,
    n: u8,
    config: NetworkConfig<SocketAddr>,
    book: AddressBookHandle<Zone>,
) -> Node {
    let (sync, core_sync) = watch::channel(chain());
    let network = Network::<Zone>::start(NetworkSetup {
        config,
        transport: net.with_local_ip(ip(n)),
        address_book: book,
        core_sync,
        handler: NothingToServe,
        node_id: u64::from(n) * 1000 + 1,
    })
    .await
    .expect("network starts");
    let events = network.subscribe();
    Node {
        network,
        events,
        _sync: sync,
    }
}

impl Node {
    /// Waits for the first event `pick` accepts; panics after [`WAIT`].
    async fn wait_for<T>(
        &mut self,
        what: &str,
        pick: impl FnMut(&NetworkEvent<SocketAddr>) -> Option<T>,
    ) -> T {
        common::event(&mut self.events, WAIT, what, pick).await
    }

    /// Waits until `check` holds of the network, polling.
    async fn wait_until(&self, what: &str, check: impl Fn(&Network<Zone>) -> bool) {
        common::until(&self.network, WAIT, what, check).await;
    }
}

#[tokio::test]
async fn two_nodes_connect_both_ways_and_whitelist_each_other_after_ping_back() {
    let net = MemoryTransport::new();
    let mut a = start(&net, 1, config(1), book(None)).await;
    let mut b_config = config(2);
    b_config.seed_peers = vec![addr(1)];
    let mut b = start(&net, 2, b_config, book(None)).await;

    let (source, height) = b
        .wait_for("b connects to a", |e| match e {
            NetworkEvent::Connected {
                addr: to,
                direction: Direction::Outbound,
                height,
                ..
            } if *to == addr(1) => Some((None::<DialSource>, *height)),
            _ => None,
        })
        .await;
    assert_eq!((source, height), (None, 1));
    a.wait_for("a accepts b", |e| match e {
        NetworkEvent::Connected {
            direction: Direction::Inbound,
            addr: from,
            ..
        } if from.ip() == ip(2) => Some(()),
        _ => None,
    })
    .await;
    // a pings back b's advertised port; b's listening address enters a's white list.
    let ok = a
        .wait_for("ping back", |e| match e {
            NetworkEvent::PingBack { addr: to, ok } if *to == addr(2) => Some(*ok),
            _ => None,
        })
        .await;
    assert!(ok, "the ping back reaches b's listener");
    assert_eq!(
        a.network
            .address_book()
            .with_book(|book| book.list_of(&addr(2))),
        Some(PeerListKind::White)
    );
    // b connected out: a is in b's white list and is an anchor.
    b.network.address_book().with_book(|book| {
        assert_eq!(book.list_of(&addr(1)), Some(PeerListKind::White));
        assert!(book.is_anchor(&addr(1)));
    });
    // a, wanting outbound peers too, learns nothing new but may dial b back; either way
    // both sides count b's connection.
    let status = b.network.status();
    assert!(status.outbound >= 1, "{status}");
    assert!(a.network.status().inbound >= 1);
    a.network.shutdown().await.unwrap();
    b.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn maintainer_fills_out_peers_from_addresses_it_learns_and_replaces_lost_ones() {
    let net = MemoryTransport::new();
    // A hub (1) that knows four peers (2..=5) from their connections to it.
    let hub = start(&net, 1, config(1), book(None)).await;
    let mut others = Vec::new();
    for n in 2..=5 {
        let mut c = config(n);
        c.seed_peers = vec![addr(1)];
        c.out_peers = 1;
        others.push(start(&net, n, c, book(None)).await);
    }
    hub.wait_until("the hub whitelists its four peers", |net| {
        net.address_book().stats().white >= 4
    })
    .await;

    // A newcomer told only about the hub finds the others through the hub's peer list.
    let mut c = config(9);
    c.seed_peers = vec![addr(1)];
    c.out_peers = 3;
    let mut newcomer = start(&net, 9, c, book(None)).await;
    newcomer
        .wait_until("three outbound peers", |net| net.status().outbound == 3)
        .await;
    let outbound: Vec<SocketAddr> = newcomer
        .network
        .peer_set()
        .peers()
        .into_iter()
        .filter(|p| p.direction == Direction::Outbound)
        .map(|p| p.addr)
        .collect();
    assert!(
        outbound.iter().any(|a| *a != addr(1)),
        "learnt peers were dialled: {outbound:?}"
    );

    // One outbound peer goes away for good: the maintainer replaces it.
    let lost = *outbound.iter().find(|a| **a != addr(1)).unwrap();
    let index = others
        .iter()
        .position(|n| n.network.local_addr() == Some(&lost))
        .unwrap();
    let gone = others.swap_remove(index);
    gone.network.shutdown().await.unwrap();
    newcomer
        .wait_for("the lost peer's disconnection", |e| match e {
            NetworkEvent::Disconnected { addr: a, .. } if *a == lost => Some(()),
            _ => None,
        })
        .await;
    newcomer
        .wait_until("three outbound peers again, without the lost one", |net| {
            let peers = net.peer_set().peers();
            peers
                .iter()
                .filter(|p| p.direction == Direction::Outbound)
                .count()
                == 3
                && peers.iter().all(|p| p.addr != lost)
        })
        .await;
    for node in others {
        node.network.shutdown().await.unwrap();
    }
    newcomer.network.shutdown().await.unwrap();
    hub.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn anchors_are_dialled_first_after_a_restart() {
    let net = MemoryTransport::new();
    let dir = tempfile::tempdir().unwrap();
    let mut peers = Vec::new();
    for n in 2..=6 {
        peers.push(start(&net, n, config(n), book(None)).await);
    }
    // First run: told about all five, keeps two outbound connections.
    let mut c = config(1);
    c.seed_peers = (2..=6).map(addr).collect();
    c.out_peers = 2;
    let node = start(&net, 1, c.clone(), book(Some(dir.path()))).await;
    node.wait_until("two outbound peers", |net| net.status().outbound == 2)
        .await;
    let anchors: Vec<SocketAddr> = node
        .network
        .address_book()
        .anchors()
        .into_iter()
        .map(|p| p.addr)
        .collect();
    assert_eq!(anchors.len(), 2, "{anchors:?}");
    node.network.shutdown().await.unwrap();

    // Second run on the saved book, no seeds: the first two dials are the anchors.
    c.seed_peers.clear();
    let mut node = start(&net, 1, c, book(Some(dir.path()))).await;
    let mut first = Vec::new();
    while first.len() < 2 {
        let (to, source) = node
            .wait_for("dials", |e| match e {
                NetworkEvent::Dialling { addr, source } => Some((*addr, *source)),
                _ => None,
            })
            .await;
        first.push((to, source));
    }
    assert!(
        first
            .iter()
            .all(|(to, source)| *source == DialSource::Anchor && anchors.contains(to)),
        "first dials {first:?}, anchors {anchors:?}"
    );
    node.network.shutdown().await.unwrap();
    for p in peers {
        p.network.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn exclusive_nodes_are_the_only_ones_dialled() {
    let net = MemoryTransport::new();
    let p2 = start(&net, 2, config(2), book(None)).await;
    let p3 = start(&net, 3, config(3), book(None)).await;
    let mut c = config(1);
    c.exclusive_nodes = vec![addr(2)];
    let book = book(None);
    book.add_gray([PeerCandidate {
        addr: addr(3),
        id: 3,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
    }]);
    let mut node = start(&net, 1, c, book).await;
    node.wait_until("connected to the exclusive node", |net| {
        net.status().outbound == 1
    })
    .await;
    // Give the maintainer many rounds to misbehave.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let peers = node.network.peer_set().peers();
    assert!(
        peers
            .iter()
            .filter(|p| p.direction == Direction::Outbound)
            .all(|p| p.addr == addr(2)),
        "{peers:?}"
    );
    while let Ok(event) = node.events.try_recv() {
        if let NetworkEvent::Dialling { addr: to, source } = event {
            assert_eq!((to, source), (addr(2), DialSource::Exclusive));
        }
    }
    for n in [node, p2, p3] {
        n.network.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_priority_node_that_is_down_is_redialled_with_growing_back_off() {
    let net = MemoryTransport::new();
    let mut c = config(1);
    c.priority_nodes = vec![addr(2)];
    c.redial_backoff_initial = Duration::from_millis(40);
    c.redial_backoff_max = Duration::from_millis(320);
    let mut node = start(&net, 1, c, book(None)).await;
    let mut failures = Vec::new();
    while failures.len() < 5 {
        node.wait_for("a failed dial", |e| match e {
            NetworkEvent::DialFailed {
                addr: to,
                source: DialSource::Priority,
                ..
            } if *to == addr(2) => Some(()),
            _ => None,
        })
        .await;
        failures.push(tokio::time::Instant::now());
    }
    let gaps: Vec<Duration> = failures.windows(2).map(|w| w[1] - w[0]).collect();
    // Doubling from 40 ms (±25 % jitter): the last gap is well above the first.
    assert!(gaps[3] > gaps[0] * 2, "gaps {gaps:?}");
    // Once it is up, the node connects to it.
    let p2 = start(&net, 2, config(2), book(None)).await;
    node.wait_until("connected to the priority node", |net| {
        net.peer_set().peers().iter().any(|p| p.addr == addr(2))
    })
    .await;
    node.network.shutdown().await.unwrap();
    p2.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn inbound_limits_and_bans_are_enforced_before_the_handshake() {
    let net = MemoryTransport::new();
    let mut c = config(1);
    c.in_peers = 3;
    c.max_connections_per_host = 2;
    c.out_peers = 0;
    let mut node = start(&net, 1, c, book(None)).await;

    // Raw connections that never speak: they hold handshake slots.
    let from = |n: u8| net.with_local_ip(ip(n));
    let _a1 = from(2).dial(&addr(1)).await.unwrap();
    let _a2 = from(2).dial(&addr(1)).await.unwrap();
    let _a3 = from(2).dial(&addr(1)).await.unwrap();
    let reason = node
        .wait_for("refusal", |e| match e {
            NetworkEvent::InboundRefused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refused::TooManyFromHost);
    let _b1 = from(3).dial(&addr(1)).await.unwrap();
    let _b2 = from(4).dial(&addr(1)).await.unwrap();
    let reason = node
        .wait_for("refusal", |e| match e {
            NetworkEvent::InboundRefused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refused::InboundFull);

    // A banned host is refused.
    node.network.address_book().ban(&addr(5), None);
    let _c = from(5).dial(&addr(1)).await.unwrap();
    let reason = node
        .wait_for("refusal of a banned host", |e| match e {
            NetworkEvent::InboundRefused { reason, addr } if addr.ip() == ip(5) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refused::Banned);
    node.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_peer_sending_garbage_is_banned_and_its_host_refused() {
    let net = MemoryTransport::new();
    let mut c = config(1);
    c.out_peers = 0;
    let mut node = start(&net, 1, c, book(None)).await;
    let attacker = net.with_local_ip(ip(66));
    let (reader, mut writer) = attacker.dial(&addr(1)).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut writer, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (error, score) = node
        .wait_for("the failed handshake", |e| match e {
            NetworkEvent::HandshakeFailed {
                error, ban_score, ..
            } => Some((error.clone(), *ban_score)),
            _ => None,
        })
        .await;
    assert_eq!(score, 100, "{error}");
    node.wait_for("the ban", |e| match e {
        NetworkEvent::Banned { addr, .. } if addr.ip() == ip(66) => Some(()),
        _ => None,
    })
    .await;
    drop((reader, writer));
    // The next connection from that host is refused before a byte is read.
    let (reader, writer) = attacker.dial(&addr(1)).await.unwrap();
    let reason = node
        .wait_for("refusal", |e| match e {
            NetworkEvent::InboundRefused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refused::Banned);
    // And the connection is closed: reading gives end of stream.
    let mut reader = reader;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut reader, &mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "closed without a word");
    drop(writer);
    node.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn fallback_seeds_are_used_only_when_there_is_nothing_else() {
    let net = MemoryTransport::new();
    let p2 = start(&net, 2, config(2), book(None)).await;
    let p3 = start(&net, 3, config(3), book(None)).await;
    // Knows 2 from its book; 3 is only a fallback seed.
    let mut c = config(1);
    c.fallback_seeds = vec![addr(3)];
    c.out_peers = 1;
    let known = book(None);
    known.add_gray([PeerCandidate {
        addr: addr(2),
        id: 2,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
    }]);
    let node = start(&net, 1, c, known).await;
    node.wait_until("connected to 2", |net| net.status().outbound == 1)
        .await;
    assert!(
        node.network
            .peer_set()
            .peers()
            .iter()
            .all(|p| p.addr != addr(3))
    );
    node.network.shutdown().await.unwrap();
    // An empty book: the fallback seed is the way in, and its peer list fills the book.
    let mut fresh = start(
        &net,
        4,
        {
            let mut c = config(4);
            c.fallback_seeds = vec![addr(3)];
            c
        },
        book(None),
    )
    .await;
    let (to, source) = fresh
        .wait_for("a dial", |e| match e {
            NetworkEvent::Dialling { addr, source } => Some((*addr, *source)),
            _ => None,
        })
        .await;
    assert_eq!((to, source), (addr(3), DialSource::Seed));
    fresh
        .wait_until("connected to the fallback seed", |net| {
            net.status().outbound >= 1
        })
        .await;
    for n in [fresh, p2, p3] {
        n.network.shutdown().await.unwrap();
    }
}
