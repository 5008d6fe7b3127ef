//! [`AddressBook`]: the sans-IO core — lists, bans and scores of one zone, driven by
//! events with the time passed in.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use rand::{SeedableRng, rngs::StdRng};
use umbra_p2p_core::{MAX_PEER_LIST_LEN, NetworkZone, PeerCandidate, ZoneAddr};

use crate::{
    AddressBookConfig,
    bans::{Bans, ban_expiry},
    list::{Inserted, PeerList},
    score::Scores,
    time,
};

/// Which list an address is in (see [`AddressBook::list_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerListKind {
    /// Peers we completed a handshake with (or whose address a ping-back confirmed).
    White,
    /// Peers we heard of from other peers and have not reached ourselves.
    Gray,
}

/// What [`AddressBook::misbehaved`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The host's score went up but stays under the threshold.
    Tolerated {
        /// The host's decayed score after this offence, rounded.
        score: u32,
    },
    /// The host is banned (now, or already was): disconnect it.
    Banned,
}

impl Verdict {
    /// Whether the host is banned.
    #[must_use]
    pub const fn is_banned(self) -> bool {
        matches!(self, Self::Banned)
    }
}

/// How full the book is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Entries of the white list.
    pub white: usize,
    /// Entries of the gray list.
    pub gray: usize,
    /// Anchors.
    pub anchors: usize,
    /// Bans in force.
    pub bans: usize,
    /// Hosts with a misbehaviour score.
    pub scored_hosts: usize,
}

/// The address book of zone `Z`: white, gray and anchor lists, bans and misbehaviour
/// scores, every one bounded by [`AddressBookConfig`].
///
/// A plain synchronous state machine: no tasks, no clock (every time-dependent method
/// takes `now`), no I/O except the explicit [`AddressBook::load`] and
/// [`AddressBook::save`]. Randomness (evictions, picks) comes from a generator the book
/// owns, seeded from the OS, or fixed with [`AddressBook::with_rng_seed`] for tests.
///
/// Invariants: an address is in at most one of white and gray; no list holds an address
/// of a host banned when it was added (banning removes the host's entries); every list is
/// within its bound after every call.
pub struct AddressBook<Z: NetworkZone> {
    config: AddressBookConfig,
    white: PeerList<Z::Addr>,
    gray: PeerList<Z::Addr>,
    anchors: PeerList<Z::Addr>,
    bans: Bans<Z::Addr>,
    scores: Scores<Z::Addr>,
    rng: StdRng,
}

impl<Z: NetworkZone> fmt::Debug for AddressBook<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: the entries are peer addresses, which are not for logs.
        f.debug_struct("AddressBook")
            .field("zone", &Z::NAME)
            .field("white", &self.white.len())
            .field("gray", &self.gray.len())
            .field("anchors", &self.anchors.len())
            .field("bans", &self.bans.len())
            .field("scored_hosts", &self.scores.len())
            .finish_non_exhaustive()
    }
}

impl<Z: NetworkZone> AddressBook<Z> {
    /// An empty book (nothing is read from disk; see [`AddressBook::load`]).
    #[must_use]
    pub fn new(config: AddressBookConfig) -> Self {
        Self {
            white: PeerList::new(config.max_white),
            gray: PeerList::new(config.max_gray),
            anchors: PeerList::new(config.max_anchors),
            bans: Bans::new(config.max_bans),
            scores: Scores::new(config.max_scored_hosts, config.score_half_life),
            rng: StdRng::from_os_rng(),
            config,
        }
    }

    /// The same book with its random generator seeded with `seed`, so that evictions and
    /// picks are reproducible (tests, simulations).
    #[must_use]
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// The settings the book was made with.
    #[must_use]
    pub fn config(&self) -> &AddressBookConfig {
        &self.config
    }

    fn acceptable(&self, addr: &Z::Addr, now: SystemTime) -> bool {
        addr.is_routable(self.config.allow_local) && !self.bans.is_banned(&addr.ban_key(), now)
    }

    /// Puts `peer` in the gray list, making room by dropping a random gray entry.
    fn insert_gray(&mut self, peer: PeerCandidate<Z::Addr>) -> bool {
        matches!(
            self.gray.insert(peer, &mut self.rng),
            Inserted::New | Inserted::Evicted(_)
        )
    }

