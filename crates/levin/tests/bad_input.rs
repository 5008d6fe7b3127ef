//! Every kind of bad input gets its own typed error, and none of them makes the codec
//! allocate beyond its limit.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::{Raw, Unknown, decode_in_chunks, frame, frame_header, message, raw_header};
use tokio_util::codec::{Decoder, Encoder};
use umbra_levin::{
    Bucket, BucketCodec, CodecError, DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PACKET_SIZE, FlagProblem,
    Flags, FragmentError, HEADER_SIZE, Header, HeaderError, INITIAL_MAX_PACKET_SIZE, Interleaving,
    LevinCodec, LevinError, MessageHead, NoiseSize, RESERVE_AHEAD, SIGNATURE,
};

fn buf(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}

fn head() -> MessageHead {
    MessageHead::notification(2002)
}

// ---------------------------------------------------------------- truncation

#[test]
fn truncated_header_waits_for_more_bytes() {
    let whole = message(head(), b"body");
    let mut codec = BucketCodec::default();
    for len in 0..HEADER_SIZE {
        let mut src = buf(&whole[..len]);
        assert!(codec.decode(&mut src).unwrap().is_none(), "{len} bytes");
        assert_eq!(src.len(), len, "nothing consumed at {len} bytes");
    }
}

#[test]
fn truncated_header_at_eof_is_an_error() {
    let whole = message(head(), b"body");
    let mut codec = BucketCodec::default();
    let mut src = buf(&whole[..20]);
    let err = codec.decode_eof(&mut src).unwrap_err();
    assert!(
        matches!(err, LevinError::EofInHeader { received: 20 }),
        "{err}"
    );
}

#[test]
fn truncated_body_waits_then_eof_is_an_error() {
    let whole = message(head(), b"0123456789");
    let mut codec = BucketCodec::default();
    let mut src = buf(&whole[..HEADER_SIZE + 4]);
    assert!(codec.decode(&mut src).unwrap().is_none());
    let err = codec.decode_eof(&mut src).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::EofInBody {
                command: 2002,
                received: 4,
                expected: 10
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "stream ended after 4 of the 10 body bytes of a frame with command 2002"
    );
}

#[test]
fn eof_on_a_frame_boundary_is_clean() {
    let mut codec = BucketCodec::default();
    let mut src = buf(&message(head(), b"x"));
    assert!(codec.decode_eof(&mut src).unwrap().is_some());
    assert!(codec.decode_eof(&mut src).unwrap().is_none());
}

// ---------------------------------------------------------------- header fields

#[test]
fn oversized_body_is_refused_from_the_header_alone() {
    let mut codec = BucketCodec::default();
    let size = INITIAL_MAX_PACKET_SIZE as u64 + 1;
    let mut src = buf(&raw_header(SIGNATURE, size, 0, 2002, 0, 1, 1));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Header(HeaderError::BodyTooLarge {
                size: 262_145,
                limit: 262_144
            })
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "body of 262145 bytes exceeds the limit of 262144"
    );
}

#[test]
fn header_claiming_2_pow_63_bytes_allocates_nothing() {
    for limit in [INITIAL_MAX_PACKET_SIZE, DEFAULT_MAX_PACKET_SIZE] {
        let mut codec = BucketCodec::new(limit);
        let mut src = BytesMut::with_capacity(HEADER_SIZE);
        src.put_slice(&raw_header(SIGNATURE, 1 << 63, 0, 2002, 0, 1, 1));
        let capacity = src.capacity();
        let err = codec.decode(&mut src).unwrap_err();
        assert!(matches!(
            err,
            LevinError::Header(HeaderError::BodyTooLarge { size, .. }) if size == 1 << 63
        ));
        assert_eq!(src.capacity(), capacity, "the buffer did not grow");
        assert_eq!(
            src.len(),
            HEADER_SIZE,
            "the refused header was not consumed"
        );
    }
}

