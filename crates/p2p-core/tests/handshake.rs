//! The handshake without monerod: the sans-IO machine driven message by message with a fake
//! clock (no sockets, no sleeps), then the async driver over in-memory pipes with tokio's
//! paused clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{FramedRead, FramedWrite};
use umbra_levin::{DEFAULT_MAX_PACKET_SIZE, Header, INITIAL_MAX_PACKET_SIZE, MessageHead};
use umbra_p2p_core::{
    ClearNet, Direction, MAX_PEER_LIST_LEN, NetworkZone, NodeIds,
    handshake::{
        self, BAN_AT_ONCE, DEFAULT_HANDSHAKE_TIMEOUT, Finished, Handshake, HandshakeConfig,
        HandshakeError, HandshakeOutcome, Handshaker, MAX_EARLY_MESSAGES, MAX_REQUESTS_ANSWERED,
        PingBackError, Step,
    },
    node_id_for_connection,
};
use umbra_transport::{Transport, memory::MemoryTransport};
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, CoreSyncData, GetTxPoolComplement,
    HandshakeRequest, HandshakeResponse, Message, MessageId, MoneroCodec, NetworkAddress,
    PING_OK_STATUS, PeerListEntry, PingResponse, SupportFlagsResponse, TimedSyncRequest,
    network_id, support_flags,
};

const OUR_ID: u64 = 0x1111_1111_1111_1111;
const THEIR_ID: u64 = 0x2222_2222_2222_2222;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn chain(height: u64) -> CoreSyncData {
    CoreSyncData {
        current_height: height,
        cumulative_difficulty: height,
        cumulative_difficulty_top64: 0,
        top_id: [height as u8; 32],
        top_version: 16,
        pruning_seed: 0,
    }
}

/// Clearnet-like rules, with local addresses allowed (tests live on private addresses).
fn config(node_id: u64) -> HandshakeConfig {
    HandshakeConfig {
        my_port: 18080,
        check_node_id: true,
        can_ping_back: true,
        allow_local_addresses: true,
        ..HandshakeConfig::new(network_id::MAINNET, node_id)
    }
}

fn node_data(peer_id: u64, my_port: u32, flags: u32) -> BasicNodeData {
    BasicNodeData {
        network_id: network_id::MAINNET,
        my_port,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
        peer_id,
        support_flags: flags,
        umbra_key: None,
        umbra_transports: None,
    }
}

fn entry(address: &str) -> PeerListEntry {
    PeerListEntry {
        adr: addr(address).into(),
        id: 9,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
        umbra_key: None,
        umbra_transports: None,
    }
}

fn request(node_data: BasicNodeData) -> Message {
    HandshakeRequest {
        node_data,
        payload_data: chain(7),
    }
    .into()
}

fn response(node_data: BasicNodeData, peers: Vec<PeerListEntry>) -> Message {
    HandshakeResponse {
        node_data,
        payload_data: chain(7),
        local_peerlist_new: peers,
    }
    .into()
}

fn outbound(now: Instant) -> Handshaker<SocketAddr> {
    Handshaker::outbound(config(OUR_ID), chain(3), addr("10.0.0.2:18080"), now)
}

fn inbound(now: Instant) -> Handshaker<SocketAddr> {
    Handshaker::inbound(
        config(OUR_ID),
        chain(3),
        vec![entry("10.0.0.9:18080")],
        addr("10.0.0.2:50123"),
        now,
    )
}

fn drain(machine: &mut Handshaker<SocketAddr>) -> Vec<Message> {
    std::iter::from_fn(|| machine.poll_transmit()).collect()
}

fn outcome(machine: &mut Handshaker<SocketAddr>) -> HandshakeOutcome<SocketAddr> {
    assert!(
        machine.is_done(),
        "handshake not done at {}",
        machine.step()
    );
    match machine.take_outcome() {
        Some(Finished::Handshaken(outcome)) => *outcome,
        other => panic!("expected a peer, got {other:?}"),
    }
}

fn support_flags_answer(flags: u32) -> Message {
    SupportFlagsResponse {
        support_flags: flags,
    }
    .into()
}

fn pool_complement() -> Message {
    GetTxPoolComplement {
        hashes: vec![[5; 32]].into(),
    }
    .into()
}

// ---------------------------------------------------------------------------------------
// Sans-IO: outbound

#[test]
fn outbound_sends_our_node_data_and_chain_then_accepts_the_response() {
    let now = Instant::now();
    let mut machine = outbound(now);
    assert_eq!(machine.step(), Step::AwaitingResponse);
    assert_eq!(
        machine.poll_timeout(),
        Some(now + DEFAULT_HANDSHAKE_TIMEOUT)
    );

    let sent = drain(&mut machine);
    let [Message::Request(AdminRequest::Handshake(ours))] = sent.as_slice() else {
        panic!("expected our handshake request, got {sent:?}");
    };
    assert_eq!(ours.node_data, config(OUR_ID).node_data());
    assert_eq!(ours.node_data.my_port, 18080);
    assert_eq!(ours.node_data.support_flags, support_flags::FLUFFY_BLOCKS);
    assert_eq!(ours.payload_data, chain(3));

    let peers = vec![entry("10.0.0.3:18080"), entry("10.0.0.4:18080")];
    machine
        .handle_message(response(node_data(THEIR_ID, 18080, 1), peers), now)
        .unwrap();
    assert!(drain(&mut machine).is_empty());
    assert_eq!(machine.poll_timeout(), None);

    let outcome = outcome(&mut machine);
    assert_eq!(outcome.direction, Direction::Outbound);
    assert_eq!(outcome.node_data.peer_id, THEIR_ID);
    assert_eq!(outcome.core_sync, chain(7));
    assert_eq!(outcome.support_flags, 1);
    assert_eq!(outcome.peer_list.peers.len(), 2);
    assert_eq!(outcome.peer_list.dropped, 0);
    assert_eq!(
        outcome.ping_back, None,
        "outbound peers are not pinged back"
    );
    assert!(outcome.early_messages.is_empty());
    assert!(outcome.answered.is_empty());
}

