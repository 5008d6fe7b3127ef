//! `.b32.i2p` addresses.

use std::{fmt, str::FromStr};

use data_encoding::BASE32_NOPAD;

use super::Destination;

/// Characters of the base32 part of a `.b32.i2p` host name (a SHA-256 hash).
const HOST_CHARS: usize = 52;
/// What follows the base32 part.
const SUFFIX: &str = ".b32.i2p";

/// An I2P destination, named by the SHA-256 of its binary form, and a port:
/// `<52 base32 characters>.b32.i2p:<port>`.
///
/// # Ports
///
/// I2P streams through SAM 3.1 (and i2pd's SOCKS proxy) have no ports: the port is carried
/// only because Monero's peer lists have a port field, and dialling ignores it. What
/// monerod writes there:
///
/// - since v0.18.3.2 (monero-project/monero#9138 and #9142, January 2024) an I2P address
///   has no port of its own: monerod accepts `host[:port]`, drops the port, compares and
///   prints the host only, and stores **port 1** in peer lists "for backwards
///   compatibility; zero is invalid port" ([`I2pAddr::MONERO_PORT`]);
/// - before that (0.18.0.0 included) it kept whatever port it was given
///   (`--add-peer`, `--anonymous-inbound <b32>.b32.i2p:<port>,...`), so the same node could
///   appear under several ports.
///
/// Equality and hashing here include the port (a plain value); normalise addresses read
/// from peer lists with [`I2pAddr::normalized`] to merge such duplicates the way current
/// monerod does, and compare destinations alone with [`I2pAddr::same_destination`].
///
/// [`I2pAddr::from_str`] accepts the host in any case (monerod does) and the port may be
/// left out (then it is [`I2pAddr::MONERO_PORT`]); host names are written in lower case.
/// The last base32 character must not carry stray bits and the port has no leading zero,
/// so text that parses prints back the same (after lower-casing and adding a missing
/// port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct I2pAddr {
    hash: [u8; 32],
    port: u16,
}

impl I2pAddr {
    /// The port monerod (since v0.18.3.2) writes for every I2P address in peer lists.
    pub const MONERO_PORT: u16 = 1;

    /// The destination whose SHA-256 is `hash`, at `port`.
    #[must_use]
    pub const fn from_hash(hash: [u8; 32], port: u16) -> Self {
        Self { hash, port }
    }

    /// The address of `destination`, at [`I2pAddr::MONERO_PORT`].
    #[must_use]
    pub fn from_destination(destination: &Destination) -> Self {
        Self::from_hash(destination.hash(), Self::MONERO_PORT)
    }

    /// Parses a host name (`<52 base32>.b32.i2p`, any case) and a port.
    ///
    /// # Errors
    /// [`I2pAddrError`] naming what is wrong with `host`.
    pub fn new(host: &str, port: u16) -> Result<Self, I2pAddrError> {
        let error = |reason| I2pAddrError {
            input: host.chars().take(80).collect(),
            reason,
        };
        let split = host
            .len()
            .checked_sub(SUFFIX.len())
            .and_then(|at| host.split_at_checked(at));
        let base = match split {
            Some((base, suffix)) if suffix.eq_ignore_ascii_case(SUFFIX) => base,
            _ => return Err(error("the host does not end in .b32.i2p")),
        };
        if base.len() != HOST_CHARS {
            return Err(error(
                "a b32 I2P host has 52 base32 characters before .b32.i2p",
            ));
        }
        let upper = base.to_ascii_uppercase();
        let bytes = BASE32_NOPAD
            .decode(upper.as_bytes())
            .map_err(|_| error("the host is not canonical base32"))?;
        let hash = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| error("the host does not encode 32 bytes"))?;
        Ok(Self { hash, port })
    }

    /// SHA-256 of the destination.
    #[must_use]
    pub const fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The port (see the type's docs: dialling ignores it).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The same destination at another port.
    #[must_use]
    pub const fn with_port(&self, port: u16) -> Self {
        Self {
            hash: self.hash,
            port,
        }
    }

    /// The same destination at [`I2pAddr::MONERO_PORT`], as monerod stores it.
    #[must_use]
    pub const fn normalized(&self) -> Self {
        self.with_port(Self::MONERO_PORT)
    }

    /// Whether both name the same destination, whatever their ports.
    #[must_use]
    pub fn same_destination(&self, other: &Self) -> bool {
        self.hash == other.hash
    }

    /// Whether this is the address of `destination`.
    #[must_use]
    pub fn is_of(&self, destination: &Destination) -> bool {
        self.hash == destination.hash()
    }

    /// The host name, `<52 base32>.b32.i2p`, in lower case.
    #[must_use]
    pub fn host(&self) -> String {
        let mut host = BASE32_NOPAD.encode(&self.hash).to_ascii_lowercase();
        host.push_str(SUFFIX);
        host
    }
}

