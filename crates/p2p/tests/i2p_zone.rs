//! The I2P zone's rules, in one process: I2P destinations are simulated by the in-memory
//! transport (each destination is mapped to a memory socket; an accepted connection comes
//! with the destination it was sent from, as SAM names it), so what is tested is Umbra's
//! own logic — real i2pd routers are in umbrad's tests.
//!
//! - an inbound peer is never an address: it never enters the address book, and outbound
//!   connections go to destinations only;
//! - each node puts its own destination in the peer lists it sends, so peers learn where
//!   to reach it (as monerod does with `--anonymous-inbound`), and a third node can dial
//!   it;
//! - between Umbra peers the encrypted transport runs inside the (simulated) I2P stream,
//!   with the I2P zone's own key;
//! - a ban of a destination also refuses the connections that come from it.

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
use umbra_p2p::{Network, NetworkConfig, NetworkEvent, NetworkSetup, Refused};
use umbra_p2p_core::{
    Direction, I2pNet, ZoneAddr, connection::NothingToServe, handshake::UmbraAdvert,
};
use umbra_transport::{
    LocalAddr, Transport,
    hybrid::{HybridConfig, HybridTransport, PeerAddr},
    i2p::{I2pAddr, I2pEndpoint},
    memory::MemoryTransport,
};
use umbra_wire::{CoreSyncData, network_id};

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Destinations over the in-memory transport: every destination is given a memory socket
/// on an IP of its own, and each node dials from its own IP, so an accepted connection
/// can be named by the destination that sent it (as a SAM bridge names it).
#[derive(Clone)]
struct MemI2p {
    net: MemoryTransport,
    sockets: Arc<Mutex<HashMap<I2pAddr, SocketAddr>>>,
}

impl MemI2p {
    fn new() -> Self {
        Self {
            net: MemoryTransport::new(),
            sockets: Arc::default(),
        }
    }

    fn socket(&self, dest: &I2pAddr) -> SocketAddr {
        let dest = dest.normalized();
        let mut sockets = self.sockets.lock().unwrap();
        let next = sockets.len() + 1;
        *sockets.entry(dest).or_insert_with(|| {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 8, 0, next as u8)), 7656)
        })
    }

    fn dest_of(&self, ip: IpAddr) -> Option<I2pAddr> {
        let sockets = self.sockets.lock().unwrap();
        sockets
            .iter()
            .find(|(_, socket)| socket.ip() == ip)
            .map(|(dest, _)| *dest)
    }

    /// The transport of the node whose destination is `me`: it dials from `me`.
    fn node(&self, me: &I2pAddr) -> MemI2pNode {
        let ip = self.socket(me).ip();
        MemI2pNode {
            net: self.net.with_local_ip(ip),
            i2p: self.clone(),
        }
    }
}

#[derive(Clone)]
struct MemI2pNode {
    net: MemoryTransport,
    i2p: MemI2p,
}

struct MemI2pListener {
    local: I2pEndpoint,
    inner: <MemoryTransport as Transport>::Listener,
    i2p: MemI2p,
}

impl LocalAddr<I2pEndpoint> for MemI2pListener {
    fn local_addr(&self) -> io::Result<I2pEndpoint> {
        Ok(self.local)
    }
}

type Accepted = io::Result<(
    <MemoryTransport as Transport>::Reader,
    <MemoryTransport as Transport>::Writer,
    I2pEndpoint,
)>;

impl Stream for MemI2pListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        let i2p = self.i2p.clone();
        self.inner.poll_next_unpin(cx).map(|item| {
            item.map(|accepted| {
                accepted
                    .map(|(r, w, from)| (r, w, I2pEndpoint::next_inbound(i2p.dest_of(from.ip()))))
            })
        })
    }
}

impl Transport for MemI2pNode {
    type Addr = I2pEndpoint;
    type Reader = <MemoryTransport as Transport>::Reader;
    type Writer = <MemoryTransport as Transport>::Writer;
    type Listener = MemI2pListener;

    async fn dial(&self, addr: &I2pEndpoint) -> io::Result<(Self::Reader, Self::Writer)> {
        let dest = addr
            .dest()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "inbound"))?;
        self.net.dial(&self.i2p.socket(dest)).await
    }

    async fn listen(&self, addr: &I2pEndpoint) -> io::Result<MemI2pListener> {
        let dest = addr
            .dest()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "inbound"))?;
        let inner = self.net.listen(&self.i2p.socket(dest)).await?;
        Ok(MemI2pListener {
            local: *addr,
            inner,
            i2p: self.i2p.clone(),
        })
    }
}

type Zone = I2pNet<HybridTransport<MemI2pNode>>;