#[test]
fn outbound_answers_support_flags_and_ping_and_keeps_early_notifications() {
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);

    // monerod's order when our flags are 0: pool complement, support-flags request, response.
    machine.handle_message(pool_complement(), now).unwrap();
    machine
        .handle_message(Message::Request(AdminRequest::SupportFlags), now)
        .unwrap();
    assert_eq!(
        drain(&mut machine),
        [support_flags_answer(support_flags::FLUFFY_BLOCKS)]
    );
    machine
        .handle_message(Message::Request(AdminRequest::Ping), now)
        .unwrap();
    assert_eq!(
        drain(&mut machine),
        [Message::from(PingResponse {
            status: PING_OK_STATUS.into(),
            peer_id: OUR_ID,
        })]
    );
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 1), Vec::new()), now)
        .unwrap();

    let outcome = outcome(&mut machine);
    assert_eq!(outcome.answered, [MessageId::SupportFlags, MessageId::Ping]);
    assert_eq!(outcome.early_messages.len(), 1);
    assert_eq!(
        outcome.early_messages[0].id(),
        MessageId::GetTxPoolComplement
    );
}

#[test]
fn outbound_asks_for_support_flags_when_the_peer_announces_none() {
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 0), Vec::new()), now)
        .unwrap();
    assert!(!machine.is_done());
    assert_eq!(machine.step(), Step::AwaitingSupportFlags);
    assert_eq!(
        drain(&mut machine),
        [Message::Request(AdminRequest::SupportFlags)]
    );

    // A timed sync in the meantime is answered with our chain and updates theirs.
    let newer = chain(8);
    machine
        .handle_message(
            TimedSyncRequest {
                payload_data: newer.clone(),
            }
            .into(),
            now,
        )
        .unwrap();
    let sent = drain(&mut machine);
    let [Message::Response(AdminResponse::TimedSync(answer))] = sent.as_slice() else {
        panic!("expected a timed-sync answer, got {sent:?}");
    };
    assert_eq!(answer.payload_data, chain(3));
    assert!(answer.local_peerlist_new.is_empty());

    machine
        .handle_message(support_flags_answer(1), now)
        .unwrap();
    let outcome = outcome(&mut machine);
    assert_eq!(outcome.support_flags, 1);
    assert_eq!(outcome.node_data.support_flags, 0);
    assert_eq!(outcome.core_sync, newer);
}

#[test]
fn a_refused_support_flags_request_leaves_the_flags_at_zero() {
    // monerod's Tor and I2P zones answer 1007 with levin error -6 (no handler): monerod
    // goes on with no flags, and so do we. Any other refused request ends the handshake.
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 0), Vec::new()), now)
        .unwrap();
    assert_eq!(machine.step(), Step::AwaitingSupportFlags);
    drain(&mut machine);
    machine
        .handle_error_response(MessageId::SupportFlags.command(), -6)
        .unwrap();
    assert_eq!(outcome(&mut machine).support_flags, 0);

    let mut machine = outbound(now);
    drain(&mut machine);
    let refused = machine
        .handle_error_response(MessageId::Handshake.command(), -6)
        .unwrap_err();
    assert!(refused.to_string().contains("error code -6"), "{refused}");
    assert!(!machine.is_done());
}

#[test]
fn anonymous_zones_never_ask_for_support_flags() {
    // monerod closes a Tor or I2P connection on a support-flags request ("Filtered
    // command"), so the handshake there ends with the flags the peer announced.
    let now = Instant::now();
    let config = HandshakeConfig {
        ask_support_flags: false,
        ..config(OUR_ID)
    };
    let mut machine = Handshaker::outbound(config, chain(3), addr("10.0.0.2:18080"), now);
    drain(&mut machine);
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 0), Vec::new()), now)
        .unwrap();
    assert!(drain(&mut machine).is_empty());
    assert_eq!(outcome(&mut machine).support_flags, 0);
}

#[test]
fn outbound_refuses_another_network() {
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);
    let mut theirs = node_data(THEIR_ID, 0, 1);
    theirs.network_id = network_id::TESTNET;
    let error = machine
        .handle_message(response(theirs, Vec::new()), now)
        .unwrap_err();
    assert!(
        matches!(error, HandshakeError::WrongNetwork { ours, theirs }
            if ours == network_id::MAINNET && theirs == network_id::TESTNET),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("1230f171610441611731008216a1a111")
    );
    assert_eq!(error.ban_score(), BAN_AT_ONCE);
    assert!(!machine.is_done());
    assert_eq!(machine.step(), Step::Finished);
}

