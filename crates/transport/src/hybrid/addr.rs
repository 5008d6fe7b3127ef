//! The address of a peer on the public internet that may be an Umbra peer.

use std::{
    fmt,
    hash::{Hash, Hasher},
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use crate::{Keyed, KeyedParseError, PublicKey};

/// Flags of the Umbra transports a peer accepts (the wire's `umbra_transports`).
pub mod transports {
    /// Umbra's Noise transport over TCP, on the peer's P2P port.
    pub const NOISE_TCP: u32 = 0x01;
    /// QUIC, on the same port number over UDP.
    pub const QUIC: u32 = 0x02;
}

/// What makes a peer an Umbra peer: its identity key and the transports it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UmbraPeer {
    /// The key it must prove.
    pub key: PublicKey,
    /// [`transports`] flags.
    pub transports: u32,
}

/// What a [`PeerAddr`] is built on: the address type of the transport underneath a
/// [`HybridTransport`](super::HybridTransport) (a socket address on the internet, an onion
/// address on Tor).
pub trait BaseAddr:
    Clone + fmt::Debug + fmt::Display + Eq + Hash + Send + Sync + Unpin + 'static
{
    /// The IP address inbound connections from this address are counted under for
    /// [`HybridConfig::max_pending_per_ip`](super::HybridConfig::max_pending_per_ip);
    /// `None` where connections have no source address (Tor's onion services), which
    /// leaves only the total bound.
    fn source_ip(&self) -> Option<IpAddr>;

    /// The address as a socket address, for QUIC; `None` on networks without UDP.
    fn socket_addr(&self) -> Option<SocketAddr>;

    /// A socket address (where a QUIC connection came from) as this type; `None` on
    /// networks without UDP.
    fn from_socket_addr(addr: SocketAddr) -> Option<Self>;
}

impl BaseAddr for SocketAddr {
    fn source_ip(&self) -> Option<IpAddr> {
        Some(self.ip())
    }

    fn socket_addr(&self) -> Option<SocketAddr> {
        Some(*self)
    }

    fn from_socket_addr(addr: SocketAddr) -> Option<Self> {
        Some(addr)
    }
}

#[cfg(feature = "tor")]
impl BaseAddr for crate::tor::TorAddr {
    fn source_ip(&self) -> Option<IpAddr> {
        None
    }

    fn socket_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn from_socket_addr(_: SocketAddr) -> Option<Self> {
        None
    }
}

#[cfg(feature = "i2p")]
impl BaseAddr for crate::i2p::I2pEndpoint {
    fn source_ip(&self) -> Option<IpAddr> {
        None
    }

    fn socket_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn from_socket_addr(_: SocketAddr) -> Option<Self> {
        None
    }
}

/// A peer that may be an Umbra peer: its address on the network underneath (a socket
/// address by default), and for an Umbra peer its key.
///
/// With a key, [`HybridTransport`](super::HybridTransport) dials the encrypted transport
/// and the peer must prove the key; without one it dials plain levin (monerod).
///
/// **Equality and hashing look at the address only**: the key is something learnt about
/// the node at that address, not another address. An address book keyed by `PeerAddr`
/// thus holds one entry per address, and storing a verified keyed address replaces the
/// plain one (the upgrade after a plain handshake revealed the key).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr<A = SocketAddr> {
    /// Where the peer listens.
    pub addr: A,
    /// Its identity, if it is an Umbra peer.
    pub umbra: Option<UmbraPeer>,
}

impl<A> PeerAddr<A> {
    /// A plain (levin) peer.
    #[must_use]
    pub const fn plain(addr: A) -> Self {
        Self { addr, umbra: None }
    }

    /// An Umbra peer reached over the Noise transport.
    #[must_use]
    pub const fn umbra(addr: A, key: PublicKey) -> Self {
        Self {
            addr,
            umbra: Some(UmbraPeer {
                key,
                transports: transports::NOISE_TCP,
            }),
        }
    }

    /// The peer's key, if it is an Umbra peer.
    #[must_use]
    pub fn key(&self) -> Option<PublicKey> {
        self.umbra.map(|peer| peer.key)
    }
}

impl PeerAddr<SocketAddr> {
    /// The same address with `port`.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::plain(addr)
    }
}

impl<A> From<Keyed<A>> for PeerAddr<A> {
    fn from(keyed: Keyed<A>) -> Self {
        Self::umbra(keyed.addr, keyed.key)
    }
}

impl<A: PartialEq> PartialEq for PeerAddr<A> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl<A: Eq> Eq for PeerAddr<A> {}

impl<A: Hash> Hash for PeerAddr<A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr.hash(state);
    }
}

impl<A: fmt::Display> fmt::Display for PeerAddr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.umbra {
            Some(peer) => write!(f, "{}@{}", peer.key, self.addr),
            None => self.addr.fmt(f),
        }
    }
}

impl<A: FromStr> FromStr for PeerAddr<A>
where
    A::Err: fmt::Display,
{
    type Err = KeyedParseError;

    /// `1.2.3.4:18080` (a plain peer) or `<key hex>@1.2.3.4:18080` (an Umbra peer); on
    /// Tor, `<host>.onion:18083` or `<key hex>@<host>.onion:18083`.
    fn from_str(s: &str) -> Result<Self, KeyedParseError> {
        if s.contains('@') {
            return s.parse::<Keyed<A>>().map(Self::from);
        }
        s.parse::<A>()
            .map(Self::plain)
            .map_err(|error| KeyedParseError::Addr {
                input: s.chars().take(120).collect(),
                reason: error.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use umbra_identity::Identity;

    use super::*;

    #[test]
    fn equality_is_the_socket() {
        let socket: SocketAddr = "10.0.0.1:18080".parse().unwrap();
        let key = Identity::generate().public();
        let plain = PeerAddr::plain(socket);
        let keyed = PeerAddr::umbra(socket, key);
        assert_eq!(plain, keyed);
        let mut set = std::collections::HashSet::new();
        set.insert(plain);
        assert!(set.contains(&keyed));
        assert_ne!(plain, plain.with_port(1));
    }

    #[test]
    fn text() {
        let key = Identity::generate().public();
        let keyed: PeerAddr = format!("{key}@10.0.0.1:18080").parse().unwrap();
        assert_eq!(keyed.key(), Some(key));
        assert_eq!(keyed.to_string(), format!("{key}@10.0.0.1:18080"));
        let plain: PeerAddr = "10.0.0.1:18080".parse().unwrap();
        assert_eq!(plain.key(), None);
        assert_eq!(plain.to_string(), "10.0.0.1:18080");
        assert!("nonsense".parse::<PeerAddr>().is_err());
    }
}
