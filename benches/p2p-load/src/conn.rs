//! One load connection: bind a loopback source address, connect, handshake for real with
//! `umbra-p2p-core`'s outbound handshaker, then idle, answering what the target asks.
//!
//! The client is kept lean so that tens of thousands of connections fit in one process:
//! one task per connection, a 512-byte read buffer (grown only if a message needs it),
//! no write buffer after the handshake (answers are pre-encoded `Bytes` written directly to
//! the socket), and shared counters instead of per-connection state.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::Serialize;
use tokio::{
    io::AsyncWriteExt,
    net::{
        TcpSocket,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};
use tokio_util::codec::{Encoder, FramedRead, FramedWrite};
use umbra_levin::{DEFAULT_MAX_PACKET_SIZE, INITIAL_MAX_PACKET_SIZE};
use umbra_p2p_core::handshake::{self, Handshake, HandshakeConfig, HandshakeOutcome, Handshaker};
use umbra_wire::{
    AdminRequest, CoreSyncData, Message, MoneroCodec, PING_OK_STATUS, PingResponse,
    SupportFlagsResponse, TimedSyncResponse, support_flags,
};

/// Initial read buffer of a connection. A timed-sync request is about 200 bytes; the
/// handshake response with a full peer list (250 entries, ~12 KiB) grows the buffer for the
/// handshake, after which it is cut back to this.
pub const READ_BUFFER: usize = 512;

/// What every connection of one run shares: the target, what we claim, the pre-encoded
/// answers and the counters.
#[derive(Debug)]
pub struct Shared {
    /// The target's P2P address.
    pub target: SocketAddr,
    /// The network id we present (regtest uses mainnet's).
    pub network_id: [u8; 16],
    /// The chain we claim in the handshake and in timed-sync answers.
    pub chain: CoreSyncData,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
    /// Bound on the whole handshake (the handshaker's own deadline).
    pub handshake_timeout: Duration,
    /// Bound on writing one answer while idle.
    pub write_timeout: Duration,
    /// Counters of every connection.
    pub stats: Arc<Stats>,
    timed_sync_response: Bytes,
    support_flags_response: Bytes,
}

impl Shared {
    /// Everything connections of one run share; the timed-sync and support-flags answers
    /// are encoded once here.
    ///
    /// # Errors
    /// Encoding the answers failed (a bug).
    pub fn new(
        target: SocketAddr,
        network_id: [u8; 16],
        chain: CoreSyncData,
        connect_timeout: Duration,
        handshake_timeout: Duration,
    ) -> Result<Self, ConnError> {
        let timed_sync_response = encode(Message::from(TimedSyncResponse {
            payload_data: chain.clone(),
            local_peerlist_new: Vec::new(),
        }))?;
        let support_flags_response = encode(Message::from(SupportFlagsResponse {
            support_flags: OUR_SUPPORT_FLAGS,
        }))?;
        Ok(Self {
            target,
            network_id,
            chain,
            connect_timeout,
            handshake_timeout,
            write_timeout: Duration::from_secs(10),
            stats: Arc::default(),
            timed_sync_response,
            support_flags_response,
        })
    }
}

/// The support flags we announce (fluffy blocks, like monerod).
const OUR_SUPPORT_FLAGS: u32 = support_flags::FLUFFY_BLOCKS;

fn encode(message: Message) -> Result<Bytes, ConnError> {
    let mut codec = MoneroCodec::new(DEFAULT_MAX_PACKET_SIZE);
    let mut bytes = BytesMut::new();
    codec
        .encode(message, &mut bytes)
        .map_err(|e| ConnError::Encode(e.to_string()))?;
    Ok(bytes.freeze())
}

/// Counters over all connections of a run, updated by the connection tasks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections handshaken and not ended yet.
    pub alive: AtomicUsize,
    /// Connections that completed the handshake, ever.
    pub handshaken: AtomicU64,
    /// Connections the target closed (or reset) after the handshake.
    pub closed_by_target: AtomicU64,
    /// Connections ended by a read, decode or write error after the handshake.
    pub errors: AtomicU64,
    /// Timed-sync requests answered.
    pub timed_syncs: AtomicU64,
    /// Pings answered.
    pub pings: AtomicU64,
    /// Support-flags requests answered.
    pub support_flags: AtomicU64,
    /// Protocol notifications received (ignored).
    pub notifications: AtomicU64,
    /// Messages with no place on an idle connection (a second handshake, a response we did
    /// not ask for), ignored.
    pub unexpected: AtomicU64,
}