#[test]
fn large_allowed_body_reserves_only_a_bounded_amount_ahead() {
    let mut codec = BucketCodec::new(DEFAULT_MAX_PACKET_SIZE);
    let mut src = BytesMut::with_capacity(HEADER_SIZE);
    src.put_slice(&raw_header(SIGNATURE, 90_000_000, 0, 2002, 0, 1, 1));
    assert!(codec.decode(&mut src).unwrap().is_none());
    assert!(
        src.capacity() <= 2 * RESERVE_AHEAD,
        "reserved {} bytes for a body that has not arrived",
        src.capacity()
    );
}

#[test]
fn wrong_signature_is_refused() {
    let mut codec = BucketCodec::default();
    let mut src = buf(&raw_header(0x0101_0101_0101_2102, 0, 0, 1, 0, 1, 1));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Header(HeaderError::BadSignature {
            found: 0x0101_0101_0101_2102
        })
    ));
    assert_eq!(
        err.to_string(),
        "bad levin signature 0x0101010101012102, expected 0x0101010101012101"
    );
}

#[test]
fn http_request_is_refused_after_eight_bytes() {
    let mut codec = BucketCodec::default();
    let mut src = buf(b"GET / HT");
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Header(HeaderError::BadSignature { found }) if found.to_le_bytes() == *b"GET / HT"
    ));
}

#[test]
fn wrong_protocol_version_is_refused() {
    let mut codec = BucketCodec::default();
    let mut src = buf(&raw_header(SIGNATURE, 0, 0, 1, 0, 1, 2));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Header(HeaderError::UnsupportedVersion { found: 2 })
    ));
}

#[test]
fn invalid_flag_combinations_are_refused() {
    for (flags, htrd, problem) in [
        (0x3, 0, FlagProblem::RequestAndResponse),
        (0x11, 0, FlagProblem::UnknownBits),
        (0x9, 1, FlagProblem::FragmentFlagOnMessage),
        (0x2, 1, FlagProblem::ResponseExpectsResponse),
        (0x0, 1, FlagProblem::FragmentExpectsResponse),
    ] {
        let mut codec = BucketCodec::default();
        let mut src = buf(&raw_header(SIGNATURE, 0, htrd, 1, 0, flags, 1));
        let err = codec.decode(&mut src).unwrap_err();
        assert!(
            matches!(
                err,
                LevinError::Header(HeaderError::InvalidFlags { problem: p, .. }) if p == problem
            ),
            "flags {flags:#x}: {err}"
        );
    }
}

#[test]
fn fields_monerod_ignores_are_accepted() {
    // A request with a non-zero return code, and noise with a non-zero command.
    let mut stream = raw_header(SIGNATURE, 0, 1, 1001, -7, 1, 1);
    stream.extend(raw_header(SIGNATURE, 2, 0, 99, 5, 0xC, 1));
    stream.extend([0, 0]);
    let out = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].header.return_code, -7);
}

// ---------------------------------------------------------------- fragments

fn inner(body: &[u8]) -> Vec<u8> {
    message(head(), body)
}

#[test]
fn middle_fragment_without_begin_is_refused() {
    let mut codec = BucketCodec::default();
    let mut src = buf(&frame(Flags::NONE, b"abc"));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::WithoutBegin { flags: Flags::NONE })
    ));
}

#[test]
fn end_fragment_without_begin_is_refused() {
    let mut codec = BucketCodec::default();
    let mut src = buf(&frame(Flags::END, b"abc"));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::WithoutBegin { flags: Flags::END })
    ));
}

#[test]
fn interleaved_message_is_refused_when_told_to() {
    let whole = inner(b"0123456789");
    let mut stream = frame(Flags::BEGIN, &whole[..20]);
    stream.extend(message(MessageHead::request(1002), b""));
    let mut codec = BucketCodec::default().with_interleaving(Interleaving::Reject);
    let err = decode_in_chunks(&mut codec, &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::Interleaved { command: 1002 })
    ));
}

