//! Properties of the codecs over generated input: round trips whatever the split points of
//! the byte stream, padded or not, and no panic or runaway buffer on garbage.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{Raw, decode_in_chunks};
use proptest::prelude::*;
use tokio_util::codec::Encoder;
use umbra_levin::{
    Bucket, BucketCodec, Flags, FrameKind, HEADER_SIZE, Header, LevinCodec, MessageHead,
    MessageKind, Noise, NoiseSize, RESERVE_AHEAD,
};

fn kind() -> impl Strategy<Value = MessageKind> {
    prop_oneof![
        Just(MessageKind::Request),
        Just(MessageKind::Response),
        Just(MessageKind::Notification),
    ]
}

fn head() -> impl Strategy<Value = MessageHead> {
    (any::<u32>(), kind(), any::<i32>()).prop_map(|(command, kind, return_code)| MessageHead {
        command,
        kind,
        return_code,
    })
}

fn valid_header() -> impl Strategy<Value = Header> {
    let frame_flags = prop_oneof![
        Just(Flags::BEGIN),
        Just(Flags::NONE),
        Just(Flags::END),
        Just(Flags::BEGIN | Flags::END),
    ];
    prop_oneof![
        (head(), any::<u64>()).prop_map(|(head, size)| Header::new(head, size)),
        (frame_flags, any::<u64>(), any::<u32>(), any::<i32>()).prop_map(
            |(flags, size, command, return_code)| Header {
                command,
                return_code,
                ..Header::frame(flags, size)
            }
        ),
    ]
}

fn bucket(max_body: usize) -> impl Strategy<Value = Bucket> {
    (head(), proptest::collection::vec(any::<u8>(), 0..max_body))
        .prop_map(|(head, body)| Bucket::new(head, Bytes::from(body)))
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..300, 0..64)
}

/// What to put on a padded link: a message, or a noise frame.
#[derive(Debug, Clone)]
enum Send {
    Message(Bucket),
    Noise,
}

fn sends() -> impl Strategy<Value = Vec<Send>> {
    proptest::collection::vec(
        prop_oneof![
            4 => bucket(1500).prop_map(Send::Message),
            1 => Just(Send::Noise),
        ],
        0..8,
    )
}

