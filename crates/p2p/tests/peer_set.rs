//! The peer set and its routing against many in-process peers over in-memory pipes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::codec::{FramedRead, FramedWrite};
use tower::{Service, ServiceExt};
use umbra_p2p::{
    BroadcastOutcome, BroadcastTarget, InsertError, LoadMetric, PeerCounts, PeerSet, PeerSetConfig,
    PeerSetError, PeerSetRequest, PeerSetResponse,
};
use umbra_p2p_core::{
    ClearNet, Client, Direction, FilteredPeerList,
    connection::{
        ConnectionConfig, Established, NOTIFICATION_QUEUE, NothingToServe, Ours, PeerDirectory,
        counted, spawn,
    },
};
use umbra_transport::memory::MemoryTransport;
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, ChainRequest, ChainResponse, CoreSyncData, Message,
    MoneroCodec, NewTransactions, PeerListEntry, ProtocolMessage, TimedSyncResponse, network_id,
    split::{PeerRequest, PeerResponse, ProtocolRequest, ProtocolResponse},
};

type Zone = ClearNet<MemoryTransport>;

fn core_sync(height: u64) -> CoreSyncData {
    CoreSyncData {
        current_height: height,
        cumulative_difficulty: height,
        cumulative_difficulty_top64: 0,
        top_id: [0; 32],
        top_version: 16,
        pruning_seed: 0,
    }
}

#[derive(Debug, Clone, Default)]
struct Directory;

impl PeerDirectory<Zone> for Directory {
    fn peers_to_share(&self, _: &SocketAddr) -> Vec<PeerListEntry> {
        Vec::new()
    }
    fn heard_of(&self, _: &SocketAddr, _: FilteredPeerList<SocketAddr>) {}
    fn misbehaved(&self, _: &SocketAddr, _: u32, _: &str) {}
}

/// How a scripted peer behaves.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answers every chain request after this delay (requests are answered in order).
    Answer(Duration),
    /// Reads everything, never answers chain requests.
    Silent,
    /// Never reads: with a tiny pipe, our connection task stalls on its first write.
    Stalled,
}

struct TestPeer {
    client: Client<Zone>,
    /// Chain requests the scripted peer received.
    chain_requests: Arc<AtomicUsize>,
    /// The scripted peer (owns its end of the pipe); aborting it disconnects.
    script: Option<JoinHandle<()>>,
    /// Kept alive so that a stalled peer's pipe stays open.
    _stalled_end: Option<tokio::io::DuplexStream>,
    _our_sync: watch::Sender<CoreSyncData>,
    _task: JoinHandle<()>,
}

