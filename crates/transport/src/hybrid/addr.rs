//! The address of a peer on the public internet that may be an Umbra peer.

use std::{
    fmt,
    hash::{Hash, Hasher},
    net::SocketAddr,
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

/// A peer on the public internet: a socket address, and for an Umbra peer its key.
///
/// With a key, [`HybridTransport`](super::HybridTransport) dials the encrypted transport
/// and the peer must prove the key; without one it dials plain levin (monerod).
///
/// **Equality and hashing look at the socket address only**: the key is something learnt
/// about the node at that address, not another address. An address book keyed by
/// `PeerAddr` thus holds one entry per address, and storing a verified keyed address
/// replaces the plain one (the upgrade after a plain handshake revealed the key).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr {
    /// Where the peer listens.
    pub socket: SocketAddr,
    /// Its identity, if it is an Umbra peer.
    pub umbra: Option<UmbraPeer>,
}

impl PeerAddr {
    /// A plain (levin) peer.
    #[must_use]
    pub const fn plain(socket: SocketAddr) -> Self {
        Self {
            socket,
            umbra: None,
        }
    }

    /// An Umbra peer reached over the Noise transport.
    #[must_use]
    pub const fn umbra(socket: SocketAddr, key: PublicKey) -> Self {
        Self {
            socket,
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

    /// The same address with `port`.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.socket.set_port(port);
        self
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(socket: SocketAddr) -> Self {
        Self::plain(socket)
    }
}

impl From<Keyed<SocketAddr>> for PeerAddr {
    fn from(keyed: Keyed<SocketAddr>) -> Self {
        Self::umbra(keyed.addr, keyed.key)
    }
}

impl PartialEq for PeerAddr {
    fn eq(&self, other: &Self) -> bool {
        self.socket == other.socket
    }
}

impl Eq for PeerAddr {}

impl Hash for PeerAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.socket.hash(state);
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.umbra {
            Some(peer) => write!(f, "{}@{}", peer.key, self.socket),
            None => self.socket.fmt(f),
        }
    }
}

impl FromStr for PeerAddr {
    type Err = KeyedParseError;

    /// `1.2.3.4:18080` (a plain peer) or `<key hex>@1.2.3.4:18080` (an Umbra peer).
    fn from_str(s: &str) -> Result<Self, KeyedParseError> {
        if s.contains('@') {
            return s.parse::<Keyed<SocketAddr>>().map(Self::from);
        }
        s.parse::<SocketAddr>()
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
