//! The connection task and `Client` against a scripted peer over an in-memory pipe.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::{
    io::{DuplexStream, ReadHalf, WriteHalf},
    sync::watch,
};
use tokio_util::codec::{FramedRead, FramedWrite};
use tower::{Service, ServiceExt};
use umbra_p2p_core::{
    ClearNet, Client, Direction, FilteredPeerList, NotifyError, PeerError,
    connection::{
        ConnectionConfig, Established, NOTIFICATION_QUEUE, NothingToServe, Ours, PeerDirectory,
        counted, spawn,
    },
};
use umbra_transport::memory::MemoryTransport;
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, ChainRequest, ChainResponse, CoreSyncData,
    GetObjectsResponse, Message, MoneroCodec, NetworkAddress, NewTransactions, PeerListEntry,
    ProtocolMessage, TimedSyncRequest, network_id,
    split::{PeerRequest, PeerResponse, ProtocolRequest, ProtocolResponse},
};

type Zone = ClearNet<MemoryTransport>;
type PeerSide = (
    FramedRead<ReadHalf<DuplexStream>, MoneroCodec>,
    FramedWrite<WriteHalf<DuplexStream>, MoneroCodec>,
);

const OUR_ID: u64 = 0xaaaa;

fn core_sync(height: u64) -> CoreSyncData {
    CoreSyncData {
        current_height: height,
        cumulative_difficulty: height,
        cumulative_difficulty_top64: 0,
        top_id: [height as u8; 32],
        top_version: 16,
        pruning_seed: 0,
    }
}

#[derive(Debug, Clone, Default)]
struct Directory {
    heard: Arc<Mutex<Vec<SocketAddr>>>,
    misbehaved: Arc<Mutex<Vec<(u32, String)>>>,
}

impl PeerDirectory<Zone> for Directory {
    fn peers_to_share(&self, _: &SocketAddr) -> Vec<PeerListEntry> {
        vec![PeerListEntry {
            adr: NetworkAddress::from("1.2.3.4:18080".parse::<SocketAddr>().unwrap()),
            id: 9,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            umbra_key: None,
            umbra_transports: None,
        }]
    }

    fn heard_of(&self, _: &SocketAddr, peers: FilteredPeerList<SocketAddr>) {
        self.heard
            .lock()
            .unwrap()
            .extend(peers.peers.into_iter().map(|p| p.addr));
    }

    fn misbehaved(&self, _: &SocketAddr, score: u32, reason: &str) {
        self.misbehaved
            .lock()
            .unwrap()
            .push((score, reason.to_owned()));
    }
}

struct Setup {
    client: Client<Zone>,
    peer: PeerSide,
    directory: Directory,
    task: tokio::task::JoinHandle<()>,
    _our_sync: watch::Sender<CoreSyncData>,
}

fn setup_with(config: ConnectionConfig, pipe_capacity: usize) -> Setup {
    setup_early(config, pipe_capacity, Vec::new())
}

fn setup_early(
    config: ConnectionConfig,
    pipe_capacity: usize,
    early_messages: Vec<ProtocolMessage>,
) -> Setup {
    let (ours, theirs) = tokio::io::duplex(pipe_capacity);
    let (reader, writer) = tokio::io::split(ours);
    let (reader, writer, bytes) = counted(reader, writer);
    let (their_reader, their_writer) = tokio::io::split(theirs);
    let (sync_tx, sync_rx) = watch::channel(core_sync(10));
    let directory = Directory::default();
    let established = Established::<Zone, _, _> {
        reader: FramedRead::new(reader, MoneroCodec::default()),
        writer: FramedWrite::new(writer, MoneroCodec::default()),
        addr: "10.0.0.2:18080".parse().unwrap(),
        direction: Direction::Outbound,
        node_data: BasicNodeData {
            network_id: network_id::MAINNET,
            my_port: 18080,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            peer_id: 0xbbbb,
            support_flags: 1,
            umbra_key: None,
            umbra_transports: None,
        },
        support_flags: 1,
        core_sync: core_sync(5),
        bytes,
        early_messages,
    };
    let ours = Ours {
        node_id: OUR_ID,
        support_flags: 1,
        core_sync: sync_rx,
        allow_local_addresses: false,
    };
    let (client, task) = spawn(established, ours, config, NothingToServe, directory.clone());
    Setup {
        client,
        peer: (
            FramedRead::new(their_reader, MoneroCodec::default()),
            FramedWrite::new(their_writer, MoneroCodec::default()),
        ),
        directory,
        task,
        _our_sync: sync_tx,
    }
}

fn setup() -> Setup {
    setup_with(ConnectionConfig::default(), 64 * 1024)
}

