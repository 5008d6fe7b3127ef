//! The knobs of a [`QuicTransport`](super::QuicTransport).

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use super::QuicError;

/// Limits and timeouts of a [`QuicTransport`](super::QuicTransport).
///
/// Every field is bounded; [`QuicConfig::default`] is meant for a P2P node. Start from the
/// default and change what you need:
///
/// ```
/// use std::time::Duration;
/// use umbra_transport::quic::QuicConfig;
///
/// let config = QuicConfig {
///     idle_timeout: Duration::from_secs(60),
///     max_connections: 64,
///     ..QuicConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicConfig {
    /// Where the transport's UDP socket is bound when it dials before it has listened
    /// (once it listens, or has dialled, the socket stays where it is).
    ///
    /// Default `0.0.0.0:0` (any IPv4 address, a free port). A socket bound to an IPv4
    /// address dials IPv4 peers only; use `[::]:0` to dial IPv6 peers (IPv4 ones too where
    /// the system allows dual-stack sockets).
    pub bind: SocketAddr,
    /// The kernel buffer asked for each way on the UDP socket (`SO_RCVBUF`/`SO_SNDBUF`),
    /// so bursts at high rates are not dropped (which QUIC takes for congestion). The kernel
    /// may give less (Linux caps it at `net.core.rmem_max`/`wmem_max`); `None` keeps the
    /// system default. Default 4 MiB.
    pub socket_buffer: Option<usize>,
    /// How long a dial waits for the QUIC and TLS handshake, and how long the listener gives
    /// an incoming one before dropping it. Default 5 s (monerod's TCP connect timeout);
    /// must be above zero.
    pub handshake_timeout: Duration,
    /// How long a dial over an existing connection waits for stream credit when the peer
    /// already has [`QuicConfig::max_concurrent_streams`] of our streams open. Default 10 s;
    /// must be above zero.
    pub open_stream_timeout: Duration,
    /// A connection with no packet from the peer for this long is dead (QUIC's
    /// `max_idle_timeout`; the smaller of both sides' values applies). Default 30 s; above
    /// zero and at most about 146 years (QUIC's limit of 2^62 ms).
    pub idle_timeout: Duration,
    /// How often a PING is sent on an otherwise idle connection, so long-lived quiet
    /// streams (a P2P connection between timed syncs) and NAT mappings outlive
    /// [`QuicConfig::idle_timeout`]. Default 10 s; `None` sends none; if set, must be below
    /// `idle_timeout`.
    pub keep_alive: Option<Duration>,
    /// A connection we dialled that has had no open stream for this long is closed, so the
    /// keep-alive does not hold it open forever; so is an accepted one once the listener is
    /// gone. It is closed between `linger` and twice `linger` after its last stream ended.
    /// This is also the time data written just before a stream was dropped has to reach the
    /// peer (closing a QUIC connection drops what is not yet acknowledged), so keep it well
    /// above the round-trip time. Default 30 s; must be above zero.
    pub linger: Duration,
    /// How many bidirectional streams a dialler may have open at once on one connection to
    /// our listener (QUIC's `initial_max_streams_bidi`: more wait for credit). Default 128;
    /// 1 to 2^20.
    pub max_concurrent_streams: u32,
    /// How many accepted connections the listener serves at once; connections beyond are
    /// refused (`CONNECTION_REFUSED`) before their handshake. Default 512; at least 1.
    pub max_connections: usize,
    /// How many accepted streams wait for the listener to take them. When it is full the
    /// listener takes no more streams from any connection (they stay unaccepted inside
    /// QUIC, and the peers run out of stream credit). Default 128; at least 1.
    pub accept_queue: usize,
    /// How many connections we dialled are kept for reuse. Beyond that a dial still works,
    /// but its connection is not shared with later dials. Default 1024; at least 1.
    pub max_cached_connections: usize,
}

impl Default for QuicConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            socket_buffer: Some(4 << 20),
            handshake_timeout: Duration::from_secs(5),
            open_stream_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(10)),
            linger: Duration::from_secs(30),
            max_concurrent_streams: 128,
            max_connections: 512,
            accept_queue: 128,
            max_cached_connections: 1024,
        }
    }
}

/// The most streams a peer may be allowed at once (`max_concurrent_streams`).
const MAX_STREAMS: u32 = 1 << 20;

impl QuicConfig {
    /// Checks every field is in range.
    ///
    /// # Errors
    /// [`QuicError::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), QuicError> {
        let fail = |what: &str| Err(QuicError::Config(what.to_owned()));
        if self.handshake_timeout.is_zero() {
            return fail("handshake_timeout must be above zero");
        }
        if self.open_stream_timeout.is_zero() {
            return fail("open_stream_timeout must be above zero");
        }
        if self.idle_timeout.is_zero() || quinn::IdleTimeout::try_from(self.idle_timeout).is_err() {
            return fail("idle_timeout must be above zero and below 2^62 ms");
        }
        if self
            .keep_alive
            .is_some_and(|every| every.is_zero() || every >= self.idle_timeout)
        {
            return fail("keep_alive must be above zero and below idle_timeout");
        }
        if self.linger.is_zero() {
            return fail("linger must be above zero");
        }
        if self.max_concurrent_streams == 0 || self.max_concurrent_streams > MAX_STREAMS {
            return fail("max_concurrent_streams must be 1 to 2^20");
        }
        if self.max_connections == 0 || self.accept_queue == 0 || self.max_cached_connections == 0 {
            return fail(
                "max_connections, accept_queue and max_cached_connections must be at least 1",
            );
        }
        Ok(())
    }

    /// The QUIC transport parameters of one side; `peer_streams` is how many bidirectional
    /// streams the peer may open (none for connections we dial: only the dialler opens
    /// streams).
    pub(crate) fn transport(
        &self,
        peer_streams: u32,
    ) -> Result<Arc<quinn::TransportConfig>, QuicError> {
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|_| QuicError::Config("idle_timeout is too long".to_owned()))?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(quinn::VarInt::from_u32(peer_streams))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(self.keep_alive)
            .datagram_receive_buffer_size(None);
        Ok(Arc::new(transport))
    }
}
