//! Containers that monerod writes as one blob instead of an epee array
//! (`KV_SERIALIZE_CONTAINER_POD_AS_BLOB`): lists of hashes, of block weights, of indices.
//!
//! Both are views over the blob as it is on the wire, generic over where the blob lives:
//! `B = Bytes` (owned, sharing the input's memory) or `B = &[u8]` (borrowed). Decoding is a
//! length check; no item is copied until it is read.

use std::{fmt, marker::PhantomData};

use bytes::{BufMut, Bytes};

use crate::{
    EpeeValue, ErrorKind, Marker, Reader, Result, TypeCode, reader::Mark, value::write_string,
};

/// Where a blob lives: [`Bytes`] (owned, sharing the input's memory) or `&[u8]` (borrowed
/// from the input). Types with blobs in them are generic over it, so one type serves both
/// the owned and the borrowed decoding.
pub trait Blob: AsRef<[u8]> + Default {}

impl Blob for Bytes {}
impl Blob for &[u8] {}

/// A [`Blob`] that can be cut out of a [`Reader`]'s input: [`Bytes`] (sharing the input's
/// memory when the reader was made from [`Bytes`]) or `&'de [u8]` (borrowed).
///
/// Lets a type keep a whole validated stretch of the input, such as the elements of an
/// array, as one blob and read it again later instead of building a value per element.
pub trait InputBlob<'de>: Blob + EpeeValue<'de> {
    /// The input `r` has read since `mark` (a mark of `r`).
    fn read_since(r: &Reader<'de>, mark: Mark<'de>) -> Self;
}

impl<'de> InputBlob<'de> for Bytes {
    #[inline]
    fn read_since(r: &Reader<'de>, mark: Mark<'de>) -> Self {
        r.bytes_since(mark)
    }
}

impl<'de: 'a, 'a> InputBlob<'de> for &'a [u8] {
    #[inline]
    fn read_since(r: &Reader<'de>, mark: Mark<'de>) -> Self {
        r.read_since(mark)
    }
}

/// A list of `N`-byte items (block ids, tx hashes) stored as one contiguous blob.
///
/// Items are read in place through [`ByteArrayVec::as_slice`]. A blob whose length is not a
/// multiple of `N` is [`ErrorKind::NotMultiple`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ByteArrayVec<const N: usize, B = Bytes>(B);

impl<const N: usize> ByteArrayVec<N> {
    /// An empty list.
    #[must_use]
    pub const fn new() -> Self {
        Self(Bytes::new())
    }
}

impl<const N: usize, B: AsRef<[u8]>> ByteArrayVec<N, B> {
    /// Wraps a blob of concatenated `N`-byte items.
    ///
    /// # Errors
    /// [`ErrorKind::NotMultiple`] if its length is not a multiple of `N`.
    pub fn from_blob(blob: B) -> Result<Self> {
        let len = blob.as_ref().len();
        if N == 0 || !len.is_multiple_of(N) {
            return Err(ErrorKind::NotMultiple { len, item_size: N }.into());
        }
        Ok(Self(blob))
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_empty()
    }

    /// The items, borrowed in place.
    #[must_use]
    pub fn as_slice(&self) -> &[[u8; N]] {
        self.0.as_ref().as_chunks::<N>().0
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
    pub fn blob(&self) -> &B {
        &self.0
    }

    /// The underlying blob, by value.
    #[must_use]
    pub fn into_blob(self) -> B {
        self.0
    }
}

impl<const N: usize, B: AsRef<[u8]>> fmt::Debug for ByteArrayVec<N, B> {
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

impl<'a, const N: usize, B: AsRef<[u8]>> IntoIterator for &'a ByteArrayVec<N, B> {
    type Item = &'a [u8; N];
    type IntoIter = std::slice::Iter<'a, [u8; N]>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'de, const N: usize, B> EpeeValue<'de> for ByteArrayVec<N, B>
where
    B: EpeeValue<'de> + AsRef<[u8]> + Default,
{
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(crate::value::wrong_type(Self::MARKER, marker));
        }
        Self::from_blob(B::read(r, marker)?)
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        write_string(w, self.0.as_ref())
    }

