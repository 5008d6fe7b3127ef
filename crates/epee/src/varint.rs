//! epee's varint: the two low bits of the first byte give the width (1, 2, 4 or 8 bytes),
//! the remaining bits, little-endian, give the value.
//!
//! This is not LEB128 (the Monero *consensus* varint); it is only used inside epee for
//! object field counts, array lengths and string lengths.

use bytes::BufMut;

use crate::Error;
use crate::ErrorKind;

/// Largest value a varint can carry (62 bits).
pub const MAX_VARINT: u64 = (1 << 62) - 1;

/// Number of bytes [`write_varint`] uses for `value`.
#[must_use]
pub const fn varint_len(value: u64) -> usize {
    if value <= 63 {
        1
    } else if value <= 16_383 {
        2
    } else if value <= 1_073_741_823 {
        4
    } else {
        8
    }
}

/// Writes `value` in the shortest width, as monerod's `pack_varint` does.
///
/// # Errors
/// [`ErrorKind::VarintTooLarge`] if `value` exceeds [`MAX_VARINT`].
#[inline]
pub fn write_varint<B: BufMut>(dst: &mut B, value: u64) -> Result<(), Error> {
    match varint_len(value) {
        1 => dst.put_u8((value as u8) << 2),
        2 => dst.put_u16_le(((value as u16) << 2) | 1),
        4 => dst.put_u32_le(((value as u32) << 2) | 2),
        _ => {
            if value > MAX_VARINT {
                return Err(ErrorKind::VarintTooLarge(value).into());
            }
            dst.put_u64_le((value << 2) | 3);
        }
    }
    Ok(())
}

/// Reads a varint from the start of `src`, returning the value and the number of bytes used.
///
/// # Errors
/// [`ErrorKind::Truncated`] if `src` ends inside the varint.
#[inline(always)]
pub fn read_varint(src: &[u8]) -> Result<(u64, usize), Error> {
    let (value, rest) = split_varint(src)?;
    Ok((value, src.len() - rest.len()))
}

/// Reads a varint from the start of `src`, returning the value and what follows it.
///
/// # Errors
/// [`ErrorKind::Truncated`] if `src` ends inside the varint.
#[inline(always)]
pub fn split_varint(src: &[u8]) -> Result<(u64, &[u8]), Error> {
    // No `ok_or(Error::…)`: an eagerly built error is also dropped on the success path,
    // through a call to `Error`'s drop glue.
    let Some((&first, after_first)) = src.split_first() else {
        return Err(ErrorKind::Truncated {
            needed: 1,
            remaining: 0,
        }
        .into());
    };
    // One fixed-size load per width: no variable-length copy (which compiles to a call to
    // `memcpy`), no error value built on the success path, and the rest of the input comes
    // out of the same split, with no second bounds check.
    let truncated = |width: usize| ErrorKind::Truncated {
        needed: width,
        remaining: src.len(),
    };
    let (raw, rest) = match first & 3 {
        0 => (u64::from(first), after_first),
        1 => match src.split_first_chunk::<2>() {
            Some((b, rest)) => (u64::from(u16::from_le_bytes(*b)), rest),
            None => return Err(truncated(2).into()),
        },
        2 => match src.split_first_chunk::<4>() {
            Some((b, rest)) => (u64::from(u32::from_le_bytes(*b)), rest),
            None => return Err(truncated(4).into()),
        },
        _ => match src.split_first_chunk::<8>() {
            Some((b, rest)) => (u64::from_le_bytes(*b), rest),
            None => return Err(truncated(8).into()),
        },
    };
    Ok((raw >> 2, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_switch_at_monerods_boundaries() {
        for (value, width) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16_383, 2),
            (16_384, 4),
            (1_073_741_823, 4),
            (1_073_741_824, 8),
            (MAX_VARINT, 8),
        ] {
            let mut buf = Vec::new();
            write_varint(&mut buf, value).unwrap();
            assert_eq!(buf.len(), width, "{value}");
            assert_eq!(read_varint(&buf).unwrap(), (value, width));
        }
    }

    #[test]
    fn known_encodings() {
        let mut buf = Vec::new();
        write_varint(&mut buf, 1).unwrap();
        assert_eq!(buf, [0x04]);
        buf.clear();
        write_varint(&mut buf, 300).unwrap();
        assert_eq!(buf, [0xb1, 0x04]);
    }

    #[test]
    fn too_large_is_an_error() {
        assert!(matches!(
            write_varint(&mut Vec::new(), MAX_VARINT + 1)
                .unwrap_err()
                .kind(),
            ErrorKind::VarintTooLarge(_)
        ));
    }

    #[test]
    fn truncated_is_an_error() {
        assert!(matches!(
            read_varint(&[]).unwrap_err().kind(),
            ErrorKind::Truncated { .. }
        ));
        assert!(matches!(
            read_varint(&[0x02, 0, 0]).unwrap_err().kind(),
            ErrorKind::Truncated { needed: 4, .. }
        ));
    }
}