#[test]
fn outbound_detects_a_connection_to_ourselves() {
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);
    let error = machine
        .handle_message(response(node_data(OUR_ID, 0, 1), Vec::new()), now)
        .unwrap_err();
    assert!(matches!(error, HandshakeError::SelfConnection), "{error}");
    assert!(!error.is_misbehaviour());

    // Zones that do not reuse ids do not check.
    let mut unchecked = Handshaker::outbound(
        HandshakeConfig {
            check_node_id: false,
            ..config(OUR_ID)
        },
        chain(3),
        addr("10.0.0.2:18080"),
        now,
    );
    drain(&mut unchecked);
    unchecked
        .handle_message(response(node_data(OUR_ID, 0, 1), Vec::new()), now)
        .unwrap();
    assert!(unchecked.is_done());
}

#[test]
fn outbound_refuses_a_peer_list_of_251_entries() {
    let now = Instant::now();
    let peers: Vec<PeerListEntry> = (0..=MAX_PEER_LIST_LEN)
        .map(|i| entry(&format!("10.1.{}.{}:18080", i / 200, i % 200 + 1)))
        .collect();
    assert_eq!(peers.len(), 251);

    let mut machine = outbound(now);
    drain(&mut machine);
    let error = machine
        .handle_message(response(node_data(THEIR_ID, 0, 1), peers.clone()), now)
        .unwrap_err();
    assert!(
        matches!(error, HandshakeError::PeerListTooLong { len: 251 }),
        "{error}"
    );
    assert!(error.is_misbehaviour());

    let mut machine = outbound(now);
    drain(&mut machine);
    machine
        .handle_message(
            response(node_data(THEIR_ID, 0, 1), peers[..250].to_vec()),
            now,
        )
        .unwrap();
    assert_eq!(outcome(&mut machine).peer_list.peers.len(), 250);
}

#[test]
fn junk_peer_list_entries_are_dropped_and_counted() {
    let now = Instant::now();
    let peers = vec![
        entry("1.2.3.4:18080"),
        entry("1.2.3.4:18080"),     // duplicate
        entry("0.0.0.0:18080"),     // unspecified
        entry("5.6.7.8:0"),         // port 0
        entry("224.0.0.1:18080"),   // multicast
        entry("192.168.1.5:18080"), // local: dropped without allow_local_addresses
        PeerListEntry {
            adr: NetworkAddress::Tor {
                host: "a.onion".into(),
                port: 1,
            },
            ..entry("9.9.9.9:1")
        }, // another zone
        entry("5.6.7.8:18080"),
    ];
    let mut machine = Handshaker::outbound(
        HandshakeConfig {
            allow_local_addresses: false,
            ..config(OUR_ID)
        },
        chain(3),
        addr("1.2.3.9:18080"),
        now,
    );
    drain(&mut machine);
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 1), peers), now)
        .unwrap();
    let list = outcome(&mut machine).peer_list;
    let kept: Vec<String> = list.peers.iter().map(|p| p.addr.to_string()).collect();
    assert_eq!(kept, ["1.2.3.4:18080", "5.6.7.8:18080"]);
    assert_eq!(list.dropped, 6);
}

#[test]
fn outbound_refuses_messages_with_no_place_before_the_response() {
    let now = Instant::now();
    for (message, id) in [
        (request(node_data(THEIR_ID, 0, 1)), MessageId::Handshake),
        (support_flags_answer(1), MessageId::SupportFlags),
        (
            Message::from(PingResponse {
                status: PING_OK_STATUS.into(),
                peer_id: THEIR_ID,
            }),
            MessageId::Ping,
        ),
    ] {
        let mut machine = outbound(now);
        drain(&mut machine);
        let error = machine.handle_message(message, now).unwrap_err();
        assert!(
            matches!(error, HandshakeError::UnexpectedMessage { id: got, step: Step::AwaitingResponse, .. } if got == id),
            "{error}"
        );
        assert_eq!(error.ban_score(), 50);
    }
}

#[test]
fn requests_and_notifications_during_the_handshake_are_bounded() {
    let now = Instant::now();
    let mut machine = outbound(now);
    drain(&mut machine);
    for _ in 0..MAX_REQUESTS_ANSWERED {
        machine
            .handle_message(Message::Request(AdminRequest::Ping), now)
            .unwrap();
    }
    assert_eq!(drain(&mut machine).len(), MAX_REQUESTS_ANSWERED);
    let error = machine
        .handle_message(Message::Request(AdminRequest::Ping), now)
        .unwrap_err();
    assert!(
        matches!(error, HandshakeError::TooManyMessages { .. }),
        "{error}"
    );

    let mut machine = outbound(now);
    drain(&mut machine);
    for _ in 0..MAX_EARLY_MESSAGES {
        machine.handle_message(pool_complement(), now).unwrap();
    }
    let error = machine.handle_message(pool_complement(), now).unwrap_err();
    assert!(
        matches!(error, HandshakeError::TooManyMessages { .. }),
        "{error}"
    );
    assert!(error.is_misbehaviour());
}

