//! Hostile input at the message level: each case gets a typed error naming what was wrong,
//! never a panic. (Byte-level cases — truncation, limits, depth, fragments — are covered
//! in depth by umbra-epee's and umbra-levin's own `bad_input` tests; these show they surface
//! through the whole stack.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use umbra_epee::{Section, Value};
use umbra_levin::{
    BucketCodec, CodecError, Flags, Header, LevinError, MessageHead, MessageKind, NoiseSize,
};
use umbra_wire::{
    AdminRequest, BasicNodeData, CoreSyncData, HandshakeRequest, Message, MoneroCodec, WireError,
    network_id,
};

fn handshake() -> HandshakeRequest {
    HandshakeRequest {
        node_data: BasicNodeData {
            network_id: network_id::MAINNET,
            my_port: 18080,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            peer_id: 42,
            support_flags: 1,
            umbra_key: None,
            umbra_transports: None,
        },
        payload_data: CoreSyncData {
            current_height: 1,
            cumulative_difficulty: 1,
            cumulative_difficulty_top64: 0,
            top_id: [1; 32],
            top_version: 1,
            pruning_seed: 0,
        },
    }
}

/// A levin frame with `head` and `body`.
fn frame(head: MessageHead, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    Header::new(head, body.len() as u64).put(&mut out);
    out.put_slice(body);
    out
}

fn decode(mut input: BytesMut) -> Result<Option<Message>, CodecError<WireError>> {
    MoneroCodec::default().decode(&mut input)
}

fn body_error(input: BytesMut) -> umbra_epee::Error {
    match decode(input) {
        Err(CodecError::Decode {
            error: WireError::Body { source, .. },
            ..
        }) => source,
        other => panic!("expected a body error, got {other:?}"),
    }
}

/// The handshake as a dynamic section, for editing field by field.
fn handshake_section() -> Section {
    let bytes = umbra_epee::to_bytes(&handshake()).unwrap().freeze();
    umbra_epee::from_bytes(&bytes).unwrap()
}

fn node_data_mut(section: &mut Section) -> &mut Section {
    match &mut section
        .fields
        .iter_mut()
        .find(|(n, _)| n.as_ref() == b"node_data")
        .unwrap()
        .1
    {
        Value::Object(s) => s,
        _ => panic!("node_data is an object"),
    }
}

fn encode(section: &Section) -> Bytes {
    umbra_epee::to_bytes(section).unwrap().freeze()
}

#[test]
fn unknown_command() {
    let error = decode(frame(MessageHead::notification(2005), b"")).unwrap_err();
    assert!(matches!(
        error,
        CodecError::Decode {
            error: WireError::UnknownCommand(2005),
            ..
        }
    ));
}

