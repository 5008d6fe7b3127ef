//! [`EpeeValue`]: how one Rust type is read from and written to epee, and its
//! implementations for scalars, strings, blobs, arrays and optional values.

use bytes::{BufMut, Bytes};

use crate::ErrorKind;
use crate::{Error, Marker, Reader, Result, TypeCode, varint::write_varint};

/// A Rust type that can be a field value in an epee object.
///
/// `'de` is the lifetime of the input: types that borrow from it (`&'de [u8]` blobs) are
/// values for that lifetime only, owned types for every lifetime — the same scheme as
/// serde's `Deserialize<'de>`.
///
/// The marker byte is read (or written) by the enclosing object; `read` and `write` handle
/// what follows it. Types with a natural "absent" value (containers, `Option`) say so through
/// [`EpeeValue::missing`] and [`EpeeValue::should_write`], which is how monerod's habit of
/// omitting empty containers is reproduced byte for byte.
pub trait EpeeValue<'de>: Sized {
    /// The marker this type is written with.
    const MARKER: Marker;

    /// Reads a value whose marker, `marker`, has just been read.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if `marker` is not one this type accepts, or any decoding error.
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self>;

    /// Writes the value's bytes (everything after the marker).
    ///
    /// # Errors
    /// Only for values epee cannot represent (e.g. a length above 2^62).
    fn write<B: BufMut>(&self, w: &mut B) -> Result<()>;

    /// The value of a field that is absent from the input, if absence is allowed.
    fn missing() -> Option<Self> {
        None
    }

    /// Whether a field holding this value is written at all.
    fn should_write(&self) -> bool {
        true
    }

    /// The marker of this particular value: [`EpeeValue::MARKER`] for every type whose
    /// shape is fixed; only dynamic values ([`crate::Value`]) differ.
    fn marker(&self) -> Marker {
        Self::MARKER
    }
}

/// Error for a marker that does not fit `T`.
#[cold]
pub(crate) fn wrong_type(expected: Marker, found: Marker) -> Error {
    ErrorKind::WrongType { expected, found }.into()
}

/// Reads any of the eight integer types as an `i128`, for lenient integer conversion.
fn read_any_integer(r: &mut Reader<'_>, code: TypeCode) -> Result<i128> {
    Ok(match code {
        TypeCode::I64 => i64::from_le_bytes(r.read_array()?).into(),
        TypeCode::I32 => i32::from_le_bytes(r.read_array()?).into(),
        TypeCode::I16 => i16::from_le_bytes(r.read_array()?).into(),
        TypeCode::I8 => i8::from_le_bytes(r.read_array()?).into(),
        TypeCode::U64 => u64::from_le_bytes(r.read_array()?).into(),
        TypeCode::U32 => u32::from_le_bytes(r.read_array()?).into(),
        TypeCode::U16 => u16::from_le_bytes(r.read_array()?).into(),
        TypeCode::U8 => r.read_u8()?.into(),
        other => {
            return Err(
                ErrorKind::Invalid(format!("{} is not an integer type", other.name())).into(),
            );
        }
    })
}

/// The uncommon paths of integer decoding, out of line: another integer width (converted
/// if it fits), the wrong type, or input too short.
#[cold]
#[inline(never)]
fn read_integer_slow(
    r: &mut Reader<'_>,
    marker: Marker,
    expected: Marker,
    _target: &'static str,
) -> Result<i128> {
    if marker.is_array || !marker.code.is_integer() {
        return Err(wrong_type(expected, marker));
    }
    read_any_integer(r, marker.code)
}

macro_rules! integer_value {
    ($($ty:ty => $code:ident),* $(,)?) => {$(
        impl<'de> EpeeValue<'de> for $ty {
            const MARKER: Marker = Marker::scalar(TypeCode::$code);

            /// Reads the integer. Like monerod, any integer type is accepted when the
            /// value fits; anything else is [`ErrorKind::WrongType`].
            #[inline(always)]
            fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
                if marker == Self::MARKER
                    && let Some(bytes) = r.try_read_array()
                {
                    return Ok(<$ty>::from_le_bytes(bytes));
                }
                read_integer_slow(r, marker, Self::MARKER, stringify!($ty)).and_then(|value| {
                    <$ty>::try_from(value).map_err(|_| {
                        ErrorKind::IntegerOutOfRange { value, target: stringify!($ty) }.into()
                    })
                })
            }

            #[inline]
            fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
                w.put_slice(&self.to_le_bytes());
                Ok(())
            }
        }
    )*};
}

