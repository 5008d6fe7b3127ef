//! I2P destinations (the public identity of an I2P endpoint) and the private keys behind
//! them, in I2P's own base64.

use std::{fmt, str::FromStr};

use base64::{
    Engine as _,
    alphabet::Alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use sha2::{Digest, Sha256};

/// I2P's base64: the standard alphabet with `-` for `+` and `~` for `/`, padded with `=`.
/// Decoding accepts only the canonical form (padding present, no stray bits), so whatever
/// decodes encodes back to the same text.
// The `panic!` below runs in constant evaluation: a bad alphabet fails the build, never a
// running program.
#[allow(clippy::panic)]
const I2P_BASE64: GeneralPurpose = GeneralPurpose::new(
    &match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~") {
        Ok(alphabet) => alphabet,
        // A constant alphabet of 64 distinct printable characters: checked at compile time.
        Err(_) => panic!("invalid I2P base64 alphabet"),
    },
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Bytes of the encryption public key field at the start of every destination.
const PUBLIC_KEY_FIELD: usize = 256;
/// Bytes of the signing public key field after it.
const SIGNING_KEY_FIELD: usize = 128;
/// The two key fields and the certificate header (type byte and two length bytes).
const HEADER: usize = PUBLIC_KEY_FIELD + SIGNING_KEY_FIELD + 3;
/// Certificate type of a destination without a certificate (legacy DSA destinations).
const CERT_NULL: u8 = 0;
/// Certificate type "key certificate": names the signing and encryption key types.
const CERT_KEY: u8 = 5;
/// Signature type of EdDSA-SHA512-Ed25519, what Umbra asks the router for.
pub const SIGNATURE_TYPE_ED25519: u16 = 7;

/// Longest destination accepted, in bytes. The largest key types in use (RSA-4096) make a
/// 775-byte destination; anything longer is not a destination.
pub const MAX_DESTINATION_BYTES: usize = 1024;
/// Longest private key blob accepted, in bytes (a destination, its private keys and an
/// optional offline signature block).
pub const MAX_PRIVATE_KEY_BYTES: usize = 4096;

/// Encodes bytes in I2P's base64.
#[must_use]
pub fn encode_base64(bytes: &[u8]) -> String {
    I2P_BASE64.encode(bytes)
}

/// Decodes I2P's base64 (canonical form only).
///
/// # Errors
/// [`base64::DecodeError`] when `text` is not canonical I2P base64.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    I2P_BASE64.decode(text)
}

/// The public identity of an I2P endpoint: its encryption and signing public keys and a
/// certificate, as the SAM bridge exchanges it in base64 (`NAMING REPLY VALUE=`, the first
/// line of an accepted stream). Its `.b32.i2p` name is the SHA-256 of these bytes
/// ([`Destination::hash`], [`I2pAddr::from_destination`](super::I2pAddr::from_destination)).
///
/// [`Destination::from_bytes`] checks the layout (key fields, a null or key certificate,
/// the exact length the certificate announces, at most [`MAX_DESTINATION_BYTES`]); the
/// keys themselves are the router's business.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    bytes: Vec<u8>,
}

