//! The Tor zone's rules, in one process: onion services are simulated by the in-memory
//! transport (each onion address is mapped to a memory socket; an accepted connection
//! has no address, as on Tor), so what is tested is Umbra's own logic — the real Tor
//! network is in umbrad's tests.
//!
//! - an inbound peer has no address: it never enters the address book, and outbound
//!   connections go to onion services only;
//! - each node puts its own onion address in the peer lists it sends, so peers learn
//!   where to reach it (as monerod does with `--anonymous-inbound`), and a third node can
//!   dial it;
//! - between Umbra peers the encrypted transport runs inside the (simulated) Tor stream,
//!   with the Tor zone's own key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle};
use umbra_identity::Identity;
use umbra_p2p::{Network, NetworkConfig, NetworkEvent, NetworkSetup};
use umbra_p2p_core::{
    Direction, TorNet, ZoneAddr, connection::NothingToServe, handshake::UmbraAdvert,
};
use umbra_transport::{
    LocalAddr, Transport,
    hybrid::{HybridConfig, HybridTransport, PeerAddr},
    memory::MemoryTransport,
    tor::{OnionAddr, TorAddr},
};
use umbra_wire::{CoreSyncData, network_id};

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Onion services over the in-memory transport: every onion address is given a memory
/// socket; accepted connections come without an address.
#[derive(Clone)]
struct MemTor {
    net: MemoryTransport,
    sockets: Arc<Mutex<HashMap<OnionAddr, SocketAddr>>>,
}

impl MemTor {
    fn socket(&self, onion: &OnionAddr) -> SocketAddr {
        let mut sockets = self.sockets.lock().unwrap();
        let next = sockets.len() + 1;
        *sockets.entry(*onion).or_insert_with(|| {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, 9, 0, next as u8)),
                onion.port(),
            )
        })
    }
}

struct MemTorListener {
    local: TorAddr,
    inner: <MemoryTransport as Transport>::Listener,
}

impl LocalAddr<TorAddr> for MemTorListener {
    fn local_addr(&self) -> io::Result<TorAddr> {
        Ok(self.local)
    }
}

type Accepted = io::Result<(
    <MemoryTransport as Transport>::Reader,
    <MemoryTransport as Transport>::Writer,
    TorAddr,
)>;

impl Stream for MemTorListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        self.inner.poll_next_unpin(cx).map(|item| {
            item.map(|accepted| accepted.map(|(r, w, _from)| (r, w, TorAddr::next_inbound())))
        })
    }
}

impl Transport for MemTor {
    type Addr = TorAddr;
    type Reader = <MemoryTransport as Transport>::Reader;
    type Writer = <MemoryTransport as Transport>::Writer;
    type Listener = MemTorListener;

    async fn dial(&self, addr: &TorAddr) -> io::Result<(Self::Reader, Self::Writer)> {
        let onion = addr
            .onion()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "inbound"))?;
        self.net.dial(&self.socket(onion)).await
    }

    async fn listen(&self, addr: &TorAddr) -> io::Result<MemTorListener> {
        let onion = addr
            .onion()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "inbound"))?;
        let inner = self.net.listen(&self.socket(onion)).await?;
        Ok(MemTorListener {
            local: *addr,
            inner,
        })
    }
}

type Zone = TorNet<HybridTransport<MemTor>>;

struct Node {
    network: Network<Zone>,
    events: broadcast::Receiver<NetworkEvent<PeerAddr<TorAddr>>>,
    onion: OnionAddr,
    key: umbra_identity::PublicKey,
    _sync: watch::Sender<CoreSyncData>,
}

