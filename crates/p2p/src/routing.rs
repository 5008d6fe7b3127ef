//! Routing: the [`PeerSet`] as a `tower::Service<PeerSetRequest>`, and broadcast.
//!
//! `poll_ready` is always ready: the set itself has no queue. The chosen peer is picked
//! synchronously in `call` (under the set's lock, released at once), and the returned
//! future then waits for that peer's request queue with `ServiceExt::ready`, bounded by
//! [`PeerSetConfig::ready_timeout`](crate::PeerSetConfig::ready_timeout). While it waits,
//! the request counts towards the peer's load so that concurrent callers spread out.
//!
//! Broadcasts are answered immediately: [`PeerSet::broadcast`] calls `try_notify` on each
//! chosen peer and never waits for one.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use rand::seq::IndexedRandom;
use umbra_p2p_core::{NetworkZone, NotifyError, PeerError};
use umbra_wire::{
    ProtocolMessage,
    split::{PeerRequest, PeerResponse},
};

use crate::peer_set::{PeerSet, Picked};

/// Which peers a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastTarget {
    /// Every open peer.
    All,
    /// Up to this many open peers, chosen at random.
    Random(usize),
    /// Every open peer but this connection (typically the one we heard it from).
    Except(u64),
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BroadcastOutcome {
    /// Peers whose notification queue took the message.
    pub queued: usize,
    /// Peers whose queue was full: the message was dropped for them (and counted in their
    /// `PeerStats::dropped_notifications`).
    pub dropped: usize,
    /// Peers that closed before the message could be queued.
    pub closed: usize,
}

/// A request to the [`PeerSet`] service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSetRequest {
    /// Send to one peer chosen by power of two choices.
    Any(PeerRequest),
    /// Send to one peer whose chain is at least `height` blocks, chosen by power of two
    /// choices among those (for the block downloader).
    AtLeastHeight {
        /// The least chain height (number of blocks) the peer must have.
        height: u64,
        /// The request.
        request: PeerRequest,
    },
    /// Send to exactly the peer with this connection id.
    ToPeer {
        /// The connection id.
        id: u64,
        /// The request.
        request: PeerRequest,
    },
    /// Queue a notification on some peers without waiting for any.
    Broadcast {
        /// The message.
        message: ProtocolMessage,
        /// Which peers.
        to: BroadcastTarget,
    },
}

/// The answer of the [`PeerSet`] service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSetResponse {
    /// A peer answered a routed request.
    Peer {
        /// The connection id of the peer that answered.
        id: u64,
        /// Its answer.
        response: PeerResponse,
    },
    /// A broadcast was queued.
    Broadcast(BroadcastOutcome),
}

/// Why a request to the [`PeerSet`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerSetError {
    /// The set holds no open peer.
    #[error("no peer is connected")]
    NoPeers,
    /// No open peer has a chain of at least `height` blocks.
    #[error("no connected peer has a chain of at least {height} blocks")]
    NoPeerAtHeight {
        /// The height asked for.
        height: u64,
    },
    /// No open peer has this connection id.
    #[error("no connected peer has connection id {id}")]
    PeerNotFound {
        /// The connection id asked for.
        id: u64,
    },
    /// The chosen peer's request queue stayed full for the whole ready timeout.
    #[error("peer {id} was not ready for a request within {waited:?}")]
    NotReady {
        /// The chosen peer.
        id: u64,
        /// How long we waited.
        waited: Duration,
    },
    /// The chosen peer failed the request (its connection closed).
    #[error("peer {id} failed the request: {error}")]
    Peer {
        /// The chosen peer.
        id: u64,
        /// What went wrong.
        #[source]
        error: PeerError,
    },
}

/// The future of a [`PeerSet`] call.
pub type PeerSetFuture =
    Pin<Box<dyn Future<Output = Result<PeerSetResponse, PeerSetError>> + Send + 'static>>;

impl<Z: NetworkZone> PeerSet<Z> {
    /// Queues `message` on the peers `to` names, without waiting for any of them.
    ///
    /// Each peer gets a clone through `Client::try_notify`: a peer whose bounded
    /// notification queue is full drops it (counted in the outcome and in its stats).
    pub fn broadcast(&self, message: &ProtocolMessage, to: BroadcastTarget) -> BroadcastOutcome {
        let outcome = self.with_clients(|clients| {
            let mut outcome = BroadcastOutcome::default();
            let mut notify =
                |client: &umbra_p2p_core::Client<Z>| match client.try_notify(message.clone()) {
                    Ok(()) => outcome.queued = outcome.queued.saturating_add(1),
                    Err(NotifyError::Full) => {
                        tracing::trace!(
                            zone = Z::NAME,
                            id = client.info().id,
                            "notification dropped"
                        );
                        outcome.dropped = outcome.dropped.saturating_add(1);
                    }
                    Err(NotifyError::Closed) => outcome.closed = outcome.closed.saturating_add(1),
                };
            match to {
                BroadcastTarget::All => clients.iter().for_each(|client| notify(client)),
                BroadcastTarget::Random(n) => clients
                    .choose_multiple(&mut rand::rng(), n)
                    .for_each(|client| notify(client)),
                BroadcastTarget::Except(id) => clients
                    .iter()
                    .filter(|client| client.info().id != id)
                    .for_each(|client| notify(client)),
            }
            outcome
        });
        if outcome.dropped > 0 {
            tracing::debug!(
                zone = Z::NAME,
                queued = outcome.queued,
                dropped = outcome.dropped,
                "broadcast dropped for peers with full queues"
            );
        }
        outcome
    }

    /// Sends `request` to the picked peer: waits (bounded) for its queue, then for its
    /// answer. Holds no lock.
    fn send(
        picked: Result<Picked<Z>, PeerSetError>,
        request: PeerRequest,
        ready_timeout: Duration,
    ) -> PeerSetFuture {
        Box::pin(async move {
            let Picked {
                mut client,
                waiting,
            } = picked?;
            let id = client.info().id;
            match tokio::time::timeout(ready_timeout, tower::ServiceExt::ready(&mut client)).await {
                Err(_) => {
                    return Err(PeerSetError::NotReady {
                        id,
                        waited: ready_timeout,
                    });
                }
                Ok(Err(error)) => return Err(PeerSetError::Peer { id, error }),
                Ok(Ok(_)) => {}
            }
            let response = tower::Service::call(&mut client, request);
            // From here the client's own in-flight count carries the load.
            drop(waiting);
            response
                .await
                .map(|response| PeerSetResponse::Peer { id, response })
                .map_err(|error| PeerSetError::Peer { id, error })
        })
    }
}

impl<Z: NetworkZone> tower::Service<PeerSetRequest> for PeerSet<Z> {
    type Response = PeerSetResponse;
    type Error = PeerSetError;
    type Future = PeerSetFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PeerSetError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: PeerSetRequest) -> PeerSetFuture {
        let ready_timeout = self.config().ready_timeout;
        match request {
            PeerSetRequest::Any(request) => Self::send(self.pick(None), request, ready_timeout),
            PeerSetRequest::AtLeastHeight { height, request } => {
                Self::send(self.pick(Some(height)), request, ready_timeout)
            }
            PeerSetRequest::ToPeer { id, request } => {
                Self::send(self.pick_id(id), request, ready_timeout)
            }
            PeerSetRequest::Broadcast { message, to } => {
                let outcome = self.broadcast(&message, to);
                Box::pin(std::future::ready(Ok(PeerSetResponse::Broadcast(outcome))))
            }
        }
    }
}
