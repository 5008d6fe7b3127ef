//! The bounded, zero-copy reader that typed decoders and the skipper share.

use bytes::Bytes;

use crate::{ErrorKind, Limits, Marker, Result, TypeCode, varint};

/// At most this many bytes are reserved up front for the elements of one array; beyond it a
/// vector grows only as elements are actually decoded (each of which consumes input).
const MAX_PREALLOC_BYTES: usize = 1 << 20;

/// A position in a [`Reader`]'s input ([`Reader::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct Mark<'a>(&'a [u8]);

/// A cursor over epee input that enforces [`Limits`].
///
/// Typed decoders ([`crate::EpeeValue::read`]) pull values from it. Strings are handed out
/// borrowed (`&'a [u8]`), or as [`Bytes`] that share the input's memory when the reader was
/// made from a [`Bytes`] ([`Reader::new`]); a reader over a plain slice
/// ([`Reader::from_slice`]) copies what it must hand out as [`Bytes`]. All counters (depth,
/// objects, fields, strings) are checked before anything is reserved for what they count.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The whole input as [`Bytes`], for zero-copy slicing, when there is one.
    src: Option<&'a Bytes>,
    /// What is left to read; always a suffix of `src`.
    rest: &'a [u8],
    limits: Limits,
    /// What is left of each budget (the limits minus what was used), so each check is one
    /// comparison.
    depth_left: usize,
    objects_left: usize,
    fields_left: usize,
    strings_left: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `src`; [`Bytes`] values it hands out share `src`'s memory.
    #[must_use]
    pub fn new(src: &'a Bytes, limits: Limits) -> Self {
        Self {
            src: Some(src),
            ..Self::from_slice(src, limits)
        }
    }

    /// A reader over a plain slice; [`Bytes`] values it hands out are copies (borrowed
    /// values such as `&[u8]` are not).
    #[must_use]
    pub fn from_slice(src: &'a [u8], limits: Limits) -> Self {
        Self {
            src: None,
            rest: src,
            limits,
            depth_left: limits.max_depth,
            objects_left: limits.max_objects,
            fields_left: limits.max_fields,
            strings_left: limits.max_strings,
        }
    }

    /// The limits this reader enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes not yet read.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The current position, to get hold of what is read from here on as one blob
    /// ([`Reader::read_since`], [`Reader::bytes_since`], [`crate::InputBlob`]).
    #[must_use]
    #[inline(always)]
    pub fn mark(&self) -> Mark<'a> {
        Mark(self.rest)
    }

    /// The input read since `mark` (a mark of this reader), borrowed.
    #[must_use]
    #[inline(always)]
    pub fn read_since(&self, mark: Mark<'a>) -> &'a [u8] {
        let read = mark.0.len().saturating_sub(self.rest.len());
        mark.0.get(..read).unwrap_or_default()
    }

    /// The input read since `mark` (a mark of this reader) as [`Bytes`]: shared with the
    /// input (no copy) when the reader was made from [`Bytes`], copied otherwise.
    #[must_use]
    #[inline]
    pub fn bytes_since(&self, mark: Mark<'a>) -> Bytes {
        let read = self.read_since(mark);
        let shared = self.src.and_then(|src| {
            let start = src.len().checked_sub(mark.0.len())?;
            let end = start.checked_add(read.len())?;
            (end <= src.len()).then(|| src.slice(start..end))
        });
        shared.unwrap_or_else(|| Bytes::copy_from_slice(read))
    }

    /// Reads `n` bytes as a borrowed slice.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if fewer than `n` bytes remain.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(ErrorKind::Truncated {
                needed: n,
                remaining: self.rest.len(),
            }
            .into());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads `n` bytes as a [`Bytes`]: shared with the input (no copy) when the reader was
    /// made from [`Bytes`], copied otherwise.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if fewer than `n` bytes remain.
    #[inline(always)]
    pub fn take_bytes(&mut self, n: usize) -> Result<Bytes> {
        let Some(src) = self.src else {
            return self.take(n).map(Bytes::copy_from_slice);
        };
        let start = src.len() - self.rest.len();
        self.take(n)?;
        Ok(src.slice(start..start + n))
    }

    /// Reads a fixed-size array of bytes.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if fewer than `N` bytes remain.
    #[inline]
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(ErrorKind::Truncated {
                needed: N,
                remaining: self.rest.len(),
            }
            .into()),
        }
    }

    /// Reads a fixed-size array of bytes if that many remain, else leaves the reader as it
    /// is and returns `None`.
    #[inline(always)]
    pub fn try_read_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] at the end of input.
    #[inline(always)]
    pub fn read_u8(&mut self) -> Result<u8> {
        match self.rest.split_first() {
            Some((byte, tail)) => {
                self.rest = tail;
                Ok(*byte)
            }
            None => Err(ErrorKind::Truncated {
                needed: 1,
                remaining: 0,
            }
            .into()),
        }
    }

    /// Reads an epee varint.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if the input ends inside it.
    #[inline(always)]
    pub fn read_varint(&mut self) -> Result<u64> {
        let (value, rest) = varint::split_varint(self.rest)?;
        self.rest = rest;
        Ok(value)
    }

    /// Reads a varint that counts something held in memory.
    #[inline(always)]
    fn read_count(&mut self) -> Result<u64> {
        let value = self.read_varint()?;
        if usize::try_from(value).is_err() {
            return Err(ErrorKind::VarintTooLarge(value).into());
        }
        Ok(value)
    }

    /// Reads a type marker.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownType`] for an unknown type code, [`ErrorKind::Truncated`] at end of input.
    #[inline(always)]
    pub fn read_marker(&mut self) -> Result<Marker> {
        let byte = self.read_u8()?;
        match Marker::from_byte(byte) {
            Some(marker) => Ok(marker),
            None => Err(ErrorKind::UnknownType(byte).into()),
        }
    }

    /// Reads a field name: a length byte (1..=255) and that many bytes.
    ///
    /// # Errors
    /// [`ErrorKind::EmptyFieldName`] for a zero length, [`ErrorKind::Truncated`] at end of input.
    #[inline(always)]
    pub fn read_name(&mut self) -> Result<&'a [u8]> {
        let len = self.read_u8()?;
        if len == 0 {
            return Err(ErrorKind::EmptyFieldName.into());
        }
        self.take(usize::from(len))
    }

    /// Reads the field count at the start of an object and charges it to the field budget.
    ///
    /// # Errors
    /// [`ErrorKind::TooManyFields`] past [`Limits::max_fields`].
    #[inline(always)]
    pub fn read_field_count(&mut self) -> Result<usize> {
        let count = self.read_count()?;
        let budget = self.fields_left;
        match usize::try_from(count) {
            Ok(count) if count <= budget => {
                self.fields_left -= count;
                Ok(count)
            }
            _ => Err(ErrorKind::TooManyFields {
                max: self.limits.max_fields,
            }
            .into()),
        }
    }

    /// Reads the length of a string and checks it against the limits and the input; the
    /// caller then takes that many bytes. Each call counts one string.
    ///
    /// # Errors
    /// [`ErrorKind::TooManyStrings`], [`ErrorKind::StringTooLong`] or [`ErrorKind::Truncated`].
    #[inline(always)]
    pub fn read_string_len(&mut self) -> Result<usize> {
        if self.strings_left == 0 {
            return Err(ErrorKind::TooManyStrings {
                max: self.limits.max_strings,
            }
            .into());
        }
        self.strings_left -= 1;
        let len = self.read_count()?;
        match usize::try_from(len) {
            Ok(len) if len <= self.limits.max_string_len => {
                if len > self.rest.len() {
                    return Err(ErrorKind::Truncated {
                        needed: len,
                        remaining: self.rest.len(),
                    }
                    .into());
                }
                Ok(len)
            }
            _ => Err(ErrorKind::StringTooLong {
                len,
                max: self.limits.max_string_len,
            }
            .into()),
        }
    }

    /// Reads a string's bytes, borrowed from the input.
    ///
    /// # Errors
    /// As [`Reader::read_string_len`].
    #[inline(always)]
    pub fn read_string(&mut self) -> Result<&'a [u8]> {
        let len = self.read_string_len()?;
        self.take(len)
    }

    /// Reads a string's bytes as [`Bytes`] sharing the input's memory.
    ///
    /// # Errors
    /// As [`Reader::read_string_len`].
    #[inline(always)]
    pub fn read_string_bytes(&mut self) -> Result<Bytes> {
        let len = self.read_string_len()?;
        self.take_bytes(len)
    }

    /// Reads the element count of an array of `element` values and checks it against the
    /// limits and against what the remaining input can hold.
    ///
    /// # Errors
    /// [`ErrorKind::ArrayTooLong`], [`ErrorKind::TooManyObjects`] or [`ErrorKind::TooManyStrings`].
    #[inline(always)]
    pub fn read_array_len(&mut self, element: TypeCode) -> Result<usize> {
        let len = self.read_count()?;
        let fits_input = self.rest.len() / element.min_element_size();
        let max = self.limits.max_array_len.min(fits_input);
        let len = match usize::try_from(len) {
            Ok(n) if n <= max => n,
            _ => return Err(ErrorKind::ArrayTooLong { len, max }.into()),
        };
        // Objects and strings are also charged one by one as they are read; checking here
        // first means no vector is ever sized beyond what the budget allows.
        match element {
            TypeCode::Object if len > self.objects_left => Err(ErrorKind::TooManyObjects {
                max: self.limits.max_objects,
            }
            .into()),
            TypeCode::String if len > self.strings_left => Err(ErrorKind::TooManyStrings {
                max: self.limits.max_strings,
            }
            .into()),
            _ => Ok(len),
        }
    }

    /// A capacity to reserve for `len` elements of `T`: never more than a fixed byte budget,
    /// so memory grows with the input actually decoded, not with a declared length.
    #[must_use]
    pub fn prealloc<T>(len: usize) -> usize {
        len.min(MAX_PREALLOC_BYTES / size_of::<T>().max(1))
    }

    /// Runs `read` one nesting level deeper (an object's fields or an array's elements).
    ///
    /// # Errors
    /// [`ErrorKind::TooDeep`] past [`Limits::max_depth`], or whatever `read` returns.
    #[inline]
    pub fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth_left == 0 {
            return Err(ErrorKind::TooDeep {
                max: self.limits.max_depth,
            }
            .into());
        }
        self.depth_left -= 1;
        let result = read(self);
        self.depth_left += 1;
        result
    }

    /// Reads a nested object (not the root): charges it to the object budget and reads its
    /// fields one level deeper.
    ///
    /// # Errors
    /// [`ErrorKind::TooManyObjects`], [`ErrorKind::TooDeep`] or whatever `read` returns.
    #[inline]
    pub fn object<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.objects_left == 0 {
            return Err(ErrorKind::TooManyObjects {
                max: self.limits.max_objects,
            }
            .into());
        }
        self.objects_left -= 1;
        self.nested(read)
    }

    /// Turns the marker of a value that must be an array into the array's own marker.
    ///
    /// Arrays normally carry the array flag in their marker. monerod's reader also accepts a
    /// bare "array" type code (13, without the flag) followed by the real array marker; this
    /// reads that second marker when it is there.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if the marker is not an array marker.
    #[inline]
    pub fn resolve_array_marker(&mut self, marker: Marker) -> Result<Marker> {
        let marker = if marker == Marker::scalar(TypeCode::Array) {
            self.read_marker()?
        } else {
            marker
        };
        if marker.is_array {
            Ok(marker)
        } else {
            Err(ErrorKind::WrongType {
                expected: Marker::array_of(TypeCode::Array),
                found: marker,
            }
            .into())
        }
    }

    /// Skips one value of type `marker`, with the same limits as decoding it.
    ///
    /// This is how unknown fields are passed over: an attacker gains nothing by hiding
    /// a deep or huge structure in a field we do not know.
    ///
    /// # Errors
    /// Whatever decoding the value would return.
    pub fn skip_value(&mut self, marker: Marker) -> Result<()> {
        if marker.is_array {
            return self.nested(|r| r.skip_array_body(marker.code));
        }
        self.skip_scalar(marker.code)
    }

    fn skip_scalar(&mut self, code: TypeCode) -> Result<()> {
        match code {
            TypeCode::String => self.read_string().map(drop),
            TypeCode::Object => self.object(Self::skip_object_body),
            TypeCode::Bool => {
                let byte = self.read_u8()?;
                if byte > 1 {
                    Err(ErrorKind::InvalidBool(byte).into())
                } else {
                    Ok(())
                }
            }
            // A bare "array" marker without the array flag: monerod reads the element
            // marker next (an array value stored as a scalar).
            TypeCode::Array => {
                let inner = self.resolve_array_marker(Marker::scalar(TypeCode::Array))?;
                self.skip_value(inner)
            }
            fixed => {
                let size = fixed.fixed_size().unwrap_or(0);
                self.take(size).map(drop)
            }
        }
    }

    fn skip_object_body(&mut self) -> Result<()> {
        let count = self.read_field_count()?;
        for _ in 0..count {
            self.read_name()?;
            let marker = self.read_marker()?;
            self.skip_value(marker)?;
        }
        Ok(())
    }

    fn skip_array_body(&mut self, element: TypeCode) -> Result<()> {
        let len = self.read_array_len(element)?;
        if let Some(size) = element.fixed_size() {
            if element == TypeCode::Bool {
                for byte in self.take(len)? {
                    if *byte > 1 {
                        return Err(ErrorKind::InvalidBool(*byte).into());
                    }
                }
                return Ok(());
            }
            return self.take(len * size).map(drop);
        }
        for _ in 0..len {
            match element {
                TypeCode::Array => {
                    let inner = self.read_marker()?;
                    let inner = self.resolve_array_marker(inner)?;
                    self.skip_value(inner)?;
                }
                other => self.skip_scalar(other)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_read_since_a_mark_is_borrowed_or_shared() {
        let input = Bytes::from_static(b"\x08ab\x0ccde-rest");
        let mut r = Reader::new(&input, Limits::default());
        r.read_u8().unwrap();
        let mark = r.mark();
        assert_eq!(r.read_since(mark), b"");
        r.take(2).unwrap();
        r.read_string().unwrap();
        assert_eq!(r.read_since(mark), b"ab\x0ccde");
        let shared = r.bytes_since(mark);
        assert_eq!(shared, &b"ab\x0ccde"[..]);
        assert!(input.as_ptr_range().contains(&shared.as_ptr()), "copied");

        // Over a plain slice the bytes are a copy, with the same content.
        let mut r = Reader::from_slice(&input, Limits::default());
        let mark = r.mark();
        r.take(3).unwrap();
        assert_eq!(r.bytes_since(mark), &b"\x08ab"[..]);
        assert_eq!(r.read_since(mark), b"\x08ab");
    }

    #[test]
    fn a_varint_moves_the_reader_past_exactly_its_width() {
        for (input, value, width) in [
            (&b"\x04xyz"[..], 1, 1),
            (b"\xb1\x04xyz", 300, 2),
            (b"\x02\x00\x01\x00xyz", 16_384, 4),
        ] {
            let mut r = Reader::from_slice(input, Limits::default());
            assert_eq!(r.read_varint().unwrap(), value);
            assert_eq!(r.remaining(), input.len() - width);
        }
        let mut r = Reader::from_slice(b"\x03\x00", Limits::default());
        assert!(matches!(
            r.read_varint().unwrap_err().kind(),
            ErrorKind::Truncated {
                needed: 8,
                remaining: 2
            }
        ));
    }
}
