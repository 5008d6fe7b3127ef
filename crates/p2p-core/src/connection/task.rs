//! The async task around [`ConnectionState`]: reads frames, takes requests and
//! notifications, fires timers, and carries out the state's [`Event`]s.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::codec::FramedWrite;
use tower::ServiceExt;
use tracing::{Instrument, debug, debug_span};
use umbra_wire::{
    AdminRequest, AdminResponse, Message, MoneroCodec, ProtocolMessage, TimedSyncRequest,
    TimedSyncResponse, split::PeerResponse,
};

use super::{
    ConnectionConfig, ConnectionState, Established, Event, HANDLER_TIMEOUT, NOTIFICATION_QUEUE,
    Ours, PeerDirectory, ProtocolHandler, REQUEST_QUEUE, SEND_TIMEOUT,
};
use crate::{
    Client, ConnectionInfo, NetworkZone, PeerError, client::ClientRequest, filter_peer_list,
};

/// Starts the task for an established connection; returns the [`Client`] for it and the
/// task's handle. The task ends when the peer disconnects, on a violation, or when
/// [`ConnectionInfo::close`] is called; dropping every `Client` does not end it (the peer
/// is still served until someone closes it).
pub fn spawn<Z, R, W, H, D>(
    established: Established<Z, R, W>,
    ours: Ours,
    config: ConnectionConfig,
    handler: H,
    directory: D,
) -> (Client<Z>, JoinHandle<()>)
where
    Z: NetworkZone,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    H: ProtocolHandler,
    D: PeerDirectory<Z>,
{
    let Established {
        reader,
        writer,
        addr,
        direction,
        node_data,
        support_flags,
        core_sync,
        bytes,
        early_messages,
    } = established;
    let info = Arc::new(ConnectionInfo::<Z>::new(
        addr,
        direction,
        node_data,
        support_flags,
        core_sync,
        bytes,
    ));
    let (request_tx, request_rx) = mpsc::channel(REQUEST_QUEUE);
    let (notify_tx, notify_rx) = mpsc::channel(NOTIFICATION_QUEUE);
    let client = Client::new(Arc::clone(&info), request_tx, notify_tx);
    let span = debug_span!("peer", id = info.id, addr = %info.addr, %direction);
    let task = Task {
        state: ConnectionState::new(config, ours.node_id, ours.support_flags, now()),
        info,
        ours,
        handler,
        directory,
        writer,
        pending: None,
    };
    let handle = tokio::spawn(
        task.run(early_messages, reader, request_rx, notify_rx)
            .instrument(span),
    );
    (client, handle)
}

/// The time, from tokio's clock so that tests with a paused clock control it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Task<Z: NetworkZone, W, H, D> {
    state: ConnectionState,
    info: Arc<ConnectionInfo<Z>>,
    ours: Ours,
    handler: H,
    directory: D,
    writer: FramedWrite<W, MoneroCodec>,
    /// Where the answer to the request in flight goes.
    pending: Option<oneshot::Sender<Result<PeerResponse, PeerError>>>,
}

/// Why the loop stopped.
enum Stop {
    /// Nothing to blame the peer for (it closed, we closed, I/O failed).
    Quietly(String),
    /// The peer misbehaved: report `score` to the directory.
    Misbehaved { score: u32, reason: String },
}

