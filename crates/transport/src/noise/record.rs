//! Records: the sans-IO encoder and decoder of an established session.
//!
//! ```text
//! record = header (21 bytes) ‖ body (body_len + 16 bytes)
//! header = ChaCha20-Poly1305(nonce n,   body_len u16 BE ‖ pad_len u16 BE ‖ flags u8)  → 5 + 16 bytes
//! body   = ChaCha20-Poly1305(nonce n+1, data ‖ pad_len zero bytes)                   → body_len + 16 bytes
//! ```
//!
//! The header is authenticated before the body is read, so a length that lies (or was
//! flipped by the network) is refused before a single byte of body is buffered, and a
//! body is at most [`MAX_BODY`] bytes: Noise's 65,535-byte message limit minus the tag.
//! Each direction has its own key and counter; a record replayed, reordered, cut or
//! spliced fails its tag. Flags: [`REKEY`](flags::REKEY) (both ends apply Noise `REKEY`
//! to this direction's key after this record, so the point is announced inside the
//! encryption) and [`FIN`](flags::FIN) (the sender's last record: a clean end of stream,
//! which a cut connection cannot fake).

use rand::{RngCore, SeedableRng, rngs::StdRng};
use zeroize::Zeroizing;

use super::{
    config::Padding,
    crypto::{CipherError, DirectionCipher, KEY_LEN, TAG_LEN},
};

/// Plaintext length of a record header.
const HEADER_PLAIN: usize = 5;
/// Length of a record header on the wire.
pub const HEADER_LEN: usize = HEADER_PLAIN + TAG_LEN;
/// The most plaintext (data and padding) one record carries: Noise's 65,535-byte message
/// limit minus the 16-byte tag.
pub const MAX_BODY: usize = 65_535 - TAG_LEN;
/// The longest record on the wire.
pub const MAX_RECORD: usize = HEADER_LEN + MAX_BODY + TAG_LEN;

/// Record header flags.
pub mod flags {
    /// After this record, this direction's key is replaced by Noise `REKEY` of it.
    pub const REKEY: u8 = 0x01;
    /// The sender's last record: the end of its stream.
    pub const FIN: u8 = 0x02;
    /// Every flag this version knows; a record with any other bit set is refused.
    pub const KNOWN: u8 = REKEY | FIN;
}

/// Why a record was refused (or could not be made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The header failed authentication: corrupted, replayed, reordered, or not from
    /// this session.
    #[error("record header does not authenticate (corrupted, replayed or reordered)")]
    BadHeader,
    /// The body failed authentication.
    #[error("record body does not authenticate (corrupted, replayed or reordered)")]
    BadBody,
    /// The (authenticated) header announces a body longer than any record may have.
    #[error("record header announces a {body_len}-byte body, over the {MAX_BODY}-byte limit")]
    TooLong {
        /// What it announced.
        body_len: usize,
    },
    /// The header announces more padding than body.
    #[error("record header announces {pad_len} bytes of padding in a {body_len}-byte body")]
    BadPadding {
        /// The body length it announced.
        body_len: usize,
        /// The padding it announced.
        pad_len: usize,
    },
    /// The header has flags this version does not know.
    #[error("record header has unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// The connection ended inside a record, or without the sender's final record.
    #[error("the connection ended without the peer's final record (truncated)")]
    Truncated,
    /// A record came after the peer's final one.
    #[error("a record came after the peer's final record")]
    AfterFin,
    /// The key has sealed 2^64 - 1 messages.
    #[error("the session's nonces are used up")]
    Exhausted,
    /// More data than one record carries was given to the encoder, or an output buffer
    /// was too small (a bug in the caller).
    #[error("record buffer too small or data too long")]
    Buffer,
    /// An earlier record was refused: the session is over.
    #[error("an earlier record was refused; the session is over")]
    Failed,
}

impl From<CipherError> for RecordError {
    fn from(error: CipherError) -> Self {
        match error {
            CipherError::Decrypt => Self::BadBody,
            CipherError::Exhausted => Self::Exhausted,
            CipherError::Buffer => Self::Buffer,
        }
    }
}

/// What a record's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Plaintext bytes in the body: data and padding.
    pub body_len: u16,
    /// Of which padding (at the end).
    pub pad_len: u16,
    /// [`flags`].
    pub flags: u8,
}

impl RecordHeader {
    /// Length of the whole record on the wire.
    #[must_use]
    pub fn record_len(self) -> usize {
        HEADER_LEN + usize::from(self.body_len) + TAG_LEN
    }

