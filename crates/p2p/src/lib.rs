//! The peer set: every connected peer of one zone, and the routing services the rest of
//! the node uses to reach them; and [`Network`], which runs a zone: the inbound server,
//! the connection maintainer and the address book around that peer set (see
//! [`network`]).
//!
//! # Where this sits
//!
//! ```text
//!  umbra-p2p-core                umbra-p2p                        callers
//!  ──────────────                ─────────                        ───────
//!  handshake ─► spawn ─► Client ─► PeerSet::insert                block downloader
//!                 (one per peer)   PeerSet: tower::Service ◄───── (AtLeastHeight, ToPeer)
//!                                  PeerSet::broadcast ◄────────── tx / block relay
//! ```
//!
//! The connection layer ([`umbra_p2p_core`]) turns each established connection into a
//! [`Client`](umbra_p2p_core::Client), a `tower::Service` for that one peer. The node
//! inserts those clients into a [`PeerSet`]; callers then send through the set without
//! caring which peer answers, or name a peer, or broadcast.
//!
//! # Routing rules
//!
//! | request                                  | who gets it                                     |
//! |------------------------------------------|-------------------------------------------------|
//! | [`PeerSetRequest::Any`]                  | power of two choices among the live peers      |
//! | [`PeerSetRequest::AtLeastHeight`]        | power of two choices among peers at or above a height |
//! | [`PeerSetRequest::ToPeer`]               | exactly the peer with that connection id        |
//! | [`PeerSetRequest::Broadcast`]            | all peers, `n` random peers, or all but one     |
//!
//! *Power of two choices*: two distinct live candidates are drawn at random and the
//! request goes to the less loaded one (see [`LoadMetric`]): by default the one with fewer
//! requests in flight (those sent through any clone of its `Client` plus those the set has
//! routed to it that still wait for a queue slot), ties broken by the lower last round-trip
//! time, then by a coin flip. With a single candidate it is used; with none the call fails
//! with [`PeerSetError::NoPeers`] or [`PeerSetError::NoPeerAtHeight`].
//!
//! # Bounds and back-pressure
//!
//! - The set holds at most [`PeerSetConfig::max_peers`] peers; [`PeerSet::insert`] beyond
//!   that is refused with [`InsertError::Full`] (the caller closes the connection).
//! - Closed peers are removed lazily on every operation (and explicitly with
//!   [`PeerSet::remove`]), so a dead peer is never chosen.
//! - The service is always ready; a routed request waits for its peer's request queue (one
//!   of p2p-core's bounded queues) inside the response future, for at most
//!   [`PeerSetConfig::ready_timeout`] (30 s by default), then fails with
//!   [`PeerSetError::NotReady`]. Dropping the response future cancels the request.
//! - Broadcasts never wait: each chosen peer gets the message through
//!   [`Client::try_notify`](umbra_p2p_core::Client::try_notify), and a peer whose
//!   notification queue is full drops it (counted in its stats and in the returned
//!   [`BroadcastOutcome`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn example(client: umbra_p2p_core::Client<umbra_p2p_core::ClearNet>,
//! #                  request: umbra_wire::split::PeerRequest,
//! #                  block: umbra_wire::ProtocolMessage) -> Result<(), Box<dyn std::error::Error>> {
//! use tower::{Service, ServiceExt};
//! use umbra_p2p::{BroadcastTarget, PeerSet, PeerSetConfig, PeerSetRequest, PeerSetResponse};
//!
//! let mut peers = PeerSet::new(PeerSetConfig::default());
//! peers.insert(client)?;
//!
//! // Ask any peer whose chain reaches height 3_000_000.
//! let answer = peers
//!     .ready()
//!     .await?
//!     .call(PeerSetRequest::AtLeastHeight { height: 3_000_000, request })
//!     .await?;
//! if let PeerSetResponse::Peer { id, response } = answer {
//!     tracing::debug!(id, ?response, "answered");
//! }
//!
//! // Relay a block to everyone; never blocks on a slow peer.
//! let outcome = peers.broadcast(&block, BroadcastTarget::All);
//! tracing::debug!(queued = outcome.queued, dropped = outcome.dropped, "relayed");
//! # Ok(()) }
//! ```

pub mod network;
pub mod peer_set;
pub mod routing;

pub use network::{
    BookDirectory, DialSource, Network, NetworkConfig, NetworkEvent, NetworkSetup, NetworkStatus,
    Refused, ShutdownError,
};
pub use peer_set::{
    DEFAULT_MAX_PEERS, DEFAULT_READY_TIMEOUT, InsertError, LoadMetric, PeerCounts, PeerSet,
    PeerSetConfig, PeerSummary,
};
pub use routing::{
    BroadcastOutcome, BroadcastTarget, PeerSetError, PeerSetFuture, PeerSetRequest, PeerSetResponse,
};
