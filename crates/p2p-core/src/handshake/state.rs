//! The handshake as a sans-IO state machine: [`Handshaker`].

use std::{
    collections::VecDeque,
    fmt,
    time::{Duration, Instant},
};

use tracing::{debug, trace};
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, CoreSyncData, HandshakeRequest, HandshakeResponse,
    Message, MessageId, PING_OK_STATUS, PeerListEntry, PingResponse, ProtocolMessage,
    SupportFlagsResponse, TimedSyncResponse,
};

use super::{HandshakeConfig, HandshakeError, Step};
use crate::{Direction, FilteredPeerList, MAX_PEER_LIST_LEN, ZoneAddr, filter_peer_list};

/// How many of the peer's admin requests (ping, support flags, timed sync) are answered
/// during one handshake; one more is
/// [`HandshakeError::TooManyMessages`]. monerod sends at most one (its support-flags
/// request, or a timed sync if its 60 s timer fires at the wrong moment).
pub const MAX_REQUESTS_ANSWERED: usize = 8;

/// How many protocol notifications the peer may send before the handshake ends (they are
/// kept, in order, for the connection task: [`HandshakeOutcome::early_messages`]); one more
/// is [`HandshakeError::TooManyMessages`]. monerod sends one
/// (`NOTIFY_GET_TXPOOL_COMPLEMENT`, before its handshake response). Each is at most
/// 256 KiB, so this bounds what a handshake can hold to 2 MiB.
pub const MAX_EARLY_MESSAGES: usize = 8;

/// What a successful handshake learned about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeOutcome<A> {
    /// Who connected.
    pub direction: Direction,
    /// The peer's address (as the transport reported or dialled it).
    pub peer_addr: A,
    /// The peer's `basic_node_data` as it sent it (its `support_flags` field may be 0; see
    /// [`support_flags`](Self::support_flags) for the final value).
    pub node_data: BasicNodeData,
    /// The peer's chain state: from its handshake, or from a timed sync it sent during the
    /// handshake, whichever came last.
    pub core_sync: CoreSyncData,
    /// The peer's support flags: from its node data, or its answer to our support-flags
    /// request when the node data had none.
    pub support_flags: u32,
    /// The peers the peer told us about, filtered (outbound only; empty inbound, where the
    /// handshake request carries no list).
    pub peer_list: FilteredPeerList<A>,
    /// The address to ping back before the peer's address enters the white list: inbound
    /// peers that advertised a port, on zones that can ping back, at a routable address.
    /// Check it with [`ping_back`](super::ping_back) against `node_data.peer_id`.
    pub ping_back: Option<A>,
    /// Protocol notifications that arrived before the handshake ended, in order, for the
    /// connection task to handle (monerod sends `NOTIFY_GET_TXPOOL_COMPLEMENT` before its
    /// handshake response). At most [`MAX_EARLY_MESSAGES`].
    pub early_messages: Vec<ProtocolMessage>,
    /// The peer's requests we answered during the handshake, in order (at most
    /// [`MAX_REQUESTS_ANSWERED`]).
    pub answered: Vec<MessageId>,
}

/// How a handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished<A> {
    /// A peer: the connection goes on.
    Handshaken(Box<HandshakeOutcome<A>>),
    /// Inbound only: the first message was a ping, monerod's ping-back probe
    /// (`try_ping`), and it has been answered. This is not a peer: flush the answer and
    /// close.
    PingProbe,
}

impl<A> Finished<A> {
    /// The outcome, if this was a handshake.
    #[must_use]
    pub fn into_handshaken(self) -> Option<HandshakeOutcome<A>> {
        match self {
            Self::Handshaken(outcome) => Some(*outcome),
            Self::PingProbe => None,
        }
    }
}

enum State<A> {
    /// Inbound, before the first message.
    AwaitingRequest,
    /// Outbound, after our request was queued.
    AwaitingResponse,
    /// After the handshake messages, waiting for the peer's support flags.
    AwaitingSupportFlags(Box<HandshakeOutcome<A>>),
    /// Ended; the outcome is still here.
    Done(Finished<A>),
    /// Ended; the outcome was taken.
    Taken,
    /// Failed; the error was returned.
    Failed,
}

