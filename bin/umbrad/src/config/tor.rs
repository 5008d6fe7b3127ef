//! The `[tor]` section: Umbra's P2P over Tor.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use umbra_transport::hybrid::PeerAddr as ZonePeer;
use umbra_transport::tor::{OnionAddr, TorAddr};

use super::FieldDoc;

/// A system tor's usual SOCKS port.
pub const DEFAULT_TOR_SOCKS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9050));
/// A system tor's usual control port.
pub const DEFAULT_TOR_CONTROL: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9051));
/// The port of our onion service.
pub const DEFAULT_ONION_PORT: u16 = 18083;
/// Outbound Tor connections to keep.
pub const DEFAULT_TOR_OUT_PEERS: usize = 8;
/// Most inbound Tor connections.
pub const DEFAULT_TOR_IN_PEERS: usize = 32;

documented_config! {
    /// The `[tor]` section: the Tor zone.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct TorConfig {
        /// Whether and how to run the P2P network over Tor, beside clearnet. The Tor
        /// zone has its own identity key, its own address book (tor-peers.epee), a fresh
        /// node id on every connection, and never tells a peer our clearnet address;
        /// nothing on it ever falls back to a direct connection.
        ///
        /// Type: string. Valid values: "off"; "embedded" (Umbra's own Tor client, arti:
        /// no tor daemon needed; its state is in <data_dir>/tor/arti); "system" (a tor
        /// daemon, through its SOCKS port and, for the onion service, its control
        /// port). Default: "off". The flag --tor overrides this; --tx-proxy
        /// tor,IP:PORT sets "system".
        /// Example: `mode = "embedded"`
        pub mode: TorMode,
        /// The system tor's SOCKS port (mode = "system").
        ///
        /// Type: string, IP:PORT. Default: "127.0.0.1:9050". The flags --tor-socks and
        /// --tx-proxy tor,IP:PORT override this.
        /// Example: `socks = "127.0.0.1:9150"`
        pub socks: SocketAddr,
        /// The system tor's control port (mode = "system"), used to create our onion
        /// service (ADD_ONION); authentication is found out with PROTOCOLINFO (cookie or
        /// none).
        ///
        /// Type: string, IP:PORT. Default: "127.0.0.1:9051". The flag --tor-control
        /// overrides this.
        /// Example: `control = "127.0.0.1:9151"`
        pub control: SocketAddr,
        /// Whether to accept peers through an onion service of our own. Its key is the
        /// Tor zone's identity (<data_dir>/identity/tor.key with a system tor, arti's
        /// key store with the embedded one), so its address survives restarts.
        ///
        /// Type: boolean. Default: true.
        /// Example: `inbound = false`
        pub inbound: bool,
        /// The port of our onion service.
        ///
        /// Type: integer, 1 to 65535. Default: 18083.
        /// Example: `onion_port = 28083`
        pub onion_port: u16,
        /// monerod's --anonymous-inbound: an onion service set up in tor's own torrc
        /// (HiddenServiceDir/HiddenServicePort) that forwards to a local port. Umbra
        /// then listens on that local port and tells peers the onion address, instead of
        /// creating a service through the control port. Empty: not used.
        ///
        /// Type: string, "ONION:PORT,IP:PORT" or "ONION:PORT,IP:PORT,MAX" (MAX: most inbound connections).
        /// Default: "". The flag --anonymous-inbound overrides this.
        /// Example: `anonymous_inbound = "xyz...xyz.onion:18083,127.0.0.1:18083,25"`
        pub anonymous_inbound: String,
        /// Onion peers to add to the Tor zone's address book at start; Umbra peers as
        /// KEY@HOST.onion:PORT (then dialled with Umbra's encryption inside the Tor
        /// stream). .onion addresses given to --add-peer land here too.
        ///
        /// Type: list of strings. Default: [].
        /// Example: `add_peers = ["xyz...xyz.onion:18083"]`
        pub add_peers: Vec<String>,
        /// Outbound Tor connections to keep open.
        ///
        /// Type: integer, 0 or more. Default: 8. --tx-proxy tor,IP:PORT,MAX sets it.
        /// Example: `out_peers = 4`
        pub out_peers: usize,
        /// Most inbound Tor connections at a time.
        ///
        /// Type: integer, 0 or more. Default: 32. --anonymous-inbound ...,MAX sets it.
        /// Example: `in_peers = 16`
        pub in_peers: usize,
        /// A private Tor network (tests only): the v3 identity fingerprints of its
        /// directory authorities, for the embedded client. Empty: the public network.
        ///
        /// Type: list of 40-hex-digit strings. Default: [].
        /// Example: `authorities = ["0123...CDEF"]`
        pub authorities: Vec<String>,
        /// A private Tor network (tests only): directory caches to bootstrap from, for
        /// the embedded client, as "RSA_FINGERPRINT ED25519_ID IP:PORT" (hex, base64,
        /// OR port). Needed with authorities.
        ///
        /// Type: list of strings. Default: [].
        /// Example: `fallbacks = ["0123...CDEF AbCd...xyz 127.0.0.1:5001"]`
        pub fallbacks: Vec<String>,
        /// A private Tor network on this machine (tests only): let the embedded client
        /// use relays and exits on local addresses.
        ///
        /// Type: boolean. Default: false.
        /// Example: `allow_local = true`
        pub allow_local: bool,
    }
}

