//! Counters shared by every session of a transport (or whoever holds the same
//! [`NoiseStats`]).

use std::sync::atomic::{AtomicU64, Ordering};

use super::{handshake::HandshakeError, record::RecordError};

macro_rules! stats {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Counters of handshakes, refusals and records, updated atomically by every
        /// session that shares them; [`NoiseStats::snapshot`] reads them all.
        #[derive(Debug, Default)]
        pub struct NoiseStats {
            $($(#[doc = $doc])* $name: AtomicU64,)*
        }

        /// The values of [`NoiseStats`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct NoiseStatsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl NoiseStats {
            /// Reads every counter (each one atomically; the set is not one atomic view).
            #[must_use]
            pub fn snapshot(&self) -> NoiseStatsSnapshot {
                NoiseStatsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

stats! {
    /// Handshakes we started that succeeded.
    initiated_ok,
    /// Handshakes we started that failed (any reason).
    initiated_failed,
    /// Handshakes we answered that succeeded.
    responded_ok,
    /// Inbound handshakes refused because msg1 did not authenticate (random bytes,
    /// another protocol such as plain levin, a message for another key, a flipped bit).
    refused_not_authentic,
    /// Inbound handshakes refused as replays.
    refused_replay,
    /// Inbound handshakes refused because msg1's timestamp was outside the window.
    refused_stale,
    /// Inbound handshakes refused for their (authentic) content: version, padding, keys.
    refused_bad_payload,
    /// Inbound handshakes that did not finish in time (a peer that stops or never sends).
    refused_timeout,
    /// Inbound handshakes that ended with an I/O error or end of stream.
    refused_io,
    /// Replay-filter entries dropped at capacity (see [`ReplayFilter`](super::ReplayFilter)).
    replay_evictions,
    /// Records refused: corrupted, replayed, reordered, lying lengths, unknown flags,
    /// truncated streams. Each ends its session.
    records_rejected,
    /// Sessions whose connection ended without the peer's final record (cut inside a
    /// record, or between records without the closing one).
    streams_truncated,
    /// Records sealed.
    records_sent,
    /// Records opened.
    records_received,
    /// Times one of our directions changed its key by `REKEY` (sending side).
    rekeys_sent,
    /// Times a peer's direction changed its key (receiving side).
    rekeys_received,
}

impl NoiseStats {
    /// A new set of counters at zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn initiated(&self, result: Result<(), &HandshakeError>) {
        match result {
            Ok(()) => Self::add(&self.initiated_ok, 1),
            Err(_) => Self::add(&self.initiated_failed, 1),
        }
    }

    pub(crate) fn responded(&self, result: Result<(), &HandshakeError>) {
        let counter = match result {
            Ok(()) => &self.responded_ok,
            Err(HandshakeError::NotAuthentic) => &self.refused_not_authentic,
            Err(HandshakeError::Replay) => &self.refused_replay,
            Err(HandshakeError::Stale { .. }) => &self.refused_stale,
            Err(HandshakeError::BadPayload(_) | HandshakeError::Local(_)) => {
                &self.refused_bad_payload
            }
            Err(HandshakeError::Timeout) => &self.refused_timeout,
            Err(HandshakeError::Io(_)) => &self.refused_io,
        };
        Self::add(counter, 1);
    }

    pub(crate) fn replay_evicted(&self) {
        Self::add(&self.replay_evictions, 1);
    }

    pub(crate) fn record_rejected(&self, error: RecordError) {
        match error {
            RecordError::Truncated => Self::add(&self.streams_truncated, 1),
            _ => Self::add(&self.records_rejected, 1),
        }
    }

    pub(crate) fn record_sent(&self, rekeyed: bool) {
        Self::add(&self.records_sent, 1);
        if rekeyed {
            Self::add(&self.rekeys_sent, 1);
        }
    }

    pub(crate) fn record_received(&self, rekeyed: bool) {
        Self::add(&self.records_received, 1);
        if rekeyed {
            Self::add(&self.rekeys_received, 1);
        }
    }
}

impl NoiseStatsSnapshot {
    /// Every inbound handshake refused, whatever the reason.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused_not_authentic
            + self.refused_replay
            + self.refused_stale
            + self.refused_bad_payload
            + self.refused_timeout
            + self.refused_io
    }
}
