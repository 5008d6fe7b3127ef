//! The handshake against the real monerod (Debian's 0.18, started by the test kit): ours to
//! it, its to us, and the ping back both ways. Every wait is bounded; each monerod is
//! stopped when its test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::mpsc,
};
use umbra_p2p_core::{
    Direction,
    handshake::{self, Handshake, HandshakeConfig, HandshakeError, Handshaken, Step},
};
use umbra_test_kit::{GetInfo, Monerod, RpcClient};
use umbra_transport::Tcp;
use umbra_wire::{
    AdminRequest, AdminResponse, CoreSyncData, Message, MessageId, PING_OK_STATUS,
    SupportFlagsResponse, network_id, support_flags,
};

/// How long monerod may take for anything on loopback (start-up excluded).
const ANSWER: Duration = Duration::from_secs(20);

fn start(builder: umbra_test_kit::MonerodBuilder) -> Monerod {
    builder
        .start()
        .expect("monerod starts (is the Debian package `monero` installed?)")
}

async fn rpc<T: Send + 'static>(
    monerod: &Monerod,
    call: impl FnOnce(&RpcClient) -> Result<T, umbra_test_kit::RpcError> + Send + 'static,
) -> T {
    monerod
        .rpc()
        .run_blocking(call)
        .await
        .expect("RPC call succeeds")
}

/// monerod's chain as core sync data: claiming exactly this makes monerod consider itself
/// synchronised after our handshake. `top_version` must be the major version of its top
/// block: monerod's `process_payload_sync_data` drops a peer whose `top_version` differs
/// from its own idea of the hard fork at that height.
async fn chain_of(monerod: &Monerod) -> (GetInfo, CoreSyncData) {
    let info = rpc(monerod, |r| r.get_info()).await;
    let top = info.height - 1;
    let header = rpc(monerod, move |r| r.get_block_header_by_height(top)).await;
    let mut sync = CoreSyncData {
        current_height: info.height,
        cumulative_difficulty: 0,
        cumulative_difficulty_top64: 0,
        top_id: info.top_block_hash,
        top_version: header.major_version,
        pruning_seed: 0,
    };
    sync.set_cumulative_difficulty(info.cumulative_difficulty_u128());
    (info, sync)
}

fn our_config(node_id: u64) -> HandshakeConfig {
    HandshakeConfig {
        check_node_id: true,
        can_ping_back: true,
        allow_local_addresses: true,
        ..HandshakeConfig::new(network_id::MAINNET, node_id)
    }
}

/// A node id for one test (randomness quality does not matter here).
fn random_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) | 1
}

type TcpHandshaken =
    Handshaken<tokio::net::tcp::OwnedReadHalf, tokio::net::tcp::OwnedWriteHalf, SocketAddr>;

