//! The public internet with Umbra peers among monerod peers: [`HybridNet`].

use std::{fmt, marker::PhantomData, net::SocketAddr};

use umbra_transport::{
    Transport,
    hybrid::{HybridTransport, PeerAddr, UmbraPeer},
};
use umbra_wire::{BasicNodeData, NetworkAddress, PeerListEntry};

use crate::{NetworkZone, ZoneAddr};

/// The public internet as Umbra speaks it: plain levin to monerod and to addresses
/// without a key, Umbra's encrypted transport to peers known by key, on one port
/// ([`HybridTransport`] sniffs which one an inbound connection speaks).
///
/// The rules are clearnet's (the same node id on every connection, our port advertised,
/// ping back); the difference is in the address ([`PeerAddr`]): peer-list entries carry
/// keys, but only to authenticated peers, and a plain handshake with an Umbra peer
/// upgrades its address book entry to the encrypted transport.
pub struct HybridNet<T = HybridTransport>(PhantomData<fn() -> T>);

impl<T> Clone for HybridNet<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for HybridNet<T> {}

impl<T> fmt::Debug for HybridNet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HybridNet")
    }
}

impl<T: Transport<Addr = PeerAddr>> NetworkZone for HybridNet<T> {
    const NAME: &'static str = "clearnet";
    const CHECK_NODE_ID: bool = true;
    const BROADCAST_OWN_ADDR: bool = true;
    const REUSE_NODE_ID: bool = true;
    const CAN_PING_BACK: bool = true;

    type Addr = PeerAddr;
    type Transport = T;
}

impl ZoneAddr for PeerAddr {
    fn to_wire(&self) -> NetworkAddress {
        NetworkAddress::from(self.addr)
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        addr.socket_addr().map(Self::plain)
    }

    fn from_entry(entry: &PeerListEntry) -> Option<Self> {
        let socket = entry.adr.socket_addr()?;
        Some(Self {
            addr: socket,
            umbra: umbra_peer(entry.umbra_key.as_ref(), entry.umbra_transports),
        })
    }

    fn write_entry(&self, entry: &mut PeerListEntry) {
        write_umbra_peer(self.umbra.as_ref(), entry);
    }

    fn is_authenticated(&self) -> bool {
        self.umbra.is_some()
    }

    fn upgraded(&self, node_data: &BasicNodeData) -> Option<Self> {
        if self.umbra.is_some() {
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
        PeerAddr::with_port(*self, port)
    }

    fn ban_key(&self) -> Self {
        Self::plain(SocketAddr::new(self.addr.ip(), 0))
    }

    fn is_routable(&self, allow_local: bool) -> bool {
        self.addr.is_routable(allow_local)
    }
}

/// Writes an Umbra peer's key and transports into a peer-list entry.
pub(crate) fn write_umbra_peer(peer: Option<&UmbraPeer>, entry: &mut PeerListEntry) {
    if let Some(peer) = peer {
        entry.umbra_key = Some(peer.key.to_bytes());
        entry.umbra_transports = Some(peer.transports);
    }
}

/// An Umbra peer from a key and transports a peer sent: a usable key and at least one
/// transport we know, else none (the address stays plain).
pub(crate) fn umbra_peer(key: Option<&[u8; 32]>, transports: Option<u32>) -> Option<UmbraPeer> {
    let key = umbra_transport::PublicKey::from_bytes(key?).ok()?;
    let transports = transports? & umbra_wire::umbra_transports::ALL;
    (transports != 0).then_some(UmbraPeer { key, transports })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use umbra_identity::Identity;

    use super::*;
    use crate::PeerCandidate;

    fn keyed() -> PeerAddr {
        PeerAddr::umbra(
            "10.0.0.1:18080".parse().unwrap(),
            Identity::generate().public(),
        )
    }

    #[test]
    fn keys_travel_in_entries_to_authenticated_peers_only() {
        let peer = PeerCandidate {
            addr: keyed(),
            id: 1,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
        };
        let to_umbra = peer.to_wire_for(&keyed());
        assert_eq!(to_umbra.umbra_key, peer.addr.key().map(|k| k.to_bytes()));
        let back = PeerCandidate::<PeerAddr>::from_wire(&to_umbra).unwrap();
        assert_eq!(back.addr.key(), peer.addr.key());

        let plain = PeerAddr::plain("10.0.0.2:18080".parse::<SocketAddr>().unwrap());
        let to_monerod = peer.to_wire_for(&plain);
        assert_eq!(
            (to_monerod.umbra_key, to_monerod.umbra_transports),
            (None, None)
        );
        let back = PeerCandidate::<PeerAddr>::from_wire(&to_monerod).unwrap();
        assert_eq!(back.addr.key(), None);
    }

    #[test]
    fn junk_keys_leave_the_address_plain() {
        let mut entry = PeerCandidate {
            addr: keyed(),
            id: 1,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
        }
        .to_wire();
        entry.umbra_transports = Some(0x80);
        assert_eq!(<PeerAddr>::from_entry(&entry).unwrap().key(), None);
        entry.umbra_transports = Some(1);
        let mut small_order = [0u8; 32];
        small_order[0] = 1;
        entry.umbra_key = Some(small_order);
        assert_eq!(<PeerAddr>::from_entry(&entry).unwrap().key(), None);
    }

    #[test]
    fn constants_copied_into_the_transport_agree() {
        // umbra-transport depends on neither umbra-levin nor umbra-wire; its copies are
        // checked here.
        assert_eq!(
            umbra_transport::hybrid::LEVIN_SIGNATURE,
            umbra_levin::SIGNATURE.to_le_bytes()
        );
        // Nor on umbra-wire: its transport flags are the same numbers.
        use umbra_transport::hybrid::transports;
        assert_eq!(
            transports::NOISE_TCP,
            umbra_wire::umbra_transports::NOISE_TCP
        );
        assert_eq!(transports::QUIC, umbra_wire::umbra_transports::QUIC);
    }

    #[test]
    fn a_plain_handshake_with_an_umbra_peer_upgrades_the_address() {
        let plain = PeerAddr::plain("10.0.0.1:18080".parse::<SocketAddr>().unwrap());
        let key = Identity::generate().public();
        let mut node = BasicNodeData::new([0; 16], 18080, 7, 1);
        assert!(plain.upgraded(&node).is_none());
        node.umbra_key = Some(key.to_bytes());
        node.umbra_transports = Some(umbra_wire::umbra_transports::NOISE_TCP);
        let upgraded = plain.upgraded(&node).unwrap();
        assert_eq!(upgraded.key(), Some(key));
        assert!(upgraded.upgraded(&node).is_none(), "already keyed");
        assert_eq!(upgraded.ban_key(), plain.ban_key());
        assert!(upgraded.is_authenticated() && !plain.is_authenticated());
    }
}
