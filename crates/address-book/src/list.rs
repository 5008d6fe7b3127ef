//! One bounded peer list with random eviction and random picks, all O(1).

use std::collections::HashMap;

use rand::Rng;
use umbra_p2p_core::{PeerCandidate, ZoneAddr};

/// How many random probes a pick tries before it falls back to a scan from a random
/// offset. Lists are mostly eligible (bans remove their entries, and the caller excludes a
/// few dozen connected peers at most), so the probes almost always succeed.
const RANDOM_PROBES: usize = 16;

/// A set of peers keyed by address, at most `max` long.
///
/// The entries live in a vector (for O(1) uniform random picks and evictions) with an
/// address → position index beside it; removal swaps the last entry into the hole.
#[derive(Debug, Clone)]
pub(crate) struct PeerList<A> {
    entries: Vec<PeerCandidate<A>>,
    index: HashMap<A, usize>,
    max: usize,
}

/// What [`PeerList::insert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted<A> {
    /// The address was new and there was room.
    New,
    /// The address was new; this random entry was evicted to make room.
    Evicted(PeerCandidate<A>),
    /// The address was already there; the entry was replaced.
    Replaced,
    /// The list holds nothing (`max` is 0); the peer was not stored.
    Refused,
}

impl<A: ZoneAddr> PeerList<A> {
    /// An empty list of at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn contains(&self, addr: &A) -> bool {
        self.index.contains_key(addr)
    }

    pub(crate) fn get(&self, addr: &A) -> Option<&PeerCandidate<A>> {
        self.index.get(addr).and_then(|&i| self.entries.get(i))
    }

    pub(crate) fn get_mut(&mut self, addr: &A) -> Option<&mut PeerCandidate<A>> {
        let i = *self.index.get(addr)?;
        self.entries.get_mut(i)
    }

    /// The entries, in storage order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PeerCandidate<A>> {
        self.entries.iter()
    }

    /// Stores `peer`, replacing the entry of the same address, or evicting a random entry
    /// when the list is full. The new peer is never the one evicted.
    pub(crate) fn insert(&mut self, peer: PeerCandidate<A>, rng: &mut impl Rng) -> Inserted<A> {
        if let Some(existing) = self.get_mut(&peer.addr) {
            *existing = peer;
            return Inserted::Replaced;
        }
        if self.max == 0 {
            return Inserted::Refused;
        }
        let evicted = if self.entries.len() >= self.max {
            let victim = rng.random_range(0..self.entries.len());
            self.remove_at(victim)
        } else {
            None
        };
        self.index.insert(peer.addr.clone(), self.entries.len());
        self.entries.push(peer);
        evicted.map_or(Inserted::New, Inserted::Evicted)
    }

    /// Removes the entry of `addr`.
    pub(crate) fn remove(&mut self, addr: &A) -> Option<PeerCandidate<A>> {
        let i = *self.index.get(addr)?;
        self.remove_at(i)
    }

    fn remove_at(&mut self, i: usize) -> Option<PeerCandidate<A>> {
        if i >= self.entries.len() {
            return None;
        }
        let removed = self.entries.swap_remove(i);
        self.index.remove(&removed.addr);
        if let Some(moved) = self.entries.get(i) {
            self.index.insert(moved.addr.clone(), i);
        }
        Some(removed)
    }

    /// Removes every entry whose address matches, returning how many went.
    pub(crate) fn remove_where(&mut self, mut matches: impl FnMut(&A) -> bool) -> usize {
        let doomed: Vec<A> = self
            .entries
            .iter()
            .filter(|p| matches(&p.addr))
            .map(|p| p.addr.clone())
            .collect();
        for addr in &doomed {
            self.remove(addr);
        }
        doomed.len()
    }

    /// A uniformly random entry among those `eligible` accepts, or `None` if none does.
    ///
    /// A few random probes first (O(1)); if they all hit ineligible entries, a scan from a
    /// random offset (O(n), and slightly biased towards entries that follow long ineligible
    /// runs — acceptable for a fallback that only happens when most entries are excluded).
    pub(crate) fn pick(
        &self,
        rng: &mut impl Rng,
        mut eligible: impl FnMut(&PeerCandidate<A>) -> bool,
    ) -> Option<&PeerCandidate<A>> {
        let len = self.entries.len();
        if len == 0 {
            return None;
        }
        for _ in 0..RANDOM_PROBES {
            if let Some(peer) = self.entries.get(rng.random_range(0..len))
                && eligible(peer)
            {
                return Some(peer);
            }
        }
        let start = rng.random_range(0..len);
        self.entries
            .iter()
            .skip(start)
            .chain(self.entries.iter().take(start))
            .find(|peer| eligible(peer))
    }

    /// Up to `n` distinct random entries among those `eligible` accepts.
    pub(crate) fn sample(
        &self,
        rng: &mut impl Rng,
        n: usize,
        mut eligible: impl FnMut(&PeerCandidate<A>) -> bool,
    ) -> Vec<PeerCandidate<A>> {
        if n == 0 {
            return Vec::new();
        }
        // A random permutation of positions, walked until `n` eligible entries are found:
        // uniform without replacement, and bounded by the list length.
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        let mut out = Vec::with_capacity(n.min(order.len()));
        let mut remaining = order.len();
        while remaining > 0 && out.len() < n {
            let pick = rng.random_range(0..remaining);
            remaining -= 1;
            order.swap(pick, remaining);
            if let Some(peer) = order.get(remaining).and_then(|&i| self.entries.get(i))
                && eligible(peer)
            {
                out.push(peer.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn peer(i: u32) -> PeerCandidate<SocketAddr> {
        PeerCandidate {
            addr: SocketAddr::from(([1, 0, 0, 0], 1)).with_port(u16::try_from(i).unwrap()),
            id: u64::from(i),
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
        }
    }

    fn consistent(list: &PeerList<SocketAddr>) {
        assert_eq!(list.entries.len(), list.index.len());
        for (i, p) in list.entries.iter().enumerate() {
            assert_eq!(list.index[&p.addr], i);
        }
    }

    #[test]
    fn eviction_keeps_the_bound_and_the_index_consistent() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut list = PeerList::new(10);
        let mut evicted = 0;
        for i in 1..=100 {
            match list.insert(peer(i), &mut rng) {
                Inserted::New => {}
                Inserted::Evicted(old) => {
                    evicted += 1;
                    assert_ne!(old.addr, peer(i).addr);
                    assert!(!list.contains(&old.addr));
                }
                other => panic!("{other:?}"),
            }
            assert!(list.len() <= 10);
            assert!(list.contains(&peer(i).addr), "the new peer is kept");
            consistent(&list);
        }
        assert_eq!(evicted, 90);
        assert_eq!(list.insert(peer(100), &mut rng), Inserted::Replaced);
        assert_eq!(list.remove_where(|_| true), 10);
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn a_zero_sized_list_refuses() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut list = PeerList::new(0);
        assert_eq!(list.insert(peer(1), &mut rng), Inserted::Refused);
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn picks_respect_eligibility_and_cover_the_list() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut list = PeerList::new(50);
        for i in 1..=50 {
            list.insert(peer(i), &mut rng);
        }
        // Only one eligible entry: the fallback scan finds it.
        let only = peer(37).addr;
        for _ in 0..20 {
            assert_eq!(list.pick(&mut rng, |p| p.addr == only).unwrap().addr, only);
        }
        assert!(list.pick(&mut rng, |_| false).is_none());
        // Random picks reach many entries.
        let seen: std::collections::HashSet<_> = (0..500)
            .map(|_| list.pick(&mut rng, |_| true).unwrap().id)
            .collect();
        assert!(seen.len() > 40);
    }

    #[test]
    fn samples_are_distinct_and_bounded() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut list = PeerList::new(30);
        for i in 1..=30 {
            list.insert(peer(i), &mut rng);
        }
        let sample = list.sample(&mut rng, 10, |p| p.id % 2 == 0);
        assert_eq!(sample.len(), 10);
        let ids: std::collections::HashSet<_> = sample.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 10);
        assert!(ids.iter().all(|id| id % 2 == 0));
        assert_eq!(list.sample(&mut rng, 100, |_| true).len(), 30);
        assert!(list.sample(&mut rng, 0, |_| true).is_empty());
    }
}
