//! Bans: hosts (ban keys) we refuse, each until an expiry time.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use umbra_p2p_core::ZoneAddr;

/// The longest ban: about a century. Longer requests (`Duration::MAX` for "forever") are
/// cut to this so that the expiry stays a representable time.
pub const MAX_BAN: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + duration`, with `duration` cut to [`MAX_BAN`].
pub(crate) fn ban_expiry(now: SystemTime, duration: Duration) -> SystemTime {
    now.checked_add(duration.min(MAX_BAN)).unwrap_or(now)
}

/// Banned hosts, keyed by [`ZoneAddr::ban_key`], at most `max` of them.
///
/// Expired bans are forgotten lazily: when their host is looked up mutably
/// ([`Bans::check`]), when the map is full, and by [`Bans::forget_expired`] (called at
/// save).
#[derive(Debug, Clone)]
pub(crate) struct Bans<A> {
    until: HashMap<A, SystemTime>,
    max: usize,
}

impl<A: ZoneAddr> Bans<A> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            until: HashMap::new(),
            max,
        }
    }

    /// Bans `key` (already a ban key) until `until`. An existing ban is only ever extended,
    /// never shortened. At the bound, expired bans go first, then the one expiring soonest
    /// (which may be the new one, if it expires before all others). Returns the expiry in
    /// force, or `None` if the ban could not be kept (`max` is 0).
    pub(crate) fn insert(
        &mut self,
        key: A,
        until: SystemTime,
        now: SystemTime,
    ) -> Option<SystemTime> {
        if let Some(existing) = self.until.get_mut(&key) {
            *existing = (*existing).max(until);
            return Some(*existing);
        }
        if self.max == 0 {
            return None;
        }
        if self.until.len() >= self.max {
            self.forget_expired(now);
        }
        if self.until.len() >= self.max {
            let soonest = self
                .until
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(key, until)| (key.clone(), *until));
            match soonest {
                Some((_, soonest_until)) if soonest_until > until => return None,
                Some((victim, _)) => {
                    self.until.remove(&victim);
                }
                None => {}
            }
        }
        self.until.insert(key, until);
        Some(until)
    }

    /// Whether `key` is banned at `now`, without forgetting anything.
    pub(crate) fn is_banned(&self, key: &A, now: SystemTime) -> bool {
        self.until.get(key).is_some_and(|until| *until > now)
    }

    /// Whether `key` is banned at `now`; an expired ban of `key` is forgotten.
    pub(crate) fn check(&mut self, key: &A, now: SystemTime) -> bool {
        match self.until.get(key) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.until.remove(key);
                false
            }
            None => false,
        }
    }

    /// The expiry of `key`'s ban, if it is banned at `now`.
    pub(crate) fn expiry(&self, key: &A, now: SystemTime) -> Option<SystemTime> {
        self.until.get(key).copied().filter(|until| *until > now)
    }

    /// Lifts the ban of `key`; whether there was one in force.
    pub(crate) fn remove(&mut self, key: &A, now: SystemTime) -> bool {
        self.until.remove(key).is_some_and(|until| until > now)
    }

    /// Forgets every ban that has expired at `now`.
    pub(crate) fn forget_expired(&mut self, now: SystemTime) {
        self.until.retain(|_, until| *until > now);
    }

    /// Bans in force at `now`.
    pub(crate) fn active(&self, now: SystemTime) -> impl Iterator<Item = (&A, SystemTime)> {
        self.until
            .iter()
            .filter(move |(_, until)| **until > now)
            .map(|(key, until)| (key, *until))
    }

    /// Bans held, expired ones not yet forgotten included.
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn host(i: u8) -> SocketAddr {
        SocketAddr::from(([1, 2, 3, i], 0))
    }

    #[test]
    fn bans_expire_and_are_only_extended() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut bans = Bans::new(10);
        let long = t0 + Duration::from_secs(100);
        assert_eq!(bans.insert(host(1), long, t0), Some(long));
        // A shorter ban does not shorten it.
        assert_eq!(
            bans.insert(host(1), t0 + Duration::from_secs(5), t0),
            Some(long)
        );
        assert!(bans.check(&host(1), t0 + Duration::from_secs(99)));
        assert!(!bans.check(&host(1), long));
        assert_eq!(bans.len(), 0, "the expired ban was forgotten");
    }

    #[test]
    fn at_the_bound_the_soonest_expiry_goes() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut bans = Bans::new(3);
        for i in 1..=3 {
            bans.insert(host(i), t0 + Duration::from_secs(u64::from(i) * 10), t0);
        }
        // Longer than all: host 1 (soonest) is dropped.
        bans.insert(host(4), t0 + Duration::from_secs(100), t0);
        assert_eq!(bans.len(), 3);
        assert!(!bans.is_banned(&host(1), t0));
        assert!(bans.is_banned(&host(4), t0));
        // Shorter than all: the new ban is the one not kept.
        assert_eq!(bans.insert(host(5), t0 + Duration::from_secs(1), t0), None);
        assert!(!bans.is_banned(&host(5), t0));
        // Expired bans make room first.
        let later = t0 + Duration::from_secs(35);
        assert!(
            bans.insert(host(6), later + Duration::from_secs(1), later)
                .is_some()
        );
        assert!(bans.is_banned(&host(4), later));
        assert_eq!(bans.len(), 2);
    }

    #[test]
    fn zero_capacity_and_huge_durations() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut none = Bans::new(0);
        assert_eq!(none.insert(host(1), t0 + Duration::from_secs(1), t0), None);
        assert!(ban_expiry(t0, Duration::MAX) > t0 + Duration::from_secs(50 * 365 * 86_400));
    }
}
