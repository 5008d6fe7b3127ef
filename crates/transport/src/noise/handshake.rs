//! The sans-IO handshake: `Noise_IK_25519_ChaChaPoly_BLAKE2s` with Elligator2-encoded
//! ephemeral keys and random padding.
//!
//! ```text
//! msg1 (initiator → responder), 144 bytes + padding:
//!   0    32  e: Elligator2 representative of the initiator's ephemeral key
//!   32   48  s: the initiator's static X25519 key, encrypted (32 + 16 tag)
//!   80   64  payload, encrypted (48 + 16 tag):
//!              version u8 = 1 ‖ flags u8 = 0 ‖ pad_len u16 BE ‖ timestamp u64 BE (ms since
//!              the Unix epoch) ‖ the initiator's Ed25519 public key (32) ‖ 4 reserved bytes
//!   144  pad_len random bytes (pad_len ≤ 4096)
//! msg2 (responder → initiator), 64 bytes + padding:
//!   0    32  e: Elligator2 representative of the responder's ephemeral key
//!   32   32  payload, encrypted (16 + 16 tag):
//!              version u8 = 1 ‖ flags u8 = 0 ‖ pad_len u16 BE ‖ timestamp u64 BE ‖ 4 reserved
//!   64   pad_len random bytes
//! ```
//!
//! Every byte of both messages is a uniformly random-looking string to anyone without the
//! keys: the representatives (Elligator2, `Randomized` variant, random top bits), the
//! ciphertexts and the padding. The initiator must know the responder's key to write
//! msg1 (IK), so a prober that does not know it cannot make the responder say anything.
//! The responder learns the initiator's static X25519 key from Noise and its Ed25519
//! identity from the payload, and refuses the message unless the two are the same key.
//! The responder's own key is proven by msg2, which only its holder can make.
//!
//! The prologue is [`PROLOGUE`], so these sessions cannot be confused with other Noise
//! protocols using the same pattern.

use rand::{CryptoRng, Rng, RngCore, SeedableRng, rngs::StdRng};
use snow::{Builder, HandshakeState, params::NoiseParams};
use umbra_identity::{Identity, PublicKey};
use zeroize::Zeroizing;

use super::{
    config::{Config, MAX_HANDSHAKE_PADDING},
    crypto::{
        KEY_LEN, ObfsResolver, RepresentativeSlot, TAG_LEN, key_from_representative,
        take_representative,
    },
    record::{RecordDecoder, RecordEncoder},
    replay::{ReplayFilter, ReplayRefusal},
};

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// The Noise prologue of every Umbra session (version 1).
pub const PROLOGUE: &[u8] = b"umbra-noise/1";
/// The handshake version this build speaks.
pub const VERSION: u8 = 1;

const MSG1_PAYLOAD_LEN: usize = 48;
const MSG2_PAYLOAD_LEN: usize = 16;
/// Length of msg1 before its padding.
pub const MSG1_LEN: usize = KEY_LEN + (KEY_LEN + TAG_LEN) + (MSG1_PAYLOAD_LEN + TAG_LEN);
/// Length of msg2 before its padding.
pub const MSG2_LEN: usize = KEY_LEN + (MSG2_PAYLOAD_LEN + TAG_LEN);

/// Which end of a session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// It dialled (and knew the peer's key beforehand).
    Initiator,
    /// It accepted (and learned the peer's key from the handshake).
    Responder,
}

