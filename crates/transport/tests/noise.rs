//! Umbra's Noise transport, end to end: sessions over the in-memory transport and real
//! TCP on 127.0.0.1, what a passive observer sees (no fixed bytes, no fixed lengths), what
//! an active prober gets (nothing, then a close at a random time), bad input on an
//! established session, and a 1 GiB transfer through hundreds of rekeys.

#![cfg(feature = "noise")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::StreamExt;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use umbra_transport::{
    Keyed, LocalAddr, Tcp, Transport,
    memory::MemoryTransport,
    noise::{
        Config, DelayRange, Established, HandshakeError, Identity, InitiatorHandshake, NoiseStats,
        NoiseTransport, Padding, RecordError, ReplayFilter, Responder, ResponderHandshake,
        handshake::{MSG1_LEN, MSG2_LEN, unix_ms_now},
        initiate,
        record::{HEADER_LEN, RecordHeader},
        respond,
    },
};

/// Short timeouts, so probes finish quickly: handshakes give up after 300 ms, failed ones
/// are closed 500–900 ms after they began.
fn fast_config() -> Config {
    Config {
        handshake_timeout: Duration::from_millis(300),
        probe_close_delay: DelayRange::new(Duration::from_millis(500), Duration::from_millis(900)),
        ..Config::default()
    }
}

/// An `AsyncWrite` that records every write.
struct Tap<W> {
    inner: W,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Tap<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.writes.lock().unwrap().push(buf[..*n].to_vec());
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An `AsyncRead` that counts the bytes it passes on.
struct Counting<R> {
    inner: R,
    count: Arc<Mutex<usize>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        *self.count.lock().unwrap() += buf.filled().len() - before;
        poll
    }
}

async fn echo_once<R, W>(reader: &mut R, writer: &mut W, len: usize)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; len];
    reader.read_exact(&mut buf).await.unwrap();
    writer.write_all(&buf).await.unwrap();
    writer.flush().await.unwrap();
}

/// Dials `addr`, sends `message` and reads the echo, while the listener side accepts
/// and echoes; both ends then close cleanly. Returns the listener side's view of the
/// dialler.
async fn round_trip<T: Transport>(
    client: &NoiseTransport<T>,
    listener: &mut <NoiseTransport<T> as Transport>::Listener,
    addr: &Keyed<T::Addr>,
    message: &[u8],
) -> Keyed<T::Addr> {
    let dialler = async {
        let (mut reader, mut writer) = client.dial(addr).await.unwrap();
        assert_eq!(reader.remote_key(), addr.key);
        writer.write_all(message).await.unwrap();
        writer.flush().await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        reader.read_exact(&mut echoed).await.unwrap();
        assert_eq!(echoed, message);
        writer.shutdown().await.unwrap();
        assert_eq!(reader.read(&mut [0u8; 16]).await.unwrap(), 0);
    };
    let accepter = async {
        let (mut reader, mut writer, from) = listener.next().await.unwrap().unwrap();
        assert_eq!(reader.remote_key(), client.public_key());
        echo_once(&mut reader, &mut writer, message.len()).await;
        // A clean end in both directions.
        assert_eq!(reader.read(&mut [0u8; 16]).await.unwrap(), 0);
        writer.shutdown().await.unwrap();
        from
    };
    tokio::join!(dialler, accepter).1
}

#[tokio::test]
async fn sessions_carry_data_both_ways_over_memory_and_report_the_dialler_key() {
    let net = MemoryTransport::new();
    let server = NoiseTransport::new(net.clone(), Identity::generate(), Config::default());
    let client = NoiseTransport::new(
        net.with_local_ip("10.9.9.9".parse().unwrap()),
        Identity::generate(),
        Config::default(),
    );
    let addr = Keyed::new("10.0.0.1:18080".parse().unwrap(), server.public_key());
    let mut listener = server.listen(&addr).await.unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
    for len in [1usize, 100, 70_000, 300_000] {
        let message: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let from = round_trip(&client, &mut listener, &addr, &message).await;
        assert_eq!(from.key, client.public_key());
        assert_eq!(from.addr.ip().to_string(), "10.9.9.9");
    }
    let stats = server.stats();
    assert_eq!(stats.responded_ok, 4);
    assert_eq!(stats.initiated_ok, 0, "the client has its own counters");
    assert_eq!(client.stats().initiated_ok, 4);
    assert_eq!(stats.refused(), 0);
    assert_eq!(stats.records_rejected + stats.streams_truncated, 0);
}

