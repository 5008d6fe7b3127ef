//! Umbra peers on the hybrid zone, in one process over the in-memory transport: plain
//! levin handshakes upgrade to the encrypted transport, peer lists carry keys between
//! Umbra peers only, a wrong key is refused, and stealth mode dials and answers Umbra
//! peers only. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::Ordering,
    time::{Duration, SystemTime},
};

use tokio::sync::{broadcast, watch};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle};
use umbra_identity::Identity;
use umbra_p2p::{Network, NetworkConfig, NetworkEvent, NetworkSetup};
use umbra_p2p_core::{Direction, HybridNet, connection::NothingToServe, handshake::UmbraAdvert};
use umbra_transport::{
    hybrid::{HybridConfig, HybridTransport, PeerAddr},
    memory::MemoryTransport,
    noise::{self, DelayRange},
};
use umbra_wire::{CoreSyncData, network_id};

type Transport = HybridTransport<MemoryTransport>;
type Zone = HybridNet<Transport>;

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

fn chain() -> CoreSyncData {
    CoreSyncData::genesis([7; 32])
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn socket(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 18080)
}

struct Node {
    network: Network<Zone>,
    events: broadcast::Receiver<NetworkEvent<PeerAddr>>,
    key: umbra_identity::PublicKey,
    transport: Transport,
    _sync: watch::Sender<CoreSyncData>,
}

