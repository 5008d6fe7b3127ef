//! SOCKS5 client (RFC 1928, with RFC 1929 username/password for Tor's stream isolation).
//!
//! # Where this sits
//!
//! ```text
//! SystemTor::dial ─► Socks5Proxy::connect ─► TCP to the proxy ─► connect() handshake ─► stream
//!                                                                  └─ Handshake (sans-IO)
//! ```
//!
//! Three layers, each usable alone:
//!
//! - the sans-IO core: [`Handshake`] (a client state machine: what to send, how many bytes
//!   to read, what the replies mean) over the plain encoders and parsers
//!   ([`encode_connect`], [`parse_connect_reply`], ...). Replies are bounded: the longest
//!   one is [`MAX_REPLY_LEN`] bytes, and the parsers never ask for more;
//! - [`connect`]: the handshake over any `AsyncRead + AsyncWrite` (no timeout of its own);
//! - [`Socks5Proxy`]: opens the TCP connection to a proxy and runs the handshake, each step
//!   under its own timeout.
//!
//! Host names go to the proxy as names (address type 3) and are never resolved here, so
//! asking for `<...>.onion` or any other name leaks nothing to the local resolver. The
//! handshake never reads past the proxy's last reply: bytes the target sends right after
//! the connection opens stay in the stream.
//!
//! Errors are [`SocksError`]s naming the proxy and the target, with every RFC 1928 reply
//! code and Tor's extended onion service codes spelled out ([`ReplyCode`]); they convert to
//! [`io::Error`] with a fitting [`io::ErrorKind`].
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use umbra_transport::socks::{Credentials, Socks5Proxy, TargetAddr};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = Socks5Proxy::new("127.0.0.1:9050".parse()?);
//! let target = TargetAddr::domain("example.onion", 80)?;
//! // Tor (IsolateSOCKSAuth) puts streams with different credentials on different circuits.
//! let credentials = Credentials::new(b"peer-1".to_vec(), b"x".to_vec())?;
//! let stream = proxy.connect(&target, Some(&credentials)).await?;
//! # drop(stream);
//! # Ok(())
//! # }
//! ```

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

#[cfg(feature = "tor")]
use crate::tor::OnionAddr;

/// The SOCKS protocol version this client speaks.
pub const VERSION: u8 = 5;
/// The longest reply a SOCKS5 server can send: `VER REP RSV ATYP`, a length byte, a
/// 255-byte domain name and a port.
pub const MAX_REPLY_LEN: usize = 4 + 1 + 255 + 2;

/// Authentication method "no authentication required".
pub const METHOD_NO_AUTH: u8 = 0x00;
/// Authentication method "username/password" (RFC 1929).
pub const METHOD_USERNAME_PASSWORD: u8 = 0x02;
/// The server's answer when it accepts none of the offered methods.
pub const METHOD_NONE_ACCEPTABLE: u8 = 0xFF;
/// The version byte of the RFC 1929 sub-negotiation.
pub const AUTH_VERSION: u8 = 0x01;

const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// Where the proxy should connect to: an IP socket address, or a host name and port that
/// the proxy resolves (or, for `.onion`, looks up on the Tor network).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetAddr {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A host name (1 to 255 bytes) and port, sent to the proxy as it is.
    Domain(String, u16),
}

impl TargetAddr {
    /// A host name and port.
    ///
    /// # Errors
    /// [`TargetError`] if `host` is empty or longer than 255 bytes (the most a SOCKS5
    /// request carries).
    pub fn domain(host: impl Into<String>, port: u16) -> Result<Self, TargetError> {
        let host = host.into();
        if host.is_empty() || host.len() > 255 {
            return Err(TargetError {
                host: host.chars().take(80).collect(),
                len: host.len(),
            });
        }
        Ok(Self::Domain(host, port))
    }

    /// The port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        match self {
            Self::Ip(addr) => addr.port(),
            Self::Domain(_, port) => *port,
        }
    }
}

impl From<SocketAddr> for TargetAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Ip(addr)
    }
}

#[cfg(feature = "tor")]
impl From<&OnionAddr> for TargetAddr {
    /// `<56 base32>.onion` (62 bytes, always a valid SOCKS host name) and the port.
    fn from(addr: &OnionAddr) -> Self {
        Self::Domain(addr.host(), addr.port())
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => addr.fmt(f),
            Self::Domain(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// A host name a SOCKS5 request cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the host name {host:?} ({len} bytes) cannot go in a SOCKS5 request: it must be 1 to 255 bytes"
)]
pub struct TargetError {
    /// The host name, cut to 80 characters.
    pub host: String,
    /// Its length in bytes.
    pub len: usize,
}

/// RFC 1929 username and password (1 to 255 bytes each).
///
/// Tor does not check them; with `IsolateSOCKSAuth` (on by default) it never puts streams
/// with different credentials on the same circuit, which is how [`SystemTor`] keeps peers
/// apart. `Debug` does not show the password.
///
/// [`SystemTor`]: crate::tor::system::SystemTor
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: Vec<u8>,
    password: Vec<u8>,
}

impl Credentials {
    /// Username and password.
    ///
    /// # Errors
    /// [`CredentialsError`] if either is empty or longer than 255 bytes.
    pub fn new(username: Vec<u8>, password: Vec<u8>) -> Result<Self, CredentialsError> {
        for (field, value) in [("username", &username), ("password", &password)] {
            if value.is_empty() || value.len() > 255 {
                return Err(CredentialsError {
                    field,
                    len: value.len(),
                });
            }
        }
        Ok(Self { username, password })
    }