/// The handshake of one connection, with monerod's semantics, as a sans-IO state machine.
///
/// It never touches a socket or a clock: feed it the peer's messages
/// ([`handle_message`](Self::handle_message)) and the time
/// ([`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout)
/// passes), send what [`poll_transmit`](Self::poll_transmit) returns, and stop when
/// [`is_done`](Self::is_done) (after sending what is left to transmit) or at the first
/// error. After an error the machine is finished: every further message is refused.
///
/// The [module docs](super) describe the message sequences and every rule.
pub struct Handshaker<A> {
    config: HandshakeConfig,
    direction: Direction,
    peer_addr: A,
    our_sync: CoreSyncData,
    our_peer_list: Vec<PeerListEntry>,
    deadline: Instant,
    state: State<A>,
    transmit: VecDeque<Message>,
    answered: Vec<MessageId>,
    early: Vec<ProtocolMessage>,
}

impl<A> fmt::Debug for Handshaker<A> {
    /// Leaves the peer's address out: on anonymous zones it must not reach the logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshaker")
            .field("direction", &self.direction)
            .field("step", &self.step())
            .field("deadline", &self.deadline)
            .field("queued", &self.transmit.len())
            .finish_non_exhaustive()
    }
}

impl<A: ZoneAddr> Handshaker<A> {
    /// A handshake on a connection we opened to `peer_addr`, starting `now`: our handshake
    /// request is the first thing [`poll_transmit`](Self::poll_transmit) returns.
    #[must_use]
    pub fn outbound(
        config: HandshakeConfig,
        core_sync: CoreSyncData,
        peer_addr: A,
        now: Instant,
    ) -> Self {
        let mut machine = Self::new(
            Direction::Outbound,
            config,
            core_sync,
            Vec::new(),
            peer_addr,
            now,
        );
        let request = HandshakeRequest {
            node_data: machine.config.node_data(),
            payload_data: machine.our_sync.clone(),
        };
        machine.transmit.push_back(request.into());
        machine.state = State::AwaitingResponse;
        machine
    }

    /// A handshake on a connection `peer_addr` opened to us, starting `now`. `peer_list` is
    /// what we share in our response (at most [`MAX_PEER_LIST_LEN`] entries; more are cut).
    #[must_use]
    pub fn inbound(
        config: HandshakeConfig,
        core_sync: CoreSyncData,
        peer_list: Vec<PeerListEntry>,
        peer_addr: A,
        now: Instant,
    ) -> Self {
        Self::new(
            Direction::Inbound,
            config,
            core_sync,
            peer_list,
            peer_addr,
            now,
        )
    }

    fn new(
        direction: Direction,
        config: HandshakeConfig,
        our_sync: CoreSyncData,
        mut our_peer_list: Vec<PeerListEntry>,
        peer_addr: A,
        now: Instant,
    ) -> Self {
        if our_peer_list.len() > MAX_PEER_LIST_LEN {
            debug!(
                len = our_peer_list.len(),
                "peer list to share cut to {MAX_PEER_LIST_LEN} entries"
            );
            our_peer_list.truncate(MAX_PEER_LIST_LEN);
        }
        let deadline = now.checked_add(config.timeout).unwrap_or(now);
        Self {
            config,
            direction,
            peer_addr,
            our_sync,
            our_peer_list,
            deadline,
            state: State::AwaitingRequest,
            transmit: VecDeque::with_capacity(2),
            answered: Vec::new(),
            early: Vec::new(),
        }
    }
}

impl<A> Handshaker<A> {
    /// Who opened the connection.
    #[must_use]
    pub const fn direction(&self) -> Direction {
        self.direction
    }

    /// Where the handshake is.
    #[must_use]
    pub const fn step(&self) -> Step {
        match self.state {
            State::AwaitingRequest => Step::AwaitingRequest,
            State::AwaitingResponse => Step::AwaitingResponse,
            State::AwaitingSupportFlags(_) => Step::AwaitingSupportFlags,
            State::Done(_) | State::Taken | State::Failed => Step::Finished,
        }
    }

