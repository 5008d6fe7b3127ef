//! The sans-IO core of a connection: which response we wait for, when the next timed sync
//! is due, and what each message from the peer means.
//!
//! [`ConnectionState`] takes events (a message from the peer, a request of ours, the time)
//! and returns [`Event`]s for the task around it to carry out. It never blocks, reads a
//! clock or touches a socket, so every rule here is tested without either.
//!
//! Rules, after monerod:
//!
//! - **One request of ours at a time.** Protocol responses are notifications that carry no
//!   request id; with one outstanding request, the first notification of the awaited kind
//!   is its answer ([`umbra_wire::split::classify`]). Our own timed sync is a levin request
//!   matched by command, so it may be in flight at the same time.
//! - **Every request has a deadline.** A peer that does not answer in time is dropped (monerod
//!   closes the connection when an invoke times out).
//! - **Timed sync** every [`ConnectionConfig::timed_sync_interval`] (monerod: 60 s), carrying
//!   our core sync data; the answer updates the peer's chain state and brings a peer list.
//! - **Violations close the connection**: a second handshake, a response nobody asked for,
//!   an admin response to a request we did not make.
//! - **Requests are rate-limited**: the peer's requests (timed syncs, pings, support flags,
//!   protocol requests and relays) spend a token bucket of [`REQUEST_BURST`] refilled at
//!   [`REQUESTS_PER_SECOND`]; a peer that runs it dry is a [`Violation::RequestFlood`].

use std::time::{Duration, Instant};

use umbra_wire::{
    AdminRequest, AdminResponse, Message, MessageId, ProtocolMessage, TimedSyncResponse,
    split::{Incoming, PeerRequest, PeerResponse, ProtocolRequest, ProtocolResponse, classify},
};

/// Timing of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// How long a request of ours may wait for its response (monerod:
    /// `P2P_DEFAULT_INVOKE_TIMEOUT`, 2 minutes; block downloads use their own shorter
    /// timeouts on top).
    pub request_timeout: Duration,
    /// How often we send a timed sync (monerod: `P2P_DEFAULT_HANDSHAKE_INTERVAL`, 60 s).
    pub timed_sync_interval: Duration,
    /// How long the peer may stay completely silent before we drop it. monerod sends a
    /// timed sync every 60 s, so silence for several intervals means a dead peer.
    pub idle_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(120),
            timed_sync_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(5 * 60),
        }
    }
}

/// Why a connection ends because of what the peer did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A handshake request after the handshake.
    #[error("the peer sent a second handshake")]
    SecondHandshake,
    /// A response we did not ask for.
    #[error("the peer sent {0:?}, which nobody asked for")]
    Unsolicited(MessageId),
    /// The peer did not answer our request in time.
    #[error("the peer did not answer {awaited:?} within {timeout:?}")]
    RequestTimeout {
        /// The response we waited for.
        awaited: MessageId,
        /// How long we waited.
        timeout: Duration,
    },
    /// The peer sent nothing at all for too long.
    #[error("the peer sent nothing for {0:?}")]
    Idle(Duration),
    /// The peer sent requests faster than [`REQUESTS_PER_SECOND`] for longer than a burst
    /// of [`REQUEST_BURST`] allows.
    #[error(
        "request flood: more than {REQUEST_BURST} requests at once, or more than \
         {REQUESTS_PER_SECOND} a second for long"
    )]
    RequestFlood,
}

/// Requests (timed syncs, pings, support flags, protocol requests and relays) a peer may
/// send at once before the rate limit applies. monerod sends a timed sync a minute and a
/// syncing node a few requests a second, so honest peers stay far below.
pub const REQUEST_BURST: u32 = 256;
/// Requests a peer may send per second, sustained.
pub const REQUESTS_PER_SECOND: u32 = 32;

/// A token bucket over the peer's requests: [`REQUEST_BURST`] tokens, refilled at
/// [`REQUESTS_PER_SECOND`].
#[derive(Debug, Clone, Copy)]
struct RequestBudget {
    tokens: f64,
    updated: Instant,
}

