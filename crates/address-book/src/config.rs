//! What the address book keeps, for how long, and where.

use std::{path::PathBuf, time::Duration};

use umbra_p2p_core::NetworkZone;

/// Settings of one zone's address book. Every list and map of the book is bounded by one of
/// these figures; [`Default`] gives monerod's values where monerod has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBookConfig {
    /// Directory of the peers file (`<data_dir>/<zone>-peers.epee`); `None` keeps the book
    /// in memory only (nothing is read at start or written by `save`).
    ///
    /// Example: `Some("/var/lib/umbra".into())`. Default: `None`.
    pub data_dir: Option<PathBuf>,
    /// Most peers in the white list (peers we completed a handshake with). When full, a
    /// random white entry is moved to the gray list to make room.
    ///
    /// Any value; 0 keeps no white peers. Default: 1000 (monerod's
    /// `P2P_LOCAL_WHITE_PEERLIST_LIMIT`).
    pub max_white: usize,
    /// Most peers in the gray list (peers we heard of). When full, a random gray entry is
    /// dropped to make room.
    ///
    /// Any value; 0 keeps no gray peers. Default: 5000 (monerod's
    /// `P2P_LOCAL_GRAY_PEERLIST_LIMIT`).
    pub max_gray: usize,
    /// Most anchors (outbound peers we are connected to, tried first after a restart). When
    /// full, a random anchor is replaced.
    ///
    /// Any value; 0 disables anchors. Default: 2 (monerod keeps 2 anchor connections).
    pub max_anchors: usize,
    /// Most hosts banned at once. When full, expired bans are forgotten first, then the ban
    /// that would expire soonest.
    ///
    /// Any value; 0 disables bans (every ban is forgotten at once). Default: 10 000.
    pub max_bans: usize,
    /// Most hosts with a misbehaviour score. When full, the host with the lowest (decayed)
    /// score is forgotten.
    ///
    /// Any value; 0 means scores never accumulate (only a single offence of at least
    /// `ban_threshold` bans). Default: 10 000.
    pub max_scored_hosts: usize,
    /// How long a ban lasts when the caller gives no duration, and the ban a misbehaviour
    /// score turns into at the threshold.
    ///
    /// Default: 24 hours (monerod's `P2P_IP_BLOCKTIME`).
    pub default_ban: Duration,
    /// The misbehaviour score (after decay) at which a host is banned for `default_ban`.
    ///
    /// Default: 100, so a protocol violation scored 100 bans at once and lesser offences
    /// (scored 1–50) ban when they repeat faster than they decay.
    pub ban_threshold: u32,
    /// Half-life of misbehaviour scores: a score halves every this long, so occasional
    /// glitches of an honest peer are forgiven while a steady stream of junk is not.
    ///
    /// `Duration::ZERO` forgets scores at once (only single offences at the threshold ban).
    /// Default: 10 minutes.
    pub score_half_life: Duration,
    /// Whether private, loopback and link-local addresses are kept (tests, regtest, private
    /// networks; monerod's `--allow-local-ip`).
    ///
    /// Default: `false`.
    pub allow_local: bool,
}

impl Default for AddressBookConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            max_white: 1000,
            max_gray: 5000,
            max_anchors: 2,
            max_bans: 10_000,
            max_scored_hosts: 10_000,
            default_ban: Duration::from_secs(24 * 60 * 60),
            ban_threshold: 100,
            score_half_life: Duration::from_secs(10 * 60),
            allow_local: false,
        }
    }
}

impl AddressBookConfig {
    /// The peers file of zone `Z`: `<data_dir>/<Z::NAME>-peers.epee`, or `None` without a
    /// data directory.
    #[must_use]
    pub fn peers_file<Z: NetworkZone>(&self) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|dir| dir.join(format!("{}-peers.epee", Z::NAME)))
    }

    /// How many peer-list entries and bans, in all, a book with these bounds holds.
    pub(crate) fn total_entries(&self) -> usize {
        self.max_white
            .saturating_add(self.max_gray)
            .saturating_add(self.max_anchors)
            .saturating_add(self.max_bans)
    }
}
