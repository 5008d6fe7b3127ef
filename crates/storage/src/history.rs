//! The chain-history exchange of `NOTIFY_REQUEST_CHAIN`, as pure functions of heights.
//!
//! A syncing node sends a *short chain history*: block ids from its top down, the first
//! ones consecutive, then ever further apart, always ending with genesis. The peer finds
//! the highest of them in its own main chain and answers with its block ids from there.

/// Number of consecutive block ids at the top of a short chain history (after the first,
/// the gaps double).
pub const HISTORY_CONSECUTIVE: u64 = 11;

/// Most entries of a peer's history [`crate::Snapshot::chain_supplement`] looks up.
/// A history of a chain of height `h` has about `11 + log2(h)` entries; 512 is far above
/// any real chain, and bounds the work one request can cause.
pub const MAX_PEER_HISTORY: usize = 512;

/// Heights whose block ids form the short chain history of a chain with `chain_height`
/// blocks, top first: `top, top-1, …` (11 of them), then offsets growing by 2, 4, 8, …,
/// and genesis (0) last. Empty for an empty chain.
///
/// These are the heights monerod's `get_short_chain_history` picks.
pub fn short_history_heights(chain_height: u64) -> Vec<u64> {
    let mut heights = Vec::new();
    if chain_height == 0 {
        return heights;
    }
    let mut offset: u64 = 1;
    let mut step: u64 = 1;
    let mut taken: u64 = 0;
    while offset < chain_height {
        heights.push(chain_height - offset);
        if taken < HISTORY_CONSECUTIVE - 1 {
            offset += 1;
        } else {
            step = step.saturating_mul(2);
            offset = offset.saturating_add(step);
        }
        taken += 1;
    }
    heights.push(0);
    heights
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn an_empty_chain_has_no_history_and_genesis_alone_is_just_genesis() {
        assert!(short_history_heights(0).is_empty());
        assert_eq!(short_history_heights(1), vec![0]);
        assert_eq!(short_history_heights(2), vec![1, 0]);
    }

    #[test]
    fn the_history_is_consecutive_then_doubling_then_genesis() {
        let h = short_history_heights(1000);
        assert_eq!(
            &h[..11],
            &[999, 998, 997, 996, 995, 994, 993, 992, 991, 990, 989]
        );
        // After the consecutive part the offsets grow by 2, 4, 8, ...
        assert_eq!(&h[11..15], &[987, 983, 975, 959]);
        assert_eq!(*h.last().unwrap(), 0);
        assert!(
            h.windows(2).all(|w| w[0] > w[1]),
            "strictly descending: {h:?}"
        );
    }

    #[test]
    fn the_history_stays_short_for_a_long_chain() {
        let h = short_history_heights(3_000_000);
        assert!(h.len() < 11 + 24, "{}", h.len());
        assert_eq!(h[0], 2_999_999);
        assert_eq!(*h.last().unwrap(), 0);
    }
}
