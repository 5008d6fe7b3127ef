//! Byte-exact vectors captured from a real monerod 0.18.0.0 (see `tests/monerod.rs` for how
//! they were captured): each decodes, carries the values we know it must, and encodes back
//! to exactly the bytes monerod sent, levin header included.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use umbra_epee::Section;
use umbra_levin::MessageKind;
use umbra_wire::{
    AdminRequest, AdminResponse, Message, MessageId, MoneroCodec, ProtocolMessage, network_id,
    support_flags,
};

const GENESIS: &str = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";

fn vector(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/data/monerod/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Decodes a whole captured frame, checks it re-encodes to the same bytes, returns it.
fn decode_exact(name: &str) -> Message {
    let bytes = vector(name);
    let mut codec = MoneroCodec::default();
    codec
        .buckets_mut()
        .set_max_packet_size(umbra_levin::DEFAULT_MAX_PACKET_SIZE);
    let mut input = BytesMut::from(&bytes[..]);
    let message = codec
        .decode(&mut input)
        .unwrap()
        .expect("one whole message");
    assert!(input.is_empty(), "{name}: trailing bytes");
    let mut output = BytesMut::new();
    codec.encode(message.clone(), &mut output).unwrap();
    if output.freeze() != bytes {
        // Show the fields side by side to make a mismatch readable.
        let ours: Section = umbra_epee::from_bytes(&bytes.slice(33..)).unwrap();
        panic!("{name}: re-encoding differs from monerod's bytes; monerod sent {ours:#?}");
    }
    message
}

#[test]
fn every_captured_vector_re_encodes_byte_for_byte() {
    let dir = format!("{}/tests/data/monerod", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        decode_exact(&name);
        count += 1;
    }
    assert!(count >= 12, "only {count} vectors");
}

#[test]
fn handshake_request_from_monerod() {
    let Message::Request(AdminRequest::Handshake(request)) = decode_exact("handshake_request")
    else {
        panic!("not a handshake request")
    };
    assert_eq!(request.node_data.network_id, network_id::MAINNET);
    assert_eq!(
        request.node_data.support_flags,
        support_flags::FLUFFY_BLOCKS
    );
    assert_eq!(request.payload_data.current_height, 1);
    assert_eq!(hex::encode(request.payload_data.top_id), GENESIS);
}

#[test]
fn handshake_response_from_monerod() {
    let bytes = vector("handshake_response");
    let header = umbra_levin::Header::decode(bytes[..33].try_into().unwrap()).unwrap();
    assert_eq!(header.return_code, 1);
    assert_eq!(header.message_head().unwrap().kind, MessageKind::Response);
    let Message::Response(AdminResponse::Handshake(response)) = decode_exact("handshake_response")
    else {
        panic!("not a handshake response")
    };
    assert_eq!(response.node_data.network_id, network_id::MAINNET);
    assert_eq!(response.payload_data.current_height, 13);
}

#[test]
fn timed_sync_both_ways() {
    let Message::Request(AdminRequest::TimedSync(request)) = decode_exact("timed_sync_request")
    else {
        panic!("not a timed sync request")
    };
    assert_eq!(hex::encode(request.payload_data.top_id), GENESIS);
    let Message::Response(AdminResponse::TimedSync(response)) = decode_exact("timed_sync_response")
    else {
        panic!("not a timed sync response")
    };
    assert_eq!(response.payload_data.current_height, 1);
}

#[test]
fn ping_and_support_flags_responses() {
    let Message::Response(AdminResponse::Ping(ping)) = decode_exact("ping_response") else {
        panic!("not a ping response")
    };
    assert_eq!(ping.status, "OK");
    let Message::Response(AdminResponse::SupportFlags(flags)) =
        decode_exact("support_flags_response")
    else {
        panic!("not a support flags response")
    };
    assert_eq!(flags.support_flags, support_flags::FLUFFY_BLOCKS);
}

#[test]
fn chain_response_lists_the_chain_from_genesis() {
    let Message::Protocol(ProtocolMessage::ChainResponse(chain)) = decode_exact("chain_response")
    else {
        panic!("not a chain response")
    };
    assert_eq!(chain.start_height, 0);
    assert_eq!(chain.total_height, 41);
    assert_eq!(chain.m_block_ids.len(), 41);
    assert_eq!(hex::encode(chain.m_block_ids.as_slice()[0]), GENESIS);
    assert!(!chain.first_block.is_empty());
}

#[test]
fn get_objects_response_carries_100_blocks() {
    let Message::Protocol(ProtocolMessage::GetObjectsResponse(objects)) =
        decode_exact("get_objects_response_100")
    else {
        panic!("not a get objects response")
    };
    assert_eq!(objects.blocks.len(), 100);
    assert_eq!(objects.current_blockchain_height, 101);
    assert!(objects.missed_ids.is_empty());
}

#[test]
fn new_fluffy_block_and_txpool_complement() {
    let message = decode_exact("new_fluffy_block");
    assert_eq!(message.id(), MessageId::NewFluffyBlock);
    let message = decode_exact("get_txpool_complement");
    assert_eq!(message.id(), MessageId::GetTxPoolComplement);
}

#[test]
fn our_own_handshake_messages_were_accepted_by_monerod() {
    // These are the bytes we sent in the interop tests, which monerod accepted.
    let Message::Request(AdminRequest::Handshake(request)) =
        decode_exact("umbra_handshake_request")
    else {
        panic!("not a handshake request")
    };
    assert_eq!(request.payload_data.current_height, 1);
    decode_exact("umbra_handshake_response");
}

#[test]
fn borrowed_decoding_sees_the_same_message_without_copying() {
    use umbra_wire::GetObjectsResponse;
    let frame = vector("get_objects_response_100");
    let body = &frame[33..];
    let borrowed: GetObjectsResponse<&[u8]> = umbra_epee::from_slice(body).unwrap();
    let owned: GetObjectsResponse = umbra_epee::from_bytes(&frame.slice(33..)).unwrap();
    assert_eq!(borrowed.blocks.len(), owned.blocks.len());
    for (b, o) in borrowed.blocks.iter().zip(&owned.blocks) {
        assert_eq!(b.block, &o.block[..]);
        assert!(body.as_ptr_range().contains(&b.block.as_ptr()));
    }
    assert_eq!(
        borrowed.current_blockchain_height,
        owned.current_blockchain_height
    );
    // Both views encode to monerod's bytes.
    assert_eq!(&umbra_epee::to_bytes(&borrowed).unwrap()[..], body);
}
