//! The zone network as a real peer among real monerods (Debian's 0.18, regtest, started
//! by the test kit): it connects out to three and each connects in, learns addresses from
//! their peer lists, replaces a monerod that dies, dials its anchors first after a restart,
//! exchanges timed syncs both ways, and tracks the peers' heights as `get_info` reports
//! them. Every wait is bounded; every monerod is stopped when the test ends.
//!
//! monerod never keeps 127.0.0.0/8 addresses in its peer lists, so peer-list exchange
//! cannot be seen on loopback: the test re-runs itself in a user + network namespace of its
//! own (`umbra_test_kit::netns`) where 10.99.0.1–10.99.0.6 live on the namespace's `lo`;
//! nothing leaves the machine and nothing on the host changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener},
    path::Path,
    sync::atomic::Ordering,
    time::{Duration, SystemTime},
};

use tokio::sync::{broadcast, watch};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle};
use umbra_p2p::{DialSource, Network, NetworkConfig, NetworkEvent, NetworkSetup};
use umbra_p2p_core::{ClearNet, Direction, connection::NothingToServe};
use umbra_test_kit::{Monerod, MonerodBuilder};
use umbra_transport::Tcp;
use umbra_wire::{CoreSyncData, network_id};

/// Bound on the waits for our own network (monerod start-up aside).
const WAIT: Duration = Duration::from_secs(30);
/// monerod sends its timed syncs every 60 s (`P2P_DEFAULT_HANDSHAKE_INTERVAL`).
const MONEROD_TIMED_SYNC: Duration = Duration::from_secs(60);

/// A fresh regtest chain as monerod has it: only the genesis block, hard fork 1.
fn genesis() -> CoreSyncData {
    CoreSyncData::genesis(umbra_wire::genesis::MAINNET)
}

/// The namespace's addresses: ours, then one per monerod.
fn ns_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, n)
}