#[test]
fn admin_message_sent_as_a_notification() {
    let body = umbra_epee::to_bytes(&handshake()).unwrap();
    let error = decode(frame(MessageHead::notification(1001), &body)).unwrap_err();
    assert!(
        matches!(
            error,
            CodecError::Decode {
                error: WireError::WrongKind {
                    command: 1001,
                    kind: MessageKind::Notification,
                    ..
                },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn error_response_code() {
    let error = decode(frame(MessageHead::response(1001, -7), b"")).unwrap_err();
    assert!(matches!(
        error,
        CodecError::Decode {
            error: WireError::ErrorResponse {
                command: 1001,
                code: -7
            },
            ..
        }
    ));
}

#[test]
fn wrong_signature_in_the_body() {
    let mut body = umbra_epee::to_bytes(&handshake()).unwrap();
    body[0] = 0x02;
    let error = body_error(frame(MessageHead::request(1001), &body));
    assert!(
        matches!(error.kind(), umbra_epee::ErrorKind::BadSignature { .. }),
        "{error}"
    );
}

#[test]
fn wrong_type_names_the_field_path() {
    let mut section = handshake_section();
    let peer_id = node_data_mut(&mut section)
        .fields
        .iter_mut()
        .find(|(n, _)| n.as_ref() == b"network_id")
        .unwrap();
    peer_id.1 = Value::U64(5);
    let error = body_error(frame(MessageHead::request(1001), &encode(&section)));
    assert_eq!(error.field_path(), ["node_data", "network_id"]);
    assert!(
        error.to_string().contains("expected string, found u64"),
        "{error}"
    );
}

#[test]
fn missing_and_duplicate_fields() {
    let mut section = handshake_section();
    node_data_mut(&mut section)
        .fields
        .retain(|(n, _)| n.as_ref() != b"peer_id");
    let error = body_error(frame(MessageHead::request(1001), &encode(&section)));
    assert_eq!(error.field_path(), ["node_data"]);
    assert_eq!(
        error.kind(),
        &umbra_epee::ErrorKind::MissingField("peer_id")
    );

    let mut section = handshake_section();
    let node_data = node_data_mut(&mut section);
    let copy = node_data.fields[0].clone();
    node_data.fields.push(copy);
    let error = body_error(frame(MessageHead::request(1001), &encode(&section)));
    assert!(
        matches!(error.kind(), umbra_epee::ErrorKind::DuplicateField(_)),
        "{error}"
    );
}

#[test]
fn deep_nesting_hidden_in_an_unknown_field() {
    let mut section = handshake_section();
    let mut deep = Section::default();
    for _ in 0..200 {
        deep = Section {
            fields: vec![(Bytes::from_static(b"x"), Value::Object(deep))],
        };
    }
    section
        .fields
        .push((Bytes::from_static(b"zzz"), Value::Object(deep)));
    let error = body_error(frame(MessageHead::request(1001), &encode(&section)));
    assert!(
        matches!(error.kind(), umbra_epee::ErrorKind::TooDeep { .. }),
        "{error}"
    );
}

#[test]
fn truncated_frame_waits_then_fails_at_eof() {
    let body = umbra_epee::to_bytes(&handshake()).unwrap();
    let whole = frame(MessageHead::request(1001), &body);
    let mut cut = BytesMut::from(&whole[..whole.len() - 10]);
    let mut codec = MoneroCodec::default();
    assert!(
        codec.decode(&mut cut).unwrap().is_none(),
        "waits for more bytes"
    );
    let error = codec.decode_eof(&mut cut).unwrap_err();
    assert!(
        matches!(error, CodecError::Levin(LevinError::EofInBody { .. })),
        "{error}"
    );
}

#[test]
fn truncated_body_inside_a_whole_frame() {
    let body = umbra_epee::to_bytes(&handshake()).unwrap();
    let error = body_error(frame(MessageHead::request(1001), &body[..body.len() - 5]));
    assert_eq!(error.field_path(), ["payload_data"]);
    assert!(
        matches!(error.kind(), umbra_epee::ErrorKind::Truncated { .. }),
        "{error}"
    );
}

#[test]
fn oversized_frame_is_refused_from_its_header() {
    // Before the handshake the limit is 256 KiB; a header claiming 1 MB is refused at once.
    let mut input = BytesMut::new();
    Header::new(MessageHead::request(1001), 1_000_000).put(&mut input);
    let capacity = input.capacity();
    let error = decode(input.clone()).unwrap_err();
    assert!(error.to_string().contains("exceeds the limit"), "{error}");
    assert_eq!(input.capacity(), capacity);
}

#[test]
fn a_fragmented_handshake_decodes_and_a_stray_fragment_end_does_not() {
    // monerod pads and fragments messages on anonymity networks: the reassembled message
    // must decode like a plain one.
    let mut codec = MoneroCodec::default();
    codec.set_padding(Some(NoiseSize::new(100).unwrap()));
    let mut wire = BytesMut::new();
    codec
        .encode(
            Message::Request(AdminRequest::Handshake(handshake())),
            &mut wire,
        )
        .unwrap();
    assert_eq!(wire.len() % 100, 0, "padded to whole noise frames");
    let decoded = MoneroCodec::default().decode(&mut wire).unwrap();
    assert_eq!(
        decoded,
        Some(Message::Request(AdminRequest::Handshake(handshake())))
    );

    let mut stray = BytesMut::new();
    Header::frame(Flags::END, 10).put(&mut stray);
    stray.put_slice(&[0; 10]);
    let error = BucketCodec::default().decode(&mut stray).unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("fragment"),
        "{error}"
    );
}

#[test]
fn peer_list_with_an_unknown_address_type() {
    let mut codec = MoneroCodec::default();
    let mut wire = BytesMut::new();
    let response = umbra_wire::HandshakeResponse {
        node_data: handshake().node_data,
        payload_data: handshake().payload_data,
        local_peerlist_new: vec![umbra_wire::PeerListEntry {
            adr: umbra_wire::NetworkAddress::Ipv4("1.2.3.4:5".parse().unwrap()),
            id: 1,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            umbra_key: None,
            umbra_transports: None,
        }],
    };
    codec.encode(Message::from(response), &mut wire).unwrap();
    // The `type` field: name length, "type", the u8 marker, then the value.
    let at = wire.windows(6).position(|w| w == b"\x04type\x08").unwrap() + 6;
    wire[at] = 9;
    let error = match MoneroCodec::default().decode(&mut wire) {
        Err(CodecError::Decode {
            error: WireError::Body { source, .. },
            ..
        }) => source,
        other => panic!("{other:?}"),
    };
    assert_eq!(error.field_path(), ["local_peerlist_new", "adr", "type"]);
}
