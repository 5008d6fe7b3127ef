//! [`Client`]: one connected peer as a `tower::Service`.
//!
//! ```text
//!  caller ──call(PeerRequest)──► Client ──bounded queue──► connection task ──► peer
//!         ◄──── PeerResponse ───────────── oneshot ◄──────────┘
//! ```
//!
//! `poll_ready` reserves a slot in the connection's request queue, so readiness means "the
//! connection can take a request now" and a busy or dead peer says so instead of queueing
//! without bound. Dropping the response future cancels the request: if it has not been sent
//! yet the connection skips it, and if it has, the answer is read and dropped when it comes.
//!
//! Besides requests, [`Client::try_notify`] pushes a notification (a new block or
//! transactions) into a separate bounded queue and never waits: a full queue drops the
//! message and counts it in [`PeerStats::dropped_notifications`].

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, PollSender};
use umbra_wire::{
    BasicNodeData, CoreSyncData, ProtocolMessage,
    split::{PeerRequest, PeerResponse},
};

use crate::{Direction, NetworkZone, connection::ByteCounters, latency::PeakEwma};

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The connection is closed (or closed while the request was pending).
    #[error("connection to {peer} is closed{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed {
        /// The peer, as displayed.
        peer: String,
        /// Why it closed, if known.
        reason: Option<String>,
    },
}

/// A request on its way to the connection task.
#[derive(Debug)]
pub(crate) struct ClientRequest {
    pub(crate) request: PeerRequest,
    pub(crate) respond: oneshot::Sender<Result<PeerResponse, PeerError>>,
}

/// Counters of one connection, updated by its task and read by anyone.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Bytes received from and sent to the peer (shared with the byte-counting stream
    /// wrappers, which count from the first handshake byte).
    pub bytes: ByteCounters,
    /// Messages received.
    pub messages_in: AtomicU64,
    /// Messages sent.
    pub messages_out: AtomicU64,
    /// Notifications dropped because the peer's queue was full.
    pub dropped_notifications: AtomicU64,
    /// Round-trip time of the last answered request, in microseconds (0: none yet).
    pub rtt_micros: AtomicU64,
    /// Milliseconds since the connection started when we last heard from the peer.
    pub last_seen_millis: AtomicU64,
    /// The peer's timed syncs we answered.
    pub timed_syncs_answered: AtomicU64,
    /// Our timed syncs the peer answered.
    pub timed_syncs_completed: AtomicU64,
}

/// What every holder of a connection can see about it.
pub struct ConnectionInfo<Z: NetworkZone> {
    /// A number unique among this process's connections.
    pub id: u64,
    /// The peer's address (for inbound peers, where the connection came from).
    pub addr: Z::Addr,
    /// Who opened the connection.
    pub direction: Direction,
    /// The peer's node data from the handshake.
    pub node_data: BasicNodeData,
    /// The peer's support flags.
    pub support_flags: u32,
    /// When the connection was established.
    pub started: Instant,
    /// Counters.
    pub stats: PeerStats,
    core_sync: Mutex<CoreSyncData>,
    /// Requests sent through clients and not answered yet (the load for routing).
    in_flight: AtomicUsize,
    closed: CancellationToken,
    close_reason: Mutex<Option<String>>,
    /// Peak-EWMA of the round-trip times of answered requests.
    latency: Mutex<PeakEwma>,
}

