//! The bounded, zero-copy reader that typed decoders and the skipper share.

use bytes::Bytes;

use crate::{Error, Limits, Marker, Result, TypeCode, varint};

/// At most this many bytes are reserved up front for the elements of one array; beyond it a
/// vector grows only as elements are actually decoded (each of which consumes input).
const MAX_PREALLOC_BYTES: usize = 1 << 20;

/// A cursor over epee input that enforces [`Limits`].
///
/// Typed decoders ([`crate::EpeeValue::read`]) pull values from it; strings are handed out
/// as slices of the underlying [`Bytes`] without copying. All counters (depth, objects,
/// fields, strings) are checked before anything is reserved for what they count.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The whole input, for zero-copy slicing.
    src: &'a Bytes,
    /// What is left to read; always a suffix of `src`.
    rest: &'a [u8],
    limits: Limits,
    depth: usize,
    objects: usize,
    fields: usize,
    strings: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `src`.
    #[must_use]
    pub fn new(src: &'a Bytes, limits: Limits) -> Self {
        Self {
            src,
            rest: src.as_ref(),
            limits,
            depth: 0,
            objects: 0,
            fields: 0,
            strings: 0,
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

    /// Reads `n` bytes as a borrowed slice.
    ///
    /// # Errors
    /// [`Error::Truncated`] if fewer than `n` bytes remain.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(Error::Truncated {
                needed: n,
                remaining: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads `n` bytes as a [`Bytes`] that shares the input's memory (no copy).
    ///
    /// # Errors
    /// [`Error::Truncated`] if fewer than `n` bytes remain.
    #[inline]
    pub fn take_bytes(&mut self, n: usize) -> Result<Bytes> {
        let start = self.src.len() - self.rest.len();
        let slice = self.take(n)?;
        debug_assert_eq!(slice.len(), n);
        Ok(self.src.slice(start..start + n))
    }

    /// Reads a fixed-size array of bytes.
    ///
    /// # Errors
    /// [`Error::Truncated`] if fewer than `N` bytes remain.
    #[inline]
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(Error::Truncated {
                needed: N,
                remaining: self.rest.len(),
            }),
        }
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`Error::Truncated`] at the end of input.
    #[inline]
    pub fn read_u8(&mut self) -> Result<u8> {
        match self.rest.split_first() {
            Some((byte, tail)) => {
                self.rest = tail;
                Ok(*byte)
            }
            None => Err(Error::Truncated {
                needed: 1,
                remaining: 0,
            }),
        }
    }

    /// Reads an epee varint.
    ///
    /// # Errors
    /// [`Error::Truncated`] if the input ends inside it.
    #[inline]
    pub fn read_varint(&mut self) -> Result<u64> {
        let (value, used) = varint::read_varint(self.rest)?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Ok(value)
    }

    /// Reads a varint that counts something held in memory.
    fn read_count(&mut self) -> Result<u64> {
        let value = self.read_varint()?;
        if usize::try_from(value).is_err() {
            return Err(Error::VarintTooLarge(value));
        }
        Ok(value)
    }

    /// Reads a type marker.
    ///
    /// # Errors
    /// [`Error::UnknownType`] for an unknown type code, [`Error::Truncated`] at end of input.
    #[inline]
    pub fn read_marker(&mut self) -> Result<Marker> {
        let byte = self.read_u8()?;
        Marker::from_byte(byte).ok_or(Error::UnknownType(byte))
    }

    /// Reads a field name: a length byte (1..=255) and that many bytes.
    ///
    /// # Errors
    /// [`Error::EmptyFieldName`] for a zero length, [`Error::Truncated`] at end of input.
    #[inline]
    pub fn read_name(&mut self) -> Result<&'a [u8]> {
        let len = self.read_u8()?;
        if len == 0 {
            return Err(Error::EmptyFieldName);
        }
        self.take(usize::from(len))
    }

    /// Reads the field count at the start of an object and charges it to the field budget.
    ///
    /// # Errors
    /// [`Error::TooManyFields`] past [`Limits::max_fields`].
    #[inline]
    pub fn read_field_count(&mut self) -> Result<usize> {
        let count = self.read_count()?;
        let budget = self.limits.max_fields - self.fields.min(self.limits.max_fields);
        match usize::try_from(count) {
            Ok(count) if count <= budget => {
                self.fields += count;
                Ok(count)
            }
            _ => Err(Error::TooManyFields {
                max: self.limits.max_fields,
            }),
        }
    }

    /// Reads the length of a string and checks it against the limits and the input; the
    /// caller then takes that many bytes. Each call counts one string.
    ///
    /// # Errors
    /// [`Error::TooManyStrings`], [`Error::StringTooLong`] or [`Error::Truncated`].
    #[inline]
    pub fn read_string_len(&mut self) -> Result<usize> {
        if self.strings >= self.limits.max_strings {
            return Err(Error::TooManyStrings {
                max: self.limits.max_strings,
            });
        }
        self.strings += 1;
        let len = self.read_count()?;
        match usize::try_from(len) {
            Ok(len) if len <= self.limits.max_string_len => {
                if len > self.rest.len() {
                    return Err(Error::Truncated {
                        needed: len,
                        remaining: self.rest.len(),
                    });
                }
                Ok(len)
            }
            _ => Err(Error::StringTooLong {
                len,
                max: self.limits.max_string_len,
            }),
        }
    }

    /// Reads a string's bytes, borrowed from the input.
    ///
    /// # Errors
    /// As [`Reader::read_string_len`].
    #[inline]
    pub fn read_string(&mut self) -> Result<&'a [u8]> {
        let len = self.read_string_len()?;
        self.take(len)
    }

    /// Reads a string's bytes as [`Bytes`] sharing the input's memory.
    ///
    /// # Errors
    /// As [`Reader::read_string_len`].
    #[inline]
    pub fn read_string_bytes(&mut self) -> Result<Bytes> {
        let len = self.read_string_len()?;
        self.take_bytes(len)
    }

    /// Reads the element count of an array of `element` values and checks it against the
    /// limits and against what the remaining input can hold.
    ///
    /// # Errors
    /// [`Error::ArrayTooLong`], [`Error::TooManyObjects`] or [`Error::TooManyStrings`].
    #[inline]
    pub fn read_array_len(&mut self, element: TypeCode) -> Result<usize> {
        let len = self.read_count()?;
        let fits_input = self.rest.len() / element.min_element_size();
        let max = self.limits.max_array_len.min(fits_input);
        let len = match usize::try_from(len) {
            Ok(n) if n <= max => n,
            _ => return Err(Error::ArrayTooLong { len, max }),
        };
        // Objects and strings are also charged one by one as they are read; checking here
        // first means no vector is ever sized beyond what the budget allows.
        match element {
            TypeCode::Object if len > self.limits.max_objects.saturating_sub(self.objects) => {
                Err(Error::TooManyObjects {
                    max: self.limits.max_objects,
                })
            }
            TypeCode::String if len > self.limits.max_strings.saturating_sub(self.strings) => {
                Err(Error::TooManyStrings {
                    max: self.limits.max_strings,
                })
            }
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
    /// [`Error::TooDeep`] past [`Limits::max_depth`], or whatever `read` returns.
    #[inline]
    pub fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= self.limits.max_depth {
            return Err(Error::TooDeep {
                max: self.limits.max_depth,
            });
        }
        self.depth += 1;
        let result = read(self);
        self.depth -= 1;
        result
    }

    /// Reads a nested object (not the root): charges it to the object budget and reads its
    /// fields one level deeper.
    ///
    /// # Errors
    /// [`Error::TooManyObjects`], [`Error::TooDeep`] or whatever `read` returns.
    #[inline]
    pub fn object<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.objects >= self.limits.max_objects {
            return Err(Error::TooManyObjects {
                max: self.limits.max_objects,
            });
        }
        self.objects += 1;
        self.nested(read)
    }

    /// Turns the marker of a value that must be an array into the array's own marker.
    ///
    /// Arrays normally carry the array flag in their marker. monerod's reader also accepts a
    /// bare "array" type code (13, without the flag) followed by the real array marker; this
    /// reads that second marker when it is there.
    ///
    /// # Errors
    /// [`Error::WrongType`] if the marker is not an array marker.
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
            Err(Error::WrongType {
                expected: Marker::array_of(TypeCode::Array),
                found: marker,
            })
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
                    Err(Error::InvalidBool(byte))
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
                        return Err(Error::InvalidBool(*byte));
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
