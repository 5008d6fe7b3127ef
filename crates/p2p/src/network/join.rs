//! A connection that passed its handshake joins the network: its task starts, it enters
//! the peer set, and the returned handle ends when the connection does.

use tokio::{
    io::{AsyncRead, AsyncWrite},
    task::JoinHandle,
};
use umbra_p2p_core::{
    Client, NetworkZone,
    connection::{ByteCounters, Established, ProtocolHandler, spawn},
    handshake::{HandshakeConfig, Handshaken},
};

use super::{Shared, events::NetworkEvent};
use crate::InsertError;

/// A running connection in the peer set.
pub(crate) struct Joined<Z: NetworkZone> {
    pub client: Client<Z>,
    pub task: JoinHandle<()>,
}

/// Starts the connection task for `handshaken` (whose handshake used `handshake`) and puts
/// it in the peer set; `None` (the connection closed) when the set refuses it.
pub(crate) fn join<Z, H, R, W>(
    shared: &Shared<Z, H>,
    handshaken: Handshaken<R, W, Z::Addr>,
    bytes: ByteCounters,
    handshake: &HandshakeConfig,
) -> Option<Joined<Z>>
where
    Z: NetworkZone,
    H: ProtocolHandler,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Handshaken {
        reader,
        writer,
        outcome,
    } = handshaken;
    let established = Established::<Z, R, W> {
        reader,
        writer,
        addr: outcome.peer_addr,
        direction: outcome.direction,
        node_data: outcome.node_data,
        support_flags: outcome.support_flags,
        core_sync: outcome.core_sync,
        bytes,
        early_messages: outcome.early_messages,
    };
    let (client, task) = spawn(
        established,
        shared.ours(handshake),
        shared.config.connection,
        shared.handler.clone(),
        shared.directory.clone(),
    );
    let info = std::sync::Arc::clone(client.info());
    match shared.peers.insert(client.clone()) {
        Ok(()) => {
            shared.emit(NetworkEvent::Connected {
                id: info.id,
                addr: info.addr.clone(),
                direction: info.direction,
                height: info.height(),
            });
            Some(Joined { client, task })
        }
        Err(error) => {
            let reason = match error {
                InsertError::Full { .. } => "peer set full",
                _ => "not accepted by the peer set",
            };
            tracing::debug!(zone = Z::NAME, addr = %info.addr, %error, "connection refused");
            info.close(reason);
            None
        }
    }
}

impl<Z: NetworkZone> Joined<Z> {
    /// Waits for the connection to end and reports it.
    pub(crate) async fn run_to_end<H>(self, shared: &Shared<Z, H>) {
        let info = std::sync::Arc::clone(self.client.info());
        drop(self.client);
        if let Err(error) = self.task.await {
            tracing::warn!(zone = Z::NAME, addr = %info.addr, %error, "connection task failed");
        }
        // Out of the set at once, so the set never has to sweep for it.
        shared.peers.remove(info.id);
        shared.emit(NetworkEvent::Disconnected {
            id: info.id,
            addr: info.addr.clone(),
            direction: info.direction,
            reason: info.close_reason(),
        });
    }
}
