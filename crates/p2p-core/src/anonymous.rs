//! Anonymity networks as zones: [`AnonymousNet`], one type for Tor
//! ([`TorNet`](crate::TorNet)) and I2P ([`I2pNet`](crate::I2pNet)).
//!
//! What the two networks share is the whole of their privacy rules and how an Umbra peer
//! rides on them; what differs is only the address (an onion service or a `.b32.i2p`
//! destination, and what an inbound connection looks like), which each network describes
//! through [`AnonymousAddr`].

use std::{fmt, marker::PhantomData};

use umbra_transport::{
    Transport,
    hybrid::{BaseAddr, PeerAddr},
};
use umbra_wire::{BasicNodeData, NetworkAddress, PeerListEntry};

use crate::{
    NetworkZone, ZoneAddr,
    hybrid::{umbra_peer, write_umbra_peer},
};

/// An anonymity network: its name and its address type. Implemented by the marker types
/// [`Tor`](crate::tor::Tor) and [`I2p`](crate::i2p::I2p).
pub trait AnonymityNetwork: 'static {
    /// The zone's name ([`NetworkZone::NAME`]): logs, and the address book's file
    /// (`<name>-peers.epee`).
    const NAME: &'static str;
    /// The zone type's name, for `Debug`.
    const ZONE: &'static str;
    /// Where a peer is on this network.
    type Addr: AnonymousAddr;
}

/// An address on an anonymity network: a service that accepts connections (an onion
/// service, an I2P destination), or an inbound connection, which is never dialled, never
/// written into a peer list and never upgraded.
pub trait AnonymousAddr: BaseAddr + Copy {
    /// The address as peer lists carry it; an inbound connection as the network's
    /// "unknown host" (what monerod sends for its own address when it has none).
    fn to_wire(&self) -> NetworkAddress;

    /// The service a peer-list entry names, if it is one of this network's.
    fn from_wire(addr: &NetworkAddress) -> Option<Self>;

    /// Whether this is a service to dial (not an inbound connection).
    fn is_service(&self) -> bool;

    /// The port (0 for an inbound connection).
    fn port(&self) -> u16;

    /// The same service at another port; an inbound connection unchanged.
    #[must_use]
    fn with_port(&self, port: u16) -> Self;

    /// What a ban applies to: the service whatever its port, an inbound connection by
    /// whatever the network tells of its source (else only the connection itself).
    #[must_use]
    fn ban_key(&self) -> Self;
}

/// Umbra's P2P over an anonymity network `N`, with transport `T`.
///
/// The privacy rules are the zone's constants and its types:
///
/// - **nothing of clearnet**: the address type is the network's own (a peer-list entry
///   with an IP address is not a peer of the zone and is dropped), the address book is
///   the zone's own file, and the node id is fresh on every connection
///   ([`NetworkZone::REUSE_NODE_ID`] is false), so a peer cannot link a connection of this
///   zone to a clearnet one;
/// - **no port, no ping back**: our port is never told, and an inbound connection is
///   never taken for an address (it is not one a peer can be reached at), so nothing is
///   learnt from it and it never enters the book;
/// - **our address** is our own service's (onion service, I2P destination), put in the
///   peer lists we send, as monerod does with `--anonymous-inbound`; never our clearnet
///   address or port;
/// - **only what monerod accepts there**: monerod closes anonymity-zone connections on
///   any command but handshakes, timed syncs and transactions, so we ask nothing else
///   ([`NetworkZone::ANONYMOUS`]: no support-flags request);
/// - between Umbra peers, Umbra's encrypted transport runs inside the network's stream
///   ([`PeerAddr`] with a key), and the identity key used is the zone's own (never the
///   clearnet identity).
pub struct AnonymousNet<N, T>(pub(crate) PhantomData<fn() -> (N, T)>);

impl<N, T> Clone for AnonymousNet<N, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N, T> Copy for AnonymousNet<N, T> {}

impl<N: AnonymityNetwork, T> fmt::Debug for AnonymousNet<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(N::ZONE)
    }
}

impl<N, T> NetworkZone for AnonymousNet<N, T>
where
    N: AnonymityNetwork,
    T: Transport<Addr = PeerAddr<N::Addr>>,
{
    const NAME: &'static str = N::NAME;
    const CHECK_NODE_ID: bool = false;
    const BROADCAST_OWN_ADDR: bool = false;
    const REUSE_NODE_ID: bool = false;
    const CAN_PING_BACK: bool = false;
    const ANONYMOUS: bool = true;

    type Addr = PeerAddr<N::Addr>;
    type Transport = T;
}

impl<A: AnonymousAddr> ZoneAddr for PeerAddr<A> {
    fn to_wire(&self) -> NetworkAddress {
        self.addr.to_wire()
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        A::from_wire(addr).map(Self::plain)
    }

    fn from_entry(entry: &PeerListEntry) -> Option<Self> {
        let mut addr = Self::from_wire(&entry.adr)?;
        addr.umbra = umbra_peer(entry.umbra_key.as_ref(), entry.umbra_transports);
        Some(addr)
    }

    fn write_entry(&self, entry: &mut PeerListEntry) {
        write_umbra_peer(self.umbra.as_ref(), entry);
    }

    fn is_authenticated(&self) -> bool {
        self.umbra.is_some()
    }

    fn upgraded(&self, node_data: &BasicNodeData) -> Option<Self> {
        // An inbound peer has no address to dial back encrypted.
        if self.umbra.is_some() || !self.addr.is_service() {
            return None;
        }
        let umbra = umbra_peer(node_data.umbra_key.as_ref(), node_data.umbra_transports)?;
        Some(Self {
            addr: self.addr,
            umbra: Some(umbra),
        })
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn with_port(&self, port: u16) -> Self {
        Self {
            addr: self.addr.with_port(port),
            umbra: self.umbra,
        }
    }

    fn ban_key(&self) -> Self {
        Self::plain(self.addr.ban_key())
    }

    /// Services with a port; never an inbound connection.
    fn is_routable(&self, _allow_local: bool) -> bool {
        self.addr.is_service() && self.addr.port() != 0
    }
}
