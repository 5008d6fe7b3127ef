//! Real bytes: monerod's levin fuzz corpus, and fragmented/padded frames checked by hand
//! against the rules of monerod's `make_fragmented_notify` and `make_noise_notify`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use bytes::{Bytes, BytesMut};
use common::decode_in_chunks;
use tokio_util::codec::{Decoder, Encoder};
use umbra_levin::{
    Bucket, BucketCodec, Flags, FrameKind, Header, MessageHead, MessageKind, Noise, NoiseSize,
};

/// monerod's `tests/data/fuzz/levin/LEVIN1`, as installed by Debian's `monero-tests`.
const LEVIN1: &[u8] = include_bytes!("data/LEVIN1");

#[test]
fn monerod_fuzz_corpus_levin1_decodes() {
    assert_eq!(LEVIN1.len(), 33);
    let header = Header::decode(LEVIN1.try_into().unwrap()).unwrap();
    assert_eq!(header.size, 0);
    assert!(header.have_to_return_data);
    assert_eq!(header.command, 2000);
    assert_eq!(header.return_code, 0x6100_0000);
    assert_eq!(header.flags, Flags::REQUEST);
    assert_eq!(
        header.frame_kind().unwrap(),
        FrameKind::Message(MessageKind::Request)
    );
    assert_eq!(header.to_bytes(), LEVIN1, "re-encodes byte for byte");
}

#[test]
fn monerod_fuzz_corpus_levin1_through_the_codec() {
    let mut codec = BucketCodec::default();
    let out = decode_in_chunks(&mut codec, LEVIN1, &[1, 7, 1, 24]).unwrap();
    assert_eq!(out.len(), 1);
    let bucket = &out[0];
    assert!(bucket.body.is_empty());
    assert_eq!(
        bucket.message_head(),
        Some(MessageHead {
            command: 2000,
            kind: MessageKind::Request,
            return_code: 0x6100_0000
        })
    );
    let mut again = BytesMut::new();
    codec.encode(bucket.clone(), &mut again).unwrap();
    assert_eq!(&again[..], LEVIN1);
}

/// Notification 1001 with a 30-byte body, padded to a 50-byte noise size: 17 payload
/// bytes per frame, 33 + 30 = 63 inner bytes, so four fragments and 5 bytes of padding.
const FRAGMENTED_50: &str = concat!(
    // fragment 1: BEGIN
    "0121010101010101", // signature
    "1100000000000000", // size 17
    "00",               // have_to_return_data
    "00000000",         // command 0
    "00000000",         // return code 0
    "04000000",         // flags BEGIN
    "01000000",         // version 1
    // inner bytes 0..17: signature, size 30, have_to_return_data
    "0121010101010101",
    "1e00000000000000",
    "00",
    // fragment 2: middle
    "0121010101010101",
    "1100000000000000",
    "00",
    "00000000",
    "00000000",
    "00000000", // no flag
    "01000000",
    // inner bytes 17..34: command 1001, return code 0, flags REQUEST, version 1, 'A'
    "e9030000",
    "00000000",
    "01000000",
    "01000000",
    "41",
    // fragment 3: middle
    "0121010101010101",
    "1100000000000000",
    "00",
    "00000000",
    "00000000",
    "00000000",
    "01000000",
    // inner bytes 34..51: "BCDEFGHIJKLMNOPQR"
    "42434445464748494a4b4c4d4e4f505152",
    // fragment 4: END
    "0121010101010101",
    "1100000000000000",
    "00",
    "00000000",
    "00000000",
    "08000000", // flags END
    "01000000",
    // inner bytes 51..63: "STUVWXYZ0123", then 5 bytes of zero padding
    "535455565758595a30313233",
    "0000000000",
);

const BODY_30: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123";

#[test]
fn fragmented_message_encodes_to_the_hand_checked_bytes() {
    let expected = hex::decode(FRAGMENTED_50).unwrap();
    assert_eq!(expected.len(), 4 * 50);
    let mut codec = BucketCodec::default().with_padding(NoiseSize::new(50));
    let mut dst = BytesMut::new();
    codec
        .encode(
            Bucket::new(MessageHead::notification(1001), Bytes::from_static(BODY_30)),
            &mut dst,
        )
        .unwrap();
    assert_eq!(hex::encode(&dst), FRAGMENTED_50);
}

#[test]
fn hand_checked_fragments_decode_to_the_message() {
    let stream = hex::decode(FRAGMENTED_50).unwrap();
    for chunks in [vec![], vec![1; 200], vec![49, 2, 50, 99]] {
        let out = decode_in_chunks(&mut BucketCodec::default(), &stream, &chunks).unwrap();
        assert_eq!(
            out,
            vec![Bucket::new(
                MessageHead::notification(1001),
                Bytes::from_static(BODY_30)
            )]
        );
    }
}

/// Notification 1001 with body "hi" fits in one 50-byte frame: the body is padded with
/// zeros and the header's size covers them.
const PADDED_50: &str = concat!(
    "0121010101010101",
    "1100000000000000", // size 17, not 2
    "00",
    "e9030000", // command 1001
    "00000000",
    "01000000", // flags REQUEST
    "01000000",
    "6869",                           // "hi"
    "000000000000000000000000000000", // 15 zeros
);

#[test]
fn small_message_is_padded_in_place_to_the_hand_checked_bytes() {
    let mut codec = BucketCodec::default().with_padding(NoiseSize::new(50));
    let mut dst = BytesMut::new();
    codec
        .encode(
            Bucket::new(MessageHead::notification(1001), Bytes::from_static(b"hi")),
            &mut dst,
        )
        .unwrap();
    assert_eq!(hex::encode(&dst), PADDED_50);

    // levin hands the padded body up unchanged: trailing zeros are the body parser's
    // business (epee ignores them).
    let bucket = BucketCodec::default().decode(&mut dst).unwrap().unwrap();
    assert_eq!(bucket.header.size, 17);
    assert_eq!(&bucket.body[..2], b"hi");
    assert!(bucket.body[2..].iter().all(|&b| b == 0));
}

#[test]
fn noise_frame_matches_the_hand_checked_bytes() {
    let mut dst = BytesMut::new();
    BucketCodec::default()
        .encode(Noise(NoiseSize::new(40).unwrap()), &mut dst)
        .unwrap();
    assert_eq!(
        hex::encode(&dst),
        concat!(
            "0121010101010101",
            "0700000000000000", // size 7
            "00",
            "00000000",
            "00000000",
            "0c000000", // BEGIN|END
            "01000000",
            "00000000000000",
        )
    );
    assert!(BucketCodec::default().decode(&mut dst).unwrap().is_none());
    assert!(dst.is_empty(), "noise is consumed and dropped");
}
