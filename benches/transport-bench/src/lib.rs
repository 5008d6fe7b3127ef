//! Transports side by side on loopback: plain TCP, Umbra's Noise transport, Umbra over QUIC
//! and rust-libp2p's TCP + Noise + yamux, in one run; plus the single-core speed of the
//! AEAD under Umbra's Noise records and the rate of Umbra's Noise handshake (issue 4's
//! figures).
//!
//! # Running
//!
//! ```text
//! cargo run --release -p umbra-transport-bench --bin transport-bench              # full run, ~2–4 min
//! cargo run --release -p umbra-transport-bench --bin transport-bench -- --quick   # smoke run, ~15 s
//! cargo test -p umbra-transport-bench                                             # every target, tiny sizes
//! ```
//!
//! This crate is a workspace member but not a default member: the everyday `cargo build`
//! and `cargo test` skip it, so libp2p and its dependencies never enter them.
//!
//! # What is measured
//!
//! For each [`Stack`], on `127.0.0.1`, both peers in this one process: by default each on
//! its own tokio runtime with one worker thread, so each peer runs on one core of the
//! 2-core machine the figures were taken on ([`sides`]; `--shared-runtime` puts both on
//! one multi-thread runtime instead):
//!
//! - **bulk throughput** ([`measure::bulk`]): a fixed byte count sent one way over one
//!   stream, then over eight streams at once (the count split evenly). Every stack gets
//!   the same application writes ([`WRITE_SIZE`] = 64 KiB, then a flush at the end) and
//!   the same 64 KiB read buffer. The clock starts before the first write and stops when
//!   the last receiver has all its bytes. One warm-up run, then [`Plan::repeats`]
//!   runs; the median is reported, with the process's CPU time per GiB moved and the
//!   throughput per CPU-second of the busier peer (independent of background load);
//! - **round-trip latency** ([`measure::ping_pong`]): one byte out, one byte back (each
//!   write flushed), many times in a row on one established stream, after a warm-up;
//!   median and 99th percentile;
//! - **AEAD** ([`aead`]): ChaCha20-Poly1305 sealing 64 KiB records on one thread,
//!   through the same snow ring resolver the Noise transport uses, and ring directly;
//! - **where Noise's CPU goes** ([`pipe`]): both ends on one thread over an in-memory
//!   pipe, with and without Noise, so the record layer's cost is known without the
//!   kernel's and can be set against the AEAD's;
//! - **handshakes** ([`handshake`]): Umbra's Noise handshake over loopback TCP
//!   (connect + initiate + respond), one at a time and several in flight; per second of
//!   wall time and per second of CPU time of the process (both ends), plus the CPU cost
//!   of each handshake step without I/O.
//!
//! "Eight streams" means what each stack offers for concurrency between two peers:
//! eight TCP connections for TCP and for Noise (a Noise session is one TCP connection),
//! eight QUIC streams on one QUIC connection (eight dials to the same peer), eight yamux
//! substreams on one libp2p connection.
//!
//! # Modules
//!
//! - [`tcp`], [`noise`], [`quic`], [`libp2p`]: set up connected stream pairs of one stack
//!   ([`Connected`]);
//! - [`measure`]: bulk and ping-pong over any pair of [`BoxIo`];
//! - [`aead`], [`pipe`], [`handshake`]: the AEAD, Noise without the kernel, the Noise
//!   handshake;
//! - [`sides`]: the two peers' runtimes;
//! - [`mod@run`]: every measurement of a [`Plan`], in order, into a [`run::Report`];
//!   [`report`]: the Markdown tables; [`cpu`]: the process's CPU time from `/proc`.
//!
//! # Never hangs
//!
//! Every wait on the network runs under a timeout ([`within`]); a stack that fails or
//! times out is reported as an error in its row and the run goes on with the next one.

pub mod aead;
pub mod cpu;
pub mod handshake;
pub mod libp2p;
pub mod measure;
pub mod noise;
pub mod pipe;
pub mod quic;
pub mod report;
pub mod run;
pub mod sides;
pub mod stats;
pub mod tcp;

use std::{fmt, future::Future, pin::Pin, time::Duration};

use tokio::io::{AsyncRead, AsyncWrite};

pub use run::{Plan, Report, run};
pub use sides::{Mode, Runtimes, Sides};

/// Any error of the harness, with a message saying where it came from.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The harness's results.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// The size of every application write (and read buffer) on every stack: 64 KiB.
pub const WRITE_SIZE: usize = 64 * 1024;

/// One end of a stream: read and write (tokio's traits), whatever the stack.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// One end of a stream, boxed so every stack is driven by the same code.
pub type BoxIo = Box<dyn Io>;

/// A connected stream: what the dialler holds and what the listener accepted.
pub struct Pair {
    /// The dialling end (sends in the bulk runs, pings in the latency runs).
    pub client: BoxIo,
    /// The accepting end (receives; answers pings).
    pub server: BoxIo,
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair").finish_non_exhaustive()
    }
}

/// A future that tears a stack down (bounded by the caller's timeout).
pub type CloseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Stream pairs of one stack, and what keeps them alive (listeners, transports, the
/// tasks that drive a multiplexer).
pub struct Connected {
    /// The pairs, in the order they were opened.
    pub pairs: Vec<Pair>,
    keep: Vec<Box<dyn std::any::Any + Send>>,
    close: Option<CloseFuture>,
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("pairs", &self.pairs.len())
            .finish_non_exhaustive()
    }
}