/// Our outbound handshake to `addr`.
async fn connect(addr: SocketAddr, config: HandshakeConfig, sync: CoreSyncData) -> TcpHandshaken {
    let stream = tokio::time::timeout(ANSWER, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let (reader, writer) = stream.into_split();
    tokio::time::timeout(
        ANSWER,
        handshake::handshake_outbound(reader, writer, addr, config, sync),
    )
    .await
    .expect("the handshake is bounded by its own timeout")
    .expect("monerod accepts our handshake")
}

/// Sends a ping on a handshaken connection and waits for its answer, answering monerod's
/// own admin requests meanwhile (other messages are skipped).
async fn ping(peer: &mut TcpHandshaken, our_id: u64) -> umbra_wire::PingResponse {
    peer.writer
        .send(Message::Request(AdminRequest::Ping))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + ANSWER;
    loop {
        let message = tokio::time::timeout_at(deadline, peer.reader.next())
            .await
            .expect("ping answered in time")
            .expect("connection open")
            .expect("a valid message");
        match message {
            Message::Response(AdminResponse::Ping(pong)) => return pong,
            Message::Request(AdminRequest::Ping) => {
                peer.writer
                    .send(Message::from(umbra_wire::PingResponse {
                        status: PING_OK_STATUS.into(),
                        peer_id: our_id,
                    }))
                    .await
                    .unwrap();
            }
            Message::Request(AdminRequest::SupportFlags) => {
                peer.writer
                    .send(Message::from(SupportFlagsResponse { support_flags: 0 }))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
}

/// (a) Our outbound handshake: monerod's chain as `get_info` reports it, its network id,
/// its support-flags request answered mid-handshake, and a usable connection afterwards.
#[tokio::test]
async fn our_outbound_handshake_is_accepted_by_monerod() {
    let monerod = start(Monerod::builder());
    let (info, sync) = chain_of(&monerod).await;

    // We announce no support flags: monerod then asks for them, before its response.
    let our_id = random_id();
    let config = HandshakeConfig {
        support_flags: 0,
        ..our_config(our_id)
    };
    let mut first = connect(monerod.p2p_addr(), config, sync).await;
    let outcome = &first.outcome;
    eprintln!(
        "monerod during the handshake: answered {:?}, early messages {:?}",
        outcome.answered,
        outcome
            .early_messages
            .iter()
            .map(|m| m.id())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        outcome.answered,
        [MessageId::SupportFlags],
        "monerod asks a peer without flags for them, before its handshake response"
    );
    assert_eq!(outcome.direction, Direction::Outbound);
    assert_eq!(outcome.node_data.network_id, network_id::MAINNET);
    assert_eq!(outcome.support_flags, support_flags::FLUFFY_BLOCKS);
    assert_eq!(
        u64::from(outcome.node_data.my_port),
        u64::from(monerod.p2p_addr().port())
    );
    assert_eq!(outcome.core_sync.current_height, info.height);
    assert_eq!(outcome.core_sync.top_id, info.top_block_hash);
    assert_eq!(
        outcome.core_sync.cumulative_difficulty(),
        info.cumulative_difficulty_u128()
    );
    assert_eq!(outcome.ping_back, None);

    // The connection is usable after the handshake: monerod answers a ping with its id.
    let pong = ping(&mut first, our_id).await;
    assert_eq!(pong.status, PING_OK_STATUS);
    assert_eq!(pong.peer_id, first.outcome.node_data.peer_id);

    // Our handshake told monerod nobody is ahead of it: it mines now. A second handshake
    // then reports the new chain exactly as get_info does.
    let deadline = tokio::time::Instant::now() + ANSWER;
    loop {
        match monerod
            .rpc()
            .run_blocking(|r| r.generateblocks(5, umbra_test_kit::MINING_ADDRESS))
            .await
        {
            Ok(_) => break,
            Err(e) if e.is_busy() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("mining failed: {e}"),
        }
    }
    let (info, sync) = chain_of(&monerod).await;
    assert_eq!(info.height, 6);
    let second = connect(monerod.p2p_addr(), our_config(random_id()), sync.clone()).await;
    assert_eq!(
        second.outcome.core_sync, sync,
        "monerod's chain, top version included"
    );
    let sync = &second.outcome.core_sync;
    assert_eq!(sync.current_height, info.height);
    assert_eq!(sync.top_id, info.top_block_hash);
    assert_eq!(sync.cumulative_difficulty, info.cumulative_difficulty);
    assert_eq!(
        sync.cumulative_difficulty_top64,
        info.cumulative_difficulty_top64
    );
    assert_eq!(
        sync.cumulative_difficulty(),
        info.cumulative_difficulty_u128()
    );
    assert!(
        second.outcome.answered.is_empty(),
        "monerod does not ask a peer that announced its flags"
    );
    assert_eq!(
        second.outcome.node_data.peer_id,
        first.outcome.node_data.peer_id
    );
}

/// (b) monerod connects to us: our inbound driver completes its handshake, and our ping back
/// to the port it advertised reaches it, with the peer id of the handshake.
#[tokio::test]
async fn monerod_handshakes_with_our_listener_and_answers_our_ping_back() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let monerod = start(Monerod::builder().exclusive_node(listener.local_addr().unwrap()));
    let (info, sync) = chain_of(&monerod).await;

    let (stream, from) = tokio::time::timeout(ANSWER, listener.accept())
        .await
        .expect("monerod connects to its exclusive node")
        .unwrap();
    let (reader, writer) = stream.into_split();
    let our_id = random_id();
    let result =
        handshake::handshake_inbound(reader, writer, from, our_config(our_id), sync, Vec::new())
            .await
            .expect("monerod's handshake passes");
    let Handshake::Peer(peer) = result else {
        panic!("monerod's first connection is a handshake, not a probe");
    };
    let outcome = &peer.outcome;
    assert_eq!(outcome.direction, Direction::Inbound);
    assert_eq!(outcome.node_data.network_id, network_id::MAINNET);
    assert_eq!(outcome.support_flags, support_flags::FLUFFY_BLOCKS);
    assert!(outcome.answered.is_empty());
    assert_eq!(outcome.core_sync.current_height, info.height);
    assert_eq!(outcome.core_sync.top_id, info.top_block_hash);
    assert_eq!(
        u64::from(outcome.node_data.my_port),
        u64::from(monerod.p2p_addr().port())
    );
    assert_eq!(outcome.ping_back, Some(monerod.p2p_addr()));

    let target = outcome.ping_back.unwrap();
    handshake::ping_back(
        &Tcp::default(),
        &target,
        outcome.node_data.peer_id,
        handshake::DEFAULT_PING_BACK_TIMEOUT,
    )
    .await
    .expect("monerod answers the ping back with its handshake's peer id");

    // And a ping back expecting another id fails.
    let error = handshake::ping_back(
        &Tcp::default(),
        &target,
        outcome.node_data.peer_id ^ 1,
        handshake::DEFAULT_PING_BACK_TIMEOUT,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, handshake::PingBackError::WrongPeerId { .. }),
        "{error}"
    );
}

/// A non-loopback IPv4 address of this host (Linux: the `host LOCAL` entries of
/// `/proc/net/fib_trie`).
///
/// monerod never pings back a loopback address (`peerlist_manager::is_host_allowed`), and
/// over IPv6 its ping back fails outright (0.18 binds the probe's socket to `0.0.0.0`:
/// "Failed to call connect_async, network error"). The test kit binds monerod's P2P port to
/// 127.0.0.1, so we connect to it *from* another local address: monerod then sees that
/// address and pings it back.
fn non_loopback_ipv4() -> Option<Ipv4Addr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let lines: Vec<&str> = trie.lines().collect();
    lines.windows(2).find_map(|pair| {
        let ip: Ipv4Addr = pair[0].trim().strip_prefix("|-- ")?.parse().ok()?;
        let local = pair[1].trim() == "/32 host LOCAL";
        (local && !ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
    })
}

/// `/get_peer_list` (a plain JSON endpoint, not JSON-RPC).
fn get_peer_list(rpc_addr: SocketAddr) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(format!("http://{rpc_addr}/get_peer_list"))
        .send_json(serde_json::json!({}))
        .expect("get_peer_list answers")
        .body_mut()
        .read_json()
        .expect("get_peer_list is JSON")
}

/// What our listener saw on one connection.
#[derive(Debug)]
struct Seen {
    from: SocketAddr,
    /// `Ok(true)` for a ping probe, `Ok(false)` for a handshake.
    result: Result<bool, HandshakeError>,
}

/// monerod's version string (`get_info.version`, e.g. `"0.18.0.0-release"`).
async fn version_of(monerod: &Monerod) -> String {
    let info: serde_json::Value =
        rpc(monerod, |r| r.call("get_info", &serde_json::json!({}))).await;
    info["version"].as_str().unwrap_or_default().to_owned()
}

/// Whether this monerod has the back-ping bug of 0.18.0.0 (monero-project/monero#8520,
/// fixed by #8640/#8641 in later 0.18 releases): its probe connection is opened with SSL
/// autodetection, so the ping is never written ("Failed to do_send") and the connection is
/// closed at once.
fn has_broken_back_ping(version: &str) -> bool {
    version.starts_with("0.18.0.") || version.starts_with("0.18.1.0")
}

/// (c) monerod pings us back: we handshake advertising the port of a listener that runs our
/// inbound driver; monerod connects back to exactly that address. A monerod with a working
/// back ping sends a first-message ping there, which our driver answers with our id, and
/// then lists our address in its white list. Debian's 0.18.0.0 has the back-ping bug: its
/// probe connection closes before any byte, which our driver reports as an innocent close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monerod_pings_back_our_advertised_port() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!(
            "SKIPPED: this host has no non-loopback IPv4 address; monerod never pings back \
             loopback, so its ping back cannot be observed here"
        );
        return;
    };
    let ip = IpAddr::V4(ip);

    // Our listener, on the non-loopback address, answering with our inbound driver.
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let listen_addr = listener.local_addr().unwrap();
    let our_id = random_id();
    let (seen_tx, mut seen_rx) = mpsc::channel::<Seen>(8);
    let server = tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((stream, from)) = listener.accept().await else {
                return;
            };
            let (reader, writer) = stream.into_split();
            let genesis = CoreSyncData {
                current_height: 1,
                cumulative_difficulty: 1,
                cumulative_difficulty_top64: 0,
                top_id: [0; 32],
                top_version: 1,
                pruning_seed: 0,
            };
            let result = handshake::handshake_inbound(
                reader,
                writer,
                from,
                our_config(our_id),
                genesis,
                Vec::new(),
            )
            .await
            .map(|outcome| matches!(outcome, Handshake::PingProbe));
            if seen_tx.send(Seen { from, result }).await.is_err() {
                return;
            }
        }
    });

    // `--allow-local-ip`: CI hosts usually have a private address, which monerod does not
    // ping back without it.
    let monerod = tokio::task::spawn_blocking(|| start(Monerod::builder().arg("--allow-local-ip")))
        .await
        .unwrap();
    let (_, sync) = chain_of(&monerod).await;
    let version = version_of(&monerod).await;

    // Our handshake from the non-loopback address, advertising our listener's port.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip, 0)).unwrap();
    let stream = tokio::time::timeout(ANSWER, socket.connect(monerod.p2p_addr()))
        .await
        .expect("connect in time")
        .expect("connect from a non-loopback address to 127.0.0.1");
    let (reader, writer) = stream.into_split();
    let config = HandshakeConfig {
        my_port: u32::from(listen_addr.port()),
        ..our_config(our_id)
    };
    let _connection = tokio::time::timeout(
        ANSWER,
        handshake::handshake_outbound(reader, writer, monerod.p2p_addr(), config, sync),
    )
    .await
    .expect("bounded")
    .expect("monerod accepts our handshake");

    // monerod connects back to the advertised address.
    let seen = tokio::time::timeout(ANSWER, seen_rx.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "monerod did not connect back within {ANSWER:?}; its log:\n{}",
                monerod.log_tail(40)
            )
        })
        .expect("listener running");
    assert_eq!(seen.from.ip(), ip, "the probe comes from monerod's host");

    if has_broken_back_ping(&version) {
        eprintln!("monerod {version}: back ping broken (monero-project/monero#8520)");
        let error = seen.result.expect_err("no ping comes from this monerod");
        assert!(
            matches!(
                error,
                HandshakeError::Closed {
                    step: Step::AwaitingRequest
                } | HandshakeError::Io {
                    step: Step::AwaitingRequest,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(error.ban_score(), 0, "a silent close is not misbehaviour");
    } else {
        assert!(
            matches!(seen.result, Ok(true)),
            "expected monerod's ping probe, got {:?}",
            seen.result
        );
        // monerod got what it wanted (status OK, our id): our address enters its white list.
        let rpc_addr = monerod.rpc_addr();
        let deadline = tokio::time::Instant::now() + ANSWER;
        loop {
            let list = tokio::task::spawn_blocking(move || get_peer_list(rpc_addr))
                .await
                .unwrap();
            let listed = list["white_list"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|peer| {
                    peer["host"].as_str() == Some(ip.to_string().as_str())
                        && peer["port"].as_u64() == Some(u64::from(listen_addr.port()))
                        && peer["id"].as_u64() == Some(our_id)
                });
            if listed {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "our address never entered monerod's white list: {list}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    server.abort();
    tokio::task::spawn_blocking(move || drop(monerod))
        .await
        .unwrap();
}

/// Umbra's extra handshake fields (our identity key and transports in `basic_node_data`,
/// keys in peer-list entries) are ignored by monerod: it accepts our handshake both ways,
/// keeps the connection, answers pings, and takes the keyed peer-list entries as ordinary
/// peers.
#[tokio::test]
async fn monerod_ignores_umbras_extra_fields() {
    let advert = Some(handshake::UmbraAdvert {
        key: [0x5a; 32],
        transports: umbra_wire::umbra_transports::ALL,
    });

    // Outbound: our handshake request carries the fields.
    let monerod = start(Monerod::builder());
    let (_, sync) = chain_of(&monerod).await;
    let our_id = random_id();
    let config = HandshakeConfig {
        umbra: advert,
        ..our_config(our_id)
    };
    assert!(config.node_data().umbra_key.is_some());
    let mut peer = connect(monerod.p2p_addr(), config, sync).await;
    assert_eq!(
        (
            peer.outcome.node_data.umbra_key,
            peer.outcome.node_data.umbra_transports
        ),
        (None, None),
        "monerod has no Umbra fields"
    );
    let pong = ping(&mut peer, our_id).await;
    assert_eq!(pong.status, PING_OK_STATUS);
    let connections: serde_json::Value = rpc(&monerod, |r| {
        r.call("get_connections", &serde_json::json!({}))
    })
    .await;
    let listed = connections["connections"]
        .as_array()
        .map(|all| {
            all.iter()
                .any(|c| c["peer_id"].as_str() == Some(&format!("{our_id:016x}")))
        })
        .unwrap_or(false);
    assert!(listed, "monerod keeps our connection: {connections}");
    drop(peer);
    drop(monerod);

    // Inbound: our handshake response carries the fields and a peer list whose entries
    // carry keys; monerod stores those peers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let monerod = start(Monerod::builder().exclusive_node(listener.local_addr().unwrap()));
    let (_, sync) = chain_of(&monerod).await;
    let (stream, from) = tokio::time::timeout(ANSWER, listener.accept())
        .await
        .expect("monerod connects to its exclusive node")
        .unwrap();
    let (reader, writer) = stream.into_split();
    // A public address (monerod drops private and loopback ones from peer lists).
    let listed_peer: SocketAddr = "93.184.216.34:18080".parse().unwrap();
    let entry = umbra_wire::PeerListEntry {
        adr: listed_peer.into(),
        id: 0x1234_5678,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
        umbra_key: Some([0xa5; 32]),
        umbra_transports: Some(umbra_wire::umbra_transports::NOISE_TCP),
    };
    let our_id = random_id();
    let config = HandshakeConfig {
        umbra: advert,
        ..our_config(our_id)
    };
    let result = handshake::handshake_inbound(reader, writer, from, config, sync, vec![entry])
        .await
        .expect("monerod's handshake passes");
    let Handshake::Peer(mut peer) = result else {
        panic!("monerod's first connection is a handshake, not a probe");
    };
    let pong = ping(&mut peer, our_id).await;
    assert_eq!(pong.status, PING_OK_STATUS);
    let rpc_addr = monerod.rpc_addr();
    let peers = tokio::task::spawn_blocking(move || get_peer_list(rpc_addr))
        .await
        .unwrap();
    let known = peers["gray_list"].as_array().is_some_and(|entries| {
        entries.iter().any(|e| {
            e["host"].as_str() == Some("93.184.216.34") && e["id"].as_u64() == Some(0x1234_5678)
        })
    });
    assert!(known, "monerod took the keyed entry as a peer: {peers}");
}
