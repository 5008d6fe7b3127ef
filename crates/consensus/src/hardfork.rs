//! Hard-fork versions: the per-network tables, the voting state and the version rule for a
//! block's `major_version` / `minor_version`.
//!
//! # The rules (monerod 0.18, `src/cryptonote_basic/hardfork.cpp`)
//!
//! - A block's `minor_version` is its *vote*; a vote of 0 counts as 1 (blocks of the
//!   original chain carried 0). Votes above the newest known version count as the newest.
//! - A block is accepted only if its `major_version` equals the current version and its
//!   vote is at least the current version ([`check_block_version`]).
//! - After a block at height `h` is added, the version for height `h + 1` is the newest fork
//!   `f` (scanning from the newest down) with `h + 1 >= f.height` and at least
//!   `ceil(window * f.threshold / 100)` of the last [`VOTING_WINDOW`] votes for `f` or a
//!   newer version; if none qualifies the version stays as it is. It never goes down while
//!   blocks are added.
//! - Every fork of every network has threshold 0, so in practice a fork activates at its
//!   height; the voting is kept faithful anyway ([`HardForkState`]).

use std::collections::VecDeque;

use thiserror::Error;

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

    /// The block time target in seconds: 60 for version 1, 120 from version 2
    /// (`DIFFICULTY_TARGET_V1` / `DIFFICULTY_TARGET_V2` in `cryptonote_config.h`).
    pub const fn target_seconds(self) -> u64 {
        match self {
            Self::V1 => 60,
            _ => 120,
        }
    }
}

/// How many of the last blocks' votes are counted (`HardFork::DEFAULT_WINDOW_SIZE`, a week of
/// 60-second blocks).
pub const VOTING_WINDOW: usize = 10_080;

/// One hard fork of a network's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    /// The version that becomes current.
    pub version: HardFork,
    /// The first height at which it may be current.
    pub height: u64,
    /// Percentage of the voting window that must vote for it (0 on every network).
    pub threshold_percent: u8,
}

/// A network's hard forks, oldest first (monerod's `mainnet_hard_forks` etc. in
/// `src/hardforks/hardforks.cpp`, and the regtest table in `cryptonote_core.cpp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardForkTable {
    forks: &'static [Fork],
}

impl HardForkTable {
    /// A table from forks ordered by strictly increasing version and height.
    pub const fn new(forks: &'static [Fork]) -> Self {
        Self { forks }
    }

    /// The forks, oldest first.
    pub const fn forks(&self) -> &'static [Fork] {
        self.forks
    }

    /// The newest version in the table (what monerod calls the "ideal" version and what its
    /// miners vote for).
    pub fn newest(&self) -> HardFork {
        self.forks.last().map_or(HardFork::V1, |fork| fork.version)
    }

    /// The version the table schedules for `height` ignoring votes (monerod's
    /// `get_ideal_version(height)`); with thresholds of 0 this is also the voted version.
    pub fn scheduled_version(&self, height: u64) -> HardFork {
        self.forks
            .iter()
            .rev()
            .find(|fork| height >= fork.height)
            .map_or(HardFork::V1, |fork| fork.version)
    }

    /// The height from which `version` is scheduled, if the table has it.
    pub fn activation_height(&self, version: HardFork) -> Option<u64> {
        self.forks
            .iter()
            .find(|fork| fork.version == version)
            .map(|fork| fork.height)
    }
}

const fn fork(version: HardFork, height: u64) -> Fork {
    Fork {
        version,
        height,
        threshold_percent: 0,
    }
}

/// Mainnet (`mainnet_hard_forks`; version 1 from height 0 as monerod's placeholder entry).
pub const MAINNET_FORKS: HardForkTable = HardForkTable::new(&[
    fork(HardFork::V1, 0),
    fork(HardFork::V2, 1_009_827),
    fork(HardFork::V3, 1_141_317),
    fork(HardFork::V4, 1_220_516),
    fork(HardFork::V5, 1_288_616),
    fork(HardFork::V6, 1_400_000),
    fork(HardFork::V7, 1_546_000),
    fork(HardFork::V8, 1_685_555),
    fork(HardFork::V9, 1_686_275),
    fork(HardFork::V10, 1_788_000),
    fork(HardFork::V11, 1_788_720),
    fork(HardFork::V12, 1_978_433),
    fork(HardFork::V13, 2_210_000),
    fork(HardFork::V14, 2_210_720),
    fork(HardFork::V15, 2_688_888),
    fork(HardFork::V16, 2_689_608),
]);