/// Why a handshake failed.
///
/// On the responder every one of these ends the same way: silence, then a close at a
/// random time (see [`respond`](super::respond)). The variants exist for counters and
/// logs.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The connection failed, or ended before the handshake did.
    #[error("handshake I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake did not finish within the configured time.
    #[error("handshake timed out")]
    Timeout,
    /// The message did not authenticate: random bytes, another protocol, a message for
    /// another key (or, on the initiator, a responder that does not hold the expected
    /// key).
    #[error("handshake message does not authenticate")]
    NotAuthentic,
    /// msg1's timestamp is too far from the responder's clock.
    #[error("handshake timestamp {skew_ms} ms from our clock, outside the replay window")]
    Stale {
        /// Our clock minus theirs, in milliseconds.
        skew_ms: i128,
    },
    /// msg1 was seen before (or may have been: see [`ReplayFilter`]).
    #[error("handshake message replayed")]
    Replay,
    /// The message authenticated but its content is wrong.
    #[error("handshake payload refused: {0}")]
    BadPayload(&'static str),
    /// The local side could not run the handshake (random numbers, cipher resolution).
    #[error("handshake could not run: {0}")]
    Local(&'static str),
}

impl From<HandshakeError> for std::io::Error {
    fn from(error: HandshakeError) -> Self {
        use std::io::ErrorKind;
        match error {
            HandshakeError::Io(error) => error,
            HandshakeError::Timeout => Self::new(ErrorKind::TimedOut, error),
            HandshakeError::Local(_) => Self::other(error),
            _ => Self::new(ErrorKind::PermissionDenied, error),
        }
    }
}

/// What both ends know once the handshake is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    remote_key: PublicKey,
    role: Role,
    handshake_hash: [u8; 32],
}

impl SessionInfo {
    /// The peer's identity, proven by the handshake.
    #[must_use]
    pub fn remote_key(&self) -> PublicKey {
        self.remote_key
    }

    /// Which end we are.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The Noise handshake hash: the same at both ends, unique to this session (for
    /// channel binding).
    #[must_use]
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.handshake_hash
    }
}

/// A finished handshake: the two directions' record coders and what was learned.
#[derive(Debug)]
pub struct Established {
    /// Seals what we send.
    pub encoder: RecordEncoder,
    /// Opens what we receive.
    pub decoder: RecordDecoder,
    /// Who the peer is.
    pub info: SessionInfo,
}

/// Milliseconds since the Unix epoch, by the system clock (0 if it is before 1970).
#[must_use]
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn params() -> Result<NoiseParams, HandshakeError> {
    NOISE_PARAMS
        .parse()
        .map_err(|_| HandshakeError::Local("Noise parameters"))
}

fn local(what: &'static str) -> impl Fn(snow::Error) -> HandshakeError {
    move |_| HandshakeError::Local(what)
}

/// Writes `len` random bytes of padding after `fixed`.
fn with_padding(fixed: &[u8], pad_len: usize, rng: &mut impl RngCore) -> Vec<u8> {
    let mut message = Vec::with_capacity(fixed.len() + pad_len);
    message.extend_from_slice(fixed);
    message.resize(fixed.len() + pad_len, 0);
    if let Some(padding) = message.get_mut(fixed.len()..) {
        rng.fill_bytes(padding);
    }
    message
}

/// Replaces the first 32 bytes of a handshake message (snow's `e`) with the
/// representative of the ephemeral key snow just generated.
fn put_representative(message: &mut [u8], slot: &RepresentativeSlot) -> Result<(), HandshakeError> {
    let representative =
        take_representative(slot).ok_or(HandshakeError::Local("ephemeral representative"))?;
    message
        .get_mut(..KEY_LEN)
        .ok_or(HandshakeError::Local("message buffer"))?
        .copy_from_slice(&representative);
    Ok(())
}

/// Replaces the representative at the start of a received message with the key it
/// stands for, as snow expects; returns that key.
fn take_key(message: &mut [u8]) -> Result<[u8; KEY_LEN], HandshakeError> {
    let field = message
        .get_mut(..KEY_LEN)
        .ok_or(HandshakeError::NotAuthentic)?;
    let mut representative = [0u8; KEY_LEN];
    representative.copy_from_slice(field);
    let key = key_from_representative(&representative);
    field.copy_from_slice(&key);
    Ok(key)
}

/// The fields shared by both payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Common {
    version: u8,
    pad_len: u16,
    timestamp_ms: u64,
}

