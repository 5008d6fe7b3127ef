//! The 33-byte levin header (monerod's `bucket_head2`) and its flags.
//!
//! Layout, every field little-endian and packed:
//!
//! ```text
//! offset size field
//!      0    8 signature           0x0101010101012101 (wire: 01 21 01 01 01 01 01 01)
//!      8    8 body size           bytes that follow the header
//!     16    1 have_to_return_data 1 = the sender expects a response
//!     17    4 command
//!     21    4 return code         signed; meaningful in responses
//!     25    4 flags               REQUEST 0x1, RESPONSE 0x2, BEGIN 0x4, END 0x8
//!     29    4 protocol version    1
//! ```

use std::fmt;
use std::ops::BitOr;

use bytes::{Buf, BufMut};

use crate::message::{MessageHead, MessageKind};

/// The levin signature, the first eight bytes of every header (`LEVIN_SIGNATURE`).
pub const SIGNATURE: u64 = 0x0101_0101_0101_2101;

/// Size of a levin header on the wire, in bytes.
pub const HEADER_SIZE: usize = 33;

/// The only levin protocol version in use (`LEVIN_PROTOCOL_VER_1`).
pub const PROTOCOL_VERSION: u32 = 1;

/// monerod's body-size limit before the handshake completed (`LEVIN_INITIAL_MAX_PACKET_SIZE`).
pub const INITIAL_MAX_PACKET_SIZE: usize = 256 * 1024;

/// monerod's body-size limit after the handshake (`LEVIN_DEFAULT_MAX_PACKET_SIZE`).
pub const DEFAULT_MAX_PACKET_SIZE: usize = 100_000_000;

/// Return codes carried in the header of responses.
///
/// Negative values are levin-level errors. monerod's command handlers answer a
/// successful invoke (for example the handshake) with [`SUCCESS`](return_code::SUCCESS).
pub mod return_code {
    /// `LEVIN_OK`: the value requests and notifications carry.
    pub const OK: i32 = 0;
    /// What monerod's command handlers return on success (e.g. in the handshake response).
    pub const SUCCESS: i32 = 1;
    /// `LEVIN_ERROR_CONNECTION`.
    pub const ERROR_CONNECTION: i32 = -1;
    /// `LEVIN_ERROR_CONNECTION_NOT_FOUND`.
    pub const ERROR_CONNECTION_NOT_FOUND: i32 = -2;
    /// `LEVIN_ERROR_CONNECTION_DESTROYED`.
    pub const ERROR_CONNECTION_DESTROYED: i32 = -3;
    /// `LEVIN_ERROR_CONNECTION_TIMEDOUT`.
    pub const ERROR_CONNECTION_TIMEDOUT: i32 = -4;
    /// `LEVIN_ERROR_CONNECTION_NO_DUPLEX_PROTOCOL`.
    pub const ERROR_CONNECTION_NO_DUPLEX_PROTOCOL: i32 = -5;
    /// `LEVIN_ERROR_CONNECTION_HANDLER_NOT_DEFINED`.
    pub const ERROR_CONNECTION_HANDLER_NOT_DEFINED: i32 = -6;
    /// `LEVIN_ERROR_FORMAT`.
    pub const ERROR_FORMAT: i32 = -7;
}

/// The flags field of a levin header.
///
/// This is a plain bit set: any `u32` can be stored, and [`Header::frame_kind`] decides
/// whether a combination is acceptable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    /// No flag set: a middle fragment.
    pub const NONE: Self = Self(0);
    /// `LEVIN_PACKET_REQUEST`: an invoke or a notification.
    pub const REQUEST: Self = Self(0x1);
    /// `LEVIN_PACKET_RESPONSE`: the answer to an invoke.
    pub const RESPONSE: Self = Self(0x2);
    /// `LEVIN_PACKET_BEGIN`: the first fragment of a fragmented message.
    pub const BEGIN: Self = Self(0x4);
    /// `LEVIN_PACKET_END`: the last fragment of a fragmented message.
    pub const END: Self = Self(0x8);
    /// Every bit this crate knows.
    pub const KNOWN: Self = Self(0xF);

    /// Flags from raw bits, unknown bits included.
    #[must_use]
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw bits.
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    #[must_use]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The bits set in either.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

impl fmt::Display for Flags {
    /// Shows the raw value and the names of the known bits, e.g. `0x5 (REQUEST|BEGIN)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} (", self.0)?;
        let names = [
            (Self::REQUEST, "REQUEST"),
            (Self::RESPONSE, "RESPONSE"),
            (Self::BEGIN, "BEGIN"),
            (Self::END, "END"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !Self::KNOWN.0;
        if unknown != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "unknown {unknown:#x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        f.write_str(")")
    }
}

