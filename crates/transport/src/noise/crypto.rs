//! The primitives under the handshake and the records.
//!
//! - [`ObfsResolver`]: the snow `CryptoResolver` of one handshake. Its X25519 ([`ObfsDh`])
//!   draws every ephemeral key until it has an Elligator2 representative and publishes
//!   the *dirty* public key (the key plus a random point of low order, `Randomized`
//!   variant of `curve25519-elligator2`), so that its representative is indistinguishable
//!   from 32 random bytes. Static keys stay plain X25519. The representative goes to a
//!   slot the handshake code reads after `write_message`, to put it on the wire in place
//!   of the key. Hashes come from snow's default resolver (BLAKE2s), ciphers from ring's
//!   ChaCha20-Poly1305, and the random numbers from a ChaCha12 generator seeded by the
//!   caller (so a test can make a handshake deterministic).
//! - [`DirectionCipher`]: the key of one direction of an established session, with its
//!   nonce counter and Noise's `REKEY`.

use std::sync::{Arc, Mutex, PoisonError};

use curve25519_elligator2::{MapToPointVariant, MontgomeryPoint, Randomized};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use snow::{
    params::{CipherChoice, DHChoice, HashChoice},
    resolvers::{CryptoResolver, DefaultResolver, RingResolver},
    types::{Cipher, Dh, Hash, Random},
};
use zeroize::{Zeroize, Zeroizing};

/// Length of an X25519 key and of its Elligator2 representative.
pub(crate) const KEY_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// How many private keys [`ObfsDh::generate`] draws before it gives up. About half of
/// all keys have a representative, so 128 failures in a row mean a broken generator
/// (probability 2^-128 otherwise).
const REPRESENTABLE_TRIES: usize = 128;

/// Where the representative of the last ephemeral key generated in a handshake goes.
pub(crate) type RepresentativeSlot = Arc<Mutex<Option<[u8; KEY_LEN]>>>;

/// Takes the representative out of `slot`.
pub(crate) fn take_representative(slot: &RepresentativeSlot) -> Option<[u8; KEY_LEN]> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// The Montgomery `u` of the (dirty) public key a representative stands for.
///
/// Every 32-byte string maps to some point (the top two bits are ignored), so this never
/// fails: a string that was not made by a peer simply gives a key nobody holds, and the
/// handshake fails at its first authentication tag.
pub(crate) fn key_from_representative(representative: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    match MontgomeryPoint::from_representative::<Randomized>(representative) {
        Some(point) => point.to_bytes(),
        // Unreachable with this crate version (the map is total); a key of all zeros makes
        // every Diffie-Hellman with it fail, which refuses the message.
        None => [0; KEY_LEN],
    }
}

/// The snow resolver of one handshake; see the [module docs](self).
pub(crate) struct ObfsResolver {
    slot: RepresentativeSlot,
    seed: Zeroizing<[u8; 32]>,
}

impl ObfsResolver {
    /// A resolver whose ephemeral representatives go to `slot` and whose random numbers
    /// come from a generator seeded by `rng`.
    pub(crate) fn new(slot: RepresentativeSlot, rng: &mut impl RngCore) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self { slot, seed }
    }
}

impl CryptoResolver for ObfsResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(StdRng::from_seed(*self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(ObfsDh {
                private: Zeroizing::new([0; KEY_LEN]),
                public: [0; KEY_LEN],
                slot: Arc::clone(&self.slot),
            })),
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        new_cipher(choice)
    }
}

/// The fastest ChaCha20-Poly1305 here: ring's (assembly), with RustCrypto's as the
/// fallback should ring not offer it.
fn new_cipher(choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
    RingResolver
        .resolve_cipher(choice)
        .or_else(|| DefaultResolver.resolve_cipher(choice))
}

/// snow's random numbers, from a generator seeded per handshake.
struct SeededRandom(StdRng);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// X25519 whose generated (ephemeral) keys have an Elligator2 representative.
struct ObfsDh {
    private: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; KEY_LEN],
    slot: RepresentativeSlot,
}

/// Adapts snow's random source to `rand`'s traits.
struct SnowRng<'a>(&'a mut dyn Random);

impl RngCore for SnowRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The seeded generator never fails; should another one, zeros make the
        // representability loop run out and the handshake fail.
        if self.0.try_fill_bytes(dest).is_err() {
            dest.zeroize();
        }
    }
}