    /// We completed a handshake with `peer` as outbound, or a ping-back confirmed an
    /// inbound peer's address: it goes to the white list (out of the gray list) with
    /// `last_seen = now`. A full white list moves a random entry to the gray list to make
    /// room. Returns `false` (and stores nothing) for an unroutable address or a banned
    /// host.
    pub fn handshake_succeeded(
        &mut self,
        mut peer: PeerCandidate<Z::Addr>,
        now: SystemTime,
    ) -> bool {
        if !self.acceptable(&peer.addr, now) {
            return false;
        }
        peer.last_seen = time::last_seen(now);
        let known = self
            .white
            .get(&peer.addr)
            .or_else(|| self.gray.get(&peer.addr));
        if let Some(known) = known
            && peer.pruning_seed == 0
        {
            // As monerod: older nodes do not pass pruning seeds around; keep one we know.
            peer.pruning_seed = known.pruning_seed;
        }
        self.gray.remove(&peer.addr);
        match self.white.insert(peer, &mut self.rng) {
            Inserted::Evicted(demoted) => {
                tracing::trace!(
                    zone = Z::NAME,
                    "white list full: a random peer moved to gray"
                );
                self.insert_gray(demoted);
            }
            Inserted::New | Inserted::Replaced | Inserted::Refused => {}
        }
        true
    }

    /// Peers a peer told us about (already through `umbra_p2p_core::filter_peer_list`;
    /// routability is checked again here). Each goes to the gray list unless it is white
    /// already or its host is banned; a full gray list drops a random entry per new peer.
    /// Returns how many were new.
    ///
    /// As in monerod, an entry already in the gray list keeps its `last_seen` (a peer's
    /// claim about when it saw someone is untrusted: believing "newer" would let a peer
    /// keep its own entries looking fresh) and keeps a known pruning seed if the new entry
    /// has none; its id and RPC fields are updated. A new entry's `last_seen` is clamped to
    /// `[0, now]`.
    pub fn add_gray(
        &mut self,
        peers: impl IntoIterator<Item = PeerCandidate<Z::Addr>>,
        now: SystemTime,
    ) -> usize {
        let now_secs = time::last_seen(now);
        let mut new = 0;
        for mut peer in peers {
            if !self.acceptable(&peer.addr, now) || self.white.contains(&peer.addr) {
                continue;
            }
            if let Some(existing) = self.gray.get_mut(&peer.addr) {
                existing.id = peer.id;
                existing.rpc_port = peer.rpc_port;
                existing.rpc_credits_per_hash = peer.rpc_credits_per_hash;
                if peer.pruning_seed != 0 {
                    existing.pruning_seed = peer.pruning_seed;
                }
                continue;
            }
            peer.last_seen = peer.last_seen.clamp(0, now_secs);
            if self.insert_gray(peer) {
                new += 1;
            }
        }
        new
    }

    fn take(
        list: &PeerList<Z::Addr>,
        bans: &Bans<Z::Addr>,
        rng: &mut StdRng,
        exclude: impl Fn(&Z::Addr) -> bool,
        now: SystemTime,
    ) -> Option<PeerCandidate<Z::Addr>> {
        list.pick(rng, |peer| {
            !exclude(&peer.addr) && !bans.is_banned(&peer.addr.ban_key(), now)
        })
        .cloned()
    }

    /// A random white peer to dial, skipping banned hosts and addresses `exclude` accepts
    /// (those we are connected to or dialling). The entry stays in the list.
    pub fn take_white(
        &mut self,
        exclude: impl Fn(&Z::Addr) -> bool,
        now: SystemTime,
    ) -> Option<PeerCandidate<Z::Addr>> {
        Self::take(&self.white, &self.bans, &mut self.rng, exclude, now)
    }

    /// A random gray peer to dial, as [`AddressBook::take_white`].
    pub fn take_gray(
        &mut self,
        exclude: impl Fn(&Z::Addr) -> bool,
        now: SystemTime,
    ) -> Option<PeerCandidate<Z::Addr>> {
        Self::take(&self.gray, &self.bans, &mut self.rng, exclude, now)
    }

    /// The anchors (at most `max_anchors`), banned hosts skipped: the outbound peers we
    /// were connected to, to dial first after a restart.
    #[must_use]
    pub fn anchors(&self, now: SystemTime) -> Vec<PeerCandidate<Z::Addr>> {
        self.anchors
            .iter()
            .filter(|peer| !self.bans.is_banned(&peer.addr.ban_key(), now))
            .cloned()
            .collect()
    }

    /// Dialling `addr` failed: a white entry is moved to the gray list, a gray entry is
    /// removed, and an anchor stops being one.
    pub fn dial_failed(&mut self, addr: &Z::Addr) {
        self.anchors.remove(addr);
        if let Some(demoted) = self.white.remove(addr) {
            self.insert_gray(demoted);
        } else {
            self.gray.remove(addr);
        }
    }