#[tokio::test]
async fn sessions_carry_data_both_ways_over_tcp() {
    let server = NoiseTransport::new(Tcp::default(), Identity::generate(), Config::default());
    let client = NoiseTransport::new(Tcp::default(), Identity::generate(), Config::default());
    let bind = Keyed::new("127.0.0.1:0".parse().unwrap(), server.public_key());
    let mut listener = server.listen(&bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.addr.port(), 0);
    assert_eq!(
        addr.to_string(),
        format!("{}@{}", server.public_key(), addr.addr)
    );
    let from = round_trip(&client, &mut listener, &addr, &[7u8; 200_000]).await;
    assert_eq!(from.key, client.public_key());
    assert!(from.addr.ip().is_loopback());
}

#[tokio::test]
async fn listening_under_another_key_is_refused() {
    let server = NoiseTransport::new(
        MemoryTransport::new(),
        Identity::generate(),
        Config::default(),
    );
    let addr = Keyed::new("10.0.0.1:1".parse().unwrap(), Identity::generate().public());
    let error = server.listen(&addr).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn dialling_the_wrong_key_fails_and_the_listener_never_writes() {
    let server = NoiseTransport::new(Tcp::default(), Identity::generate(), fast_config());
    let client = NoiseTransport::new(Tcp::default(), Identity::generate(), fast_config());
    let bind = Keyed::new("127.0.0.1:0".parse().unwrap(), server.public_key());
    let listener = server.listen(&bind).await.unwrap();
    let real = listener.local_addr().unwrap();
    let wrong = Keyed::new(real.addr, Identity::generate().public());

    // Through the transport: the dial fails.
    let error = client.dial(&wrong).await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::UnexpectedEof
        ),
        "{error}"
    );

    // By hand, counting what the listener sends: nothing, ever.
    let (reader, writer) = Tcp::default().dial(&real.addr).await.unwrap();
    let count = Arc::new(Mutex::new(0));
    let reader = Counting {
        inner: reader,
        count: Arc::clone(&count),
    };
    let stats = Arc::new(NoiseStats::new());
    let started = Instant::now();
    let result = initiate(
        reader,
        writer,
        &Identity::generate(),
        &wrong.key,
        &fast_config(),
        &stats,
    )
    .await;
    assert!(matches!(result, Err(HandshakeError::Timeout)), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(*count.lock().unwrap(), 0);
    assert_eq!(stats.snapshot().initiated_failed, 1);
    assert_eq!(client.stats().initiated_failed, 1);
    // The listener counted both as messages that do not authenticate.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.stats().refused_not_authentic, 2);
    drop(listener);
}

// ---------------------------------------------------------------------------------------
// A passive observer
// ---------------------------------------------------------------------------------------

/// Checks that the first 64 bytes of `messages` look uniformly random at every offset:
///
/// - each bit is set in half the samples: |z| ≤ 6 (two-sided p ≈ 2·10⁻⁹ per bit);
/// - each nibble (16 bins) passes a χ² test with 15 degrees of freedom: χ² ≤ 76
///   (p ≈ 10⁻⁹ by the Wilson–Hilferty approximation);
/// - the whole byte (256 bins) passes a χ² test with 255 degrees of freedom: χ² ≤ 450
///   (mean 255, sd 22.6: over 8 sd).
///
/// A constant or biased byte (a fixed signature, a key whose top bits are always zero)
/// fails all three by orders of magnitude; a uniform source fails with probability under
/// 10⁻⁵ over all offsets, and the inputs here are made with seeded generators, so the
/// test cannot flake.
fn assert_uniform(what: &str, messages: &[Vec<u8>]) {
    let n = messages.len() as f64;
    for offset in 0..64 {
        let bytes: Vec<u8> = messages.iter().map(|m| m[offset]).collect();
        for bit in 0..8 {
            let ones = bytes.iter().filter(|&&b| b & (1 << bit) != 0).count() as f64;
            let z = (ones - n / 2.0) / (n / 4.0).sqrt();
            assert!(
                z.abs() <= 6.0,
                "{what}: byte {offset} bit {bit} is set in {ones} of {n} samples (z = {z:.1})"
            );
        }
        let chi2 = |bins: &[f64]| {
            let expected = n / bins.len() as f64;
            bins.iter()
                .map(|&observed| (observed - expected).powi(2) / expected)
                .sum::<f64>()
        };
        let mut high = [0f64; 16];
        let mut low = [0f64; 16];
        let mut whole = [0f64; 256];
        for &b in &bytes {
            high[usize::from(b >> 4)] += 1.0;
            low[usize::from(b & 15)] += 1.0;
            whole[usize::from(b)] += 1.0;
        }
        for (name, value, limit) in [
            ("high nibble", chi2(&high), 76.0),
            ("low nibble", chi2(&low), 76.0),
            ("byte", chi2(&whole), 450.0),
        ] {
            assert!(
                value <= limit,
                "{what}: byte {offset} {name}: χ² = {value:.1} > {limit}"
            );
        }
    }
}

