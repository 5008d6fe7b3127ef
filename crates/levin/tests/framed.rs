//! The codecs driving real async streams through `tokio_util`'s `Framed`, the way a
//! connection task uses them.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::Raw;
use futures::{SinkExt, StreamExt};
use tokio_util::codec::{FramedRead, FramedWrite};
use umbra_levin::{
    CodecError, DEFAULT_MAX_PACKET_SIZE, HeaderError, LevinCodec, LevinError, MessageHead, Noise,
    NoiseSize,
};

fn raw(head: MessageHead, len: usize) -> Raw {
    Raw {
        head,
        body: Bytes::from((0..len).map(|i| (i % 253) as u8).collect::<Vec<_>>()),
    }
}

#[tokio::test]
async fn limit_raised_after_handshake_admits_large_messages() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut writer = FramedWrite::new(client, LevinCodec::<Raw>::new(DEFAULT_MAX_PACKET_SIZE));
    let mut reader = FramedRead::new(server, LevinCodec::<Raw>::default());

    let send = tokio::spawn(async move {
        writer
            .send(raw(MessageHead::request(1001), 200))
            .await
            .unwrap();
        writer
            .send(raw(MessageHead::notification(2001), 1_000_000))
            .await
            .unwrap();
        writer
    });

    let handshake = reader.next().await.unwrap().unwrap();
    assert_eq!(handshake, raw(MessageHead::request(1001), 200));
    reader
        .decoder_mut()
        .set_max_packet_size(DEFAULT_MAX_PACKET_SIZE);
    let block = reader.next().await.unwrap().unwrap();
    assert_eq!(block, raw(MessageHead::notification(2001), 1_000_000));
    drop(send.await.unwrap());
    assert!(reader.next().await.is_none(), "clean end of stream");
}

#[tokio::test]
async fn large_message_before_handshake_is_refused() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut writer = FramedWrite::new(client, LevinCodec::<Raw>::new(DEFAULT_MAX_PACKET_SIZE));
    let mut reader = FramedRead::new(server, LevinCodec::<Raw>::default());
    let send = tokio::spawn(async move {
        // The reader stops reading after the error, so this send may not complete.
        let _ = writer
            .send(raw(MessageHead::notification(2001), 300_000))
            .await;
    });
    let err = reader.next().await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        CodecError::Levin(LevinError::Header(HeaderError::BodyTooLarge {
            size: 300_000,
            limit: 262_144
        }))
    ));
    drop(reader);
    send.await.unwrap();
}

#[tokio::test]
async fn padded_link_carries_messages_between_noise() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut codec = LevinCodec::<Raw>::default();
    codec.set_padding(Some(NoiseSize::MONEROD));
    let mut writer = FramedWrite::new(client, codec);
    let mut reader = FramedRead::new(server, LevinCodec::<Raw>::default());

    let send = tokio::spawn(async move {
        writer.send(Noise(NoiseSize::MONEROD)).await.unwrap();
        writer
            .send(raw(MessageHead::notification(2002), 20_000))
            .await
            .unwrap();
        writer.send(Noise(NoiseSize::MONEROD)).await.unwrap();
        writer
            .send(raw(MessageHead::request(1002), 10_000))
            .await
            .unwrap();
    });

    let first = reader.next().await.unwrap().unwrap();
    assert_eq!(first, raw(MessageHead::notification(2002), 20_000));
    let second = reader.next().await.unwrap().unwrap();
    assert_eq!(second, raw(MessageHead::request(1002), 10_000));
    send.await.unwrap();
    assert!(reader.next().await.is_none());
}
