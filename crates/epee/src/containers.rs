//! Containers that monerod writes as one blob instead of an epee array
//! (`KV_SERIALIZE_CONTAINER_POD_AS_BLOB`): lists of hashes, of block weights, of indices.

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::{EpeeValue, Error, Marker, Reader, Result, TypeCode, value::write_string};

/// A list of `N`-byte items (block ids, tx hashes) stored as one contiguous blob.
///
/// Decoding is zero-copy: the list shares the input's memory, and the items are read in
/// place through [`ByteArrayVec::as_slice`]. A blob whose length is not a multiple of `N`
/// is [`Error::NotMultiple`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ByteArrayVec<const N: usize>(Bytes);

impl<const N: usize> ByteArrayVec<N> {
    /// An empty list.
    #[must_use]
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// Wraps a blob of concatenated `N`-byte items.
    ///
    /// # Errors
    /// [`Error::NotMultiple`] if `bytes.len()` is not a multiple of `N`.
    pub fn from_bytes(bytes: Bytes) -> Result<Self> {
        if N == 0 || !bytes.len().is_multiple_of(N) {
            return Err(Error::NotMultiple {
                len: bytes.len(),
                item_size: N,
            });
        }
        Ok(Self(bytes))
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len().checked_div(N).unwrap_or(0)
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The items, borrowed in place.
    #[must_use]
    pub fn as_slice(&self) -> &[[u8; N]] {
        self.0.as_chunks::<N>().0
    }

    /// Item `index`, if there is one.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&[u8; N]> {
        self.as_slice().get(index)
    }

    /// Iterates over the items.
    pub fn iter(&self) -> std::slice::Iter<'_, [u8; N]> {
        self.as_slice().iter()
    }

    /// The underlying blob.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The underlying blob, by value.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl<const N: usize> fmt::Debug for ByteArrayVec<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteArrayVec<{N}>[{} items]", self.len())
    }
}

impl<const N: usize> From<&[[u8; N]]> for ByteArrayVec<N> {
    fn from(items: &[[u8; N]]) -> Self {
        Self(Bytes::from(items.as_flattened().to_vec()))
    }
}

impl<const N: usize> From<Vec<[u8; N]>> for ByteArrayVec<N> {
    fn from(items: Vec<[u8; N]>) -> Self {
        Self::from(items.as_slice())
    }
}

impl<const N: usize> FromIterator<[u8; N]> for ByteArrayVec<N> {
    fn from_iter<I: IntoIterator<Item = [u8; N]>>(iter: I) -> Self {
        let mut blob = Vec::new();
        for item in iter {
            blob.extend_from_slice(&item);
        }
        Self(Bytes::from(blob))
    }
}

impl<'a, const N: usize> IntoIterator for &'a ByteArrayVec<N> {
    type Item = &'a [u8; N];
    type IntoIter = std::slice::Iter<'a, [u8; N]>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<const N: usize> EpeeValue for ByteArrayVec<N> {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline]
    fn read(r: &mut Reader<'_>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(crate::value::wrong_type(Self::MARKER, marker));
        }
        Self::from_bytes(r.read_string_bytes()?)
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_string(w, &self.0)
    }

    fn missing() -> Option<Self> {
        Some(Self::new())
    }

    fn should_write(&self) -> bool {
        !self.is_empty()
    }
}

/// A fixed-size little-endian number that can sit in a [`ContainerAsBlob`].
pub trait PodLe: Copy + sealed::Sealed {
    /// Size in bytes.
    const SIZE: usize;
    /// Reads from exactly [`PodLe::SIZE`] bytes.
    fn from_le_slice(bytes: &[u8]) -> Option<Self>;
    /// Appends the little-endian bytes.
    fn put_le<B: BufMut>(self, w: &mut B);
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! pod_le {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl PodLe for $ty {
            const SIZE: usize = size_of::<$ty>();
            #[inline]
            fn from_le_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(<$ty>::from_le_bytes)
            }
            #[inline]
            fn put_le<B: BufMut>(self, w: &mut B) {
                w.put_slice(&self.to_le_bytes());
            }
        }
    )*};
}

pod_le!(u16, u32, u64, i16, i32, i64);

/// A vector of numbers that monerod stores as one blob of little-endian values
/// (e.g. `m_block_weights`, `missing_tx_indices`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ContainerAsBlob<T>(pub Vec<T>);

impl<T: PodLe> EpeeValue for ContainerAsBlob<T> {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    fn read(r: &mut Reader<'_>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(crate::value::wrong_type(Self::MARKER, marker));
        }
        let bytes = r.read_string()?;
        if !bytes.len().is_multiple_of(T::SIZE) {
            return Err(Error::NotMultiple {
                len: bytes.len(),
                item_size: T::SIZE,
            });
        }
        // The blob is in the input, so this allocation is bounded by the input size.
        bytes
            .chunks_exact(T::SIZE)
            .map(|chunk| T::from_le_slice(chunk).ok_or(Error::Invalid("short chunk".into())))
            .collect::<Result<Vec<T>>>()
            .map(Self)
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        crate::varint::write_varint(w, (self.0.len() * T::SIZE) as u64)?;
        for item in &self.0 {
            item.put_le(w);
        }
        Ok(())
    }

    fn missing() -> Option<Self> {
        Some(Self(Vec::new()))
    }

    fn should_write(&self) -> bool {
        !self.0.is_empty()
    }
}

impl<T> From<Vec<T>> for ContainerAsBlob<T> {
    fn from(items: Vec<T>) -> Self {
        Self(items)
    }
}
