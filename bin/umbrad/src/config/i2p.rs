//! The `[i2p]` section: Umbra's P2P over I2P, and monerod's I2P flags.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use umbra_transport::hybrid::PeerAddr as ZonePeer;
use umbra_transport::i2p::{I2pAddr, I2pEndpoint};

use super::{AnonymousInbound, FieldDoc, ProxySpecError};

/// An I2P router's usual SAM bridge (i2pd and Java I2P).
pub const DEFAULT_I2P_SAM: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7656));
/// i2pd's usual SOCKS proxy (what monerod's `--tx-proxy i2p,...` points at).
pub const DEFAULT_I2P_SOCKS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4447));
/// Outbound I2P connections to keep.
pub const DEFAULT_I2P_OUT_PEERS: usize = 8;
/// Most inbound I2P connections.
pub const DEFAULT_I2P_IN_PEERS: usize = 32;
/// Hops of our I2P tunnels (I2P's own default).
pub const DEFAULT_I2P_HOPS: u8 = 3;

documented_config! {
    /// The `[i2p]` section: the I2P zone.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct I2pConfig {
        /// Whether and how to run the P2P network over I2P, beside clearnet. The I2P
        /// zone has its own identity key, its own I2P address (destination), its own
        /// address book (i2p-peers.epee), a fresh node id on every connection, and never
        /// tells a peer our clearnet address; nothing on it ever falls back to a direct
        /// connection.
        ///
        /// Type: string. Valid values: "off"; "sam" (an I2P router's SAM bridge, e.g.
        /// i2pd with sam.enabled = true: Umbra makes its own I2P destination there,
        /// dials and accepts through it; nothing to configure in the router);
        /// "socks" (what monerod does: dial through the router's SOCKS proxy; accept
        /// only through a server tunnel configured in the router, see
        /// anonymous_inbound). Default: "off". The flags --i2p and --i2p-sam set "sam";
        /// --tx-proxy i2p,IP:PORT sets "socks".
        /// Example: `mode = "sam"`
        pub mode: I2pMode,
        /// The router's SAM bridge (mode = "sam").
        ///
        /// Type: string, IP:PORT. Default: "127.0.0.1:7656". The flag --i2p-sam
        /// overrides this.
        /// Example: `sam = "127.0.0.1:7656"`
        pub sam: SocketAddr,
        /// The router's SOCKS proxy (mode = "socks"), as monerod's --tx-proxy uses it.
        ///
        /// Type: string, IP:PORT. Default: "127.0.0.1:4447" (i2pd's). The flag
        /// --tx-proxy i2p,IP:PORT overrides this.
        /// Example: `socks = "127.0.0.1:4447"`
        pub socks: SocketAddr,
        /// Whether to accept peers at an I2P destination of our own (mode = "sam"). Its
        /// keys are made by the router the first time and kept in
        /// <data_dir>/identity/i2p-destination.secret, so the .b32.i2p address survives
        /// restarts. Off: outbound only, with a new destination on every start.
        ///
        /// Type: boolean. Default: true.
        /// Example: `inbound = false`
        pub inbound: bool,
        /// monerod's --anonymous-inbound for I2P: a server tunnel set up in the router
        /// (i2pd's tunnels.conf: type = server, host/port = the local address) that
        /// forwards to a local port. Umbra then listens on that local port and tells
        /// peers the tunnel's .b32.i2p address, instead of accepting through SAM. Empty:
        /// not used.
        ///
        /// Type: string, "B32.b32.i2p,IP:PORT" or "B32.b32.i2p,IP:PORT,MAX" (MAX: most
        /// inbound connections; a :PORT after the host is accepted and ignored).
        /// Default: "". The flag --anonymous-inbound overrides this.
        /// Example: `anonymous_inbound = "xyz...xyz.b32.i2p,127.0.0.1:18085,25"`
        pub anonymous_inbound: String,
        /// I2P peers to add to the I2P zone's address book at start; Umbra peers as
        /// KEY@B32.b32.i2p (then dialled with Umbra's encryption inside the I2P
        /// stream). .i2p addresses given to --add-peer land here too. They are kept and
        /// redialled with back-off (as priority nodes): an I2P destination can take a
        /// minute to become reachable.
        ///
        /// Type: list of strings. Default: [].
        /// Example: `add_peers = ["xyz...xyz.b32.i2p"]`
        pub add_peers: Vec<String>,
        /// Outbound I2P connections to keep open.
        ///
        /// Type: integer, 0 or more. Default: 8. --tx-proxy i2p,IP:PORT,MAX sets it.
        /// Example: `out_peers = 4`
        pub out_peers: usize,
        /// Most inbound I2P connections at a time.
        ///
        /// Type: integer, 0 or more. Default: 32. --anonymous-inbound ...,MAX sets it.
        /// Example: `in_peers = 16`
        pub in_peers: usize,
        /// Hops of our inbound I2P tunnels (mode = "sam"): more hide us better and cost
        /// latency.
        ///
        /// Type: integer, 0 to 7. Default: 3 (I2P's default). 0 offers no anonymity.
        /// Example: `inbound_hops = 2`
        pub inbound_hops: u8,
        /// Hops of our outbound I2P tunnels (mode = "sam").
        ///
        /// Type: integer, 0 to 7. Default: 3 (I2P's default). 0 offers no anonymity.
        /// Example: `outbound_hops = 2`
        pub outbound_hops: u8,
    }
}