async fn start(tor: &MemTor, seeds: Vec<PeerAddr<TorAddr>>) -> Node {
    let identity = Identity::generate();
    let key = identity.public();
    let onion = OnionAddr::from_key(rand::random(), 18083);
    let transport = HybridTransport::new(tor.clone(), identity, HybridConfig::default());
    let mut config = NetworkConfig::new(network_id::MAINNET);
    config.listen = Some(PeerAddr::plain(TorAddr::Onion(onion)));
    config.maintain_interval = Duration::from_millis(50);
    config.redial_backoff_initial = Duration::from_millis(100);
    config.redial_backoff_max = Duration::from_millis(400);
    config.handshake_timeout = Duration::from_secs(3);
    config.connection.timed_sync_interval = Duration::from_millis(300);
    config.seed_peers = seeds;
    config.umbra = Some(UmbraAdvert {
        key: key.to_bytes(),
        transports: transport.transports(),
    });
    let book = AddressBookHandle::new(AddressBook::load(
        AddressBookConfig::default(),
        SystemTime::now(),
    ));
    let (sync, core_sync) = watch::channel(CoreSyncData::genesis([7; 32]));
    let network = Network::<Zone>::start(NetworkSetup {
        config,
        transport,
        address_book: book,
        core_sync,
        handler: NothingToServe,
        node_id: rand::random::<u64>() | 1,
    })
    .await
    .expect("network starts");
    let events = network.subscribe();
    Node {
        network,
        events,
        onion,
        key,
        _sync: sync,
    }
}

#[tokio::test]
async fn onion_peers_learn_each_other_through_peer_lists_and_inbound_peers_stay_addressless() {
    let tor = MemTor {
        net: MemoryTransport::new(),
        sockets: Arc::default(),
    };
    let mut a = start(&tor, Vec::new()).await;
    let a_addr = PeerAddr::umbra(TorAddr::Onion(a.onion), a.key);
    // B knows A by its onion only (plain levin first, then the upgrade to encryption);
    // C knows A with its key.
    let mut b = start(&tor, vec![PeerAddr::plain(TorAddr::Onion(a.onion))]).await;
    let mut c = start(&tor, vec![a_addr]).await;

    // A sees B and C come in without an address.
    for _ in 0..2 {
        common::event(&mut a.events, WAIT, "an inbound peer at A", |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Inbound,
                ..
            } => {
                assert!(matches!(addr.addr, TorAddr::Inbound(_)), "{addr}");
                assert!(!addr.is_routable(true));
                Some(())
            }
            _ => None,
        })
        .await;
    }
    // B upgraded A to the encrypted transport (A's key came in A's handshake).
    common::event(
        &mut b.events,
        WAIT,
        "B connected to A encrypted",
        |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Outbound,
                ..
            } if addr.addr == TorAddr::Onion(a.onion) && addr.key() == Some(a.key) => Some(()),
            _ => None,
        },
    )
    .await;
    // C learns B's onion from A's peer list (B told A its own address) and dials it,
    // with B's key, which only authenticated peers pass on.
    common::event(
        &mut c.events,
        WAIT,
        "C dialled B, learnt through A",
        |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Outbound,
                ..
            } if addr.addr == TorAddr::Onion(b.onion) => {
                assert_eq!(
                    addr.key(),
                    Some(b.key),
                    "B's key came through A's encrypted list"
                );
                Some(())
            }
            _ => None,
        },
    )
    .await;

    // Nobody's book holds an inbound address; every outbound connection goes to an onion
    // service (A dials B and C at the onions they told it, never "back" to a connection).
    for node in [&a, &b, &c] {
        let file = node
            .network
            .address_book()
            .with_book(|book| book.snapshot(SystemTime::now()));
        let debug = format!("{file:?}");
        assert!(!debug.contains("Inbound"), "{debug}");
    }
    for node in [&a, &b, &c] {
        for peer in node.network.peer_set().peers() {
            match peer.direction {
                Direction::Outbound => assert!(peer.addr.addr.onion().is_some()),
                Direction::Inbound => assert!(matches!(peer.addr.addr, TorAddr::Inbound(_))),
            }
        }
    }
    let _ = &mut c;
}