    /// The username.
    #[must_use]
    pub fn username(&self) -> &[u8] {
        &self.username
    }

    /// The password.
    #[must_use]
    pub fn password(&self) -> &[u8] {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Credentials RFC 1929 cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SOCKS5 {field} must be 1 to 255 bytes, not {len}")]
pub struct CredentialsError {
    /// `"username"` or `"password"`.
    pub field: &'static str,
    /// Its length in bytes.
    pub len: usize,
}

/// The reply code of a CONNECT reply: RFC 1928's, and Tor's extended codes for onion
/// services (sent by tor on a `SocksPort` with the `ExtendedErrors` flag, and by arti).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyCode {
    /// 0x00: succeeded.
    Succeeded,
    /// 0x01: general SOCKS server failure.
    GeneralFailure,
    /// 0x02: connection not allowed by ruleset (for tor: the exit policy).
    NotAllowed,
    /// 0x03: network unreachable.
    NetworkUnreachable,
    /// 0x04: host unreachable.
    HostUnreachable,
    /// 0x05: connection refused (by the target).
    ConnectionRefused,
    /// 0x06: TTL expired (tor sends it when its `SocksTimeout` passes).
    TtlExpired,
    /// 0x07: command not supported.
    CommandNotSupported,
    /// 0x08: address type not supported.
    AddressTypeNotSupported,
    /// 0xF0 (Tor): the onion service descriptor cannot be found.
    OnionDescriptorNotFound,
    /// 0xF1 (Tor): the onion service descriptor is invalid.
    OnionDescriptorInvalid,
    /// 0xF2 (Tor): the onion service introduction failed.
    OnionIntroductionFailed,
    /// 0xF3 (Tor): the onion service rendezvous failed.
    OnionRendezvousFailed,
    /// 0xF4 (Tor): the onion service needs client authorisation, and none was given.
    OnionMissingClientAuth,
    /// 0xF5 (Tor): the onion service refused the client authorisation given.
    OnionWrongClientAuth,
    /// 0xF6 (Tor): the onion address is invalid.
    OnionBadAddress,
    /// 0xF7 (Tor): the onion service introduction timed out.
    OnionIntroductionTimedOut,
    /// Any other code.
    Other(u8),
}

impl ReplyCode {
    /// The code for a byte.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Self {
        match byte {
            0x00 => Self::Succeeded,
            0x01 => Self::GeneralFailure,
            0x02 => Self::NotAllowed,
            0x03 => Self::NetworkUnreachable,
            0x04 => Self::HostUnreachable,
            0x05 => Self::ConnectionRefused,
            0x06 => Self::TtlExpired,
            0x07 => Self::CommandNotSupported,
            0x08 => Self::AddressTypeNotSupported,
            0xF0 => Self::OnionDescriptorNotFound,
            0xF1 => Self::OnionDescriptorInvalid,
            0xF2 => Self::OnionIntroductionFailed,
            0xF3 => Self::OnionRendezvousFailed,
            0xF4 => Self::OnionMissingClientAuth,
            0xF5 => Self::OnionWrongClientAuth,
            0xF6 => Self::OnionBadAddress,
            0xF7 => Self::OnionIntroductionTimedOut,
            other => Self::Other(other),
        }
    }

    /// The byte on the wire.
    #[must_use]
    pub const fn to_byte(self) -> u8 {
        match self {
            Self::Succeeded => 0x00,
            Self::GeneralFailure => 0x01,
            Self::NotAllowed => 0x02,
            Self::NetworkUnreachable => 0x03,
            Self::HostUnreachable => 0x04,
            Self::ConnectionRefused => 0x05,
            Self::TtlExpired => 0x06,
            Self::CommandNotSupported => 0x07,
            Self::AddressTypeNotSupported => 0x08,
            Self::OnionDescriptorNotFound => 0xF0,
            Self::OnionDescriptorInvalid => 0xF1,
            Self::OnionIntroductionFailed => 0xF2,
            Self::OnionRendezvousFailed => 0xF3,
            Self::OnionMissingClientAuth => 0xF4,
            Self::OnionWrongClientAuth => 0xF5,
            Self::OnionBadAddress => 0xF6,
            Self::OnionIntroductionTimedOut => 0xF7,
            Self::Other(byte) => byte,
        }
    }

    /// What the code means, in words.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::GeneralFailure => "general SOCKS server failure",
            Self::NotAllowed => "connection not allowed by the proxy's rules (exit policy)",
            Self::NetworkUnreachable => "network unreachable",
            Self::HostUnreachable => "host unreachable",
            Self::ConnectionRefused => "connection refused by the target",
            Self::TtlExpired => "TTL expired (the proxy gave up waiting)",
            Self::CommandNotSupported => "command not supported",
            Self::AddressTypeNotSupported => "address type not supported",
            Self::OnionDescriptorNotFound => "onion service descriptor not found",
            Self::OnionDescriptorInvalid => "onion service descriptor is invalid",
            Self::OnionIntroductionFailed => "onion service introduction failed",
            Self::OnionRendezvousFailed => "onion service rendezvous failed",
            Self::OnionMissingClientAuth => "onion service needs client authorisation",
            Self::OnionWrongClientAuth => "onion service refused the client authorisation",
            Self::OnionBadAddress => "invalid onion address",
            Self::OnionIntroductionTimedOut => "onion service introduction timed out",
            Self::Other(_) => "unknown reply code",
        }
    }

    /// The [`io::ErrorKind`] a caller sees for this code.
    #[must_use]
    pub const fn io_kind(self) -> io::ErrorKind {
        match self {
            Self::Succeeded | Self::GeneralFailure | Self::Other(_) => io::ErrorKind::Other,
            Self::NotAllowed | Self::OnionMissingClientAuth | Self::OnionWrongClientAuth => {
                io::ErrorKind::PermissionDenied
            }
            Self::NetworkUnreachable => io::ErrorKind::NetworkUnreachable,
            Self::HostUnreachable
            | Self::OnionDescriptorInvalid
            | Self::OnionIntroductionFailed
            | Self::OnionRendezvousFailed => io::ErrorKind::HostUnreachable,
            Self::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            Self::TtlExpired | Self::OnionIntroductionTimedOut => io::ErrorKind::TimedOut,
            Self::CommandNotSupported | Self::AddressTypeNotSupported => io::ErrorKind::Unsupported,
            Self::OnionDescriptorNotFound => io::ErrorKind::NotFound,
            Self::OnionBadAddress => io::ErrorKind::InvalidInput,
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), self.to_byte())
    }
}