/// The levin signature every monerod message starts with.
const LEVIN_SIGNATURE: [u8; 8] = [0x01, 0x21, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];

#[test]
fn first_messages_have_no_fixed_bytes_and_no_fixed_length() {
    let server = Identity::from_seed(&[1; 32]);
    let client = Identity::from_seed(&[2; 32]);
    let config = Config::default();
    let filter = ReplayFilter::new(Duration::from_secs(120), 10_000);
    let mut rng = StdRng::seed_from_u64(0x0b5e_7e12);
    let now = 1_800_000_000_000;
    let (mut msg1s, mut msg2s) = (Vec::new(), Vec::new());
    for i in 0..1000 {
        let (_, msg1) =
            InitiatorHandshake::start(&client, &server.public(), &config, now + i, &mut rng)
                .unwrap();
        let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
        let accepted =
            ResponderHandshake::read_msg1(&server, &fixed, now + i, &filter, &mut rng).unwrap();
        let (msg2, _) = accepted.write_msg2(&config, now + i, &mut rng).unwrap();
        msg1s.push(msg1);
        msg2s.push(msg2);
    }
    assert_uniform("msg1", &msg1s);
    assert_uniform("msg2", &msg2s);

    for (what, messages, fixed) in [("msg1", &msg1s, MSG1_LEN), ("msg2", &msg2s, MSG2_LEN)] {
        let mut lengths: Vec<usize> = messages.iter().map(Vec::len).collect();
        assert!(
            lengths
                .iter()
                .all(|&len| (fixed..=fixed + 512).contains(&len))
        );
        lengths.sort_unstable();
        let mut most = 0;
        for run in lengths.chunk_by(|a, b| a == b) {
            most = most.max(run.len());
        }
        lengths.dedup();
        // Uniform over 513 lengths: about 440 distinct ones in 1,000 samples, none
        // common. (A levin stream has a fixed 33-byte header and bodies of a few typical
        // sizes.)
        assert!(
            lengths.len() > 300,
            "{what}: only {} distinct lengths",
            lengths.len()
        );
        assert!(
            most <= 12,
            "{what}: one length occurs {most} times in 1,000"
        );
        assert!(
            !messages
                .iter()
                .any(|m| m.starts_with(&LEVIN_SIGNATURE[..4]))
        );
    }
}

/// The bytes of real connections: what `initiate` and `respond` write first is one
/// handshake message with its padding, and what follows are records whose lengths vary
/// for the same data.
#[tokio::test]
async fn real_connections_write_one_padded_message_then_varying_records() {
    let server = Identity::generate();
    let client = Identity::generate();
    let config = Config::default();
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::new());
    let mut prefixes = std::collections::HashSet::new();
    let mut record_lengths = std::collections::HashSet::new();
    for session in 0..20 {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (a_read, a_write) = tokio::io::split(a);
        let (b_read, b_write) = tokio::io::split(b);
        let client_writes = Arc::new(Mutex::new(Vec::new()));
        let server_writes = Arc::new(Mutex::new(Vec::new()));
        let a_write = Tap {
            inner: a_write,
            writes: Arc::clone(&client_writes),
        };
        let b_write = Tap {
            inner: b_write,
            writes: Arc::clone(&server_writes),
        };
        let server_key = server.public();
        let (ours, theirs) = tokio::join!(
            initiate(a_read, a_write, &client, &server_key, &config, &stats),
            respond(b_read, b_write, &server, &config, &responder),
        );
        let (_, mut writer, info) = ours.unwrap();
        let (mut reader, _, their_info) = theirs.unwrap();
        assert_eq!(info.handshake_hash(), their_info.handshake_hash());
        {
            let writes = client_writes.lock().unwrap();
            assert_eq!(writes.len(), 1, "msg1 is one write");
            assert!((MSG1_LEN..=MSG1_LEN + 512).contains(&writes[0].len()));
            assert!(prefixes.insert(writes[0][..8].to_vec()));
            let writes = server_writes.lock().unwrap();
            assert_eq!(writes.len(), 1, "msg2 is one write");
            assert!((MSG2_LEN..=MSG2_LEN + 512).contains(&writes[0].len()));
            assert!(prefixes.insert(writes[0][..8].to_vec()));
        }
        // A levin-sized message (33-byte header + 10-byte body), sent 10 times.
        for _ in 0..10 {
            writer.write_all(&[0x5a; 43]).await.unwrap();
            writer.flush().await.unwrap();
            let mut got = [0u8; 43];
            reader.read_exact(&mut got).await.unwrap();
        }
        let writes = client_writes.lock().unwrap();
        assert_eq!(writes.len(), 11, "one write per flushed record");
        for record in &writes[1..] {
            assert!(record.len() >= HEADER_LEN + 43 + 16);
            record_lengths.insert(record.len());
        }
        let _ = session;
    }
    // 200 records of the same 43 bytes: padding uniform in 0..=255 gives ~140 lengths.
    assert!(
        record_lengths.len() > 80,
        "only {} distinct record lengths",
        record_lengths.len()
    );
    assert!(!record_lengths.contains(&43), "never the bare levin length");
}

