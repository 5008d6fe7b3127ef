//! The per-zone peer address book: whom we know (white, gray, anchors), whom we refuse
//! (bans, misbehaviour scores), and a peers file that survives restarts and crashes.
//!
//! # Where this sits
//!
//! ```text
//!  events from umbra-p2p-core,                 umbra-address-book                 umbra-p2p
//!  forwarded by umbra-p2p                      (one book per zone)                connection maintainer
//!
//!  handshake done / ping-back ok ──▶ handshake_succeeded
//!  peer list ─▶ filter_peer_list ──▶ add_gray                      ◀── take_white / take_gray / anchors
//!  hostile input ──────────────────▶ misbehaved ─▶ ban                 dial_failed, anchor_connected,
//!  our handshake / timed sync ◀──── white_peers_for_sharing            anchor_disconnected, ban, Save
//!                                          │
//!                    AddressBookHandle<Z>: tower::Service<AddressBookRequest<Z>>
//!                    around AddressBook<Z>, the sans-IO core
//!                                          │ load at start; save periodically and at shutdown
//!                                <data_dir>/<zone>-peers.epee
//! ```
//!
//! [`AddressBook`] is a plain synchronous state machine over one [`NetworkZone`]: no
//! tasks, no clock (every time-dependent method takes `now`), no I/O except the explicit
//! [`AddressBook::load`] and [`AddressBook::save`], randomness from a generator it owns
//! (seedable for tests). [`AddressBookHandle`] shares it between tasks behind a mutex and
//! is the `tower::Service` the rest of the node talks to; [`AddressBookService`] names
//! that bound once.
//!
//! # What it keeps, and every bound
//!
//! | what | bound ([`AddressBookConfig`]) | at the bound |
//! |---|---|---|
//! | white: peers we completed a handshake with | `max_white` = 1000 | a random entry moves to gray |
//! | gray: peers we heard of | `max_gray` = 5000 | a random entry is dropped |
//! | anchors: outbound peers we are connected to | `max_anchors` = 2 | a random anchor is replaced |
//! | bans, per host ([`ZoneAddr::ban_key`]: a whole IP on clearnet), with expiry | `max_bans` = 10 000 | expired bans go, then the one ending soonest |
//! | misbehaviour scores, per host, halving every `score_half_life` (10 min) | `max_scored_hosts` = 10 000 | decayed scores go, then the lowest |
//! | set-aside corrupt peers files | [`MAX_KEPT_ASIDE`] = 8 | the oldest is deleted |
//!
//! An address is in at most one of white and gray. Banning a host removes its entries
//! from every list; a banned host is never added or handed out. A score reaching
//! `ban_threshold` (100) bans the host for `default_ban` (24 h). Scores are not saved
//! (they decay within the hour anyway); bans are.
//!
//! Peer lists we send are a random choice over the whole white list with `last_seen`
//! zeroed, as monerod sends them, so that asking twice tells nobody whom we met lately.
//! Addresses are never logged by this crate (they would be sensitive on anonymous zones).
//!
//! # The peers file
//!
//! One per zone: `<data_dir>/<zone>-peers.epee`, an epee document ([`PeerFile`]):
//! `version` (1), `zone` (the zone's name), `white`, `gray` and `anchors` as lists of
//! monerod's `peerlist_entry`, and `bans` as `{addr, until}` (the host's ban key and the
//! end in seconds since the epoch).
//!
//! **Saving is atomic**: the document goes to `<file>.tmp`, is flushed and `fsync`ed,
//! renamed over the file, and the directory is synced. A crash leaves the old file or
//! the new one, never a mix.
//!
//! **Loading never stops the node.** A missing file gives an empty book. A file that is
//! unreadable, truncated, corrupt, too large for the bounds, of another format version or
//! of another zone is logged at warn with its path and the exact error, renamed to
//! `<file>.corrupt-<unix seconds>` (kept for inspection), and the book starts empty.
//! Entries are checked as live ones are: other zones' addresses are skipped, unroutable
//! ones and banned hosts dropped, expired bans forgotten, and a list over its bound keeps
//! its most recently seen entries. Decoding itself is bounded (see [`persist`]).
//!
//! # Example
//!
//! ```
//! use std::{net::SocketAddr, time::{Duration, SystemTime}};
//!
//! use umbra_address_book::{AddressBook, AddressBookConfig, PeerListKind};
//! use umbra_p2p_core::{ClearNet, PeerCandidate};
//!
//! let dir = tempfile::tempdir()?;
//! let config = AddressBookConfig { data_dir: Some(dir.path().into()), ..Default::default() };
//! let now = SystemTime::now();
//!
//! // First start: no file, an empty book.
//! let mut book = AddressBook::<ClearNet>::load(config.clone(), now);
//! let peer = |addr: &str| PeerCandidate {
//!     addr: addr.parse::<SocketAddr>().unwrap(),
//!     id: 1, last_seen: 0, pruning_seed: 0, rpc_port: 0, rpc_credits_per_hash: 0,
//! };
//!
//! // A peer list arrives: gray. We dial one and the handshake works: white.
//! assert_eq!(book.add_gray([peer("8.8.8.8:18080"), peer("9.9.9.9:18080")], now), 2);
//! let addr: SocketAddr = "8.8.8.8:18080".parse()?;
//! assert!(book.handshake_succeeded(peer("8.8.8.8:18080"), now));
//! assert_eq!(book.list_of(&addr), Some(PeerListKind::White));
//!
//! // The other one sends junk until it is banned; its entry goes.
//! let bad: SocketAddr = "9.9.9.9:18080".parse()?;
//! assert!(!book.misbehaved(&bad, 60, now).is_banned());
//! assert!(book.misbehaved(&bad, 60, now).is_banned());
//! assert_eq!(book.list_of(&bad), None);
//! assert!(book.take_gray(|_| false, now).is_none());
//!
//! // Saved atomically, loaded back.
//! book.save(now)?;
//! let mut again = AddressBook::<ClearNet>::load(config, now);
//! assert_eq!(again.list_of(&addr), Some(PeerListKind::White));
//! assert!(again.is_banned(&bad, now + Duration::from_secs(60)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aside;
mod bans;
mod book;
mod config;
mod error;
mod list;
pub mod persist;
mod score;
mod service;
mod time;

pub use aside::MAX_KEPT_ASIDE;
pub use bans::MAX_BAN;
pub use book::{AddressBook, BookStats, PeerListKind, Verdict};
pub use config::AddressBookConfig;
pub use error::{AddressBookError, FileError};
pub use persist::{BanRecord, FILE_VERSION, LoadReport, PeerFile, decode_peers_file};
pub use service::{AddressBookHandle, AddressBookRequest, AddressBookResponse, AddressBookService};

#[doc(no_inline)]
pub use umbra_p2p_core::{NetworkZone, PeerCandidate, ZoneAddr};
