//! The inbound server: accepts connections, refuses banned hosts and connections beyond the
//! limits before reading a byte, runs the handshake under its deadline, answers monerod's
//! ping-back probes, pings back a peer's advertised address before it enters the white
//! list, and hands the peer to the peer set.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, warn};
use umbra_p2p_core::{
    NetworkZone, PeerCandidate, ZoneAddr,
    connection::{PeerDirectory, ProtocolHandler, counted},
    handshake::{Handshake, Handshaker, handshake, now, ping_back},
};
use umbra_transport::Transport;

use super::{Shared, events::NetworkEvent, join::join, slots::Slot};

/// After a failed accept (out of file descriptors, say), wait this long before the next,
/// so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until shutdown or until the listener ends.
pub(crate) async fn serve<Z, H>(
    shared: Arc<Shared<Z, H>>,
    mut listener: <Z::Transport as Transport>::Listener,
) where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
{
    loop {
        let next = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            next = listener.next() => next,
        };
        match next {
            None => {
                warn!(zone = Z::NAME, "the listener closed; no more inbound peers");
                break;
            }
            Some(Err(error)) => {
                debug!(zone = Z::NAME, %error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
            Some(Ok((reader, writer, addr))) => accept(&shared, reader, writer, addr),
        }
    }
}

/// Decides at once whether to take a connection; if so, runs it in its own task.
fn accept<Z, H, R, W>(shared: &Arc<Shared<Z, H>>, reader: R, writer: W, addr: Z::Addr)
where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let refused = if shared.book.is_banned(&addr) {
        Err(super::events::Refused::Banned)
    } else {
        shared.counters.slots.try_inbound(&addr)
    };
    match refused {
        Err(reason) => {
            debug!(zone = Z::NAME, %addr, %reason, "inbound connection refused");
            shared.emit(NetworkEvent::InboundRefused { addr, reason });
            // Dropping the halves closes the connection.
        }
        Ok(slot) => {
            let task_shared = Arc::clone(shared);
            shared
                .tasks
                .spawn(inbound_connection(task_shared, reader, writer, addr, slot));
        }
    }
}

/// One inbound connection, from handshake to close; `slot` is held throughout.
async fn inbound_connection<Z, H, R, W>(
    shared: Arc<Shared<Z, H>>,
    reader: R,
    writer: W,
    addr: Z::Addr,
    mut slot: Slot<Z::Addr>,
) where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer, bytes) = counted(reader, writer);
    let config = shared.handshake_config();
    let core_sync = shared.core_sync.borrow().clone();
    let machine = Handshaker::inbound(
        config.clone(),
        core_sync,
        shared.directory.peers_to_share(&addr),
        addr.clone(),
        now(),
    );
    let result = tokio::select! {
        () = shared.shutdown.cancelled() => return,
        result = handshake(reader, writer, machine) => result,
    };
    slot.handshake_done();
    let handshaken = match result {
        Ok(Handshake::Peer(peer)) => *peer,
        Ok(Handshake::PingProbe) => {
            debug!(zone = Z::NAME, %addr, "ping probe answered");
            return;
        }
        Err(error) => {
            let ban_score = error.ban_score();
            debug!(zone = Z::NAME, %addr, %error, ban_score, "inbound handshake failed");
            shared.emit(NetworkEvent::HandshakeFailed {
                addr: addr.clone(),
                error: error.to_string(),
                ban_score,
            });
            shared
                .directory
                .misbehaved(&addr, ban_score, &error.to_string());
            return;
        }
    };
    if let Some(advertised) = handshaken.outcome.ping_back.clone() {
        // An Umbra peer met over plain levin is pinged back (and recorded) encrypted.
        let advertised = advertised
            .upgraded(&handshaken.outcome.node_data)
            .unwrap_or(advertised);
        start_ping_back(&shared, advertised, &handshaken.outcome);
    }
    if let Some(joined) = join(&shared, handshaken, bytes, &config) {
        joined.run_to_end(&shared).await;
    }
    drop(slot);
}

/// Pings back an inbound peer's advertised address in the background (when a ping-back
/// place is free); on success the address enters the white list.
fn start_ping_back<Z, H>(
    shared: &Arc<Shared<Z, H>>,
    advertised: Z::Addr,
    outcome: &umbra_p2p_core::handshake::HandshakeOutcome<Z::Addr>,
) where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
{
    let Ok(permit) = Arc::clone(&shared.ping_backs).try_acquire_owned() else {
        debug!(zone = Z::NAME, addr = %advertised, "too many ping backs under way; skipped");
        return;
    };
    let candidate = PeerCandidate {
        addr: advertised,
        id: outcome.node_data.peer_id,
        last_seen: 0,
        pruning_seed: outcome.core_sync.pruning_seed,
        rpc_port: outcome.node_data.rpc_port,
        rpc_credits_per_hash: outcome.node_data.rpc_credits_per_hash,
    };
    let shared = Arc::clone(shared);
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
        let result = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            result = ping_back(
                &shared.transport,
                &candidate.addr,
                candidate.id,
                shared.config.ping_back_timeout,
            ) => result,
        };
        drop(permit);
        let ok = match result {
            Ok(()) => shared.book.handshake_succeeded(candidate.clone()),
            Err(error) => {
                debug!(zone = Z::NAME, addr = %candidate.addr, %error, "ping back failed");
                false
            }
        };
        shared.emit(NetworkEvent::PingBack {
            addr: candidate.addr,
            ok,
        });
    });
}