impl Common {
    /// The first 12 payload bytes: version, flags (none yet), padding, timestamp.
    fn to_bytes(self) -> [u8; 12] {
        let [p0, p1] = self.pad_len.to_be_bytes();
        let [t0, t1, t2, t3, t4, t5, t6, t7] = self.timestamp_ms.to_be_bytes();
        [self.version, 0, p0, p1, t0, t1, t2, t3, t4, t5, t6, t7]
    }

    /// The payload: these fields, then `rest`, then zeros.
    fn payload<const N: usize>(self, rest: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        let bytes = self.to_bytes().into_iter().chain(rest.iter().copied());
        for (slot, byte) in out.iter_mut().zip(bytes) {
            *slot = byte;
        }
        out
    }

    fn read(bytes: &[u8]) -> Result<Self, HandshakeError> {
        let field = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .ok_or(HandshakeError::BadPayload("short payload"))
        };
        let version = *field(0..1)?.first().unwrap_or(&0);
        if version != VERSION {
            return Err(HandshakeError::BadPayload("unknown version"));
        }
        let pad_len = u16::from_be_bytes(
            field(2..4)?
                .try_into()
                .map_err(|_| HandshakeError::BadPayload("short payload"))?,
        );
        if pad_len > MAX_HANDSHAKE_PADDING {
            return Err(HandshakeError::BadPayload("padding over the limit"));
        }
        let timestamp_ms = u64::from_be_bytes(
            field(4..12)?
                .try_into()
                .map_err(|_| HandshakeError::BadPayload("short payload"))?,
        );
        Ok(Self {
            version,
            pad_len,
            timestamp_ms,
        })
    }
}

fn split(
    mut state: HandshakeState,
    role: Role,
    remote_key: PublicKey,
    config: &Config,
    rng: &mut impl RngCore,
) -> Result<Established, HandshakeError> {
    if !state.is_handshake_finished() {
        return Err(HandshakeError::Local("handshake not finished"));
    }
    let handshake_hash: [u8; 32] = state
        .get_handshake_hash()
        .try_into()
        .map_err(|_| HandshakeError::Local("handshake hash"))?;
    let (to_responder, to_initiator) = state.dangerously_get_raw_split();
    let (to_responder, to_initiator) = (Zeroizing::new(to_responder), Zeroizing::new(to_initiator));
    let (send, receive) = match role {
        Role::Initiator => (&to_responder, &to_initiator),
        Role::Responder => (&to_initiator, &to_responder),
    };
    let encoder = RecordEncoder::new(send, config.padding, config.rekey_after, rng)
        .ok_or(HandshakeError::Local("cipher"))?;
    let decoder = RecordDecoder::new(receive).ok_or(HandshakeError::Local("cipher"))?;
    Ok(Established {
        encoder,
        decoder,
        info: SessionInfo {
            remote_key,
            role,
            handshake_hash,
        },
    })
}

/// The initiator's side, waiting for msg2.
pub struct InitiatorHandshake {
    state: HandshakeState,
    responder: PublicKey,
    rng: StdRng,
}

impl std::fmt::Debug for InitiatorHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorHandshake")
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}

impl InitiatorHandshake {
    /// Starts a handshake with the holder of `responder`: returns the state and msg1
    /// (with its padding) to send.
    ///
    /// `now_ms` is the clock (milliseconds since the Unix epoch, [`unix_ms_now`]); `rng`
    /// supplies every random choice (ephemeral key, padding), so a seeded generator makes
    /// msg1 reproducible in tests.
    ///
    /// # Errors
    /// [`HandshakeError::Local`] if the handshake cannot be set up.
    pub fn start(
        identity: &Identity,
        responder: &PublicKey,
        config: &Config,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let pad_len = rng.random_range(0..=config.handshake_padding_max());
        let payload: [u8; MSG1_PAYLOAD_LEN] = Common {
            version: VERSION,
            pad_len,
            timestamp_ms: now_ms,
        }
        .payload(&identity.public().to_bytes());
        Self::start_with_payload(identity, responder, payload, rng)
    }