/// Testnet (`testnet_hard_forks`).
pub const TESTNET_FORKS: HardForkTable = HardForkTable::new(&[
    fork(HardFork::V1, 0),
    fork(HardFork::V2, 624_634),
    fork(HardFork::V3, 800_500),
    fork(HardFork::V4, 801_219),
    fork(HardFork::V5, 802_660),
    fork(HardFork::V6, 971_400),
    fork(HardFork::V7, 1_057_027),
    fork(HardFork::V8, 1_057_058),
    fork(HardFork::V9, 1_057_778),
    fork(HardFork::V10, 1_154_318),
    fork(HardFork::V11, 1_155_038),
    fork(HardFork::V12, 1_308_737),
    fork(HardFork::V13, 1_543_939),
    fork(HardFork::V14, 1_544_659),
    fork(HardFork::V15, 1_982_800),
    fork(HardFork::V16, 1_983_520),
]);

/// Stagenet (`stagenet_hard_forks`).
pub const STAGENET_FORKS: HardForkTable = HardForkTable::new(&[
    fork(HardFork::V1, 0),
    fork(HardFork::V2, 32_000),
    fork(HardFork::V3, 33_000),
    fork(HardFork::V4, 34_000),
    fork(HardFork::V5, 35_000),
    fork(HardFork::V6, 36_000),
    fork(HardFork::V7, 37_000),
    fork(HardFork::V8, 176_456),
    fork(HardFork::V9, 177_176),
    fork(HardFork::V10, 269_000),
    fork(HardFork::V11, 269_720),
    fork(HardFork::V12, 454_721),
    fork(HardFork::V13, 675_405),
    fork(HardFork::V14, 676_125),
    fork(HardFork::V15, 1_151_000),
    fork(HardFork::V16, 1_151_720),
]);

/// `--regtest`: monerod 0.18 `core::init` (`src/cryptonote_core/cryptonote_core.cpp`) passes
/// `regtest_hard_forks[3] = {{1, 0}, {mainnet_hard_forks[num_mainnet_hard_forks-1].version, 1},
/// {0, 0}}` as the fake chain's table: version 1 for the genesis block, the newest mainnet
/// version (16) from height 1.
pub const REGTEST_FORKS: HardForkTable =
    HardForkTable::new(&[fork(HardFork::V1, 0), fork(HardFork::V16, 1)]);

/// A block whose version fields break the hard-fork rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HardForkError {
    /// `major_version` is not the current version.
    #[error("block major version {major} is not the current hard-fork version {current}")]
    WrongMajorVersion {
        /// The block's `major_version`.
        major: u8,
        /// The current version.
        current: u8,
    },
    /// The vote (`minor_version`, 0 read as 1) is below the current version.
    #[error(
        "block votes for version {vote} (minor version {minor}), below the current version {current}"
    )]
    VoteTooLow {
        /// The block's `minor_version`.
        minor: u8,
        /// The vote it stands for.
        vote: u8,
        /// The current version.
        current: u8,
    },
}

/// The vote a `minor_version` stands for: 0 counts as 1.
pub const fn block_vote(minor_version: u8) -> u8 {
    if minor_version == 0 { 1 } else { minor_version }
}

/// The version rule for a block added on top of a chain whose current version is `current`.
pub fn check_block_version(major: u8, minor: u8, current: HardFork) -> Result<(), HardForkError> {
    let current_u8 = current.as_u8();
    if major != current_u8 {
        return Err(HardForkError::WrongMajorVersion {
            major,
            current: current_u8,
        });
    }
    let vote = block_vote(minor);
    if vote < current_u8 {
        return Err(HardForkError::VoteTooLow {
            minor,
            vote,
            current: current_u8,
        });
    }
    Ok(())
}

/// The voting state of a chain: its current version and the last [`VOTING_WINDOW`] votes.
///
/// Feed it every block added on top ([`HardForkState::add_block`]); build it again from the
/// chain after a reorg ([`HardForkState::from_history`]). It holds at most
/// [`VOTING_WINDOW`] votes (about 10 KB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardForkState {
    table: HardForkTable,
    /// Index into `table.forks()` of the current version.
    current: usize,
    /// Effective votes of the last blocks, oldest first.
    votes: VecDeque<u8>,
    /// `counts[v]`: how many of `votes` are `v`.
    counts: [u32; 256],
}

