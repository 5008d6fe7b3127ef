//! [`AddressBookHandle`]: the book shared between tasks, as a `tower::Service` and as plain
//! methods.

use std::{
    collections::HashSet,
    fmt,
    future::{Ready, ready},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use tower::Service;
use umbra_p2p_core::{NetworkZone, PeerCandidate, ZoneAddr};

use crate::{AddressBook, AddressBookError, BookStats, Verdict, persist::write_peer_file};

/// A request to the address book; each mirrors a method of [`AddressBook`], run at
/// `SystemTime::now()`.
#[derive(Debug, Clone)]
pub enum AddressBookRequest<Z: NetworkZone> {
    /// [`AddressBook::handshake_succeeded`] → [`AddressBookResponse::Accepted`].
    HandshakeSucceeded(PeerCandidate<Z::Addr>),
    /// [`AddressBook::add_gray`] → [`AddressBookResponse::NewPeers`].
    AddGray(Vec<PeerCandidate<Z::Addr>>),
    /// [`AddressBook::take_white`] → [`AddressBookResponse::Peer`]. An address is skipped
    /// when it, or its host ([`ZoneAddr::ban_key`]), is in `exclude`.
    TakeWhite {
        /// Addresses (or hosts) not to return: those connected or being dialled.
        exclude: HashSet<Z::Addr>,
    },
    /// [`AddressBook::take_gray`] → [`AddressBookResponse::Peer`], excluding as
    /// [`AddressBookRequest::TakeWhite`].
    TakeGray {
        /// Addresses (or hosts) not to return.
        exclude: HashSet<Z::Addr>,
    },
    /// [`AddressBook::anchors`] → [`AddressBookResponse::Peers`].
    Anchors,
    /// [`AddressBook::dial_failed`] → [`AddressBookResponse::Done`].
    DialFailed(Z::Addr),
    /// [`AddressBook::anchor_connected`] → [`AddressBookResponse::Accepted`].
    AnchorConnected(PeerCandidate<Z::Addr>),
    /// [`AddressBook::anchor_disconnected`] → [`AddressBookResponse::Done`].
    AnchorDisconnected(Z::Addr),
    /// [`AddressBook::white_peers_for_sharing`] → [`AddressBookResponse::Peers`].
    PeersForSharing {
        /// The most entries wanted (never more than 250 are returned).
        max: usize,
    },
    /// [`AddressBook::ban`] → [`AddressBookResponse::BannedUntil`].
    Ban {
        /// An address of the host to ban.
        addr: Z::Addr,
        /// How long; `None` for the configured `default_ban`.
        duration: Option<Duration>,
    },
    /// [`AddressBook::unban`] → [`AddressBookResponse::Unbanned`].
    Unban(Z::Addr),
    /// [`AddressBook::is_banned`] → [`AddressBookResponse::IsBanned`].
    IsBanned(Z::Addr),
    /// [`AddressBook::misbehaved`] → [`AddressBookResponse::Verdict`].
    Misbehaved {
        /// An address of the host that misbehaved.
        addr: Z::Addr,
        /// How bad it was (the ban threshold is 100 by default).
        score: u32,
    },
    /// [`AddressBook::stats`] → [`AddressBookResponse::Stats`].
    Stats,
    /// [`AddressBook::save`] → [`AddressBookResponse::Done`], or an [`AddressBookError`].
    Save,
}

/// The answer to an [`AddressBookRequest`].
#[derive(Debug, Clone)]
pub enum AddressBookResponse<Z: NetworkZone> {
    /// Done; nothing to report.
    Done,
    /// Whether the peer was stored (not: banned host or unroutable address).
    Accepted(bool),
    /// How many peers were new to the gray list.
    NewPeers(usize),
    /// A peer to dial, if any is eligible.
    Peer(Option<PeerCandidate<Z::Addr>>),
    /// Peers (anchors, or entries to share).
    Peers(Vec<PeerCandidate<Z::Addr>>),
    /// When the ban ends, or `None` if the ban map could not keep it.
    BannedUntil(Option<SystemTime>),
    /// Whether a ban was lifted.
    Unbanned(bool),
    /// Whether the host is banned.
    IsBanned(bool),
    /// What a misbehaviour report decided.
    Verdict(Verdict),
    /// How full the book is.
    Stats(BookStats),
}

/// Names the `tower::Service` bound of an address book once: what the peer set, the
/// connection maintainer and the inbound server take.
pub trait AddressBookService<Z: NetworkZone>:
    Service<
        AddressBookRequest<Z>,
        Response = AddressBookResponse<Z>,
        Error = AddressBookError,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<Z, S> AddressBookService<Z> for S
where
    Z: NetworkZone,
    S: Service<
            AddressBookRequest<Z>,
            Response = AddressBookResponse<Z>,
            Error = AddressBookError,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
{
}

/// A shared [`AddressBook`]: cheap to clone, usable from any task or thread.
///
/// Inside is an `Arc<std::sync::Mutex<AddressBook>>`. Every operation is in-memory and
/// bounded (O(1) for the common ones, O(list length) at worst, i.e. microseconds), so a
/// plain mutex held for the call is simpler and faster than an actor task with a channel,
/// and is never held across an `.await`. The one slow operation, saving, encodes under the
/// lock and does the file I/O after releasing it (under a second lock that keeps saves in
/// order).
///
/// The [`Service`] is always ready and answers synchronously (`std::future::Ready`).
/// `Save` does blocking file I/O (an fsync: milliseconds): a caller on an async runtime
/// that saves often should do it through `spawn_blocking` with [`AddressBookHandle::save`].
///
/// A panic while the lock was held (none is possible in this crate) does not make the
/// book unusable: a poisoned lock is taken over as it is.
pub struct AddressBookHandle<Z: NetworkZone> {
    book: Arc<Mutex<AddressBook<Z>>>,
    /// Held for a whole save, so that two saves cannot interleave their snapshots and
    /// writes (an older snapshot overwriting a newer one, or two writers on one temp file).
    save_lock: Arc<Mutex<()>>,
}

impl<Z: NetworkZone> Clone for AddressBookHandle<Z> {
    fn clone(&self) -> Self {
        Self {
            book: Arc::clone(&self.book),
            save_lock: Arc::clone(&self.save_lock),
        }
    }
}

impl<Z: NetworkZone> fmt::Debug for AddressBookHandle<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`: printing the handle from inside `with_book` must not deadlock.
        let mut out = f.debug_struct("AddressBookHandle");
        match self.book.try_lock() {
            Ok(book) => out.field("book", &*book),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                out.field("book", &*poisoned.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => out.field("book", &"<locked>"),
        };
        out.finish()
    }
}

impl<Z: NetworkZone> From<AddressBook<Z>> for AddressBookHandle<Z> {
    fn from(book: AddressBook<Z>) -> Self {
        Self::new(book)
    }
}

/// Whether `addr` or its host is in `exclude`.
fn excluded<A: ZoneAddr>(exclude: &HashSet<A>, addr: &A) -> bool {
    exclude.contains(addr) || exclude.contains(&addr.ban_key())
}

impl<Z: NetworkZone> AddressBookHandle<Z> {
    /// Shares `book`.
    #[must_use]
    pub fn new(book: AddressBook<Z>) -> Self {
        Self {
            book: Arc::new(Mutex::new(book)),
            save_lock: Arc::new(Mutex::new(())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AddressBook<Z>> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the book under the lock (for what the other methods do not cover, or to
    /// pass an explicit time). Keep `f` short: every other user of the book waits.
    pub fn with_book<R>(&self, f: impl FnOnce(&mut AddressBook<Z>) -> R) -> R {
        f(&mut self.lock())
    }

    /// [`AddressBook::handshake_succeeded`] now.
    pub fn handshake_succeeded(&self, peer: PeerCandidate<Z::Addr>) -> bool {
        self.lock().handshake_succeeded(peer, SystemTime::now())
    }

    /// [`AddressBook::add_gray`] now.
    pub fn add_gray(&self, peers: impl IntoIterator<Item = PeerCandidate<Z::Addr>>) -> usize {
        self.lock().add_gray(peers, SystemTime::now())
    }

    /// [`AddressBook::take_white`] now.
    pub fn take_white(&self, exclude: impl Fn(&Z::Addr) -> bool) -> Option<PeerCandidate<Z::Addr>> {
        self.lock().take_white(exclude, SystemTime::now())
    }

    /// [`AddressBook::take_gray`] now.
    pub fn take_gray(&self, exclude: impl Fn(&Z::Addr) -> bool) -> Option<PeerCandidate<Z::Addr>> {
        self.lock().take_gray(exclude, SystemTime::now())
    }

    /// [`AddressBook::anchors`] now.
    #[must_use]
    pub fn anchors(&self) -> Vec<PeerCandidate<Z::Addr>> {
        self.lock().anchors(SystemTime::now())
    }

    /// [`AddressBook::dial_failed`].
    pub fn dial_failed(&self, addr: &Z::Addr) {
        self.lock().dial_failed(addr);
    }

    /// [`AddressBook::anchor_connected`] now.
    pub fn anchor_connected(&self, peer: PeerCandidate<Z::Addr>) -> bool {
        self.lock().anchor_connected(peer, SystemTime::now())
    }

    /// [`AddressBook::anchor_disconnected`].
    pub fn anchor_disconnected(&self, addr: &Z::Addr) {
        self.lock().anchor_disconnected(addr);
    }

    /// [`AddressBook::white_peers_for_sharing`] now.
    #[must_use]
    pub fn white_peers_for_sharing(&self, n: usize) -> Vec<PeerCandidate<Z::Addr>> {
        self.lock().white_peers_for_sharing(n, SystemTime::now())
    }

    /// [`AddressBook::ban`] now, for `duration` or the configured `default_ban`.
    pub fn ban(&self, addr: &Z::Addr, duration: Option<Duration>) -> Option<SystemTime> {
        let mut book = self.lock();
        let duration = duration.unwrap_or(book.config().default_ban);
        book.ban(addr, duration, SystemTime::now())
    }

    /// [`AddressBook::unban`] now.
    pub fn unban(&self, addr: &Z::Addr) -> bool {
        self.lock().unban(addr, SystemTime::now())
    }

    /// [`AddressBook::is_banned`] now.
    #[must_use]
    pub fn is_banned(&self, addr: &Z::Addr) -> bool {
        self.lock().is_banned(addr, SystemTime::now())
    }

    /// [`AddressBook::misbehaved`] now.
    pub fn misbehaved(&self, addr: &Z::Addr, score: u32) -> Verdict {
        self.lock().misbehaved(addr, score, SystemTime::now())
    }

    /// [`AddressBook::stats`] now.
    #[must_use]
    pub fn stats(&self) -> BookStats {
        self.lock().stats(SystemTime::now())
    }

    /// [`AddressBook::save`] now: the snapshot is taken under the book's lock, the file is
    /// written after releasing it.
    ///
    /// # Errors
    /// As [`AddressBook::save`].
    pub fn save(&self) -> Result<(), AddressBookError> {
        let _saving = self
            .save_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (path, file) = {
            let mut book = self.lock();
            let Some(path) = book.config().peers_file::<Z>() else {
                return Ok(());
            };
            (path, book.snapshot(SystemTime::now()))
        };
        write_peer_file(&path, &file)
    }

    /// Answers one request (what [`Service::call`] does).
    ///
    /// # Errors
    /// Only `Save` can fail, with the [`AddressBookError`] of [`AddressBook::save`].
    pub fn answer(
        &self,
        request: AddressBookRequest<Z>,
    ) -> Result<AddressBookResponse<Z>, AddressBookError> {
        use AddressBookResponse as R;
        Ok(match request {
            AddressBookRequest::HandshakeSucceeded(peer) => {
                R::Accepted(self.handshake_succeeded(peer))
            }
            AddressBookRequest::AddGray(peers) => R::NewPeers(self.add_gray(peers)),
            AddressBookRequest::TakeWhite { exclude } => {
                R::Peer(self.take_white(|addr| excluded(&exclude, addr)))
            }
            AddressBookRequest::TakeGray { exclude } => {
                R::Peer(self.take_gray(|addr| excluded(&exclude, addr)))
            }
            AddressBookRequest::Anchors => R::Peers(self.anchors()),
            AddressBookRequest::DialFailed(addr) => {
                self.dial_failed(&addr);
                R::Done
            }
            AddressBookRequest::AnchorConnected(peer) => R::Accepted(self.anchor_connected(peer)),
            AddressBookRequest::AnchorDisconnected(addr) => {
                self.anchor_disconnected(&addr);
                R::Done
            }
            AddressBookRequest::PeersForSharing { max } => {
                R::Peers(self.white_peers_for_sharing(max))
            }
            AddressBookRequest::Ban { addr, duration } => R::BannedUntil(self.ban(&addr, duration)),
            AddressBookRequest::Unban(addr) => R::Unbanned(self.unban(&addr)),
            AddressBookRequest::IsBanned(addr) => R::IsBanned(self.is_banned(&addr)),
            AddressBookRequest::Misbehaved { addr, score } => {
                R::Verdict(self.misbehaved(&addr, score))
            }
            AddressBookRequest::Stats => R::Stats(self.stats()),
            AddressBookRequest::Save => {
                self.save()?;
                R::Done
            }
        })
    }
}

impl<Z: NetworkZone> Service<AddressBookRequest<Z>> for AddressBookHandle<Z> {
    type Response = AddressBookResponse<Z>;
    type Error = AddressBookError;
    type Future = Ready<Result<AddressBookResponse<Z>, AddressBookError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: AddressBookRequest<Z>) -> Self::Future {
        ready(self.answer(request))
    }
}
