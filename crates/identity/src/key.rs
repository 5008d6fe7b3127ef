//! One identity: an Ed25519 key pair, its X25519 form, and its backup words.

use std::{fmt, str::FromStr};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// How many BIP39 words a backup has: 24 words carry the 32-byte seed and a checksum.
pub const PHRASE_WORDS: usize = 24;

/// Why a key, a signature or backup words were refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Public-key text that is not 64 hex digits.
    #[error("public key {input:?} is not 64 hex digits")]
    NotHex {
        /// The text, cut to 80 characters.
        input: String,
    },
    /// 32 bytes that are not a usable Ed25519 public key (not a curve point, or a point
    /// of small order that anyone could "own").
    #[error("public key {key} is not a usable Ed25519 point")]
    BadPoint {
        /// The key, in hex.
        key: String,
    },
    /// A signature that does not verify.
    #[error("signature does not verify under public key {key}")]
    BadSignature {
        /// The key, in hex.
        key: String,
    },
    /// Backup words that are not a BIP39 phrase of 24 English words with a valid checksum.
    #[error("backup words: {reason} (expected {PHRASE_WORDS} BIP39 English words)")]
    BadPhrase {
        /// What is wrong with them (never the words themselves).
        reason: String,
    },
}

/// A node's secret identity on one zone.
///
/// The secret is an Ed25519 seed. Ed25519 signs (the identity key in a QUIC certificate,
/// signed records); its X25519 form ([`Identity::x25519_secret`]) is the Noise static key.
/// Both forms are one key, so a peer known by its [`PublicKey`] is authenticated by either
/// transport.
///
/// The secret is wiped from memory on drop, and `Debug` shows only the public key: an
/// identity can be logged without leaking it.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A fresh random identity.
    #[must_use]
    pub fn generate() -> Self {
        let seed = Zeroizing::new(rand::random::<[u8; 32]>());
        Self::from_seed(&seed)
    }

    /// The identity with this 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// Restores an identity from its [backup words](Identity::phrase).
    ///
    /// Words are matched case-insensitively and may be separated by any whitespace.
    ///
    /// # Errors
    /// [`KeyError::BadPhrase`] if the words are not 24 BIP39 English words with a valid
    /// checksum.
    pub fn from_phrase(words: &str) -> Result<Self, KeyError> {
        let normalised = Zeroizing::new(
            words
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let count = normalised.split(' ').filter(|w| !w.is_empty()).count();
        if count != PHRASE_WORDS {
            return Err(KeyError::BadPhrase {
                reason: format!("{count} words"),
            });
        }
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
            .map_err(|error| KeyError::BadPhrase {
                reason: error.to_string(),
            })?;
        let (entropy, len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let seed: [u8; 32] = entropy
            .get(..len)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| KeyError::BadPhrase {
                reason: format!("{len} bytes of entropy"),
            })?;
        let seed = Zeroizing::new(seed);
        Ok(Self::from_seed(&seed))
    }

    /// The 24 backup words (BIP39, English) that [`Identity::from_phrase`] turns back into
    /// this identity. Whoever has them has the identity: show them to the operator only.
    #[must_use]
    pub fn phrase(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.signing.to_bytes());
        // 32 bytes of entropy is always a valid BIP39 length.
        match bip39::Mnemonic::from_entropy_in(bip39::Language::English, seed.as_slice()) {
            Ok(mnemonic) => Zeroizing::new(mnemonic.words().collect::<Vec<_>>().join(" ")),
            Err(_) => Zeroizing::new(String::new()),
        }
    }

    /// The 32-byte seed (for the key file and for building a QUIC certificate).
    #[must_use]
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key peers know this identity by.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.signing.verifying_key(),
        }
    }

    /// The X25519 secret of this identity (the Noise static key); its public half is
    /// [`PublicKey::to_x25519`].
    #[must_use]
    pub fn x25519_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_scalar_bytes())
    }

    /// Signs `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Identity").field(&self.public()).finish()
    }
}

