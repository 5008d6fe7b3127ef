//! [`I2pEndpoint`]: where a peer on the I2P network is, as the I2P zone sees it.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
};

use super::{I2pAddr, I2pAddrError};

/// Where a peer on the I2P network is: a destination we can dial, or the other end of a
/// connection that came in to us.
///
/// An inbound connection is never an address to dial or to pass on: through SAM the router
/// names the destination the stream came from, but that is the peer's *sending*
/// destination (monerod dials through i2pd's SOCKS tunnel, whose destination is not the
/// one it listens on), and through a tunnel that forwards to a local port (monerod's
/// `--anonymous-inbound`) nothing is known at all. What is known is kept only to count
/// and ban connections by their source; each inbound connection also has a number unique
/// in the process, so two connections are never equal.
///
/// `Display` never shows an inbound source (logs name no peer that reached us).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum I2pEndpoint {
    /// A destination that accepts connections (from a peer list, the configuration, or our
    /// own).
    Dest(I2pAddr),
    /// An inbound connection.
    Inbound {
        /// The destination the stream came from, when the router said (SAM); at
        /// [`I2pAddr::MONERO_PORT`].
        from: Option<I2pAddr>,
        /// A number unique to the connection within the process.
        id: u64,
    },
}

impl I2pEndpoint {
    /// A fresh inbound endpoint from `from`, different from every other one this process
    /// made.
    #[must_use]
    pub fn next_inbound(from: Option<I2pAddr>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self::Inbound {
            from: from.map(|addr| addr.normalized()),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The destination to dial, if this is one.
    #[must_use]
    pub const fn dest(&self) -> Option<&I2pAddr> {
        match self {
            Self::Dest(addr) => Some(addr),
            Self::Inbound { .. } => None,
        }
    }

    /// Whether this is an inbound connection.
    #[must_use]
    pub const fn is_inbound(&self) -> bool {
        matches!(self, Self::Inbound { .. })
    }
}

impl From<I2pAddr> for I2pEndpoint {
    fn from(addr: I2pAddr) -> Self {
        Self::Dest(addr)
    }
}

impl fmt::Display for I2pEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dest(addr) => addr.fmt(f),
            Self::Inbound { id, .. } => write!(f, "<inbound I2P connection {id}>"),
        }
    }
}

impl FromStr for I2pEndpoint {
    type Err = I2pAddrError;

    /// A destination: `<52 base32>.b32.i2p[:<port>]` (see [`I2pAddr::from_str`]).
    fn from_str(s: &str) -> Result<Self, I2pAddrError> {
        s.parse().map(Self::Dest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const B32: &str = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    #[test]
    fn inbound_endpoints_are_unique_and_never_show_their_source() {
        let from: I2pAddr = format!("{B32}:7").parse().unwrap();
        let a = I2pEndpoint::next_inbound(Some(from));
        let b = I2pEndpoint::next_inbound(Some(from));
        assert_ne!(a, b);
        assert!(a.is_inbound() && a.dest().is_none());
        assert!(!a.to_string().contains(&B32[..10]), "{a}");
        match a {
            I2pEndpoint::Inbound {
                from: Some(kept), ..
            } => {
                assert_eq!(kept.port(), I2pAddr::MONERO_PORT);
            }
            other => panic!("{other:?}"),
        }
        let dest: I2pEndpoint = B32.parse().unwrap();
        assert_eq!(dest.to_string(), format!("{B32}:1"));
        assert_eq!(dest.dest().map(I2pAddr::port), Some(1));
        assert!("x.onion:1".parse::<I2pEndpoint>().is_err());
    }
}
