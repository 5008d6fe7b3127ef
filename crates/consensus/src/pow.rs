//! Proof of work: which algorithm a block uses, the RandomX key (seed) schedule, the
//! difficulty check, and the hasher ([`RandomXHasher`]).
//!
//! # The rules (monerod 0.18)
//!
//! - The hashed bytes are the block's *hashing blob*: header, Merkle root of the coinbase
//!   and transaction hashes, and the transaction count
//!   ([`monero_oxide::block::Block::serialize_pow_hash`]).
//! - Algorithm by `major_version` (`get_block_longhash`): CryptoNight variant 0 for versions
//!   1-6, variant 1 for 7, variant 2 for 8-9 (monerod passes "variant 3" for 9, which its
//!   CryptoNight treats as 2), CryptoNight-R (variant 4, keyed by height) for 10-11, RandomX
//!   from 12 ([`PowAlgorithm::for_version`]).
//! - Block 202612 of every network has a fixed proof-of-work hash
//!   ([`BLOCK_202612_POW_HASH`]).
//! - RandomX is keyed by the hash of the block at [`seed_height`]: 0 up to height
//!   2048 + 64, then `(height - 64 - 1)` rounded down to a multiple of 2048
//!   (`rx_seedheight`, `src/crypto/rx-slow-hash.c`: `SEEDHASH_EPOCH_BLOCKS` 2048,
//!   `SEEDHASH_EPOCH_LAG` 64).
//! - A hash `h` (read as a little-endian 256-bit number) meets difficulty `d` when
//!   `h * d < 2^256` (`check_hash`, `difficulty.cpp`) — [`check_pow`].
//!
//! This crate computes RandomX only. No maintained Rust crate implements CryptoNight
//! (crates.io has `cryptonight-hash` 0.1.2, `cryptonight-rs` 0.2.1 and `cryptonight` 0.1.0,
//! none updated since 2019-2020 and none covering variant 2 and R), so blocks of versions
//! 1-11 must be accepted by checkpoint (see [`crate::block::PowCheck`]); `docs/consensus.md`
//! lists what that leaves unverified.

mod randomx;
mod thp;

use monero_oxide::block::Block;
use thiserror::Error;

pub use self::randomx::{DatasetPolicy, HasherStats, RandomXConfig, RandomXHasher};

use crate::difficulty::U256;
use crate::hardfork::HardFork;

/// Blocks per RandomX key epoch (`SEEDHASH_EPOCH_BLOCKS`).
pub const SEEDHASH_EPOCH_BLOCKS: u64 = 2048;
/// Blocks a new key waits before use (`SEEDHASH_EPOCH_LAG`).
pub const SEEDHASH_EPOCH_LAG: u64 = 64;

/// The height whose block hash keys RandomX for the block at `height`.
///
/// ```
/// use umbra_consensus::pow::seed_height;
///
/// assert_eq!(seed_height(2112), 0);
/// assert_eq!(seed_height(2113), 2048);
/// assert_eq!(seed_height(2751506), 2750464);
/// ```
pub const fn seed_height(height: u64) -> u64 {
    if height <= SEEDHASH_EPOCH_BLOCKS + SEEDHASH_EPOCH_LAG {
        0
    } else {
        (height - SEEDHASH_EPOCH_LAG - 1) & !(SEEDHASH_EPOCH_BLOCKS - 1)
    }
}

/// The proof-of-work hash of block 202612, fixed by monerod (`get_block_longhash`).
pub const BLOCK_202612_POW_HASH: [u8; 32] = [
    0x84, 0xf6, 0x47, 0x66, 0x47, 0x5d, 0x51, 0x83, 0x7a, 0xc9, 0xef, 0xbe, 0xf1, 0x92, 0x64, 0x86,
    0xe5, 0x85, 0x63, 0xc9, 0x5a, 0x19, 0xfe, 0xf4, 0xae, 0xc3, 0x25, 0x4f, 0x03, 0x00, 0x00, 0x00,
];

/// The height with the fixed proof-of-work hash.
pub const BLOCK_202612_HEIGHT: u64 = 202_612;

/// A proof-of-work algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowAlgorithm {
    /// CryptoNight with monerod's variant number (0, 1, 2, 3 = 2, 4/5 = R).
    CryptoNight {
        /// The variant monerod passes to `cn_slow_hash`.
        variant: u8,
    },
    /// RandomX.
    RandomX,
}

impl PowAlgorithm {
    /// The algorithm of blocks with this `major_version`.
    pub const fn for_version(version: HardFork) -> Self {
        let v = version.as_u8();
        if v >= HardFork::V12.as_u8() {
            Self::RandomX
        } else if v >= 7 {
            Self::CryptoNight { variant: v - 6 }
        } else {
            Self::CryptoNight { variant: 0 }
        }
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RandomX => "RandomX",
            Self::CryptoNight { variant: 0 } => "CryptoNight v0",
            Self::CryptoNight { variant: 1 } => "CryptoNight v1",
            Self::CryptoNight { variant: 2 | 3 } => "CryptoNight v2",
            Self::CryptoNight { .. } => "CryptoNight-R",
        }
    }
}