/// The address a proxy reports in its CONNECT reply (`BND.ADDR`, `BND.PORT`). Tor always
/// reports `0.0.0.0:0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BoundAddr {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A host name (raw bytes, as the proxy sent them) and port.
    Domain(Vec<u8>, u16),
}

impl fmt::Display for BoundAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => addr.fmt(f),
            Self::Domain(host, port) => write!(f, "{}:{port}", String::from_utf8_lossy(host)),
        }
    }
}

/// A parsed CONNECT reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectReply {
    /// The reply code.
    pub code: ReplyCode,
    /// The bound address.
    pub bound: BoundAddr,
}

impl ConnectReply {
    /// The reply's bytes, as a server sends them (`RSV` is 0).
    ///
    /// A domain longer than 255 bytes is cut to 255 (it cannot be sent).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION, self.code.to_byte(), 0];
        encode_addr(&mut out, &self.bound);
        out
    }
}

fn encode_addr(out: &mut Vec<u8>, addr: &BoundAddr) {
    match addr {
        BoundAddr::Ip(SocketAddr::V4(v4)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&v4.ip().octets());
            out.extend_from_slice(&v4.port().to_be_bytes());
        }
        BoundAddr::Ip(SocketAddr::V6(v6)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&v6.ip().octets());
            out.extend_from_slice(&v6.port().to_be_bytes());
        }
        BoundAddr::Domain(host, port) => {
            let host = host.get(..255).unwrap_or(host);
            out.push(ATYP_DOMAIN);
            out.push(u8::try_from(host.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(host);
            out.extend_from_slice(&port.to_be_bytes());
        }
    }
}

/// What a parser made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The reply is not complete: it is at least `needed` bytes long in all (more than were
    /// given, never more than [`MAX_REPLY_LEN`]). Reading `needed - given` more bytes never
    /// reads past the reply.
    Incomplete {
        /// The least total length the reply can have, given what came so far.
        needed: usize,
    },
    /// The reply is complete: `value`, taken from the first `len` bytes.
    Complete {
        /// The parsed reply.
        value: T,
        /// How many bytes it took.
        len: usize,
    },
}

/// Bytes that are not the SOCKS5 reply the client waits for (garbage, another protocol, a
/// SOCKS4 server...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The first byte is not the protocol version the reply must start with.
    #[error(
        "the reply starts with version byte 0x{got:02X}, not 0x{expected:02X} (not a SOCKS5 proxy?)"
    )]
    Version {
        /// The version the reply must have.
        expected: u8,
        /// The byte that came.
        got: u8,
    },
    /// The reserved byte of a CONNECT reply is not zero.
    #[error("the reserved byte of the CONNECT reply is 0x{0:02X}, not 0")]
    Reserved(u8),
    /// The CONNECT reply has an address type that does not exist.
    #[error("the CONNECT reply has unknown address type 0x{0:02X}")]
    AddressType(u8),
}

/// The client's greeting: version, and the methods it offers.
#[must_use]
pub fn encode_greeting(credentials: Option<&Credentials>) -> Vec<u8> {
    // With credentials, offer only username/password: a proxy that picked "no
    // authentication" would silently drop the stream isolation they stand for.
    let method = if credentials.is_some() {
        METHOD_USERNAME_PASSWORD
    } else {
        METHOD_NO_AUTH
    };
    vec![VERSION, 1, method]
}

/// Parses the server's method selection (`VER METHOD`) into the chosen method.
///
/// # Errors
/// [`ReplyError::Version`] if it does not start with version 5.
pub fn parse_method_selection(buf: &[u8]) -> Result<Parsed<u8>, ReplyError> {
    parse_two(buf, VERSION)
}