impl HardForkState {
    /// The state of an empty chain: version of the first fork, no votes.
    pub fn new(table: HardForkTable) -> Self {
        Self {
            table,
            current: 0,
            votes: VecDeque::new(),
            counts: [0; 256],
        }
    }

    /// The state of a chain of `chain_height` blocks whose top block had version
    /// `top_version`, with the `(major, minor)` versions of its last blocks (oldest first; only
    /// the last [`VOTING_WINDOW`] are used). This is what monerod does at start
    /// (`HardFork::init` / `rescan_from_block_height`).
    pub fn from_history(
        table: HardForkTable,
        chain_height: u64,
        top_version: HardFork,
        last_minor_versions: impl IntoIterator<Item = u8>,
    ) -> Self {
        let mut state = Self::new(table);
        for minor in last_minor_versions {
            state.push_vote(minor);
        }
        state.current = table
            .forks()
            .iter()
            .position(|fork| fork.version == top_version)
            .unwrap_or(0);
        state.apply_votes(chain_height);
        state
    }

    /// The table this state follows.
    pub const fn table(&self) -> &HardForkTable {
        &self.table
    }

    /// The version the next block must have.
    pub fn current(&self) -> HardFork {
        self.table
            .forks()
            .get(self.current)
            .map_or(HardFork::V1, |fork| fork.version)
    }

    /// Votes in the window for `version` or newer.
    pub fn votes_for(&self, version: HardFork) -> u64 {
        self.counts
            .iter()
            .skip(usize::from(version.as_u8()))
            .map(|&count| u64::from(count))
            .sum()
    }

    /// Number of votes in the window.
    pub fn window_len(&self) -> usize {
        self.votes.len()
    }

    /// Checks the version fields of a block to be added on top.
    pub fn check(&self, major: u8, minor: u8) -> Result<(), HardForkError> {
        check_block_version(major, minor, self.current())
    }

    /// Records a block added at `height` (already checked with [`HardForkState::check`])
    /// and moves the current version forward if the votes and the table say so.
    pub fn add_block(&mut self, height: u64, minor: u8) {
        self.push_vote(minor);
        self.apply_votes(height.saturating_add(1));
    }

    fn push_vote(&mut self, minor: u8) {
        let vote = block_vote(minor).min(self.table.newest().as_u8());
        while self.votes.len() >= VOTING_WINDOW {
            if let Some(old) = self.votes.pop_front()
                && let Some(slot) = self.counts.get_mut(usize::from(old))
            {
                *slot = slot.saturating_sub(1);
            }
        }
        self.votes.push_back(vote);
        if let Some(slot) = self.counts.get_mut(usize::from(vote)) {
            *slot = slot.saturating_add(1);
        }
    }