// ---------------------------------------------------------------------------------------
// Sans-IO: inbound

#[test]
fn inbound_answers_with_our_node_data_chain_and_peer_list() {
    let now = Instant::now();
    let mut machine = inbound(now);
    assert_eq!(machine.step(), Step::AwaitingRequest);
    assert!(drain(&mut machine).is_empty(), "inbound waits for the peer");

    machine
        .handle_message(request(node_data(THEIR_ID, 18081, 1)), now)
        .unwrap();
    let sent = drain(&mut machine);
    let [Message::Response(AdminResponse::Handshake(ours))] = sent.as_slice() else {
        panic!("expected our handshake response, got {sent:?}");
    };
    assert_eq!(ours.node_data, config(OUR_ID).node_data());
    assert_eq!(ours.payload_data, chain(3));
    assert_eq!(ours.local_peerlist_new, [entry("10.0.0.9:18080")]);

    let outcome = outcome(&mut machine);
    assert_eq!(outcome.direction, Direction::Inbound);
    assert_eq!(outcome.node_data.peer_id, THEIR_ID);
    assert_eq!(outcome.core_sync, chain(7));
    assert!(outcome.peer_list.peers.is_empty());
    assert_eq!(
        outcome.ping_back,
        Some(addr("10.0.0.2:18081")),
        "the connection's IP with the advertised port"
    );
}

#[test]
fn inbound_pings_back_only_advertised_routable_ports_on_zones_that_can() {
    let now = Instant::now();
    let ping_back = |config: HandshakeConfig, peer: &str, my_port: u32| {
        let mut machine = Handshaker::inbound(config, chain(3), Vec::new(), addr(peer), now);
        machine
            .handle_message(request(node_data(THEIR_ID, my_port, 1)), now)
            .unwrap();
        outcome(&mut machine).ping_back
    };
    assert_eq!(ping_back(config(OUR_ID), "10.0.0.2:5000", 0), None);
    assert_eq!(ping_back(config(OUR_ID), "10.0.0.2:5000", 70_000), None);
    let no_ping_zone = HandshakeConfig {
        can_ping_back: false,
        ..config(OUR_ID)
    };
    assert_eq!(ping_back(no_ping_zone, "10.0.0.2:5000", 18080), None);
    let public_only = HandshakeConfig {
        allow_local_addresses: false,
        ..config(OUR_ID)
    };
    assert_eq!(ping_back(public_only.clone(), "10.0.0.2:5000", 18080), None);
    assert_eq!(
        ping_back(public_only, "1.2.3.4:5000", 18080),
        Some(addr("1.2.3.4:18080"))
    );
}

#[test]
fn inbound_asks_for_support_flags_when_the_peer_announces_none() {
    let now = Instant::now();
    let mut machine = inbound(now);
    machine
        .handle_message(request(node_data(THEIR_ID, 0, 0)), now)
        .unwrap();
    let sent = drain(&mut machine);
    assert_eq!(sent.len(), 2);
    assert!(matches!(
        sent[0],
        Message::Response(AdminResponse::Handshake(_))
    ));
    assert_eq!(sent[1], Message::Request(AdminRequest::SupportFlags));
    assert_eq!(machine.step(), Step::AwaitingSupportFlags);

    // The peer may already send protocol messages: kept for the connection.
    machine.handle_message(pool_complement(), now).unwrap();
    machine
        .handle_message(support_flags_answer(1), now)
        .unwrap();
    let outcome = outcome(&mut machine);
    assert_eq!(outcome.support_flags, 1);
    assert_eq!(outcome.early_messages.len(), 1);
}

#[test]
fn inbound_refuses_another_network_and_ourselves() {
    let now = Instant::now();
    let mut machine = inbound(now);
    let mut theirs = node_data(THEIR_ID, 0, 1);
    theirs.network_id = network_id::STAGENET;
    let error = machine.handle_message(request(theirs), now).unwrap_err();
    assert!(
        matches!(error, HandshakeError::WrongNetwork { .. }),
        "{error}"
    );
    assert!(
        drain(&mut machine).is_empty(),
        "nothing is sent to a refused peer"
    );

    let mut machine = inbound(now);
    let error = machine
        .handle_message(request(node_data(OUR_ID, 0, 1)), now)
        .unwrap_err();
    assert!(matches!(error, HandshakeError::SelfConnection), "{error}");
    assert!(drain(&mut machine).is_empty());
}

#[test]
fn inbound_first_message_must_be_a_handshake_or_a_ping() {
    let now = Instant::now();
    for message in [
        pool_complement(),
        Message::Request(AdminRequest::SupportFlags),
        TimedSyncRequest {
            payload_data: chain(1),
        }
        .into(),
        response(node_data(THEIR_ID, 0, 1), Vec::new()),
    ] {
        let id = message.id();
        let mut machine = inbound(now);
        let error = machine.handle_message(message, now).unwrap_err();
        assert!(
            matches!(error, HandshakeError::UnexpectedMessage { id: got, step: Step::AwaitingRequest, .. } if got == id),
            "{error}"
        );
        assert!(error.is_misbehaviour());
    }
}

