//! The I2P network as a zone: [`I2pNet`].

use umbra_transport::i2p::{I2pAddr, I2pEndpoint};
use umbra_wire::NetworkAddress;

use crate::anonymous::{AnonymityNetwork, AnonymousAddr, AnonymousNet};

/// Host name monerod gives an I2P peer whose address it does not know (an inbound
/// connection); we send it for an inbound connection, which nobody can dial.
pub const UNKNOWN_I2P_HOST: &str = "<unknown i2p host>";

/// Umbra's P2P over I2P: peers are I2P destinations (`.b32.i2p`), reached through an I2P
/// router (i2pd's SAM bridge, or its SOCKS proxy as monerod does) and reaching us at our
/// own destination.
///
/// The rules are those of every anonymity network ([`AnonymousNet`]). What I2P adds:
///
/// - **ports do not exist**: I2P streams have none, so every destination read from a
///   peer list or the configuration is taken at [`I2pAddr::MONERO_PORT`] (port 1, what
///   monerod since 0.18.3.2 writes), and the same destination under two ports is one
///   peer;
/// - **inbound connections** ([`I2pEndpoint::Inbound`]) may come with the destination
///   they were sent from (SAM names it): that is never taken for the peer's address (it
///   need not accept connections), but bans and per-host limits apply to it, so a peer
///   that misbehaved stays banned when it reconnects from the same destination.
pub type I2pNet<T> = AnonymousNet<I2p, T>;

/// The I2P network, as an [`AnonymityNetwork`] (a marker: no values).
#[derive(Debug, Clone, Copy)]
pub enum I2p {}

impl AnonymityNetwork for I2p {
    const NAME: &'static str = "i2p";
    const ZONE: &'static str = "I2pNet";
    type Addr = I2pEndpoint;
}

impl AnonymousAddr for I2pEndpoint {
    fn to_wire(&self) -> NetworkAddress {
        match self {
            Self::Dest(addr) => NetworkAddress::I2p {
                host: addr.host(),
                port: addr.port(),
            },
            Self::Inbound { .. } => NetworkAddress::I2p {
                host: UNKNOWN_I2P_HOST.to_owned(),
                port: 0,
            },
        }
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        match addr {
            NetworkAddress::I2p { host, .. } => I2pAddr::new(host, I2pAddr::MONERO_PORT)
                .ok()
                .map(Self::Dest),
            _ => None,
        }
    }

    fn is_service(&self) -> bool {
        self.dest().is_some()
    }

    fn port(&self) -> u16 {
        self.dest().map_or(0, I2pAddr::port)
    }

    /// Destinations keep [`I2pAddr::MONERO_PORT`]: I2P has no ports, and a peer's
    /// advertised port means nothing here.
    fn with_port(&self, _port: u16) -> Self {
        *self
    }