// ---------------------------------------------------------------------------------------
// An active prober
// ---------------------------------------------------------------------------------------

/// Connects, sends `bytes`, then reads until the listener closes: returns how many bytes
/// came back and how long the connection lasted.
async fn probe(addr: SocketAddr, bytes: Vec<u8>) -> (usize, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if !bytes.is_empty() {
        stream.write_all(&bytes).await.unwrap();
    }
    let mut received = 0;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the listener did not close within 10 s"),
        }
    }
    (received, started.elapsed())
}

/// A levin handshake request as monerod sends it: the 33-byte bucket header (signature
/// `01 21 01 01 01 01 01 01`, body size, `have_to_return`, command 1001, return code,
/// flags = request, version 1) and the start of an epee body.
fn levin_handshake() -> Vec<u8> {
    let mut body = vec![0x01, 0x11, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x08];
    body.extend_from_slice(b"\x09node_data\x0c\x14\x0amy_port\x06\xa0\x46\x00\x00");
    body.extend_from_slice(b"\x0anetwork_id\x0a\x40");
    body.extend_from_slice(&[0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61]);
    body.extend_from_slice(&[0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1, 0x10]);
    body.resize(230, 0);
    let mut frame = LEVIN_SIGNATURE.to_vec();
    frame.extend_from_slice(&(body.len() as u64).to_le_bytes());
    frame.push(1);
    frame.extend_from_slice(&1001u32.to_le_bytes());
    frame.extend_from_slice(&0i32.to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    assert_eq!(frame.len(), 33);
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_get_silence_then_a_close_in_the_random_range_while_real_sessions_work() {
    let config = fast_config();
    let server = NoiseTransport::new(Tcp::default(), Identity::generate(), config.clone());
    let client = NoiseTransport::new(Tcp::default(), Identity::generate(), config.clone());
    let bind = Keyed::new("127.0.0.1:0".parse().unwrap(), server.public_key());
    let mut listener = server.listen(&bind).await.unwrap();
    let addr = listener.local_addr().unwrap();

    // A real first message, captured on its way out of a session that worked.
    let (reader, writer) = Tcp::default().dial(&addr.addr).await.unwrap();
    let writes = Arc::new(Mutex::new(Vec::new()));
    let tap = Tap {
        inner: writer,
        writes: Arc::clone(&writes),
    };
    let stats = Arc::new(NoiseStats::new());
    let dialler = Identity::generate();
    let captured = initiate(reader, tap, &dialler, &addr.key, &config, &stats);
    let (captured, accepted) = tokio::join!(captured, listener.next());
    captured.unwrap();
    accepted.unwrap().unwrap();
    let msg1 = writes.lock().unwrap()[0].clone();

    let mut rng = StdRng::from_rng(&mut rand::rng());
    let fresh = |rng: &mut StdRng, key, now| {
        InitiatorHandshake::start(&dialler, key, &config, now, rng)
            .unwrap()
            .1
    };
    let mut random = vec![0u8; 600];
    rng.fill_bytes(&mut random);
    let mut flipped = fresh(&mut rng, &addr.key, unix_ms_now());
    flipped[100] ^= 0x10;
    let probes: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random),
        ("a replayed first message", msg1),
        (
            "a truncated first message",
            fresh(&mut rng, &addr.key, unix_ms_now())[..100].to_vec(),
        ),
        ("a plain levin handshake", levin_handshake()),
        (
            "a first message for another key",
            fresh(&mut rng, &Identity::generate().public(), unix_ms_now()),
        ),
        (
            "a first message ten minutes old",
            fresh(&mut rng, &addr.key, unix_ms_now() - 600_000),
        ),
        ("a first message with a flipped bit", flipped),
        ("nothing at all", Vec::new()),
    ];
    let tasks: Vec<_> = probes
        .into_iter()
        .map(|(name, bytes)| (name, tokio::spawn(probe(addr.addr, bytes))))
        .collect();

    // Meanwhile, on the same listener, a real session works.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let from = round_trip(&client, &mut listener, &addr, b"still here").await;
    assert_eq!(from.key, client.public_key());

    for (name, task) in tasks {
        let (received, lasted) = task.await.unwrap();
        assert_eq!(received, 0, "{name}: the listener wrote {received} bytes");
        assert!(
            lasted >= config.probe_close_delay.min,
            "{name}: closed after {lasted:?}, before the range"
        );
        // The range ends at 900 ms; allow for a loaded machine.
        assert!(
            lasted <= config.probe_close_delay.max + Duration::from_millis(1500),
            "{name}: closed after {lasted:?}"
        );
    }
    let stats = server.stats();
    assert_eq!(stats.responded_ok, 2);
    assert_eq!(stats.refused_replay, 1, "{stats:?}");
    assert_eq!(stats.refused_stale, 1, "{stats:?}");
    assert_eq!(stats.refused_timeout, 2, "{stats:?}");
    assert_eq!(stats.refused_not_authentic, 4, "{stats:?}");
    assert_eq!(stats.refused(), 8);
}