#[test]
fn interleaved_message_is_delivered_by_default_as_monerod_does() {
    let whole = inner(b"0123456789");
    let mut stream = frame(Flags::BEGIN, &whole[..20]);
    stream.extend(message(MessageHead::request(1002), b"sync"));
    stream.extend(frame(Flags::NONE, &whole[20..30]));
    stream.extend(frame(Flags::BEGIN | Flags::END, &[0; 9]));
    stream.extend(frame(Flags::END, &whole[30..]));
    let out = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].header.command, 1002);
    assert_eq!(&out[0].body[..], b"sync");
    assert_eq!(
        out[1],
        Bucket::new(head(), Bytes::from_static(b"0123456789"))
    );
}

#[test]
fn begin_restarts_an_open_message_as_monerod_does() {
    let stale = inner(b"stale message");
    let fresh = inner(b"fresh");
    let mut stream = frame(Flags::BEGIN, &stale[..30]);
    stream.extend(frame(Flags::BEGIN, &fresh[..30]));
    stream.extend(frame(Flags::END, &fresh[30..]));
    let out = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap();
    assert_eq!(out, vec![Bucket::new(head(), Bytes::from_static(b"fresh"))]);
}

#[test]
fn fragment_bytes_beyond_the_limit_are_refused_from_the_header() {
    let mut codec = BucketCodec::new(1000);
    let mut src = BytesMut::new();
    src.put_slice(&frame(Flags::BEGIN, &inner(&[1; 400])[..400]));
    src.put_slice(&frame(Flags::NONE, &[2; 400]));
    assert!(codec.decode(&mut src).unwrap().is_none());
    // Only the header of the third fragment: refused before its body is read.
    src.put_slice(&frame_header(Flags::NONE, 400));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Fragment(FragmentError::TooLarge {
                size: 1200,
                limit: 1000
            })
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "fragments carrying 1200 bytes exceed the limit of 1000"
    );
}

#[test]
fn too_many_fragments_are_refused() {
    let mut codec = BucketCodec::default().with_max_fragments(3);
    let whole = inner(&[5; 100]);
    let mut stream = frame(Flags::BEGIN, &whole[..40]);
    stream.extend(frame(Flags::NONE, &whole[40..80]));
    stream.extend(frame(Flags::NONE, &whole[80..100]));
    stream.extend(frame(Flags::END, &whole[100..]));
    let err = decode_in_chunks(&mut codec, &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::TooManyFragments { count: 4, limit: 3 })
    ));
}

#[test]
fn endless_empty_fragments_hit_the_fragment_limit() {
    let mut stream = frame(Flags::BEGIN, &[]);
    for _ in 0..DEFAULT_MAX_FRAGMENTS {
        stream.extend(frame(Flags::NONE, &[]));
    }
    let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::TooManyFragments { count, limit })
            if count == DEFAULT_MAX_FRAGMENTS + 1 && limit == DEFAULT_MAX_FRAGMENTS
    ));
}

#[test]
fn invalid_inner_header_is_refused() {
    let mut bad = inner(b"x");
    bad[0] = 0xFF;
    let stream = frame(Flags::BEGIN, &bad);
    let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Fragment(FragmentError::InvalidInnerHeader(
                HeaderError::BadSignature { .. }
            ))
        ),
        "{err}"
    );
}

#[test]
fn inner_header_beyond_the_limit_is_refused() {
    let mut big = raw_header(SIGNATURE, 5000, 0, 2002, 0, 1, 1);
    big.extend([0; 10]);
    let stream = frame(Flags::BEGIN, &big);
    let err = decode_in_chunks(&mut BucketCodec::new(1000), &stream, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Fragment(FragmentError::TooLarge {
                size: 5033,
                limit: 1000
            })
        ),
        "{err}"
    );
}

#[test]
fn inner_size_beyond_the_reassembled_bytes_is_refused() {
    let mut lying = raw_header(SIGNATURE, 100, 0, 2002, 0, 1, 1);
    lying.extend([7; 50]);
    let mut stream = frame(Flags::BEGIN, &lying[..40]);
    stream.extend(frame(Flags::END, &lying[40..]));
    let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Fragment(FragmentError::InnerSizeExceedsReassembled {
                announced: 100,
                available: 50
            })
        ),
        "{err}"
    );
}