    /// A ban applies to the destination; an inbound connection is banned by the
    /// destination it came from when the router said, else only itself.
    fn ban_key(&self) -> Self {
        match self {
            Self::Dest(addr)
            | Self::Inbound {
                from: Some(addr), ..
            } => Self::Dest(addr.with_port(0)),
            Self::Inbound { from: None, .. } => *self,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use umbra_identity::Identity;
    use umbra_transport::hybrid::PeerAddr;
    use umbra_wire::BasicNodeData;

    use super::*;
    use crate::{PeerCandidate, ZoneAddr};

    const B32: &str = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    fn dest() -> PeerAddr<I2pEndpoint> {
        B32.parse().unwrap()
    }

    #[test]
    fn destinations_round_trip_at_port_one_and_other_addresses_are_not_i2p_peers() {
        let addr = dest();
        assert_eq!(addr.port(), 1);
        assert_eq!(
            PeerAddr::<I2pEndpoint>::from_wire(&addr.to_wire()),
            Some(addr)
        );
        // monerod 0.18.0.0 keeps whatever port it was given: the same destination.
        let with_port = NetworkAddress::I2p {
            host: B32.to_owned(),
            port: 18085,
        };
        assert_eq!(PeerAddr::<I2pEndpoint>::from_wire(&with_port), Some(addr));
        let ip = NetworkAddress::from("1.2.3.4:18080".parse::<std::net::SocketAddr>().unwrap());
        assert_eq!(PeerAddr::<I2pEndpoint>::from_wire(&ip), None);
        let tor = NetworkAddress::Tor {
            host: format!("{}.onion", "a".repeat(56)),
            port: 1,
        };
        assert_eq!(PeerAddr::<I2pEndpoint>::from_wire(&tor), None);
        for bad in ["nonsense.b32.i2p", UNKNOWN_I2P_HOST, "example.i2p"] {
            let bad = NetworkAddress::I2p {
                host: bad.to_owned(),
                port: 1,
            };
            assert_eq!(PeerAddr::<I2pEndpoint>::from_wire(&bad), None);
        }
        assert!(addr.is_routable(false));
        assert_eq!(addr.with_port(18085), addr, "no ports on I2P");
        assert!(!addr.ban_key().is_routable(true));
    }

    #[test]
    fn inbound_connections_are_never_routable_nor_upgraded_and_are_banned_by_source() {
        let source: I2pAddr = B32.parse().unwrap();
        let inbound = PeerAddr::plain(I2pEndpoint::next_inbound(Some(source)));
        assert!(!inbound.is_routable(true));
        assert_eq!(inbound.port(), 0);
        // Two connections from one destination share a ban key, which is the
        // destination's: a banned peer stays banned when it comes back.
        let again = PeerAddr::plain(I2pEndpoint::next_inbound(Some(source)));
        assert_ne!(inbound, again);
        assert_eq!(inbound.ban_key(), again.ban_key());
        assert_eq!(inbound.ban_key(), dest().ban_key());
        // Without a source (a forwarded tunnel), a ban applies to the connection only.
        let unknown = PeerAddr::plain(I2pEndpoint::next_inbound(None));
        assert_eq!(unknown.ban_key(), unknown);
        assert_ne!(
            unknown.ban_key(),
            PeerAddr::plain(I2pEndpoint::next_inbound(None)).ban_key()
        );

        let mut node = BasicNodeData::new([0; 16], 0, 7, 1);
        node.umbra_key = Some(Identity::generate().public().to_bytes());
        node.umbra_transports = Some(umbra_wire::umbra_transports::NOISE_TCP);
        assert!(inbound.upgraded(&node).is_none());
        assert!(dest().upgraded(&node).is_some());
        match inbound.to_wire() {
            NetworkAddress::I2p { host, port } => {
                assert_eq!((host.as_str(), port), (UNKNOWN_I2P_HOST, 0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handshakes_on_i2p_reveal_nothing_and_ask_nothing_monerod_filters() {
        type Zone = I2pNet<umbra_transport::hybrid::HybridTransport<umbra_transport::i2p::AnyI2p>>;
        let config = crate::handshake::HandshakeConfig::for_zone::<Zone>([0; 16], 5, Some(1));
        assert_eq!(config.my_port, 0, "our port is never told on I2P");
        assert!(!config.ask_support_flags);
        assert!(!config.check_node_id && !config.can_ping_back);
        assert_ne!(
            crate::node_id_for_connection::<Zone>(5),
            crate::node_id_for_connection::<Zone>(5),
            "a fresh node id on every connection"
        );
        assert_eq!(<Zone as crate::NetworkZone>::NAME, "i2p");
        assert_eq!(format!("{:?}", Zone::clone(&unreachable_zone())), "I2pNet");
    }

    /// A value of the zone type, for `Debug` (zones are zero-sized markers).
    fn unreachable_zone()
    -> I2pNet<umbra_transport::hybrid::HybridTransport<umbra_transport::i2p::AnyI2p>> {
        AnonymousNet(std::marker::PhantomData)
    }

    #[test]
    fn keys_travel_to_authenticated_peers_only() {
        let keyed = PeerAddr::umbra(dest().addr, Identity::generate().public());
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
            PeerAddr::<I2pEndpoint>::from_entry(&entry).unwrap().key(),
            keyed.key()
        );
        let plain = peer.to_wire_for(&dest());
        assert_eq!(
            PeerAddr::<I2pEndpoint>::from_entry(&plain).unwrap().key(),
            None
        );
    }
}
