//! How fast a Noise session moves bulk data over loopback TCP, next to how fast one core
//! seals the same bytes with the same AEAD. Ignored by default (it wants a release build
//! and a quiet machine):
//!
//! ```sh
//! cargo test --release -p umbra-transport --test noise_throughput -- --ignored --nocapture
//! ```
//!
//! `UMBRA_NOISE_BYTES` overrides the amount (default 1 GiB); `UMBRA_NOISE_ONLY=1` runs the
//! Noise transfer alone (for a profiler).

#![cfg(feature = "noise")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use snow::{
    params::CipherChoice,
    resolvers::{CryptoResolver, RingResolver},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umbra_transport::{
    Keyed, LocalAddr, Tcp, Transport,
    noise::{Config, Identity, NoiseTransport},
};

fn total() -> usize {
    std::env::var("UMBRA_NOISE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

fn rate(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

/// CPU time of the whole process (every thread, user and system), from `/proc/self/stat`
/// (10 ms ticks): on a shared machine, MB per CPU-second says more than MB per second.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A rate by wall time, and by CPU time.
#[derive(Debug, Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
}

async fn measure<F: Future<Output = usize>>(run: F) -> Rate {
    let (started, cpu) = (Instant::now(), cpu_time());
    let bytes = run.await;
    Rate {
        wall: rate(bytes, started.elapsed()),
        cpu: rate(bytes, cpu_time() - cpu),
    }
}

/// Seals `total` bytes in 65,519-byte records (the largest body) on this core with
/// ring's ChaCha20-Poly1305 (through snow's ring resolver, which copies the plaintext
/// first; the records seal in place, so this is if anything a little slow).
fn aead_single_core(total: usize) -> usize {
    let mut cipher = RingResolver
        .resolve_cipher(&CipherChoice::ChaChaPoly)
        .unwrap();
    cipher.set(&[7u8; 32]);
    let plain = vec![0x42u8; 65_519];
    let mut out = vec![0u8; 65_519 + 16];
    let mut done = 0;
    let mut nonce = 0;
    while done < total {
        cipher.encrypt(nonce, &[], &plain, &mut out);
        nonce += 1;
        done += plain.len();
    }
    done
}

async fn noise_over_tcp(total: usize, config: Config) -> Rate {
    let server = NoiseTransport::new(Tcp::default(), Identity::generate(), config.clone());
    let client = NoiseTransport::new(Tcp::default(), Identity::generate(), config);
    let bind = Keyed::new("127.0.0.1:0".parse().unwrap(), server.public_key());
    let mut listener = server.listen(&bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_, mut writer) = client.dial(&addr).await.unwrap();
    let (mut reader, _writer, _) = listener.next().await.unwrap().unwrap();
    measure(async move {
        let send = tokio::spawn(async move {
            let block = vec![0x42u8; 1 << 20];
            let mut sent = 0;
            while sent < total {
                let len = block.len().min(total - sent);
                writer.write_all(&block[..len]).await.unwrap();
                sent += len;
            }
            writer.shutdown().await.unwrap();
        });
        let mut buf = vec![0u8; 1 << 20];
        let mut received = 0;
        loop {
            let n = reader.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            received += n;
        }
        send.await.unwrap();
        assert_eq!(received, total);
        received
    })
    .await
}

async fn plain_tcp(total: usize) -> Rate {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    measure(async move {
        let send = tokio::spawn(async move {
            let block = vec![0x42u8; 1 << 20];
            let mut sent = 0;
            while sent < total {
                let len = block.len().min(total - sent);
                client.write_all(&block[..len]).await.unwrap();
                sent += len;
            }
        });
        let mut buf = vec![0u8; 1 << 20];
        let mut received = 0;
        while received < total {
            received += server.read(&mut buf).await.unwrap();
        }
        send.await.unwrap();
        received
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a throughput measurement: run in release with --ignored --nocapture"]
async fn bulk_throughput_against_the_aead() {
    let total = total();
    if std::env::var_os("UMBRA_NOISE_ONLY").is_some() {
        // For profiling: the Noise transfer alone.
        let noise = noise_over_tcp(total, Config::default()).await;
        eprintln!("Noise (default): {:.0} / {:.0}", noise.wall, noise.cpu);
        return;
    }
    let aead = measure(async { aead_single_core(total) }).await;
    let tcp = plain_tcp(total).await;
    let noise = noise_over_tcp(total, Config::default()).await;
    let unpadded = noise_over_tcp(
        total,
        Config {
            padding: umbra_transport::noise::Padding::None,
            ..Config::default()
        },
    )
    .await;
    // Sender and receiver each keep a core busy: with two free cores the wall rate would
    // be about twice the rate per CPU-second.
    eprintln!(
        "{} MiB over 127.0.0.1 (wall MB/s, MB per CPU-second):\n  \
         AEAD, one core:  {:.0} / {:.0}\n  plain TCP:       {:.0} / {:.0}\n  \
         Noise (default): {:.0} / {:.0}  = {:.0} % of the AEAD by wall time, {:.0} % with two \
         free cores (2 x per-CPU rate)\n  Noise, no padding: {:.0} / {:.0}",
        total >> 20,
        aead.wall,
        aead.cpu,
        tcp.wall,
        tcp.cpu,
        noise.wall,
        noise.cpu,
        100.0 * noise.wall / aead.cpu,
        100.0 * 2.0 * noise.cpu / aead.cpu,
        unpadded.wall,
        unpadded.cpu,
    );
}
