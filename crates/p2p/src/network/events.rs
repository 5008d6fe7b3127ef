//! What the network reports as it runs: for logs, status displays and tests.
//!
//! Events go out on a bounded `tokio::sync::broadcast` channel
//! ([`Network::subscribe`](super::Network::subscribe)): a subscriber that falls behind
//! loses the oldest events (it sees `RecvError::Lagged`), and the network never waits for
//! anyone.

use std::fmt;

use umbra_p2p_core::Direction;

/// How many events a subscriber may fall behind before it loses the oldest.
pub const EVENT_BUFFER: usize = 1024;

/// Why the maintainer dialled a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialSource {
    /// A configured exclusive node.
    Exclusive,
    /// A configured priority node.
    Priority,
    /// An anchor: an outbound peer of the last run.
    Anchor,
    /// A configured seed peer (`--add-peer`).
    Seed,
    /// The white list: a peer we have connected to before.
    White,
    /// The gray list: a peer we heard of.
    Gray,
}

impl fmt::Display for DialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exclusive => "exclusive",
            Self::Priority => "priority",
            Self::Anchor => "anchor",
            Self::Seed => "seed",
            Self::White => "white",
            Self::Gray => "gray",
        })
    }
}

/// Why an inbound connection was closed before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refused {
    /// The host is banned.
    Banned,
    /// `in_peers` inbound connections are open.
    InboundFull,
    /// The host has `max_connections_per_host` inbound connections open.
    TooManyFromHost,
    /// `max_inbound_handshakes` handshakes are under way.
    TooManyHandshakes,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Banned => "banned host",
            Self::InboundFull => "inbound connections full",
            Self::TooManyFromHost => "too many connections from this host",
            Self::TooManyHandshakes => "too many handshakes under way",
        })
    }
}

/// Something the network did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkEvent<A> {
    /// Accepting peers at this address.
    Listening {
        /// The bound address.
        addr: A,
    },
    /// A dial started.
    Dialling {
        /// Whom.
        addr: A,
        /// Why this peer.
        source: DialSource,
    },
    /// A dial or its handshake failed.
    DialFailed {
        /// Whom.
        addr: A,
        /// Why this peer was dialled.
        source: DialSource,
        /// What went wrong.
        error: String,
    },
    /// An inbound connection was closed before its handshake.
    InboundRefused {
        /// From where.
        addr: A,
        /// Why.
        reason: Refused,
    },
    /// An inbound handshake failed.
    HandshakeFailed {
        /// From where.
        addr: A,
        /// What went wrong.
        error: String,
        /// Points towards a ban the peer got for it.
        ban_score: u32,
    },
    /// A peer passed its handshake and joined the peer set.
    Connected {
        /// The connection id.
        id: u64,
        /// The peer's address.
        addr: A,
        /// Who connected.
        direction: Direction,
        /// The chain height the peer claimed.
        height: u64,
    },
    /// A connection that had joined the peer set closed.
    Disconnected {
        /// The connection id.
        id: u64,
        /// The peer's address.
        addr: A,
        /// Who had connected.
        direction: Direction,
        /// Why, if known.
        reason: Option<String>,
    },
    /// An inbound peer's advertised address was checked by connecting back to it.
    PingBack {
        /// The advertised address.
        addr: A,
        /// Whether it answered as the peer (and so entered the white list).
        ok: bool,
    },
    /// A host was banned for misbehaving; its connections were closed.
    Banned {
        /// The host.
        addr: A,
        /// The last offence.
        reason: String,
    },
}
