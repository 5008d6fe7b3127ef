//! The handshake, with monerod's semantics: a sans-IO state machine ([`Handshaker`]), an
//! async driver around it ([`handshake`]), and the ping-back check ([`ping_back`]).
//!
//! ```text
//!  bytes ─► FramedRead<MoneroCodec> ─► Message ─► Handshaker::handle_message ─┐
//!  bytes ◄─ FramedWrite<MoneroCodec> ◄─ Message ◄─ Handshaker::poll_transmit ◄┤ (sans-IO:
//!  tokio::time::sleep_until(poll_timeout) ───────► Handshaker::handle_timeout ┘  no socket,
//!                                                                                no clock)
//! ```
//!
//! [`Handshaker`] holds all the rules and is tested without sockets or sleeps, by feeding it
//! messages and instants. The driver ([`handshake`], [`handshake_outbound`],
//! [`handshake_inbound`]) only moves messages and owns the deadline; on success it hands
//! back the framed halves ([`Handshaken`]), whose reader keeps anything the peer already
//! sent after the handshake.
//!
//! # Outbound: we connect to monerod
//!
//! ```text
//!  we (Handshaker::outbound)                          monerod (handle_handshake)
//!   │── COMMAND_HANDSHAKE request (1001) ──────────────────►│ network id, self connection,
//!   │   node_data {network_id, my_port, rpc_port,           │ process_payload_sync_data
//!   │   peer_id, support_flags}, payload_data (our chain)   │
//!   │◄── NOTIFY_GET_TXPOOL_COMPLEMENT (2010) ───────────────│ when it considers itself synced
//!   │    (kept in HandshakeOutcome::early_messages)         │
//!   │◄── COMMAND_REQUEST_SUPPORT_FLAGS request (1007) ──────│ only if our support_flags == 0
//!   │── support-flags response (our flags) ────────────────►│ (try_get_support_flags)
//!   │◄── COMMAND_HANDSHAKE response (return code 1) ────────│ node_data, payload_data,
//!   │    local_peerlist_new (≤ 250 entries)                 │ local_peerlist_new
//!   │── support-flags request ─────────────────────────────►│ only if its support_flags == 0
//!   │◄── support-flags response ────────────────────────────│ (do_handshake_with_peer)
//!   done                                                    │
//!                  a new connection to our IP:my_port ◄─────│ only if our my_port != 0 and our
//!                  COMMAND_PING (1003) = ping probe         │ IP is allowed (try_ping)
//! ```
//!
//! # Inbound: monerod connects to us
//!
//! ```text
//!  monerod (do_handshake_with_peer)                   we (Handshaker::inbound)
//!   │── COMMAND_HANDSHAKE request ─────────────────────────►│ network id, self connection
//!   │◄── COMMAND_HANDSHAKE response ────────────────────────│ our node_data, payload_data,
//!   │                                                       │ our peer list (≤ 250)
//!   │◄── support-flags request ─────────────────────────────│ only if its support_flags == 0
//!   │── support-flags response ────────────────────────────►│
//!   │                                                       done; outcome.ping_back =
//!   │◄═══ ping_back(): new connection, COMMAND_PING ════════│ its IP + its my_port, if != 0
//!   │════ PingResponse {"OK", its peer id} ════════════════►│ → white list only on success
//!
//!  monerod's probe (try_ping) on a fresh connection           we (Handshaker::inbound)
//!   │── COMMAND_PING request (first message) ──────────────►│
//!   │◄── PingResponse {status "OK", peer_id: our node id} ──│ Finished::PingProbe: close
//! ```
//!
//! monerod sends its own support-flags request *before* its handshake response (the invoke
//! is issued inside `handle_handshake`); we send ours right after our response. Both orders
//! are valid: levin requests and responses are matched by command, not by position.
//!
//! # Rules, and where they come from
//!
//! - **Network id.** The peer's `node_data.network_id` must equal ours, else
//!   [`HandshakeError::WrongNetwork`] (monerod: `handle_handshake` and
//!   `do_handshake_with_peer` compare it with `m_network_id`; regtest uses mainnet's id).
//! - **Self connection.** With [`HandshakeConfig::check_node_id`] (clearnet, like monerod's
//!   public zone only), a peer presenting our node id is [`HandshakeError::SelfConnection`].
//!   Node ids are per zone and never shared between zones
//!   ([`NodeIds`](crate::NodeIds), [`node_id_for_connection`](crate::node_id_for_connection)),
//!   so a peer cannot link our identities across zones by probing ids.
//! - **What we reveal.** `my_port`, `rpc_port` and `rpc_credits_per_hash` only where the zone
//!   allows ([`HandshakeConfig::for_zone`]; monerod's `get_local_node_data` sends them only on
//!   zones that can ping back).
//! - **Peer list.** At most [`MAX_PEER_LIST_LEN`](crate::MAX_PEER_LIST_LEN) (250) entries,
//!   else [`HandshakeError::PeerListTooLong`] (monerod's `handle_remote_peerlist`:
//!   `P2P_MAX_PEERS_IN_HANDSHAKE`, "considered spamming"). Entries of another zone,
//!   unroutable addresses and duplicates are dropped and counted
//!   ([`filter_peer_list`](crate::filter_peer_list); monerod's `sanitize_peerlist` drops some
//!   and refuses a list with a foreign-zone entry outright — we keep the good entries and let
//!   the caller score the junk count). Inbound, we send ours, cut to 250.
//! - **Core sync data** goes both ways: ours in our request or response, the peer's in the
//!   outcome (updated if it sends a timed sync during the handshake). Ours must be exact:
//!   monerod's `process_payload_sync_data` drops a peer whose `top_version` is not the hard
//!   fork version it expects at that height.
//! - **Support flags.** If the peer announces `support_flags == 0`, we ask with
//!   `COMMAND_REQUEST_SUPPORT_FLAGS` and wait for the answer, in both directions (monerod:
//!   `try_get_support_flags` from `handle_handshake` and `do_handshake_with_peer`, only when
//!   the flags are 0, bounded by the handshake invoke timeout; epee closes a connection whose
//!   invoke times out, so a missing answer is a [`HandshakeError::Timeout`] here too). The
//!   peer's own support-flags requests are answered with our flags (`handle_get_support_flags`).
//! - **Requests during the handshake.** Once the peer may consider the handshake under way,
//!   its pings (`handle_ping`: status `"OK"` and our node id), support-flags requests and
//!   timed syncs (our chain, no peer list: ours went with the handshake) are answered, at most
//!   [`MAX_REQUESTS_ANSWERED`]; its protocol notifications are kept for the connection, at
//!   most [`MAX_EARLY_MESSAGES`]. Anything else (a protocol message before the handshake
//!   request, a second handshake, a response we did not ask for) is
//!   [`HandshakeError::UnexpectedMessage`].
//! - **Ping probe.** Inbound, a ping as the very first message is monerod's `try_ping`
//!   probe: answered, and the handshake ends as [`Finished::PingProbe`] (not a peer).
//! - **Ping back.** An inbound peer's `my_port` (if non-zero, at most 65535, on a zone that
//!   can ping back, at a routable address: monerod never pings back loopback and local
//!   addresses only with `--allow-local-ip`) gives [`HandshakeOutcome::ping_back`]: the
//!   connection's address with that port. Only after [`ping_back`] succeeds (status `"OK"` and
//!   the handshake's peer id, monerod's `try_ping`) may the address enter the white list
//!   (`append_with_peer_white`). monerod 0.18.0.0's own back ping is broken
//!   (monero-project/monero#8520, fixed by #8640): it connects to the advertised port and
//!   closes without sending its ping, which our inbound driver reports as
//!   [`HandshakeError::Closed`] with ban score 0; over IPv6 it does not even connect.
//! - **Timeouts.** One deadline bounds the whole handshake, reads and writes included
//!   ([`DEFAULT_HANDSHAKE_TIMEOUT`], twice monerod's `P2P_DEFAULT_HANDSHAKE_INVOKE_TIMEOUT`);
//!   [`ping_back`] has its own ([`DEFAULT_PING_BACK_TIMEOUT`]).
//! - **Frame size.** 256 KiB during the handshake (levin's initial packet limit, refused from
//!   the header before any allocation), 100 MB afterwards.
//!
//! # Errors and ban scores
//!
//! [`HandshakeError::ban_score`] says how much the peer is to blame, in points towards a ban
//! of its address ([`BAN_AT_ONCE`] = 100 bans at once):
//!
//! | error | score | why |
//! |---|---|---|
//! | `Io`, `Closed`, `Timeout` | 0 | networks fail and nodes restart; monerod counts none of these |
//! | `SelfConnection` | 0 | it is us: forget the address instead |
//! | `ErrorResponse` | 0 | the peer refused our request; refusing is not an attack |
//! | `Codec` while encoding our own message | 0 | our bug |
//! | `UnexpectedMessage`, `TooManyMessages`, `PeerListTooLong` | 50 | a violation no monerod commits; a second one bans |
//! | `Codec`: valid levin, invalid body (or unsupported levin version) | 50 | the same |
//! | `Codec`: not levin, bad flags or fragments, or a frame over the limit | 100 | not a Monero node, or trying to make us allocate |
//! | `WrongNetwork` | 100 | never useful to us (monerod counts a host fail and drops it) |
//!
//! # Example
//!
//! Two machines talking to each other, without any I/O:
//!
//! ```
//! use std::{net::SocketAddr, time::Instant};
//! use umbra_p2p_core::handshake::{Finished, HandshakeConfig, Handshaker};
//! use umbra_wire::{CoreSyncData, network_id};
//!
//! let chain = CoreSyncData {
//!     current_height: 1,
//!     cumulative_difficulty: 1,
//!     cumulative_difficulty_top64: 0,
//!     top_id: [0; 32],
//!     top_version: 1,
//!     pruning_seed: 0,
//! };
//! let now = Instant::now();
//! let them: SocketAddr = "127.0.0.1:18080".parse()?;
//! let us: SocketAddr = "127.0.0.1:50000".parse()?;
//! let mut out = Handshaker::outbound(
//!     HandshakeConfig::new(network_id::MAINNET, 1),
//!     chain.clone(),
//!     them,
//!     now,
//! );
//! let mut inb = Handshaker::inbound(
//!     HandshakeConfig::new(network_id::MAINNET, 2),
//!     chain,
//!     Vec::new(),
//!     us,
//!     now,
//! );
//! while !(out.is_done() && inb.is_done()) {
//!     while let Some(message) = out.poll_transmit() {
//!         inb.handle_message(message, now)?;
//!     }
//!     while let Some(message) = inb.poll_transmit() {
//!         out.handle_message(message, now)?;
//!     }
//! }
//! let Some(Finished::Handshaken(outcome)) = out.take_outcome() else {
//!     panic!("a peer")
//! };
//! assert_eq!(outcome.node_data.peer_id, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod driver;
mod error;
mod ping_back;
mod state;

pub use config::{DEFAULT_HANDSHAKE_TIMEOUT, HandshakeConfig, UmbraAdvert};
pub use driver::{
    Handshake, Handshaken, handshake, handshake_framed, handshake_inbound, handshake_outbound, now,
};
pub use error::{BAN_AT_ONCE, HandshakeError, Step, codec_blame};
pub use ping_back::{DEFAULT_PING_BACK_TIMEOUT, PingBackError, ping_back};
pub use state::{
    Finished, HandshakeOutcome, Handshaker, MAX_EARLY_MESSAGES, MAX_REQUESTS_ANSWERED,
};