    /// An outbound connection to `peer` is up: it becomes an anchor with `last_seen = now`
    /// (a full anchor list replaces a random one). Returns `false` (and stores nothing) for
    /// an unroutable address or a banned host.
    pub fn anchor_connected(&mut self, mut peer: PeerCandidate<Z::Addr>, now: SystemTime) -> bool {
        if !self.acceptable(&peer.addr, now) {
            return false;
        }
        peer.last_seen = time::last_seen(now);
        self.anchors.insert(peer, &mut self.rng);
        true
    }

    /// The outbound connection to `addr` closed: it is no longer an anchor.
    ///
    /// At shutdown, [`AddressBook::save`] before reporting the disconnections (or do not
    /// report them), so that the anchors survive the restart — monerod likewise keeps
    /// anchors whose connections close because the node stops.
    pub fn anchor_disconnected(&mut self, addr: &Z::Addr) {
        self.anchors.remove(addr);
    }

    /// Up to `n` (never more than [`MAX_PEER_LIST_LEN`]) random white peers, for the peer
    /// list of our handshake and timed-sync responses.
    ///
    /// As monerod does for every peer list it sends, the entries are a random choice over
    /// the whole white list (not the most recent ones) and their `last_seen` is zeroed: a
    /// peer asking twice must not learn whom we connected to lately (Cao et al.,
    /// "Exploring the Monero Peer-to-Peer Network", 2019).
    pub fn white_peers_for_sharing(
        &mut self,
        n: usize,
        now: SystemTime,
    ) -> Vec<PeerCandidate<Z::Addr>> {
        let bans = &self.bans;
        let mut peers = self
            .white
            .sample(&mut self.rng, n.min(MAX_PEER_LIST_LEN), |peer| {
                !bans.is_banned(&peer.addr.ban_key(), now)
            });
        for peer in &mut peers {
            peer.last_seen = 0;
        }
        peers
    }

    /// Bans the host of `addr` ([`ZoneAddr::ban_key`]: a whole IP on clearnet) for
    /// `duration` (cut to [`crate::MAX_BAN`]): its entries leave the white, gray and anchor
    /// lists and its score is forgotten. An existing longer ban is kept.
    ///
    /// Returns the ban's expiry, or `None` if the ban could not be kept because the ban
    /// map is full of bans that all last longer (or `max_bans` is 0); the host's entries
    /// are removed either way.
    pub fn ban(
        &mut self,
        addr: &Z::Addr,
        duration: Duration,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let key = addr.ban_key();
        let until = self
            .bans
            .insert(key.clone(), ban_expiry(now, duration), now);
        let of_host = |a: &Z::Addr| a.ban_key() == key;
        let removed = self.white.remove_where(of_host)
            + self.gray.remove_where(of_host)
            + self.anchors.remove_where(of_host);
        self.scores.remove(&key);
        tracing::debug!(
            zone = Z::NAME,
            secs = duration.as_secs(),
            entries_removed = removed,
            kept = until.is_some(),
            "host banned"
        );
        until
    }

    /// Whether the host of `addr` is banned at `now` (an expired ban is forgotten here).
    pub fn is_banned(&mut self, addr: &Z::Addr, now: SystemTime) -> bool {
        self.bans.check(&addr.ban_key(), now)
    }

    /// When the ban of `addr`'s host ends, if it is banned at `now`.
    #[must_use]
    pub fn ban_expiry(&self, addr: &Z::Addr, now: SystemTime) -> Option<SystemTime> {
        self.bans.expiry(&addr.ban_key(), now)
    }

    /// Lifts the ban of `addr`'s host and forgets its score; whether a ban was in force.
    pub fn unban(&mut self, addr: &Z::Addr, now: SystemTime) -> bool {
        let key = addr.ban_key();
        self.scores.remove(&key);
        self.bans.remove(&key, now)
    }

    /// The host of `addr` misbehaved (junk peer lists, protocol violations): `score` is
    /// added to its decaying score (halved every `score_half_life`), and at
    /// `ban_threshold` or more the host is banned for `default_ban`.
    pub fn misbehaved(&mut self, addr: &Z::Addr, score: u32, now: SystemTime) -> Verdict {
        let key = addr.ban_key();
        if self.bans.check(&key, now) {
            return Verdict::Banned;
        }
        let total = self.scores.add(&key, score, now);
        // Rounded, so that decay between two offences of 50 (a hair under 100 by the second)
        // does not spare the host.
        if round_score(total) >= self.config.ban_threshold {
            self.ban(addr, self.config.default_ban, now);
            return Verdict::Banned;
        }
        Verdict::Tolerated {
            score: round_score(total),
        }
    }

    /// The current (decayed) misbehaviour score of `addr`'s host.
    #[must_use]
    pub fn score(&self, addr: &Z::Addr, now: SystemTime) -> f64 {
        self.scores.get(&addr.ban_key(), now)
    }