    /// [`start`](Self::start) with the payload given (the padding length is read from
    /// it): tests make wrong ones with it.
    fn start_with_payload(
        identity: &Identity,
        responder: &PublicKey,
        payload: [u8; MSG1_PAYLOAD_LEN],
        rng: &mut impl CryptoRng,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let pad_len = match payload {
            [_, _, p0, p1, ..] => u16::from_be_bytes([p0, p1]),
        };
        let slot = RepresentativeSlot::default();
        let resolver = ObfsResolver::new(std::sync::Arc::clone(&slot), rng);
        let secret = identity.x25519_secret();
        let remote = responder.to_x25519();
        let mut state = Builder::with_resolver(params()?, Box::new(resolver))
            .local_private_key(secret.as_ref())
            .and_then(|builder| builder.remote_public_key(&remote))
            .and_then(|builder| builder.prologue(PROLOGUE))
            .and_then(Builder::build_initiator)
            .map_err(local("initiator setup"))?;
        let mut fixed = [0u8; MSG1_LEN];
        let written = state
            .write_message(&payload, &mut fixed)
            .map_err(local("write msg1"))?;
        if written != MSG1_LEN {
            return Err(HandshakeError::Local("msg1 length"));
        }
        put_representative(&mut fixed, &slot)?;
        let message = with_padding(&fixed, usize::from(pad_len), rng);
        let rng = StdRng::from_rng(rng);
        Ok((
            Self {
                state,
                responder: *responder,
                rng,
            },
            message,
        ))
    }

    /// Reads msg2's fixed part ([`MSG2_LEN`] bytes): returns the established session and
    /// how many bytes of padding follow msg2 (to read and drop before the first record).
    ///
    /// # Errors
    /// [`HandshakeError::NotAuthentic`] if the responder does not hold the expected key
    /// (or the bytes are not msg2); [`HandshakeError::BadPayload`] for an unknown version
    /// or padding over the limit.
    pub fn read_msg2(
        mut self,
        msg2: &[u8; MSG2_LEN],
        config: &Config,
    ) -> Result<(Established, usize), HandshakeError> {
        let mut message = *msg2;
        take_key(&mut message)?;
        let mut payload = [0u8; MSG2_LEN];
        let len = self
            .state
            .read_message(&message, &mut payload)
            .map_err(|_| HandshakeError::NotAuthentic)?;
        let common = Common::read(payload.get(..len).unwrap_or_default())?;
        let established = split(
            self.state,
            Role::Initiator,
            self.responder,
            config,
            &mut self.rng,
        )?;
        Ok((established, usize::from(common.pad_len)))
    }
}

/// The responder's side, after an authentic msg1.
pub struct ResponderHandshake {
    state: HandshakeState,
    slot: RepresentativeSlot,
    initiator: PublicKey,
    pad_len: usize,
    evicted: bool,
}

impl std::fmt::Debug for ResponderHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderHandshake")
            .field("initiator", &self.initiator)
            .finish_non_exhaustive()
    }
}

