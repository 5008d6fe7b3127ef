//! Hard-fork versions.

/// A Monero hard-fork version (a block's `major_version` once the fork is active).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum HardFork {
    /// Version 1: the launch rules (CryptoNight, no RingCT).
    V1 = 1,
    /// Version 2.
    V2,
    /// Version 3.
    V3,
    /// Version 4.
    V4,
    /// Version 5.
    V5,
    /// Version 6.
    V6,
    /// Version 7: CryptoNight variant 1.
    V7,
    /// Version 8: CryptoNight variant 2, Bulletproofs.
    V8,
    /// Version 9.
    V9,
    /// Version 10: CryptoNight-R.
    V10,
    /// Version 11.
    V11,
    /// Version 12: RandomX.
    V12,
    /// Version 13: CLSAG.
    V13,
    /// Version 14.
    V14,
    /// Version 15: Bulletproofs+, view tags.
    V15,
    /// Version 16: the current rules (monerod 0.18).
    V16,
}

impl HardFork {
    /// The newest version this crate knows.
    pub const LATEST: Self = Self::V16;

    /// The version with this number, if it exists.
    pub const fn from_version(version: u8) -> Option<Self> {
        Some(match version {
            1 => Self::V1,
            2 => Self::V2,
            3 => Self::V3,
            4 => Self::V4,
            5 => Self::V5,
            6 => Self::V6,
            7 => Self::V7,
            8 => Self::V8,
            9 => Self::V9,
            10 => Self::V10,
            11 => Self::V11,
            12 => Self::V12,
            13 => Self::V13,
            14 => Self::V14,
            15 => Self::V15,
            16 => Self::V16,
            _ => return None,
        })
    }

    /// The version number.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}