    /// The next message to send, if any. Call until `None` after every event.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called, while the handshake
    /// runs; `None` once it has ended.
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingRequest | State::AwaitingResponse | State::AwaitingSupportFlags(_) => {
                Some(self.deadline)
            }
            State::Done(_) | State::Taken | State::Failed => None,
        }
    }

    /// Whether the handshake ended successfully (what is left in
    /// [`poll_transmit`](Self::poll_transmit) must still be sent).
    #[must_use]
    pub const fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Taken)
    }

    /// How the handshake ended, once [`is_done`](Self::is_done).
    #[must_use]
    pub const fn outcome(&self) -> Option<&Finished<A>> {
        match &self.state {
            State::Done(finished) => Some(finished),
            _ => None,
        }
    }

    /// Takes how the handshake ended, once [`is_done`](Self::is_done); `None` before, and
    /// after it was taken.
    pub fn take_outcome(&mut self) -> Option<Finished<A>> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Done(finished) => Some(finished),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Time passed: fails the handshake with [`HandshakeError::Timeout`] once `now` is at or
    /// past the deadline.
    ///
    /// # Errors
    /// [`HandshakeError::Timeout`] naming the step that did not finish.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {
                let step = self.step();
                debug!(%step, "handshake timed out");
                self.state = State::Failed;
                self.transmit.clear();
                Err(HandshakeError::Timeout {
                    step,
                    timeout: self.config.timeout,
                })
            }
            _ => Ok(()),
        }
    }
}

impl<A: ZoneAddr> Handshaker<A> {
    /// The peer answered our request for `command` with levin error `code` instead of a
    /// body.
    ///
    /// Refusing the support-flags request is not fatal: monerod's anonymity zones do not
    /// handle it (only handshakes, timed syncs and transactions go over Tor and I2P), and
    /// monerod itself then goes on with the flags at 0 (`try_get_support_flags` only logs).
    /// Any other refused request ends the handshake.
    ///
    /// # Errors
    /// [`HandshakeError::ErrorResponse`] for any other request.
    pub fn handle_error_response(&mut self, command: u32, code: i32) -> Result<(), HandshakeError> {
        let step = self.step();
        if step == Step::AwaitingSupportFlags && command == MessageId::SupportFlags.command() {
            debug!(
                code,
                "the peer refused to tell its support flags; taking none"
            );
            if let State::AwaitingSupportFlags(outcome) =
                std::mem::replace(&mut self.state, State::Taken)
            {
                self.finish(outcome);
            }
            return Ok(());
        }
        self.state = State::Failed;
        self.transmit.clear();
        Err(HandshakeError::ErrorResponse {
            command,
            code,
            step,
        })
    }

    /// A message from the peer arrived at `now`.
    ///
    /// # Errors
    /// Whatever the message breaks ([`HandshakeError::WrongNetwork`],
    /// [`HandshakeError::SelfConnection`], [`HandshakeError::UnexpectedMessage`], ...), or
    /// [`HandshakeError::Timeout`] if `now` is past the deadline. The handshake has then
    /// failed: close the connection.
    pub fn handle_message(&mut self, message: Message, now: Instant) -> Result<(), HandshakeError> {
        let step = self.step();
        if step == Step::Finished {
            return Err(HandshakeError::unexpected(&message, step));
        }
        self.handle_timeout(now)?;
        trace!(id = ?message.id(), %step, "handshake message");
        let result = self.dispatch(message, step);
        if result.is_err() {
            self.state = State::Failed;
            self.transmit.clear();
        }
        result
    }

