//! The [`PeerDirectory`] of a running network: peer lists come from and go to the address
//! book, and a ban closes every connection of the banned host.

use std::fmt;

use tokio::sync::broadcast;
use tracing::{debug, warn};
use umbra_address_book::AddressBookHandle;
use umbra_p2p_core::{
    FilteredPeerList, MAX_PEER_LIST_LEN, NetworkZone, PeerCandidate, ZoneAddr,
    connection::PeerDirectory,
};
use umbra_wire::PeerListEntry;

use super::events::NetworkEvent;
use crate::PeerSet;

/// Connects connections to the address book and the peer set.
pub struct BookDirectory<Z: NetworkZone> {
    book: AddressBookHandle<Z>,
    peers: PeerSet<Z>,
    events: broadcast::Sender<NetworkEvent<Z::Addr>>,
    /// Our address, put in the peer lists we send, on zones where peers cannot learn it
    /// from the connection (Tor, I2P).
    own_address: Option<Z::Addr>,
}

impl<Z: NetworkZone> Clone for BookDirectory<Z> {
    fn clone(&self) -> Self {
        Self {
            book: self.book.clone(),
            peers: self.peers.clone(),
            events: self.events.clone(),
            own_address: self.own_address.clone(),
        }
    }
}

impl<Z: NetworkZone> fmt::Debug for BookDirectory<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BookDirectory")
            .field("zone", &Z::NAME)
            .finish_non_exhaustive()
    }
}

impl<Z: NetworkZone> BookDirectory<Z> {
    /// A directory over `book` that closes the connections in `peers` of a banned host and
    /// reports bans on `events`.
    #[must_use]
    pub fn new(
        book: AddressBookHandle<Z>,
        peers: PeerSet<Z>,
        events: broadcast::Sender<NetworkEvent<Z::Addr>>,
    ) -> Self {
        Self {
            book,
            peers,
            events,
            own_address: None,
        }
    }

    /// Puts `addr` (our onion service or I2P destination) first in every peer list we
    /// send, so that peers learn where to reach us: what monerod does with the address of
    /// `--anonymous-inbound`. Only for zones that do not broadcast our address otherwise
    /// ([`NetworkZone::BROADCAST_OWN_ADDR`] false); on clearnet peers learn it from the
    /// connection and our port.
    #[must_use]
    pub fn with_own_address(mut self, addr: Z::Addr) -> Self {
        if !Z::BROADCAST_OWN_ADDR {
            self.own_address = Some(addr);
        }
        self
    }

    /// Closes every connection to `addr`'s host.
    pub fn close_host(&self, addr: &Z::Addr, reason: &str) -> usize {
        let host = addr.ban_key();
        let mut closed = 0;
        for peer in self.peers.peers() {
            if peer.addr.ban_key() == host
                && let Some(client) = self.peers.get(peer.id)
            {
                client.info().close(reason);
                closed += 1;
            }
        }
        closed
    }
}

impl<Z: NetworkZone> PeerDirectory<Z> for BookDirectory<Z> {
    fn peers_to_share(&self, to: &Z::Addr) -> Vec<PeerListEntry> {
        let ours = self.own_address.as_ref().map(|addr| PeerCandidate {
            addr: addr.clone(),
            id: 0,
            last_seen: 0,
            pruning_seed: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
        });
        let room = MAX_PEER_LIST_LEN.saturating_sub(usize::from(ours.is_some()));
        ours.iter()
            .chain(self.book.white_peers_for_sharing(room).iter())
            .map(|peer| peer.to_wire_for(to))
            .collect()
    }

    fn heard_of(&self, from: &Z::Addr, peers: FilteredPeerList<Z::Addr>) {
        let new = self.book.add_gray(peers.peers);
        if new > 0 {
            debug!(zone = Z::NAME, %from, new, "new peers heard of");
        }
    }

    fn misbehaved(&self, addr: &Z::Addr, score: u32, reason: &str) {
        if score == 0 {
            return;
        }
        let verdict = self.book.misbehaved(addr, score);
        if verdict.is_banned() {
            let closed = self.close_host(addr, "banned");
            warn!(zone = Z::NAME, %addr, score, reason, closed, "peer banned");
            let _ = self.events.send(NetworkEvent::Banned {
                addr: addr.ban_key(),
                reason: reason.to_owned(),
            });
        } else {
            debug!(zone = Z::NAME, %addr, score, reason, ?verdict, "peer misbehaved");
        }
    }
}
