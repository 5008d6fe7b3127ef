//! Network addresses as monerod writes them in peer lists: a `type` byte and an `addr`
//! object whose shape depends on the type.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
};

use bytes::BufMut;
use umbra_epee::{EpeeObject, Error, ErrorKind, Reader, Result};

/// monerod's `address_type` codes.
pub mod address_type {
    /// IPv4 (`m_ip`, `m_port`).
    pub const IPV4: u8 = 1;
    /// IPv6 (`addr` as a 16-byte blob, `m_port`).
    pub const IPV6: u8 = 2;
    /// I2P (`host` ending in `.b32.i2p`, `port`).
    pub const I2P: u8 = 3;
    /// Tor onion service (`host` ending in `.onion`, `port`).
    pub const TOR: u8 = 4;
}

/// Longest host name accepted for a Tor or I2P address: a v3 onion (62 characters) or a
/// b32 I2P address (60) fits with room; anything longer is not a real address.
pub const MAX_HOST_LEN: usize = 255;

/// A peer's address on one of the networks monerod knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkAddress {
    /// IPv4 address and port.
    Ipv4(SocketAddrV4),
    /// IPv6 address and port.
    Ipv6(SocketAddrV6),
    /// Tor v3 onion service.
    Tor {
        /// `<56 base32 chars>.onion`.
        host: String,
        /// Virtual port.
        port: u16,
    },
    /// I2P destination.
    I2p {
        /// `<52 base32 chars>.b32.i2p`.
        host: String,
        /// Port (I2P has no ports; monerod carries one anyway).
        port: u16,
    },
}

impl NetworkAddress {
    /// monerod's type code for this address.
    #[must_use]
    pub const fn type_code(&self) -> u8 {
        match self {
            Self::Ipv4(_) => address_type::IPV4,
            Self::Ipv6(_) => address_type::IPV6,
            Self::Tor { .. } => address_type::TOR,
            Self::I2p { .. } => address_type::I2P,
        }
    }

    /// The port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        match self {
            Self::Ipv4(a) => a.port(),
            Self::Ipv6(a) => a.port(),
            Self::Tor { port, .. } | Self::I2p { port, .. } => *port,
        }
    }

    /// The socket address, for clearnet addresses.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Ipv4(a) => Some(SocketAddr::V4(*a)),
            Self::Ipv6(a) => Some(SocketAddr::V6(*a)),
            Self::Tor { .. } | Self::I2p { .. } => None,
        }
    }
}

impl From<SocketAddr> for NetworkAddress {
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Self::Ipv4(a),
            SocketAddr::V6(a) => Self::Ipv6(a),
        }
    }
}

impl fmt::Display for NetworkAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "{a}"),
            Self::Tor { host, port } | Self::I2p { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// The `addr` object of every address type in one: monerod writes `addr` before `type`
/// (byte order of the names), so the object is read before its type is known and checked
/// against it afterwards. Absent fields are not written, so each address type writes
/// exactly its own fields.
#[derive(Debug, Default, EpeeObject)]
struct AddrFields {
    /// IPv4: the octets in memory order (the little-endian bytes of the `u32` are `a.b.c.d`).
    m_ip: Option<u32>,
    /// IPv4 and IPv6 port.
    m_port: Option<u16>,
    /// IPv6 address.
    addr: Option<[u8; 16]>,
    /// Tor and I2P host name.
    host: Option<String>,
    /// Tor and I2P port.
    port: Option<u16>,
}

/// A network address as it is on the wire.
#[derive(Debug, EpeeObject)]
struct RawAddress {
    #[epee(rename = "type")]
    kind: u8,
    addr: AddrFields,
}

fn invalid(what: String) -> Error {
    ErrorKind::Invalid(what).in_field("addr")
}

impl TryFrom<RawAddress> for NetworkAddress {
    type Error = Error;

    fn try_from(raw: RawAddress) -> Result<Self> {
        let addr = raw.addr;
        let port = |port: Option<u16>, name: &'static str| {
            port.ok_or_else(|| ErrorKind::MissingField(name).in_field("addr"))
        };
        Ok(match raw.kind {
            address_type::IPV4 => {
                let ip = addr
                    .m_ip
                    .ok_or_else(|| ErrorKind::MissingField("m_ip").in_field("addr"))?;
                Self::Ipv4(SocketAddrV4::new(
                    Ipv4Addr::from(ip.to_le_bytes()),
                    port(addr.m_port, "m_port")?,
                ))
            }
            address_type::IPV6 => {
                let ip = addr
                    .addr
                    .ok_or_else(|| ErrorKind::MissingField("addr").in_field("addr"))?;
                Self::Ipv6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    port(addr.m_port, "m_port")?,
                    0,
                    0,
                ))
            }
            kind @ (address_type::TOR | address_type::I2P) => {
                let host = addr
                    .host
                    .ok_or_else(|| ErrorKind::MissingField("host").in_field("addr"))?;
                if host.is_empty() || host.len() > MAX_HOST_LEN {
                    return Err(invalid(format!(
                        "host name of {} bytes (must be 1 to {MAX_HOST_LEN})",
                        host.len()
                    )));
                }
                let port = port(addr.port, "port")?;
                if kind == address_type::TOR {
                    Self::Tor { host, port }
                } else {
                    Self::I2p { host, port }
                }
            }
            other => {
                return Err(Error::from(ErrorKind::Invalid(format!(
                    "unknown network address type {other}"
                )))
                .in_field("type"));
            }
        })
    }
}