/// What a valid header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An ordinary message: flags `REQUEST` or `RESPONSE`.
    Message(MessageKind),
    /// Padding to be ignored: flags `BEGIN|END` (monerod's `make_noise_notify`).
    Noise,
    /// First fragment of a fragmented message: flags `BEGIN`.
    FragmentBegin,
    /// A fragment between the first and the last: no flag set.
    FragmentMiddle,
    /// Last fragment of a fragmented message: flags `END`.
    FragmentEnd,
}

impl FrameKind {
    /// Whether this is one of the three fragment kinds.
    #[must_use]
    pub const fn is_fragment(self) -> bool {
        matches!(
            self,
            Self::FragmentBegin | Self::FragmentMiddle | Self::FragmentEnd
        )
    }
}

/// Why a flags field (with its `have_to_return_data` byte) was refused.
///
/// Each of these is a combination monerod never sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlagProblem {
    /// Bits other than `REQUEST`, `RESPONSE`, `BEGIN` and `END` are set.
    UnknownBits,
    /// `REQUEST` and `RESPONSE` are both set.
    RequestAndResponse,
    /// `BEGIN` or `END` is set together with `REQUEST` or `RESPONSE`.
    FragmentFlagOnMessage,
    /// A response claims to expect a response.
    ResponseExpectsResponse,
    /// A fragment or noise frame claims to expect a response.
    FragmentExpectsResponse,
    /// A fragment or noise header was handed to an encoder, which only frames messages.
    NotAMessage,
}

impl fmt::Display for FlagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownBits => "unknown flag bits are set",
            Self::RequestAndResponse => "REQUEST and RESPONSE are both set",
            Self::FragmentFlagOnMessage => "BEGIN or END is set on a request or response",
            Self::ResponseExpectsResponse => "a response cannot expect a response",
            Self::FragmentExpectsResponse => "a fragment or noise frame cannot expect a response",
            Self::NotAMessage => {
                "only messages are encoded directly; fragments and noise come from padding"
            }
        })
    }
}

/// Why a levin header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The first eight bytes are not [`SIGNATURE`].
    #[error("bad levin signature {found:#018x}, expected 0x0101010101012101")]
    BadSignature {
        /// The signature read, as a little-endian `u64`.
        found: u64,
    },
    /// The protocol version is not [`PROTOCOL_VERSION`].
    #[error("unsupported levin protocol version {found}, only version 1 is supported")]
    UnsupportedVersion {
        /// The version read.
        found: u32,
    },
    /// The body size is above the configured limit.
    #[error("body of {size} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The size announced (or, when encoding, produced).
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The flags and `have_to_return_data` form a combination this crate refuses.
    #[error(
        "invalid levin flags {flags} with have_to_return_data = {have_to_return_data}: {problem}"
    )]
    InvalidFlags {
        /// The flags read.
        flags: Flags,
        /// The `have_to_return_data` byte read.
        have_to_return_data: bool,
        /// What is wrong with them.
        problem: FlagProblem,
    },
}

/// A levin header, without the two constant fields (signature and protocol version).
///
/// [`Header::decode`] accepts exactly the headers [`Header::frame_kind`] accepts:
///
/// | flags | `have_to_return_data` | kind |
/// |---|---|---|
/// | `REQUEST` | true | [`MessageKind::Request`] (an invoke) |
/// | `REQUEST` | false | [`MessageKind::Notification`] |
/// | `RESPONSE` | false | [`MessageKind::Response`] |
/// | `BEGIN\|END` | false | [`FrameKind::Noise`] |
/// | `BEGIN` | false | [`FrameKind::FragmentBegin`] |
/// | none | false | [`FrameKind::FragmentMiddle`] |
/// | `END` | false | [`FrameKind::FragmentEnd`] |
///
/// Everything else is refused with [`HeaderError::InvalidFlags`]. monerod's reader is more
/// lenient (it ignores bits it does not need), but monerod's writers never produce any of
/// the refused combinations, so refusing them costs no interoperability and removes every
/// ambiguous reading. Fields monerod ignores are accepted with any value: the return code
/// of requests and notifications, the command of noise and fragments, and any non-zero
/// `have_to_return_data` byte (read as true).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Size of the body that follows the header (`m_cb`).
    pub size: u64,
    /// Whether the sender expects a response (`m_have_to_return_data`).
    pub have_to_return_data: bool,
    /// The command (`m_command`).
    pub command: u32,
    /// The return code (`m_return_code`); meaningful in responses.
    pub return_code: i32,
    /// The flags (`m_flags`).
    pub flags: Flags,
}

impl Header {
    /// The header of a message with `head` and a body of `size` bytes.
    #[must_use]
    pub const fn new(head: MessageHead, size: u64) -> Self {
        Self {
            size,
            have_to_return_data: head.kind.have_to_return_data(),
            command: head.command,
            return_code: head.return_code,
            flags: head.kind.flags(),
        }
    }

