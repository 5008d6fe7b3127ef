//! Addresses of peers that are known by a key.

use std::{fmt, str::FromStr};

pub use umbra_identity::PublicKey;

/// A peer reached at `addr` that must prove it holds `key`.
///
/// Shown and parsed as `<key hex>@<addr>`, like a bridge line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyed<A> {
    /// Where the peer listens.
    pub addr: A,
    /// The identity it must prove.
    pub key: PublicKey,
}

impl<A> Keyed<A> {
    /// `addr`, held by `key`.
    pub const fn new(addr: A, key: PublicKey) -> Self {
        Self { addr, key }
    }
}

impl<A: fmt::Display> fmt::Display for Keyed<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.key, self.addr)
    }
}

/// Why `<key>@<addr>` text did not parse.
#[derive(Debug, thiserror::Error)]
pub enum KeyedParseError {
    /// No `@`.
    #[error("{input:?}: expected <public key hex>@<address>")]
    NoAt {
        /// The text, cut to 120 characters.
        input: String,
    },
    /// The key part is not a key.
    #[error(transparent)]
    Key(#[from] umbra_identity::KeyError),
    /// The address part is not an address.
    #[error("{input:?}: the address is not valid: {reason}")]
    Addr {
        /// The text, cut to 120 characters.
        input: String,
        /// Why.
        reason: String,
    },
}

impl<A: FromStr> FromStr for Keyed<A>
where
    A::Err: fmt::Display,
{
    type Err = KeyedParseError;

    fn from_str(s: &str) -> Result<Self, KeyedParseError> {
        let cut = || s.chars().take(120).collect::<String>();
        let (key, addr) = s
            .split_once('@')
            .ok_or_else(|| KeyedParseError::NoAt { input: cut() })?;
        let key: PublicKey = key.parse()?;
        let addr = addr
            .parse()
            .map_err(|error: A::Err| KeyedParseError::Addr {
                input: cut(),
                reason: error.to_string(),
            })?;
        Ok(Self { addr, key })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::SocketAddr;

    use umbra_identity::Identity;

    use super::*;

    #[test]
    fn text_round_trip() {
        let key = Identity::generate().public();
        let keyed = Keyed::new("127.0.0.1:18080".parse::<SocketAddr>().unwrap(), key);
        let text = keyed.to_string();
        assert_eq!(text.parse::<Keyed<SocketAddr>>().unwrap(), keyed);
        assert!("127.0.0.1:18080".parse::<Keyed<SocketAddr>>().is_err());
        assert!(
            format!("{key}@nonsense")
                .parse::<Keyed<SocketAddr>>()
                .is_err()
        );
    }
}