struct Node {
    network: Network<Zone>,
    events: broadcast::Receiver<NetworkEvent<PeerAddr<I2pEndpoint>>>,
    dest: I2pAddr,
    key: umbra_identity::PublicKey,
    _sync: watch::Sender<CoreSyncData>,
}

fn fresh_dest() -> I2pAddr {
    I2pAddr::from_hash(rand::random(), I2pAddr::MONERO_PORT)
}

async fn start(
    i2p: &MemI2p,
    dest: I2pAddr,
    seeds: Vec<PeerAddr<I2pEndpoint>>,
    book: Option<AddressBookHandle<Zone>>,
) -> Node {
    let identity = Identity::generate();
    let key = identity.public();
    let transport = HybridTransport::new(i2p.node(&dest), identity, HybridConfig::default());
    let mut config = NetworkConfig::new(network_id::MAINNET);
    config.listen = Some(PeerAddr::plain(I2pEndpoint::Dest(dest)));
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
    let book = book.unwrap_or_else(|| {
        AddressBookHandle::new(AddressBook::load(
            AddressBookConfig::default(),
            SystemTime::now(),
        ))
    });
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
        dest,
        key,
        _sync: sync,
    }
}

#[tokio::test]
async fn destinations_learn_each_other_through_peer_lists_and_inbound_peers_stay_out_of_books() {
    let i2p = MemI2p::new();
    let mut a = start(&i2p, fresh_dest(), Vec::new(), None).await;
    let a_addr = PeerAddr::umbra(I2pEndpoint::Dest(a.dest), a.key);
    // B knows A by its destination only (plain levin first, then the upgrade to
    // encryption); C knows A with its key.
    let b_dest = fresh_dest();
    let mut b = start(
        &i2p,
        b_dest,
        vec![PeerAddr::plain(I2pEndpoint::Dest(a.dest))],
        None,
    )
    .await;
    let mut c = start(&i2p, fresh_dest(), vec![a_addr], None).await;

    // A sees B and C come in as inbound connections, named by the destination they were
    // sent from, which is never an address to dial.
    for _ in 0..2 {
        common::event(&mut a.events, WAIT, "an inbound peer at A", |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Inbound,
                ..
            } => {
                assert!(addr.addr.is_inbound(), "{addr}");
                assert!(!addr.is_routable(true));
                match addr.addr {
                    I2pEndpoint::Inbound {
                        from: Some(from), ..
                    } => {
                        assert!(from == b.dest || from == c.dest);
                    }
                    other => panic!("{other:?}"),
                }
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
            } if addr.addr == I2pEndpoint::Dest(a.dest) && addr.key() == Some(a.key) => Some(()),
            _ => None,
        },
    )
    .await;
    // C learns B's destination from A's peer list (B told A its own address) and dials
    // it, with B's key, which only authenticated peers pass on.
    common::event(
        &mut c.events,
        WAIT,
        "C dialled B, learnt through A",
        |e| match e {
            NetworkEvent::Connected {
                addr,
                direction: Direction::Outbound,
                ..
            } if addr.addr == I2pEndpoint::Dest(b_dest) => {
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

    // Nobody's book holds an inbound connection; every outbound connection goes to a
    // destination.
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
                Direction::Outbound => assert!(peer.addr.addr.dest().is_some()),
                Direction::Inbound => assert!(peer.addr.addr.is_inbound()),
            }
        }
    }
    let _ = &mut c;
}

#[tokio::test]
async fn a_banned_destination_is_refused_when_it_comes_in() {
    let i2p = MemI2p::new();
    let d_dest = fresh_dest();
    // A has D's destination banned before D ever connects.
    let book = AddressBookHandle::new(AddressBook::load(
        AddressBookConfig::default(),
        SystemTime::now(),
    ));
    book.ban(&PeerAddr::plain(I2pEndpoint::Dest(d_dest)), None);
    let mut a = start(&i2p, fresh_dest(), Vec::new(), Some(book)).await;
    let _d = start(
        &i2p,
        d_dest,
        vec![PeerAddr::plain(I2pEndpoint::Dest(a.dest))],
        None,
    )
    .await;
    common::event(&mut a.events, WAIT, "D refused at A", |e| match e {
        NetworkEvent::InboundRefused {
            addr,
            reason: Refused::Banned,
        } => {
            assert!(addr.addr.is_inbound());
            Some(())
        }
        NetworkEvent::Connected { .. } => panic!("a banned destination got in"),
        _ => None,
    })
    .await;
    assert_eq!(
        AddressBookConfig {
            data_dir: Some("/d".into()),
            ..AddressBookConfig::default()
        }
        .peers_file::<Zone>(),
        Some("/d/i2p-peers.epee".into()),
        "the I2P zone keeps its own address book file"
    );
}
