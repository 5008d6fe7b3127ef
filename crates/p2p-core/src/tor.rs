//! The Tor network as a zone: [`TorNet`].

use std::{fmt, marker::PhantomData};

use umbra_transport::{
    Transport,
    hybrid::PeerAddr,
    tor::{OnionAddr, TorAddr},
};
use umbra_wire::{BasicNodeData, NetworkAddress, PeerListEntry};

use crate::{
    NetworkZone, ZoneAddr,
    hybrid::{umbra_peer, write_umbra_peer},
};

/// Host name monerod gives a Tor peer whose address it does not know (an inbound
/// connection); we send it for ours, which nobody can dial either.
pub const UNKNOWN_TOR_HOST: &str = "<unknown tor host>";

/// Umbra's P2P over Tor: peers are onion services, reached through a Tor client (a
/// system tor or the embedded one) and reaching us through our own onion service.
///
/// The privacy rules are the zone's constants and its own types:
///
/// - **nothing of clearnet**: the address type is an onion address (a peer-list entry
///   with an IP address is not a Tor peer and is dropped), the address book is this
///   zone's own file, and the node id is fresh on every connection
///   ([`NetworkZone::REUSE_NODE_ID`] is false), so a peer cannot link two connections or
///   a Tor connection to a clearnet one;
/// - **no ping back**: an inbound connection through our onion service has no address
///   ([`TorAddr::Inbound`]), so nothing is learnt from it and it never enters the book;
/// - **our address** is our onion service's, told to peers we dial (as monerod does with
///   `--anonymous-inbound`); never our clearnet address or port;
/// - between Umbra peers, Umbra's encrypted transport runs inside the Tor stream, and the
///   identity key used is the Tor zone's own (never the clearnet identity).
pub struct TorNet<T>(PhantomData<fn() -> T>);

impl<T> Clone for TorNet<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for TorNet<T> {}

impl<T> fmt::Debug for TorNet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TorNet")
    }
}

impl<T: Transport<Addr = PeerAddr<TorAddr>>> NetworkZone for TorNet<T> {
    const NAME: &'static str = "tor";
    const CHECK_NODE_ID: bool = false;
    const BROADCAST_OWN_ADDR: bool = false;
    const REUSE_NODE_ID: bool = false;
    const CAN_PING_BACK: bool = false;
    const ANONYMOUS: bool = true;

    type Addr = PeerAddr<TorAddr>;
    type Transport = T;
}

impl ZoneAddr for PeerAddr<TorAddr> {
    fn to_wire(&self) -> NetworkAddress {
        match &self.addr {
            TorAddr::Onion(onion) => NetworkAddress::Tor {
                host: onion.host(),
                port: onion.port(),
            },
            TorAddr::Inbound(_) => NetworkAddress::Tor {
                host: UNKNOWN_TOR_HOST.to_owned(),
                port: 0,
            },
        }
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        match addr {
            NetworkAddress::Tor { host, port } => OnionAddr::new(host, *port)
                .ok()
                .map(|onion| Self::plain(TorAddr::Onion(onion))),
            _ => None,
        }
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
        if self.umbra.is_some() || self.addr.onion().is_none() {
            return None;
        }
        let umbra = umbra_peer(node_data.umbra_key.as_ref(), node_data.umbra_transports)?;
        Some(Self {
            addr: self.addr,
            umbra: Some(umbra),
        })
    }

    fn port(&self) -> u16 {
        self.addr.onion().map_or(0, OnionAddr::port)
    }

    fn with_port(&self, port: u16) -> Self {
        match self.addr {
            TorAddr::Onion(onion) => Self {
                addr: TorAddr::Onion(onion.with_port(port)),
                umbra: self.umbra,
            },
            TorAddr::Inbound(_) => *self,
        }
    }

    /// A ban applies to the onion service (any port); an inbound connection, which has no
    /// address, only to itself.
    fn ban_key(&self) -> Self {
        match self.addr {
            TorAddr::Onion(onion) => Self::plain(TorAddr::Onion(onion.with_port(0))),
            TorAddr::Inbound(_) => Self::plain(self.addr),
        }
    }

    /// Onion services with a port; never an inbound connection.
    fn is_routable(&self, _allow_local: bool) -> bool {
        self.addr.onion().is_some_and(|onion| onion.port() != 0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use umbra_identity::Identity;

    use super::*;
    use crate::PeerCandidate;

    const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083";

    fn onion() -> PeerAddr<TorAddr> {
        ONION.parse().unwrap()
    }

    #[test]
    fn onion_addresses_round_trip_and_ip_addresses_are_not_tor_peers() {
        let addr = onion();
        assert_eq!(PeerAddr::<TorAddr>::from_wire(&addr.to_wire()), Some(addr));
        let ip = NetworkAddress::from("1.2.3.4:18080".parse::<std::net::SocketAddr>().unwrap());
        assert_eq!(PeerAddr::<TorAddr>::from_wire(&ip), None);
        let bad = NetworkAddress::Tor {
            host: "nonsense.onion".into(),
            port: 1,
        };
        assert_eq!(PeerAddr::<TorAddr>::from_wire(&bad), None);
        assert!(addr.is_routable(false));
        assert!(!addr.with_port(0).is_routable(true));
        assert_eq!(addr.ban_key(), addr.with_port(0));
    }

    #[test]
    fn inbound_connections_are_never_routable_nor_upgraded() {
        let inbound = PeerAddr::plain(TorAddr::next_inbound());
        assert!(!inbound.is_routable(true));
        assert_eq!(inbound.port(), 0);
        assert_eq!(inbound.with_port(5), inbound);
        assert_ne!(inbound.ban_key(), PeerAddr::plain(TorAddr::next_inbound()));
        let mut node = BasicNodeData::new([0; 16], 0, 7, 1);
        node.umbra_key = Some(Identity::generate().public().to_bytes());
        node.umbra_transports = Some(umbra_wire::umbra_transports::NOISE_TCP);
        assert!(inbound.upgraded(&node).is_none());
        assert!(onion().upgraded(&node).is_some());
        match inbound.to_wire() {
            NetworkAddress::Tor { host, port } => {
                assert_eq!((host.as_str(), port), (UNKNOWN_TOR_HOST, 0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handshakes_on_tor_reveal_nothing_and_ask_nothing_monerod_filters() {
        type Zone = TorNet<umbra_transport::hybrid::HybridTransport<umbra_transport::tor::AnyTor>>;
        let config = crate::handshake::HandshakeConfig::for_zone::<Zone>([0; 16], 5, Some(18083));
        assert_eq!(config.my_port, 0, "our port is never told on Tor");
        assert!(!config.ask_support_flags);
        assert!(!config.check_node_id && !config.can_ping_back);
        assert_ne!(
            crate::node_id_for_connection::<Zone>(5),
            crate::node_id_for_connection::<Zone>(5),
            "a fresh node id on every connection"
        );
    }

    #[test]
    fn keys_travel_to_authenticated_peers_only() {
        let keyed = PeerAddr::umbra(onion().addr, Identity::generate().public());
        let peer = PeerCandidate {
            addr: keyed,
            id: 1,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
        };
        let entry = peer.to_wire_for(&keyed);
        assert_eq!(
            PeerAddr::<TorAddr>::from_entry(&entry).unwrap().key(),
            keyed.key()
        );
        let plain = peer.to_wire_for(&onion());
        assert_eq!(PeerAddr::<TorAddr>::from_entry(&plain).unwrap().key(), None);
    }
}
