//! One SAM session and the task that keeps it alive.
//!
//! A SAM session lives exactly as long as the control connection that created it. A
//! keeper task owns that connection: it reads it (answering `PING` with `PONG`), notices
//! when the bridge closes it (the router stopped or dropped the session) and then marks
//! the session dead, so the transport makes a new one on next use. Dropping the session
//! aborts the keeper, which closes the connection and with it the session on the router.
//!
//! The keeper also runs the session's name lookups: `NAMING LOOKUP` on the session's own
//! control connection makes the router look up through the session's tunnels (on another
//! connection i2pd uses a shared destination of its own with 3-hop tunnels, which a small
//! network cannot build). One lookup at a time, as SAM wants; at most [`LOOKUP_QUEUE`]
//! more wait their turn.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    Destination, I2pAddr, PrivateKey, SamConfig, SamError, SessionKey,
    reply::ReplyKind,
    sam::{
        LineReader, NAMING, SamConnection, check_reply, naming_command, naming_value, send_line,
    },
};

/// Lookups that may wait for a session's control connection.
pub(crate) const LOOKUP_QUEUE: usize = 16;

/// A live (or dead) SAM session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The session's id on the bridge (`ID=`).
    pub(crate) id: String,
    /// Its private key (returned by the bridge even for a transient session).
    pub(crate) key: PrivateKey,
    /// Its address, at [`I2pAddr::MONERO_PORT`].
    pub(crate) addr: I2pAddr,
    bridge: SocketAddr,
    dead: watch::Sender<bool>,
    lookups: mpsc::Sender<Lookup>,
    keeper: JoinHandle<()>,
}

/// A lookup for the keeper to run.
#[derive(Debug)]
struct Lookup {
    addr: I2pAddr,
    reply: oneshot::Sender<Result<Destination, SamError>>,
}

impl Session {
    /// Creates a session: `key` if given (the keys of an earlier session, so the address
    /// stays the same), else as the configuration says.
    pub(crate) async fn create(
        config: &SamConfig,
        key: Option<PrivateKey>,
    ) -> Result<Self, SamError> {
        let mut conn = SamConnection::connect(config.bridge, config.control_timeout).await?;
        let key = match key {
            Some(key) => Some(key),
            None => match &config.key {
                SessionKey::Stored(key) => Some(key.clone()),
                SessionKey::Generate => Some(conn.dest_generate(config.control_timeout).await?),
                SessionKey::Transient => None,
            },
        };
        let id = format!("umbra-{:016x}", rand::random::<u64>());
        let created = conn
            .session_create(&id, key.as_ref(), &config.tunnels, config.session_timeout)
            .await?;
        let addr = I2pAddr::from_destination(created.destination());
        let (dead, _) = watch::channel(false);
        let (lookups, requests) = mpsc::channel(LOOKUP_QUEUE);
        let keeper = tokio::spawn(keep(conn, dead.clone(), requests, id.clone()));
        tracing::debug!(session = %id, "SAM session created");
        Ok(Self {
            id,
            key: created,
            addr,
            bridge: config.bridge,
            dead,
            lookups,
            keeper,
        })
    }

    /// Whether the bridge still has the session, as far as this side knows.
    pub(crate) fn is_alive(&self) -> bool {
        !*self.dead.borrow()
    }

    /// Records that the bridge no longer knows the session (it answered `INVALID_ID`).
    pub(crate) fn mark_dead(&self) {
        self.dead.send_replace(true);
    }

    /// Resolves once the session is dead.
    pub(crate) async fn died(&self) {
        let mut watcher = self.dead.subscribe();
        // `wait_for` fails only when the sender is dropped, which `self` prevents.
        let _ = watcher.wait_for(|dead| *dead).await;
    }

    /// `NAMING LOOKUP` of `addr` on the session's control connection, within `timeout`
    /// (waiting for earlier lookups included).
    pub(crate) async fn lookup(
        &self,
        addr: &I2pAddr,
        timeout: Duration,
    ) -> Result<Destination, SamError> {
        let bridge = self.bridge;
        let closed = || SamError::Closed {
            bridge,
            during: "NAMING LOOKUP (the session ended)",
        };
        let work = async {
            let (reply, answer) = oneshot::channel();
            self.lookups
                .send(Lookup { addr: *addr, reply })
                .await
                .map_err(|_| closed())?;
            answer.await.map_err(|_| closed())?
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(SamError::Timeout {
                bridge,
                during: NAMING,
                after: timeout,
            }))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Owns the session's control connection until the bridge closes it.
async fn keep(
    conn: SamConnection,
    dead: watch::Sender<bool>,
    mut requests: mpsc::Receiver<Lookup>,
    id: String,
) {
    let bridge = conn.bridge();
    let (mut reader, mut writer) = conn.into_parts();
    // The lookup whose reply is awaited. It stays here until its reply comes, even when
    // its caller gave up, so a late reply is never taken for the next lookup's.
    let mut pending: Option<Lookup> = None;
    let ended = serve(
        &mut reader,
        &mut writer,
        bridge,
        &mut requests,
        &mut pending,
    )
    .await;
    tracing::warn!(session = %id, error = %ended, "SAM session ended");
    dead.send_replace(true);
    if let Some(lookup) = pending {
        let _ = lookup.reply.send(Err(SamError::Closed {
            bridge,
            during: "NAMING LOOKUP (the session ended)",
        }));
    }
}

/// The keeper's loop; returns why it ended.
async fn serve(
    reader: &mut LineReader,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    bridge: SocketAddr,
    requests: &mut mpsc::Receiver<Lookup>,
    pending: &mut Option<Lookup>,
) -> SamError {
    let during = "the session's control connection";
    loop {
        tokio::select! {
            line = reader.next_line(during) => {
                let line = match line {
                    Ok(line) => line,
                    Err(error) => return error,
                };
                if let Some(rest) = line.strip_prefix("PING") {
                    // SAM 3.2: the bridge checks that we are alive.
                    if let Err(error) = send_line(writer, bridge, &format!("PONG{rest}"), during).await {
                        return error;
                    }
                } else if line.starts_with("NAMING REPLY") {
                    let Some(lookup) = pending.take() else {
                        tracing::debug!("a NAMING REPLY nobody waits for");
                        continue;
                    };
                    let result = check_reply(bridge, NAMING, &line, ReplyKind::Naming)
                        .and_then(|reply| naming_value(bridge, &reply));
                    let _ = lookup.reply.send(result.and_then(|destination| {
                        if lookup.addr.is_of(&destination) {
                            Ok(destination)
                        } else {
                            Err(SamError::BadDestination {
                                bridge,
                                during: NAMING,
                                source: super::DestinationError {
                                    input: format!("{destination:?}"),
                                    reason: "the bridge answered with a destination of another name",
                                },
                            })
                        }
                    }));
                } else {
                    tracing::debug!("ignoring an unexpected line from the SAM bridge");
                }
            }
            request = requests.recv(), if pending.is_none() => {
                // `None` only when the session is dropped, which aborts this task first.
                let Some(request) = request else {
                    return SamError::Closed { bridge, during };
                };
                match naming_command(&request.addr.host()) {
                    Ok(command) => {
                        if let Err(error) = send_line(writer, bridge, &command, NAMING).await {
                            let _ = request.reply.send(Err(SamError::Closed { bridge, during: NAMING }));
                            return error;
                        }
                        *pending = Some(request);
                    }
                    Err(error) => {
                        let _ = request.reply.send(Err(error));
                    }
                }
            }
        }
    }
}