proptest! {
    #[test]
    fn header_round_trips(header in valid_header()) {
        let bytes = header.to_bytes();
        prop_assert_eq!(Header::decode(&bytes), Ok(header));
    }

    #[test]
    fn any_33_bytes_decode_to_an_error_or_re_encode_exactly(
        bytes in proptest::collection::vec(any::<u8>(), HEADER_SIZE),
        valid_prefix in any::<bool>(),
    ) {
        let mut bytes: [u8; HEADER_SIZE] = bytes.try_into().unwrap();
        if valid_prefix {
            bytes[..8].copy_from_slice(&umbra_levin::SIGNATURE.to_le_bytes());
            bytes[29..].copy_from_slice(&1u32.to_le_bytes());
        }
        if let Ok(header) = Header::decode(&bytes) {
            prop_assert!(header.frame_kind().is_ok());
            if bytes[16] <= 1 {
                prop_assert_eq!(header.to_bytes(), bytes);
            }
        }
    }

    #[test]
    fn kind_derivation_agrees_with_the_header(header in valid_header()) {
        let derived = MessageKind::from_flags(header.flags, header.have_to_return_data);
        match header.frame_kind().unwrap() {
            FrameKind::Message(kind) => prop_assert_eq!(derived, Some(kind)),
            _ => prop_assert_eq!(derived, None),
        }
    }

    #[test]
    fn buckets_round_trip_over_arbitrary_splits(
        buckets in proptest::collection::vec(bucket(2000), 0..8),
        chunks in chunks(),
    ) {
        let mut codec = BucketCodec::default();
        let mut stream = BytesMut::new();
        for bucket in &buckets {
            codec.encode(bucket.clone(), &mut stream).unwrap();
        }
        let expected_len: usize = buckets.iter().map(|b| HEADER_SIZE + b.body.len()).sum();
        prop_assert_eq!(stream.len(), expected_len);
        let out = decode_in_chunks(&mut BucketCodec::default(), &stream, &chunks).unwrap();
        prop_assert_eq!(out, buckets);
    }

    #[test]
    fn messages_round_trip_over_arbitrary_splits(
        buckets in proptest::collection::vec(bucket(2000), 0..8),
        chunks in chunks(),
    ) {
        let sent: Vec<Raw> = buckets
            .into_iter()
            .map(|b| Raw { head: b.message_head().unwrap(), body: b.body })
            .filter(|m| m.head.command != 666)
            .collect();
        let mut codec = LevinCodec::<Raw>::default();
        let mut stream = BytesMut::new();
        for message in &sent {
            codec.encode(message.clone(), &mut stream).unwrap();
        }
        let out = decode_in_chunks(&mut LevinCodec::<Raw>::default(), &stream, &chunks).unwrap();
        prop_assert_eq!(out, sent);
    }

    #[test]
    fn padded_link_round_trips_over_arbitrary_splits(
        noise in 34usize..400,
        sends in sends(),
        chunks in chunks(),
    ) {
        let noise = NoiseSize::new(noise).unwrap();
        let mut encoder = BucketCodec::default()
            .with_padding(Some(noise))
            .with_max_fragments(usize::MAX);
        let mut stream = BytesMut::new();
        for send in &sends {
            match send {
                Send::Message(bucket) => encoder.encode(bucket.clone(), &mut stream).unwrap(),
                Send::Noise => encoder.encode(Noise(noise), &mut stream).unwrap(),
            }
            prop_assert_eq!(stream.len() % noise.get(), 0, "every frame is noise-sized");
        }
        let mut decoder = BucketCodec::default().with_max_fragments(usize::MAX);
        let out = decode_in_chunks(&mut decoder, &stream, &chunks).unwrap();
        let sent: Vec<&Bucket> = sends
            .iter()
            .filter_map(|s| match s {
                Send::Message(b) => Some(b),
                Send::Noise => None,
            })
            .collect();
        prop_assert_eq!(out.len(), sent.len());
        for (got, want) in out.iter().zip(sent) {
            prop_assert_eq!(got.message_head(), want.message_head());
            if HEADER_SIZE + want.body.len() <= noise.get() {
                // Sent whole, with zeros appended to the body.
                prop_assert_eq!(got.body.len(), noise.payload_space());
                prop_assert_eq!(&got.body[..want.body.len()], &want.body[..]);
                prop_assert!(got.body[want.body.len()..].iter().all(|&b| b == 0));
            } else {
                prop_assert_eq!(got, want);
            }
        }
        prop_assert!(!decoder.is_reassembling());
    }

    #[test]
    fn garbage_never_panics_nor_grows_the_buffer_unbounded(
        frames in proptest::collection::vec(
            (0u32..16, 0u8..2, 0u64..600, proptest::collection::vec(any::<u8>(), 0..600)),
            0..12,
        ),
        chunks in chunks(),
    ) {
        let mut stream = Vec::new();
        for (flags, htrd, size, body) in frames {
            stream.extend(common::raw_header(umbra_levin::SIGNATURE, size, htrd, 0, 0, flags, 1));
            stream.extend(body);
        }
        let mut codec = BucketCodec::new(1000).with_max_fragments(8);
        let mut buf = BytesMut::new();
        let mut rest = &stream[..];
        let mut sizes = chunks.iter().copied();
        while !rest.is_empty() {
            let take = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            match tokio_util::codec::Decoder::decode(&mut codec, &mut buf) {
                Ok(Some(bucket)) => {
                    prop_assert_eq!(bucket.header.size, bucket.body.len() as u64);
                    prop_assert!(bucket.body.len() <= 1000);
                }
                Ok(None) => {}
                Err(_) => break,
            }
            prop_assert!(buf.capacity() <= stream.len() + 2 * RESERVE_AHEAD);
        }
    }
}
