//! Peer-list entries as addresses of one zone, and the sanity filter for lists a peer
//! sends us.

use std::collections::HashSet;

use umbra_wire::PeerListEntry;

use crate::ZoneAddr;

/// monerod refuses a handshake or timed sync carrying more entries than this
/// (`P2P_MAX_PEERS_IN_HANDSHAKE`), and never sends more.
pub const MAX_PEER_LIST_LEN: usize = 250;

/// A peer heard of: a peer-list entry whose address belongs to zone address type `A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCandidate<A> {
    /// Where the peer can be reached.
    pub addr: A,
    /// The peer's node id, as the sender knew it.
    pub id: u64,
    /// When the sender last saw the peer (seconds since the epoch; 0 if never).
    pub last_seen: i64,
    /// The peer's pruning seed.
    pub pruning_seed: u32,
    /// The peer's RPC port, 0 if none.
    pub rpc_port: u16,
    /// RPC payment: credits per hash.
    pub rpc_credits_per_hash: u32,
}

impl<A: ZoneAddr> PeerCandidate<A> {
    /// The entry, if its address belongs to this zone.
    #[must_use]
    pub fn from_wire(entry: &PeerListEntry) -> Option<Self> {
        Some(Self {
            addr: A::from_entry(entry)?,
            id: entry.id,
            last_seen: entry.last_seen,
            pruning_seed: entry.pruning_seed,
            rpc_port: entry.rpc_port,
            rpc_credits_per_hash: entry.rpc_credits_per_hash,
        })
    }

    /// The entry as peer lists carry it to a peer at `to`: what the zone keeps beyond the
    /// address (an Umbra peer's key) only when `to` [is authenticated](ZoneAddr::is_authenticated).
    #[must_use]
    pub fn to_wire_for(&self, to: &A) -> PeerListEntry {
        let mut entry = self.to_wire();
        if !to.is_authenticated() {
            entry.umbra_key = None;
            entry.umbra_transports = None;
        }
        entry
    }

    /// The entry as peer lists and the peers file carry it, everything included.
    #[must_use]
    pub fn to_wire(&self) -> PeerListEntry {
        let mut entry = PeerListEntry {
            adr: self.addr.to_wire(),
            id: self.id,
            last_seen: self.last_seen,
            pruning_seed: self.pruning_seed,
            rpc_port: self.rpc_port,
            rpc_credits_per_hash: self.rpc_credits_per_hash,
            umbra_key: None,
            umbra_transports: None,
        };
        self.addr.write_entry(&mut entry);
        entry
    }
}

/// What [`filter_peer_list`] found wrong with a list as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer list of {len} entries; at most {MAX_PEER_LIST_LEN} are allowed")]
pub struct PeerListTooLong {
    /// How many entries the list had.
    pub len: usize,
}

/// What [`filter_peer_list`] kept and how much junk it dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredPeerList<A> {
    /// Entries of this zone with routable, distinct addresses, in the order received.
    pub peers: Vec<PeerCandidate<A>>,
    /// Entries dropped: another zone's address, unroutable, or a duplicate.
    pub dropped: usize,
}

/// Turns a received peer list into candidates of zone address type `A`: a list longer than
/// [`MAX_PEER_LIST_LEN`] is a protocol violation (an error); entries of other zones,
/// unroutable addresses (see [`ZoneAddr::is_routable`]) and duplicates are dropped and
/// counted, so the caller can score a peer that sends mostly junk.
///
/// # Errors
/// [`PeerListTooLong`] when the list is over the limit.
pub fn filter_peer_list<A: ZoneAddr>(
    entries: &[PeerListEntry],
    allow_local: bool,
) -> Result<FilteredPeerList<A>, PeerListTooLong> {
    if entries.len() > MAX_PEER_LIST_LEN {
        return Err(PeerListTooLong { len: entries.len() });
    }
    let mut seen = HashSet::with_capacity(entries.len());
    let peers: Vec<PeerCandidate<A>> = entries
        .iter()
        .filter_map(PeerCandidate::<A>::from_wire)
        .filter(|peer| peer.addr.is_routable(allow_local))
        .filter(|peer| seen.insert(peer.addr.clone()))
        .collect();
    Ok(FilteredPeerList {
        dropped: entries.len() - peers.len(),
        peers,
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use umbra_wire::NetworkAddress;

    use super::*;

    fn entry(addr: &str) -> PeerListEntry {
        PeerListEntry {
            adr: addr.parse::<SocketAddr>().unwrap().into(),
            id: 7,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            umbra_key: None,
            umbra_transports: None,
        }
    }

    #[test]
    fn junk_is_dropped_and_counted() {
        let mut entries = vec![
            entry("1.2.3.4:18080"),
            entry("1.2.3.4:18080"),
            entry("10.0.0.1:18080"),
            entry("0.0.0.0:18080"),
            entry("5.6.7.8:0"),
            entry("5.6.7.8:18080"),
        ];
        entries.push(PeerListEntry {
            adr: NetworkAddress::Tor {
                host: "a.onion".into(),
                port: 1,
            },
            ..entry("9.9.9.9:1")
        });
        let filtered = filter_peer_list::<SocketAddr>(&entries, false).unwrap();
        let kept: Vec<String> = filtered.peers.iter().map(|p| p.addr.to_string()).collect();
        assert_eq!(kept, ["1.2.3.4:18080", "5.6.7.8:18080"]);
        assert_eq!(filtered.dropped, 5);

        let local = filter_peer_list::<SocketAddr>(&entries, true).unwrap();
        assert_eq!(local.peers.len(), 3);
    }

    #[test]
    fn too_long_a_list_is_an_error() {
        let entries = vec![entry("1.2.3.4:18080"); MAX_PEER_LIST_LEN + 1];
        assert_eq!(
            filter_peer_list::<SocketAddr>(&entries, false),
            Err(PeerListTooLong {
                len: MAX_PEER_LIST_LEN + 1
            })
        );
        let entries = vec![entry("1.2.3.4:18080"); MAX_PEER_LIST_LEN];
        assert!(filter_peer_list::<SocketAddr>(&entries, false).is_ok());
    }

    #[test]
    fn candidates_round_trip_through_the_wire_form() {
        let wire = entry("1.2.3.4:18080");
        let peer = PeerCandidate::<SocketAddr>::from_wire(&wire).unwrap();
        assert_eq!(peer.to_wire(), wire);
    }
}