impl TestPeer {
    fn id(&self) -> u64 {
        self.client.info().id
    }
    fn requests(&self) -> usize {
        self.chain_requests.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> u64 {
        self.client
            .info()
            .stats
            .dropped_notifications
            .load(Ordering::Relaxed)
    }
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

fn chain_request() -> PeerRequest {
    PeerRequest::Protocol(ProtocolRequest::GetChain(ChainRequest {
        block_ids: vec![[1u8; 32]].into(),
        prune: false,
    }))
}

fn peer(height: u64, direction: Direction, behaviour: Behaviour) -> TestPeer {
    static PORT: AtomicUsize = AtomicUsize::new(1);
    let pipe = match behaviour {
        Behaviour::Stalled => 64,
        _ => 64 * 1024,
    };
    let (ours, theirs) = tokio::io::duplex(pipe);
    let (reader, writer) = tokio::io::split(ours);
    let (reader, writer, bytes) = counted(reader, writer);
    let (sync_tx, sync_rx) = watch::channel(core_sync(10));
    let port = u16::try_from(PORT.fetch_add(1, Ordering::Relaxed) % 60_000 + 1).unwrap();
    let established = Established::<Zone, _, _> {
        reader: FramedRead::new(reader, MoneroCodec::default()),
        writer: FramedWrite::new(writer, MoneroCodec::default()),
        addr: SocketAddr::from(([10, 0, 0, 2], port)),
        direction,
        node_data: BasicNodeData {
            network_id: network_id::MAINNET,
            my_port: 18080,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            peer_id: u64::from(port),
            support_flags: 1,
            umbra_key: None,
            umbra_transports: None,
        },
        support_flags: 1,
        core_sync: core_sync(height),
        bytes,
        early_messages: Vec::new(),
    };
    let ours = Ours {
        node_id: 0xaaaa,
        support_flags: 1,
        core_sync: sync_rx,
        allow_local_addresses: false,
    };
    let (client, task) = spawn(
        established,
        ours,
        ConnectionConfig::default(),
        NothingToServe,
        Directory,
    );
    let chain_requests = Arc::new(AtomicUsize::new(0));
    let (script, stalled_end) = match behaviour {
        Behaviour::Stalled => (None, Some(theirs)),
        Behaviour::Answer(_) | Behaviour::Silent => {
            let counter = Arc::clone(&chain_requests);
            let script = tokio::spawn(async move {
                let (r, w) = tokio::io::split(theirs);
                let mut r = FramedRead::new(r, MoneroCodec::default());
                let mut w = FramedWrite::new(w, MoneroCodec::default());
                while let Some(Ok(message)) = r.next().await {
                    match message {
                        Message::Protocol(ProtocolMessage::ChainRequest(_)) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            if let Behaviour::Answer(delay) = behaviour {
                                tokio::time::sleep(delay).await;
                                let answer = Message::Protocol(ProtocolMessage::ChainResponse(
                                    chain_response(),
                                ));
                                if w.send(answer).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Message::Request(AdminRequest::TimedSync(_)) => {
                            let answer =
                                Message::Response(AdminResponse::TimedSync(TimedSyncResponse {
                                    payload_data: core_sync(height),
                                    local_peerlist_new: Vec::new(),
                                }));
                            if w.send(answer).await.is_err() {
                                return;
                            }
                        }
                        _ => {}
                    }
                }
            });
            (Some(script), None)
        }
    };
    TestPeer {
        client,
        chain_requests,
        script,
        _stalled_end: stalled_end,
        _our_sync: sync_tx,
        _task: task,
    }
}

fn fast(height: u64) -> TestPeer {
    peer(
        height,
        Direction::Outbound,
        Behaviour::Answer(Duration::ZERO),
    )
}

fn set_of(config: PeerSetConfig, peers: &[TestPeer]) -> PeerSet<Zone> {
    let set = PeerSet::new(config);
    for p in peers {
        set.insert(p.client.clone()).unwrap();
    }
    set
}

async fn call(
    set: &PeerSet<Zone>,
    request: PeerSetRequest,
) -> Result<PeerSetResponse, PeerSetError> {
    let mut set = set.clone();
    set.ready().await.unwrap().call(request).await
}

fn answered_by(response: PeerSetResponse) -> u64 {
    match response {
        PeerSetResponse::Peer { id, response } => {
            assert_eq!(
                response,
                PeerResponse::Protocol(ProtocolResponse::GetChain(chain_response()))
            );
            id
        }
        other => panic!("expected a peer's answer, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn power_of_two_choices_sends_most_requests_to_the_fast_peer() {
    let peers = [
        fast(10),
        peer(
            10,
            Direction::Outbound,
            Behaviour::Answer(Duration::from_secs(1)),
        ),
    ];
    let set = set_of(PeerSetConfig::default(), &peers);
    // 100 overlapping requests, one every 10 ms; the slow peer holds each for 1 s.
    let mut calls = Vec::new();
    for _ in 0..100 {
        let set = set.clone();
        calls.push(tokio::spawn(async move {
            call(&set, PeerSetRequest::Any(chain_request())).await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut by_peer: HashMap<u64, usize> = HashMap::new();
    for c in calls {
        *by_peer
            .entry(answered_by(c.await.unwrap().unwrap()))
            .or_default() += 1;
    }
    let [fast, slow] = &peers;
    assert_eq!(fast.requests() + slow.requests(), 100);
    assert!(
        slow.requests() <= 5,
        "slow peer got {} requests",
        slow.requests()
    );
    assert!(
        fast.requests() >= 95,
        "fast peer got {} requests",
        fast.requests()
    );
    assert_eq!(
        by_peer.get(&fast.id()).copied().unwrap_or(0),
        fast.requests()
    );
    assert_eq!(
        by_peer.get(&slow.id()).copied().unwrap_or(0),
        slow.requests()
    );
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_latency_steers_one_at_a_time_requests_to_the_fast_peer() {
    // One request at a time: both peers always have nothing in flight, so only latency
    // can tell them apart.
    let peers = [
        peer(
            10,
            Direction::Outbound,
            Behaviour::Answer(Duration::from_millis(1)),
        ),
        peer(
            10,
            Direction::Outbound,
            Behaviour::Answer(Duration::from_millis(200)),
        ),
    ];
    let config = PeerSetConfig {
        load: LoadMetric::Latency {
            default_rtt: Duration::from_millis(50),
        },
        ..PeerSetConfig::default()
    };
    let set = set_of(config, &peers);
    for _ in 0..40 {
        call(&set, PeerSetRequest::Any(chain_request()))
            .await
            .unwrap();
    }
    let [fast, slow] = &peers;
    // Each peer is tried while unmeasured (50 ms assumed); once the slow one has answered
    // in 200 ms it stays above the fast one's estimate.
    assert!(
        slow.requests() <= 2,
        "slow peer got {} of 40 requests",
        slow.requests()
    );
    let fast_rtt = fast.client.info().rtt_estimate().unwrap();
    assert!(fast_rtt < Duration::from_millis(50), "{fast_rtt:?}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_split_evenly_between_two_equal_peers() {
    // Requests that still wait for a queue slot count as load, so a burst issued at one
    // instant alternates between the two candidates.
    let delay = Behaviour::Answer(Duration::from_millis(100));
    let peers = [
        peer(10, Direction::Outbound, delay),
        peer(10, Direction::Outbound, delay),
    ];
    let set = set_of(PeerSetConfig::default(), &peers);
    let mut set_svc = set.clone();
    let mut calls = Vec::new();
    for _ in 0..10 {
        calls.push(
            set_svc
                .ready()
                .await
                .unwrap()
                .call(PeerSetRequest::Any(chain_request())),
        );
    }
    for c in futures::future::join_all(calls).await {
        answered_by(c.unwrap());
    }
    assert_eq!(peers[0].requests(), 5);
    assert_eq!(peers[1].requests(), 5);
}

#[tokio::test]
async fn at_least_height_only_picks_tall_peers_and_errors_when_none() {
    let peers = [fast(100), fast(200), fast(300), fast(300)];
    let set = set_of(PeerSetConfig::default(), &peers);
    let tall = [peers[2].id(), peers[3].id()];
    for _ in 0..40 {
        let request = PeerSetRequest::AtLeastHeight {
            height: 250,
            request: chain_request(),
        };
        let id = answered_by(call(&set, request).await.unwrap());
        assert!(tall.contains(&id), "peer {id} is too short");
    }
    assert_eq!(peers[0].requests() + peers[1].requests(), 0);
    assert_eq!(peers[2].requests() + peers[3].requests(), 40);
    // Exactly at the height counts.
    let request = PeerSetRequest::AtLeastHeight {
        height: 300,
        request: chain_request(),
    };
    assert!(tall.contains(&answered_by(call(&set, request).await.unwrap())));

    let request = PeerSetRequest::AtLeastHeight {
        height: 301,
        request: chain_request(),
    };
    assert_eq!(
        call(&set, request).await.unwrap_err(),
        PeerSetError::NoPeerAtHeight { height: 301 }
    );
}

#[tokio::test]
async fn an_empty_set_has_no_peers() {
    let set = PeerSet::<Zone>::new(PeerSetConfig::default());
    assert!(set.is_empty());
    assert_eq!(
        call(&set, PeerSetRequest::Any(chain_request()))
            .await
            .unwrap_err(),
        PeerSetError::NoPeers
    );
    assert_eq!(
        set.broadcast(&new_transactions(10), BroadcastTarget::All),
        BroadcastOutcome::default()
    );
}

#[tokio::test]
async fn to_peer_reaches_exactly_that_peer_and_errors_for_an_unknown_id() {
    let peers: Vec<TestPeer> = (0..5).map(|_| fast(10)).collect();
    let set = set_of(PeerSetConfig::default(), &peers);
    let target = peers[2].id();
    for _ in 0..3 {
        let request = PeerSetRequest::ToPeer {
            id: target,
            request: chain_request(),
        };
        assert_eq!(answered_by(call(&set, request).await.unwrap()), target);
    }
    for (i, p) in peers.iter().enumerate() {
        assert_eq!(p.requests(), if i == 2 { 3 } else { 0 });
    }
    let unknown = peers.iter().map(TestPeer::id).max().unwrap() + 1_000_000;
    let request = PeerSetRequest::ToPeer {
        id: unknown,
        request: chain_request(),
    };
    assert_eq!(
        call(&set, request).await.unwrap_err(),
        PeerSetError::PeerNotFound { id: unknown }
    );
}

fn new_transactions(size: usize) -> ProtocolMessage {
    ProtocolMessage::NewTransactions(NewTransactions {
        txs: vec![bytes::Bytes::from(vec![0u8; size])],
        padding: bytes::Bytes::new(),
        dandelionpp_fluff: true,
    })
}

#[tokio::test(start_paused = true)]
async fn broadcast_to_fifty_peers_never_blocks_on_ten_stalled_ones() {
    let mut peers: Vec<TestPeer> = (0..40).map(|_| fast(10)).collect();
    peers.extend((0..10).map(|_| peer(10, Direction::Inbound, Behaviour::Stalled)));
    let set = set_of(PeerSetConfig::default(), &peers);
    let message = new_transactions(1024);
    let started = std::time::Instant::now();

    let mut outcomes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        for round in 0..NOTIFICATION_QUEUE + 5 {
            let outcome = if round % 2 == 0 {
                set.broadcast(&message, BroadcastTarget::All)
            } else {
                // The service form answers at once too.
                let mut svc = set.clone();
                let response = tokio::time::timeout(
                    Duration::from_millis(1),
                    svc.ready().await.unwrap().call(PeerSetRequest::Broadcast {
                        message: message.clone(),
                        to: BroadcastTarget::All,
                    }),
                )
                .await
                .expect("a broadcast waited")
                .unwrap();
                match response {
                    PeerSetResponse::Broadcast(outcome) => outcome,
                    other => panic!("expected a broadcast outcome, got {other:?}"),
                }
            };
            outcomes.push(outcome);
            // Let the healthy connections drain their queues (the stalled ones cannot).
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("broadcasting blocked");
    assert!(started.elapsed() < Duration::from_secs(5));

    for outcome in &outcomes {
        assert_eq!(outcome.queued + outcome.dropped, 50, "{outcome:?}");
        assert_eq!(outcome.closed, 0);
    }
    // Early rounds fit in every queue; once the stalled queues are full, each round
    // drops for exactly the ten stalled peers.
    assert_eq!(outcomes[0].dropped, 0);
    let last = outcomes.last().unwrap();
    assert_eq!(
        *last,
        BroadcastOutcome {
            queued: 40,
            dropped: 10,
            closed: 0
        }
    );
    let total_dropped: usize = outcomes.iter().map(|o| o.dropped).sum();
    let counted: u64 = peers.iter().map(TestPeer::dropped).sum();
    assert_eq!(counted, total_dropped as u64);
    for p in &peers[..40] {
        assert_eq!(p.dropped(), 0);
    }
    for p in &peers[40..] {
        assert!(p.dropped() >= 1);
    }
}

#[tokio::test]
async fn broadcast_targets_random_subsets_and_all_but_one() {
    let peers: Vec<TestPeer> = (0..6).map(|_| fast(10)).collect();
    let set = set_of(PeerSetConfig::default(), &peers);
    let message = new_transactions(16);
    assert_eq!(
        set.broadcast(&message, BroadcastTarget::Random(4)).queued,
        4
    );
    assert_eq!(
        set.broadcast(&message, BroadcastTarget::Random(100)).queued,
        6
    );
    assert_eq!(
        set.broadcast(&message, BroadcastTarget::Except(peers[0].id()))
            .queued,
        5
    );
    assert_eq!(set.broadcast(&message, BroadcastTarget::All).queued, 6);
}

#[tokio::test]
async fn closed_peers_are_removed() {
    let mut peers: Vec<TestPeer> = (0..3).map(|_| fast(10)).collect();
    let set = set_of(PeerSetConfig::default(), &peers);
    assert_eq!(set.len(), 3);

    // Closed by us.
    peers[0].client.info().close("test");
    assert_eq!(set.len(), 2);
    assert!(!set.contains(peers[0].id()));
    assert!(set.peers().iter().all(|p| p.id != peers[0].id()));
    let request = PeerSetRequest::ToPeer {
        id: peers[0].id(),
        request: chain_request(),
    };
    assert_eq!(
        call(&set, request).await.unwrap_err(),
        PeerSetError::PeerNotFound { id: peers[0].id() }
    );

    // Closed by the peer: its end of the pipe goes away.
    peers[1].script.take().unwrap().abort();
    tokio::time::timeout(Duration::from_secs(5), peers[1].client.info().closed())
        .await
        .expect("the connection did not notice the peer left");
    assert_eq!(set.len(), 1);
    for _ in 0..10 {
        let id = answered_by(
            call(&set, PeerSetRequest::Any(chain_request()))
                .await
                .unwrap(),
        );
        assert_eq!(id, peers[2].id());
    }

    // Removed explicitly (the connection stays open).
    let removed = set.remove(peers[2].id()).unwrap();
    assert!(!removed.info().is_closed());
    assert!(set.remove(peers[2].id()).is_none());
    assert!(set.is_empty());
    assert_eq!(
        call(&set, PeerSetRequest::Any(chain_request()))
            .await
            .unwrap_err(),
        PeerSetError::NoPeers
    );
}

#[tokio::test]
async fn the_maximum_size_is_enforced() {
    let peers: Vec<TestPeer> = (0..5).map(|_| fast(10)).collect();
    let set = PeerSet::new(PeerSetConfig {
        max_peers: 3,
        ..PeerSetConfig::default()
    });
    for p in &peers[..3] {
        set.insert(p.client.clone()).unwrap();
    }
    assert_eq!(
        set.insert(peers[3].client.clone()),
        Err(InsertError::Full {
            max: 3,
            id: peers[3].id()
        })
    );
    assert_eq!(
        set.insert(peers[0].client.clone()),
        Err(InsertError::Duplicate { id: peers[0].id() })
    );
    assert_eq!(set.len(), 3);

    // A closed peer frees its place.
    peers[0].client.info().close("test");
    set.insert(peers[3].client.clone()).unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(
        set.insert(peers[0].client.clone()),
        Err(InsertError::Closed { id: peers[0].id() })
    );
    assert!(matches!(
        set.insert(peers[4].client.clone()),
        Err(InsertError::Full { .. })
    ));
}

#[tokio::test]
async fn counts_and_snapshot_describe_the_peers() {
    let peers = [
        peer(7, Direction::Inbound, Behaviour::Silent),
        peer(8, Direction::Outbound, Behaviour::Silent),
        peer(9, Direction::Outbound, Behaviour::Silent),
    ];
    let set = set_of(PeerSetConfig::default(), &peers);
    assert_eq!(
        set.counts(),
        PeerCounts {
            inbound: 1,
            outbound: 2
        }
    );
    let snapshot = set.peers();
    assert_eq!(snapshot.len(), 3);
    assert!(snapshot.windows(2).all(|w| w[0].id < w[1].id));
    for p in &peers {
        let summary = snapshot.iter().find(|s| s.id == p.id()).unwrap();
        assert_eq!(summary.addr, p.client.info().addr);
        assert_eq!(summary.direction, p.client.info().direction);
        assert_eq!(summary.height, p.client.info().height());
        assert_eq!(summary.in_flight, 0);
    }
    assert_eq!(set.get(peers[1].id()).unwrap().info().id, peers[1].id());
}

#[tokio::test(start_paused = true)]
async fn a_busy_peer_fails_with_not_ready_after_the_ready_timeout() {
    // The peer never answers: one request is in flight, one more fills its queue, and the
    // next cannot get a slot.
    let peers = [peer(10, Direction::Outbound, Behaviour::Silent)];
    let set = set_of(
        PeerSetConfig {
            ready_timeout: Duration::from_secs(5),
            ..PeerSetConfig::default()
        },
        &peers,
    );
    let id = peers[0].id();
    let mut pending = Vec::new();
    for _ in 0..2 {
        let set = set.clone();
        pending.push(tokio::spawn(async move {
            call(&set, PeerSetRequest::Any(chain_request())).await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(peers[0].requests(), 1);
    let started = tokio::time::Instant::now();
    let error = call(&set, PeerSetRequest::Any(chain_request()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PeerSetError::NotReady {
            id,
            waited: Duration::from_secs(5)
        }
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(pending.iter().all(|p| !p.is_finished()));
    for p in pending {
        p.abort();
    }
}