impl RequestBudget {
    fn new(now: Instant) -> Self {
        Self {
            tokens: f64::from(REQUEST_BURST),
            updated: now,
        }
    }

    /// Spends one token; `false` when none is left.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(REQUESTS_PER_SECOND)).min(f64::from(REQUEST_BURST));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Violation {
    /// How much this counts towards a ban of the peer's address (100 bans at once).
    #[must_use]
    pub const fn ban_score(&self) -> u32 {
        match self {
            Self::SecondHandshake => 50,
            Self::Unsolicited(_) => 20,
            Self::RequestTimeout { .. } | Self::Idle(_) => 5,
            Self::RequestFlood => 50,
        }
    }
}

/// What the task around the state must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this message to the peer.
    Send(Message),
    /// Answer the peer's timed sync: send `TimedSyncResponse` with our current core sync data
    /// and peer list (the task has them; the state does not).
    AnswerTimedSync,
    /// Send our timed sync request with our current core sync data.
    SendTimedSync,
    /// The peer's timed sync or its answer to ours brought this: update what we know of the
    /// peer's chain, and hand its peer list (if any) to the address book.
    PeerSynced(Box<TimedSyncResponse>),
    /// The peer's timed sync request brought its chain state.
    PeerChainState(Box<umbra_wire::CoreSyncData>),
    /// The peer asks something of us (a protocol request): hand it to the request handler
    /// and, if it has an answer, send it.
    PeerRequest(ProtocolRequest),
    /// Our pending request got its answer.
    Response(PeerResponse),
    /// Close the connection.
    Close(Violation),
}

/// What we are waiting for from the peer for the caller's request.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    response: MessageId,
    /// Whether it is a levin response (admin) or a notification (protocol).
    admin: bool,
    deadline: Instant,
    sent_at: Instant,
}

/// The state of one connection after the handshake. See the module docs.
#[derive(Debug)]
pub struct ConnectionState {
    config: ConnectionConfig,
    node_id: u64,
    support_flags: u32,
    /// The caller's request in flight, if any.
    request: Option<Awaiting>,
    /// Our own timed sync in flight: its deadline.
    timed_sync: Option<Instant>,
    next_timed_sync: Instant,
    last_heard: Instant,
    /// The round-trip time of the last answered request.
    last_rtt: Option<Duration>,
    /// What the peer may still ask of us.
    budget: RequestBudget,
}

impl ConnectionState {
    /// A connection just handshaken at `now`. `node_id` and `support_flags` are ours, as
    /// presented in the handshake (ping and support-flags requests are answered with them).
    #[must_use]
    pub fn new(config: ConnectionConfig, node_id: u64, support_flags: u32, now: Instant) -> Self {
        Self {
            config,
            node_id,
            support_flags,
            request: None,
            timed_sync: None,
            next_timed_sync: now + config.timed_sync_interval,
            last_heard: now,
            last_rtt: None,
            budget: RequestBudget::new(now),
        }
    }

    /// Whether a request of the caller's can be sent now.
    #[must_use]
    pub const fn can_send_request(&self) -> bool {
        self.request.is_none()
    }

    /// The round-trip time of the last request the peer answered.
    #[must_use]
    pub const fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The caller's request: the message to send, and whether an answer is expected. When
    /// none is, [`PeerResponse::None`] is the answer, at once.
    ///
    /// Call only when [`can_send_request`](Self::can_send_request); a second request is
    /// refused with `Err(request)`.
    ///
    /// # Errors
    /// The request back when one is already in flight.
    // Handing the request back by value is the point; it is moved, never copied around.
    #[allow(clippy::result_large_err)]
    pub fn send_request(
        &mut self,
        request: PeerRequest,
        now: Instant,
    ) -> Result<(Message, Option<PeerResponse>), PeerRequest> {
        if self.request.is_some() {
            return Err(request);
        }
        let (message, awaited) = match request {
            PeerRequest::Admin(request) => {
                let id = request.id();
                (Message::Request(request), Some((id, true)))
            }
            PeerRequest::Protocol(request) => {
                let awaited = request.expected_response().map(|id| (id, false));
                (Message::Protocol(ProtocolMessage::from(request)), awaited)
            }
        };
        match awaited {
            Some((response, admin)) => {
                self.request = Some(Awaiting {
                    response,
                    admin,
                    deadline: now + self.config.request_timeout,
                    sent_at: now,
                });
                Ok((message, None))
            }
            None => Ok((message, Some(PeerResponse::None))),
        }
    }