/// The `[i2p]` section of a config layer. See [`I2pConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct I2pLayer {
    /// See [`I2pConfig::mode`].
    pub mode: Option<I2pMode>,
    /// See [`I2pConfig::sam`].
    pub sam: Option<SocketAddr>,
    /// See [`I2pConfig::socks`].
    pub socks: Option<SocketAddr>,
    /// See [`I2pConfig::inbound`].
    pub inbound: Option<bool>,
    /// See [`I2pConfig::anonymous_inbound`].
    pub anonymous_inbound: Option<String>,
    /// See [`I2pConfig::add_peers`].
    pub add_peers: Option<Vec<String>>,
    /// See [`I2pConfig::out_peers`].
    pub out_peers: Option<usize>,
    /// See [`I2pConfig::in_peers`].
    pub in_peers: Option<usize>,
    /// See [`I2pConfig::inbound_hops`].
    pub inbound_hops: Option<u8>,
    /// See [`I2pConfig::outbound_hops`].
    pub outbound_hops: Option<u8>,
}

impl I2pLayer {
    /// Each setting from `higher` if it has it, else from `self`.
    #[must_use]
    pub fn overlay(self, higher: Self) -> Self {
        Self {
            mode: higher.mode.or(self.mode),
            sam: higher.sam.or(self.sam),
            socks: higher.socks.or(self.socks),
            inbound: higher.inbound.or(self.inbound),
            anonymous_inbound: higher.anonymous_inbound.or(self.anonymous_inbound),
            add_peers: higher.add_peers.or(self.add_peers),
            out_peers: higher.out_peers.or(self.out_peers),
            in_peers: higher.in_peers.or(self.in_peers),
            inbound_hops: higher.inbound_hops.or(self.inbound_hops),
            outbound_hops: higher.outbound_hops.or(self.outbound_hops),
        }
    }

    /// Every missing setting at its default (tunnel hops capped at 7).
    #[must_use]
    pub fn resolve(self) -> I2pConfig {
        let hops = |hops: Option<u8>| hops.unwrap_or(DEFAULT_I2P_HOPS).min(7);
        I2pConfig {
            mode: self.mode.unwrap_or_default(),
            sam: self.sam.unwrap_or(DEFAULT_I2P_SAM),
            socks: self.socks.unwrap_or(DEFAULT_I2P_SOCKS),
            inbound: self.inbound.unwrap_or(true),
            anonymous_inbound: self.anonymous_inbound.unwrap_or_default(),
            add_peers: self.add_peers.unwrap_or_default(),
            out_peers: self.out_peers.unwrap_or(DEFAULT_I2P_OUT_PEERS),
            in_peers: self.in_peers.unwrap_or(DEFAULT_I2P_IN_PEERS),
            inbound_hops: hops(self.inbound_hops),
            outbound_hops: hops(self.outbound_hops),
        }
    }
}

/// The doc table of the `[i2p]` section.
pub const I2P_FIELD_DOCS: &[FieldDoc] = I2pConfig::FIELD_DOCS;

/// How the I2P zone reaches I2P.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum I2pMode {
    /// No I2P zone.
    #[default]
    Off,
    /// The router's SAM bridge, both ways.
    Sam,
    /// The router's SOCKS proxy out, a server tunnel in (monerod's way).
    Socks,
}

impl fmt::Display for I2pMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Sam => "sam",
            Self::Socks => "socks",
        })
    }
}

/// monerod's `--anonymous-inbound B32.b32.i2p[:PORT],IP:PORT[,MAX]`: our destination (a
/// server tunnel of the router), the local address it forwards to, and how many
/// connections at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I2pInbound {
    /// The tunnel's destination, as peers dial it (at port 1: I2P has no ports).
    pub dest: I2pAddr,
    /// Where the router forwards its connections (must be a loopback address).
    pub local: SocketAddr,
    /// Most inbound connections, if given.
    pub max: Option<usize>,
}

impl FromStr for I2pInbound {
    type Err = ProxySpecError;