impl<Z: NetworkZone> fmt::Debug for ConnectionInfo<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("direction", &self.direction)
            .field("peer_id", &self.node_data.peer_id)
            .field("closed", &self.closed.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl<Z: NetworkZone> ConnectionInfo<Z> {
    pub(crate) fn new(
        addr: Z::Addr,
        direction: Direction,
        node_data: BasicNodeData,
        support_flags: u32,
        core_sync: CoreSyncData,
        bytes: ByteCounters,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr,
            direction,
            node_data,
            support_flags,
            started: Instant::now(),
            stats: PeerStats {
                bytes,
                ..PeerStats::default()
            },
            core_sync: Mutex::new(core_sync),
            in_flight: AtomicUsize::new(0),
            closed: CancellationToken::new(),
            close_reason: Mutex::new(None),
            latency: Mutex::new(PeakEwma::default()),
        }
    }

    /// The peer's chain state, as of its last timed sync.
    #[must_use]
    pub fn core_sync(&self) -> CoreSyncData {
        self.core_sync
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The peer's chain height (number of blocks), as of its last timed sync.
    #[must_use]
    pub fn height(&self) -> u64 {
        self.core_sync
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current_height
    }

    pub(crate) fn set_core_sync(&self, core_sync: CoreSyncData) {
        *self
            .core_sync
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = core_sync;
    }

    /// Requests in flight through this peer's clients.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Round-trip time of the last answered request.
    #[must_use]
    pub fn rtt(&self) -> Option<Duration> {
        match self.stats.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// The peak-EWMA estimate of this peer's round-trip time (see [`PeakEwma`]): jumps
    /// up with a slow answer, decays over about ten seconds of fast ones.
    #[must_use]
    pub fn rtt_estimate(&self) -> Option<Duration> {
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .estimate()
    }

    /// Records the round-trip time of an answered request, taken at `now`.
    pub(crate) fn record_rtt(&self, rtt: Duration, now: Instant) {
        self.stats.rtt_micros.store(
            u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(rtt, now);
    }

    /// How long ago the peer last sent anything.
    #[must_use]
    pub fn last_seen(&self) -> Duration {
        let seen = Duration::from_millis(self.stats.last_seen_millis.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(seen)
    }

    /// Whether the connection is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Closes the connection (the task sends nothing more and drops the socket).
    pub fn close(&self, reason: impl Into<String>) {
        let mut slot = self
            .close_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(reason.into());
        }
        drop(slot);
        self.closed.cancel();
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// Why the connection closed, if it did and a reason was given.
    #[must_use]
    pub fn close_reason(&self) -> Option<String> {
        self.close_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn closed_error(&self) -> PeerError {
        PeerError::Closed {
            peer: self.addr.to_string(),
            reason: self.close_reason(),
        }
    }
}

/// Decrements the in-flight count when a request ends, however it ends.
struct InFlight<Z: NetworkZone>(Arc<ConnectionInfo<Z>>);

impl<Z: NetworkZone> Drop for InFlight<Z> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connected peer as a `tower::Service`; see the module docs. Cheap to clone:
/// clones share the connection.
pub struct Client<Z: NetworkZone> {
    info: Arc<ConnectionInfo<Z>>,
    requests: PollSender<ClientRequest>,
    notifications: mpsc::Sender<ProtocolMessage>,
}

impl<Z: NetworkZone> Clone for Client<Z> {
    fn clone(&self) -> Self {
        Self {
            info: Arc::clone(&self.info),
            requests: self.requests.clone(),
            notifications: self.notifications.clone(),
        }
    }
}

impl<Z: NetworkZone> fmt::Debug for Client<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("info", &self.info).finish()
    }
}

/// Why [`Client::try_notify`] did not queue a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The peer's queue is full; the message was dropped (and counted).
    #[error("the peer's notification queue is full")]
    Full,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

impl<Z: NetworkZone> Client<Z> {
    pub(crate) fn new(
        info: Arc<ConnectionInfo<Z>>,
        requests: mpsc::Sender<ClientRequest>,
        notifications: mpsc::Sender<ProtocolMessage>,
    ) -> Self {
        Self {
            info,
            requests: PollSender::new(requests),
            notifications,
        }
    }

    /// What is known about the connection.
    #[must_use]
    pub fn info(&self) -> &Arc<ConnectionInfo<Z>> {
        &self.info
    }

    /// Queues a notification for the peer without waiting.
    ///
    /// # Errors
    /// [`NotifyError::Full`] (the message is dropped and counted) or
    /// [`NotifyError::Closed`].
    pub fn try_notify(&self, message: ProtocolMessage) -> Result<(), NotifyError> {
        if self.info.is_closed() {
            return Err(NotifyError::Closed);
        }
        self.notifications
            .try_send(message)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => {
                    self.info
                        .stats
                        .dropped_notifications
                        .fetch_add(1, Ordering::Relaxed);
                    NotifyError::Full
                }
                mpsc::error::TrySendError::Closed(_) => NotifyError::Closed,
            })
    }
}

/// The answer to a [`Client`] request.
pub struct ResponseFuture<Z: NetworkZone> {
    state: ResponseState<Z>,
}

enum ResponseState<Z: NetworkZone> {
    Waiting {
        receiver: oneshot::Receiver<Result<PeerResponse, PeerError>>,
        in_flight: InFlight<Z>,
    },
    Failed(Option<PeerError>),
}

impl<Z: NetworkZone> fmt::Debug for ResponseFuture<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<Z: NetworkZone> Future for ResponseFuture<Z> {
    type Output = Result<PeerResponse, PeerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            ResponseState::Waiting {
                receiver,
                in_flight,
            } => {
                let info = Arc::clone(&in_flight.0);
                Pin::new(receiver)
                    .poll(cx)
                    .map(|result| result.unwrap_or_else(|_| Err(info.closed_error())))
            }
            ResponseState::Failed(error) => {
                Poll::Ready(Err(error.take().unwrap_or_else(|| PeerError::Closed {
                    peer: String::new(),
                    reason: Some("response future polled after completion".into()),
                })))
            }
        }
    }
}

impl<Z: NetworkZone> tower::Service<PeerRequest> for Client<Z> {
    type Response = PeerResponse;
    type Error = PeerError;
    type Future = ResponseFuture<Z>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PeerError>> {
        if self.info.is_closed() {
            return Poll::Ready(Err(self.info.closed_error()));
        }
        self.requests
            .poll_reserve(cx)
            .map_err(|_| self.info.closed_error())
    }

    fn call(&mut self, request: PeerRequest) -> ResponseFuture<Z> {
        let (respond, receiver) = oneshot::channel();
        self.info.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(Arc::clone(&self.info));
        if self
            .requests
            .send_item(ClientRequest { request, respond })
            .is_err()
        {
            // Not ready (a caller bug) or closed meanwhile: fail this request only.
            return ResponseFuture {
                state: ResponseState::Failed(Some(self.info.closed_error())),
            };
        }
        ResponseFuture {
            state: ResponseState::Waiting {
                receiver,
                in_flight,
            },
        }
    }
}
