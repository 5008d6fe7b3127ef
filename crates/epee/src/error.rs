//! The error type of every epee operation.

use std::fmt;

use crate::Marker;

/// What went wrong while reading or writing epee.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before a value was complete.
    #[error("input truncated: needed {needed} more bytes, {remaining} remain")]
    Truncated {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The input does not start with epee's 9-byte signature and version.
    #[error("not epee: bad signature {found:02x?}")]
    BadSignature {
        /// The first bytes of the input (up to 9).
        found: Vec<u8>,
    },
    /// A type marker with an unknown type code.
    #[error("unknown type marker {0:#04x}")]
    UnknownType(u8),
    /// A value of another type than the one expected.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the reader expected.
        expected: Marker,
        /// The type in the input.
        found: Marker,
    },
    /// A required field is absent.
    #[error("missing required field {0:?}")]
    MissingField(&'static str),
    /// A field appears twice in one object.
    #[error("duplicate field {0:?}")]
    DuplicateField(String),
    /// A field name of length zero (monerod refuses them too).
    #[error("empty field name")]
    EmptyFieldName,
    /// A field name longer than 254 bytes cannot be written.
    #[error("field name of {0} bytes is longer than 254")]
    FieldNameTooLong(usize),
    /// A boolean byte other than 0 or 1.
    #[error("invalid bool byte {0:#04x}")]
    InvalidBool(u8),
    /// An integer that does not fit the field's type.
    #[error("integer {value} does not fit in {target}")]
    IntegerOutOfRange {
        /// The value in the input.
        value: i128,
        /// The Rust type of the field.
        target: &'static str,
    },
    /// A fixed-size blob (a hash, a key, an id) of the wrong length.
    #[error("expected a string of {expected} bytes, found {found}")]
    WrongLength {
        /// Required length.
        expected: usize,
        /// Length in the input.
        found: usize,
    },
    /// A blob holding fixed-size items whose length is not a multiple of the item size.
    #[error("blob of {len} bytes is not a whole number of {item_size}-byte items")]
    NotMultiple {
        /// Length of the blob.
        len: usize,
        /// Size of one item.
        item_size: usize,
    },
    /// A string that must be UTF-8 is not.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A varint value too large for epee's 62 bits, or for this platform's `usize`.
    #[error("varint value {0} is too large")]
    VarintTooLarge(u64),
    /// Objects and arrays nested deeper than [`crate::Limits::max_depth`].
    #[error("nesting deeper than the limit of {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More objects than [`crate::Limits::max_objects`].
    #[error("more than {max} objects")]
    TooManyObjects {
        /// The limit.
        max: usize,
    },
    /// More fields than [`crate::Limits::max_fields`].
    #[error("more than {max} fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// More strings than [`crate::Limits::max_strings`].
    #[error("more than {max} strings")]
    TooManyStrings {
        /// The limit.
        max: usize,
    },
    /// A string longer than [`crate::Limits::max_string_len`].
    #[error("string of {len} bytes exceeds the limit of {max}")]
    StringTooLong {
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// An array longer than [`crate::Limits::max_array_len`], or longer than the remaining
    /// input could possibly hold.
    #[error("array of {len} elements exceeds the limit of {max}")]
    ArrayTooLong {
        /// Declared length.
        len: u64,
        /// The limit that applied (the configured one, or what the remaining bytes can hold).
        max: usize,
    },
    /// A value that is well-formed epee but not a valid value of the Rust type.
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// An epee error: what went wrong ([`ErrorKind`]) and the path of fields to where.
///
/// The message names the path to the bad input
/// (`in field "payload_data": in field "top_id": expected a string of 32 bytes, found 31`).
/// The error is one pointer wide, so that every `Result` of the decoder stays small and is
/// returned in registers; it is only allocated when something is wrong.
#[derive(Clone, PartialEq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    /// Field names, innermost first.
    path: Vec<&'static str>,
}

impl Error {
    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Wraps `self` as having happened inside field `field`.
    #[must_use]
    #[cold]
    pub fn in_field(mut self, field: &'static str) -> Self {
        self.0.path.push(field);
        self
    }

    /// The names of the fields, outermost first, that lead to the error.
    #[must_use]
    pub fn field_path(&self) -> Vec<&'static str> {
        self.0.path.iter().rev().copied().collect()
    }
}

impl ErrorKind {
    /// This error, as having happened inside field `field`.
    #[must_use]
    #[cold]
    pub fn in_field(self, field: &'static str) -> Error {
        Error::from(self).in_field(field)
    }
}

impl From<ErrorKind> for Error {
    #[cold]
    fn from(kind: ErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            path: Vec::new(),
        }))
    }
}

impl PartialEq<ErrorKind> for Error {
    /// An error equals a kind when it has that kind at the top level (no field path).
    fn eq(&self, kind: &ErrorKind) -> bool {
        self.0.path.is_empty() && &self.0.kind == kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for field in self.0.path.iter().rev() {
            write!(f, "in field {field:?}: ")?;
        }
        fmt::Display::fmt(&self.0.kind, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("path", &self.field_path())
            .finish()
    }
}

impl std::error::Error for Error {}

/// Result of epee operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
