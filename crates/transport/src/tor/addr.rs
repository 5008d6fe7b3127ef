//! v3 onion service addresses.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
};

use data_encoding::BASE32_NOPAD;
use sha3::{Digest, Sha3_256};

/// Characters of the base32 part of a v3 onion host name.
const HOST_CHARS: usize = 56;
/// The only onion service version Tor still serves.
const VERSION: u8 = 3;

/// A Tor v3 onion service and a port on it: `<56 base32 characters>.onion:<port>`.
///
/// The host name encodes the service's Ed25519 public key, a two-byte checksum and the
/// version; [`OnionAddr::from_str`] checks all three, so an address that parsed names a
/// service that can exist. Host names are kept in lower case, as Tor writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OnionAddr {
    key: [u8; 32],
    port: u16,
}

impl OnionAddr {
    /// The onion service whose identity key is `key`, at `port`.
    #[must_use]
    pub const fn from_key(key: [u8; 32], port: u16) -> Self {
        Self { key, port }
    }

    /// Parses a host name (`<56 base32>.onion`, any case) and a port.
    ///
    /// # Errors
    /// [`OnionAddrError`] naming what is wrong with `host`.
    pub fn new(host: &str, port: u16) -> Result<Self, OnionAddrError> {
        let error = |reason| OnionAddrError {
            input: host.chars().take(80).collect(),
            reason,
        };
        let base = host
            .strip_suffix(".onion")
            .or_else(|| host.strip_suffix(".ONION"))
            .ok_or_else(|| error("the host does not end in .onion"))?;
        if base.len() != HOST_CHARS {
            return Err(error(
                "a v3 onion host has 56 base32 characters before .onion",
            ));
        }
        let upper = base.to_ascii_uppercase();
        let bytes = BASE32_NOPAD
            .decode(upper.as_bytes())
            .map_err(|_| error("the host is not base32"))?;
        let (key, rest) = bytes
            .split_first_chunk::<32>()
            .ok_or_else(|| error("the host is too short"))?;
        let &[check0, check1, version] = rest else {
            return Err(error("the host has the wrong length"));
        };
        if version != VERSION {
            return Err(error("not a version 3 onion service"));
        }
        if checksum(key) != [check0, check1] {
            return Err(error("the checksum does not match (a mistyped address?)"));
        }
        Ok(Self { key: *key, port })
    }

    /// The service's Ed25519 identity key.
    #[must_use]
    pub const fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The same service at another port.
    #[must_use]
    pub const fn with_port(&self, port: u16) -> Self {
        Self {
            key: self.key,
            port,
        }
    }

    /// The host name, `<56 base32>.onion`, in lower case.
    #[must_use]
    pub fn host(&self) -> String {
        let mut bytes = [0u8; 35];
        let (key, rest) = bytes.split_at_mut(32);
        key.copy_from_slice(&self.key);
        let [c0, c1] = checksum(&self.key);
        rest.copy_from_slice(&[c0, c1, VERSION]);
        let mut host = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
        host.push_str(".onion");
        host
    }
}

/// `SHA3-256(".onion checksum" || key || version)[..2]` (Tor's rend-spec-v3).
fn checksum(key: &[u8; 32]) -> [u8; 2] {
    let mut hasher = Sha3_256::new();
    hasher.update(b".onion checksum");
    hasher.update(key);
    hasher.update([VERSION]);
    let digest = hasher.finalize();
    let mut out = [0u8; 2];
    out.copy_from_slice(digest.get(..2).unwrap_or(&[0, 0]));
    out
}

impl fmt::Display for OnionAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host(), self.port)
    }
}

/// Why text is not an onion address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a v3 onion address: {reason}")]
pub struct OnionAddrError {
    /// The text, cut to 80 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for OnionAddr {
    type Err = OnionAddrError;

    /// Parses `<56 base32>.onion:<port>`.
    fn from_str(s: &str) -> Result<Self, OnionAddrError> {
        let (host, port) = s.rsplit_once(':').ok_or_else(|| OnionAddrError {
            input: s.chars().take(80).collect(),
            reason: "expected <host>.onion:<port>",
        })?;
        let port = port.parse().map_err(|_| OnionAddrError {
            input: s.chars().take(80).collect(),
            reason: "the port is not a number from 0 to 65535",
        })?;
        Self::new(host, port)
    }
}