/// The RFC 1929 username/password request.
#[must_use]
pub fn encode_auth(credentials: &Credentials) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + credentials.username.len() + credentials.password.len());
    out.push(AUTH_VERSION);
    // `Credentials::new` keeps both at most 255 bytes.
    out.push(u8::try_from(credentials.username.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&credentials.username);
    out.push(u8::try_from(credentials.password.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&credentials.password);
    out
}

/// Parses the RFC 1929 reply (`VER STATUS`) into the status (0 is success).
///
/// # Errors
/// [`ReplyError::Version`] if it does not start with version 1.
pub fn parse_auth_reply(buf: &[u8]) -> Result<Parsed<u8>, ReplyError> {
    parse_two(buf, AUTH_VERSION)
}

fn parse_two(buf: &[u8], version: u8) -> Result<Parsed<u8>, ReplyError> {
    match *buf {
        [] => Ok(Parsed::Incomplete { needed: 2 }),
        [got, ..] if got != version => Err(ReplyError::Version {
            expected: version,
            got,
        }),
        [_] => Ok(Parsed::Incomplete { needed: 2 }),
        [_, value, ..] => Ok(Parsed::Complete { value, len: 2 }),
    }
}

/// The CONNECT request for `target`.
#[must_use]
pub fn encode_connect(target: &TargetAddr) -> Vec<u8> {
    let mut out = vec![VERSION, CMD_CONNECT, 0];
    let bound = match target {
        TargetAddr::Ip(addr) => BoundAddr::Ip(*addr),
        TargetAddr::Domain(host, port) => BoundAddr::Domain(host.as_bytes().to_vec(), *port),
    };
    encode_addr(&mut out, &bound);
    out
}

/// Parses a CONNECT reply.
///
/// An error code is a complete reply like any other: the caller decides what it means.
///
/// # Errors
/// [`ReplyError`] if the bytes are not a SOCKS5 reply.
pub fn parse_connect_reply(buf: &[u8]) -> Result<Parsed<ConnectReply>, ReplyError> {
    // The shortest reply (a domain of length 0) is 7 bytes: asking for 5 never reads past.
    let Some(&[version, code, reserved, atyp]) = buf.first_chunk::<4>() else {
        if let Some(&got) = buf.first()
            && got != VERSION
        {
            return Err(ReplyError::Version {
                expected: VERSION,
                got,
            });
        }
        return Ok(Parsed::Incomplete { needed: 5 });
    };
    if version != VERSION {
        return Err(ReplyError::Version {
            expected: VERSION,
            got: version,
        });
    }
    if reserved != 0 {
        return Err(ReplyError::Reserved(reserved));
    }
    let rest = buf.get(4..).unwrap_or_default();
    let code = ReplyCode::from_byte(code);
    let port = |at: usize| {
        rest.get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_be_bytes)
    };
    match atyp {
        ATYP_IPV4 => match (rest.first_chunk::<4>(), port(4)) {
            (Some(ip), Some(port)) => Ok(Parsed::Complete {
                value: ConnectReply {
                    code,
                    bound: BoundAddr::Ip(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*ip)), port)),
                },
                len: 10,
            }),
            _ => Ok(Parsed::Incomplete { needed: 10 }),
        },
        ATYP_IPV6 => match (rest.first_chunk::<16>(), port(16)) {
            (Some(ip), Some(port)) => Ok(Parsed::Complete {
                value: ConnectReply {
                    code,
                    bound: BoundAddr::Ip(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*ip)), port)),
                },
                len: 22,
            }),
            _ => Ok(Parsed::Incomplete { needed: 22 }),
        },
        ATYP_DOMAIN => {
            let Some(&host_len) = rest.first() else {
                return Ok(Parsed::Incomplete { needed: 5 });
            };
            let host_len = usize::from(host_len);
            let len = 4 + 1 + host_len + 2;
            match (rest.get(1..1 + host_len), port(1 + host_len)) {
                (Some(host), Some(port)) => Ok(Parsed::Complete {
                    value: ConnectReply {
                        code,
                        bound: BoundAddr::Domain(host.to_vec(), port),
                    },
                    len,
                }),
                _ => Ok(Parsed::Incomplete { needed: len }),
            }
        }
        other => Err(ReplyError::AddressType(other)),
    }
}

/// Which part of the handshake a client is in (for errors: "closed before the X reply").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Waiting for the method selection.
    MethodSelection,
    /// Waiting for the username/password reply.
    Authentication,
    /// Waiting for the CONNECT reply.
    Connect,
    /// Done (connected, or failed).
    Done,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MethodSelection => "method selection",
            Self::Authentication => "username/password",
            Self::Connect => "CONNECT",
            Self::Done => "final",
        })
    }
}

/// Why a SOCKS5 handshake failed, short of I/O (see [`SocksErrorKind`] for all reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The proxy sent bytes that are not the reply expected.
    #[error("the proxy's {stage} reply is not SOCKS5: {error}")]
    BadReply {
        /// Which reply.
        stage: Stage,
        /// What is wrong with it.
        error: ReplyError,
    },
    /// The proxy accepts none of the offered authentication methods.
    #[error("the proxy accepts none of the offered authentication methods ({offered})")]
    NoAcceptableMethod {
        /// What was offered.
        offered: &'static str,
    },
    /// The proxy chose a method that was not offered.
    #[error(
        "the proxy chose authentication method 0x{chosen:02X}, which was not offered ({offered})"
    )]
    UnexpectedMethod {
        /// What the proxy chose.
        chosen: u8,
        /// What was offered.
        offered: &'static str,
    },
    /// The proxy refused the username and password.
    #[error("the proxy refused the username/password (status 0x{0:02X})")]
    AuthRejected(u8),
    /// The CONNECT reply carries an error code.
    #[error("the proxy could not connect: {0}")]
    Refused(ReplyCode),
    /// Input came after the handshake ended (a caller bug in driving [`Handshake`]).
    #[error("the handshake is over, or waits for a request to be sent first")]
    NotExpectingInput,
}

impl HandshakeError {
    /// The [`io::ErrorKind`] a caller sees.
    #[must_use]
    pub const fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::BadReply { .. } | Self::UnexpectedMethod { .. } => io::ErrorKind::InvalidData,
            Self::NoAcceptableMethod { .. } | Self::AuthRejected(_) => {
                io::ErrorKind::PermissionDenied
            }
            Self::Refused(code) => code.io_kind(),
            Self::NotExpectingInput => io::ErrorKind::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SendGreeting,
    AwaitMethod,
    SendAuth,
    AwaitAuth,
    SendConnect,
    AwaitConnect,
    Done,
    Failed,
}

