//! What an operator can tune: padding, jitter, rekeying, timeouts, the replay window.

use std::time::Duration;

use rand::Rng;

use super::record::MAX_BODY;

/// The most padding one record may carry, whatever [`Padding`] says (so a record always
/// has room for at least `MAX_BODY - MAX_RECORD_PADDING` bytes of data).
pub const MAX_RECORD_PADDING: u16 = 8192;
/// The most random padding a handshake message may carry: a peer announcing more is
/// refused (silently, on the responder).
pub const MAX_HANDSHAKE_PADDING: u16 = 4096;

/// How much random padding each record carries (inside the encryption: an observer sees
/// only the length change).
///
/// The padding of a record is drawn when it is sealed, so the same application write
/// gives records of different lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: a record is exactly 37 bytes longer than its data, so an observer who
    /// can see record boundaries (small messages flushed one by one) learns the exact
    /// size of each message. For bulk links between trusted settings only.
    None,
    /// A uniformly random number of bytes in `0..=max` per record (`max` is capped at
    /// [`MAX_RECORD_PADDING`]).
    Uniform {
        /// The most padding of one record. Example: `255`.
        max: u16,
    },
    /// Rounds each record's body up to a multiple of `block` bytes, then adds a uniformly
    /// random number of whole blocks in `0..=extra_blocks`, so lengths leak only in steps
    /// of `block` (both capped so the padding stays within [`MAX_RECORD_PADDING`]).
    Blocks {
        /// The step, in bytes (0 behaves as 1). Example: `256`.
        block: u16,
        /// The most extra whole blocks. Example: `2`.
        extra_blocks: u8,
    },
}

impl Padding {
    /// The most padding a record can get.
    #[must_use]
    pub fn max(self) -> usize {
        let max = match self {
            Self::None => 0,
            Self::Uniform { max } => usize::from(max),
            Self::Blocks {
                block,
                extra_blocks,
            } => {
                let block = usize::from(block.max(1));
                block - 1 + block * usize::from(extra_blocks)
            }
        };
        max.min(usize::from(MAX_RECORD_PADDING))
    }

    /// The padding for a record carrying `data_len` bytes: never more than
    /// [`Padding::max`], and never so much that the body exceeds the record limit.
    pub fn draw(self, data_len: usize, rng: &mut impl Rng) -> usize {
        let pad = match self {
            Self::None => 0,
            Self::Uniform { max } => rng.random_range(0..=usize::from(max)),
            Self::Blocks {
                block,
                extra_blocks,
            } => {
                let block = usize::from(block.max(1));
                let to_boundary = (block - data_len % block) % block;
                to_boundary + block * rng.random_range(0..=usize::from(extra_blocks))
            }
        };
        pad.min(self.max()).min(MAX_BODY.saturating_sub(data_len))
    }
}

impl Default for Padding {
    /// `Uniform { max: 255 }`: under 0.4 % of a full record, and enough that no two
    /// records of the same data need have the same length.
    fn default() -> Self {
        Self::Uniform { max: 255 }
    }
}

/// A range of durations a random one is drawn from (uniformly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayRange {
    /// The shortest.
    pub min: Duration,
    /// The longest (a `max` below `min` counts as `min`).
    pub max: Duration,
}

impl DelayRange {
    /// `min..=max`.
    #[must_use]
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// A duration drawn uniformly from the range.
    pub fn draw(self, rng: &mut impl Rng) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let span = u64::try_from((self.max - self.min).as_micros()).unwrap_or(u64::MAX);
        self.min + Duration::from_micros(rng.random_range(0..=span))
    }
}