fn hybrid_config(stealth: bool) -> HybridConfig {
    // Probes and refused dials end quickly in tests.
    let noise = noise::Config {
        probe_close_delay: DelayRange {
            min: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        handshake_timeout: Duration::from_secs(2),
        ..noise::Config::default()
    };
    HybridConfig {
        plain_levin: !stealth,
        sniff_timeout: Duration::from_secs(2),
        noise,
        ..HybridConfig::default()
    }
}

fn config(n: u8, transport: &Transport, seeds: Vec<PeerAddr>) -> NetworkConfig<PeerAddr> {
    let mut config = NetworkConfig::new(network_id::MAINNET);
    config.listen = Some(PeerAddr::plain(socket(n)));
    config.allow_local = true;
    config.maintain_interval = Duration::from_millis(50);
    config.redial_backoff_initial = Duration::from_millis(100);
    config.redial_backoff_max = Duration::from_millis(400);
    config.max_connections_per_host = 4;
    config.handshake_timeout = Duration::from_secs(3);
    config.connection.timed_sync_interval = Duration::from_millis(300);
    config.seed_peers = seeds;
    config.umbra = Some(UmbraAdvert {
        key: transport.public_key().to_bytes(),
        transports: transport.transports(),
    });
    config
}

fn book() -> AddressBookHandle<Zone> {
    let config = AddressBookConfig {
        allow_local: true,
        ..AddressBookConfig::default()
    };
    AddressBookHandle::new(AddressBook::load(config, SystemTime::now()))
}

async fn start(net: &MemoryTransport, n: u8, stealth: bool, seeds: Vec<PeerAddr>) -> Node {
    let identity = Identity::generate();
    let key = identity.public();
    let transport =
        HybridTransport::new(net.with_local_ip(ip(n)), identity, hybrid_config(stealth));
    let (sync, core_sync) = watch::channel(chain());
    let network = Network::<Zone>::start(NetworkSetup {
        config: config(n, &transport, seeds),
        transport: transport.clone(),
        address_book: book(),
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
        key,
        transport,
        _sync: sync,
    }
}

impl Node {
    fn keyed(&self, n: u8) -> PeerAddr {
        PeerAddr::umbra(socket(n), self.key)
    }

    async fn wait_for<T>(
        &mut self,
        what: &str,
        pick: impl FnMut(&NetworkEvent<PeerAddr>) -> Option<T>,
    ) -> T {
        common::event(&mut self.events, WAIT, what, pick).await
    }

    async fn wait_until(&self, what: &str, check: impl Fn(&Network<Zone>) -> bool) {
        common::until(&self.network, WAIT, what, check).await;
    }

    /// The peers this node is connected to: (address, direction).
    fn peers(&self) -> Vec<(PeerAddr, Direction)> {
        self.network
            .peer_set()
            .peers()
            .into_iter()
            .map(|p| (p.addr, p.direction))
            .collect()
    }

    /// Timed syncs answered and completed over all connections.
    fn timed_syncs(&self) -> (u64, u64) {
        let set = self.network.peer_set();
        set.peers().iter().fold((0, 0), |(a, c), p| {
            let Some(client) = set.get(p.id) else {
                return (a, c);
            };
            let stats = &client.info().stats;
            (
                a + stats.timed_syncs_answered.load(Ordering::Relaxed),
                c + stats.timed_syncs_completed.load(Ordering::Relaxed),
            )
        })
    }
}

#[tokio::test]
async fn a_plain_handshake_upgrades_to_the_encrypted_transport_and_peer_lists_carry_keys() {
    let net = MemoryTransport::new();
    let mut a = start(&net, 1, false, Vec::new()).await;
    // b knows a's address only, as from monerod's peer lists: the first handshake is
    // plain levin, which tells b a's key; b then reconnects encrypted.
    let mut b = start(&net, 2, false, vec![PeerAddr::plain(socket(1))]).await;
    let connected = b
        .wait_for("b connects to a", |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Outbound,
                ..
            } if addr.addr == socket(1) => Some(*addr),
            _ => None,
        })
        .await;
    assert_eq!(
        connected.key(),
        Some(a.key),
        "the connection that stays is the encrypted one, to a's key"
    );
    a.wait_for("a accepts b encrypted", |e| match e {
        NetworkEvent::Connected {
            addr,
            direction: Direction::Inbound,
            ..
        } if addr.key() == Some(b.key) => Some(()),
        _ => None,
    })
    .await;
    // Exactly one plain connection reached a (b's first), and one encrypted.
    let stats = a.transport.stats();
    assert_eq!(stats.plain, 1, "{stats:?}");
    assert!(stats.encrypted >= 1, "{stats:?}");
    // b's address book holds a with its key.
    let entry = b
        .network
        .address_book()
        .with_book(|book| book.get(&PeerAddr::plain(socket(1))).cloned())
        .expect("a is in b's book");
    assert_eq!(entry.addr.key(), Some(a.key));

    // Timed syncs run over the encrypted connection, both ways.
    b.wait_until("timed syncs over the encrypted connection", |_| {
        let (answered, completed) = b.timed_syncs();
        answered > 0 && completed > 0
    })
    .await;
    for (addr, _) in b.peers() {
        assert!(
            addr.key().is_some(),
            "b has no plain connection left: {addr}"
        );
    }

    // a pings b back over the encrypted transport: b's keyed address enters a's white list.
    let ok = a
        .wait_for("ping back", |e| match e {
            NetworkEvent::PingBack { addr, ok } if addr.addr == socket(2) => {
                Some((*ok, addr.key()))
            }
            _ => None,
        })
        .await;
    assert_eq!(ok, (true, Some(b.key)));

    // c, knowing only a's keyed address, learns b *with its key* from a's peer list.
    let c = start(&net, 3, false, vec![a.keyed(1)]).await;
    c.wait_until("c learns b's key from a", |network| {
        network.address_book().with_book(|book| {
            book.get(&PeerAddr::plain(socket(2)))
                .and_then(|p| p.addr.key())
        }) == Some(b.key)
    })
    .await;
    for node in [a, b, c] {
        node.network.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_the_listener_stays_silent() {
    let net = MemoryTransport::new();
    let a = start(&net, 1, false, Vec::new()).await;
    let impostor = Identity::generate().public();
    let mut b = start(&net, 2, false, vec![PeerAddr::umbra(socket(1), impostor)]).await;
    let error = b
        .wait_for("the dial with the wrong key fails", |e| match e {
            NetworkEvent::DialFailed { addr, error, .. } if addr.addr == socket(1) => {
                Some(error.clone())
            }
            NetworkEvent::Connected { addr, .. } => panic!("connected to {addr} with a wrong key"),
            _ => None,
        })
        .await;
    eprintln!("dial with a wrong key: {error}");
    a.wait_until("a counts the refused handshake", |_| {
        a.transport.stats().refused >= 1
    })
    .await;
    assert_eq!(a.network.status().inbound, 0);
    a.network.shutdown().await.unwrap();
    b.network.shutdown().await.unwrap();
}

#[tokio::test]
async fn stealth_mode_answers_and_dials_umbra_peers_only() {
    let net = MemoryTransport::new();
    let mut stealthy = start(&net, 1, true, Vec::new()).await;
    // A plain levin peer (as monerod would be) gets nothing: no handshake, a silent close.
    let plain = start(&net, 2, false, vec![PeerAddr::plain(socket(1))]).await;
    stealthy
        .wait_until("the plain handshake is refused silently", |_| {
            stealthy.transport.stats().refused >= 1
        })
        .await;
    assert_eq!(stealthy.transport.stats().plain, 0);
    assert_eq!(plain.network.status().outbound, 0);

    // An Umbra peer that knows the key gets in.
    let friend = start(&net, 3, false, vec![stealthy.keyed(1)]).await;
    stealthy
        .wait_for("the Umbra peer connects", |e| match e {
            NetworkEvent::Connected { addr, .. } if addr.addr.ip() == ip(3) => Some(()),
            _ => None,
        })
        .await;
    // The stealthy node dials no plain address: its dials of the plain peer fail at once.
    let dial =
        umbra_transport::Transport::dial(&stealthy.transport, &PeerAddr::plain(socket(2))).await;
    assert_eq!(
        dial.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::PermissionDenied)
    );
    for node in [stealthy, plain, friend] {
        node.network.shutdown().await.unwrap();
    }
}