integer_value! {
    i64 => I64, i32 => I32, i16 => I16, i8 => I8,
    u64 => U64, u32 => U32, u16 => U16, u8 => U8,
}

impl<'de> EpeeValue<'de> for f64 {
    const MARKER: Marker = Marker::scalar(TypeCode::F64);

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        Ok(f64::from_le_bytes(r.read_array()?))
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        w.put_f64_le(*self);
        Ok(())
    }
}

impl<'de> EpeeValue<'de> for bool {
    const MARKER: Marker = Marker::scalar(TypeCode::Bool);

    #[inline(always)]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        match r.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(ErrorKind::InvalidBool(other).into()),
        }
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        w.put_u8(u8::from(*self));
        Ok(())
    }
}

/// Writes a string value: varint length, then the bytes.
#[inline]
pub(crate) fn write_string<B: BufMut>(w: &mut B, bytes: &[u8]) -> Result<()> {
    write_varint(w, bytes.len() as u64)?;
    w.put_slice(bytes);
    Ok(())
}

/// A blob: epee's string type holding arbitrary bytes, sharing the input's memory when the
/// input is [`Bytes`] (no copy).
impl<'de> EpeeValue<'de> for Bytes {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline(always)]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        r.read_string_bytes()
    }

    #[inline]
    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_string(w, self)
    }
}

/// A blob borrowed from the input: no copy and no reference count.
impl<'de: 'a, 'a> EpeeValue<'de> for &'a [u8] {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline(always)]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        r.read_string()
    }

    #[inline]
    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_string(w, self)
    }
}

/// A text string: epee's string type, required to be UTF-8.
impl<'de> EpeeValue<'de> for String {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        let bytes = r.read_string()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| ErrorKind::InvalidUtf8.into())
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_string(w, self.as_bytes())
    }
}

/// A fixed-size blob (a hash, a key, a 16-byte network id): a string of exactly `N` bytes,
/// as monerod's `KV_SERIALIZE_VAL_POD_AS_BLOB` writes it.
impl<'de, const N: usize> EpeeValue<'de> for [u8; N] {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline(always)]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        let bytes = r.read_string()?;
        match <[u8; N]>::try_from(bytes) {
            Ok(array) => Ok(array),
            Err(_) => Err(ErrorKind::WrongLength {
                expected: N,
                found: bytes.len(),
            }
            .into()),
        }
    }

    #[inline]
    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_string(w, self)
    }
}

/// An epee array of `T`. An absent field decodes as empty and an empty vector is not
/// written, as monerod does.
impl<'de, T: EpeeValue<'de>> EpeeValue<'de> for Vec<T> {
    const MARKER: Marker = Marker::array_of(T::MARKER.code_for_array_element());

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        let marker = r.resolve_array_marker(marker)?;
        if marker != Self::MARKER {
            return Err(wrong_type(Self::MARKER, marker));
        }
        r.nested(|r| {
            let len = r.read_array_len(marker.code)?;
            let mut items = Vec::with_capacity(Reader::prealloc::<T>(len));
            for _ in 0..len {
                let item = if T::MARKER.is_array {
                    // Elements of an array of arrays carry their own marker.
                    let inner = r.read_marker()?;
                    T::read(r, inner)?
                } else {
                    T::read(r, T::MARKER)?
                };
                items.push(item);
            }
            Ok(items)
        })
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_varint(w, self.len() as u64)?;
        for item in self {
            if T::MARKER.is_array {
                w.put_u8(T::MARKER.to_byte());
            }
            item.write(w)?;
        }
        Ok(())
    }

    fn missing() -> Option<Self> {
        Some(Vec::new())
    }

    fn should_write(&self) -> bool {
        !self.is_empty()
    }
}

/// An optional field: absent in the input is `None`, and `None` is not written.
impl<'de, T: EpeeValue<'de>> EpeeValue<'de> for Option<T> {
    const MARKER: Marker = T::MARKER;

    #[inline]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        T::read(r, marker).map(Some)
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        match self {
            Some(value) => value.write(w),
            None => Ok(()),
        }
    }

    fn missing() -> Option<Self> {
        Some(None)
    }

    fn should_write(&self) -> bool {
        self.as_ref().is_some_and(T::should_write)
    }

    fn marker(&self) -> Marker {
        self.as_ref().map_or(T::MARKER, T::marker)
    }
}

impl Marker {
    /// The element code of an array whose elements are written with `self`: an array
    /// element that is itself an array is code 13 ("array").
    #[must_use]
    pub const fn code_for_array_element(self) -> TypeCode {
        if self.is_array {
            TypeCode::Array
        } else {
            self.code
        }
    }
}
