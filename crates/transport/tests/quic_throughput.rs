//! QUIC throughput over 127.0.0.1, run by hand in release mode:
//!
//! ```text
//! cargo test --release -p umbra-transport --test quic_throughput -- --ignored --nocapture
//! ```
//!
//! Sends 1 GiB from a dialler to a listener in one process, over one stream and over eight
//! streams of one connection, and prints MB/s (10^6 bytes per second). Ignored by default:
//! it is a measurement, not a check.

#![cfg(feature = "quic")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Transport,
    quic::{QuicConfig, QuicTransport},
};

const TOTAL: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;

async fn run(streams: u64) -> f64 {
    let alice = Identity::generate();
    let server = QuicTransport::new(&alice, QuicConfig::default()).unwrap();
    let mut listener = server
        .listen(&Keyed::new("127.0.0.1:0".parse().unwrap(), alice.public()))
        .await
        .unwrap();
    let alice_at = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let (mut reader, mut writer, _) = listener.next().await.unwrap().unwrap();
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; CHUNK];
                let mut got = 0u64;
                loop {
                    let n = reader.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got += n as u64;
                }
                writer.write_all(&got.to_le_bytes()).await.unwrap();
                writer.shutdown().await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });

    let client = QuicTransport::new(
        &Identity::generate(),
        QuicConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..QuicConfig::default()
        },
    )
    .unwrap();
    // The handshake is not part of the measurement.
    let mut dialled = Vec::new();
    for _ in 0..streams {
        dialled.push(client.dial(&alice_at).await.unwrap());
    }
    let per_stream = TOTAL / streams;
    let start = Instant::now();
    let senders = dialled.into_iter().map(|(mut reader, mut writer)| {
        tokio::spawn(async move {
            let chunk = vec![0x5au8; CHUNK];
            let mut sent = 0u64;
            while sent < per_stream {
                writer.write_all(&chunk).await.unwrap();
                sent += CHUNK as u64;
            }
            writer.shutdown().await.unwrap();
            let mut got = [0u8; 8];
            reader.read_exact(&mut got).await.unwrap();
            assert_eq!(u64::from_le_bytes(got), sent);
        })
    });
    tokio::time::timeout(
        Duration::from_secs(120),
        futures::future::try_join_all(senders),
    )
    .await
    .expect("1 GiB took over 2 minutes")
    .unwrap();
    let elapsed = start.elapsed();
    sink.await.unwrap();
    assert_eq!(client.stats().connections_dialled, 1);
    TOTAL as f64 / elapsed.as_secs_f64() / 1e6
}

/// Plain TCP the same way, for scale on the machine at hand.
async fn tcp_baseline() -> f64 {
    let tcp = umbra_transport::Tcp::default();
    let mut listener = tcp.listen(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let (mut reader, _writer, _) = listener.next().await.unwrap().unwrap();
        let mut buf = vec![0u8; CHUNK];
        while reader.read(&mut buf).await.unwrap() > 0 {}
    });
    let (_reader, mut writer) = tcp.dial(&addr).await.unwrap();
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < TOTAL {
        writer.write_all(&chunk).await.unwrap();
        sent += CHUNK as u64;
    }
    writer.shutdown().await.unwrap();
    sink.await.unwrap();
    TOTAL as f64 / start.elapsed().as_secs_f64() / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand in release mode"]
async fn quic_throughput_one_and_eight_streams() {
    println!("TCP, 1 GiB, for scale: {:.0} MB/s", tcp_baseline().await);
    for streams in [1, 8] {
        let rate = run(streams).await;
        println!("QUIC, 1 GiB over {streams} stream(s) of one connection: {rate:.0} MB/s");
    }
}
