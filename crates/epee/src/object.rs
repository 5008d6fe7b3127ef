//! Objects: [`EpeeObject`], the top-level entry points and the helpers the derive macro and
//! hand-written implementations share.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{EpeeValue, ErrorKind, Limits, Reader, Result, varint::write_varint};

/// The 9 bytes that start every epee document: two 32-bit signatures and the format
/// version (`PORTABLE_STORAGE_SIGNATUREA`, `…B`, `PORTABLE_STORAGE_FORMAT_VER`).
pub const SIGNATURE: [u8; 9] = [0x01, 0x11, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01];

/// A Rust type that is an epee object (a "section"): a set of named fields.
///
/// Usually derived with [`macro@crate::EpeeObject`]; implement it by hand for objects whose
/// shape depends on their content (such as a block entry, whose `txs` depend on `pruned`),
/// using [`write_field`] and the [`Reader`]. `'de` is the input's lifetime, as for
/// [`EpeeValue`].
pub trait EpeeObject<'de>: Sized {
    /// Reads an object's body: the field count and the fields.
    ///
    /// # Errors
    /// Any decoding error; missing required and duplicate fields included.
    fn read_fields(r: &mut Reader<'de>) -> Result<Self>;

    /// Writes an object's body: the field count and the fields, in byte order of their
    /// names (monerod keeps fields in a `std::map`, so this is the order it writes).
    ///
    /// # Errors
    /// Only for values epee cannot represent.
    fn write_fields<B: BufMut>(&self, w: &mut B) -> Result<()>;
}

/// Implements [`EpeeValue`] for a type that implements [`EpeeObject`], so it can be a field
/// or an array element. The derive macro does this itself; hand-written objects use this.
#[macro_export]
macro_rules! impl_value_for_object {
    ($ty:ty) => {
        impl<'de> $crate::EpeeValue<'de> for $ty {
            const MARKER: $crate::Marker = $crate::Marker::scalar($crate::TypeCode::Object);

            #[inline]
            fn read(r: &mut $crate::Reader<'de>, marker: $crate::Marker) -> $crate::Result<Self> {
                $crate::read_object_value(r, marker)
            }

            #[inline]
            fn write<B: $crate::bytes::BufMut>(&self, w: &mut B) -> $crate::Result<()> {
                <Self as $crate::EpeeObject>::write_fields(self, w)
            }
        }
    };
}

/// Reads a nested object value whose marker has been read (used by
/// [`impl_value_for_object!`] and the derive macro).
///
/// # Errors
/// [`ErrorKind::WrongType`] if `marker` is not "object", or any error of the object's fields.
#[inline]
pub fn read_object_value<'de, T: EpeeObject<'de>>(
    r: &mut Reader<'de>,
    marker: crate::Marker,
) -> Result<T> {
    const OBJECT: crate::Marker = crate::Marker::scalar(crate::TypeCode::Object);
    if marker != OBJECT {
        return Err(crate::value::wrong_type(OBJECT, marker));
    }
    r.object(T::read_fields)
}

/// Writes one field: name length, name, marker, value.
///
/// # Errors
/// [`ErrorKind::FieldNameTooLong`] for names over 254 bytes, [`ErrorKind::EmptyFieldName`] for an
/// empty name, or an error writing the value.
#[inline]
pub fn write_field<'de, T: EpeeValue<'de>, B: BufMut>(
    w: &mut B,
    name: &[u8],
    value: &T,
) -> Result<()> {
    let len = match u8::try_from(name.len()) {
        Ok(0) => return Err(ErrorKind::EmptyFieldName.into()),
        Ok(len) if len < u8::MAX => len,
        _ => return Err(ErrorKind::FieldNameTooLong(name.len()).into()),
    };
    w.put_u8(len);
    w.put_slice(name);
    w.put_u8(value.marker().to_byte());
    value.write(w)
}

/// Writes the field count at the start of an object body.
///
/// # Errors
/// Never in practice (the count would have to exceed 2^62).
#[inline]
pub fn write_field_count<B: BufMut>(w: &mut B, count: usize) -> Result<()> {
    write_varint(w, count as u64)
}

/// Decodes a complete epee document into `T` with the default [`Limits`] (monerod's P2P
/// limits).
///
/// Bytes after the root object are ignored, as monerod ignores them (they are the zero
/// padding of padded levin messages).
///
/// # Errors
/// [`ErrorKind::BadSignature`] if the signature is wrong, or any decoding error.
pub fn from_bytes<'de, T: EpeeObject<'de>>(bytes: &'de Bytes) -> Result<T> {
    from_bytes_with_limits(bytes, Limits::default())
}

/// Decodes a complete epee document into `T` with the given limits.
///
/// # Errors
/// As [`from_bytes`].
pub fn from_bytes_with_limits<'de, T: EpeeObject<'de>>(
    bytes: &'de Bytes,
    limits: Limits,
) -> Result<T> {
    read_document(Reader::new(bytes, limits))
}

/// Decodes a complete epee document from a plain slice, with the default [`Limits`].
///
/// Use it with types that borrow their blobs (`&[u8]`, `ByteArrayVec<N, &[u8]>`): nothing
/// is copied and no reference count is touched. [`Bytes`] fields are copied from a slice;
/// for those, [`from_bytes`] shares the input instead.
///
/// # Errors
/// As [`from_bytes`].
pub fn from_slice<'de, T: EpeeObject<'de>>(bytes: &'de [u8]) -> Result<T> {
    from_slice_with_limits(bytes, Limits::default())
}

/// [`from_slice`] with the given limits.
///
/// # Errors
/// As [`from_bytes`].
pub fn from_slice_with_limits<'de, T: EpeeObject<'de>>(
    bytes: &'de [u8],
    limits: Limits,
) -> Result<T> {
    read_document(Reader::from_slice(bytes, limits))
}

fn read_document<'de, T: EpeeObject<'de>>(mut r: Reader<'de>) -> Result<T> {
    read_signature(&mut r)?;
    r.nested(T::read_fields)
}

/// Checks and consumes the 9-byte signature.
///
/// # Errors
/// [`ErrorKind::BadSignature`].
pub fn read_signature(r: &mut Reader<'_>) -> Result<()> {
    let remaining = r.remaining();
    match r.read_array::<9>() {
        Ok(found) if found == SIGNATURE => Ok(()),
        Ok(found) => Err(ErrorKind::BadSignature {
            found: found.to_vec(),
        }
        .into()),
        Err(_) => Err(ErrorKind::BadSignature {
            found: r.take(remaining).map(<[u8]>::to_vec).unwrap_or_default(),
        }
        .into()),
    }
}

/// Encodes `value` as a complete epee document appended to `w`.
///
/// # Errors
/// Only for values epee cannot represent.
pub fn to_writer<'de, T: EpeeObject<'de>, B: BufMut>(value: &T, w: &mut B) -> Result<()> {
    w.put_slice(&SIGNATURE);
    value.write_fields(w)
}

/// Encodes `value` as a complete epee document.
///
/// # Errors
/// Only for values epee cannot represent.
pub fn to_bytes<'de, T: EpeeObject<'de>>(value: &T) -> Result<BytesMut> {
    let mut buf = BytesMut::with_capacity(256);
    to_writer(value, &mut buf)?;
    Ok(buf)
}