async fn next(peer: &mut PeerSide) -> Message {
    next_within(peer, Duration::from_secs(5)).await
}

async fn next_within(peer: &mut PeerSide, wait: Duration) -> Message {
    tokio::time::timeout(wait, peer.0.next())
        .await
        .expect("the peer waited too long for a message")
        .expect("connection ended")
        .expect("undecodable message")
}

fn chain_request() -> PeerRequest {
    PeerRequest::Protocol(ProtocolRequest::GetChain(ChainRequest {
        block_ids: vec![[1u8; 32]].into(),
        prune: false,
    }))
}

fn chain_response() -> ChainResponse {
    ChainResponse {
        start_height: 1,
        total_height: 2,
        cumulative_difficulty: 3,
        cumulative_difficulty_top64: 0,
        m_block_ids: vec![[2u8; 32]].into(),
        m_block_weights: Vec::<u64>::new().into(),
        first_block: bytes::Bytes::new(),
    }
}

#[tokio::test]
async fn a_request_gets_the_peers_notification_as_its_response() {
    let mut s = setup();
    let call = s.client.ready().await.unwrap().call(chain_request());
    let sent = next(&mut s.peer).await;
    assert!(matches!(
        sent,
        Message::Protocol(ProtocolMessage::ChainRequest(_))
    ));
    s.peer
        .1
        .send(Message::Protocol(ProtocolMessage::ChainResponse(
            chain_response(),
        )))
        .await
        .unwrap();
    let response = call.await.unwrap();
    assert_eq!(
        response,
        PeerResponse::Protocol(ProtocolResponse::GetChain(chain_response()))
    );
    assert_eq!(s.client.info().in_flight(), 0);
    assert!(s.client.info().rtt().is_some());
    assert!(s.client.info().stats.bytes.sent() > 33);
    assert!(s.client.info().stats.bytes.received() > 33);
}