/// Whether `hash` (little-endian) times `difficulty` stays below 2^256.
///
/// ```
/// use umbra_consensus::pow::check_pow;
///
/// assert!(check_pow(&[0xff; 32], 1));
/// assert!(!check_pow(&[0xff; 32], 2));
/// assert!(check_pow(&[0; 32], u128::MAX));
/// ```
pub fn check_pow(hash: &[u8; 32], difficulty: u128) -> bool {
    U256::from_le_bytes(hash).mul_fits(difficulty)
}

/// The bytes a block's proof of work hashes.
pub fn hashing_blob(block: &Block) -> Vec<u8> {
    block.serialize_pow_hash()
}

/// Proof-of-work failures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PowError {
    /// The block uses an algorithm this crate cannot compute.
    #[error(
        "block at height {height} (version {major_version}) uses {algorithm}, which umbra-consensus cannot compute"
    )]
    Unsupported {
        /// The block's height.
        height: u64,
        /// Its `major_version`.
        major_version: u8,
        /// The algorithm's name.
        algorithm: &'static str,
    },
    /// The block's `major_version` is unknown.
    #[error("block at height {height} has unknown major version {major_version}")]
    UnknownVersion {
        /// The block's height.
        height: u64,
        /// Its `major_version`.
        major_version: u8,
    },
    /// A RandomX block without its seed hash.
    #[error("RandomX block at height {height} given without the hash of block {seed_height}")]
    MissingSeed {
        /// The block's height.
        height: u64,
        /// The seed height it needs.
        seed_height: u64,
    },
    /// The RandomX library failed (allocation, VM creation).
    #[error("RandomX failed: {0}")]
    RandomX(String),
    /// The worker pool could not be built.
    #[error("could not start the hashing threads: {0}")]
    ThreadPool(String),
}

/// A block's proof of work is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PowCheckError {
    /// The hash could not be computed.
    #[error(transparent)]
    Hashing(#[from] PowError),
    /// The block is not the checkpointed one.
    #[error("block at height {height} is {found}, the checkpoint says {expected}")]
    CheckpointMismatch {
        /// Height.
        height: u64,
        /// The checkpoint's hash.
        expected: String,
        /// The block's hash.
        found: String,
    },
    /// The precomputed hash belongs to another block or height.
    #[error(
        "proof-of-work hash for height {height} was computed for block {computed_for} at height {computed_height}"
    )]
    OtherBlock {
        /// Height of the block verified.
        height: u64,
        /// Hash of the block it was computed for.
        computed_for: String,
        /// Height it was computed for.
        computed_height: u64,
    },
    /// The precomputed hash used another RandomX key than the chain's.
    #[error(
        "proof-of-work hash for height {height} used key {used:?}, the chain's key is {expected:?}"
    )]
    WrongSeed {
        /// Height.
        height: u64,
        /// The chain's key (hex), if known.
        expected: Option<String>,
        /// The key used (hex).
        used: Option<String>,
    },
    /// The hash does not meet the difficulty.
    #[error(
        "proof-of-work hash {hash} of the block at height {height} does not meet difficulty {difficulty}"
    )]
    InsufficientWork {
        /// Height.
        height: u64,
        /// The hash, hex.
        hash: String,
        /// The difficulty.
        difficulty: u128,
    },
}

/// A block's proof-of-work hash, bound to the block it was computed for.
///
/// Only this crate makes these (by hashing), so a [`PowHash`] handed to
/// [`crate::block::verify_block_header_and_coinbase`] was computed over that block's hashing
/// blob with the right algorithm and key, if the key (seed hash) given was right — which the
/// verification checks too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowHash {
    block_hash: [u8; 32],
    height: u64,
    seed: Option<[u8; 32]>,
    hash: [u8; 32],
}

impl PowHash {
    /// The block's id.
    pub const fn block_hash(&self) -> [u8; 32] {
        self.block_hash
    }

    /// The height it was computed for.
    pub const fn height(&self) -> u64 {
        self.height
    }

    /// The RandomX key it was computed with (`None` for the fixed hash of block 202612).
    pub const fn seed(&self) -> Option<[u8; 32]> {
        self.seed
    }

    /// The proof-of-work hash.
    pub const fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Whether it meets `difficulty`.
    pub fn meets(&self, difficulty: u128) -> bool {
        check_pow(&self.hash, difficulty)
    }
}

