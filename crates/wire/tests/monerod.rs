//! Interop with the real monerod (Debian's 0.18.0.0, started by the test kit on loopback):
//! every value we decode is checked against monerod's own RPC.
//!
//! Run with `UMBRA_CAPTURE_VECTORS=1` to (re)write the byte vectors in
//! `tests/data/monerod/` from what monerod sends; `tests/vectors.rs` checks them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Peer, genesis_hash};
use tokio::net::TcpListener;
use umbra_test_kit::{Monerod, RpcClient};
use umbra_wire::{
    AdminRequest, AdminResponse, ChainRequest, GetObjectsRequest, HandshakeResponse, Message,
    MessageId, PING_OK_STATUS, ProtocolMessage, TimedSyncRequest, network_id, support_flags,
};

/// How long monerod may take to answer a request on loopback.
const ANSWER: Duration = Duration::from_secs(20);
/// monerod sends a timed sync to each peer about every 60 s; allow one full period and
/// some slack, reacting as soon as it comes.
const TIMED_SYNC_PERIOD: Duration = Duration::from_secs(90);

fn start_monerod() -> Monerod {
    Monerod::start().expect("monerod starts (is the Debian package `monero` installed?)")
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

/// Connects and handshakes; returns the peer and monerod's handshake response.
async fn handshaken(monerod: &Monerod) -> (Peer, HandshakeResponse) {
    let mut peer = Peer::connect(monerod.p2p_addr()).await;
    let sent = peer.send(peer.handshake_request()).await;
    Peer::capture_sent(&sent, "umbra_handshake_request");
    let response = peer
        .recv_until(ANSWER, |head, message| match message {
            Message::Response(AdminResponse::Handshake(response)) => {
                assert_eq!(
                    head.return_code, 1,
                    "monerod answers handshakes with code 1"
                );
                Some(response.clone())
            }
            _ => None,
        })
        .await;
    // monerod sends its pool's hashes (NOTIFY_GET_TXPOOL_COMPLEMENT) before its response.
    if peer
        .received
        .iter()
        .any(|b| b.header.command == MessageId::GetTxPoolComplement.command())
    {
        peer.capture(
            MessageId::GetTxPoolComplement.command(),
            "get_txpool_complement",
        );
    }
    (peer, response)
}

/// A monerod that considers itself synchronised (our genesis handshake tells it nobody is
/// ahead) and has mined `blocks` blocks, plus the peer that handshook with it.
async fn monerod_with_blocks(blocks: u64) -> (Monerod, Peer) {
    let monerod = start_monerod();
    let (peer, _) = handshaken(&monerod).await;
    if blocks > 0 {
        rpc(&monerod, move |r| {
            r.generateblocks(blocks, umbra_test_kit::MINING_ADDRESS)
        })
        .await;
    }
    (monerod, peer)
}

#[tokio::test]
async fn handshake_values_match_get_info() {
    let (monerod, _first) = monerod_with_blocks(12).await;
    let info = rpc(&monerod, |r| r.get_info()).await;
    assert_eq!(info.height, 13);

    let (peer, response) = handshaken(&monerod).await;
    peer.capture(MessageId::Handshake.command(), "handshake_response");

    assert_eq!(response.node_data.network_id, network_id::MAINNET);
    assert_eq!(
        response.node_data.support_flags,
        support_flags::FLUFFY_BLOCKS
    );
    assert_eq!(
        u64::from(response.node_data.my_port),
        u64::from(monerod.p2p_addr().port())
    );
    let sync = &response.payload_data;
    assert_eq!(sync.current_height, info.height);
    assert_eq!(sync.top_id, info.top_block_hash);
    assert_eq!(
        sync.cumulative_difficulty(),
        info.cumulative_difficulty_u128()
    );
    assert_eq!(sync.cumulative_difficulty, info.cumulative_difficulty);
    assert_eq!(
        sync.cumulative_difficulty_top64,
        info.cumulative_difficulty_top64
    );
    let top = rpc(&monerod, |r| r.get_block_header_by_height(12)).await;
    assert_eq!(u64::from(sync.top_version), u64::from(top.major_version));
}

#[tokio::test]
async fn ping_and_support_flags_are_answered() {
    let monerod = start_monerod();
    let (mut peer, handshake) = handshaken(&monerod).await;

    peer.send(AdminRequest::Ping).await;
    let ping = peer
        .recv_until(ANSWER, |_, m| match m {
            Message::Response(AdminResponse::Ping(ping)) => Some(ping.clone()),
            _ => None,
        })
        .await;
    peer.capture(MessageId::Ping.command(), "ping_response");
    assert_eq!(ping.status, PING_OK_STATUS);
    assert_eq!(ping.peer_id, handshake.node_data.peer_id);

    peer.send(AdminRequest::SupportFlags).await;
    let flags = peer
        .recv_until(ANSWER, |_, m| match m {
            Message::Response(AdminResponse::SupportFlags(flags)) => Some(flags.clone()),
            _ => None,
        })
        .await;
    peer.capture(MessageId::SupportFlags.command(), "support_flags_response");
    assert_eq!(flags.support_flags, handshake.node_data.support_flags);
    assert_eq!(flags.support_flags, support_flags::FLUFFY_BLOCKS);
}

#[tokio::test]
async fn chain_request_returns_monerods_block_ids() {
    let (monerod, mut peer) = monerod_with_blocks(40).await;
    let info = rpc(&monerod, |r| r.get_info()).await;

    peer.send(ProtocolMessage::ChainRequest(ChainRequest {
        block_ids: vec![genesis_hash()].into(),
        prune: false,
    }))
    .await;
    let chain = peer
        .recv_until(ANSWER, |_, m| match m {
            Message::Protocol(ProtocolMessage::ChainResponse(chain)) => Some(chain.clone()),
            _ => None,
        })
        .await;
    peer.capture(MessageId::ChainResponse.command(), "chain_response");

    assert_eq!(chain.start_height, 0);
    assert_eq!(chain.total_height, info.height);
    assert_eq!(
        chain.cumulative_difficulty(),
        info.cumulative_difficulty_u128()
    );
    assert_eq!(chain.m_block_ids.len() as u64, info.height);
    let headers = rpc(&monerod, move |r| {
        r.get_block_headers_range(0, info.height - 1)
    })
    .await;
    for (height, (id, header)) in chain.m_block_ids.iter().zip(&headers).enumerate() {
        assert_eq!(header.height, height as u64);
        assert_eq!(id, &header.hash, "block id at height {height}");
    }
    // The first id is the block we share (genesis here); `first_block` is the blob of the
    // block after it, the first one we lack.
    let first = rpc(&monerod, |r| r.get_block_by_height(1)).await;
    assert_eq!(chain.first_block, Bytes::from(first.blob));
}

#[tokio::test]
async fn get_objects_returns_the_exact_block_blobs() {
    let (monerod, mut peer) = monerod_with_blocks(100).await;
    let headers = rpc(&monerod, |r| r.get_block_headers_range(1, 100)).await;
    let hashes: Vec<[u8; 32]> = headers.iter().map(|h| h.hash).collect();

    peer.send(ProtocolMessage::GetObjectsRequest(GetObjectsRequest {
        blocks: hashes.clone().into(),
        prune: false,
    }))
    .await;
    let objects = peer
        .recv_until(ANSWER, |_, m| match m {
            Message::Protocol(ProtocolMessage::GetObjectsResponse(objects)) => {
                Some(objects.clone())
            }
            _ => None,
        })
        .await;
    peer.capture(
        MessageId::GetObjectsResponse.command(),
        "get_objects_response_100",
    );

    assert!(objects.missed_ids.is_empty());
    assert_eq!(objects.current_blockchain_height, 101);
    assert_eq!(objects.blocks.len(), 100);
    for (entry, hash) in objects.blocks.iter().zip(hashes) {
        let block = rpc(&monerod, move |r| r.get_block_by_hash(&hash)).await;
        assert_eq!(
            entry.block,
            Bytes::from(block.blob),
            "blob of block {}",
            hex::encode(hash)
        );
        assert!(entry.txs.is_empty());
        assert!(!entry.pruned);
    }
}

#[tokio::test]
async fn a_block_mined_while_connected_arrives_as_a_fluffy_block() {
    let (monerod, mut peer) = monerod_with_blocks(0).await;
    // A second peer that does not support fluffy blocks.
    let mut plain = Peer::connect(monerod.p2p_addr()).await;
    plain.support_flags = 0;
    plain.send(plain.handshake_request()).await;
    plain
        .recv_until(ANSWER, |_, m| {
            matches!(m, Message::Response(AdminResponse::Handshake(_))).then_some(())
        })
        .await;

    let mined = rpc(&monerod, |r| {
        r.generateblocks(1, umbra_test_kit::MINING_ADDRESS)
    })
    .await;
    let fluffy = peer
        .recv_until(ANSWER, |_, m| match m {
            Message::Protocol(ProtocolMessage::NewFluffyBlock(block)) => Some(block.clone()),
            _ => None,
        })
        .await;
    peer.capture(MessageId::NewFluffyBlock.command(), "new_fluffy_block");

    let hash = mined.blocks[0];
    let block = rpc(&monerod, move |r| r.get_block_by_hash(&hash)).await;
    assert_eq!(fluffy.b.block, Bytes::from(block.blob.clone()));
    assert_eq!(
        fluffy.current_blockchain_height,
        block.block_header.height + 1
    );
    assert!(fluffy.b.txs.is_empty());

    // monerod 0.18 relays new blocks as fluffy blocks to peers without the flag too.
    let relayed = plain
        .recv_until(ANSWER, |_, m| match m {
            Message::Protocol(ProtocolMessage::NewFluffyBlock(b)) => Some(b.b.block.clone()),
            Message::Protocol(ProtocolMessage::NewBlock(b)) => Some(b.b.block.clone()),
            _ => None,
        })
        .await;
    assert_eq!(relayed, Bytes::from(block.blob));
}

/// One monerod, two connections: ours to it, and its own to our listener (it was started
/// with `--add-exclusive-node` pointing there). Both must survive a timed sync.
#[tokio::test]
async fn timed_syncs_are_answered_in_both_directions() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let monerod = Monerod::builder()
        .exclusive_node(listener.local_addr().unwrap())
        .start()
        .expect("monerod starts");
    let info = rpc(&monerod, |r| r.get_info()).await;

    let outbound = async {
        let (mut peer, _) = handshaken(&monerod).await;
        // Our own timed sync first: monerod answers it.
        peer.send(TimedSyncRequest {
            payload_data: peer.sync_data.clone(),
        })
        .await;
        let response = peer
            .recv_until(ANSWER, |_, m| match m {
                Message::Response(AdminResponse::TimedSync(r)) => Some(r.clone()),
                _ => None,
            })
            .await;
        peer.capture(MessageId::TimedSync.command(), "timed_sync_response");
        assert_eq!(response.payload_data.current_height, info.height);
        assert_eq!(response.payload_data.top_id, info.top_block_hash);

        // Then monerod's: react when it comes.
        let request = peer
            .recv_until(TIMED_SYNC_PERIOD, |_, m| match m {
                Message::Request(AdminRequest::TimedSync(r)) => Some(r.clone()),
                _ => None,
            })
            .await;
        peer.capture(MessageId::TimedSync.command(), "timed_sync_request");
        assert_eq!(request.payload_data.current_height, info.height);
        assert_eq!(request.payload_data.top_id, info.top_block_hash);
        peer.answer(AdminRequest::TimedSync(request)).await;

        // The connection is still usable afterwards.
        peer.send(AdminRequest::Ping).await;
        peer.recv_until(ANSWER, |_, m| {
            matches!(m, Message::Response(AdminResponse::Ping(_))).then_some(())
        })
        .await;
    };

    let inbound = async {
        let (stream, _) = tokio::time::timeout(ANSWER, listener.accept())
            .await
            .expect("monerod connects to the exclusive node")
            .unwrap();
        let mut peer = Peer::from_stream(stream);
        let (_, message) = peer.recv(ANSWER).await;
        let Message::Request(AdminRequest::Handshake(request)) = message else {
            panic!("expected a handshake first, got {message:?}");
        };
        peer.capture(MessageId::Handshake.command(), "handshake_request");
        assert_eq!(request.node_data.network_id, network_id::MAINNET);
        assert_eq!(
            u64::from(request.node_data.my_port),
            u64::from(monerod.p2p_addr().port())
        );
        assert_eq!(request.payload_data.current_height, info.height);
        assert_eq!(request.payload_data.top_id, info.top_block_hash);
        assert_eq!(
            request.payload_data.cumulative_difficulty(),
            info.cumulative_difficulty_u128()
        );

        let response = HandshakeResponse {
            node_data: peer.node_data(),
            payload_data: peer.sync_data.clone(),
            local_peerlist_new: Vec::new(),
        };
        let sent = peer.send(response).await;
        Peer::capture_sent(&sent, "umbra_handshake_response");

        let request = peer
            .recv_until(TIMED_SYNC_PERIOD, |_, m| match m {
                Message::Request(AdminRequest::TimedSync(r)) => Some(r.clone()),
                _ => None,
            })
            .await;
        assert_eq!(request.payload_data.top_id, info.top_block_hash);
        peer.answer(AdminRequest::TimedSync(request)).await;
        peer
    };

    let ((), inbound_peer) = tokio::join!(outbound, inbound);

    // monerod still counts our listener's connection after the timed sync.
    let our_id = format!("{:016x}", inbound_peer.peer_id);
    let deadline = std::time::Instant::now() + ANSWER;
    loop {
        let connections: serde_json::Value = rpc(&monerod, |r| {
            r.call("get_connections", &serde_json::json!({}))
        })
        .await;
        let listed = connections["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["peer_id"].as_str() == Some(our_id.as_str()) && c["incoming"] == false);
        if listed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "monerod dropped us: {connections}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It sent nothing we could not decode, and asked for nothing we left unanswered.
    assert!(
        inbound_peer
            .answered
            .iter()
            .any(|r| r.id() == MessageId::TimedSync)
    );
}
