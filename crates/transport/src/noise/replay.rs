//! The responder's replay filter for first messages.
//!
//! A first message carries the initiator's timestamp (encrypted and authenticated). The
//! responder refuses it if the timestamp is further than the window from its own clock,
//! and remembers the ephemeral key of every message it accepted until that message's
//! timestamp leaves the window, so the same message sent again (by a censor probing
//! whether this is an Umbra node) is refused too.
//!
//! Memory is bounded by the capacity. At capacity the entry with the oldest timestamp is
//! dropped, and the filter raises a floor to that timestamp: from then on every first
//! message at or below the floor is refused (it might be a replay of the dropped entry).
//! So the filter never lets a replay through; under a flood it refuses the stalest
//! handshakes first, and honest peers with a clock near the responder's get through.

use std::{
    collections::{BTreeSet, HashSet},
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// Why the filter refused a first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Its timestamp is outside the window around the responder's clock.
    Stale {
        /// How far from the responder's clock, in milliseconds (positive: in the past).
        skew_ms: i128,
    },
    /// It was seen before.
    Replay,
    /// Its timestamp is at or below the floor left by entries dropped at capacity.
    BelowFloor,
}

/// What the filter did with an admitted first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Whether an older entry was dropped to make room (the floor rose).
    pub evicted: bool,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<[u8; 32]>,
    by_time: BTreeSet<(u64, [u8; 32])>,
    floor: Option<u64>,
}

/// The responder's bounded filter of first messages.
///
/// A first message carries the initiator's timestamp (encrypted and authenticated). The
/// filter refuses it if the timestamp is further than the window from the responder's
/// clock, and remembers the ephemeral key of every message it admitted until that
/// message's timestamp leaves the window, so the same message sent again is refused.
///
/// Memory is bounded by the capacity. At capacity the entry with the oldest timestamp is
/// dropped and a floor rises to that timestamp: every later first message at or below the
/// floor is refused (it might replay the dropped entry). So no replay ever gets through;
/// under a flood the stalest handshakes are refused first, and honest peers whose clock
/// is near the responder's still get through. (Someone who knows the responder's key can
/// fill the filter with messages dated near the top of the window and so hold the floor
/// up for honest peers for up to twice the window: that is the price of never admitting a
/// replay; per-address limits above this layer bound it.)
///
/// Shared by every handshake of a responder: a short lock per first message, taken
/// after its cryptography.
#[derive(Debug)]
pub struct ReplayFilter {
    inner: Mutex<Inner>,
    window_ms: u64,
    capacity: usize,
}