/// The sans-IO SOCKS5 client handshake: greeting, optional username/password, CONNECT.
///
/// Drive it with:
/// 1. [`Handshake::poll_transmit`]: bytes to send, if any (send them all);
/// 2. [`Handshake::wanted`]: how many bytes to read next, at most (reading no more than
///    that never reads past the proxy's reply);
/// 3. [`Handshake::handle_input`]: the bytes read; it returns how many it consumed.
///
/// until [`Handshake::outcome`] is `Some`. It buffers at most [`MAX_REPLY_LEN`] bytes.
#[derive(Debug, Clone)]
pub struct Handshake {
    step: Step,
    credentials: Option<Credentials>,
    request: Vec<u8>,
    buf: Vec<u8>,
    outcome: Option<Result<BoundAddr, HandshakeError>>,
}

impl Handshake {
    /// A handshake to CONNECT to `target`, authenticating with `credentials` if given.
    #[must_use]
    pub fn new(target: &TargetAddr, credentials: Option<Credentials>) -> Self {
        Self {
            step: Step::SendGreeting,
            credentials,
            request: encode_connect(target),
            buf: Vec::with_capacity(MAX_REPLY_LEN),
            outcome: None,
        }
    }

    fn offered(&self) -> &'static str {
        if self.credentials.is_some() {
            "username/password"
        } else {
            "no authentication"
        }
    }

    /// Bytes to send to the proxy now, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self.step {
            Step::SendGreeting => {
                self.step = Step::AwaitMethod;
                Some(encode_greeting(self.credentials.as_ref()))
            }
            Step::SendAuth => {
                self.step = Step::AwaitAuth;
                self.credentials.as_ref().map(encode_auth)
            }
            Step::SendConnect => {
                self.step = Step::AwaitConnect;
                Some(std::mem::take(&mut self.request))
            }
            _ => None,
        }
    }

    /// The stage the handshake is in.
    #[must_use]
    pub const fn stage(&self) -> Stage {
        match self.step {
            Step::SendGreeting | Step::AwaitMethod => Stage::MethodSelection,
            Step::SendAuth | Step::AwaitAuth => Stage::Authentication,
            Step::SendConnect | Step::AwaitConnect => Stage::Connect,
            Step::Done | Step::Failed => Stage::Done,
        }
    }

    /// How many bytes to read next, at most (0 when a request must be sent first or the
    /// handshake is over).
    #[must_use]
    pub fn wanted(&self) -> usize {
        let parsed = match self.step {
            Step::AwaitMethod => parse_method_selection(&self.buf).map(|p| needed(&p)),
            Step::AwaitAuth => parse_auth_reply(&self.buf).map(|p| needed(&p)),
            Step::AwaitConnect => parse_connect_reply(&self.buf).map(|p| needed(&p)),
            _ => return 0,
        };
        parsed.unwrap_or(0).saturating_sub(self.buf.len())
    }

    /// Bytes currently buffered (a reply in part); never more than [`MAX_REPLY_LEN`].
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes read from the proxy; returns how many were consumed (the rest belong to
    /// a later step or, after the CONNECT reply, to the connection itself).
    ///
    /// # Errors
    /// [`HandshakeError`] when the proxy refused or sent garbage; the handshake is then over
    /// and [`Handshake::outcome`] holds the same error.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<usize, HandshakeError> {
        let mut consumed = 0;
        loop {
            if !matches!(
                self.step,
                Step::AwaitMethod | Step::AwaitAuth | Step::AwaitConnect
            ) {
                return if consumed == 0 && !data.is_empty() {
                    Err(HandshakeError::NotExpectingInput)
                } else {
                    Ok(consumed)
                };
            }
            let want = self.wanted();
            let rest = data.get(consumed..).unwrap_or_default();
            if rest.is_empty() || want == 0 {
                return Ok(consumed);
            }
            let take = want.min(rest.len());
            self.buf
                .extend_from_slice(rest.get(..take).unwrap_or_default());
            consumed += take;
            if let Err(error) = self.advance() {
                self.step = Step::Failed;
                self.buf.clear();
                self.outcome = Some(Err(error.clone()));
                return Err(error);
            }
            if matches!(self.step, Step::SendAuth | Step::SendConnect | Step::Done) {
                return Ok(consumed);
            }
        }
    }

    /// Parses what is buffered; moves to the next step when a reply is complete.
    fn advance(&mut self) -> Result<(), HandshakeError> {
        let stage = self.stage();
        let bad = |error| HandshakeError::BadReply { stage, error };
        match self.step {
            Step::AwaitMethod => {
                if let Parsed::Complete { value, .. } =
                    parse_method_selection(&self.buf).map_err(bad)?
                {
                    self.buf.clear();
                    let offered = self.offered();
                    self.step = match (value, self.credentials.is_some()) {
                        (METHOD_NO_AUTH, false) => Step::SendConnect,
                        (METHOD_USERNAME_PASSWORD, true) => Step::SendAuth,
                        (METHOD_NONE_ACCEPTABLE, _) => {
                            return Err(HandshakeError::NoAcceptableMethod { offered });
                        }
                        (chosen, _) => {
                            return Err(HandshakeError::UnexpectedMethod { chosen, offered });
                        }
                    };
                }
            }
            Step::AwaitAuth => {
                if let Parsed::Complete { value, .. } = parse_auth_reply(&self.buf).map_err(bad)? {
                    self.buf.clear();
                    if value != 0 {
                        return Err(HandshakeError::AuthRejected(value));
                    }
                    self.step = Step::SendConnect;
                }
            }
            Step::AwaitConnect => {
                if let Parsed::Complete { value, .. } =
                    parse_connect_reply(&self.buf).map_err(bad)?
                {
                    self.buf.clear();
                    if value.code != ReplyCode::Succeeded {
                        return Err(HandshakeError::Refused(value.code));
                    }
                    self.step = Step::Done;
                    self.outcome = Some(Ok(value.bound));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `Some` once the handshake is over: the address the proxy bound, or why it failed.
    #[must_use]
    pub const fn outcome(&self) -> Option<&Result<BoundAddr, HandshakeError>> {
        self.outcome.as_ref()
    }
}

fn needed<T>(parsed: &Parsed<T>) -> usize {
    match parsed {
        Parsed::Incomplete { needed } => *needed,
        Parsed::Complete { len, .. } => *len,
    }
}

/// Why a SOCKS5 connection failed.
#[derive(Debug, thiserror::Error)]
pub enum SocksErrorKind {
    /// The TCP connection to the proxy failed.
    #[error("could not reach the proxy: {0}")]
    ProxyUnreachable(#[source] io::Error),
    /// The TCP connection to the proxy took too long.
    #[error("the TCP connection to the proxy took over {0:?}")]
    ProxyConnectTimeout(Duration),
    /// The handshake (which, through Tor, includes building the circuit and reaching the
    /// target) took too long.
    #[error("the proxy did not finish the {stage} step within {timeout:?}")]
    HandshakeTimeout {
        /// The step it was in.
        stage: Stage,
        /// The timeout.
        timeout: Duration,
    },
    /// Reading from or writing to the proxy failed.
    #[error("I/O error during the {stage} step: {error}")]
    Io {
        /// The step it was in.
        stage: Stage,
        /// The error.
        #[source]
        error: io::Error,
    },
    /// The proxy closed the connection before its reply was complete.
    #[error(
        "the proxy closed the connection during its {stage} reply ({received} bytes of it received)"
    )]
    Closed {
        /// The reply it was sending.
        stage: Stage,
        /// How many bytes of it came.
        received: usize,
    },
    /// The proxy refused or answered garbage.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// A failed SOCKS5 connection: which proxy, to which target, and why.
#[derive(Debug, thiserror::Error)]
#[error("SOCKS5{} to {target}: {kind}", match .proxy { Some(proxy) => format!(" proxy {proxy}"), None => String::new() })]
pub struct SocksError {
    /// The proxy (`None` when the handshake ran over a stream given by the caller).
    pub proxy: Option<SocketAddr>,
    /// The target asked for.
    pub target: TargetAddr,
    /// What went wrong.
    #[source]
    pub kind: SocksErrorKind,
}

impl SocksError {
    /// The [`io::ErrorKind`] this error converts to.
    #[must_use]
    pub fn io_kind(&self) -> io::ErrorKind {
        match &self.kind {
            SocksErrorKind::ProxyUnreachable(error) => error.kind(),
            SocksErrorKind::ProxyConnectTimeout(_) | SocksErrorKind::HandshakeTimeout { .. } => {
                io::ErrorKind::TimedOut
            }
            SocksErrorKind::Io { error, .. } => error.kind(),
            SocksErrorKind::Closed { .. } => io::ErrorKind::UnexpectedEof,
            SocksErrorKind::Handshake(error) => error.io_kind(),
        }
    }

    /// The reply code, if the proxy answered CONNECT with an error.
    #[must_use]
    pub const fn reply_code(&self) -> Option<ReplyCode> {
        match &self.kind {
            SocksErrorKind::Handshake(HandshakeError::Refused(code)) => Some(*code),
            _ => None,
        }
    }
}

impl From<SocksError> for io::Error {
    fn from(error: SocksError) -> Self {
        Self::new(error.io_kind(), error)
    }
}

/// Runs the SOCKS5 handshake over `stream` (already connected to the proxy): CONNECT to
/// `target`, authenticating with `credentials` if given. Returns the address the proxy
/// reports; `stream` is then connected to the target.
///
/// Has no timeout of its own (wrap it in one, or use [`Socks5Proxy`]); reads never go past
/// the proxy's last reply.
///
/// # Errors
/// [`SocksError`] (with no proxy address) for I/O errors, early close, garbage and refusal.
pub async fn connect<S>(
    stream: &mut S,
    target: &TargetAddr,
    credentials: Option<&Credentials>,
) -> Result<BoundAddr, SocksError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut handshake = Handshake::new(target, credentials.cloned());
    run(stream, &mut handshake)
        .await
        .map_err(|kind| SocksError {
            proxy: None,
            target: target.clone(),
            kind,
        })
}

async fn run<S>(stream: &mut S, handshake: &mut Handshake) -> Result<BoundAddr, SocksErrorKind>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut buf = [0u8; MAX_REPLY_LEN];
    // Each round sends one request and reads one reply: at most three rounds.
    for _ in 0..4 {
        if let Some(outcome) = handshake.outcome() {
            return outcome.clone().map_err(SocksErrorKind::Handshake);
        }
        let stage = handshake.stage();
        if let Some(bytes) = handshake.poll_transmit() {
            stream
                .write_all(&bytes)
                .await
                .map_err(|error| SocksErrorKind::Io { stage, error })?;
            stream
                .flush()
                .await
                .map_err(|error| SocksErrorKind::Io { stage, error })?;
        }
        // One reply: at most MAX_REPLY_LEN bytes, so at most that many reads.
        let stage = handshake.stage();
        for _ in 0..MAX_REPLY_LEN {
            let wanted = handshake.wanted();
            if wanted == 0 {
                break;
            }
            let chunk = buf.get_mut(..wanted).unwrap_or_default();
            let n = stream
                .read(chunk)
                .await
                .map_err(|error| SocksErrorKind::Io { stage, error })?;
            if n == 0 {
                return Err(SocksErrorKind::Closed {
                    stage,
                    received: handshake.buffered(),
                });
            }
            handshake.handle_input(chunk.get(..n).unwrap_or_default())?;
        }
    }
    match handshake.outcome() {
        Some(outcome) => outcome.clone().map_err(SocksErrorKind::Handshake),
        None => Err(HandshakeError::NotExpectingInput.into()),
    }
}

/// A SOCKS5 proxy reached over TCP (a tor `SocksPort`, i2pd's SOCKS proxy, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socks5Proxy {
    /// The proxy's address, e.g. `127.0.0.1:9050` for a system tor.
    pub addr: SocketAddr,
    /// How long the TCP connection to the proxy may take.
    pub connect_timeout: Duration,
    /// How long the SOCKS5 handshake may take once connected. Through Tor this includes
    /// building a circuit and reaching the target (tens of seconds for an onion service on
    /// the real network).
    pub handshake_timeout: Duration,
}