impl Stats {
    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            alive: self.alive.load(Ordering::Relaxed),
            handshaken: get(&self.handshaken),
            closed_by_target: get(&self.closed_by_target),
            errors: get(&self.errors),
            timed_syncs: get(&self.timed_syncs),
            pings: get(&self.pings),
            support_flags: get(&self.support_flags),
            notifications: get(&self.notifications),
            unexpected: get(&self.unexpected),
        }
    }
}

/// [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // the fields mirror `Stats`
pub struct StatsSnapshot {
    pub alive: usize,
    pub handshaken: u64,
    pub closed_by_target: u64,
    pub errors: u64,
    pub timed_syncs: u64,
    pub pings: u64,
    pub support_flags: u64,
    pub notifications: u64,
    pub unexpected: u64,
}

/// Why a connection could not be opened and handshaken.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The socket could not be created or bound to its source address.
    #[error("bind {source_ip}: {error}")]
    Bind {
        /// The source address.
        source_ip: Ipv4Addr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The TCP connect did not finish in time.
    #[error("connect: timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The handshake failed (the error says at which step).
    #[error("handshake: {0}")]
    Handshake(#[from] handshake::HandshakeError),
    /// The outbound handshake ended as a ping probe (cannot happen).
    #[error("handshake: ended without a peer")]
    NoPeer,
    /// Encoding one of our answers failed (a bug).
    #[error("encoding an answer: {0}")]
    Encode(String),
}

impl ConnError {
    /// A short key for counting failures by kind (the message without addresses).
    #[must_use]
    pub fn kind_key(&self) -> String {
        match self {
            Self::Bind { error, .. } => format!("bind: {error}"),
            other => other.to_string(),
        }
    }
}

/// A connection that passed its handshake, ready to idle. It counts in [`Stats::alive`]
/// from the handshake until it is dropped (or [`idle`] returns).
#[derive(Debug)]
pub struct Connected {
    reader: FramedRead<OwnedReadHalf, MoneroCodec>,
    writer: OwnedWriteHalf,
    node_id: u64,
    alive: AliveGuard,
    /// What the handshake learned about the target.
    pub outcome: HandshakeOutcome<SocketAddr>,
}

/// Opens one connection from `source_ip` to the target and runs our outbound handshake on
/// it, presenting a fresh random node id and `shared.chain`.
///
/// This is [`umbra_p2p_core::handshake::handshake_outbound`] with a smaller read buffer:
/// the same [`Handshaker::outbound`] machine driven by
/// [`handshake_framed`](umbra_p2p_core::handshake::handshake_framed).
///
/// # Errors
/// [`ConnError`]: bind, connect (bounded by `shared.connect_timeout`) or handshake (bounded
/// by `shared.handshake_timeout`).
pub async fn connect(shared: &Shared, source_ip: Ipv4Addr) -> Result<Connected, ConnError> {
    let bind = |error| ConnError::Bind { source_ip, error };
    let socket = TcpSocket::new_v4().map_err(bind)?;
    socket
        .bind(SocketAddr::new(source_ip.into(), 0))
        .map_err(bind)?;
    let stream = tokio::time::timeout(shared.connect_timeout, socket.connect(shared.target))
        .await
        .map_err(|_| ConnError::ConnectTimeout(shared.connect_timeout))?
        .map_err(ConnError::Connect)?;
    // Our side never waits to coalesce small writes (Nagle), so the client adds no delay
    // of its own to the target's handshake round trips.
    stream.set_nodelay(true).map_err(ConnError::Connect)?;
    let (reader, writer) = stream.into_split();

    let node_id = rand::random::<u64>() | 1;
    let config = HandshakeConfig {
        timeout: shared.handshake_timeout,
        ..HandshakeConfig::new(shared.network_id, node_id)
    };
    let machine = Handshaker::outbound(
        config,
        shared.chain.clone(),
        shared.target,
        handshake::now(),
    );
    let reader = FramedRead::with_capacity(
        reader,
        MoneroCodec::new(INITIAL_MAX_PACKET_SIZE),
        READ_BUFFER,
    );
    let writer = FramedWrite::new(writer, MoneroCodec::new(INITIAL_MAX_PACKET_SIZE));
    let peer = match Box::pin(handshake::handshake_framed(reader, writer, machine)).await? {
        Handshake::Peer(peer) => *peer,
        Handshake::PingProbe => return Err(ConnError::NoPeer),
    };
    let mut reader = peer.reader;
    // Give back what the handshake response grew the buffer to, keeping any bytes the
    // target already sent after it (the codec's state refers to the buffer's start, which
    // is unchanged).
    if reader.read_buffer().capacity() > READ_BUFFER {
        let pending = reader.read_buffer();
        let mut fresh = BytesMut::with_capacity(READ_BUFFER.max(pending.len()));
        fresh.extend_from_slice(pending);
        *reader.read_buffer_mut() = fresh;
    }
    // The handshake flushed everything; answers are written straight to the socket.
    let writer = peer.writer.into_inner();
    shared.stats.handshaken.fetch_add(1, Ordering::Relaxed);
    Ok(Connected {
        reader,
        writer,
        node_id,
        alive: AliveGuard::new(&shared.stats),
        outcome: peer.outcome,
    })
}

/// How an idle connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The target closed or reset it.
    ClosedByTarget,
    /// Reading, decoding or writing failed.
    Error,
}