    /// monerod's `get_voted_fork_index(height)` applied: the current version only moves up.
    fn apply_votes(&mut self, height: u64) {
        let mut accumulated: u64 = 0;
        for (index, fork) in self.table.forks().iter().enumerate().rev() {
            accumulated += self
                .counts
                .get(usize::from(fork.version.as_u8()))
                .map_or(0, |&count| u64::from(count));
            let needed = (VOTING_WINDOW as u64 * u64::from(fork.threshold_percent)).div_ceil(100);
            if height >= fork.height && accumulated >= needed {
                if index > self.current {
                    self.current = index;
                }
                return;
            }
        }
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
    fn versions_round_trip() {
        for v in 1..=16 {
            assert_eq!(HardFork::from_version(v).unwrap().as_u8(), v);
        }
        assert_eq!(HardFork::from_version(0), None);
        assert_eq!(HardFork::from_version(17), None);
    }

    #[test]
    fn tables_are_ordered() {
        for table in [MAINNET_FORKS, TESTNET_FORKS, STAGENET_FORKS, REGTEST_FORKS] {
            for pair in table.forks().windows(2) {
                assert!(pair[0].version < pair[1].version);
                assert!(pair[0].height < pair[1].height);
            }
            assert_eq!(table.newest(), HardFork::V16);
        }
    }

    #[test]
    fn mainnet_schedule_matches_the_vector_blocks() {
        // blocks.json: 202612 is v1, 1731606 is v9, 2751506 is v16.
        assert_eq!(MAINNET_FORKS.scheduled_version(202_612), HardFork::V1);
        assert_eq!(MAINNET_FORKS.scheduled_version(1_731_606), HardFork::V9);
        assert_eq!(MAINNET_FORKS.scheduled_version(2_751_506), HardFork::V16);
        assert_eq!(MAINNET_FORKS.scheduled_version(1_978_432), HardFork::V11);
        assert_eq!(MAINNET_FORKS.scheduled_version(1_978_433), HardFork::V12);
    }

    #[test]
    fn regtest_is_v1_then_v16() {
        assert_eq!(REGTEST_FORKS.scheduled_version(0), HardFork::V1);
        assert_eq!(REGTEST_FORKS.scheduled_version(1), HardFork::V16);
        let mut state = HardForkState::new(REGTEST_FORKS);
        assert_eq!(state.current(), HardFork::V1);
        state.check(1, 0).unwrap();
        state.add_block(0, 0);
        assert_eq!(state.current(), HardFork::V16);
        state.check(16, 16).unwrap();
        assert_eq!(
            state.check(1, 0),
            Err(HardForkError::WrongMajorVersion {
                major: 1,
                current: 16
            })
        );
        assert_eq!(
            state.check(16, 15),
            Err(HardForkError::VoteTooLow {
                minor: 15,
                vote: 15,
                current: 16
            })
        );
        // A vote for a future version is fine.
        state.check(16, 200).unwrap();
    }

    #[test]
    fn minor_zero_votes_for_one() {
        assert_eq!(block_vote(0), 1);
        check_block_version(1, 0, HardFork::V1).unwrap();
        check_block_version(1, 1, HardFork::V1).unwrap();
    }

    #[test]
    fn mainnet_forks_activate_by_height() {
        let mut state = HardForkState::new(MAINNET_FORKS);
        // Walk a synthetic chain across v1 -> v2 with votes of 0.
        let fork_height = MAINNET_FORKS.activation_height(HardFork::V2).unwrap();
        state.add_block(fork_height - 2, 0);
        assert_eq!(state.current(), HardFork::V1);
        state.add_block(fork_height - 1, 0);
        assert_eq!(state.current(), HardFork::V2);
        // Blocks at the fork must be v2 and vote >= 2.
        assert!(state.check(1, 0).is_err());
        assert!(state.check(2, 0).is_err());
        state.check(2, 2).unwrap();
    }

    #[test]
    fn voting_window_is_bounded() {
        let mut state = HardForkState::new(REGTEST_FORKS);
        for h in 0..(VOTING_WINDOW as u64 + 50) {
            state.add_block(h, 16);
        }
        assert_eq!(state.window_len(), VOTING_WINDOW);
        assert_eq!(state.votes_for(HardFork::V16), VOTING_WINDOW as u64);
        // Votes above the newest version are clamped to it.
        state.add_block(VOTING_WINDOW as u64 + 50, 255);
        assert_eq!(state.votes_for(HardFork::V16), VOTING_WINDOW as u64);
    }

    /// A table with a real threshold, to check the voting arithmetic itself.
    #[test]
    fn threshold_needs_enough_votes() {
        static FORKS: [Fork; 2] = [
            Fork {
                version: HardFork::V1,
                height: 0,
                threshold_percent: 0,
            },
            Fork {
                version: HardFork::V2,
                height: 10,
                threshold_percent: 80,
            },
        ];
        let table = HardForkTable::new(&FORKS);
        let needed = (VOTING_WINDOW as u64 * 80).div_ceil(100);
        let mut state = HardForkState::new(table);
        let mut h = 0;
        while h < needed - 1 {
            state.add_block(h, 2);
            h += 1;
        }
        assert_eq!(state.current(), HardFork::V1, "one vote short");
        state.add_block(h, 2);
        assert_eq!(state.current(), HardFork::V2);
        // The rebuilt state agrees.
        let rebuilt = HardForkState::from_history(
            table,
            h + 1,
            HardFork::V1,
            std::iter::repeat_n(2, needed as usize),
        );
        assert_eq!(rebuilt.current(), HardFork::V2);
    }

    #[test]
    fn rebuilt_state_equals_incremental_state() {
        let mut state = HardForkState::new(MAINNET_FORKS);
        let start = 1_009_800;
        let mut minors = Vec::new();
        for h in start..start + 100 {
            let current = state.current();
            let minor = current.as_u8();
            state.add_block(h, minor);
            minors.push(minor);
        }
        let rebuilt =
            HardForkState::from_history(MAINNET_FORKS, start + 100, HardFork::V2, minors.clone());
        assert_eq!(rebuilt.current(), state.current());
        assert_eq!(
            rebuilt.votes_for(HardFork::V2),
            state.votes_for(HardFork::V2)
        );
    }
}