/// A port free right now at `ip` (bound and released; monerods that must dial us are
/// started before we listen).
fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts monerods in parallel (each takes seconds).
fn start_all(builders: Vec<MonerodBuilder>) -> Vec<Monerod> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = builders
            .into_iter()
            .map(|b| scope.spawn(move || b.start().expect("monerod starts")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn config(listen: SocketAddr, seeds: Vec<SocketAddr>) -> NetworkConfig<SocketAddr> {
    let mut config = NetworkConfig::new(network_id::MAINNET);
    config.listen = Some(listen);
    config.out_peers = 3;
    config.allow_local = true;
    // A monerod's peer connection plus the connections of its ping backs (monerod 0.18
    // connects back to our port after each handshake and closes at once, monerod#8520),
    // which may overlap.
    config.max_connections_per_host = 4;
    config.seed_peers = seeds;
    config.maintain_interval = Duration::from_millis(200);
    config.connection.timed_sync_interval = Duration::from_secs(2);
    config
}

fn book(dir: &Path) -> AddressBookHandle<ClearNet> {
    AddressBookHandle::new(AddressBook::load(
        AddressBookConfig {
            data_dir: Some(dir.to_path_buf()),
            allow_local: true,
            ..AddressBookConfig::default()
        },
        SystemTime::now(),
    ))
}

async fn start(
    config: NetworkConfig<SocketAddr>,
    book: AddressBookHandle<ClearNet>,
) -> (
    Network<ClearNet>,
    broadcast::Receiver<NetworkEvent<SocketAddr>>,
    watch::Sender<CoreSyncData>,
) {
    let (sync, core_sync) = watch::channel(genesis());
    let network = Network::<ClearNet>::start(NetworkSetup {
        config,
        transport: Tcp::default(),
        address_book: book,
        core_sync,
        handler: NothingToServe,
        node_id: rand_id(),
    })
    .await
    .unwrap();
    let events = network.subscribe();
    (network, events, sync)
}

fn rand_id() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1
}

/// Polls `check` every 100 ms until it holds; panics with the status after `limit`.
async fn wait_until(
    network: &Network<ClearNet>,
    what: &str,
    limit: Duration,
    check: impl Fn(&Network<ClearNet>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check(network) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            network.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outbound(network: &Network<ClearNet>) -> HashSet<SocketAddr> {
    network
        .peer_set()
        .peers()
        .into_iter()
        .filter(|p| p.direction == Direction::Outbound)
        .map(|p| p.addr)
        .collect()
}

/// How many distinct nodes are connected in (an inbound connection comes from an ephemeral
/// port, so nodes are told apart by their node ids).
fn inbound_nodes(network: &Network<ClearNet>) -> usize {
    let ids: HashSet<u64> = network
        .peer_set()
        .peers()
        .into_iter()
        .filter(|p| p.direction == Direction::Inbound)
        .filter_map(|p| network.peer_set().get(p.id))
        .map(|c| c.info().node_data.peer_id)
        .collect();
    ids.len()
}

fn monerod_at(n: u8) -> MonerodBuilder {
    Monerod::builder()
        .p2p_bind_ip(IpAddr::V4(ns_ip(n)))
        .arg("--allow-local-ip")
}

#[test]
fn a_peer_among_monerods() {
    if umbra_test_kit::netns::inside() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(among_monerods());
        return;
    }
    let output = umbra_test_kit::netns::rerun_in_namespace(
        "a_peer_among_monerods",
        &(1..=6).map(ns_ip).collect::<Vec<_>>(),
        Duration::from_secs(300),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert!(output.contains("1 passed"), "{output}");
}

async fn among_monerods() {
    let dir = tempfile::tempdir().unwrap();
    let us = SocketAddr::from((ns_ip(1), free_port(ns_ip(1))));
    // x and y never hear of us. a connects to them too, so they are in a's white list with
    // a time last seen, and a's peer lists tell us about them (monerod shares only peers it
    // has seen, so `--add-peer` alone would not do).
    let far = start_all(vec![monerod_at(5), monerod_at(6)]);
    let (x, y) = (&far[0], &far[1]);
    let near = start_all(vec![
        monerod_at(2)
            .exclusive_node(us)
            .arg("--add-exclusive-node")
            .arg(x.p2p_addr().to_string())
            .arg("--add-exclusive-node")
            .arg(y.p2p_addr().to_string()),
        monerod_at(3).exclusive_node(us),
        monerod_at(4).exclusive_node(us),
    ]);
    let (a, b, c) = (&near[0], &near[1], &near[2]);
    let seeds = vec![a.p2p_addr(), b.p2p_addr(), c.p2p_addr()];

    // 1. Out to all three, and each of them in.
    let (network, events, chain) = start(config(us, seeds.clone()), book(dir.path())).await;
    let near_addrs: HashSet<SocketAddr> = seeds.iter().copied().collect();
    wait_until(&network, "outbound to a, b and c", WAIT, |n| {
        outbound(n) == near_addrs
    })
    .await;
    wait_until(&network, "a, b and c connected in", WAIT, |n| {
        inbound_nodes(n) == 3
    })
    .await;

    // 2. The gray list learnt x and y from a's peer list.
    wait_until(&network, "x and y in the gray list", WAIT, |n| {
        n.address_book().with_book(|book| {
            [x.p2p_addr(), y.p2p_addr()]
                .iter()
                .all(|addr| book.list_of(addr) == Some(umbra_address_book::PeerListKind::Gray))
        })
    })
    .await;

    // 3. Heights as get_info reports them, through our timed syncs: mine on a.
    a.make_synchronized(WAIT).unwrap();
    let a_rpc = a.rpc().clone();
    tokio::task::spawn_blocking(move || a_rpc.generateblocks(3, umbra_test_kit::MINING_ADDRESS))
        .await
        .unwrap()
        .unwrap();
    let a_rpc = a.rpc().clone();
    let height = tokio::task::spawn_blocking(move || a_rpc.get_info())
        .await
        .unwrap()
        .unwrap()
        .height;
    assert_eq!(height, 4);
    wait_until(&network, "a's height through timed sync", WAIT, |n| {
        n.peer_set()
            .peers()
            .iter()
            .any(|p| p.addr == a.p2p_addr() && p.height == height)
    })
    .await;
    let ours_completed = network
        .peer_set()
        .peers()
        .iter()
        .filter_map(|p| network.peer_set().get(p.id))
        .map(|c| c.info().stats.timed_syncs_completed.load(Ordering::Relaxed))
        .sum::<u64>();
    assert!(ours_completed > 0, "our timed syncs were answered");
    // Every outbound peer's height, as our timed syncs report it, is what its get_info
    // says (x and y sync a's new blocks from it, so heights move: poll both sides).
    let rpcs: Vec<(SocketAddr, umbra_test_kit::RpcClient)> = near
        .iter()
        .chain(far.iter())
        .map(|m| (m.p2p_addr(), m.rpc().clone()))
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rpcs = rpcs.clone();
        let heights: std::collections::HashMap<SocketAddr, u64> =
            tokio::task::spawn_blocking(move || {
                rpcs.iter()
                    .map(|(addr, rpc)| (*addr, rpc.get_info().unwrap().height))
                    .collect()
            })
            .await
            .unwrap();
        let peers: Vec<_> = network
            .peer_set()
            .peers()
            .into_iter()
            .filter(|p| p.direction == Direction::Outbound)
            .map(|p| (p.addr, p.height, heights.get(&p.addr).copied()))
            .collect();
        if peers.len() == 3 && peers.iter().all(|(_, ours, theirs)| Some(*ours) == *theirs) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "heights (addr, ours, get_info): {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // 4. b dies: it is replaced by a peer learnt from a's list.
    let b_addr = b.p2p_addr();
    let mut near = near;
    let b = near.remove(1);
    b.stop().unwrap();
    wait_until(&network, "b replaced", WAIT, |n| {
        let out = outbound(n);
        out.len() == 3 && !out.contains(&b_addr)
    })
    .await;
    let out = outbound(&network);
    assert!(
        out.contains(&x.p2p_addr()) || out.contains(&y.p2p_addr()),
        "a learnt peer replaced b: {out:?}"
    );

    // 5. monerod's own timed syncs reach us and are answered (it sends one a minute).
    wait_until(
        &network,
        "a timed sync from monerod",
        MONEROD_TIMED_SYNC + WAIT,
        |n| {
            n.peer_set()
                .peers()
                .iter()
                .filter_map(|p| n.peer_set().get(p.id))
                .any(|c| c.info().stats.timed_syncs_answered.load(Ordering::Relaxed) > 0)
        },
    )
    .await;

    // 6. Restart on the saved book without seeds: the anchors are dialled first.
    let anchors: HashSet<SocketAddr> = network
        .address_book()
        .anchors()
        .into_iter()
        .map(|p| p.addr)
        .collect();
    assert_eq!(anchors.len(), 2, "{anchors:?}");
    network.shutdown().await.unwrap();
    drop((events, chain));
    let (network, mut events, _chain) = start(config(us, Vec::new()), book(dir.path())).await;
    let mut first = Vec::new();
    while first.len() < 2 {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if let NetworkEvent::Dialling { addr, source } = event {
            first.push((addr, source));
        }
    }
    assert!(
        first
            .iter()
            .all(|(addr, source)| *source == DialSource::Anchor && anchors.contains(addr)),
        "first dials {first:?}, anchors {anchors:?}"
    );
    wait_until(&network, "anchors connected", WAIT, |n| {
        anchors.iter().all(|addr| outbound(n).contains(addr))
    })
    .await;
    network.shutdown().await.unwrap();
    for m in near.into_iter().chain(far) {
        m.stop().unwrap();
    }
}