/// Counts a connection in [`Stats::alive`] while it exists: however it ends (also when its
/// task is aborted at the end of a run), dropping the guard takes it out.
#[derive(Debug)]
struct AliveGuard(Arc<Stats>);

impl AliveGuard {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.alive.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(stats))
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Keeps a handshaken connection open, answering the target's timed syncs (with our
/// chain), pings (status OK and our node id) and support-flags requests; protocol
/// notifications are counted and dropped. Returns when the connection ends; cancel the
/// future (abort its task) to close it.
pub async fn idle(connected: Connected, shared: &Shared) -> Ended {
    let Connected {
        mut reader,
        mut writer,
        node_id,
        alive: _alive,
        outcome,
    } = connected;
    drop(outcome);
    let stats = &shared.stats;
    loop {
        let message = match reader.next().await {
            None => {
                stats.closed_by_target.fetch_add(1, Ordering::Relaxed);
                return Ended::ClosedByTarget;
            }
            Some(Err(error)) => {
                let reset = matches!(
                    &error,
                    umbra_levin::CodecError::Levin(umbra_levin::LevinError::Io(io))
                        if matches!(io.kind(), std::io::ErrorKind::ConnectionReset)
                );
                if reset {
                    stats.closed_by_target.fetch_add(1, Ordering::Relaxed);
                    return Ended::ClosedByTarget;
                }
                tracing::debug!(%error, "idle connection: read failed");
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return Ended::Error;
            }
            Some(Ok(message)) => message,
        };
        let answer = match message {
            Message::Request(AdminRequest::TimedSync(_)) => {
                stats.timed_syncs.fetch_add(1, Ordering::Relaxed);
                shared.timed_sync_response.clone()
            }
            Message::Request(AdminRequest::SupportFlags) => {
                stats.support_flags.fetch_add(1, Ordering::Relaxed);
                shared.support_flags_response.clone()
            }
            Message::Request(AdminRequest::Ping) => {
                stats.pings.fetch_add(1, Ordering::Relaxed);
                match encode(Message::from(PingResponse {
                    status: PING_OK_STATUS.into(),
                    peer_id: node_id,
                })) {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        return Ended::Error;
                    }
                }
            }
            Message::Protocol(_) => {
                stats.notifications.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Message::Request(AdminRequest::Handshake(_)) | Message::Response(_) => {
                stats.unexpected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        match tokio::time::timeout(shared.write_timeout, writer.write_all(&answer)).await {
            Ok(Ok(())) => {}
            Ok(Err(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                stats.closed_by_target.fetch_add(1, Ordering::Relaxed);
                return Ended::ClosedByTarget;
            }
            Ok(Err(_)) | Err(_) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return Ended::Error;
            }
        }
    }
}