    fn missing() -> Option<Self> {
        Some(Self(B::default()))
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
    /// Reads from the first [`PodLe::SIZE`] bytes, zero-extending a shorter slice.
    fn from_le_prefix(bytes: &[u8]) -> Self;
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
            fn from_le_prefix(bytes: &[u8]) -> Self {
                let mut raw = [0u8; size_of::<$ty>()];
                for (dst, src) in raw.iter_mut().zip(bytes) {
                    *dst = *src;
                }
                <$ty>::from_le_bytes(raw)
            }
            #[inline]
            fn put_le<B: BufMut>(self, w: &mut B) {
                w.put_slice(&self.to_le_bytes());
            }
        }
    )*};
}

pod_le!(u16, u32, u64, i16, i32, i64);

/// Numbers that monerod stores as one blob of little-endian values (`m_block_weights`,
/// `missing_tx_indices`), kept as that blob and read on access.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ContainerAsBlob<T, B = Bytes> {
    blob: B,
    item: PhantomData<T>,
}

impl<T: PodLe, B: AsRef<[u8]>> ContainerAsBlob<T, B> {
    /// Wraps a blob of little-endian items.
    ///
    /// # Errors
    /// [`ErrorKind::NotMultiple`] if its length is not a multiple of the item size.
    pub fn from_blob(blob: B) -> Result<Self> {
        let len = blob.as_ref().len();
        if !len.is_multiple_of(T::SIZE) {
            return Err(ErrorKind::NotMultiple {
                len,
                item_size: T::SIZE,
            }
            .into());
        }
        Ok(Self {
            blob,
            item: PhantomData,
        })
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.blob.as_ref().len() / T::SIZE
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blob.as_ref().is_empty()
    }

    /// Item `index`, if there is one.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        let start = index.checked_mul(T::SIZE)?;
        self.blob
            .as_ref()
            .get(start..start.checked_add(T::SIZE)?)
            .and_then(T::from_le_slice)
    }

    /// Iterates over the items.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        // Every chunk of `chunks_exact` has exactly `T::SIZE` bytes.
        self.blob
            .as_ref()
            .chunks_exact(T::SIZE)
            .map(T::from_le_prefix)
    }

    /// The items, copied into a vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// The underlying blob.
    #[must_use]
    pub fn blob(&self) -> &B {
        &self.blob
    }
}

impl<T: PodLe + fmt::Debug, B: AsRef<[u8]>> fmt::Debug for ContainerAsBlob<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len() <= 16 {
            f.debug_list().entries(self.iter()).finish()
        } else {
            write!(f, "ContainerAsBlob[{} items]", self.len())
        }
    }
}

impl<T: PodLe> From<&[T]> for ContainerAsBlob<T> {
    fn from(items: &[T]) -> Self {
        items.iter().copied().collect()
    }
}

impl<T: PodLe> From<Vec<T>> for ContainerAsBlob<T> {
    fn from(items: Vec<T>) -> Self {
        Self::from(items.as_slice())
    }
}

impl<T: PodLe> FromIterator<T> for ContainerAsBlob<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut blob = Vec::new();
        for item in iter {
            item.put_le(&mut blob);
        }
        Self {
            blob: Bytes::from(blob),
            item: PhantomData,
        }
    }
}

impl<'de, T, B> EpeeValue<'de> for ContainerAsBlob<T, B>
where
    T: PodLe,
    B: EpeeValue<'de> + AsRef<[u8]> + Default,
{
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(crate::value::wrong_type(Self::MARKER, marker));
        }
        Self::from_blob(B::read(r, marker)?)
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        write_string(w, self.blob.as_ref())
    }

    fn missing() -> Option<Self> {
        Some(Self {
            blob: B::default(),
            item: PhantomData,
        })
    }

    fn should_write(&self) -> bool {
        !self.is_empty()
    }
}