#[test]
fn a_second_handshake_is_refused() {
    let now = Instant::now();
    let mut machine = inbound(now);
    machine
        .handle_message(request(node_data(THEIR_ID, 0, 0)), now)
        .unwrap();
    drain(&mut machine);
    let error = machine
        .handle_message(request(node_data(THEIR_ID, 0, 0)), now)
        .unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::UnexpectedMessage {
                id: MessageId::Handshake,
                step: Step::AwaitingSupportFlags,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_ping_as_first_message_is_a_probe_answered_with_our_id() {
    let now = Instant::now();
    let mut machine = inbound(now);
    machine
        .handle_message(Message::Request(AdminRequest::Ping), now)
        .unwrap();
    assert_eq!(
        drain(&mut machine),
        [Message::from(PingResponse {
            status: PING_OK_STATUS.into(),
            peer_id: OUR_ID,
        })]
    );
    assert!(machine.is_done());
    assert_eq!(machine.poll_timeout(), None);
    assert!(matches!(machine.take_outcome(), Some(Finished::PingProbe)));
    assert!(machine.take_outcome().is_none(), "taken once");
}

#[test]
fn our_shared_peer_list_is_cut_to_250() {
    let now = Instant::now();
    let list: Vec<PeerListEntry> = (0..300)
        .map(|i| entry(&format!("10.2.{}.{}:18080", i / 200, i % 200 + 1)))
        .collect();
    let mut machine = Handshaker::inbound(config(OUR_ID), chain(3), list, addr("10.0.0.2:1"), now);
    machine
        .handle_message(request(node_data(THEIR_ID, 0, 1)), now)
        .unwrap();
    let sent = drain(&mut machine);
    let [Message::Response(AdminResponse::Handshake(ours))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert_eq!(ours.local_peerlist_new.len(), MAX_PEER_LIST_LEN);
}

// ---------------------------------------------------------------------------------------
// Sans-IO: timeouts, by moving the clock passed in

#[test]
fn every_step_times_out() {
    let start = Instant::now();
    let timeout = Duration::from_secs(3);
    let short = |config: HandshakeConfig| HandshakeConfig { timeout, ..config };
    let just_before = start + timeout - Duration::from_millis(1);
    let at = start + timeout;

    // Inbound, waiting for the request.
    let mut machine = Handshaker::inbound(
        short(config(OUR_ID)),
        chain(3),
        Vec::new(),
        addr("10.0.0.2:1"),
        start,
    );
    assert_eq!(machine.poll_timeout(), Some(at));
    machine.handle_timeout(just_before).unwrap();
    let error = machine.handle_timeout(at).unwrap_err();
    assert!(
        matches!(error, HandshakeError::Timeout { step: Step::AwaitingRequest, timeout: t } if t == timeout),
        "{error}"
    );
    assert_eq!(error.ban_score(), 0);
    assert_eq!(machine.poll_timeout(), None);

    // Outbound, waiting for the response.
    let mut machine =
        Handshaker::outbound(short(config(OUR_ID)), chain(3), addr("10.0.0.2:1"), start);
    drain(&mut machine);
    machine.handle_timeout(just_before).unwrap();
    let error = machine.handle_timeout(at).unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Timeout {
                step: Step::AwaitingResponse,
                ..
            }
        ),
        "{error}"
    );

    // Outbound, waiting for the support flags: the deadline still counts from the start.
    let mut machine =
        Handshaker::outbound(short(config(OUR_ID)), chain(3), addr("10.0.0.2:1"), start);
    drain(&mut machine);
    machine
        .handle_message(response(node_data(THEIR_ID, 0, 0), Vec::new()), just_before)
        .unwrap();
    assert_eq!(machine.poll_timeout(), Some(at));
    let error = machine.handle_timeout(at).unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Timeout {
                step: Step::AwaitingSupportFlags,
                ..
            }
        ),
        "{error}"
    );

    // Inbound, waiting for the support flags; a late answer is a timeout too.
    let mut machine = Handshaker::inbound(
        short(config(OUR_ID)),
        chain(3),
        Vec::new(),
        addr("10.0.0.2:1"),
        start,
    );
    machine
        .handle_message(request(node_data(THEIR_ID, 0, 0)), start)
        .unwrap();
    let error = machine
        .handle_message(support_flags_answer(1), at)
        .unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Timeout {
                step: Step::AwaitingSupportFlags,
                ..
            }
        ),
        "{error}"
    );

    // A message arriving after the deadline is a timeout, not a success.
    let mut machine =
        Handshaker::outbound(short(config(OUR_ID)), chain(3), addr("10.0.0.2:1"), start);
    drain(&mut machine);
    let error = machine
        .handle_message(response(node_data(THEIR_ID, 0, 1), Vec::new()), at)
        .unwrap_err();
    assert!(matches!(error, HandshakeError::Timeout { .. }), "{error}");
}