impl Destination {
    /// Checks and wraps a binary destination.
    ///
    /// # Errors
    /// [`DestinationError`] naming what is wrong with the layout.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DestinationError> {
        let (dest, rest) = Self::split_prefix(bytes)?;
        if !rest.is_empty() {
            return Err(DestinationError::new(
                bytes_preview(bytes),
                "bytes follow the certificate",
            ));
        }
        Ok(dest)
    }

    /// Reads the destination at the start of `bytes` (a private key blob begins with one)
    /// and returns it with the bytes after it.
    ///
    /// # Errors
    /// [`DestinationError`] when `bytes` does not start with a well-formed destination.
    pub fn split_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), DestinationError> {
        let error = |reason| DestinationError::new(bytes_preview(bytes), reason);
        let header = bytes
            .get(..HEADER)
            .ok_or_else(|| error("shorter than the 387-byte minimum"))?;
        let (&cert_type, len) = header
            .get(HEADER - 3..)
            .and_then(|cert| cert.split_first())
            .ok_or_else(|| error("shorter than the 387-byte minimum"))?;
        let cert_len = match len {
            &[hi, lo] => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(error("shorter than the 387-byte minimum")),
        };
        match cert_type {
            CERT_NULL if cert_len != 0 => return Err(error("a null certificate has a payload")),
            CERT_KEY if cert_len < 4 => {
                return Err(error("a key certificate shorter than 4 bytes"));
            }
            CERT_NULL | CERT_KEY => {}
            _ => {
                return Err(error(
                    "the certificate is neither null nor a key certificate",
                ));
            }
        }
        let total = HEADER
            .checked_add(cert_len)
            .ok_or_else(|| error("the certificate length overflows"))?;
        if total > MAX_DESTINATION_BYTES {
            return Err(error("longer than any destination in use"));
        }
        let (dest, rest) = bytes
            .split_at_checked(total)
            .ok_or_else(|| error("the certificate is cut short"))?;
        Ok((
            Self {
                bytes: dest.to_vec(),
            },
            rest,
        ))
    }

    /// Parses a destination in I2P's base64 (what the SAM bridge sends).
    ///
    /// # Errors
    /// [`DestinationError`] when `text` is not canonical I2P base64 of a well-formed
    /// destination.
    pub fn from_base64(text: &str) -> Result<Self, DestinationError> {
        // Four base64 characters carry three bytes.
        if text.len() > MAX_DESTINATION_BYTES.div_ceil(3).saturating_mul(4) {
            return Err(DestinationError::new(
                text_preview(text),
                "longer than any destination in use",
            ));
        }
        let bytes = decode_base64(text)
            .map_err(|_| DestinationError::new(text_preview(text), "not canonical I2P base64"))?;
        Self::from_bytes(&bytes).map_err(|error| DestinationError {
            input: text_preview(text),
            ..error
        })
    }

    /// The destination in I2P's base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        encode_base64(&self.bytes)
    }

    /// The binary destination.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the binary destination: what a `.b32.i2p` name encodes.
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The signing key type its key certificate names (7 is Ed25519), or 0 (DSA-SHA1) for a
    /// destination without a certificate.
    #[must_use]
    pub fn signature_type(&self) -> u16 {
        match self.bytes.get(HEADER..HEADER + 2) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The full key material is long and identifies the endpoint; its hash says which
        // destination this is just as well.
        write!(
            f,
            "Destination({})",
            super::I2pAddr::from_destination(self).host()
        )
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for Destination {
    type Err = DestinationError;

    fn from_str(s: &str) -> Result<Self, DestinationError> {
        Self::from_base64(s)
    }
}

/// The private keys of a destination, as SAM's `SESSION STATUS DESTINATION=` and
/// `DEST REPLY PRIV=` give them: the destination, then its private encryption and signing
/// keys (I2P's "private key file" layout), in I2P's base64.
///
/// Whoever holds it can be that I2P address: store it like a password. `Debug` does not
/// print it; [`PrivateKey::to_base64`] does, for persisting it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    base64: String,
    destination: Destination,
}

impl PrivateKey {
    /// Parses a private key blob in I2P's base64.
    ///
    /// # Errors
    /// [`DestinationError`] when it is not canonical base64, does not start with a
    /// well-formed destination, has nothing after it or is longer than
    /// [`MAX_PRIVATE_KEY_BYTES`]. The text itself is never quoted in the error.
    pub fn from_base64(text: &str) -> Result<Self, DestinationError> {
        let error = |reason| DestinationError::new("<private key>".to_owned(), reason);
        if text.len() > MAX_PRIVATE_KEY_BYTES.div_ceil(3).saturating_mul(4) {
            return Err(error("longer than any private key in use"));
        }
        let bytes = decode_base64(text).map_err(|_| error("not canonical I2P base64"))?;
        let (destination, rest) = Destination::split_prefix(&bytes).map_err(|e| error(e.reason))?;
        if rest.is_empty() {
            return Err(error("a destination without its private keys"));
        }
        Ok(Self {
            base64: text.to_owned(),
            destination,
        })
    }

    /// The public destination these keys belong to.
    #[must_use]
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The keys in I2P's base64, to persist them (a node that reuses them keeps its
    /// `.b32.i2p` address) or hand them to `SESSION CREATE`.
    #[must_use]
    pub fn to_base64(&self) -> &str {
        &self.base64
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted> of {:?})", self.destination)
    }
}

impl FromStr for PrivateKey {
    type Err = DestinationError;

    fn from_str(s: &str) -> Result<Self, DestinationError> {
        Self::from_base64(s)
    }
}