    fn from_str(s: &str) -> Result<Self, ProxySpecError> {
        let fail = |reason: String| ProxySpecError {
            flag: "--anonymous-inbound",
            input: s.to_owned(),
            reason,
        };
        let expected = || fail("expected B32.b32.i2p,IP:PORT[,MAX]".to_owned());
        let mut parts = s.split(',');
        let dest = parts
            .next()
            .unwrap_or_default()
            .parse::<I2pAddr>()
            .map_err(|e| fail(e.to_string()))?
            .normalized();
        let local = parts
            .next()
            .ok_or_else(expected)?
            .parse::<SocketAddr>()
            .map_err(|e| fail(format!("the local address: {e}")))?;
        if !local.ip().is_loopback() {
            return Err(fail(
                "the local address must be a loopback address (only the I2P router may reach it)"
                    .to_owned(),
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
            return Err(expected());
        }
        Ok(Self { dest, local, max })
    }
}

impl fmt::Display for I2pInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.dest.host(), self.local)?;
        if let Some(max) = self.max {
            write!(f, ",{max}")?;
        }
        Ok(())
    }
}

/// monerod's `--anonymous-inbound`, for whichever network its address names: an onion
/// service or an I2P destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundArg {
    /// `ONION:PORT,IP:PORT[,MAX]`.
    Tor(AnonymousInbound),
    /// `B32.b32.i2p[:PORT],IP:PORT[,MAX]`.
    I2p(I2pInbound),
}

impl FromStr for InboundArg {
    type Err = ProxySpecError;

    fn from_str(s: &str) -> Result<Self, ProxySpecError> {
        let address = s.split(',').next().unwrap_or_default();
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .to_ascii_lowercase();
        if host.ends_with(".i2p") {
            s.parse().map(Self::I2p)
        } else if host.ends_with(".onion") {
            s.parse().map(Self::Tor)
        } else {
            Err(ProxySpecError {
                flag: "--anonymous-inbound",
                input: s.to_owned(),
                reason: "expected ONION:PORT,IP:PORT[,MAX] or B32.b32.i2p,IP:PORT[,MAX]".to_owned(),
            })
        }
    }
}

/// An I2P peer from the config: `[KEY@]B32.b32.i2p[:PORT]` (the port is ignored: I2P has
/// none).
///
/// # Errors
/// The reason, naming the text.
pub fn parse_i2p_peer(text: &str) -> Result<ZonePeer<I2pEndpoint>, String> {
    let mut peer = text
        .parse::<ZonePeer<I2pEndpoint>>()
        .map_err(|error| format!("invalid I2P peer {text:?}: {error}"))?;
    if let I2pEndpoint::Dest(dest) = peer.addr {
        peer.addr = I2pEndpoint::Dest(dest.normalized());
    }
    Ok(peer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const B32: &str = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    #[test]
    fn monerod_spellings_parse() {
        let inbound: I2pInbound = format!("{B32},127.0.0.1:18085,25").parse().unwrap();
        assert_eq!(inbound.dest.port(), 1);
        assert_eq!(inbound.local.port(), 18085);
        assert_eq!(inbound.max, Some(25));
        assert_eq!(inbound.to_string(), format!("{B32},127.0.0.1:18085,25"));
        // monerod 0.18.0.0's docs give the host a port; it means nothing on I2P.
        let with_port: I2pInbound = format!("{B32}:18085,127.0.0.1:18085").parse().unwrap();
        assert_eq!(with_port.dest, inbound.dest);
        match format!("{B32},127.0.0.1:1").parse::<InboundArg>().unwrap() {
            InboundArg::I2p(i2p) => assert_eq!(i2p.max, None),
            other => panic!("{other:?}"),
        }
        let onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
        assert!(matches!(
            format!("{onion}:18083,127.0.0.1:1").parse::<InboundArg>(),
            Ok(InboundArg::Tor(_))
        ));
        let peer = parse_i2p_peer(&format!("{B32}:18085")).unwrap();
        assert_eq!(peer.addr.dest().map(I2pAddr::port), Some(1));
        assert_eq!(peer.key(), None);
    }

    #[test]
    fn bad_spellings_say_why() {
        for (input, reason) in [
            (format!("{B32},10.0.0.1:1"), "loopback"),
            (B32.to_owned(), "expected"),
            ("x.b32.i2p,127.0.0.1:1".to_owned(), "52 base32"),
            (format!("{B32},127.0.0.1:1,many"), "not a number"),
            (format!("{B32},127.0.0.1:1,2,3"), "expected"),
        ] {
            let error = input.parse::<I2pInbound>().unwrap_err();
            assert!(error.to_string().contains(reason), "{input}: {error}");
        }
        let error = "1.2.3.4:5,127.0.0.1:1".parse::<InboundArg>().unwrap_err();
        assert!(error.to_string().contains("b32.i2p"), "{error}");
        assert!(parse_i2p_peer("1.2.3.4:18080").is_err());
        assert!(parse_i2p_peer("example.i2p").is_err());
    }
}