#[test]
fn a_failed_or_finished_machine_refuses_further_messages() {
    let now = Instant::now();
    let mut machine = inbound(now);
    machine.handle_message(pool_complement(), now).unwrap_err();
    let error = machine
        .handle_message(request(node_data(THEIR_ID, 0, 1)), now)
        .unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::UnexpectedMessage {
                step: Step::Finished,
                ..
            }
        ),
        "{error}"
    );
    machine
        .handle_timeout(now + Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn two_machines_complete_each_other() {
    let now = Instant::now();
    let mut ours = Handshaker::outbound(
        HandshakeConfig {
            support_flags: 0,
            ..config(OUR_ID)
        },
        chain(3),
        addr("10.0.0.2:18080"),
        now,
    );
    let mut theirs = Handshaker::inbound(
        HandshakeConfig {
            support_flags: 0,
            ..config(THEIR_ID)
        },
        chain(5),
        vec![entry("10.0.0.9:18080")],
        addr("10.0.0.1:40000"),
        now,
    );
    for _ in 0..10 {
        for message in drain(&mut ours) {
            theirs.handle_message(message, now).unwrap();
        }
        for message in drain(&mut theirs) {
            ours.handle_message(message, now).unwrap();
        }
    }
    let out = outcome(&mut ours);
    let inb = outcome(&mut theirs);
    assert_eq!(out.node_data.peer_id, THEIR_ID);
    assert_eq!(out.core_sync, chain(5));
    assert_eq!(out.peer_list.peers.len(), 1);
    assert_eq!(inb.node_data.peer_id, OUR_ID);
    assert_eq!(inb.core_sync, chain(3));
    assert_eq!(inb.ping_back, Some(addr("10.0.0.1:18080")));
    // Both had flags 0: each asked the other and answered the other's question.
    assert_eq!(out.answered, [MessageId::SupportFlags]);
    assert_eq!(inb.answered, [MessageId::SupportFlags]);
}

#[test]
fn a_question_after_our_side_finished_is_for_the_connection() {
    // We announce flags, the peer does not: we are done as soon as we answered its
    // handshake; its follow-up support-flags question arrives after that, like monerod's
    // `try_get_support_flags` after `do_handshake_with_peer`, and the connection answers it.
    let now = Instant::now();
    let mut ours = inbound(now);
    ours.handle_message(request(node_data(THEIR_ID, 0, 1)), now)
        .unwrap();
    assert!(ours.is_done());
    let error = ours
        .handle_message(Message::Request(AdminRequest::SupportFlags), now)
        .unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::UnexpectedMessage {
                step: Step::Finished,
                ..
            }
        ),
        "{error}"
    );
}

/// A zone with anonymity-network rules (fresh id per connection, nothing revealed, no ping
/// back), for checking what the config derives from a zone.
#[derive(Debug, Clone, Copy)]
struct HiddenZone;

impl NetworkZone for HiddenZone {
    const NAME: &'static str = "hidden";
    const CHECK_NODE_ID: bool = false;
    const BROADCAST_OWN_ADDR: bool = false;
    const REUSE_NODE_ID: bool = false;
    const CAN_PING_BACK: bool = false;
    type Addr = SocketAddr;
    type Transport = MemoryTransport;
}

#[test]
fn an_anonymous_zone_reveals_no_port_no_zone_id_and_pings_nobody_back() {
    let ids = NodeIds::new();
    let clearnet_id = ids.fresh();
    let hidden_id = ids.fresh();
    assert_ne!(clearnet_id, hidden_id, "never the same id on two zones");

    let clear = HandshakeConfig::for_zone::<ClearNet<MemoryTransport>>(
        network_id::MAINNET,
        node_id_for_connection::<ClearNet<MemoryTransport>>(clearnet_id),
        Some(18080),
    );
    assert_eq!(
        clear.node_id, clearnet_id,
        "clearnet reuses its zone id, like monerod"
    );
    assert_eq!(clear.my_port, 18080);

    let first = node_id_for_connection::<HiddenZone>(hidden_id);
    let second = node_id_for_connection::<HiddenZone>(hidden_id);
    assert_ne!(first, hidden_id);
    assert_ne!(first, second, "a fresh id per connection");
    let hidden = HandshakeConfig::for_zone::<HiddenZone>(network_id::MAINNET, first, Some(18080));
    assert_eq!(
        hidden.node_data().my_port,
        0,
        "the listening port stays secret"
    );
    assert_eq!(hidden.node_data().rpc_port, 0);
    assert!(!hidden.check_node_id);

    // Its inbound peers advertise ports in vain: nobody is pinged back.
    let now = Instant::now();
    let mut machine = Handshaker::inbound(hidden, chain(3), Vec::new(), addr("10.0.0.2:1"), now);
    machine
        .handle_message(request(node_data(THEIR_ID, 18080, 1)), now)
        .unwrap();
    let sent = drain(&mut machine);
    let [Message::Response(AdminResponse::Handshake(ours))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert_eq!(ours.node_data.peer_id, first);
    assert_eq!(ours.node_data.my_port, 0);
    assert_eq!(outcome(&mut machine).ping_back, None);
}

// ---------------------------------------------------------------------------------------
// The async driver

type Framed<S> = (
    FramedRead<tokio::io::ReadHalf<S>, MoneroCodec>,
    FramedWrite<tokio::io::WriteHalf<S>, MoneroCodec>,
);

/// A raw levin peer on the other end of a pipe.
fn raw_peer(stream: tokio::io::DuplexStream) -> Framed<tokio::io::DuplexStream> {
    let (r, w) = tokio::io::split(stream);
    (
        FramedRead::new(r, MoneroCodec::default()),
        FramedWrite::new(w, MoneroCodec::default()),
    )
}

#[tokio::test]
async fn our_outbound_driver_completes_with_our_inbound_driver() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let out =
        handshake::handshake_outbound(ar, aw, addr("10.0.0.2:18080"), config(OUR_ID), chain(3));
    let inb = handshake::handshake_inbound(
        br,
        bw,
        addr("10.0.0.1:40000"),
        HandshakeConfig {
            support_flags: 0,
            ..config(THEIR_ID)
        },
        chain(5),
        vec![entry("10.0.0.9:18080")],
    );
    // Our inbound side announced no flags, so the outbound side asks for them; the inbound
    // side was already done (the outbound side announced its flags), so the question is for
    // the connection after the handshake, as with monerod: answer it here.
    let inb = async {
        let mut inb = inb.await.unwrap().into_peer().expect("a peer, not a probe");
        let question = inb.reader.next().await.unwrap().unwrap();
        assert_eq!(question, Message::Request(AdminRequest::SupportFlags));
        inb.writer.send(support_flags_answer(0)).await.unwrap();
        inb
    };
    let (out, mut inb) = tokio::time::timeout(
        Duration::from_secs(10),
        Box::pin(async { tokio::join!(out, inb) }),
    )
    .await
    .expect("both sides finish");
    let mut out = out.unwrap();

    assert_eq!(out.outcome.node_data.peer_id, THEIR_ID);
    assert_eq!(out.outcome.support_flags, 0, "their answer to our question");
    assert_eq!(out.outcome.core_sync, chain(5));
    assert_eq!(out.outcome.peer_list.peers.len(), 1);
    assert_eq!(inb.outcome.node_data.peer_id, OUR_ID);
    assert_eq!(inb.outcome.ping_back, Some(addr("10.0.0.1:18080")));
    assert_eq!(
        out.reader.decoder().max_packet_size(),
        DEFAULT_MAX_PACKET_SIZE,
        "the limit is raised after the handshake"
    );
    assert_eq!(
        inb.writer.encoder().max_packet_size(),
        DEFAULT_MAX_PACKET_SIZE
    );

    // The framed halves carry on.
    out.writer
        .send(Message::Request(AdminRequest::Ping))
        .await
        .unwrap();
    let got = inb.reader.next().await.unwrap().unwrap();
    assert_eq!(got, Message::Request(AdminRequest::Ping));
}