    /// Bytes of data the record carries.
    #[must_use]
    pub fn data_len(self) -> usize {
        usize::from(self.body_len).saturating_sub(usize::from(self.pad_len))
    }

    fn to_bytes(self) -> [u8; HEADER_PLAIN] {
        let [b0, b1] = self.body_len.to_be_bytes();
        let [p0, p1] = self.pad_len.to_be_bytes();
        [b0, b1, p0, p1, self.flags]
    }

    fn from_bytes(bytes: [u8; HEADER_PLAIN]) -> Self {
        let [b0, b1, p0, p1, flags] = bytes;
        Self {
            body_len: u16::from_be_bytes([b0, b1]),
            pad_len: u16::from_be_bytes([p0, p1]),
            flags,
        }
    }

    fn check(self) -> Result<Self, RecordError> {
        let body_len = usize::from(self.body_len);
        if body_len > MAX_BODY {
            return Err(RecordError::TooLong { body_len });
        }
        if self.pad_len > self.body_len {
            return Err(RecordError::BadPadding {
                body_len,
                pad_len: usize::from(self.pad_len),
            });
        }
        if self.flags & !flags::KNOWN != 0 {
            return Err(RecordError::UnknownFlags(self.flags));
        }
        Ok(self)
    }
}

/// What [`RecordEncoder::seal_in_place`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Length of the record on the wire.
    pub len: usize,
    /// Whether this record carried [`flags::REKEY`] (the key has changed since).
    pub rekeyed: bool,
}

/// Seals the records of one direction; see the [module docs](self).
///
/// Sans-IO, in place: the caller builds a record buffer ([`HEADER_LEN`] bytes of room,
/// then the data), [`seal_in_place`](Self::seal_in_place) adds the padding and tags and
/// encrypts it where it lies, and the caller writes the buffer out. No copy beyond the
/// caller's own.
#[derive(Debug)]
pub struct RecordEncoder {
    cipher: DirectionCipher,
    padding: Padding,
    rekey_after: u64,
    since_rekey: u64,
    rng: StdRng,
    fin_sent: bool,
}

impl RecordEncoder {
    pub(crate) fn new(
        key: &Zeroizing<[u8; KEY_LEN]>,
        padding: Padding,
        rekey_after: u64,
        rng: &mut impl RngCore,
    ) -> Option<Self> {
        Some(Self {
            cipher: DirectionCipher::new(key)?,
            padding,
            rekey_after: rekey_after.max(1),
            since_rekey: 0,
            rng: StdRng::from_rng(rng),
            fin_sent: false,
        })
    }

    /// The most data one record carries with this encoder's padding.
    #[must_use]
    pub fn max_data(&self) -> usize {
        MAX_BODY - self.padding.max()
    }

    /// Whether the final record ([`flags::FIN`]) has been sealed.
    #[must_use]
    pub fn fin_sent(&self) -> bool {
        self.fin_sent
    }

    /// The longest record `data_len` bytes of data can become (with the most padding).
    #[must_use]
    pub fn max_record_len(&self, data_len: usize) -> usize {
        (HEADER_LEN + data_len + self.padding.max() + TAG_LEN).min(MAX_RECORD)
    }

    /// Seals one record in place. On entry `record` holds [`HEADER_LEN`] bytes of room
    /// (any value) followed by the data, at most [`max_data`](Self::max_data) bytes,
    /// possibly none; on return it is the whole record, with fresh random padding, ready
    /// to send. With `fin`, this is the last record of the stream. Reserve
    /// [`MAX_RECORD`] bytes of capacity once and the buffer never reallocates.
    ///
    /// # Errors
    /// [`RecordError::Buffer`] if `record` is shorter than the header room or holds too
    /// much data, [`RecordError::AfterFin`] after the final record,
    /// [`RecordError::Exhausted`] when the nonces are used up. The buffer's content is
    /// unspecified after an error.
    pub fn seal_in_place(
        &mut self,
        record: &mut Vec<u8>,
        fin: bool,
    ) -> Result<Sealed, RecordError> {
        self.seal_at(record, 0, fin)
    }

