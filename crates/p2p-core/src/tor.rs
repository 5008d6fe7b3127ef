//! The Tor network as a zone: [`TorNet`].

use umbra_transport::tor::{OnionAddr, TorAddr};
use umbra_wire::NetworkAddress;

use crate::anonymous::{AnonymityNetwork, AnonymousAddr, AnonymousNet};

/// Host name monerod gives a Tor peer whose address it does not know (an inbound
/// connection); we send it for ours, which nobody can dial either.
pub const UNKNOWN_TOR_HOST: &str = "<unknown tor host>";

/// Umbra's P2P over Tor: peers are onion services, reached through a Tor client (a
/// system tor or the embedded one) and reaching us through our own onion service.
///
/// The rules are those of every anonymity network ([`AnonymousNet`]); on Tor an inbound
/// connection through our onion service has no address at all ([`TorAddr::Inbound`]),
/// and a ban of one applies to that connection only.
pub type TorNet<T> = AnonymousNet<Tor, T>;

/// The Tor network, as an [`AnonymityNetwork`] (a marker: no values).
#[derive(Debug, Clone, Copy)]
pub enum Tor {}

impl AnonymityNetwork for Tor {
    const NAME: &'static str = "tor";
    const ZONE: &'static str = "TorNet";
    type Addr = TorAddr;
}

impl AnonymousAddr for TorAddr {
    fn to_wire(&self) -> NetworkAddress {
        match self {
            Self::Onion(onion) => NetworkAddress::Tor {
                host: onion.host(),
                port: onion.port(),
            },
            Self::Inbound(_) => NetworkAddress::Tor {
                host: UNKNOWN_TOR_HOST.to_owned(),
                port: 0,
            },
        }
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        match addr {
            NetworkAddress::Tor { host, port } => OnionAddr::new(host, *port).ok().map(Self::Onion),
            _ => None,
        }
    }

    fn is_service(&self) -> bool {
        self.onion().is_some()
    }

    fn port(&self) -> u16 {
        self.onion().map_or(0, OnionAddr::port)
    }

    fn with_port(&self, port: u16) -> Self {
        match self {
            Self::Onion(onion) => Self::Onion(onion.with_port(port)),
            Self::Inbound(_) => *self,
        }
    }

    /// A ban applies to the onion service (any port); an inbound connection, which has no
    /// address, only to itself.
    fn ban_key(&self) -> Self {
        self.with_port(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use umbra_identity::Identity;
    use umbra_transport::hybrid::PeerAddr;
    use umbra_wire::BasicNodeData;

    use super::*;
    use crate::{PeerCandidate, ZoneAddr};

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