#[tokio::test]
async fn admin_requests_are_answered_and_timed_sync_updates_the_peer() {
    let mut s = setup();
    s.peer
        .1
        .send(Message::Request(AdminRequest::TimedSync(
            TimedSyncRequest {
                payload_data: core_sync(42),
            },
        )))
        .await
        .unwrap();
    match next(&mut s.peer).await {
        Message::Response(AdminResponse::TimedSync(response)) => {
            assert_eq!(response.payload_data, core_sync(10));
            assert_eq!(response.local_peerlist_new.len(), 1);
        }
        other => panic!("expected a timed sync response, got {other:?}"),
    }
    assert_eq!(s.client.info().height(), 42);

    s.peer
        .1
        .send(Message::Request(AdminRequest::Ping))
        .await
        .unwrap();
    match next(&mut s.peer).await {
        Message::Response(AdminResponse::Ping(ping)) => {
            assert_eq!(ping.peer_id, OUR_ID);
            assert_eq!(ping.status, "OK");
        }
        other => panic!("expected a ping response, got {other:?}"),
    }
    s.peer
        .1
        .send(Message::Request(AdminRequest::SupportFlags))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut s.peer).await,
        Message::Response(AdminResponse::SupportFlags(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn we_send_timed_syncs_and_learn_from_the_answer() {
    let mut s = setup();
    // Paused clock: the 60 s interval passes as soon as everything is idle.
    let request = next_within(&mut s.peer, Duration::from_secs(61)).await;
    assert!(
        matches!(request, Message::Request(AdminRequest::TimedSync(ref r)) if r.payload_data == core_sync(10)),
        "{request:?}"
    );
    let mut peers = Vec::new();
    for i in 0..3u8 {
        peers.push(PeerListEntry {
            adr: NetworkAddress::from(SocketAddr::from(([8, 8, 8, i], 18080))),
            id: u64::from(i),
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            umbra_key: None,
            umbra_transports: None,
        });
    }
    s.peer
        .1
        .send(Message::Response(AdminResponse::TimedSync(
            umbra_wire::TimedSyncResponse {
                payload_data: core_sync(77),
                local_peerlist_new: peers,
            },
        )))
        .await
        .unwrap();
    // The next message (the following timed sync) proves the answer was processed.
    let _ = next_within(&mut s.peer, Duration::from_secs(61)).await;
    assert_eq!(s.client.info().height(), 77);
    assert_eq!(s.directory.heard.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_request_times_out_and_closes_the_connection() {
    let config = ConnectionConfig {
        request_timeout: Duration::from_secs(10),
        ..ConnectionConfig::default()
    };
    let mut s = setup_with(config, 64 * 1024);
    let call = s.client.ready().await.unwrap().call(chain_request());
    let _ = next(&mut s.peer).await;
    let error = call.await.unwrap_err();
    assert!(
        matches!(&error, PeerError::Closed { reason: Some(r), .. } if r.contains("did not answer")),
        "{error}"
    );
    s.task.await.unwrap();
    assert!(s.client.info().is_closed());
    assert!(
        s.client.ready().await.is_err(),
        "a closed peer is not ready"
    );
    assert_eq!(s.directory.misbehaved.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_response_nobody_asked_for_closes_with_a_ban_score() {
    let mut s = setup();
    s.peer
        .1
        .send(Message::Protocol(ProtocolMessage::GetObjectsResponse(
            GetObjectsResponse {
                blocks: Vec::new(),
                missed_ids: Vec::new().into(),
                current_blockchain_height: 1,
            },
        )))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .unwrap()
        .unwrap();
    let misbehaved = s.directory.misbehaved.lock().unwrap().clone();
    assert_eq!(misbehaved.len(), 1);
    assert!(misbehaved[0].0 > 0);
    assert!(misbehaved[0].1.contains("nobody asked"), "{misbehaved:?}");
    // The peer sees the connection end.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), s.peer.0.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_dropped_response_future_cancels_a_request_not_yet_sent() {
    let mut s = setup();
    // First request in flight (never answered yet): the second waits in the queue.
    let first = s.client.ready().await.unwrap().call(chain_request());
    assert!(matches!(
        next(&mut s.peer).await,
        Message::Protocol(ProtocolMessage::ChainRequest(_))
    ));
    let mut second_client = s.client.clone();
    let second = second_client
        .ready()
        .await
        .unwrap()
        .call(PeerRequest::Protocol(ProtocolRequest::NewTransactions(
            NewTransactions {
                txs: vec![bytes::Bytes::from_static(b"tx")],
                padding: bytes::Bytes::new(),
                dandelionpp_fluff: true,
            },
        )));
    drop(second);
    // Answer the first; the cancelled second must not be sent. A ping proves the order.
    s.peer
        .1
        .send(Message::Protocol(ProtocolMessage::ChainResponse(
            chain_response(),
        )))
        .await
        .unwrap();
    first.await.unwrap();
    s.peer
        .1
        .send(Message::Request(AdminRequest::Ping))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut s.peer).await,
        Message::Response(AdminResponse::Ping(_))
    ));
}

#[tokio::test]
async fn notifications_to_a_stalled_peer_are_dropped_and_counted_never_blocking() {
    // A 64-byte pipe the peer never reads: the task stalls writing the first message.
    let s = setup_with(ConnectionConfig::default(), 64);
    let message = ProtocolMessage::NewTransactions(NewTransactions {
        txs: vec![bytes::Bytes::from(vec![0u8; 1024])],
        padding: bytes::Bytes::new(),
        dandelionpp_fluff: true,
    });
    let mut full = 0;
    for _ in 0..NOTIFICATION_QUEUE + 10 {
        match s.client.try_notify(message.clone()) {
            Ok(()) => {}
            Err(NotifyError::Full) => full += 1,
            Err(NotifyError::Closed) => panic!("closed"),
        }
        tokio::task::yield_now().await;
    }
    assert!(full >= 9, "only {full} dropped");
    assert_eq!(
        s.client
            .info()
            .stats
            .dropped_notifications
            .load(std::sync::atomic::Ordering::Relaxed),
        full
    );
    drop(s.peer);
}

#[tokio::test]
async fn closing_ends_the_task_and_fails_waiting_requests() {
    let mut s = setup();
    let call = s.client.ready().await.unwrap().call(chain_request());
    let _ = next(&mut s.peer).await;
    s.client.info().close("test says so");
    let error = call.await.unwrap_err();
    assert!(error.to_string().contains("test says so"), "{error}");
    s.task.await.unwrap();
    assert!(s.directory.misbehaved.lock().unwrap().is_empty());
}

#[tokio::test]
async fn messages_from_the_handshake_are_handled_first() {
    // An unsolicited response kept from the handshake must be judged like any other.
    let unsolicited = ProtocolMessage::GetObjectsResponse(GetObjectsResponse {
        blocks: Vec::new(),
        missed_ids: Vec::new().into(),
        current_blockchain_height: 1,
    });
    let s = setup_early(ConnectionConfig::default(), 64 * 1024, vec![unsolicited]);
    tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .unwrap()
        .unwrap();
    let misbehaved = s.directory.misbehaved.lock().unwrap().clone();
    assert_eq!(misbehaved.len(), 1, "{misbehaved:?}");
    assert!(misbehaved[0].1.contains("nobody asked"), "{misbehaved:?}");
}