/// Where a peer on the Tor network is: an onion service we can dial, or the other end of
/// a connection that came in through our own onion service.
///
/// Tor gives an onion service no address for whoever connected to it, so inbound peers are
/// told apart by a number unique within the process (like monerod's "unknown" Tor address,
/// but never equal to another connection's). An inbound address cannot be dialled and is
/// never written into a peer list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TorAddr {
    /// An onion service and port.
    Onion(OnionAddr),
    /// An inbound connection through our onion service; the number identifies the
    /// connection, not the peer.
    Inbound(u64),
}

impl TorAddr {
    /// A fresh inbound address, different from every other one this process made.
    #[must_use]
    pub fn next_inbound() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self::Inbound(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The onion service, if this is one.
    #[must_use]
    pub const fn onion(&self) -> Option<&OnionAddr> {
        match self {
            Self::Onion(onion) => Some(onion),
            Self::Inbound(_) => None,
        }
    }
}

impl From<OnionAddr> for TorAddr {
    fn from(onion: OnionAddr) -> Self {
        Self::Onion(onion)
    }
}

impl fmt::Display for TorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Onion(onion) => onion.fmt(f),
            Self::Inbound(id) => write!(f, "<inbound onion connection {id}>"),
        }
    }
}

impl FromStr for TorAddr {
    type Err = OnionAddrError;

    /// Parses an onion address (`<56 base32>.onion:<port>`); inbound addresses have no
    /// text form.
    fn from_str(s: &str) -> Result<Self, OnionAddrError> {
        s.parse().map(Self::Onion)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    // The address of the Tor Project's own website (a published, long-lived service).
    const TORPROJECT: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

    #[test]
    fn parses_and_prints_a_real_address() {
        let addr: OnionAddr = format!("{TORPROJECT}:443").parse().unwrap();
        assert_eq!(addr.port(), 443);
        assert_eq!(addr.host(), TORPROJECT);
        assert_eq!(addr.to_string(), format!("{TORPROJECT}:443"));
        let upper = OnionAddr::new(&TORPROJECT.to_ascii_uppercase(), 443);
        assert_eq!(upper.unwrap(), addr);
        assert_eq!(OnionAddr::from_key(*addr.key(), 443), addr);
        assert_eq!(addr.with_port(80).port(), 80);
    }

    #[test]
    fn refuses_what_is_not_a_v3_onion() {
        let mut typo = TORPROJECT.to_owned();
        typo.replace_range(0..1, "3");
        for (input, reason) in [
            ("example.com:80", "does not end"),
            ("abc.onion:80", "56 base32"),
            (TORPROJECT, "expected"),
            (&format!("{TORPROJECT}:port"), "port"),
            (&format!("{TORPROJECT}:70000"), "port"),
            (&format!("{typo}:80"), "checksum"),
            (&format!("{}.onion:80", "1".repeat(56)), "base32"),
        ] {
            let error = input.parse::<OnionAddr>().unwrap_err();
            assert!(error.to_string().contains(reason), "{input}: {error}");
        }
        // A valid checksum over another version byte.
        let addr: OnionAddr = format!("{TORPROJECT}:1").parse().unwrap();
        let mut bytes = addr.key().to_vec();
        bytes.extend_from_slice(&[0, 0, 2]);
        let host = format!("{}.onion", BASE32_NOPAD.encode(&bytes).to_ascii_lowercase());
        assert!(
            OnionAddr::new(&host, 1)
                .unwrap_err()
                .reason
                .contains("version")
        );
    }

    #[test]
    fn inbound_addresses_are_all_different() {
        let a = TorAddr::next_inbound();
        let b = TorAddr::next_inbound();
        assert_ne!(a, b);
        assert_eq!(a.onion(), None);
        let onion: TorAddr = format!("{TORPROJECT}:18083").parse().unwrap();
        assert_eq!(onion.onion().map(OnionAddr::port), Some(18083));
        assert!(a.to_string().starts_with("<inbound onion"));
    }
}
