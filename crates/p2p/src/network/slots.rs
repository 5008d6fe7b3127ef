//! Inbound connection accounting: how many are open, from which host, and how many are
//! still in their handshake. A [`Slot`] is held for a connection's whole life and gives its
//! place back when dropped, so no path can leak a count.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use umbra_p2p_core::ZoneAddr;

use super::events::Refused;

/// The limits a [`Slots`] enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub inbound: usize,
    pub per_host: usize,
    pub handshakes: usize,
}

#[derive(Debug)]
struct Counts<A> {
    inbound: usize,
    handshaking: usize,
    /// Open inbound connections by host (`ZoneAddr::ban_key`); hosts at zero are removed,
    /// so the map never holds more than `inbound` entries.
    per_host: HashMap<A, usize>,
}

/// The inbound counts of one network.
#[derive(Debug)]
pub(crate) struct Slots<A> {
    limits: Limits,
    counts: Mutex<Counts<A>>,
}

impl<A: ZoneAddr> Slots<A> {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::new(Counts {
                inbound: 0,
                handshaking: 0,
                per_host: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts<A>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new inbound connection from `addr`, in its handshake, or why not.
    pub(crate) fn try_inbound(self: &Arc<Self>, addr: &A) -> Result<Slot<A>, Refused> {
        let host = addr.ban_key();
        let mut counts = self.lock();
        if counts.inbound >= self.limits.inbound {
            return Err(Refused::InboundFull);
        }
        if counts.handshaking >= self.limits.handshakes {
            return Err(Refused::TooManyHandshakes);
        }
        let from_host = counts.per_host.get(&host).copied().unwrap_or(0);
        if from_host >= self.limits.per_host {
            return Err(Refused::TooManyFromHost);
        }
        counts.inbound += 1;
        counts.handshaking += 1;
        counts.per_host.insert(host.clone(), from_host + 1);
        Ok(Slot {
            slots: Arc::clone(self),
            host,
            handshaking: true,
        })
    }

    /// Open inbound connections, and how many of them are in their handshake.
    pub(crate) fn inbound(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.inbound, counts.handshaking)
    }
}

/// One inbound connection's place; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot<A: ZoneAddr> {
    slots: Arc<Slots<A>>,
    host: A,
    handshaking: bool,
}

impl<A: ZoneAddr> Slot<A> {
    /// The handshake is over: the connection no longer counts against
    /// `max_inbound_handshakes` (it still counts as inbound).
    pub(crate) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.handshaking) {
            let mut counts = self.slots.lock();
            counts.handshaking = counts.handshaking.saturating_sub(1);
        }
    }
}

impl<A: ZoneAddr> Drop for Slot<A> {
    fn drop(&mut self) {
        let mut counts = self.slots.lock();
        counts.inbound = counts.inbound.saturating_sub(1);
        if self.handshaking {
            counts.handshaking = counts.handshaking.saturating_sub(1);
        }
        if let Some(n) = counts.per_host.get_mut(&self.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_host.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn slots(inbound: usize, per_host: usize, handshakes: usize) -> Arc<Slots<SocketAddr>> {
        Slots::new(Limits {
            inbound,
            per_host,
            handshakes,
        })
    }

    #[test]
    fn per_host_limit_ignores_the_port() {
        let slots = slots(10, 2, 10);
        let a = slots.try_inbound(&addr("1.2.3.4:1000"));
        let b = slots.try_inbound(&addr("1.2.3.4:1001"));
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(
            slots.try_inbound(&addr("1.2.3.4:1002")).err(),
            Some(Refused::TooManyFromHost)
        );
        assert!(slots.try_inbound(&addr("5.6.7.8:1000")).is_ok());
        drop(a);
        assert!(slots.try_inbound(&addr("1.2.3.4:1003")).is_ok());
    }

    #[test]
    fn handshakes_and_inbound_are_counted_until_drop() {
        let slots = slots(3, 10, 2);
        let mut a = slots.try_inbound(&addr("1.0.0.1:1")).ok();
        let b = slots.try_inbound(&addr("1.0.0.2:1")).ok();
        assert_eq!(
            slots.try_inbound(&addr("1.0.0.3:1")).err(),
            Some(Refused::TooManyHandshakes)
        );
        if let Some(a) = a.as_mut() {
            a.handshake_done();
            a.handshake_done(); // twice is harmless
        }
        assert_eq!(slots.inbound(), (2, 1));
        let c = slots.try_inbound(&addr("1.0.0.3:1")).ok();
        assert!(c.is_some());
        assert_eq!(
            slots.try_inbound(&addr("1.0.0.4:1")).err(),
            Some(Refused::InboundFull)
        );
        drop((a, b, c));
        assert_eq!(slots.inbound(), (0, 0));
        assert!(slots.lock().per_host.is_empty());
    }
}