impl Socks5Proxy {
    /// Default TCP connect timeout (the proxy is normally on the same host).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default handshake timeout (tor's own `SocksTimeout` is 120 s).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

    /// A proxy at `addr` with the default timeouts.
    #[must_use]
    pub const fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Connects to the proxy and asks it to CONNECT to `target`; returns the stream, then
    /// connected to the target (with `TCP_NODELAY`).
    ///
    /// Never connects anywhere but the proxy, whatever goes wrong.
    ///
    /// # Errors
    /// [`SocksError`] naming the proxy and target: the proxy unreachable, a timeout, an
    /// early close, garbage, or a refusal (with its [`ReplyCode`]).
    pub async fn connect(
        &self,
        target: &TargetAddr,
        credentials: Option<&Credentials>,
    ) -> Result<TcpStream, SocksError> {
        let error = |kind| SocksError {
            proxy: Some(self.addr),
            target: target.clone(),
            kind,
        };
        let mut stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| error(SocksErrorKind::ProxyConnectTimeout(self.connect_timeout)))?
            .map_err(|e| error(SocksErrorKind::ProxyUnreachable(e)))?;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(proxy = %self.addr, error = %e, "could not set TCP_NODELAY");
        }
        let mut handshake = Handshake::new(target, credentials.cloned());
        match tokio::time::timeout(self.handshake_timeout, run(&mut stream, &mut handshake)).await {
            Ok(Ok(_bound)) => Ok(stream),
            Ok(Err(kind)) => Err(error(kind)),
            Err(_) => Err(error(SocksErrorKind::HandshakeTimeout {
                stage: handshake.stage(),
                timeout: self.handshake_timeout,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn complete<T>(parsed: Result<Parsed<T>, ReplyError>) -> (T, usize) {
        match parsed.unwrap() {
            Parsed::Complete { value, len } => (value, len),
            Parsed::Incomplete { needed } => panic!("incomplete, needs {needed}"),
        }
    }

    #[test]
    fn encodes_requests_as_rfc_1928_and_1929_say() {
        assert_eq!(encode_greeting(None), [5, 1, 0]);
        let creds = Credentials::new(b"ab".to_vec(), b"xyz".to_vec()).unwrap();
        assert_eq!(encode_greeting(Some(&creds)), [5, 1, 2]);
        assert_eq!(encode_auth(&creds), b"\x01\x02ab\x03xyz");
        let v4 = TargetAddr::Ip("127.0.0.1:80".parse().unwrap());
        assert_eq!(encode_connect(&v4), [5, 1, 0, 1, 127, 0, 0, 1, 0, 80]);
        let v6 = TargetAddr::Ip("[::1]:443".parse().unwrap());
        let mut expected = vec![5, 1, 0, 4];
        expected.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        expected.extend_from_slice(&[1, 187]);
        assert_eq!(encode_connect(&v6), expected);
        let name = TargetAddr::domain("a.onion", 18083).unwrap();
        assert_eq!(
            encode_connect(&name),
            b"\x05\x01\x00\x03\x07a.onion\x46\xa3"
        );
    }

    #[test]
    fn refuses_targets_and_credentials_socks_cannot_carry() {
        assert!(TargetAddr::domain("", 1).is_err());
        assert!(TargetAddr::domain("a".repeat(256), 1).is_err());
        assert!(TargetAddr::domain("a".repeat(255), 1).is_ok());
        assert!(Credentials::new(Vec::new(), b"p".to_vec()).is_err());
        assert!(Credentials::new(b"u".to_vec(), vec![0; 256]).is_err());
        let creds = Credentials::new(b"u".to_vec(), b"secret".to_vec()).unwrap();
        assert!(!format!("{creds:?}").contains("secret"));
    }

    #[test]
    fn parses_connect_replies_of_every_address_type() {
        let v4 = [5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90];
        let (reply, len) = complete(parse_connect_reply(&v4));
        assert_eq!(len, 10);
        assert_eq!(reply.bound, BoundAddr::Ip("10.0.0.1:8080".parse().unwrap()));
        assert_eq!(reply.encode(), v4);

        let mut v6 = vec![5, 0, 0, 4];
        v6.extend_from_slice(&[0; 15]);
        v6.extend_from_slice(&[1, 0, 80]);
        let (reply, len) = complete(parse_connect_reply(&v6));
        assert_eq!(len, 22);
        assert_eq!(reply.bound, BoundAddr::Ip("[::1]:80".parse().unwrap()));
        assert_eq!(reply.encode(), v6);

        let name = b"\x05\x04\x00\x03\x04host\x00\x50";
        let (reply, len) = complete(parse_connect_reply(name));
        assert_eq!(len, name.len());
        assert_eq!(reply.code, ReplyCode::HostUnreachable);
        assert_eq!(reply.encode(), name);
    }

    #[test]
    fn asks_for_bytes_without_reading_past_the_reply() {
        let reply = b"\x05\x00\x00\x03\x04host\x00\x50";
        let mut needs = Vec::new();
        for cut in 0..reply.len() {
            match parse_connect_reply(&reply[..cut]).unwrap() {
                Parsed::Incomplete { needed } => {
                    assert!(needed > cut && needed <= reply.len(), "{cut}: {needed}");
                    needs.push(needed);
                }
                Parsed::Complete { .. } => panic!("complete at {cut}"),
            }
        }
        assert_eq!(needs[0], 5);
        assert_eq!(needs[5], reply.len());
        assert_eq!(
            parse_method_selection(&[]).unwrap(),
            Parsed::Incomplete { needed: 2 }
        );
        assert_eq!(
            parse_method_selection(&[5]).unwrap(),
            Parsed::Incomplete { needed: 2 }
        );
    }

    #[test]
    fn garbage_is_a_reply_error() {
        assert_eq!(
            parse_method_selection(b"HTTP/1.1").unwrap_err(),
            ReplyError::Version {
                expected: 5,
                got: b'H'
            }
        );
        assert!(parse_auth_reply(&[5, 0]).is_err());
        assert!(
            parse_connect_reply(&[4])
                .unwrap_err()
                .to_string()
                .contains("0x04")
        );
        assert_eq!(
            parse_connect_reply(&[5, 0, 1, 1]).unwrap_err(),
            ReplyError::Reserved(1)
        );
        assert_eq!(
            parse_connect_reply(&[5, 0, 0, 2]).unwrap_err(),
            ReplyError::AddressType(2)
        );
    }

    #[test]
    fn every_reply_code_round_trips_and_has_words() {
        for byte in 0..=u8::MAX {
            let code = ReplyCode::from_byte(byte);
            assert_eq!(code.to_byte(), byte);
            assert!(code.to_string().contains(&format!("0x{byte:02X}")));
        }
        assert_eq!(
            ReplyCode::from_byte(0xF0).io_kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            ReplyCode::from_byte(0xF2).io_kind(),
            io::ErrorKind::HostUnreachable
        );
        assert_eq!(
            ReplyCode::from_byte(0x05).io_kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert_eq!(
            ReplyCode::from_byte(0xF7).io_kind(),
            io::ErrorKind::TimedOut
        );
        assert!(
            ReplyCode::from_byte(0xF4)
                .description()
                .contains("authorisation")
        );
    }

    fn drive(handshake: &mut Handshake, server: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        let mut at = 0;
        while handshake.outcome().is_none() {
            if let Some(bytes) = handshake.poll_transmit() {
                sent.push(bytes);
            }
            let wanted = handshake.wanted().min(chunk);
            assert!(wanted > 0 && at < server.len(), "stuck");
            let end = (at + wanted).min(server.len());
            let Ok(n) = handshake.handle_input(&server[at..end]) else {
                break;
            };
            assert!(n <= end - at);
            assert!(handshake.buffered() <= MAX_REPLY_LEN);
            at += n;
        }
        sent
    }

    #[test]
    fn handshake_with_username_password_in_any_chunking() {
        let target = TargetAddr::domain("peer.onion", 80).unwrap();
        let creds = Credentials::new(b"u".to_vec(), b"p".to_vec()).unwrap();
        let server = b"\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00";
        for chunk in 1..=server.len() {
            let mut handshake = Handshake::new(&target, Some(creds.clone()));
            let sent = drive(&mut handshake, server, chunk);
            assert_eq!(sent.len(), 3);
            assert_eq!(sent[1], b"\x01\x01u\x01p");
            assert_eq!(
                handshake.outcome(),
                Some(&Ok(BoundAddr::Ip("0.0.0.0:0".parse().unwrap())))
            );
            assert_eq!(handshake.wanted(), 0);
            assert!(handshake.handle_input(b"x").is_err());
        }
    }

    #[test]
    fn handshake_refusals() {
        let target = TargetAddr::Ip("127.0.0.1:1".parse().unwrap());
        let creds = Credentials::new(b"u".to_vec(), b"p".to_vec()).unwrap();
        let cases: [(Option<&Credentials>, &[u8], HandshakeError); 4] = [
            (
                None,
                b"\x05\xff",
                HandshakeError::NoAcceptableMethod {
                    offered: "no authentication",
                },
            ),
            (
                Some(&creds),
                b"\x05\x00",
                HandshakeError::UnexpectedMethod {
                    chosen: 0,
                    offered: "username/password",
                },
            ),
            (
                Some(&creds),
                b"\x05\x02\x01\x01",
                HandshakeError::AuthRejected(1),
            ),
            (
                None,
                b"\x05\x00\x05\xf3\x00\x01\x00\x00\x00\x00\x00\x00",
                HandshakeError::Refused(ReplyCode::OnionRendezvousFailed),
            ),
        ];
        for (creds, server, expected) in cases {
            let mut handshake = Handshake::new(&target, creds.cloned());
            drive(&mut handshake, server, 64);
            assert_eq!(handshake.outcome(), Some(&Err(expected)));
        }
    }
}