    /// The header of a fragment or noise frame as monerod writes it: command 0, return
    /// code 0, no response expected.
    #[must_use]
    pub const fn frame(flags: Flags, size: u64) -> Self {
        Self {
            size,
            have_to_return_data: false,
            command: 0,
            return_code: 0,
            flags,
        }
    }

    /// Decodes and validates a header: signature, protocol version and flags.
    ///
    /// The body size is not checked here, see [`Header::check_size`].
    ///
    /// # Errors
    ///
    /// [`HeaderError::BadSignature`], [`HeaderError::UnsupportedVersion`] or
    /// [`HeaderError::InvalidFlags`], checked in that order.
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> Result<Self, HeaderError> {
        let mut buf = bytes.as_slice();
        let signature = buf.get_u64_le();
        if signature != SIGNATURE {
            return Err(HeaderError::BadSignature { found: signature });
        }
        let size = buf.get_u64_le();
        let have_to_return_data = buf.get_u8() != 0;
        let command = buf.get_u32_le();
        let return_code = buf.get_i32_le();
        let flags = Flags::from_bits(buf.get_u32_le());
        let version = buf.get_u32_le();
        if version != PROTOCOL_VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let header = Self {
            size,
            have_to_return_data,
            command,
            return_code,
            flags,
        };
        header.frame_kind()?;
        Ok(header)
    }

    /// Checks the signature in the first bytes of a header that has not fully arrived yet,
    /// as monerod does as soon as eight bytes are there.
    ///
    /// # Errors
    ///
    /// [`HeaderError::BadSignature`] if at least eight bytes are given and they are not the
    /// signature. Fewer bytes are never an error.
    pub fn check_signature_prefix(bytes: &[u8]) -> Result<(), HeaderError> {
        if let Some(mut prefix) = bytes.get(..8) {
            let found = prefix.get_u64_le();
            if found != SIGNATURE {
                return Err(HeaderError::BadSignature { found });
            }
        }
        Ok(())
    }