/// Why bytes or text are not an I2P destination (or private key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an I2P destination: {reason}")]
pub struct DestinationError {
    /// The input, cut to 80 characters (never the text of a private key).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DestinationError {
    fn new(input: String, reason: &'static str) -> Self {
        Self { input, reason }
    }
}

fn text_preview(text: &str) -> String {
    text.chars().take(80).collect()
}

fn bytes_preview(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes: {shown}…", bytes.len())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A destination i2pd 2.45.1 made (`DEST GENERATE SIGNATURE_TYPE=7`): ElGamal field,
    /// Ed25519 signing key, key certificate (type 5, 4 bytes: signing type 7, crypto 0).
    pub(crate) fn sample() -> Destination {
        let mut bytes = vec![0x11; HEADER];
        bytes[HEADER - 3] = CERT_KEY;
        bytes[HEADER - 2] = 0;
        bytes[HEADER - 1] = 4;
        bytes.extend_from_slice(&[0, 7, 0, 0]);
        Destination::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn base64_uses_i2p_alphabet_and_round_trips() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(encode_base64(&bytes), "-~-~");
        assert_eq!(decode_base64("-~-~").unwrap(), bytes);
        assert!(
            decode_base64("+/+/").is_err(),
            "standard alphabet is not I2P's"
        );
        assert!(decode_base64("AA").is_err(), "padding is required");
        assert!(decode_base64("AB==").is_err(), "stray bits are refused");
        assert_eq!(decode_base64("AA==").unwrap(), [0]);
    }

    #[test]
    fn well_formed_destination_parses_and_re_encodes() {
        let dest = sample();
        assert_eq!(dest.as_bytes().len(), 391);
        assert_eq!(dest.signature_type(), SIGNATURE_TYPE_ED25519);
        let text = dest.to_base64();
        assert_eq!(text.len(), 524);
        let again: Destination = text.parse().unwrap();
        assert_eq!(again, dest);
        assert_eq!(again.to_string(), text);
        assert_eq!(
            dest.hash(),
            <[u8; 32]>::from(Sha256::digest(dest.as_bytes()))
        );
        // A legacy destination with a null certificate.
        let mut null = vec![0x22; HEADER];
        null[HEADER - 3..].copy_from_slice(&[0, 0, 0]);
        let legacy = Destination::from_bytes(&null).unwrap();
        assert_eq!(legacy.signature_type(), 0);
    }

    #[test]
    fn malformed_destinations_are_refused_with_a_reason() {
        let good = sample().as_bytes().to_vec();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            b
        };
        let cases: [(Vec<u8>, &str); 7] = [
            (good[..100].to_vec(), "minimum"),
            (with(&|b| b.truncate(389)), "cut short"),
            (with(&|b| b.push(0)), "bytes follow"),
            (with(&|b| b[HEADER - 3] = 3), "neither null"),
            (with(&|b| b[HEADER - 1] = 2), "shorter than 4"),
            (
                with(&|b| {
                    b[HEADER - 3] = 0;
                }),
                "null certificate has a payload",
            ),
            (
                with(&|b| {
                    b[HEADER - 2] = 0xff;
                }),
                "longer than any",
            ),
        ];
        for (bytes, reason) in cases {
            let error = Destination::from_bytes(&bytes).unwrap_err();
            assert!(error.to_string().contains(reason), "{reason}: {error}");
        }
        assert!(Destination::from_base64("not base64!").is_err());
        assert!(
            Destination::from_base64(&"A".repeat(5000))
                .unwrap_err()
                .reason
                .contains("longer")
        );
    }

    #[test]
    fn private_key_exposes_its_destination_and_hides_itself() {
        let dest = sample();
        let mut blob = dest.as_bytes().to_vec();
        blob.extend_from_slice(&[0x33; 256 + 32]);
        let text = encode_base64(&blob);
        let key: PrivateKey = text.parse().unwrap();
        assert_eq!(key.destination(), &dest);
        assert_eq!(key.to_base64(), text);
        let debug = format!("{key:?}");
        assert!(
            debug.contains("redacted") && !debug.contains(&text[..40]),
            "{debug}"
        );
        // A bare destination is not a private key, and errors never quote the key.
        let error = PrivateKey::from_base64(&dest.to_base64()).unwrap_err();
        assert!(error.reason.contains("without its private keys"));
        assert_eq!(error.input, "<private key>");
    }
}