/// The `[tor]` section of a config layer. See [`TorConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorLayer {
    /// See [`TorConfig::mode`].
    pub mode: Option<TorMode>,
    /// See [`TorConfig::socks`].
    pub socks: Option<SocketAddr>,
    /// See [`TorConfig::control`].
    pub control: Option<SocketAddr>,
    /// See [`TorConfig::inbound`].
    pub inbound: Option<bool>,
    /// See [`TorConfig::onion_port`].
    pub onion_port: Option<u16>,
    /// See [`TorConfig::anonymous_inbound`].
    pub anonymous_inbound: Option<String>,
    /// See [`TorConfig::add_peers`].
    pub add_peers: Option<Vec<String>>,
    /// See [`TorConfig::out_peers`].
    pub out_peers: Option<usize>,
    /// See [`TorConfig::in_peers`].
    pub in_peers: Option<usize>,
    /// See [`TorConfig::authorities`].
    pub authorities: Option<Vec<String>>,
    /// See [`TorConfig::fallbacks`].
    pub fallbacks: Option<Vec<String>>,
    /// See [`TorConfig::allow_local`].
    pub allow_local: Option<bool>,
}

impl TorLayer {
    /// Each setting from `higher` if it has it, else from `self`.
    #[must_use]
    pub fn overlay(self, higher: Self) -> Self {
        Self {
            mode: higher.mode.or(self.mode),
            socks: higher.socks.or(self.socks),
            control: higher.control.or(self.control),
            inbound: higher.inbound.or(self.inbound),
            onion_port: higher.onion_port.or(self.onion_port),
            anonymous_inbound: higher.anonymous_inbound.or(self.anonymous_inbound),
            add_peers: higher.add_peers.or(self.add_peers),
            out_peers: higher.out_peers.or(self.out_peers),
            in_peers: higher.in_peers.or(self.in_peers),
            authorities: higher.authorities.or(self.authorities),
            fallbacks: higher.fallbacks.or(self.fallbacks),
            allow_local: higher.allow_local.or(self.allow_local),
        }
    }

    /// Every missing setting at its default.
    #[must_use]
    pub fn resolve(self) -> TorConfig {
        TorConfig {
            mode: self.mode.unwrap_or_default(),
            socks: self.socks.unwrap_or(DEFAULT_TOR_SOCKS),
            control: self.control.unwrap_or(DEFAULT_TOR_CONTROL),
            inbound: self.inbound.unwrap_or(true),
            onion_port: self.onion_port.unwrap_or(DEFAULT_ONION_PORT).max(1),
            anonymous_inbound: self.anonymous_inbound.unwrap_or_default(),
            add_peers: self.add_peers.unwrap_or_default(),
            out_peers: self.out_peers.unwrap_or(DEFAULT_TOR_OUT_PEERS),
            in_peers: self.in_peers.unwrap_or(DEFAULT_TOR_IN_PEERS),
            authorities: self.authorities.unwrap_or_default(),
            fallbacks: self.fallbacks.unwrap_or_default(),
            allow_local: self.allow_local.unwrap_or(false),
        }
    }
}

/// The doc table of the `[tor]` section.
pub const TOR_FIELD_DOCS: &[FieldDoc] = TorConfig::FIELD_DOCS;

/// How the Tor zone reaches Tor.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum TorMode {
    /// No Tor zone.
    #[default]
    Off,
    /// Umbra's own Tor client (arti).
    Embedded,
    /// A tor daemon's SOCKS and control ports.
    System,
}

impl fmt::Display for TorMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Embedded => "embedded",
            Self::System => "system",
        })
    }
}

/// monerod's `--anonymous-inbound ONION:PORT,IP:PORT[,MAX]`: where peers reach us, the
/// local address tor forwards them to, and how many at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnonymousInbound {
    /// Our onion service, as peers dial it.
    pub onion: OnionAddr,
    /// Where tor forwards its connections (must be a loopback address).
    pub local: SocketAddr,
    /// Most inbound connections, if given.
    pub max: Option<usize>,
}

/// Why `--anonymous-inbound` (or `--tx-proxy`) text is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} {input:?}: {reason}")]
pub struct ProxySpecError {
    /// The flag.
    pub flag: &'static str,
    /// The text.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for AnonymousInbound {
    type Err = ProxySpecError;

