//! Admin messages (commands 1001–1007): they are levin requests and responses already.

use umbra_epee::EpeeObject;

use crate::{BasicNodeData, CoreSyncData, PeerListEntry};

/// `COMMAND_HANDSHAKE` request (1001).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct HandshakeRequest {
    /// Who we are.
    pub node_data: BasicNodeData,
    /// Our chain.
    pub payload_data: CoreSyncData,
}

/// `COMMAND_HANDSHAKE` response (1001).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct HandshakeResponse {
    /// Who the peer is.
    pub node_data: BasicNodeData,
    /// The peer's chain.
    pub payload_data: CoreSyncData,
    /// Some of the peers the peer knows (monerod sends up to 250).
    pub local_peerlist_new: Vec<PeerListEntry>,
}

/// `COMMAND_TIMED_SYNC` request (1002).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct TimedSyncRequest {
    /// The sender's chain.
    pub payload_data: CoreSyncData,
}

/// `COMMAND_TIMED_SYNC` response (1002).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct TimedSyncResponse {
    /// The responder's chain.
    pub payload_data: CoreSyncData,
    /// Some of the peers the responder knows.
    pub local_peerlist_new: Vec<PeerListEntry>,
}

/// The status a successful ping response carries.
pub const PING_OK_STATUS: &str = "OK";

/// `COMMAND_PING` response (1003). The request has no fields.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct PingResponse {
    /// [`PING_OK_STATUS`] on success.
    pub status: String,
    /// The responder's peer id.
    pub peer_id: u64,
}

/// `COMMAND_REQUEST_SUPPORT_FLAGS` response (1007). The request has no fields.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct SupportFlagsResponse {
    /// The responder's [`crate::support_flags`].
    pub support_flags: u32,
}

/// An object with no fields: the body of ping and support-flags requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EpeeObject)]
pub struct Empty {}

/// An admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    /// Handshake.
    Handshake(HandshakeRequest),
    /// Timed sync.
    TimedSync(TimedSyncRequest),
    /// Ping.
    Ping,
    /// Ask for the peer's support flags.
    SupportFlags,
}

/// An admin response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminResponse {
    /// Handshake.
    Handshake(HandshakeResponse),
    /// Timed sync.
    TimedSync(TimedSyncResponse),
    /// Ping.
    Ping(PingResponse),
    /// Support flags.
    SupportFlags(SupportFlagsResponse),
}