impl From<&NetworkAddress> for RawAddress {
    fn from(address: &NetworkAddress) -> Self {
        let addr = match address {
            NetworkAddress::Ipv4(a) => AddrFields {
                m_ip: Some(u32::from_le_bytes(a.ip().octets())),
                m_port: Some(a.port()),
                ..AddrFields::default()
            },
            NetworkAddress::Ipv6(a) => AddrFields {
                addr: Some(a.ip().octets()),
                m_port: Some(a.port()),
                ..AddrFields::default()
            },
            NetworkAddress::Tor { host, port } | NetworkAddress::I2p { host, port } => AddrFields {
                host: Some(host.clone()),
                port: Some(*port),
                ..AddrFields::default()
            },
        };
        Self {
            kind: address.type_code(),
            addr,
        }
    }
}

impl<'de> EpeeObject<'de> for NetworkAddress {
    fn read_fields(r: &mut Reader<'de>) -> Result<Self> {
        RawAddress::read_fields(r)?.try_into()
    }

    fn write_fields<B: BufMut>(&self, w: &mut B) -> Result<()> {
        RawAddress::from(self).write_fields(w)
    }
}

umbra_epee::impl_value_for_object!(NetworkAddress);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(addr: &NetworkAddress) -> NetworkAddress {
        #[derive(Debug, EpeeObject)]
        struct Holder {
            adr: NetworkAddress,
        }
        let bytes = umbra_epee::to_bytes(&Holder { adr: addr.clone() })
            .unwrap()
            .freeze();
        umbra_epee::from_bytes::<Holder>(&bytes).unwrap().adr
    }

    #[test]
    fn every_address_type_round_trips() {
        for addr in [
            NetworkAddress::Ipv4("1.2.3.4:18080".parse().unwrap()),
            NetworkAddress::Ipv6("[2001:db8::1]:18080".parse().unwrap()),
            NetworkAddress::Tor {
                host: format!("{}.onion", "a".repeat(56)),
                port: 18083,
            },
            NetworkAddress::I2p {
                host: format!("{}.b32.i2p", "b".repeat(52)),
                port: 0,
            },
        ] {
            assert_eq!(round_trip(&addr), addr);
        }
    }

    #[test]
    fn unknown_types_and_missing_parts_are_errors() {
        let raw = RawAddress {
            kind: 9,
            addr: AddrFields::default(),
        };
        let bytes = umbra_epee::to_bytes(&raw).unwrap().freeze();
        let error = umbra_epee::from_bytes::<NetworkAddress>(&bytes).unwrap_err();
        assert_eq!(error.field_path(), ["type"]);
        let raw = RawAddress {
            kind: address_type::IPV4,
            addr: AddrFields::default(),
        };
        let bytes = umbra_epee::to_bytes(&raw).unwrap().freeze();
        let error = umbra_epee::from_bytes::<NetworkAddress>(&bytes).unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::MissingField("m_ip"));
    }

    #[test]
    fn ipv4_octets_are_in_memory_order() {
        let addr = NetworkAddress::Ipv4("1.2.3.4:5".parse().unwrap());
        let bytes = umbra_epee::to_bytes(&addr).unwrap();
        // m_ip = 0x04030201 little-endian: 01 02 03 04.
        assert!(bytes.windows(4).any(|w| w == [1, 2, 3, 4]));
    }
}