impl Dh for ObfsDh {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        KEY_LEN
    }

    fn priv_len(&self) -> usize {
        KEY_LEN
    }

    fn set(&mut self, privkey: &[u8]) {
        let mut private = Zeroizing::new([0u8; KEY_LEN]);
        if let Some(bytes) = privkey.get(..KEY_LEN) {
            private.copy_from_slice(bytes);
        }
        self.public = MontgomeryPoint::mul_base_clamped(*private).to_bytes();
        self.private = private;
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        let mut rng = SnowRng(rng);
        for _ in 0..REPRESENTABLE_TRIES {
            let mut private = Zeroizing::new([0u8; KEY_LEN]);
            rng.fill_bytes(private.as_mut());
            let tweak: u8 = rng.random();
            let representative: Option<[u8; KEY_LEN]> =
                Randomized::to_representative(&private, tweak).into();
            if let Some(representative) = representative {
                self.public = Randomized::mul_base_clamped(*private)
                    .to_montgomery()
                    .to_bytes();
                self.private = private;
                *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(representative);
                return Ok(());
            }
        }
        Err(snow::Error::Rng)
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        self.private.as_ref()
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let theirs: [u8; KEY_LEN] = pubkey
            .get(..KEY_LEN)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        // The clamped scalar is a multiple of 8, which removes the low-order part of a
        // dirty key: plain X25519 on either side gives the same secret.
        let shared = Zeroizing::new(
            MontgomeryPoint(theirs)
                .mul_clamped(*self.private)
                .to_bytes(),
        );
        // A key of low order gives the all-zero secret; refuse it (contributory behaviour).
        if shared.iter().all(|&byte| byte == 0) {
            return Err(snow::Error::Dh);
        }
        out.get_mut(..KEY_LEN)
            .ok_or(snow::Error::Dh)?
            .copy_from_slice(shared.as_ref());
        Ok(())
    }
}

/// Why a record could not be sealed or opened (the details stay private: an
/// authentication failure says nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherError {
    /// The tag did not verify.
    Decrypt,
    /// The nonce space of the key is used up (2^64 - 1 messages).
    Exhausted,
    /// A buffer was too small (a bug in the caller).
    Buffer,
}

/// One direction of an established session: its ChaCha20-Poly1305 key (ring's, sealing
/// and opening in place) and nonce counter, as a Noise `CipherState`.
pub(crate) struct DirectionCipher {
    key: LessSafeKey,
    nonce: u64,
}

impl std::fmt::Debug for DirectionCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("DirectionCipher")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// Noise's ChaChaPoly nonce: 32 zero bits, then the counter little-endian.
fn nonce(n: u64) -> Nonce {
    let [a, b, c, d, e, f, g, h] = n.to_le_bytes();
    Nonce::assume_unique_for_key([0, 0, 0, 0, a, b, c, d, e, f, g, h])
}

fn less_safe_key(key: &[u8; KEY_LEN]) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .ok()
        .map(LessSafeKey::new)
}

impl DirectionCipher {
    /// The cipher keyed with `key` (wiped by the caller), starting at nonce 0.
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Option<Self> {
        Some(Self {
            key: less_safe_key(key)?,
            nonce: 0,
        })
    }

    fn next_nonce(&mut self) -> Result<Nonce, CipherError> {
        // u64::MAX is reserved for REKEY.
        if self.nonce == u64::MAX {
            return Err(CipherError::Exhausted);
        }
        let n = self.nonce;
        self.nonce += 1;
        Ok(nonce(n))
    }

