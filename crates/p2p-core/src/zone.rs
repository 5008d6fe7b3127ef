//! Network zones: the network a peer is reached on, as a type.
//!
//! Clearnet, Tor, I2P and the encrypted Umbra transport differ in how they dial (a
//! [`Transport`]), what an address is ([`ZoneAddr`]) and what may be revealed on them
//! (the constants of [`NetworkZone`]). Code above this module is generic over the zone, so
//! mixing addresses or peers of two zones is a type error, and a new zone plugs in by
//! implementing these two traits.

use std::{
    collections::HashSet,
    fmt,
    hash::Hash,
    marker::PhantomData,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Mutex, PoisonError},
};

use umbra_transport::{Tcp, Transport};
use umbra_wire::{BasicNodeData, NetworkAddress, PeerListEntry};

/// An address on one zone.
pub trait ZoneAddr:
    Clone + fmt::Debug + fmt::Display + Eq + Hash + Send + Sync + Unpin + 'static
{
    /// The address as peer lists carry it.
    fn to_wire(&self) -> NetworkAddress;

    /// The address of a peer-list entry, if it belongs to this zone.
    fn from_wire(addr: &NetworkAddress) -> Option<Self>;

    /// The address a peer-list entry describes, with whatever else the zone reads from the
    /// entry (an Umbra peer's key). By default [`ZoneAddr::from_wire`] of its `adr`.
    fn from_entry(entry: &PeerListEntry) -> Option<Self> {
        Self::from_wire(&entry.adr)
    }

    /// Writes what the zone keeps beyond the address into a peer-list entry (an Umbra
    /// peer's key); by default nothing. See [`ZoneAddr::is_authenticated`] for who may
    /// receive it.
    fn write_entry(&self, entry: &mut PeerListEntry) {
        let _ = entry;
    }

    /// Whether a connection at this address is encrypted and its peer authenticated by
    /// key, so that what [`ZoneAddr::write_entry`] adds (other peers' keys) may be sent to
    /// it. By default no: on plain levin, peer lists carry addresses only.
    fn is_authenticated(&self) -> bool {
        false
    }

    /// A better address for the peer that sent `node_data` on a connection at this
    /// address: an Umbra peer met over plain levin, reachable encrypted next time. By
    /// default none.
    #[must_use]
    fn upgraded(&self, node_data: &BasicNodeData) -> Option<Self> {
        let _ = node_data;
        None
    }

    /// The port.
    fn port(&self) -> u16;

    /// The same host at another port (an inbound peer's advertised `my_port`).
    #[must_use]
    fn with_port(&self, port: u16) -> Self;

    /// What a ban applies to: the address with everything a ban ignores normalised
    /// (clearnet bans a whole IP, so the port is zeroed).
    #[must_use]
    fn ban_key(&self) -> Self {
        self.with_port(0)
    }

    /// Whether the address is worth keeping and dialling: no unspecified, broadcast,
    /// multicast or documentation addresses, no port 0; private, loopback and link-local
    /// addresses only when `allow_local` (tests and private networks; monerod's
    /// `--allow-local-ip`).
    fn is_routable(&self, allow_local: bool) -> bool;
}

/// A network zone. Implementations are zero-sized markers; see the [module docs](self).
pub trait NetworkZone: Clone + Copy + fmt::Debug + Send + Sync + 'static {
    /// A short name for logs and file names (`"clearnet"`, `"tor"`).
    const NAME: &'static str;
    /// Whether the handshake refuses a peer that presents our own node id (we dialled
    /// ourselves). Only meaningful when node ids are reused.
    const CHECK_NODE_ID: bool;
    /// Whether we tell peers the port we listen on and put our address in peer lists.
    const BROADCAST_OWN_ADDR: bool;
    /// Whether one node id serves every connection of the zone (clearnet, like monerod);
    /// when false, every connection gets a fresh random id so that a peer cannot link two
    /// connections to one node.
    const REUSE_NODE_ID: bool;
    /// Whether an inbound peer's advertised address can be checked by connecting back to it
    /// (clearnet: the connection's source IP plus the advertised port; anonymity networks
    /// have no source address).
    const CAN_PING_BACK: bool;
    /// Whether the zone is an anonymity network, where monerod accepts only handshakes,
    /// timed syncs and transactions and closes the connection on any other command
    /// ("Filtered command"): we then never send another one (no support-flags request,
    /// and later no chain requests). Default: no.
    const ANONYMOUS: bool = false;

    /// An address on this zone.
    type Addr: ZoneAddr;
    /// How this zone dials and listens.
    type Transport: Transport<Addr = Self::Addr>;
}

/// The public internet over plain TCP, as monerod speaks it. `T` is the transport (TCP by
/// default; tests use `umbra_transport::memory::MemoryTransport`).
pub struct ClearNet<T = Tcp>(PhantomData<fn() -> T>);

impl<T> Clone for ClearNet<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ClearNet<T> {}

impl<T> fmt::Debug for ClearNet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClearNet")
    }
}