/// A peer's identity: an Ed25519 public key.
///
/// Shown and parsed as 64 lowercase hex digits. Only keys that are curve points of large
/// order are accepted, so a key cannot be one that every secret "owns".
#[derive(Clone, Copy)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key.as_bytes() == other.key.as_bytes()
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.as_bytes().hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.as_bytes().cmp(other.key.as_bytes())
    }
}

impl PublicKey {
    /// The key in these 32 bytes.
    ///
    /// # Errors
    /// [`KeyError::BadPoint`] if they are not a usable Ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        match VerifyingKey::from_bytes(bytes) {
            Ok(key) if !key.is_weak() => Ok(Self { key }),
            _ => Err(KeyError::BadPoint {
                key: hex::encode(bytes),
            }),
        }
    }

    /// The 32 bytes of the key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's X25519 form: the Noise static public key of this identity.
    #[must_use]
    pub fn to_x25519(&self) -> [u8; 32] {
        self.key.to_montgomery().to_bytes()
    }

    /// Checks that `signature` is this key's signature of `message` (strict verification:
    /// no malleable signatures).
    ///
    /// # Errors
    /// [`KeyError::BadSignature`] if it is not.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        let signature = Signature::from_bytes(signature);
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| KeyError::BadSignature {
                key: self.to_string(),
            })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| KeyError::NotHex {
            input: s.chars().take(80).collect(),
        })?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn phrase_round_trip() {
        let id = Identity::generate();
        let words = id.phrase();
        assert_eq!(words.split(' ').count(), PHRASE_WORDS);
        let back = Identity::from_phrase(&words.to_uppercase().replace(' ', "\n  ")).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(*back.x25519_secret(), *id.x25519_secret());
    }

    #[test]
    fn bad_phrases_are_refused_without_echoing_them() {
        let id = Identity::generate();
        let words = id.phrase();
        let mut list: Vec<&str> = words.split(' ').collect();
        list.pop();
        let error = Identity::from_phrase(&list.join(" ")).unwrap_err();
        assert!(error.to_string().contains("23 words"), "{error}");
        // Swap two words: the checksum fails.
        let mut list: Vec<&str> = words.split(' ').collect();
        list.swap(0, 5);
        if list[0] != list[5] {
            let error = Identity::from_phrase(&list.join(" ")).unwrap_err();
            assert!(!error.to_string().contains(list[0]), "{error}");
        }
        let error = Identity::from_phrase(&["notaword"; 24].join(" ")).unwrap_err();
        assert!(matches!(error, KeyError::BadPhrase { .. }));
    }

    #[test]
    fn known_vector() {
        // BIP39's own test vector for 32 bytes of 0x00: 23 × "abandon" + "art".
        let words = [&["abandon"; 23][..], &["art"]].concat().join(" ");
        let id = Identity::from_phrase(&words).unwrap();
        assert_eq!(*id.seed(), [0u8; 32]);
        // RFC 8032 test 1 uses a different seed; the public key of the zero seed is fixed:
        assert_eq!(
            id.public().to_string(),
            "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
        );
    }

    #[test]
    fn x25519_forms_agree() {
        // The X25519 public key computed from the secret's scalar equals the Edwards key's
        // Montgomery form: both ends of a Noise session agree on the static key.
        let id = Identity::generate();
        let scalar = *id.x25519_secret();
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(scalar);
        assert_eq!(public.to_bytes(), id.public().to_x25519());
    }

    #[test]
    fn public_key_text_and_checks() {
        let id = Identity::generate();
        let text = id.public().to_string();
        assert_eq!(text.parse::<PublicKey>().unwrap(), id.public());
        assert!(matches!(
            "zz".parse::<PublicKey>(),
            Err(KeyError::NotHex { .. })
        ));
        // The identity point (small order) is refused.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&identity_point),
            Err(KeyError::BadPoint { .. })
        ));
        assert!(!format!("{id:?}").contains(&hex::encode(*id.seed())));
    }

    #[test]
    fn signatures() {
        let id = Identity::generate();
        let signature = id.sign(b"hello");
        id.public().verify(b"hello", &signature).unwrap();
        assert!(id.public().verify(b"hellO", &signature).is_err());
    }
}