    /// Encrypts `buf` in place: its last 16 bytes are room for the tag, the rest is the
    /// plaintext.
    pub(crate) fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<(), CipherError> {
        let plain_len = buf.len().checked_sub(TAG_LEN).ok_or(CipherError::Buffer)?;
        let nonce = self.next_nonce()?;
        let (plain, tag_room) = buf
            .split_at_mut_checked(plain_len)
            .ok_or(CipherError::Buffer)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), plain)
            .map_err(|_| CipherError::Buffer)?;
        tag_room.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts and authenticates `buf` (ciphertext and tag) in place; returns the
    /// plaintext length (at the start of `buf`). A failure still uses up the nonce: the
    /// session is over anyway.
    pub(crate) fn open_in_place(&mut self, buf: &mut [u8]) -> Result<usize, CipherError> {
        if buf.len() < TAG_LEN {
            return Err(CipherError::Buffer);
        }
        let nonce = self.next_nonce()?;
        self.key
            .open_in_place(nonce, Aad::empty(), buf)
            .map(|plain| plain.len())
            .map_err(|_| CipherError::Decrypt)
    }

    /// Noise's `REKEY`: the key becomes the first 32 bytes of the encryption of 32 zero
    /// bytes under nonce 2^64 - 1. The nonce counter goes on.
    pub(crate) fn rekey(&mut self) {
        let mut next = Zeroizing::new([0u8; KEY_LEN]);
        // Sealing 32 bytes cannot fail; if it did, the old key would stay and the peer's
        // next tag would not verify, ending the session.
        if self
            .key
            .seal_in_place_separate_tag(nonce(u64::MAX), Aad::empty(), next.as_mut())
            .is_ok()
            && let Some(key) = less_safe_key(&next)
        {
            self.key = key;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn representatives_map_back_to_the_dirty_key_and_dh_agrees() {
        let mut rng = StdRng::seed_from_u64(1);
        let slot = RepresentativeSlot::default();
        let resolver = ObfsResolver::new(Arc::clone(&slot), &mut rng);
        let mut random = resolver.resolve_rng().unwrap();
        for _ in 0..16 {
            let mut ours = resolver.resolve_dh(&DHChoice::Curve25519).unwrap();
            ours.generate(&mut *random).unwrap();
            let representative = take_representative(&slot).unwrap();
            assert_eq!(
                key_from_representative(&representative),
                ours.pubkey(),
                "the representative stands for the published key"
            );
            // A static key on the other side: both ends derive the same secret.
            let mut theirs = resolver.resolve_dh(&DHChoice::Curve25519).unwrap();
            let mut private = [0u8; 32];
            rng.fill_bytes(&mut private);
            theirs.set(&private);
            let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
            ours.dh(theirs.pubkey(), &mut a).unwrap();
            theirs.dh(ours.pubkey(), &mut b).unwrap();
            assert_eq!(a, b);
            // The dirty key is not the plain one (a low-order point was added) 7 times in 8.
        }
    }

    #[test]
    fn low_order_keys_are_refused() {
        let slot = RepresentativeSlot::default();
        let resolver = ObfsResolver::new(slot, &mut StdRng::seed_from_u64(2));
        let mut dh = resolver.resolve_dh(&DHChoice::Curve25519).unwrap();
        dh.set(&[7u8; 32]);
        let mut out = [0u8; 32];
        assert!(dh.dh(&[0u8; 32], &mut out).is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(dh.dh(&one, &mut out).is_err());
    }

    #[test]
    fn direction_ciphers_agree_and_rekey_in_step() {
        let key = [9u8; 32];
        let mut tx = DirectionCipher::new(&key).unwrap();
        let mut rx = DirectionCipher::new(&key).unwrap();
        let mut buf = *b"hello\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        tx.seal_in_place(&mut buf).unwrap();
        assert_ne!(&buf[..5], b"hello");
        assert_eq!(rx.open_in_place(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        tx.rekey();
        let mut buf = *b"again\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        tx.seal_in_place(&mut buf).unwrap();
        let mut stale = DirectionCipher::new(&key).unwrap();
        stale.nonce = 1;
        assert_eq!(
            stale.open_in_place(&mut buf.clone()),
            Err(CipherError::Decrypt)
        );
        rx.rekey();
        assert_eq!(rx.open_in_place(&mut buf).unwrap(), 5);
        assert_eq!(rx.open_in_place(&mut [0u8; 3]), Err(CipherError::Buffer));
    }

    /// The records follow Noise's ChaChaPoly exactly: what snow's own cipher (ring or
    /// RustCrypto) seals with the same key, nonce and `REKEY` opens here, and back.
    #[test]
    fn direction_ciphers_match_snows_cipher_state() {
        let key = [5u8; 32];
        for resolver in [
            Box::new(RingResolver) as Box<dyn CryptoResolver>,
            Box::new(DefaultResolver),
        ] {
            let mut theirs = resolver.resolve_cipher(&CipherChoice::ChaChaPoly).unwrap();
            theirs.set(&key);
            let mut ours = DirectionCipher::new(&key).unwrap();
            for n in 0..3u64 {
                let mut sealed = [0u8; 20];
                theirs.encrypt(n, &[], b"four", &mut sealed);
                assert_eq!(ours.open_in_place(&mut sealed).unwrap(), 4);
                assert_eq!(&sealed[..4], b"four");
            }
            theirs.rekey();
            ours.rekey();
            let mut buf = [0u8; 20];
            buf[..4].copy_from_slice(b"five");
            ours.seal_in_place(&mut buf).unwrap();
            let mut out = [0u8; 20];
            assert_eq!(theirs.decrypt(3, &[], &buf, &mut out).unwrap(), 4);
            assert_eq!(&out[..4], b"five");
        }
    }
}