impl<T> Default for ClearNet<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: Transport<Addr = SocketAddr>> NetworkZone for ClearNet<T> {
    const NAME: &'static str = "clearnet";
    const CHECK_NODE_ID: bool = true;
    const BROADCAST_OWN_ADDR: bool = true;
    const REUSE_NODE_ID: bool = true;
    const CAN_PING_BACK: bool = true;

    type Addr = SocketAddr;
    type Transport = T;
}

impl ZoneAddr for SocketAddr {
    fn to_wire(&self) -> NetworkAddress {
        NetworkAddress::from(*self)
    }

    fn from_wire(addr: &NetworkAddress) -> Option<Self> {
        addr.socket_addr()
    }

    fn port(&self) -> u16 {
        SocketAddr::port(self)
    }

    fn with_port(&self, port: u16) -> Self {
        SocketAddr::new(self.ip(), port)
    }

    fn is_routable(&self, allow_local: bool) -> bool {
        SocketAddr::port(self) != 0 && ip_is_routable(self.ip(), allow_local)
    }
}

/// Whether `ip` is a public unicast address (or a local one, with `allow_local`).
#[must_use]
pub fn ip_is_routable(ip: IpAddr, allow_local: bool) -> bool {
    match ip {
        IpAddr::V4(ip) => ipv4_is_routable(ip, allow_local),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => ipv4_is_routable(v4, allow_local),
            None => ipv6_is_routable(ip, allow_local),
        },
    }
}

fn ipv4_is_routable(ip: Ipv4Addr, allow_local: bool) -> bool {
    let [a, b, c, _] = ip.octets();
    let never = ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || a >= 240 // reserved (class E)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18); // benchmarking
    let local =
        ip.is_private() || ip.is_loopback() || ip.is_link_local() || (a == 100 && (b & 0xc0) == 64); // shared address space (carrier-grade NAT)
    !never && (allow_local || !local)
}

fn ipv6_is_routable(ip: Ipv6Addr, allow_local: bool) -> bool {
    let first = ip.segments()[0];
    let never = ip.is_unspecified()
        || ip.is_multicast()
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || first == 0x0100; // discard-only
    let local = ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80; // link-local
    !never && (allow_local || !local)
}

/// Node ids for the zones of one node: one random id per zone, never the same on two
/// zones, so a peer that meets us on two zones cannot tell it is the same node.
#[derive(Debug, Default)]
pub struct NodeIds {
    taken: Mutex<HashSet<u64>>,
}

impl NodeIds {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh random id that no zone registered here uses. Zero is never handed out
    /// (monerod treats a zero peer id as "none").
    pub fn fresh(&self) -> u64 {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let id: u64 = rand::random();
            if id != 0 && taken.insert(id) {
                return id;
            }
        }
    }
}

/// The node id to present on one connection of zone `Z`: the zone's own id where ids are
/// reused, a fresh random one per connection otherwise.
#[must_use]
pub fn node_id_for_connection<Z: NetworkZone>(zone_id: u64) -> u64 {
    if Z::REUSE_NODE_ID {
        zone_id
    } else {
        loop {
            let id: u64 = rand::random();
            if id != 0 && id != zone_id {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routable(addr: &str, allow_local: bool) -> bool {
        addr.parse::<SocketAddr>()
            .map(|a| a.is_routable(allow_local))
            .unwrap_or(false)
    }

    #[test]
    fn clearnet_routability() {
        assert!(routable("1.2.3.4:18080", false));
        assert!(routable("[2a01:4f8::1]:18080", false));
        assert!(!routable("1.2.3.4:0", false));
        for never in [
            "0.0.0.0:1",
            "255.255.255.255:1",
            "224.0.0.1:1",
            "192.0.2.1:1",
            "198.18.0.1:1",
            "240.0.0.1:1",
            "[::]:1",
            "[ff02::1]:1",
            "[2001:db8::1]:1",
        ] {
            assert!(!routable(never, true), "{never}");
        }
        for local in [
            "127.0.0.1:1",
            "10.0.0.1:1",
            "192.168.1.1:1",
            "172.16.0.1:1",
            "169.254.1.1:1",
            "100.64.0.1:1",
            "[::1]:1",
            "[fd00::1]:1",
            "[fe80::1]:1",
            "[::ffff:10.0.0.1]:1",
        ] {
            assert!(!routable(local, false), "{local}");
            assert!(routable(local, true), "{local}");
        }
    }

    #[test]
    fn ban_key_ignores_the_port() {
        let a: SocketAddr = "1.2.3.4:18080".parse().unwrap();
        let b: SocketAddr = "1.2.3.4:9999".parse().unwrap();
        assert_eq!(a.ban_key(), b.ban_key());
    }

    #[test]
    fn wire_round_trip() {
        let a: SocketAddr = "[2a01:4f8::1]:18080".parse().unwrap();
        assert_eq!(SocketAddr::from_wire(&a.to_wire()), Some(a));
        let tor = NetworkAddress::Tor {
            host: "x.onion".into(),
            port: 1,
        };
        assert_eq!(SocketAddr::from_wire(&tor), None);
    }

    #[test]
    fn node_ids_differ_between_zones() {
        let ids = NodeIds::new();
        let a = ids.fresh();
        let b = ids.fresh();
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert_eq!(node_id_for_connection::<ClearNet>(a), a);
    }
}