impl<Z, W, H, D> Task<Z, W, H, D>
where
    Z: NetworkZone,
    W: AsyncWrite + Unpin + Send + 'static,
    H: ProtocolHandler,
    D: PeerDirectory<Z>,
{
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        early_messages: Vec<ProtocolMessage>,
        mut reader: tokio_util::codec::FramedRead<R, MoneroCodec>,
        mut requests: mpsc::Receiver<ClientRequest>,
        mut notifications: mpsc::Receiver<ProtocolMessage>,
    ) {
        let info = Arc::clone(&self.info);
        let stop = 'run: {
            for message in early_messages {
                if let Err(stop) = self.on_message(Message::Protocol(message)).await {
                    break 'run stop;
                }
            }
            loop {
                let deadline = tokio::time::Instant::from_std(self.state.poll_timeout());
                let step = tokio::select! {
                    biased;
                    () = info.closed() => Err(Stop::Quietly("closed locally".into())),
                    frame = reader.next() => match frame {
                        None => Err(Stop::Quietly("the peer closed the connection".into())),
                        Some(Err(error)) => match crate::handshake::codec_blame(&error) {
                            0 => Err(Stop::Quietly(format!("reading failed: {error}"))),
                            score => Err(Stop::Misbehaved {
                                score,
                                reason: format!("undecodable message: {error}"),
                            }),
                        },
                        Some(Ok(message)) => self.on_message(message).await,
                    },
                    () = tokio::time::sleep_until(deadline) => {
                        let events = self.state.handle_timeout(now());
                        self.carry_out(events).await
                    }
                    Some(request) = requests.recv(), if self.state.can_send_request() => {
                        self.on_request(request).await
                    }
                    Some(message) = notifications.recv() => {
                        self.send(Message::Protocol(message)).await
                    }
                };
                if let Err(stop) = step {
                    break stop;
                }
            }
        };
        // Close with our reason first: reporting the misbehaviour may ban the host, which
        // closes its connections (this one included) with a reason of its own.
        let (reason, score) = match stop {
            Stop::Quietly(reason) => (reason, 0),
            Stop::Misbehaved { score, reason } => (reason, score),
        };
        debug!(%reason, "connection closed");
        self.info.close(reason.clone());
        if score > 0 {
            self.directory.misbehaved(&self.info.addr, score, &reason);
        }
        if let Some(pending) = self.pending.take() {
            let _ = pending.send(Err(self.info.closed_error()));
        }
        // Requests still queued get the same answer when their senders are dropped here.
        requests.close();
        while let Ok(request) = requests.try_recv() {
            let _ = request.respond.send(Err(self.info.closed_error()));
        }
    }

    async fn on_message(&mut self, message: Message) -> Result<(), Stop> {
        let now = now();
        let stats = &self.info.stats;
        stats.messages_in.fetch_add(1, Ordering::Relaxed);
        let since_start = now.saturating_duration_since(self.info.started);
        stats.last_seen_millis.store(
            u64::try_from(since_start.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let events = self.state.handle_message(message, now);
        self.carry_out(events).await
    }

    async fn on_request(&mut self, request: ClientRequest) -> Result<(), Stop> {
        let ClientRequest { request, respond } = request;
        if respond.is_closed() {
            // The caller dropped its response future before we got to it: cancelled.
            return Ok(());
        }
        match self.state.send_request(request, now()) {
            Ok((message, immediate)) => {
                self.send(message).await?;
                match immediate {
                    Some(response) => {
                        let _ = respond.send(Ok(response));
                    }
                    None => self.pending = Some(respond),
                }
                Ok(())
            }
            // Not reachable through `select!` (guarded by `can_send_request`), but answer
            // rather than lose the request.
            Err(_) => {
                let _ = respond.send(Err(PeerError::Closed {
                    peer: self.info.addr.to_string(),
                    reason: Some("a request was already in flight".into()),
                }));
                Ok(())
            }
        }
    }

    async fn carry_out(&mut self, events: Vec<Event>) -> Result<(), Stop> {
        for event in events {
            match event {
                Event::Send(message) => self.send(message).await?,
                Event::AnswerTimedSync => {
                    let response = TimedSyncResponse {
                        payload_data: self.ours.core_sync.borrow().clone(),
                        local_peerlist_new: self.directory.peers_to_share(&self.info.addr),
                    };
                    self.send(Message::Response(AdminResponse::TimedSync(response)))
                        .await?;
                    let answered = self
                        .info
                        .stats
                        .timed_syncs_answered
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(answered = answered + 1, "answered the peer's timed sync");
                }
                Event::SendTimedSync => {
                    let request = TimedSyncRequest {
                        payload_data: self.ours.core_sync.borrow().clone(),
                    };
                    self.send(Message::Request(AdminRequest::TimedSync(request)))
                        .await?;
                }
                Event::PeerChainState(core_sync) => self.info.set_core_sync(*core_sync),
                Event::PeerSynced(sync) => {
                    let TimedSyncResponse {
                        payload_data,
                        local_peerlist_new,
                    } = *sync;
                    let height = payload_data.current_height;
                    self.info.set_core_sync(payload_data);
                    let completed = self
                        .info
                        .stats
                        .timed_syncs_completed
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(
                        completed = completed + 1,
                        height,
                        peers = local_peerlist_new.len(),
                        "the peer answered our timed sync"
                    );
                    self.peer_list(&local_peerlist_new)?;
                }
                Event::PeerRequest(request) => {
                    let info = Arc::clone(&self.info);
                    let answer = tokio::select! {
                        biased;
                        () = info.closed() => {
                            return Err(Stop::Quietly("closed locally".into()));
                        }
                        answer = tokio::time::timeout(
                            HANDLER_TIMEOUT,
                            self.handler.clone().oneshot(request.clone()),
                        ) => answer,
                    };
                    match answer {
                        Ok(Ok(response)) => {
                            if let Some(message) = ConnectionState::answer(&request, response) {
                                self.send(message).await?;
                            }
                        }
                        Ok(Err(error)) => debug!(%error, "request handler failed"),
                        Err(_) => debug!(?HANDLER_TIMEOUT, "request handler timed out"),
                    }
                }
                Event::Response(response) => {
                    if let Some(rtt) = self.state.last_rtt() {
                        self.info.record_rtt(rtt, now());
                    }
                    if let Some(pending) = self.pending.take() {
                        // The caller may have gone (cancelled): the answer is dropped.
                        let _ = pending.send(Ok(response));
                    }
                }
                Event::Close(violation) => {
                    return Err(Stop::Misbehaved {
                        score: violation.ban_score(),
                        reason: violation.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn peer_list(&self, entries: &[umbra_wire::PeerListEntry]) -> Result<(), Stop> {
        match filter_peer_list(entries, self.ours.allow_local_addresses) {
            Ok(filtered) => {
                if filtered.dropped > 0 {
                    debug!(dropped = filtered.dropped, "junk in the peer's peer list");
                    // Junk costs a little each time; a list of nothing but junk costs more.
                    let score = if filtered.peers.is_empty() { 10 } else { 1 };
                    self.directory
                        .misbehaved(&self.info.addr, score, "junk in its peer list");
                }
                self.directory.heard_of(&self.info.addr, filtered);
                Ok(())
            }
            Err(too_long) => Err(Stop::Misbehaved {
                score: 50,
                reason: too_long.to_string(),
            }),
        }
    }

    async fn send(&mut self, message: Message) -> Result<(), Stop> {
        // A peer that does not read must not keep a close (a ban, a shutdown) waiting for
        // the send timeout.
        let info = Arc::clone(&self.info);
        let sent = tokio::select! {
            biased;
            () = info.closed() => return Err(Stop::Quietly("closed locally".into())),
            sent = tokio::time::timeout(SEND_TIMEOUT, self.writer.send(message)) => sent,
        };
        match sent {
            Ok(Ok(())) => {
                self.info.stats.messages_out.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(error)) => Err(Stop::Quietly(format!("sending failed: {error}"))),
            Err(_) => Err(Stop::Misbehaved {
                score: 5,
                reason: format!("the peer did not read for {SEND_TIMEOUT:?}"),
            }),
        }
    }
}