    /// A message from the peer.
    pub fn handle_message(&mut self, message: Message, now: Instant) -> Vec<Event> {
        self.last_heard = now;
        if matches!(message, Message::Request(_)) && !self.budget.take(now) {
            return vec![Event::Close(Violation::RequestFlood)];
        }
        match message {
            Message::Request(AdminRequest::Handshake(_)) => {
                vec![Event::Close(Violation::SecondHandshake)]
            }
            Message::Request(AdminRequest::TimedSync(request)) => vec![
                Event::PeerChainState(Box::new(request.payload_data)),
                Event::AnswerTimedSync,
            ],
            Message::Request(AdminRequest::Ping) => {
                vec![Event::Send(Message::Response(AdminResponse::Ping(
                    umbra_wire::PingResponse {
                        status: umbra_wire::PING_OK_STATUS.to_owned(),
                        peer_id: self.node_id,
                    },
                )))]
            }
            Message::Request(AdminRequest::SupportFlags) => {
                vec![Event::Send(Message::Response(AdminResponse::SupportFlags(
                    umbra_wire::SupportFlagsResponse {
                        support_flags: self.support_flags,
                    },
                )))]
            }
            Message::Response(response) => self.handle_admin_response(response, now),
            Message::Protocol(message) => self.handle_protocol(message, now),
        }
    }

    fn handle_admin_response(&mut self, response: AdminResponse, now: Instant) -> Vec<Event> {
        let id = response.id();
        if self.awaits_admin(id) {
            self.answered(now);
            return vec![Event::Response(PeerResponse::Admin(response))];
        }
        match response {
            AdminResponse::TimedSync(sync) if self.timed_sync.is_some() => {
                self.timed_sync = None;
                vec![Event::PeerSynced(Box::new(sync))]
            }
            _ => vec![Event::Close(Violation::Unsolicited(id))],
        }
    }

    fn awaits_admin(&self, id: MessageId) -> bool {
        self.request
            .is_some_and(|awaiting| awaiting.admin && awaiting.response == id)
    }

    fn handle_protocol(&mut self, message: ProtocolMessage, now: Instant) -> Vec<Event> {
        let awaiting = self
            .request
            .filter(|awaiting| !awaiting.admin)
            .map(|awaiting| awaiting.response);
        match classify(message, awaiting) {
            Incoming::Response(response) => {
                self.answered(now);
                vec![Event::Response(PeerResponse::Protocol(response))]
            }
            Incoming::Request(_) if !self.budget.take(now) => {
                vec![Event::Close(Violation::RequestFlood)]
            }
            Incoming::Request(request) => vec![Event::PeerRequest(request)],
            Incoming::Unsolicited(message) => {
                vec![Event::Close(Violation::Unsolicited(message.id()))]
            }
        }
    }