impl fmt::Display for I2pAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host(), self.port)
    }
}

/// Why text is not a `.b32.i2p` address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a b32 I2P address: {reason}")]
pub struct I2pAddrError {
    /// The text, cut to 80 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for I2pAddr {
    type Err = I2pAddrError;

    /// Parses `<52 base32>.b32.i2p[:<port>]`; without a port, the port is
    /// [`I2pAddr::MONERO_PORT`].
    fn from_str(s: &str) -> Result<Self, I2pAddrError> {
        match s.rsplit_once(':') {
            Some((host, port)) => {
                // Decimal digits only, without leading zeros: one text per address.
                let canonical = port.bytes().all(|b| b.is_ascii_digit())
                    && (port == "0" || !port.starts_with('0'));
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|_| canonical)
                    .ok_or_else(|| I2pAddrError {
                        input: s.chars().take(80).collect(),
                        reason: "the port is not a number from 0 to 65535 (no sign, no leading zero)",
                    })?;
                Self::new(host, port)
            }
            None => Self::new(s, Self::MONERO_PORT),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    // The address of Monero's I2P documentation example (ANONYMITY_NETWORKS.md).
    const MONERO_DOC: &str = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    #[test]
    fn parses_and_prints_a_real_address() {
        let addr: I2pAddr = format!("{MONERO_DOC}:5000").parse().unwrap();
        assert_eq!(addr.port(), 5000);
        assert_eq!(addr.host(), MONERO_DOC);
        assert_eq!(addr.to_string(), format!("{MONERO_DOC}:5000"));
        let upper = I2pAddr::new(&MONERO_DOC.to_ascii_uppercase(), 5000).unwrap();
        assert_eq!(upper, addr);
        assert_eq!(I2pAddr::from_hash(*addr.hash(), 5000), addr);
        let bare: I2pAddr = MONERO_DOC.parse().unwrap();
        assert_eq!(bare.port(), I2pAddr::MONERO_PORT);
        assert_eq!(addr.normalized(), bare);
        assert!(addr.same_destination(&bare) && addr != bare);
        assert_eq!(addr.with_port(1), bare);
    }

    #[test]
    fn address_of_a_destination_is_the_sha256_of_its_bytes() {
        let dest = crate::i2p::dest::tests::sample();
        let addr = I2pAddr::from_destination(&dest);
        assert_eq!(addr.hash(), &dest.hash());
        assert_eq!(addr.port(), I2pAddr::MONERO_PORT);
        assert!(addr.is_of(&dest));
        assert_eq!(addr.host().len(), 60);
    }

    #[test]
    fn refuses_what_is_not_a_b32_address() {
        let mut stray = MONERO_DOC.to_owned();
        // 'q' carries no stray bits in the last position; 'r' does.
        stray.replace_range(51..52, "r");
        for (input, reason) in [
            ("example.com:80", "does not end"),
            ("abc.b32.i2p:80", "52 base32"),
            (".b32.i2p", "52 base32"),
            ("", "does not end"),
            (":", "port"),
            ("b32.i2p", "does not end"),
            (&format!("{MONERO_DOC}:port"), "port"),
            (&format!("{MONERO_DOC}:+80"), "port"),
            (&format!("{MONERO_DOC}:080"), "port"),
            (&format!("{MONERO_DOC}:70000"), "port"),
            (&format!("{MONERO_DOC}:"), "port"),
            (&format!("{}.b32.i2p:80", "1".repeat(52)), "base32"),
            (&format!("{stray}:1"), "canonical"),
            (&format!("{}.onion:80", "a".repeat(56)), "does not end"),
        ] {
            let error = input.parse::<I2pAddr>().unwrap_err();
            assert!(error.to_string().contains(reason), "{input}: {error}");
        }
    }
}