    fn from_str(s: &str) -> Result<Self, ProxySpecError> {
        let fail = |reason: String| ProxySpecError {
            flag: "--anonymous-inbound",
            input: s.to_owned(),
            reason,
        };
        let mut parts = s.split(',');
        let onion = parts
            .next()
            .unwrap_or_default()
            .parse::<OnionAddr>()
            .map_err(|e| fail(e.to_string()))?;
        let local = parts
            .next()
            .ok_or_else(|| fail("expected ONION:PORT,IP:PORT[,MAX]".to_owned()))?
            .parse::<SocketAddr>()
            .map_err(|e| fail(format!("the local address: {e}")))?;
        if !local.ip().is_loopback() {
            return Err(fail(
                "the local address must be a loopback address (only tor may reach it)".to_owned(),
            ));
        }
        let max = parts
            .next()
            .map(|max| {
                max.parse::<usize>()
                    .map_err(|_| fail(format!("the maximum {max:?} is not a number")))
            })
            .transpose()?;
        if parts.next().is_some() {
            return Err(fail("expected ONION:PORT,IP:PORT[,MAX]".to_owned()));
        }
        Ok(Self { onion, local, max })
    }
}

/// The anonymity network a `--tx-proxy` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyNetwork {
    /// `tor`: a system tor's SOCKS port.
    Tor,
    /// `i2p`: an I2P router's SOCKS proxy (i2pd's, port 4447 by default).
    I2p,
}

/// monerod's `--tx-proxy NETWORK,IP:PORT[,MAX[,disable_noise]]`, for network `tor` or
/// `i2p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxProxy {
    /// Which network.
    pub network: ProxyNetwork,
    /// The SOCKS proxy.
    pub socks: SocketAddr,
    /// Most outbound connections, if given.
    pub max: Option<usize>,
}

impl FromStr for TxProxy {
    type Err = ProxySpecError;

    fn from_str(s: &str) -> Result<Self, ProxySpecError> {
        let fail = |reason: String| ProxySpecError {
            flag: "--tx-proxy",
            input: s.to_owned(),
            reason,
        };
        let expected = || fail("expected tor,IP:PORT[,MAX] or i2p,IP:PORT[,MAX]".to_owned());
        let mut parts = s.split(',');
        let network = match parts.next() {
            Some("tor") => ProxyNetwork::Tor,
            Some("i2p") => ProxyNetwork::I2p,
            _ => return Err(expected()),
        };
        let socks = parts
            .next()
            .ok_or_else(expected)?
            .parse::<SocketAddr>()
            .map_err(|e| fail(format!("the proxy address: {e}")))?;
        let max = parts
            .next()
            .map(|max| {
                max.parse::<usize>()
                    .map_err(|_| fail(format!("the maximum {max:?} is not a number")))
            })
            .transpose()?;
        // monerod's optional fourth field (disable_noise) has no meaning here.
        Ok(Self {
            network,
            socks,
            max,
        })
    }
}

/// An onion peer from the config: `[KEY@]HOST.onion:PORT`.
///
/// # Errors
/// The reason, naming the text.
pub fn parse_onion_peer(text: &str) -> Result<ZonePeer<TorAddr>, String> {
    text.parse::<ZonePeer<TorAddr>>()
        .map_err(|error| format!("invalid Tor peer {text:?}: {error}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

    #[test]
    fn monerod_spellings_parse() {
        let inbound: AnonymousInbound =
            format!("{ONION}:18083,127.0.0.1:28083,25").parse().unwrap();
        assert_eq!(inbound.onion.port(), 18083);
        assert_eq!(inbound.local.port(), 28083);
        assert_eq!(inbound.max, Some(25));
        let proxy: TxProxy = "tor,127.0.0.1:9050,10".parse().unwrap();
        assert_eq!(proxy.network, ProxyNetwork::Tor);
        assert_eq!(proxy.socks.port(), 9050);
        assert_eq!(proxy.max, Some(10));
        let proxy: TxProxy = "tor,127.0.0.1:9050,10,disable_noise".parse().unwrap();
        assert_eq!(proxy.max, Some(10));
    }

    #[test]
    fn bad_spellings_say_why() {
        for (input, reason) in [
            (format!("{ONION}:18083,10.0.0.1:1"), "loopback"),
            (format!("{ONION}:18083"), "expected"),
            ("x.onion:1,127.0.0.1:1".to_owned(), "onion"),
            (format!("{ONION}:18083,127.0.0.1:1,many"), "not a number"),
        ] {
            let error = input.parse::<AnonymousInbound>().unwrap_err();
            assert!(error.to_string().contains(reason), "{input}: {error}");
        }
        assert_eq!(
            "i2p,127.0.0.1:4447".parse::<TxProxy>().unwrap().network,
            ProxyNetwork::I2p
        );
        assert!("tor".parse::<TxProxy>().is_err());
        assert!("i3p,127.0.0.1:1".parse::<TxProxy>().is_err());
        assert!(parse_onion_peer("1.2.3.4:18080").is_err());
        assert!(parse_onion_peer(&format!("{ONION}:18083")).is_ok());
    }
}