    fn answered(&mut self, now: Instant) {
        if let Some(awaiting) = self.request.take() {
            self.last_rtt = Some(now.saturating_duration_since(awaiting.sent_at));
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        let mut next = self
            .next_timed_sync
            .min(self.last_heard + self.config.idle_timeout);
        if let Some(awaiting) = self.request {
            next = next.min(awaiting.deadline);
        }
        if let Some(deadline) = self.timed_sync {
            next = next.min(deadline);
        }
        next
    }

    /// The time passed: timeouts fire, a timed sync may be due.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Event> {
        if let Some(awaiting) = self.request
            && now >= awaiting.deadline
        {
            return vec![Event::Close(Violation::RequestTimeout {
                awaited: awaiting.response,
                timeout: self.config.request_timeout,
            })];
        }
        if self.timed_sync.is_some_and(|deadline| now >= deadline) {
            return vec![Event::Close(Violation::RequestTimeout {
                awaited: MessageId::TimedSync,
                timeout: self.config.request_timeout,
            })];
        }
        if now >= self.last_heard + self.config.idle_timeout {
            return vec![Event::Close(Violation::Idle(self.config.idle_timeout))];
        }
        let mut events = Vec::new();
        if now >= self.next_timed_sync {
            self.next_timed_sync = now + self.config.timed_sync_interval;
            // A timed sync still in flight is not doubled; its own deadline covers it.
            if self.timed_sync.is_none() && !self.awaits_admin(MessageId::TimedSync) {
                self.timed_sync = Some(now + self.config.request_timeout);
                events.push(Event::SendTimedSync);
            }
        }
        events
    }

    /// Turns the request handler's answer into the message to send, if any. A handler
    /// answer of the wrong kind for the request is dropped (our bug, not the peer's).
    #[must_use]
    pub fn answer(
        request: &ProtocolRequest,
        response: Option<ProtocolResponse>,
    ) -> Option<Message> {
        let response = response?;
        let expected = request.expected_response()?;
        let message = ProtocolMessage::from(response);
        (message.id() == expected).then_some(Message::Protocol(message))
    }
}

#[cfg(test)]
mod flood_tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_and_a_sustained_flood_closes() {
        let start = Instant::now();
        let mut state = ConnectionState::new(ConnectionConfig::default(), 1, 1, start);
        let ping = || Message::Request(AdminRequest::Ping);
        for _ in 0..REQUEST_BURST {
            let events = state.handle_message(ping(), start);
            assert!(!events.iter().any(|e| matches!(e, Event::Close(_))));
        }
        // The burst is spent: one more at the same instant is a flood.
        assert_eq!(
            state.handle_message(ping(), start),
            vec![Event::Close(Violation::RequestFlood)]
        );
        // At the sustained rate, a peer is never cut off.
        let mut state = ConnectionState::new(ConnectionConfig::default(), 1, 1, start);
        let step = Duration::from_secs(1) / REQUESTS_PER_SECOND;
        for i in 1..=10_000u32 {
            let events = state.handle_message(ping(), start + step * i);
            assert!(
                !events.iter().any(|e| matches!(e, Event::Close(_))),
                "request {i}"
            );
        }
        assert_eq!(Violation::RequestFlood.ban_score(), 50);
    }
}

#[cfg(test)]
mod tests {
    use umbra_wire::{ChainRequest, GetObjectsResponse, TimedSyncRequest};

    use super::*;

    fn state(now: Instant) -> ConnectionState {
        ConnectionState::new(ConnectionConfig::default(), 1, 1, now)
    }

    fn core_sync() -> umbra_wire::CoreSyncData {
        umbra_wire::CoreSyncData {
            current_height: 1,
            cumulative_difficulty: 1,
            cumulative_difficulty_top64: 0,
            top_id: [0; 32],
            top_version: 1,
            pruning_seed: 0,
        }
    }

    fn get_chain() -> PeerRequest {
        PeerRequest::Protocol(ProtocolRequest::GetChain(ChainRequest {
            block_ids: Vec::new().into(),
            prune: false,
        }))
    }

    #[test]
    fn one_request_at_a_time_and_notifications_answer_at_once() {
        let now = Instant::now();
        let mut s = state(now);
        assert!(s.can_send_request());
        let (message, immediate) = s.send_request(get_chain(), now).unwrap();
        assert_eq!(message.id(), MessageId::ChainRequest);
        assert_eq!(immediate, None);
        assert!(!s.can_send_request());
        assert!(s.send_request(get_chain(), now).is_err());

        let mut s = state(now);
        let push = PeerRequest::Protocol(ProtocolRequest::NewTransactions(
            umbra_wire::NewTransactions {
                txs: Vec::new(),
                padding: bytes::Bytes::new(),
                dandelionpp_fluff: true,
            },
        ));
        let (_, immediate) = s.send_request(push, now).unwrap();
        assert_eq!(immediate, Some(PeerResponse::None));
        assert!(s.can_send_request());
    }