#[tokio::test]
async fn a_full_listener_stops_accepting_until_a_handshake_slot_frees() {
    let config = Config {
        max_concurrent_handshakes: 2,
        handshake_timeout: Duration::from_millis(200),
        probe_close_delay: DelayRange::new(Duration::from_millis(400), Duration::from_millis(500)),
        ..Config::default()
    };
    let net = MemoryTransport::new();
    let server = NoiseTransport::new(net.clone(), Identity::generate(), config.clone());
    let client = NoiseTransport::new(net.clone(), Identity::generate(), Config::default());
    let addr = Keyed::new("10.0.0.1:1".parse().unwrap(), server.public_key());
    let mut listener = server.listen(&addr).await.unwrap();
    // Two silent connections take both slots.
    let silent_a = net.dial(&addr.addr).await.unwrap();
    let silent_b = net.dial(&addr.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    let dial = client.dial(&addr);
    let (dialled, accepted) = tokio::join!(dial, listener.next());
    dialled.unwrap();
    accepted.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "the third handshake ran after {:?}, before a slot was free",
        started.elapsed()
    );
    drop((silent_a, silent_b));
}

#[tokio::test]
async fn respond_accepts_a_reader_that_replays_sniffed_bytes() {
    let config = Config::default();
    let server = Identity::generate();
    let client = Identity::generate();
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::new());
    let (a, b) = tokio::io::duplex(1 << 16);
    let (a_read, a_write) = tokio::io::split(a);
    let (mut b_read, b_write) = tokio::io::split(b);
    let serve = async {
        // Sniff 8 bytes (is it levin?), then hand them back in front of the rest.
        let mut sniffed = [0u8; 8];
        b_read.read_exact(&mut sniffed).await.unwrap();
        assert_ne!(sniffed, LEVIN_SIGNATURE);
        let reader = AsyncReadExt::chain(io::Cursor::new(sniffed), b_read);
        respond(reader, b_write, &server, &config, &responder).await
    };
    let server_key = server.public();
    let (ours, theirs) = tokio::join!(
        initiate(a_read, a_write, &client, &server_key, &config, &stats),
        serve,
    );
    let (_, mut writer, _) = ours.unwrap();
    let (mut reader, _, info) = theirs.unwrap();
    assert_eq!(info.remote_key(), client.public());
    writer.write_all(b"after the sniff").await.unwrap();
    writer.shutdown().await.unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"after the sniff");
}