    /// Which list `addr` is in, if any.
    #[must_use]
    pub fn list_of(&self, addr: &Z::Addr) -> Option<PeerListKind> {
        if self.white.contains(addr) {
            Some(PeerListKind::White)
        } else if self.gray.contains(addr) {
            Some(PeerListKind::Gray)
        } else {
            None
        }
    }

    /// The entry of `addr` in the white or gray list.
    #[must_use]
    pub fn get(&self, addr: &Z::Addr) -> Option<&PeerCandidate<Z::Addr>> {
        self.white.get(addr).or_else(|| self.gray.get(addr))
    }

    /// Whether `addr` is an anchor.
    #[must_use]
    pub fn is_anchor(&self, addr: &Z::Addr) -> bool {
        self.anchors.contains(addr)
    }

    /// How full the book is at `now`.
    #[must_use]
    pub fn stats(&self, now: SystemTime) -> BookStats {
        BookStats {
            white: self.white.len(),
            gray: self.gray.len(),
            anchors: self.anchors.len(),
            bans: self.bans.active(now).count(),
            scored_hosts: self.scores.len(),
        }
    }

    // ---- for persistence (crate::persist) ----

    pub(crate) fn white_list(&self) -> &PeerList<Z::Addr> {
        &self.white
    }

    pub(crate) fn gray_list(&self) -> &PeerList<Z::Addr> {
        &self.gray
    }

    pub(crate) fn anchor_list(&self) -> &PeerList<Z::Addr> {
        &self.anchors
    }

    pub(crate) fn bans_mut(&mut self) -> &mut Bans<Z::Addr> {
        &mut self.bans
    }

    /// Fills an empty book from loaded entries, enforcing the bounds and the rules of the
    /// live book: bans first (so banned hosts' entries are dropped), then white, gray
    /// (minus white addresses) and anchors. A list longer than its bound keeps its most
    /// recently seen entries. Returns how many entries were dropped.
    pub(crate) fn restore(
        &mut self,
        white: Vec<PeerCandidate<Z::Addr>>,
        gray: Vec<PeerCandidate<Z::Addr>>,
        anchors: Vec<PeerCandidate<Z::Addr>>,
        bans: Vec<(Z::Addr, SystemTime)>,
        now: SystemTime,
    ) -> usize {
        let offered = white.len() + gray.len() + anchors.len() + bans.len();
        let mut bans = bans;
        if bans.len() > self.config.max_bans {
            bans.sort_by_key(|(_, until)| std::cmp::Reverse(*until));
            bans.truncate(self.config.max_bans);
        }
        for (key, until) in bans {
            if until > now {
                self.bans.insert(key.ban_key(), until, now);
            }
        }
        let mut kept = self.bans.len();
        kept += self.restore_list(Restored::White, white, now);
        kept += self.restore_list(Restored::Gray, gray, now);
        kept += self.restore_list(Restored::Anchors, anchors, now);
        offered.saturating_sub(kept)
    }
}

/// The list [`AddressBook::restore_list`] fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restored {
    White,
    Gray,
    Anchors,
}

impl<Z: NetworkZone> AddressBook<Z> {
    /// Restores one list: unacceptable entries (unroutable, banned host, gray entries that
    /// are white) are dropped; over the bound, the most recently seen entries are kept.
    /// Returns how many were stored.
    fn restore_list(
        &mut self,
        which: Restored,
        entries: Vec<PeerCandidate<Z::Addr>>,
        now: SystemTime,
    ) -> usize {
        let mut entries: Vec<_> = entries
            .into_iter()
            .filter(|peer| self.acceptable(&peer.addr, now))
            .filter(|peer| which != Restored::Gray || !self.white.contains(&peer.addr))
            .collect();
        let list = match which {
            Restored::White => &mut self.white,
            Restored::Gray => &mut self.gray,
            Restored::Anchors => &mut self.anchors,
        };
        if entries.len() > list.max() {
            entries.sort_by_key(|peer| std::cmp::Reverse(peer.last_seen));
            entries.truncate(list.max());
        }
        let now_secs = time::last_seen(now);
        let mut stored = 0;
        for mut peer in entries {
            peer.last_seen = peer.last_seen.clamp(0, now_secs);
            if matches!(list.insert(peer, &mut self.rng), Inserted::New) {
                stored += 1;
            }
        }
        stored
    }
}

/// A decayed score as a whole number for reports.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn round_score(score: f64) -> u32 {
    // `as` saturates (and maps NaN to 0); the clamp states the intent.
    score.round().clamp(0.0, f64::from(u32::MAX)) as u32
}
