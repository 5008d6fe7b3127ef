//! The per-peer connection: a task that owns the socket after the handshake.
//!
//! ```text
//!              ┌───────────── connection task (one per peer) ─────────────┐
//!  Client ───► │ request queue (bounded) ─┐                                │
//!  try_notify ►│ notification queue ──────┤   ConnectionState (sans-IO)   │ ◄──► peer
//!              │ timers ──────────────────┘   decides; the task does I/O  │
//!              └──► ProtocolHandler (peer's requests)   PeerDirectory ◄───┘
//!                                                       (peer lists, ban scores)
//! ```
//!
//! The task answers the peer's timed syncs, pings and support-flags requests itself, sends
//! our timed sync every minute, hands the peer's protocol requests (get objects, chain,
//! pool complement, new blocks and transactions) to a [`ProtocolHandler`], and closes the
//! connection on a violation, reporting a ban score to the [`PeerDirectory`].

mod counting;
mod state;
mod task;

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::codec::{FramedRead, FramedWrite};
use umbra_wire::{
    BasicNodeData, CoreSyncData, MoneroCodec, PeerListEntry,
    split::{ProtocolRequest, ProtocolResponse},
};

pub use counting::{ByteCounters, Counted, counted};
pub use state::{
    ConnectionConfig, ConnectionState, Event, REQUEST_BURST, REQUESTS_PER_SECOND, Violation,
};
pub use task::spawn;

use crate::{Direction, FilteredPeerList, NetworkZone};

/// Requests a [`Client`](crate::Client) may queue beyond the one in flight.
pub const REQUEST_QUEUE: usize = 1;
/// Notifications (blocks, transactions) queued per peer before new ones are dropped.
pub const NOTIFICATION_QUEUE: usize = 64;
/// How long one message may take to be written before the peer counts as stalled.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the [`ProtocolHandler`] may take to answer one of the peer's requests.
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);

/// Answers the peer's protocol requests (a `tower::Service`): `Some(response)` for requests
/// that expect one, `None` otherwise (or when we have nothing to answer).
pub trait ProtocolHandler:
    tower::Service<
        ProtocolRequest,
        Response = Option<ProtocolResponse>,
        Error = tower::BoxError,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<T> ProtocolHandler for T where
    T: tower::Service<
            ProtocolRequest,
            Response = Option<ProtocolResponse>,
            Error = tower::BoxError,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// A [`ProtocolHandler`] for a node with nothing to serve: every request gets no answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingToServe;

impl tower::Service<ProtocolRequest> for NothingToServe {
    type Response = Option<ProtocolResponse>;
    type Error = tower::BoxError;
    type Future = std::future::Ready<Result<Option<ProtocolResponse>, tower::BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ProtocolRequest) -> Self::Future {
        std::future::ready(Ok(None))
    }
}

/// Where a connection gets the peer list it shares and reports what it learns; the
/// address book, in a node. Calls are synchronous and must be quick.
pub trait PeerDirectory<Z: NetworkZone>: Clone + Send + Sync + 'static {
    /// Up to 250 peers to put in our handshake and timed-sync answers to the peer at `to`
    /// (see [`PeerCandidate::to_wire_for`](crate::PeerCandidate::to_wire_for): keys go only
    /// to authenticated peers).
    fn peers_to_share(&self, to: &Z::Addr) -> Vec<PeerListEntry>;
    /// The peer at `from` told us about these peers (already filtered).
    fn heard_of(&self, from: &Z::Addr, peers: FilteredPeerList<Z::Addr>);
    /// The peer at `addr` misbehaved: add `score` towards a ban (100 bans).
    fn misbehaved(&self, addr: &Z::Addr, score: u32, reason: &str);
}

/// A connection that passed its handshake, ready for [`spawn`].
#[derive(Debug)]
pub struct Established<Z: NetworkZone, R, W> {
    /// The read half, with whatever the handshake already buffered.
    pub reader: FramedRead<R, MoneroCodec>,
    /// The write half.
    pub writer: FramedWrite<W, MoneroCodec>,
    /// The peer's address.
    pub addr: Z::Addr,
    /// Who connected.
    pub direction: Direction,
    /// The peer's node data.
    pub node_data: BasicNodeData,
    /// The peer's support flags.
    pub support_flags: u32,
    /// The peer's chain state at the handshake.
    pub core_sync: CoreSyncData,
    /// The byte counters of the halves (see [`counted`]); default if not counted.
    pub bytes: ByteCounters,
    /// Protocol messages the peer sent during the handshake (monerod sends its pool
    /// complement request before its handshake response), handled first, in order.
    pub early_messages: Vec<umbra_wire::ProtocolMessage>,
}

/// What the connection says about us.
#[derive(Debug, Clone)]
pub struct Ours {
    /// Our node id on this connection.
    pub node_id: u64,
    /// Our support flags.
    pub support_flags: u32,
    /// Our chain state, kept current by the node.
    pub core_sync: watch::Receiver<CoreSyncData>,
    /// Whether peer lists may carry private and loopback addresses.
    pub allow_local_addresses: bool,
}