impl Connected {
    /// `pairs`, kept alive by `keep` (dropped at [`Connected::close`]), torn down by
    /// `close` if given.
    #[must_use]
    pub fn new(
        pairs: Vec<Pair>,
        keep: Vec<Box<dyn std::any::Any + Send>>,
        close: Option<CloseFuture>,
    ) -> Self {
        Self { pairs, keep, close }
    }

    /// Drops the pairs, runs the stack's teardown (at most `limit`), then drops what
    /// kept them alive.
    pub async fn close(self, limit: Duration) {
        let Self { pairs, keep, close } = self;
        drop(pairs);
        if let Some(close) = close {
            // A teardown that does not finish in time is abandoned: the sockets are
            // dropped with `keep` below.
            let _ = tokio::time::timeout(limit, close).await;
        }
        drop(keep);
    }
}

/// A stack under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stack {
    /// Plain TCP (tokio, `TCP_NODELAY`).
    Tcp,
    /// Umbra's Noise transport over TCP (`NoiseTransport<Tcp>`, default `Config`).
    Noise,
    /// Umbra over QUIC (`QuicTransport`, default `QuicConfig`).
    Quic,
    /// rust-libp2p: TCP + Noise + yamux (defaults), raw yamux substreams.
    Libp2p,
}

impl Stack {
    /// Every stack, in the order measured and shown.
    pub const ALL: [Self; 4] = [Self::Tcp, Self::Noise, Self::Quic, Self::Libp2p];

    /// The row label.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "TCP (tokio)",
            Self::Noise => "Umbra Noise over TCP",
            Self::Quic => "Umbra QUIC",
            Self::Libp2p => "libp2p TCP+Noise+yamux",
        }
    }

    /// What "`streams` streams" is on this stack.
    #[must_use]
    pub const fn streams_are(self) -> &'static str {
        match self {
            Self::Tcp => "TCP connections",
            Self::Noise => "Noise sessions (one TCP connection each)",
            Self::Quic => "QUIC streams on one connection",
            Self::Libp2p => "yamux substreams on one connection",
        }
    }

    /// Opens `streams` connected pairs on this stack, each peer on its side's runtime,
    /// every wait bounded by `limit`.
    ///
    /// # Errors
    /// Any setup error or timeout.
    pub async fn connect(
        self,
        sides: &Sides,
        streams: usize,
        limit: Duration,
    ) -> Result<Connected> {
        match self {
            Self::Tcp => tcp::connect(sides, streams, limit).await,
            Self::Noise => noise::connect(sides, streams, limit).await,
            Self::Quic => quic::connect(sides, streams, limit).await,
            Self::Libp2p => libp2p::connect(sides, streams, limit).await,
        }
    }
}

/// Runs `fut` for at most `limit`; an error or the timeout is prefixed with `what`.
///
/// # Errors
/// `fut`'s error, or a timeout.
pub async fn within<T, E, F>(limit: Duration, what: &str, fut: F) -> Result<T>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: Into<BenchError>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{what}: {}", error.into()).into()),
        Err(_) => Err(format!("{what}: timed out after {limit:?}").into()),
    }
}

/// Dials `addr` `streams` times from `client` (on the client side's runtime) and takes
/// each connection from `listener`, one at a time so that the n-th accepted is the n-th
/// dialled; every pair is checked end to end ([`check_pair`]). `stack` names the stack in
/// errors.
///
/// # Errors
/// A dial or accept error, a listener that ends, or `limit` passing at any step.
pub async fn dial_pairs<T: umbra_transport::Transport>(
    sides: &Sides,
    client: &T,
    listener: &mut T::Listener,
    addr: &T::Addr,
    streams: usize,
    limit: Duration,
    stack: &str,
) -> Result<Vec<Pair>> {
    use futures::StreamExt;
    let mut pairs = Vec::with_capacity(streams);
    for _ in 0..streams {
        let (reader, writer) = {
            let (client, addr) = (client.clone(), addr.clone());
            sides::on(&sides.client, limit, &format!("{stack} dial"), async move {
                client.dial(&addr).await
            })
            .await?
        };
        let (their_reader, their_writer, _from) =
            within(limit, &format!("{stack} accept"), async {
                match listener.next().await {
                    Some(accepted) => accepted.map_err(BenchError::from),
                    None => Err(format!("the {stack} listener ended").into()),
                }
            })
            .await?;
        let mut pair = Pair {
            client: Box::new(tokio::io::join(reader, writer)) as BoxIo,
            server: Box::new(tokio::io::join(their_reader, their_writer)) as BoxIo,
        };
        check_pair(&mut pair, limit).await?;
        pairs.push(pair);
    }
    Ok(pairs)
}

/// Writes one byte on `client`, flushes, and reads it on `server`: proves a new pair is
/// connected end to end (and makes every stack announce a new stream to its peer).
///
/// # Errors
/// An I/O error, a wrong byte, or the timeout.
pub async fn check_pair(pair: &mut Pair, limit: Duration) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(limit, "first byte of a new stream", async {
        pair.client.write_all(&[0x42]).await?;
        pair.client.flush().await?;
        let mut byte = [0u8; 1];
        pair.server.read_exact(&mut byte).await?;
        if byte == [0x42] {
            Ok(())
        } else {
            Err(BenchError::from(format!("expected 0x42, read {byte:?}")))
        }
    })
    .await
}