#[test]
fn end_before_the_inner_header_is_complete_is_refused() {
    let whole = inner(b"abc");
    let mut stream = frame(Flags::BEGIN, &whole[..10]);
    stream.extend(frame(Flags::END, &whole[10..20]));
    let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::TooShortForHeader { len: 20 })
    ));
}

#[test]
fn nested_fragments_are_refused() {
    for flags in [
        Flags::BEGIN,
        Flags::NONE,
        Flags::END,
        Flags::BEGIN | Flags::END,
    ] {
        let nested = frame(flags, b"");
        let stream = frame(Flags::BEGIN, &nested);
        let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
        assert!(
            matches!(err, LevinError::Fragment(FragmentError::Nested { flags: f }) if f == flags),
            "{err}"
        );
    }
}

#[test]
fn eof_inside_a_fragmented_message_is_an_error() {
    let whole = inner(b"abcdef");
    let stream = frame(Flags::BEGIN, &whole[..35]);
    let err = decode_in_chunks(&mut BucketCodec::default(), &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::UnfinishedAtEof {
            fragments: 1,
            bytes: 35
        })
    ));
}

#[test]
fn open_fragments_count_against_the_limit_of_interleaved_messages() {
    let whole = inner(&[3; 600]);
    let mut stream = frame(Flags::BEGIN, &whole[..600]);
    stream.extend(raw_header(SIGNATURE, 500, 1, 1003, 0, 1, 1));
    let err = decode_in_chunks(&mut BucketCodec::new(1000), &stream, &[]).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Header(HeaderError::BodyTooLarge {
            size: 500,
            limit: 400
        })
    ));
}

// ---------------------------------------------------------------- message set

#[test]
fn body_error_of_the_message_set_is_wrapped_with_its_command() {
    let mut codec = LevinCodec::<Raw>::default();
    let mut src = buf(&message(MessageHead::request(666), b"abc"));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        CodecError::Decode {
            command: 666,
            size: 3,
            error: Unknown(666),
            ..
        }
    ));
}

#[test]
fn levin_errors_pass_through_the_message_codec() {
    let mut codec = LevinCodec::<Raw>::default();
    let mut src = buf(&frame(Flags::END, b""));
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(
        err,
        CodecError::Levin(LevinError::Fragment(FragmentError::WithoutBegin { .. }))
    ));
}

// ---------------------------------------------------------------- encoder

#[test]
fn encoder_refuses_fragment_headers() {
    let mut codec = BucketCodec::default();
    let bucket = Bucket {
        header: Header::frame(Flags::BEGIN, 0),
        body: Bytes::new(),
    };
    let mut dst = BytesMut::new();
    let err = codec.encode(bucket, &mut dst).unwrap_err();
    assert!(matches!(
        err,
        LevinError::Header(HeaderError::InvalidFlags {
            problem: FlagProblem::NotAMessage,
            ..
        })
    ));
    assert!(dst.is_empty());
}

#[test]
fn encoder_refuses_more_fragments_than_allowed() {
    let mut codec = BucketCodec::default()
        .with_padding(NoiseSize::new(64))
        .with_max_fragments(2);
    let mut dst = BytesMut::from(&b"x"[..]);
    let err = codec
        .encode(Bucket::new(head(), Bytes::from(vec![0; 100])), &mut dst)
        .unwrap_err();
    assert!(matches!(
        err,
        LevinError::Fragment(FragmentError::TooManyFragments { count: 5, limit: 2 })
    ));
    assert_eq!(&dst[..], b"x", "the buffer is rolled back");
}

#[test]
fn encoder_refuses_fragments_beyond_the_limit() {
    let mut codec = BucketCodec::new(100).with_padding(NoiseSize::new(64));
    let mut dst = BytesMut::new();
    let err = codec
        .encode(Bucket::new(head(), Bytes::from(vec![0; 90])), &mut dst)
        .unwrap_err();
    assert!(
        matches!(
            err,
            LevinError::Fragment(FragmentError::TooLarge {
                size: 124,
                limit: 100
            })
        ),
        "{err}"
    );
    assert!(dst.is_empty());
}