    fn dispatch(&mut self, message: Message, step: Step) -> Result<(), HandshakeError> {
        match (step, message) {
            (Step::AwaitingRequest, Message::Request(AdminRequest::Handshake(request))) => {
                self.on_request(request)
            }
            (Step::AwaitingRequest, Message::Request(AdminRequest::Ping)) => {
                debug!("answered a ping probe");
                self.answer(&AdminRequest::Ping, step)?;
                self.state = State::Done(Finished::PingProbe);
                Ok(())
            }
            (Step::AwaitingResponse, Message::Response(AdminResponse::Handshake(response))) => {
                self.on_response(response)
            }
            (
                Step::AwaitingSupportFlags,
                Message::Response(AdminResponse::SupportFlags(SupportFlagsResponse {
                    support_flags,
                })),
            ) => {
                debug!(support_flags, "peer's support flags");
                if let State::AwaitingSupportFlags(mut outcome) =
                    std::mem::replace(&mut self.state, State::Taken)
                {
                    outcome.support_flags = support_flags;
                    self.finish(outcome);
                }
                Ok(())
            }
            (
                Step::AwaitingResponse | Step::AwaitingSupportFlags,
                Message::Request(
                    request @ (AdminRequest::Ping
                    | AdminRequest::SupportFlags
                    | AdminRequest::TimedSync(_)),
                ),
            ) => self.answer(&request, step),
            (
                Step::AwaitingResponse | Step::AwaitingSupportFlags,
                Message::Protocol(notification),
            ) => {
                if self.early.len() >= MAX_EARLY_MESSAGES {
                    return Err(HandshakeError::TooManyMessages {
                        what: "protocol messages",
                        limit: MAX_EARLY_MESSAGES,
                        step,
                    });
                }
                trace!(id = ?notification.id(), "protocol message kept for the connection");
                self.early.push(notification);
                Ok(())
            }
            (step, other) => Err(HandshakeError::unexpected(&other, step)),
        }
    }

    /// Answers one of the peer's admin requests (not a handshake).
    fn answer(&mut self, request: &AdminRequest, step: Step) -> Result<(), HandshakeError> {
        if self.answered.len() >= MAX_REQUESTS_ANSWERED {
            return Err(HandshakeError::TooManyMessages {
                what: "requests",
                limit: MAX_REQUESTS_ANSWERED,
                step,
            });
        }
        let response = match request {
            AdminRequest::Ping => AdminResponse::Ping(PingResponse {
                status: PING_OK_STATUS.into(),
                peer_id: self.config.node_id,
            }),
            AdminRequest::SupportFlags => AdminResponse::SupportFlags(SupportFlagsResponse {
                support_flags: self.config.support_flags,
            }),
            AdminRequest::TimedSync(sync) => {
                if let State::AwaitingSupportFlags(outcome) = &mut self.state {
                    outcome.core_sync = sync.payload_data.clone();
                }
                // Our peer list went out with the handshake; like monerod, a timed sync
                // only carries entries not sent before on this connection.
                AdminResponse::TimedSync(TimedSyncResponse {
                    payload_data: self.our_sync.clone(),
                    local_peerlist_new: Vec::new(),
                })
            }
            AdminRequest::Handshake(_) => {
                return Err(HandshakeError::unexpected(
                    &Message::Request(request.clone()),
                    step,
                ));
            }
        };
        debug!(id = ?request.id(), %step, "answered the peer's request during the handshake");
        self.answered.push(request.id());
        self.transmit.push_back(Message::Response(response));
        Ok(())
    }

    /// The peer must be on our network (monerod: `network_id != m_network_id`).
    fn check_network(&self, node_data: &BasicNodeData) -> Result<(), HandshakeError> {
        if node_data.network_id == self.config.network_id {
            Ok(())
        } else {
            Err(HandshakeError::WrongNetwork {
                ours: self.config.network_id,
                theirs: node_data.network_id,
            })
        }
    }

    /// The peer must not be us (monerod, public zone only: `peer_id == m_peer_id`).
    fn check_not_us(&self, node_data: &BasicNodeData) -> Result<(), HandshakeError> {
        if self.config.check_node_id && node_data.peer_id == self.config.node_id {
            Err(HandshakeError::SelfConnection)
        } else {
            Ok(())
        }
    }

