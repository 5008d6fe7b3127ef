//! Picking free loopback ports for monerod, and holding a port that nobody listens on.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::sync::Mutex;

/// How many extra ports one pick may skip because this process already handed them out.
const MAX_SKIPPED: usize = 64;

/// Every port this process has handed out to a monerod. The OS may return a port again once
/// its listener is closed; remembering them keeps two monerods of one test process from ever
/// sharing a port (one's exclusive-node port must never become another's P2P port). At most
/// one entry per port number, so the set is bounded by 65,536.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The loopback address with `port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Picks `count` distinct free ports on 127.0.0.1 that this process has not handed out before.
///
/// All listeners are held open together while picking (so the ports differ), then closed: the
/// caller must bind them soon, and retry with new ports if another process got there first.
pub(crate) fn pick_free_ports(count: usize) -> io::Result<Vec<u16>> {
    let mut listeners = Vec::with_capacity(count);
    let mut ports = Vec::with_capacity(count);
    let mut handed_out = HANDED_OUT
        .lock()
        .map_err(|_| io::Error::other("port registry lock poisoned"))?;
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let mut skipped = 0;
    while ports.len() < count {
        let listener = TcpListener::bind(loopback(0))?;
        let port = listener.local_addr()?.port();
        // Keep the listener open even when skipping, so the OS does not offer it again now.
        listeners.push(listener);
        if handed_out.contains(&port) {
            skipped += 1;
            if skipped > MAX_SKIPPED {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "the OS keeps offering ports this process already used",
                ));
            }
            continue;
        }
        ports.push(port);
    }
    handed_out.extend(ports.iter().copied());
    drop(listeners);
    Ok(ports)
}

/// A port on 127.0.0.1 that is bound but not listening: connections to it are refused, and no
/// other socket can bind it while this value lives (it is bound without `SO_REUSEADDR`).
///
/// Used as monerod's default `--add-exclusive-node`, so monerod dials nothing real, not even
/// another test's monerod that later happens to get the same port.
#[derive(Debug)]
pub(crate) struct DeadPort {
    /// Held only to keep the port bound.
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl DeadPort {
    /// Binds a fresh dead port.
    pub(crate) fn bind() -> io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(loopback(0))?;
        let addr = socket.local_addr()?;
        Ok(Self {
            _socket: socket,
            addr,
        })
    }

    /// The address monerod may dial in vain.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    #[test]
    fn picked_ports_are_distinct_and_never_repeat() {
        let first = pick_free_ports(3).unwrap();
        let second = pick_free_ports(3).unwrap();
        let all: HashSet<u16> = first.iter().chain(&second).copied().collect();
        assert_eq!(all.len(), 6);
        assert!(all.iter().all(|&p| p != 0));
    }

    #[test]
    fn picked_port_is_bindable() {
        let port = pick_free_ports(1).unwrap().pop().unwrap();
        let listener = TcpListener::bind(loopback(port)).unwrap();
        assert_eq!(listener.local_addr().unwrap().port(), port);
    }

    #[test]
    fn dead_port_refuses_connections_and_cannot_be_bound() {
        let dead = DeadPort::bind().unwrap();
        let refused = TcpStream::connect_timeout(&dead.addr(), Duration::from_secs(2));
        assert_eq!(
            refused.unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
        // `TcpListener::bind` sets SO_REUSEADDR; it still may not take the port.
        assert!(TcpListener::bind(dead.addr()).is_err());
    }
}