/// What to hash: a block, its height, and for RandomX blocks the hash of the block at
/// [`seed_height`]`(height)`.
#[derive(Debug, Clone, Copy)]
pub struct PowJob<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its height.
    pub height: u64,
    /// The RandomX key (ignored for other algorithms).
    pub seed: Option<[u8; 32]>,
}

/// How a job will be hashed: the fixed hash, RandomX with a key, or not at all.
pub(crate) enum JobPlan {
    Fixed([u8; 32]),
    RandomX { seed: [u8; 32], blob: Vec<u8> },
}

/// Decides how to hash a job without hashing it.
pub(crate) fn plan(job: &PowJob<'_>) -> Result<JobPlan, PowError> {
    let major = job.block.header.hardfork_version;
    if job.height == BLOCK_202612_HEIGHT {
        return Ok(JobPlan::Fixed(BLOCK_202612_POW_HASH));
    }
    let version = HardFork::from_version(major).ok_or(PowError::UnknownVersion {
        height: job.height,
        major_version: major,
    })?;
    match PowAlgorithm::for_version(version) {
        PowAlgorithm::RandomX => {
            let seed = job.seed.ok_or(PowError::MissingSeed {
                height: job.height,
                seed_height: seed_height(job.height),
            })?;
            Ok(JobPlan::RandomX {
                seed,
                blob: hashing_blob(job.block),
            })
        }
        algorithm => Err(PowError::Unsupported {
            height: job.height,
            major_version: major,
            algorithm: algorithm.name(),
        }),
    }
}

pub(crate) fn pow_hash(job: &PowJob<'_>, seed: Option<[u8; 32]>, hash: [u8; 32]) -> PowHash {
    PowHash {
        block_hash: job.block.hash(),
        height: job.height,
        seed,
        hash,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    #[test]
    fn seed_schedule() {
        assert_eq!(seed_height(0), 0);
        assert_eq!(seed_height(1), 0);
        assert_eq!(seed_height(2048), 0);
        assert_eq!(seed_height(2048 + 64), 0);
        assert_eq!(seed_height(2048 + 65), 2048);
        assert_eq!(seed_height(4096 + 64), 2048);
        assert_eq!(seed_height(4096 + 65), 4096);
        // A mainnet block of blocks.json.
        assert_eq!(seed_height(2_751_506), 2_750_464);
        // The first RandomX mainnet block: (1978433 - 65) is a multiple of 2048.
        assert_eq!(seed_height(1_978_433), 1_978_368);
    }

    #[test]
    fn algorithms_by_version() {
        let alg = |v| PowAlgorithm::for_version(HardFork::from_version(v).unwrap());
        assert_eq!(alg(1), PowAlgorithm::CryptoNight { variant: 0 });
        assert_eq!(alg(6), PowAlgorithm::CryptoNight { variant: 0 });
        assert_eq!(alg(7), PowAlgorithm::CryptoNight { variant: 1 });
        assert_eq!(alg(8).name(), "CryptoNight v2");
        assert_eq!(alg(9).name(), "CryptoNight v2");
        assert_eq!(alg(10).name(), "CryptoNight-R");
        assert_eq!(alg(11).name(), "CryptoNight-R");
        assert_eq!(alg(12), PowAlgorithm::RandomX);
        assert_eq!(alg(16), PowAlgorithm::RandomX);
    }

    fn hash_from_hex(hex_str: &str) -> [u8; 32] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    /// The proof-of-work hashes of blocks.json meet their blocks' difficulties (2751506:
    /// difficulty 313732272488, from monerod's `get_block` of that block).
    #[test]
    fn mainnet_pow_hashes_meet_their_difficulty() {
        let pow = hash_from_hex("10b473b5d097d6bfa0656616951840724dfe38c6fb9c4adf8158800300000000");
        assert!(check_pow(&pow, 313_732_272_488));
        // And not a difficulty 2^40 times larger.
        assert!(!check_pow(&pow, 313_732_272_488u128 << 40));
    }

    #[test]
    fn check_pow_edges() {
        // h = 2^255: d = 1 fits, d = 2 reaches 2^256.
        let mut h = [0u8; 32];
        h[31] = 0x80;
        assert!(check_pow(&h, 1));
        assert!(!check_pow(&h, 2));
        // Zero hash meets anything.
        assert!(check_pow(&[0; 32], u128::MAX));
        // h = 1: any difficulty.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(check_pow(&one, u128::MAX));
        // h = 2^128: d < 2^128 fits exactly up to u128::MAX.
        let mut h128 = [0u8; 32];
        h128[16] = 1;
        assert!(check_pow(&h128, u128::MAX));
        // h = 2^129: d = 2^127 fits (2^256 would not), d = 2^127 + ... no.
        let mut h129 = [0u8; 32];
        h129[16] = 2;
        assert!(!check_pow(&h129, 1u128 << 127));
        assert!(check_pow(&h129, (1u128 << 127) - 1));
    }
}