/// The settings of Umbra's Noise transport.
///
/// Both ends may use different settings: everything here is either local (timeouts,
/// jitter, the replay filter) or announced inside the encryption (padding lengths,
/// rekeying), so nothing has to be agreed beforehand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Random padding inside every record. Default: [`Padding::Uniform`] up to 255 bytes.
    pub padding: Padding,
    /// The most random padding after each handshake message (uniform in `0..=max`,
    /// capped at [`MAX_HANDSHAKE_PADDING`]), so first messages have no fixed length.
    /// Default: 512.
    pub handshake_padding: u16,
    /// The most random delay before a record sealed by a flush is written (uniform in
    /// `0..=jitter`; full records written while data streams are never delayed). Blurs
    /// the timing of small messages at the cost of latency. Default: zero (off).
    pub jitter: Duration,
    /// After how many bytes one direction rekeys (Noise `REKEY`, announced by a flag in
    /// the encrypted record header, so the two ends need not agree on the number).
    /// Default: 256 MiB. Minimum 1 (every record).
    pub rekey_after: u64,
    /// How long a handshake may take, from the first byte to the last, on either side.
    /// Default: 10 s.
    pub handshake_timeout: Duration,
    /// When a responder closes a connection whose handshake failed, counted from the
    /// start of [`respond`](super::respond): a uniformly random time in this range (or at
    /// once, if the failure comes later). Until then it reads and discards whatever
    /// arrives and writes nothing. Keep `min` at or above `handshake_timeout`, so that
    /// every failure (garbage, a replay, a peer that stops sending) closes at a time from
    /// the same range, whatever was sent. Default: 10 s to 30 s.
    pub probe_close_delay: DelayRange,
    /// How far a first message's timestamp may be from the responder's clock, either way.
    /// First messages older than this are refused; replays within it are caught by the
    /// replay filter. Default: 2 minutes.
    pub replay_window: Duration,
    /// How many first messages the replay filter remembers. When full, the entry with
    /// the oldest timestamp is dropped and from then on first messages with a timestamp
    /// at or before it are refused as possible replays: the filter never lets a replay
    /// through, and under a flood it refuses stale handshakes first. About 100 bytes per
    /// entry. Default: 32,768 (about 270 handshakes a second within the default window).
    pub replay_capacity: usize,
    /// How many inbound handshakes a [`NoiseTransport`](super::NoiseTransport) listener
    /// runs at once (failed ones count until their delayed close). Beyond that it stops
    /// accepting until one finishes. Default: 256.
    pub max_concurrent_handshakes: usize,
}

impl Config {
    /// Defaults suitable for a node on clearnet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The handshake padding actually used (capped).
    pub(crate) fn handshake_padding_max(&self) -> u16 {
        self.handshake_padding.min(MAX_HANDSHAKE_PADDING)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            padding: Padding::default(),
            handshake_padding: 512,
            jitter: Duration::ZERO,
            rekey_after: 256 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            probe_close_delay: DelayRange::new(Duration::from_secs(10), Duration::from_secs(30)),
            replay_window: Duration::from_secs(120),
            replay_capacity: 32_768,
            max_concurrent_handshakes: 256,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn padding_stays_within_its_bounds() {
        let mut rng = StdRng::seed_from_u64(3);
        for padding in [
            Padding::None,
            Padding::Uniform { max: 255 },
            Padding::Uniform { max: u16::MAX },
            Padding::Blocks {
                block: 256,
                extra_blocks: 3,
            },
            Padding::Blocks {
                block: 0,
                extra_blocks: 255,
            },
            Padding::Blocks {
                block: u16::MAX,
                extra_blocks: 255,
            },
        ] {
            for data_len in [0, 1, 100, 255, 256, 1000, MAX_BODY - 300, MAX_BODY] {
                let pad = padding.draw(data_len, &mut rng);
                assert!(pad <= padding.max(), "{padding:?}");
                assert!(data_len + pad <= MAX_BODY);
                if let Padding::Blocks { block: 256, .. } = padding
                    && data_len + 256 * 4 <= MAX_BODY
                {
                    assert_eq!((data_len + pad) % 256, 0);
                }
            }
        }
    }

    #[test]
    fn delays_stay_in_range() {
        let mut rng = StdRng::seed_from_u64(4);
        let range = DelayRange::new(Duration::from_millis(10), Duration::from_millis(20));
        for _ in 0..100 {
            let d = range.draw(&mut rng);
            assert!(d >= range.min && d <= range.max);
        }
        let backwards = DelayRange::new(Duration::from_millis(20), Duration::from_millis(10));
        assert_eq!(backwards.draw(&mut rng), Duration::from_millis(20));
    }
}
