//! Type markers: the byte before every value that says what follows.

use std::fmt;

/// The flag bit that turns a type code into "array of that type".
pub const ARRAY_FLAG: u8 = 0x80;

/// One of epee's thirteen value types.
///
/// The numbers are the on-wire codes (`SERIALIZE_TYPE_*` in monerod's
/// `portable_storage_base.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TypeCode {
    /// Signed 64-bit integer.
    I64 = 1,
    /// Signed 32-bit integer.
    I32 = 2,
    /// Signed 16-bit integer.
    I16 = 3,
    /// Signed 8-bit integer.
    I8 = 4,
    /// Unsigned 64-bit integer.
    U64 = 5,
    /// Unsigned 32-bit integer.
    U32 = 6,
    /// Unsigned 16-bit integer.
    U16 = 7,
    /// Unsigned 8-bit integer.
    U8 = 8,
    /// IEEE-754 double, little-endian.
    F64 = 9,
    /// Byte string (not necessarily UTF-8): a varint length, then the bytes.
    String = 10,
    /// Boolean, one byte that must be 0 or 1.
    Bool = 11,
    /// A nested object (a "section").
    Object = 12,
    /// An array whose elements are themselves arrays (each element carries its own marker).
    Array = 13,
}

impl TypeCode {
    /// The type with the on-wire code `code` (without the array flag).
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::I64,
            2 => Self::I32,
            3 => Self::I16,
            4 => Self::I8,
            5 => Self::U64,
            6 => Self::U32,
            7 => Self::U16,
            8 => Self::U8,
            9 => Self::F64,
            10 => Self::String,
            11 => Self::Bool,
            12 => Self::Object,
            13 => Self::Array,
            _ => return None,
        })
    }

    /// Size in bytes of a fixed-size scalar of this type; `None` for strings, objects and arrays.
    #[must_use]
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            Self::I64 | Self::U64 | Self::F64 => Some(8),
            Self::I32 | Self::U32 => Some(4),
            Self::I16 | Self::U16 => Some(2),
            Self::I8 | Self::U8 | Self::Bool => Some(1),
            Self::String | Self::Object | Self::Array => None,
        }
    }

    /// Whether this is one of the eight integer types.
    #[must_use]
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            Self::I64
                | Self::I32
                | Self::I16
                | Self::I8
                | Self::U64
                | Self::U32
                | Self::U16
                | Self::U8
        )
    }

    /// The smallest number of bytes one element of this type can occupy inside an array.
    ///
    /// monerod rejects an array whose declared length exceeds `remaining / min_size`
    /// (`ps_min_bytes` in `portable_storage_from_bin.h`); we use the same figures so that we
    /// never accept an array monerod would refuse, and never reserve memory for elements that
    /// cannot be in the input.
    #[must_use]
    pub const fn min_element_size(self) -> usize {
        match self.fixed_size() {
            Some(size) => size,
            None => match self {
                Self::String => 2,
                _ => 1,
            },
        }
    }

    /// A short lower-case name, as used in error messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::I64 => "i64",
            Self::I32 => "i32",
            Self::I16 => "i16",
            Self::I8 => "i8",
            Self::U64 => "u64",
            Self::U32 => "u32",
            Self::U16 => "u16",
            Self::U8 => "u8",
            Self::F64 => "double",
            Self::String => "string",
            Self::Bool => "bool",
            Self::Object => "object",
            Self::Array => "array",
        }
    }
}

/// A full marker: a type code, possibly flagged as "array of".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker {
    /// The element type.
    pub code: TypeCode,
    /// Whether the value is an array of `code`.
    pub is_array: bool,
}

impl Marker {
    /// A scalar marker.
    #[must_use]
    pub const fn scalar(code: TypeCode) -> Self {
        Self {
            code,
            is_array: false,
        }
    }

    /// An array-of-`code` marker.
    #[must_use]
    pub const fn array_of(code: TypeCode) -> Self {
        Self {
            code,
            is_array: true,
        }
    }

    /// Parses a marker byte; `None` if its type code is unknown.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match TypeCode::from_code(byte & !ARRAY_FLAG) {
            Some(code) => Some(Self {
                code,
                is_array: byte & ARRAY_FLAG != 0,
            }),
            None => None,
        }
    }

    /// The byte written on the wire.
    #[must_use]
    pub const fn to_byte(self) -> u8 {
        if self.is_array {
            self.code as u8 | ARRAY_FLAG
        } else {
            self.code as u8
        }
    }
}

impl fmt::Debug for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_array {
            write!(f, "array of {}", self.code.name())
        } else {
            f.write_str(self.code.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_with_and_without_the_array_flag() {
        for code in 1..=13u8 {
            for flag in [0, ARRAY_FLAG] {
                let marker = Marker::from_byte(code | flag).unwrap();
                assert_eq!(marker.to_byte(), code | flag);
                assert_eq!(marker.is_array, flag != 0);
            }
        }
    }

    #[test]
    fn unknown_codes_are_rejected() {
        for byte in [0u8, 14, 0x7f, 0x80, 0x8e, 0xff] {
            assert!(Marker::from_byte(byte).is_none(), "{byte:#x}");
        }
    }
}