    /// Outbound: the peer's handshake response.
    fn on_response(&mut self, response: HandshakeResponse) -> Result<(), HandshakeError> {
        let HandshakeResponse {
            node_data,
            payload_data,
            local_peerlist_new,
        } = response;
        // monerod's order (`do_handshake_with_peer`): network, peer list, self connection.
        self.check_network(&node_data)?;
        let peer_list =
            filter_peer_list::<A>(&local_peerlist_new, self.config.allow_local_addresses)
                .map_err(|too_long| HandshakeError::PeerListTooLong { len: too_long.len })?;
        self.check_not_us(&node_data)?;
        debug!(
            peers = peer_list.peers.len(),
            dropped = peer_list.dropped,
            height = payload_data.current_height,
            support_flags = node_data.support_flags,
            "handshake response accepted"
        );
        let outcome = HandshakeOutcome {
            direction: Direction::Outbound,
            peer_addr: self.peer_addr.clone(),
            support_flags: node_data.support_flags,
            node_data,
            core_sync: payload_data,
            peer_list,
            ping_back: None,
            early_messages: Vec::new(),
            answered: Vec::new(),
        };
        self.after_handshake(outcome);
        Ok(())
    }

    /// Inbound: the peer's handshake request.
    fn on_request(&mut self, request: HandshakeRequest) -> Result<(), HandshakeError> {
        let HandshakeRequest {
            node_data,
            payload_data,
        } = request;
        // monerod's order (`handle_handshake`): network, then self connection.
        self.check_network(&node_data)?;
        self.check_not_us(&node_data)?;
        let ping_back = self.ping_back_addr(node_data.my_port);
        debug!(
            height = payload_data.current_height,
            support_flags = node_data.support_flags,
            ping_back = ping_back.is_some(),
            "handshake request accepted"
        );
        let response = HandshakeResponse {
            node_data: self.config.node_data(),
            payload_data: self.our_sync.clone(),
            local_peerlist_new: std::mem::take(&mut self.our_peer_list),
        };
        self.transmit.push_back(response.into());
        let outcome = HandshakeOutcome {
            direction: Direction::Inbound,
            peer_addr: self.peer_addr.clone(),
            support_flags: node_data.support_flags,
            node_data,
            core_sync: payload_data,
            peer_list: FilteredPeerList {
                peers: Vec::new(),
                dropped: 0,
            },
            ping_back,
            early_messages: Vec::new(),
            answered: Vec::new(),
        };
        self.after_handshake(outcome);
        Ok(())
    }

    /// The address an inbound peer says it listens on, if it is worth a ping back.
    fn ping_back_addr(&self, my_port: u32) -> Option<A> {
        if !self.config.can_ping_back || my_port == 0 {
            return None;
        }
        let Ok(port) = u16::try_from(my_port) else {
            debug!(my_port, "advertised port out of range: no ping back");
            return None;
        };
        let addr = self.peer_addr.with_port(port);
        addr.is_routable(self.config.allow_local_addresses)
            .then_some(addr)
    }

    /// Both directions, once the handshake messages are through: like monerod
    /// (`do_handshake_with_peer`, `handle_handshake`), ask for the support flags if the
    /// peer announced none, else we are done.
    fn after_handshake(&mut self, outcome: HandshakeOutcome<A>) {
        if outcome.support_flags == 0 && self.config.ask_support_flags {
            debug!("peer announced no support flags: asking for them");
            self.transmit
                .push_back(Message::Request(AdminRequest::SupportFlags));
            self.state = State::AwaitingSupportFlags(Box::new(outcome));
        } else {
            self.finish(Box::new(outcome));
        }
    }

    fn finish(&mut self, mut outcome: Box<HandshakeOutcome<A>>) {
        outcome.early_messages = std::mem::take(&mut self.early);
        outcome.answered = std::mem::take(&mut self.answered);
        debug!(direction = %self.direction, "handshake done");
        self.state = State::Done(Finished::Handshaken(outcome));
    }

    /// The deadline of the whole handshake.
    #[must_use]
    pub const fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The bound on the whole handshake.
    #[must_use]
    pub const fn timeout(&self) -> Duration {
        self.config.timeout
    }
}