#[tokio::test]
async fn an_initiator_gives_up_on_a_silent_peer() {
    let config = fast_config();
    let stats = Arc::new(NoiseStats::new());
    let (a, _b) = tokio::io::duplex(1 << 16);
    let (reader, writer) = tokio::io::split(a);
    let started = Instant::now();
    let result = initiate(
        reader,
        writer,
        &Identity::generate(),
        &Identity::generate().public(),
        &config,
        &stats,
    )
    .await;
    assert!(matches!(result, Err(HandshakeError::Timeout)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stats.snapshot().initiated_failed, 1);
}

// ---------------------------------------------------------------------------------------
// Bad input on an established session
// ---------------------------------------------------------------------------------------

/// A session made by the sans-IO handshake: the raw sender (its record encoder, so a
/// test can put any bytes on the wire) and the receiving `NoiseReader` on a pipe.
struct Receiver {
    sender: Established,
    wire: tokio::io::DuplexStream,
    reader: umbra_transport::noise::NoiseReader<tokio::io::DuplexStream>,
    stats: Arc<NoiseStats>,
}

fn receiver(seed: u64) -> Receiver {
    let config = Config {
        padding: Padding::None,
        ..Config::default()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let (a, b) = (Identity::generate(), Identity::generate());
    let now = unix_ms_now();
    let filter = ReplayFilter::new(Duration::from_secs(120), 16);
    let (pending, msg1) =
        InitiatorHandshake::start(&a, &b.public(), &config, now, &mut rng).unwrap();
    let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
    let accepted = ResponderHandshake::read_msg1(&b, &fixed, now, &filter, &mut rng).unwrap();
    let (msg2, theirs) = accepted.write_msg2(&config, now, &mut rng).unwrap();
    let fixed: [u8; MSG2_LEN] = msg2[..MSG2_LEN].try_into().unwrap();
    let (ours, _) = pending.read_msg2(&fixed, &config).unwrap();
    let (wire, pipe) = tokio::io::duplex(1 << 20);
    let stats = Arc::new(NoiseStats::new());
    let (reader, _, _) = theirs.into_session(pipe, tokio::io::sink(), &config, &stats);
    Receiver {
        sender: ours,
        wire,
        reader,
        stats,
    }
}

impl Receiver {
    fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.sender
            .encoder
            .seal(&mut data.to_vec(), false, &mut out)
            .unwrap();
        out
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.wire.write_all(bytes).await.unwrap();
    }

    async fn read(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 1 << 16];
        let n = tokio::time::timeout(Duration::from_secs(5), self.reader.read(&mut buf))
            .await
            .expect("the reader answers without waiting for more")?;
        buf.truncate(n);
        Ok(buf)
    }
}

fn record_error(error: &io::Error) -> RecordError {
    *error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<RecordError>())
        .unwrap_or_else(|| panic!("not a record error: {error}"))
}

#[tokio::test]
async fn a_flipped_bit_in_header_or_body_ends_the_session_with_a_counter() {
    for at in [3usize, HEADER_LEN + 2, HEADER_LEN + 20] {
        let mut session = receiver(at as u64);
        let mut record = session.seal(b"some levin message");
        record[at] ^= 0x04;
        session.send(&record).await;
        let error = session.read().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let expected = if at < HEADER_LEN {
            RecordError::BadHeader
        } else {
            RecordError::BadBody
        };
        assert_eq!(record_error(&error), expected);
        assert_eq!(session.stats.snapshot().records_rejected, 1);
        // Every later read fails too, without counting again.
        assert!(session.read().await.is_err());
        assert_eq!(session.stats.snapshot().records_rejected, 1);
    }
}

#[tokio::test]
async fn lying_lengths_are_refused_from_the_header_alone() {
    for (header, expected) in [
        (
            RecordHeader {
                body_len: u16::MAX,
                pad_len: 0,
                flags: 0,
            },
            RecordError::TooLong { body_len: 65_535 },
        ),
        (
            RecordHeader {
                body_len: 100,
                pad_len: 200,
                flags: 0,
            },
            RecordError::BadPadding {
                body_len: 100,
                pad_len: 200,
            },
        ),
        (
            RecordHeader {
                body_len: 0,
                pad_len: 0,
                flags: 0x40,
            },
            RecordError::UnknownFlags(0x40),
        ),
    ] {
        let mut session = receiver(10);
        let mut out = Vec::new();
        session
            .sender
            .encoder
            .seal_raw(header, &[], &mut out)
            .unwrap();
        // Only the header goes out; the pipe stays open: the refusal cannot depend on
        // the body.
        session.send(&out[..HEADER_LEN]).await;
        let error = session.read().await.unwrap_err();
        assert_eq!(record_error(&error), expected);
        assert_eq!(session.stats.snapshot().records_rejected, 1);
    }
}

#[tokio::test]
async fn a_length_that_promises_more_than_comes_is_a_truncation() {
    let mut session = receiver(11);
    let mut out = Vec::new();
    let header = RecordHeader {
        body_len: 60_000,
        pad_len: 0,
        flags: 0,
    };
    session
        .sender
        .encoder
        .seal_raw(header, &[0u8; 10], &mut out)
        .unwrap();
    session.send(&out).await;
    session.wire.shutdown().await.unwrap();
    let error = session.read().await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(record_error(&error), RecordError::Truncated);
    assert_eq!(session.stats.snapshot().streams_truncated, 1);
}

