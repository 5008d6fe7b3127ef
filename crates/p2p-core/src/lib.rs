//! Monero P2P peers: network zones, the handshake, the per-peer connection task, and
//! [`Client`], a `tower::Service` for one peer.
//!
//! # Where this sits
//!
//! ```text
//! transport ─► levin frames ─► wire messages ─► umbra-p2p-core ─► umbra-p2p (peer set, routing)
//!                                               │
//!                                               ├─ zone: NetworkZone, ZoneAddr, ClearNet, HybridNet,
//!                                               │        AnonymousNet (TorNet, I2pNet)
//!                                               ├─ handshake: sans-IO Handshaker + async driver
//!                                               ├─ connection: per-peer task (sans-IO core + I/O)
//!                                               └─ client: Client<Z>, tower::Service per peer
//! ```
//!
//! The protocol logic (handshake, the request/response bookkeeping of a connection) lives
//! in plain state machines that take messages and time and return what to send; the async
//! tasks around them only move bytes. Everything a peer can fill is bounded: peer lists
//! (250 entries), queues in both directions, frame sizes (256 KiB before the handshake,
//! 100 MB after), and every step has a timeout.

pub mod anonymous;
mod client;
pub mod connection;
pub mod handshake;
mod hybrid;
pub mod i2p;
pub mod latency;
mod peer;
mod peer_list;
pub mod tor;
pub mod zone;

pub use anonymous::AnonymousNet;
pub use client::{Client, ConnectionInfo, NotifyError, PeerError, PeerStats, ResponseFuture};
pub use hybrid::HybridNet;
pub use i2p::I2pNet;
pub use peer::Direction;
pub use peer_list::{
    FilteredPeerList, MAX_PEER_LIST_LEN, PeerCandidate, PeerListTooLong, filter_peer_list,
};
pub use tor::TorNet;
pub use zone::{ClearNet, NetworkZone, NodeIds, ZoneAddr, ip_is_routable, node_id_for_connection};