impl ResponderHandshake {
    /// Reads msg1's fixed part ([`MSG1_LEN`] bytes) sent to `identity`; checks its
    /// timestamp against `now_ms` and the replay `filter`, which remembers it.
    ///
    /// Nothing may be sent to the peer when this fails.
    ///
    /// # Errors
    /// [`HandshakeError::NotAuthentic`] (random bytes, another protocol, a message for
    /// another key), [`HandshakeError::BadPayload`] (unknown version, padding over the
    /// limit, an Ed25519 key that is not the Noise static key),
    /// [`HandshakeError::Stale`], [`HandshakeError::Replay`].
    pub fn read_msg1(
        identity: &Identity,
        msg1: &[u8; MSG1_LEN],
        now_ms: u64,
        filter: &ReplayFilter,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, HandshakeError> {
        let slot = RepresentativeSlot::default();
        let resolver = ObfsResolver::new(std::sync::Arc::clone(&slot), rng);
        let secret = identity.x25519_secret();
        let mut state = Builder::with_resolver(params()?, Box::new(resolver))
            .local_private_key(secret.as_ref())
            .and_then(|builder| builder.prologue(PROLOGUE))
            .and_then(Builder::build_responder)
            .map_err(local("responder setup"))?;
        let mut message = *msg1;
        let ephemeral = take_key(&mut message)?;
        let mut payload = [0u8; MSG1_LEN];
        let len = state
            .read_message(&message, &mut payload)
            .map_err(|_| HandshakeError::NotAuthentic)?;
        let payload = payload
            .get(..len)
            .filter(|p| p.len() == MSG1_PAYLOAD_LEN)
            .ok_or(HandshakeError::BadPayload("payload length"))?;
        let common = Common::read(payload)?;
        let key_bytes: [u8; 32] = payload
            .get(12..44)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(HandshakeError::BadPayload("payload length"))?;
        let initiator = PublicKey::from_bytes(&key_bytes)
            .map_err(|_| HandshakeError::BadPayload("initiator key is not a usable point"))?;
        let remote_static = state
            .get_remote_static()
            .ok_or(HandshakeError::Local("remote static"))?;
        if remote_static != initiator.to_x25519() {
            return Err(HandshakeError::BadPayload(
                "initiator's Ed25519 key is not its Noise static key",
            ));
        }
        let admitted = filter
            .admit(ephemeral, common.timestamp_ms, now_ms)
            .map_err(|refusal| match refusal {
                ReplayRefusal::Stale { skew_ms } => HandshakeError::Stale { skew_ms },
                ReplayRefusal::Replay | ReplayRefusal::BelowFloor => HandshakeError::Replay,
            })?;
        Ok(Self {
            state,
            slot,
            initiator,
            pad_len: usize::from(common.pad_len),
            evicted: admitted.evicted,
        })
    }

    /// The initiator's identity (authenticated by msg1).
    #[must_use]
    pub fn remote_key(&self) -> PublicKey {
        self.initiator
    }

    /// Whether admitting msg1 dropped an older entry from the full replay filter.
    #[must_use]
    pub fn replay_filter_evicted(&self) -> bool {
        self.evicted
    }

    /// How many bytes of padding follow msg1 (to read and drop before msg2 is sent).
    #[must_use]
    pub fn msg1_padding(&self) -> usize {
        self.pad_len
    }

    /// Writes msg2 (with its padding): returns it and the established session.
    ///
    /// # Errors
    /// [`HandshakeError::Local`] if the handshake cannot go on.
    pub fn write_msg2(
        mut self,
        config: &Config,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<u8>, Established), HandshakeError> {
        let pad_len = rng.random_range(0..=config.handshake_padding_max());
        let payload: [u8; MSG2_PAYLOAD_LEN] = Common {
            version: VERSION,
            pad_len,
            timestamp_ms: now_ms,
        }
        .payload(&[]);
        let mut fixed = [0u8; MSG2_LEN];
        let written = self
            .state
            .write_message(&payload, &mut fixed)
            .map_err(local("write msg2"))?;
        if written != MSG2_LEN {
            return Err(HandshakeError::Local("msg2 length"));
        }
        put_representative(&mut fixed, &self.slot)?;
        let message = with_padding(&fixed, usize::from(pad_len), rng);
        let established = split(self.state, Role::Responder, self.initiator, config, rng)?;
        Ok((message, established))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use super::*;
    use crate::noise::record::RecordHeader;

    const NOW: u64 = 1_800_000_000_000;

    fn filter() -> ReplayFilter {
        ReplayFilter::new(Duration::from_secs(120), 1000)
    }

    fn handshake(
        initiator: &Identity,
        responder: &Identity,
        rng: &mut StdRng,
    ) -> (Established, Established) {
        let config = Config::default();
        let (pending, msg1) =
            InitiatorHandshake::start(initiator, &responder.public(), &config, NOW, rng).unwrap();
        let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
        let accepted =
            ResponderHandshake::read_msg1(responder, &fixed, NOW, &filter(), rng).unwrap();
        assert_eq!(accepted.msg1_padding(), msg1.len() - MSG1_LEN);
        assert_eq!(accepted.remote_key(), initiator.public());
        let (msg2, theirs) = accepted.write_msg2(&config, NOW, rng).unwrap();
        let fixed: [u8; MSG2_LEN] = msg2[..MSG2_LEN].try_into().unwrap();
        let (ours, pad) = pending.read_msg2(&fixed, &config).unwrap();
        assert_eq!(pad, msg2.len() - MSG2_LEN);
        (ours, theirs)
    }

    #[test]
    fn both_ends_agree_and_know_each_other() {
        let mut rng = StdRng::seed_from_u64(1);
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (mut a, mut b) = handshake(&alice, &bob, &mut rng);
        assert_eq!(a.info.remote_key(), bob.public());
        assert_eq!(b.info.remote_key(), alice.public());
        assert_eq!(a.info.handshake_hash(), b.info.handshake_hash());
        assert_eq!(
            (a.info.role(), b.info.role()),
            (Role::Initiator, Role::Responder)
        );
        for flip in [false, true] {
            let (from, to) = if flip {
                (&mut b, &mut a)
            } else {
                (&mut a, &mut b)
            };
            let mut wire = Vec::new();
            from.encoder
                .seal(&mut b"ping".to_vec(), false, &mut wire)
                .unwrap();
            let header = to.decoder.decode_header(&wire).unwrap().unwrap();
            assert_eq!(header.record_len(), wire.len());
            let opened = to.decoder.open_in_place(&mut wire).unwrap();
            assert_eq!(&wire[opened.data()], b"ping");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_msg1_and_different_seeds_do_not() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let config = Config::default();
        let msg = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            InitiatorHandshake::start(&alice, &bob.public(), &config, NOW, &mut rng)
                .unwrap()
                .1
        };
        assert_eq!(msg(7), msg(7));
        assert_ne!(msg(7)[..MSG1_LEN], msg(8)[..MSG1_LEN]);
    }

    #[test]
    fn msg1_for_another_key_is_not_authentic() {
        let mut rng = StdRng::seed_from_u64(2);
        let (alice, bob, carol) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let (_, msg1) =
            InitiatorHandshake::start(&alice, &bob.public(), &Config::default(), NOW, &mut rng)
                .unwrap();
        let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
        let error =
            ResponderHandshake::read_msg1(&carol, &fixed, NOW, &filter(), &mut rng).unwrap_err();
        assert!(matches!(error, HandshakeError::NotAuthentic), "{error}");
    }

    #[test]
    fn replays_and_stale_msg1_are_refused() {
        let mut rng = StdRng::seed_from_u64(3);
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let config = Config::default();
        let filter = filter();
        let (_, msg1) =
            InitiatorHandshake::start(&alice, &bob.public(), &config, NOW, &mut rng).unwrap();
        let mut fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
        ResponderHandshake::read_msg1(&bob, &fixed, NOW, &filter, &mut rng).unwrap();
        let error =
            ResponderHandshake::read_msg1(&bob, &fixed, NOW + 10, &filter, &mut rng).unwrap_err();
        assert!(matches!(error, HandshakeError::Replay), "{error}");
        // The other representative of the same key (top bits changed) is the same message.
        fixed[31] ^= 0xc0;
        let error =
            ResponderHandshake::read_msg1(&bob, &fixed, NOW + 10, &filter, &mut rng).unwrap_err();
        assert!(matches!(error, HandshakeError::Replay), "{error}");

        let (_, old) =
            InitiatorHandshake::start(&alice, &bob.public(), &config, NOW - 600_000, &mut rng)
                .unwrap();
        let fixed: [u8; MSG1_LEN] = old[..MSG1_LEN].try_into().unwrap();
        let error =
            ResponderHandshake::read_msg1(&bob, &fixed, NOW, &filter, &mut rng).unwrap_err();
        assert!(
            matches!(error, HandshakeError::Stale { skew_ms: 600_000 }),
            "{error}"
        );
    }

    #[test]
    fn every_flipped_bit_of_msg1_is_refused() {
        let mut rng = StdRng::seed_from_u64(4);
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (_, msg1) =
            InitiatorHandshake::start(&alice, &bob.public(), &Config::default(), NOW, &mut rng)
                .unwrap();
        // One bit per byte keeps the test quick in debug builds; the top two bits of the
        // representative are the exception (ignored by the map, caught as a replay).
        for byte in 0..MSG1_LEN {
            let mut fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
            fixed[byte] ^= 1 << (byte % 6);
            let result = ResponderHandshake::read_msg1(&bob, &fixed, NOW, &filter(), &mut rng);
            assert!(
                matches!(result, Err(HandshakeError::NotAuthentic)),
                "byte {byte}: {result:?}"
            );
        }
    }

    #[test]
    fn a_responder_without_the_key_cannot_answer() {
        let mut rng = StdRng::seed_from_u64(5);
        let (alice, bob, mallory) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let config = Config::default();
        let (pending, _) =
            InitiatorHandshake::start(&alice, &bob.public(), &config, NOW, &mut rng).unwrap();
        // Mallory answers with a msg2 of a session of her own.
        let (_, msg1) =
            InitiatorHandshake::start(&alice, &mallory.public(), &config, NOW, &mut rng).unwrap();
        let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
        let accepted =
            ResponderHandshake::read_msg1(&mallory, &fixed, NOW, &filter(), &mut rng).unwrap();
        let (msg2, _) = accepted.write_msg2(&config, NOW, &mut rng).unwrap();
        let fixed: [u8; MSG2_LEN] = msg2[..MSG2_LEN].try_into().unwrap();
        let error = pending.read_msg2(&fixed, &config).unwrap_err();
        assert!(matches!(error, HandshakeError::NotAuthentic), "{error}");
    }

    #[test]
    fn authentic_msg1_with_wrong_content_is_refused() {
        let mut rng = StdRng::seed_from_u64(6);
        let (alice, bob, carol) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let common = |version, pad_len| Common {
            version,
            pad_len,
            timestamp_ms: NOW,
        };
        let mut weak = [0u8; 32];
        weak[0] = 1; // the identity point: small order, refused as a key
        for (payload, why) in [
            (
                common(2, 0).payload(&alice.public().to_bytes()),
                "unknown version",
            ),
            (
                common(VERSION, MAX_HANDSHAKE_PADDING + 1).payload(&alice.public().to_bytes()),
                "padding over the limit",
            ),
            (
                common(VERSION, 0).payload(&carol.public().to_bytes()),
                "initiator's Ed25519 key is not its Noise static key",
            ),
            (
                common(VERSION, 0).payload(&weak),
                "initiator key is not a usable point",
            ),
        ] {
            let (_, msg1) =
                InitiatorHandshake::start_with_payload(&alice, &bob.public(), payload, &mut rng)
                    .unwrap();
            let fixed: [u8; MSG1_LEN] = msg1[..MSG1_LEN].try_into().unwrap();
            let error =
                ResponderHandshake::read_msg1(&bob, &fixed, NOW, &filter(), &mut rng).unwrap_err();
            assert!(
                matches!(error, HandshakeError::BadPayload(reason) if reason == why),
                "{error}"
            );
        }
    }

    #[test]
    fn message_lengths() {
        assert_eq!(MSG1_LEN, 144);
        assert_eq!(MSG2_LEN, 64);
        let _ = RecordHeader {
            body_len: 0,
            pad_len: 0,
            flags: 0,
        };
    }
}