impl ReplayFilter {
    /// A filter accepting timestamps within `window` of the clock, remembering at most
    /// `capacity` messages (at least 1).
    #[must_use]
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            capacity: capacity.max(1),
        }
    }

    /// Checks the first message with ephemeral key `key` and timestamp `timestamp_ms`
    /// against the clock `now_ms` (both milliseconds since the Unix epoch), and
    /// remembers it if admitted.
    ///
    /// # Errors
    /// The [`ReplayRefusal`].
    pub fn admit(
        &self,
        key: [u8; 32],
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<Admitted, ReplayRefusal> {
        if timestamp_ms.abs_diff(now_ms) > self.window_ms {
            return Err(ReplayRefusal::Stale {
                skew_ms: i128::from(now_ms) - i128::from(timestamp_ms),
            });
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries whose timestamp has left the window can no longer be replayed.
        let oldest_valid = now_ms.saturating_sub(self.window_ms);
        while let Some(&(time, key)) = inner.by_time.first() {
            if time >= oldest_valid {
                break;
            }
            inner.by_time.pop_first();
            inner.seen.remove(&key);
        }
        if inner.floor.is_some_and(|floor| timestamp_ms <= floor) {
            return Err(ReplayRefusal::BelowFloor);
        }
        if inner.seen.contains(&key) {
            return Err(ReplayRefusal::Replay);
        }
        let mut evicted = false;
        while inner.seen.len() >= self.capacity {
            let Some((time, old)) = inner.by_time.pop_first() else {
                break;
            };
            inner.seen.remove(&old);
            inner.floor = Some(inner.floor.map_or(time, |floor| floor.max(time)));
            evicted = true;
        }
        if inner.floor.is_some_and(|floor| timestamp_ms <= floor) {
            // The entry just dropped was as new as this one: nothing older may enter.
            return Err(ReplayRefusal::BelowFloor);
        }
        inner.seen.insert(key);
        inner.by_time.insert((timestamp_ms, key));
        Ok(Admitted { evicted })
    }

    /// How many first messages it remembers now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether it remembers none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn key(i: u32) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        key
    }

    #[test]
    fn replays_and_stale_timestamps_are_refused() {
        let filter = ReplayFilter::new(Duration::from_secs(120), 100);
        assert!(filter.admit(key(1), NOW, NOW).is_ok());
        assert_eq!(
            filter.admit(key(1), NOW, NOW + 5),
            Err(ReplayRefusal::Replay)
        );
        assert!(matches!(
            filter.admit(key(2), NOW - 121_000, NOW),
            Err(ReplayRefusal::Stale { skew_ms: 121_000 })
        ));
        assert!(matches!(
            filter.admit(key(2), NOW + 121_000, NOW),
            Err(ReplayRefusal::Stale { skew_ms: -121_000 })
        ));
        // Clock skew within the window is fine, both ways.
        assert!(filter.admit(key(3), NOW + 119_000, NOW).is_ok());
        assert!(filter.admit(key(4), NOW - 119_000, NOW).is_ok());
        // Once its timestamp has left the window, an entry is forgotten, and the message
        // is refused as stale instead.
        assert!(matches!(
            filter.admit(key(1), NOW, NOW + 121_000),
            Err(ReplayRefusal::Stale { .. })
        ));
        assert!(filter.admit(key(5), NOW + 121_000, NOW + 121_000).is_ok());
        assert_eq!(filter.len(), 2, "keys 1 and 4 have left the window");
    }

    #[test]
    fn at_capacity_the_oldest_goes_and_nothing_older_gets_in() {
        let filter = ReplayFilter::new(Duration::from_secs(120), 3);
        for i in 0..3 {
            filter.admit(key(i), NOW + u64::from(i), NOW).unwrap();
        }
        let admitted = filter.admit(key(10), NOW + 10, NOW).unwrap();
        assert!(admitted.evicted);
        assert_eq!(filter.len(), 3);
        // key(0) was dropped: replaying it is still refused, by the floor.
        assert_eq!(
            filter.admit(key(0), NOW, NOW),
            Err(ReplayRefusal::BelowFloor)
        );
        assert_eq!(
            filter.admit(key(20), NOW, NOW),
            Err(ReplayRefusal::BelowFloor)
        );
        // Fresh messages keep getting in, each pushing the floor up.
        assert!(filter.admit(key(11), NOW + 11, NOW).is_ok());
        assert_eq!(
            filter.admit(key(1), NOW + 1, NOW),
            Err(ReplayRefusal::BelowFloor)
        );
        assert_eq!(
            filter.admit(key(11), NOW + 11, NOW),
            Err(ReplayRefusal::Replay)
        );
        assert_eq!(
            filter.admit(key(10), NOW + 10, NOW),
            Err(ReplayRefusal::Replay)
        );
        assert!(filter.len() <= 3);
    }

    #[test]
    fn a_full_filter_of_equal_timestamps_refuses_rather_than_forgets() {
        let filter = ReplayFilter::new(Duration::from_secs(120), 2);
        filter.admit(key(1), NOW, NOW).unwrap();
        filter.admit(key(2), NOW, NOW).unwrap();
        // Making room drops a message with the same timestamp, so this one is refused
        // (it could be a replay of the dropped one).
        assert_eq!(
            filter.admit(key(3), NOW, NOW),
            Err(ReplayRefusal::BelowFloor)
        );
        assert_eq!(
            filter.admit(key(1), NOW, NOW),
            Err(ReplayRefusal::BelowFloor)
        );
    }
}