#[tokio::test]
async fn bytes_sent_right_after_the_handshake_stay_in_the_reader() {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(ours);
    let peer = async move {
        let (mut reader, mut writer) = raw_peer(theirs);
        let first = reader.next().await.unwrap().unwrap();
        assert!(matches!(
            first,
            Message::Request(AdminRequest::Handshake(_))
        ));
        // Response and a notification in one go: the driver reads both into its buffer.
        writer
            .feed(response(node_data(THEIR_ID, 0, 1), Vec::new()))
            .await
            .unwrap();
        writer.feed(pool_complement()).await.unwrap();
        SinkExt::<Message>::flush(&mut writer).await.unwrap();
        (reader, writer)
    };
    let ours =
        handshake::handshake_outbound(r, w, addr("10.0.0.2:18080"), config(OUR_ID), chain(3));
    let (ours, _peer) = tokio::join!(ours, peer);
    let mut ours = ours.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), ours.reader.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next, pool_complement());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_sends_nothing_times_out() {
    let (ours, _theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    let started = tokio::time::Instant::now();
    let result = handshake::handshake_inbound(
        r,
        w,
        addr("10.0.0.2:1"),
        config(OUR_ID),
        chain(3),
        Vec::new(),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Timeout {
                step: Step::AwaitingRequest,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(started.elapsed(), DEFAULT_HANDSHAKE_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_answers_our_support_flags_request_times_out() {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(ours);
    let peer = async move {
        let (mut reader, mut writer) = raw_peer(theirs);
        writer
            .send(request(node_data(THEIR_ID, 0, 0)))
            .await
            .unwrap();
        let _response = reader.next().await;
        let _flags_request = reader.next().await;
        // ... and silence, connection open.
        (reader, writer)
    };
    let ours = handshake::handshake_inbound(
        r,
        w,
        addr("10.0.0.2:1"),
        config(OUR_ID),
        chain(3),
        Vec::new(),
    );
    let (result, _peer) = tokio::join!(ours, peer);
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Timeout {
                step: Step::AwaitingSupportFlags,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_bytes_are_an_error_not_a_panic() {
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    theirs
        .write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    let error = handshake::handshake_inbound(
        r,
        w,
        addr("10.0.0.2:1"),
        config(OUR_ID),
        chain(3),
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, HandshakeError::Codec { .. }), "{error}");
    assert_eq!(error.ban_score(), BAN_AT_ONCE);
}

#[tokio::test]
async fn an_oversized_first_frame_is_refused_from_its_header() {
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    // A header announcing 100 MB, and not one byte of body: the refusal cannot come from
    // reading (or allocating) the body.
    let header = Header::new(
        MessageHead::request(1001),
        (INITIAL_MAX_PACKET_SIZE + 1) as u64,
    );
    theirs.write_all(&header.to_bytes()).await.unwrap();
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        handshake::handshake_inbound(
            r,
            w,
            addr("10.0.0.2:1"),
            config(OUR_ID),
            chain(3),
            Vec::new(),
        ),
    )
    .await
    .expect("refused at once, without waiting for the body")
    .unwrap_err();
    assert!(matches!(error, HandshakeError::Codec { .. }), "{error}");
    assert!(error.to_string().contains("exceeds the limit"), "{error}");
    assert_eq!(error.ban_score(), BAN_AT_ONCE);
}

#[tokio::test]
async fn a_peer_that_closes_is_closed_not_misbehaving() {
    let (ours, theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    drop(theirs);
    let error = handshake::handshake_outbound(r, w, addr("10.0.0.2:1"), config(OUR_ID), chain(3))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::Closed { .. } | HandshakeError::Io { .. }
        ),
        "{error}"
    );
    assert!(!error.is_misbehaviour());

    // Closing in the middle of a frame is a close too.
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    theirs.write_all(&[0x01, 0x21, 0x01]).await.unwrap();
    drop(theirs);
    let error = handshake::handshake_inbound(
        r,
        w,
        addr("10.0.0.2:1"),
        config(OUR_ID),
        chain(3),
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, HandshakeError::Closed { .. }), "{error}");
}

#[tokio::test]
async fn the_ping_probe_is_answered_and_the_driver_says_so() {
    let (ours, theirs) = tokio::io::duplex(1024);
    let (r, w) = tokio::io::split(ours);
    let probe = async move {
        let (mut reader, mut writer) = raw_peer(theirs);
        writer
            .send(Message::Request(AdminRequest::Ping))
            .await
            .unwrap();
        let answer = reader.next().await.unwrap().unwrap();
        // Then the driver closes its side.
        assert!(reader.next().await.is_none());
        answer
    };
    let ours = handshake::handshake_inbound(
        r,
        w,
        addr("10.0.0.2:1"),
        config(OUR_ID),
        chain(3),
        Vec::new(),
    );
    let (result, answer) = tokio::join!(ours, probe);
    assert!(matches!(result.unwrap(), Handshake::PingProbe));
    assert_eq!(
        answer,
        Message::from(PingResponse {
            status: PING_OK_STATUS.into(),
            peer_id: OUR_ID,
        })
    );
}

// ---------------------------------------------------------------------------------------
// Ping back, over the in-memory transport

/// Listens at `at` and answers every connection with our inbound driver; returns what each
/// connection turned out to be.
async fn serve_one(
    net: &MemoryTransport,
    at: SocketAddr,
    node_id: u64,
) -> tokio::task::JoinHandle<bool> {
    let mut listener = net.listen(&at).await.unwrap();
    tokio::spawn(async move {
        let (r, w, from) = listener.next().await.unwrap().unwrap();
        let result =
            handshake::handshake_inbound(r, w, from, config(node_id), chain(3), Vec::new()).await;
        matches!(result, Ok(Handshake::PingProbe))
    })
}

#[tokio::test]
async fn ping_back_reaches_the_node_that_handshook() {
    let net = MemoryTransport::new();
    let at = addr("10.0.0.7:18080");
    let server = serve_one(&net, at, THEIR_ID).await;
    handshake::ping_back(&net, &at, THEIR_ID, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(server.await.unwrap(), "the listener saw a ping probe");
}

#[tokio::test]
async fn ping_back_refuses_another_node_id() {
    let net = MemoryTransport::new();
    let at = addr("10.0.0.7:18080");
    let _server = serve_one(&net, at, 0x3333).await;
    let error = handshake::ping_back(&net, &at, THEIR_ID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PingBackError::WrongPeerId {
                expected: THEIR_ID,
                got: 0x3333
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn ping_back_to_nobody_fails_to_connect() {
    let net = MemoryTransport::new();
    let error = handshake::ping_back(&net, &addr("10.0.0.7:1"), THEIR_ID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(error, PingBackError::Connect(_)), "{error}");
}

#[tokio::test(start_paused = true)]
async fn ping_back_to_a_silent_listener_times_out() {
    let net = MemoryTransport::new();
    let at = addr("10.0.0.7:18080");
    let mut listener = net.listen(&at).await.unwrap();
    let _silent = tokio::spawn(async move {
        let connection = listener.next().await;
        std::future::pending::<()>().await;
        drop(connection);
    });
    let error = handshake::ping_back(&net, &at, THEIR_ID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(error, PingBackError::Timeout(_)), "{error}");
}

#[tokio::test]
async fn ping_back_refuses_a_wrong_status() {
    let net = MemoryTransport::new();
    let at = addr("10.0.0.7:18080");
    let mut listener = net.listen(&at).await.unwrap();
    tokio::spawn(async move {
        let (r, w, _) = listener.next().await.unwrap().unwrap();
        let mut reader = FramedRead::new(r, MoneroCodec::default());
        let mut writer = FramedWrite::new(w, MoneroCodec::default());
        let _ping = reader.next().await;
        writer
            .send(Message::from(PingResponse {
                status: "BUSY".into(),
                peer_id: THEIR_ID,
            }))
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = reader.into_inner().read_to_end(&mut rest).await;
    });
    let error = handshake::ping_back(&net, &at, THEIR_ID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PingBackError::WrongStatus { status } if status == "BUSY"),
        "{error}"
    );
}