#[tokio::test]
async fn replayed_and_reordered_records_are_refused() {
    // Replayed: the first copy is read, the second refused.
    let mut session = receiver(12);
    let record = session.seal(b"once");
    session.send(&record).await;
    session.send(&record).await;
    assert_eq!(session.read().await.unwrap(), b"once");
    assert_eq!(
        record_error(&session.read().await.unwrap_err()),
        RecordError::BadHeader
    );
    assert_eq!(session.stats.snapshot().records_rejected, 1);

    // Reordered: the second record first is refused at once.
    let mut session = receiver(13);
    let first = session.seal(b"first");
    let second = session.seal(b"second");
    session.send(&second).await;
    session.send(&first).await;
    assert_eq!(
        record_error(&session.read().await.unwrap_err()),
        RecordError::BadHeader
    );
    assert_eq!(session.stats.snapshot().records_rejected, 1);
}

#[tokio::test]
async fn cut_connections_are_errors_and_only_the_final_record_is_an_end() {
    // Cut inside a record.
    let mut session = receiver(14);
    let record = session.seal(b"half of this goes missing");
    session.send(&record[..record.len() / 2]).await;
    session.wire.shutdown().await.unwrap();
    let error = session.read().await.unwrap_err();
    assert_eq!(record_error(&error), RecordError::Truncated);

    // Cut between records, without the final one.
    let mut session = receiver(15);
    let record = session.seal(b"complete");
    session.send(&record).await;
    session.wire.shutdown().await.unwrap();
    assert_eq!(session.read().await.unwrap(), b"complete");
    assert_eq!(
        record_error(&session.read().await.unwrap_err()),
        RecordError::Truncated
    );
    assert_eq!(session.stats.snapshot().streams_truncated, 1);
    assert_eq!(session.stats.snapshot().records_rejected, 0);

    // The final record: a clean end, and nothing after it is read.
    let mut session = receiver(16);
    let mut out = Vec::new();
    session
        .sender
        .encoder
        .seal(&mut b"last words".to_vec(), true, &mut out)
        .unwrap();
    session.send(&out).await;
    session.send(b"garbage after the end").await;
    assert_eq!(session.read().await.unwrap(), b"last words");
    assert_eq!(session.read().await.unwrap(), b"");
    assert_eq!(session.read().await.unwrap(), b"");
    assert_eq!(session.stats.snapshot().records_rejected, 0);
}

// ---------------------------------------------------------------------------------------
// Rekeying through a long transfer
// ---------------------------------------------------------------------------------------

/// SHA-256 (ring's, through snow's resolver: fast even in a debug build).
fn sha256() -> Box<dyn snow::types::Hash> {
    use snow::resolvers::CryptoResolver;
    snow::resolvers::RingResolver
        .resolve_hash(&snow::params::HashChoice::SHA256)
        .unwrap()
}

fn digest(mut hash: Box<dyn snow::types::Hash>) -> [u8; 32] {
    let mut out = [0u8; 32];
    hash.result(&mut out);
    out
}

/// Sends `total` bytes (a seeded random block, each copy stamped with its index) and
/// returns their SHA-256.
async fn pump<W: AsyncWrite + Unpin>(writer: &mut W, total: usize, seed: u64) -> [u8; 32] {
    let mut block = vec![0u8; 1 << 20];
    StdRng::seed_from_u64(seed).fill_bytes(&mut block);
    let mut hash = sha256();
    let mut sent = 0;
    let mut index = 0u64;
    while sent < total {
        let len = block.len().min(total - sent);
        block[..8].copy_from_slice(&index.to_le_bytes());
        hash.input(&block[..len]);
        writer.write_all(&block[..len]).await.unwrap();
        sent += len;
        index += 1;
    }
    writer.shutdown().await.unwrap();
    digest(hash)
}

