//! One port, two worlds: the hybrid transport's sniffing over the in-memory transport.

#![cfg(feature = "noise")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umbra_identity::Identity;
use umbra_transport::{
    LocalAddr, Transport,
    hybrid::{HybridConfig, HybridTransport, LEVIN_SIGNATURE, PeerAddr},
    memory::MemoryTransport,
    noise::{self, DelayRange},
};

const WAIT: Duration = Duration::from_secs(10);

fn config(plain_levin: bool) -> HybridConfig {
    HybridConfig {
        plain_levin,
        sniff_timeout: Duration::from_millis(500),
        noise: noise::Config {
            probe_close_delay: DelayRange {
                min: Duration::from_millis(100),
                max: Duration::from_millis(300),
            },
            handshake_timeout: Duration::from_secs(1),
            ..noise::Config::default()
        },
        ..HybridConfig::default()
    }
}

async fn listener(
    net: &MemoryTransport,
    plain_levin: bool,
) -> (
    HybridTransport<MemoryTransport>,
    umbra_transport::hybrid::HybridListener<MemoryTransport>,
    PeerAddr,
) {
    let server = HybridTransport::new(
        net.with_local_ip("10.0.0.1".parse().unwrap()),
        Identity::generate(),
        config(plain_levin),
    );
    let listener = server
        .listen(&PeerAddr::plain("10.0.0.1:18080".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    (server, listener, addr)
}

#[tokio::test]
async fn plain_levin_passes_through_with_every_byte() {
    let net = MemoryTransport::new();
    let (server, mut listener, addr) = listener(&net, true).await;
    let (_r, mut w) = net.dial(&addr.addr).await.unwrap();
    let mut sent = LEVIN_SIGNATURE.to_vec();
    sent.extend_from_slice(b" and the rest of a levin header");
    w.write_all(&sent).await.unwrap();
    let (mut reader, _writer, from) = tokio::time::timeout(WAIT, listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!reader.is_encrypted());
    assert_eq!(from.key(), None);
    let mut got = vec![0u8; sent.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(got, sent);
    assert_eq!(server.stats().plain, 1);
}

#[tokio::test]
async fn umbra_peers_are_answered_encrypted_and_known_by_key() {
    let net = MemoryTransport::new();
    let (_server, mut listener, addr) = listener(&net, true).await;
    let client = HybridTransport::new(
        net.with_local_ip("10.0.0.2".parse().unwrap()),
        Identity::generate(),
        config(true),
    );
    let (mut reader, mut writer) = client.dial(&addr).await.unwrap();
    assert!(reader.is_encrypted());
    writer.write_all(b"ping").await.unwrap();
    writer.flush().await.unwrap();
    let (mut their_reader, mut their_writer, from) = tokio::time::timeout(WAIT, listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(from.key(), Some(client.public_key()));
    let mut buf = [0u8; 4];
    their_reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    their_writer.write_all(b"pong").await.unwrap();
    their_writer.flush().await.unwrap();
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
}

/// What a prober gets: no byte, and the end of the stream some time later.
async fn silence(net: &MemoryTransport, addr: &PeerAddr, send: &[u8]) -> Duration {
    let (mut r, mut w) = net.dial(&addr.addr).await.unwrap();
    w.write_all(send).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, r.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0)) || read.is_err(), "answered: {read:?}");
    started.elapsed()
}

#[tokio::test]
async fn stealth_mode_treats_levin_as_garbage() {
    let net = MemoryTransport::new();
    let (server, _listener, addr) = listener(&net, false).await;
    let mut handshake = LEVIN_SIGNATURE.to_vec();
    handshake.extend([0u8; 200]);
    let levin = silence(&net, &addr, &handshake).await;
    let garbage = silence(&net, &addr, &[0x42; 208]).await;
    // A few bytes and then nothing: the sniff times out, the responder stays silent.
    let stalled = silence(&net, &addr, &[1, 2, 3]).await;
    for elapsed in [levin, garbage] {
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
    }
    assert!(stalled >= Duration::from_millis(500), "{stalled:?}");
    let stats = server.stats();
    assert_eq!(
        (stats.plain, stats.encrypted, stats.refused),
        (0, 0, 3),
        "{stats:?}"
    );
    // Nor does it dial plain addresses.
    let error = server
        .dial(&PeerAddr::plain("10.0.0.9:18080".parse().unwrap()))
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn one_prober_cannot_take_every_place() {
    let net = MemoryTransport::new();
    let server = HybridTransport::new(
        net.with_local_ip("10.0.0.1".parse().unwrap()),
        Identity::generate(),
        HybridConfig {
            max_pending_per_ip: 2,
            noise: noise::Config {
                // Long enough to tell "held silent" from "closed at once" on a busy machine.
                probe_close_delay: DelayRange {
                    min: Duration::from_secs(3),
                    max: Duration::from_secs(4),
                },
                ..config(true).noise
            },
            ..config(true)
        },
    );
    let mut listener = server
        .listen(&PeerAddr::plain("10.0.0.1:18080".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // The prober holds two connections in the silent close ...
    let prober = net.with_local_ip("10.0.0.66".parse().unwrap());
    let mut held = Vec::new();
    for _ in 0..2 {
        let (r, mut w) = prober.dial(&addr.addr).await.unwrap();
        w.write_all(&[0x42; 208]).await.unwrap();
        held.push((r, w));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ... a third from it is closed at once ...
    let (mut r, _w) = prober.dial(&addr.addr).await.unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(1), r.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0)) || read.is_err());
    assert_eq!(server.stats().overloaded, 1);
    // ... while a peer from another address is served.
    let honest = net.with_local_ip("10.0.0.7".parse().unwrap());
    let (_r, mut w) = honest.dial(&addr.addr).await.unwrap();
    w.write_all(&LEVIN_SIGNATURE).await.unwrap();
    let (_reader, _writer, from) = tokio::time::timeout(WAIT, listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(from.addr.ip().to_string(), "10.0.0.7");
    drop(held);
}