    /// Seals `plain` (the data, at most [`max_data`](Self::max_data) bytes) as one
    /// record appended to `out`; `plain` is left empty. A convenience over
    /// [`seal_in_place`](Self::seal_in_place) that copies the data once.
    ///
    /// # Errors
    /// As [`seal_in_place`](Self::seal_in_place); `out` is left as it was on error.
    pub fn seal(
        &mut self,
        plain: &mut Vec<u8>,
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<Sealed, RecordError> {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(plain);
        plain.clear();
        let sealed = self.seal_at(out, start, fin);
        if sealed.is_err() {
            out.truncate(start);
        }
        sealed
    }

    /// Seals the record that starts at `record[start]` and runs to the end.
    fn seal_at(
        &mut self,
        record: &mut Vec<u8>,
        start: usize,
        fin: bool,
    ) -> Result<Sealed, RecordError> {
        if self.fin_sent {
            return Err(RecordError::AfterFin);
        }
        let data_len = record
            .len()
            .checked_sub(start + HEADER_LEN)
            .ok_or(RecordError::Buffer)?;
        if data_len > self.max_data() {
            return Err(RecordError::Buffer);
        }
        let pad_len = self.padding.draw(data_len, &mut self.rng);
        let body_len = data_len + pad_len;
        let record_len = HEADER_LEN + body_len + TAG_LEN;
        let rekey = self.since_rekey.saturating_add(record_len as u64) >= self.rekey_after;
        let mut flags = if fin { flags::FIN } else { 0 };
        if rekey {
            flags |= flags::REKEY;
        }
        let header = RecordHeader {
            body_len: u16::try_from(body_len).map_err(|_| RecordError::Buffer)?,
            pad_len: u16::try_from(pad_len).map_err(|_| RecordError::Buffer)?,
            flags,
        };
        // Padding (zeros, encrypted) and room for the tag.
        record.resize(start + record_len, 0);
        self.seal_record(header, record.get_mut(start..).unwrap_or_default())?;
        if rekey {
            self.cipher.rekey();
            self.since_rekey = 0;
        } else {
            self.since_rekey += record_len as u64;
        }
        self.fin_sent |= fin;
        Ok(Sealed {
            len: record_len,
            rekeyed: rekey,
        })
    }

    /// Encrypts `header` into the first [`HEADER_LEN`] bytes of `record` and the rest
    /// (body plaintext, then 16 bytes of room) in place.
    fn seal_record(&mut self, header: RecordHeader, record: &mut [u8]) -> Result<(), RecordError> {
        let (head, body) = record
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(RecordError::Buffer)?;
        let [b0, b1, b2, b3, b4] = header.to_bytes();
        for (slot, byte) in head.iter_mut().zip([b0, b1, b2, b3, b4]) {
            *slot = byte;
        }
        self.cipher.seal_in_place(head)?;
        self.cipher.seal_in_place(body)?;
        Ok(())
    }

    /// Seals a header with arbitrary fields, which may lie (a body longer than allowed,
    /// more padding than body, unknown flags), followed by `body` as it is, appended to
    /// `out`: what a misbehaving peer holding the key could send. For tests and fuzzing
    /// of decoders; it uses up nonces like a real record but never rekeys.
    ///
    /// # Errors
    /// [`RecordError::Exhausted`] when the nonces are used up.
    pub fn seal_raw(
        &mut self,
        header: RecordHeader,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(body);
        out.resize(out.len() + TAG_LEN, 0);
        let result = self.seal_record(header, out.get_mut(start..).unwrap_or_default());
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// What [`RecordDecoder::open_in_place`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Bytes of data, at `record[HEADER_LEN..HEADER_LEN + data_len]`.
    pub data_len: usize,
    /// The record was the peer's last ([`flags::FIN`]).
    pub fin: bool,
    /// The record carried [`flags::REKEY`] (the key has changed since).
    pub rekeyed: bool,
}

impl Opened {
    /// Where the data lies in the opened record.
    #[must_use]
    pub fn data(&self) -> std::ops::Range<usize> {
        HEADER_LEN..HEADER_LEN + self.data_len
    }
}

/// Opens the records of one direction; see the [module docs](self).
///
/// Sans-IO, in place: feed it the bytes at the start of the next record.
/// [`decode_header`](Self::decode_header) authenticates the header once enough bytes are
/// there and tells the record's length; [`open_in_place`](Self::open_in_place) then
/// decrypts the whole record where it lies. After any error every call fails with
/// [`RecordError::Failed`].
#[derive(Debug)]
pub struct RecordDecoder {
    cipher: DirectionCipher,
    pending: Option<RecordHeader>,
    fin: bool,
    failed: bool,
}

impl RecordDecoder {
    pub(crate) fn new(key: &Zeroizing<[u8; KEY_LEN]>) -> Option<Self> {
        Some(Self {
            cipher: DirectionCipher::new(key)?,
            pending: None,
            fin: false,
            failed: false,
        })
    }

    /// Whether the peer's final record has been opened.
    #[must_use]
    pub fn fin_received(&self) -> bool {
        self.fin
    }

    fn fail<T>(&mut self, error: RecordError) -> Result<T, RecordError> {
        self.failed = true;
        Err(error)
    }

    /// The header of the record starting at `input[0]`: `None` while fewer than
    /// [`HEADER_LEN`] bytes are there. Authenticated and checked once (on a copy: the
    /// input is not changed), then remembered until the record is opened.
    ///
    /// # Errors
    /// [`RecordError::BadHeader`] if it does not authenticate; [`RecordError::TooLong`],
    /// [`RecordError::BadPadding`] or [`RecordError::UnknownFlags`] if it lies;
    /// [`RecordError::AfterFin`] after the final record.
    pub fn decode_header(&mut self, input: &[u8]) -> Result<Option<RecordHeader>, RecordError> {
        if self.failed {
            return Err(RecordError::Failed);
        }
        if let Some(header) = self.pending {
            return Ok(Some(header));
        }
        if self.fin {
            return self.fail(RecordError::AfterFin);
        }
        let Some(sealed) = input.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut copy = [0u8; HEADER_LEN];
        copy.copy_from_slice(sealed);
        match self.cipher.open_in_place(&mut copy) {
            Ok(HEADER_PLAIN) => {}
            Ok(_) | Err(CipherError::Decrypt) => return self.fail(RecordError::BadHeader),
            Err(error) => return self.fail(error.into()),
        }
        let [b0, b1, b2, b3, b4, ..] = copy;
        match RecordHeader::from_bytes([b0, b1, b2, b3, b4]).check() {
            Ok(header) => {
                self.pending = Some(header);
                Ok(Some(header))
            }
            Err(error) => self.fail(error),
        }
    }

    /// Opens, in place, the record whose header [`decode_header`](Self::decode_header)
    /// returned: `record` is the whole record ([`RecordHeader::record_len`] bytes, header
    /// included). The data is then at [`Opened::data`] within it.
    ///
    /// # Errors
    /// [`RecordError::BadBody`] if the body does not authenticate; [`RecordError::Buffer`]
    /// if called without a header or with the wrong length.
    pub fn open_in_place(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        if self.failed {
            return Err(RecordError::Failed);
        }
        let Some(header) = self.pending else {
            return Err(RecordError::Buffer);
        };
        if record.len() != header.record_len() {
            return Err(RecordError::Buffer);
        }
        let body = record.get_mut(HEADER_LEN..).unwrap_or_default();
        match self.cipher.open_in_place(body) {
            Ok(_) => {}
            Err(CipherError::Decrypt) => return self.fail(RecordError::BadBody),
            Err(error) => return self.fail(error.into()),
        }
        self.pending = None;
        let rekeyed = header.flags & flags::REKEY != 0;
        if rekeyed {
            self.cipher.rekey();
        }
        let fin = header.flags & flags::FIN != 0;
        self.fin |= fin;
        Ok(Opened {
            data_len: header.data_len(),
            fin,
            rekeyed,
        })
    }
}

/// A matched encoder and decoder for tests and fuzzing: what one end seals, the other
/// opens.
///
/// The key is derived from `seed`, so the pair is deterministic; real sessions get their
/// keys from the handshake only. `None` only if no ChaCha20-Poly1305 implementation
/// resolves, which cannot happen with this crate's build of snow.
#[must_use]
pub fn record_pair(
    seed: u64,
    padding: Padding,
    rekey_after: u64,
) -> Option<(RecordEncoder, RecordDecoder)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(key.as_mut());
    let encoder = RecordEncoder::new(&key, padding, rekey_after, &mut rng)?;
    let decoder = RecordDecoder::new(&key)?;
    Some((encoder, decoder))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Opens every record in `stream`; returns the data, the fin flag and the rekeys.
    fn open_all(
        decoder: &mut RecordDecoder,
        mut stream: &[u8],
    ) -> Result<(Vec<u8>, bool, usize), RecordError> {
        let mut data = Vec::new();
        let mut rekeys = 0;
        let mut fin = false;
        while !stream.is_empty() {
            let Some(header) = decoder.decode_header(stream)? else {
                return Err(RecordError::Truncated);
            };
            let len = header.record_len();
            let Some(record) = stream.get(..len) else {
                return Err(RecordError::Truncated);
            };
            let mut record = record.to_vec();
            let opened = decoder.open_in_place(&mut record)?;
            data.extend_from_slice(&record[opened.data()]);
            rekeys += usize::from(opened.rekeyed);
            fin |= opened.fin;
            stream = &stream[len..];
        }
        Ok((data, fin, rekeys))
    }

    #[test]
    fn records_round_trip_with_padding_rekeys_and_fin() {
        let (mut tx, mut rx) = record_pair(1, Padding::Uniform { max: 255 }, 200_000).unwrap();
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let mut plain = Vec::new();
        let mut rekeys = 0;
        for i in 0..40usize {
            let len = (i * 7919) % tx.max_data();
            let chunk: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            expected.extend_from_slice(&chunk);
            plain.extend_from_slice(&chunk);
            let sealed = tx.seal(&mut plain, i == 39, &mut stream).unwrap();
            assert!(plain.is_empty());
            rekeys += usize::from(sealed.rekeyed);
        }
        assert!(rekeys >= 3, "{rekeys} rekeys");
        let (data, fin, seen) = open_all(&mut rx, &stream).unwrap();
        assert_eq!(data, expected);
        assert!(fin && rx.fin_received() && tx.fin_sent());
        assert_eq!(seen, rekeys);
        assert_eq!(
            tx.seal(&mut plain, false, &mut stream),
            Err(RecordError::AfterFin)
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let (mut tx, _) = record_pair(2, Padding::None, u64::MAX).unwrap();
        let mut stream = Vec::new();
        tx.seal(&mut b"hello".to_vec(), false, &mut stream).unwrap();
        for bit in 0..stream.len() * 8 {
            let (_, mut rx) = record_pair(2, Padding::None, u64::MAX).unwrap();
            let mut bad = stream.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let error = open_all(&mut rx, &bad).unwrap_err();
            if bit < HEADER_LEN * 8 {
                assert_eq!(error, RecordError::BadHeader);
            } else {
                assert_eq!(error, RecordError::BadBody);
            }
            assert_eq!(rx.decode_header(&stream), Err(RecordError::Failed));
        }
    }

    #[test]
    fn replayed_and_reordered_records_are_refused() {
        let (mut tx, mut rx) = record_pair(3, Padding::None, u64::MAX).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        tx.seal(&mut b"first".to_vec(), false, &mut a).unwrap();
        tx.seal(&mut b"second".to_vec(), false, &mut b).unwrap();
        assert_eq!(open_all(&mut rx, &b), Err(RecordError::BadHeader));
        let (_, mut rx) = record_pair(3, Padding::None, u64::MAX).unwrap();
        let replay = [a.clone(), a].concat();
        assert_eq!(open_all(&mut rx, &replay), Err(RecordError::BadHeader));
    }

    #[test]
    fn lying_headers_are_refused_before_the_body() {
        for (header, expected) in [
            (
                RecordHeader {
                    body_len: u16::MAX,
                    pad_len: 0,
                    flags: 0,
                },
                RecordError::TooLong { body_len: 65_535 },
            ),
            (
                RecordHeader {
                    body_len: 10,
                    pad_len: 11,
                    flags: 0,
                },
                RecordError::BadPadding {
                    body_len: 10,
                    pad_len: 11,
                },
            ),
            (
                RecordHeader {
                    body_len: 0,
                    pad_len: 0,
                    flags: 0x80,
                },
                RecordError::UnknownFlags(0x80),
            ),
        ] {
            let (mut tx, mut rx) = record_pair(4, Padding::None, u64::MAX).unwrap();
            let mut stream = Vec::new();
            tx.seal_raw(header, &[], &mut stream).unwrap();
            // Only the header is given: the refusal needs no body.
            assert_eq!(rx.decode_header(&stream[..HEADER_LEN]), Err(expected));
        }
    }

    #[test]
    fn a_record_after_fin_is_refused() {
        let (mut tx, mut rx) = record_pair(5, Padding::None, u64::MAX).unwrap();
        let mut stream = Vec::new();
        tx.seal(&mut Vec::new(), true, &mut stream).unwrap();
        let header = RecordHeader {
            body_len: 1,
            pad_len: 0,
            flags: 0,
        };
        tx.seal_raw(header, b"x", &mut stream).unwrap();
        assert_eq!(open_all(&mut rx, &stream), Err(RecordError::AfterFin));
    }

    #[test]
    fn full_records_fit_the_noise_limit() {
        let (mut tx, mut rx) = record_pair(6, Padding::Uniform { max: 255 }, u64::MAX).unwrap();
        let mut plain = vec![0xab; tx.max_data()];
        let mut stream = Vec::new();
        let sealed = tx.seal(&mut plain, false, &mut stream).unwrap();
        assert!(sealed.len <= MAX_RECORD);
        assert_eq!(open_all(&mut rx, &stream).unwrap().0.len(), tx.max_data());
        let mut too_much = vec![0; tx.max_data() + 1];
        assert_eq!(
            tx.seal(&mut too_much, false, &mut stream),
            Err(RecordError::Buffer)
        );
    }
}