    #[test]
    fn an_unsolicited_response_is_a_violation() {
        let now = Instant::now();
        let mut s = state(now);
        let events = s.handle_message(
            Message::Protocol(ProtocolMessage::GetObjectsResponse(GetObjectsResponse {
                blocks: Vec::new(),
                missed_ids: Vec::new().into(),
                current_blockchain_height: 0,
            })),
            now,
        );
        assert!(matches!(
            events.as_slice(),
            [Event::Close(Violation::Unsolicited(
                MessageId::GetObjectsResponse
            ))]
        ));
        let events = s.handle_message(
            Message::Response(AdminResponse::Ping(umbra_wire::PingResponse {
                status: "OK".into(),
                peer_id: 1,
            })),
            now,
        );
        assert!(matches!(
            events.as_slice(),
            [Event::Close(Violation::Unsolicited(_))]
        ));
    }

    #[test]
    fn a_second_handshake_is_a_violation() {
        let now = Instant::now();
        let mut s = state(now);
        let handshake = umbra_wire::HandshakeRequest {
            node_data: umbra_wire::BasicNodeData {
                network_id: [0; 16],
                my_port: 0,
                rpc_port: 0,
                rpc_credits_per_hash: 0,
                peer_id: 2,
                support_flags: 0,
                umbra_key: None,
                umbra_transports: None,
            },
            payload_data: core_sync(),
        };
        let events = s.handle_message(Message::Request(AdminRequest::Handshake(handshake)), now);
        assert_eq!(events, [Event::Close(Violation::SecondHandshake)]);
    }

    #[test]
    fn timers_timed_sync_request_deadline_and_idle() {
        let start = Instant::now();
        let config = ConnectionConfig::default();
        let mut s = state(start);
        assert_eq!(s.poll_timeout(), start + config.timed_sync_interval);
        let due = start + config.timed_sync_interval;
        assert_eq!(s.handle_timeout(due), [Event::SendTimedSync]);
        // The peer answers; the next one is due an interval later.
        let events = s.handle_message(
            Message::Response(AdminResponse::TimedSync(TimedSyncResponse {
                payload_data: core_sync(),
                local_peerlist_new: Vec::new(),
            })),
            due,
        );
        assert!(matches!(events.as_slice(), [Event::PeerSynced(_)]));

        let (_, _) = s.send_request(get_chain(), due).unwrap();
        let deadline = due + config.request_timeout;
        assert!(s.poll_timeout() <= deadline);
        let late = s.handle_timeout(deadline);
        assert!(matches!(
            late.as_slice(),
            [Event::Close(Violation::RequestTimeout {
                awaited: MessageId::ChainResponse,
                ..
            })]
        ));

        let mut quiet = state(start);
        // Answer our timed syncs' absence by never hearing anything: idle fires.
        let mut now = start;
        let mut closed = false;
        for _ in 0..20 {
            now = quiet.poll_timeout();
            if let [Event::Close(_)] = quiet.handle_timeout(now).as_slice() {
                closed = true;
                break;
            }
        }
        assert!(closed, "a silent peer is dropped");
        assert!(now <= start + config.idle_timeout);
    }

    #[test]
    fn a_timed_sync_request_updates_and_is_answered() {
        let now = Instant::now();
        let mut s = state(now);
        let events = s.handle_message(
            Message::Request(AdminRequest::TimedSync(TimedSyncRequest {
                payload_data: core_sync(),
            })),
            now,
        );
        assert!(matches!(
            events.as_slice(),
            [Event::PeerChainState(_), Event::AnswerTimedSync]
        ));
    }
}