    /// The 33 bytes of this header.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0; HEADER_SIZE];
        let mut dst = out.as_mut_slice();
        self.put(&mut dst);
        out
    }

    /// Appends the 33 bytes of this header to `dst`.
    pub fn put<B: BufMut>(&self, dst: &mut B) {
        dst.put_u64_le(SIGNATURE);
        dst.put_u64_le(self.size);
        dst.put_u8(u8::from(self.have_to_return_data));
        dst.put_u32_le(self.command);
        dst.put_i32_le(self.return_code);
        dst.put_u32_le(self.flags.bits());
        dst.put_u32_le(PROTOCOL_VERSION);
    }

    /// What this header announces.
    ///
    /// # Errors
    ///
    /// [`HeaderError::InvalidFlags`] for the combinations listed on [`Header`].
    pub fn frame_kind(&self) -> Result<FrameKind, HeaderError> {
        let flags = self.flags;
        let refuse = |problem| HeaderError::InvalidFlags {
            flags,
            have_to_return_data: self.have_to_return_data,
            problem,
        };
        if flags.intersects(Flags::from_bits(!Flags::KNOWN.bits())) {
            return Err(refuse(FlagProblem::UnknownBits));
        }
        let request = flags.contains(Flags::REQUEST);
        let response = flags.contains(Flags::RESPONSE);
        let begin = flags.contains(Flags::BEGIN);
        let end = flags.contains(Flags::END);
        match (request, response) {
            (true, true) => Err(refuse(FlagProblem::RequestAndResponse)),
            (true, false) | (false, true) if begin || end => {
                Err(refuse(FlagProblem::FragmentFlagOnMessage))
            }
            (true, false) => Ok(FrameKind::Message(if self.have_to_return_data {
                MessageKind::Request
            } else {
                MessageKind::Notification
            })),
            (false, true) if self.have_to_return_data => {
                Err(refuse(FlagProblem::ResponseExpectsResponse))
            }
            (false, true) => Ok(FrameKind::Message(MessageKind::Response)),
            (false, false) if self.have_to_return_data => {
                Err(refuse(FlagProblem::FragmentExpectsResponse))
            }
            (false, false) => Ok(match (begin, end) {
                (true, true) => FrameKind::Noise,
                (true, false) => FrameKind::FragmentBegin,
                (false, false) => FrameKind::FragmentMiddle,
                (false, true) => FrameKind::FragmentEnd,
            }),
        }
    }

    /// Command, kind and return code, if this header is a valid message header (not a
    /// fragment, not noise).
    #[must_use]
    pub fn message_head(&self) -> Option<MessageHead> {
        match self.frame_kind() {
            Ok(FrameKind::Message(kind)) => Some(MessageHead {
                command: self.command,
                kind,
                return_code: self.return_code,
            }),
            _ => None,
        }
    }

    /// The body size as a `usize`, if it is at most `limit`.
    ///
    /// # Errors
    ///
    /// [`HeaderError::BodyTooLarge`] otherwise.
    pub fn check_size(&self, limit: usize) -> Result<usize, HeaderError> {
        let limit64 = u64::try_from(limit).unwrap_or(u64::MAX);
        match usize::try_from(self.size) {
            Ok(size) if self.size <= limit64 => Ok(size),
            _ => Err(HeaderError::BodyTooLarge {
                size: self.size,
                limit: limit64,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(size: u64, htrd: u8, command: u32, rc: i32, flags: u32, version: u32) -> [u8; 33] {
        let mut out = Vec::new();
        out.extend_from_slice(&SIGNATURE.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.push(htrd);
        out.extend_from_slice(&command.to_le_bytes());
        out.extend_from_slice(&rc.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.try_into().unwrap()
    }

    #[test]
    fn signature_bytes_on_the_wire() {
        assert_eq!(SIGNATURE.to_le_bytes(), [0x01, 0x21, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn header_layout_is_packed_little_endian() {
        let header = Header::new(MessageHead::request(1001), 0x0102);
        let bytes = header.to_bytes();
        assert_eq!(bytes, raw(0x0102, 1, 1001, 0, 1, 1));
    }

    #[test]
    fn every_accepted_combination_round_trips() {
        for (flags, htrd, kind) in [
            (1, 1, FrameKind::Message(MessageKind::Request)),
            (1, 0, FrameKind::Message(MessageKind::Notification)),
            (2, 0, FrameKind::Message(MessageKind::Response)),
            (12, 0, FrameKind::Noise),
            (4, 0, FrameKind::FragmentBegin),
            (0, 0, FrameKind::FragmentMiddle),
            (8, 0, FrameKind::FragmentEnd),
        ] {
            let bytes = raw(7, htrd, 9, -3, flags, 1);
            let header = Header::decode(&bytes).unwrap();
            assert_eq!(header.frame_kind().unwrap(), kind);
            assert_eq!(header.to_bytes(), bytes);
        }
    }

    #[test]
    fn refused_combinations_name_the_problem() {
        for (flags, htrd, problem) in [
            (0x10, 0, FlagProblem::UnknownBits),
            (0x3, 0, FlagProblem::RequestAndResponse),
            (0x5, 0, FlagProblem::FragmentFlagOnMessage),
            (0xA, 0, FlagProblem::FragmentFlagOnMessage),
            (0x2, 1, FlagProblem::ResponseExpectsResponse),
            (0x4, 1, FlagProblem::FragmentExpectsResponse),
            (0xC, 1, FlagProblem::FragmentExpectsResponse),
        ] {
            let err = Header::decode(&raw(0, htrd, 0, 0, flags, 1)).unwrap_err();
            assert_eq!(
                err,
                HeaderError::InvalidFlags {
                    flags: Flags::from_bits(flags),
                    have_to_return_data: htrd != 0,
                    problem
                }
            );
        }
    }

    #[test]
    fn nonzero_have_to_return_data_reads_as_true() {
        let header = Header::decode(&raw(0, 7, 1, 0, 1, 1)).unwrap();
        assert!(header.have_to_return_data);
    }

    #[test]
    fn signature_checked_before_version() {
        let mut bytes = raw(0, 0, 0, 0, 1, 2);
        bytes[0] = 0;
        assert!(matches!(
            Header::decode(&bytes),
            Err(HeaderError::BadSignature { .. })
        ));
        bytes[0] = 1;
        assert_eq!(
            Header::decode(&bytes),
            Err(HeaderError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn signature_prefix_needs_eight_bytes() {
        assert!(Header::check_signature_prefix(&[0xFF; 7]).is_ok());
        assert!(Header::check_signature_prefix(&[0x01, 0x21, 1, 1, 1, 1, 1, 1, 0xFF]).is_ok());
        assert_eq!(
            Header::check_signature_prefix(&[0; 8]),
            Err(HeaderError::BadSignature { found: 0 })
        );
    }

    #[test]
    fn size_check_reports_both_values() {
        let header = Header::new(MessageHead::notification(2), 300_000);
        assert_eq!(header.check_size(300_000), Ok(300_000));
        let err = header.check_size(INITIAL_MAX_PACKET_SIZE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "body of 300000 bytes exceeds the limit of 262144"
        );
    }

    #[test]
    fn flags_display_names_bits() {
        assert_eq!(
            (Flags::REQUEST | Flags::BEGIN).to_string(),
            "0x5 (REQUEST|BEGIN)"
        );
        assert_eq!(Flags::NONE.to_string(), "0x0 (none)");
        assert_eq!(
            Flags::from_bits(0x12).to_string(),
            "0x12 (RESPONSE|unknown 0x10)"
        );
    }
}