/// Reads to the end; returns the byte count and the SHA-256.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R) -> (usize, [u8; 32]) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut hash = sha256();
    let mut total = 0;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            return (total, digest(hash));
        }
        hash.input(&buf[..n]);
        total += n;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_survives_a_rekey_every_mebibyte_while_the_other_way_streams_too() {
    const FORWARD: usize = 1 << 30;
    const BACKWARD: usize = 64 << 20;
    let config = Config {
        rekey_after: 1 << 20,
        ..Config::default()
    };
    let (server, client) = (Identity::generate(), Identity::generate());
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::new());
    let (a, b) = tokio::io::duplex(1 << 20);
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    let server_key = server.public();
    let (ours, theirs) = tokio::join!(
        initiate(a_read, a_write, &client, &server_key, &config, &stats),
        respond(b_read, b_write, &server, &config, &responder),
    );
    let (mut a_read, mut a_write, _) = ours.unwrap();
    let (mut b_read, mut b_write, _) = theirs.unwrap();
    let started = Instant::now();
    // Four tasks: each half works on its own.
    let send_forward = tokio::spawn(async move { pump(&mut a_write, FORWARD, 1).await });
    let receive_forward = tokio::spawn(async move { drain(&mut b_read).await });
    let send_backward = tokio::spawn(async move { pump(&mut b_write, BACKWARD, 2).await });
    let receive_backward = tokio::spawn(async move { drain(&mut a_read).await });
    let sent = send_forward.await.unwrap();
    let (received_len, received) = receive_forward.await.unwrap();
    assert_eq!(received_len, FORWARD);
    assert_eq!(received, sent, "the gibibyte arrived intact");
    let sent = send_backward.await.unwrap();
    let (received_len, received) = receive_backward.await.unwrap();
    assert_eq!(received_len, BACKWARD);
    assert_eq!(received, sent);
    let elapsed = started.elapsed();

    let ours = stats.snapshot();
    let theirs = responder.stats().snapshot();
    // One rekey per MiB of records (plus the record that crosses it), each direction,
    // seen by both ends.
    assert!(ours.rekeys_sent >= 900, "{ours:?}");
    assert_eq!(ours.rekeys_sent, theirs.rekeys_received);
    assert!(theirs.rekeys_sent >= 56, "{theirs:?}");
    assert_eq!(theirs.rekeys_sent, ours.rekeys_received);
    assert_eq!(ours.records_rejected + theirs.records_rejected, 0);
    eprintln!(
        "1 GiB + 64 MiB through {} + {} rekeys in {elapsed:?}",
        ours.rekeys_sent, theirs.rekeys_sent
    );
}

// ---------------------------------------------------------------------------------------
// Timing jitter and writer behaviour
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_records_wait_a_random_jitter_and_full_ones_do_not() {
    let config = Config {
        jitter: Duration::from_millis(40),
        ..Config::default()
    };
    let (server, client) = (Identity::generate(), Identity::generate());
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::new());
    let (a, b) = tokio::io::duplex(1 << 20);
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    let server_key = server.public();
    let (ours, theirs) = tokio::join!(
        initiate(a_read, a_write, &client, &server_key, &config, &stats),
        respond(b_read, b_write, &server, &config, &responder),
    );
    let (_, mut writer, _) = ours.unwrap();
    let (mut reader, _, _) = theirs.unwrap();

    // Ten flushed messages: each flush waits a uniform 0–40 ms. Their sum is below 40 ms
    // with probability 1/10! (under 3·10⁻⁷).
    let started = Instant::now();
    for _ in 0..10 {
        writer.write_all(b"tick").await.unwrap();
        writer.flush().await.unwrap();
    }
    let flushed = started.elapsed();
    assert!(
        flushed >= Duration::from_millis(40) && flushed <= Duration::from_millis(400 + 600),
        "ten jittered flushes took {flushed:?}"
    );
    let mut ticks = [0u8; 40];
    reader.read_exact(&mut ticks).await.unwrap();
    assert_eq!(&ticks[..8], b"ticktick");

    // 8 MiB written without a flush: 128 full records, none delayed (with the jitter they
    // would take over 2.5 s on average).
    let started = Instant::now();
    let bulk = tokio::spawn(async move {
        writer.write_all(&vec![1u8; 8 << 20]).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut received = Vec::new();
    reader.read_to_end(&mut received).await.unwrap();
    bulk.await.unwrap();
    assert_eq!(received.len(), 8 << 20);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "8 MiB took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn vectored_writes_gather_into_one_record() {
    let config = Config::default();
    let (server, client) = (Identity::generate(), Identity::generate());
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::new());
    let (a, b) = tokio::io::duplex(1 << 20);
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    let writes = Arc::new(Mutex::new(Vec::new()));
    let a_write = Tap {
        inner: a_write,
        writes: Arc::clone(&writes),
    };
    let server_key = server.public();
    let (ours, theirs) = tokio::join!(
        initiate(a_read, a_write, &client, &server_key, &config, &stats),
        respond(b_read, b_write, &server, &config, &responder),
    );
    let (_, mut writer, _) = ours.unwrap();
    let (mut reader, _, _) = theirs.unwrap();
    // A levin header and body as two slices, as a codec would hand them over.
    let parts = [
        io::IoSlice::new(&[0xaa; 33]),
        io::IoSlice::new(&[0xbb; 100]),
    ];
    assert!(writer.is_write_vectored());
    assert_eq!(writer.write_vectored(&parts).await.unwrap(), 133);
    writer.flush().await.unwrap();
    let mut got = [0u8; 133];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(got[32], 0xaa);
    assert_eq!(got[33], 0xbb);
    let writes = writes.lock().unwrap();
    assert_eq!(writes.len(), 2, "msg1, then one record");
    assert_eq!(stats.snapshot().records_sent, 1);
}
