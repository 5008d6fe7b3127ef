//! Conversions between [`SystemTime`] and the whole seconds that peer lists and the peers
//! file carry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, rounded down; 0 before the epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch, rounded up (for expiries: a ban written to the file never ends
/// earlier than the one in memory).
pub(crate) fn unix_secs_ceil(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
    })
}

/// A peer-list `last_seen` (signed seconds) for `t`.
pub(crate) fn last_seen(t: SystemTime) -> i64 {
    i64::try_from(unix_secs(t)).unwrap_or(i64::MAX)
}

/// The time `secs` seconds after the epoch, if representable.
pub(crate) fn from_unix_secs(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}
