//! An in-process transport: connections are `tokio::io::duplex` pipes.
//!
//! A [`MemoryTransport`] is a little network of its own: `listen` registers an address,
//! `dial` finds the listener registered under it and hands it one end of a new pipe. Clones
//! share the network; separate [`MemoryTransport::new`]s do not see each other. Addresses
//! are [`SocketAddr`]s so the clearnet zone's logic (per-IP limits, bans) runs unchanged
//! on top of it, but nothing touches a socket: thousands of peers fit in one test.
//!
//! Bounds: each direction of a pipe buffers at most [`MemoryTransport::PIPE_CAPACITY`]
//! bytes (writers wait beyond that), and each listener queues at most
//! [`MemoryTransport::ACCEPT_BACKLOG`] connections not yet accepted (dials beyond that
//! fail with `ConnectionRefused`, like a full TCP backlog).

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use futures::Stream;
use tokio::{
    io::{DuplexStream, ReadHalf, WriteHalf},
    sync::mpsc,
};

use crate::Transport;

/// What a listener is handed per connection: the pipe and the dialler's address.
type Incoming = (DuplexStream, SocketAddr);

#[derive(Debug, Default)]
struct Network {
    listeners: HashMap<SocketAddr, mpsc::Sender<Incoming>>,
    /// The next ephemeral port a dialler appears to come from.
    next_port: u16,
}

/// An in-process network; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct MemoryTransport {
    network: Arc<Mutex<Network>>,
    /// The IP address connections dialled through this handle appear to come from.
    local_ip: Option<IpAddr>,
}

impl MemoryTransport {
    /// Bytes buffered per direction of a pipe.
    pub const PIPE_CAPACITY: usize = 64 * 1024;
    /// Connections a listener queues before dials are refused.
    pub const ACCEPT_BACKLOG: usize = 128;

    /// A new, empty network.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle on the same network whose dials appear to come from `ip` (default
    /// `127.0.0.1`), so tests can play peers at different addresses.
    #[must_use]
    pub fn with_local_ip(&self, ip: IpAddr) -> Self {
        Self {
            network: Arc::clone(&self.network),
            local_ip: Some(ip),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Network> {
        // The map stays consistent even if a holder panicked: every update is one insert or
        // remove.
        self.network.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for MemoryTransport {
    type Addr = SocketAddr;
    type Reader = ReadHalf<DuplexStream>;
    type Writer = WriteHalf<DuplexStream>;
    type Listener = MemoryListener;

    async fn dial(&self, addr: &SocketAddr) -> io::Result<(Self::Reader, Self::Writer)> {
        let (sender, from) = {
            let mut network = self.lock();
            let sender = network.listeners.get(addr).cloned();
            network.next_port = network.next_port.wrapping_add(1).max(1024);
            let from = SocketAddr::new(
                self.local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                network.next_port,
            );
            (sender, from)
        };
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens on {addr} (memory transport)"),
            )
        };
        let sender = sender.ok_or_else(refused)?;
        let (ours, theirs) = tokio::io::duplex(Self::PIPE_CAPACITY);
        sender.try_send((theirs, from)).map_err(|_| refused())?;
        Ok(tokio::io::split(ours))
    }

    async fn listen(&self, addr: &SocketAddr) -> io::Result<MemoryListener> {
        let mut network = self.lock();
        if network
            .listeners
            .get(addr)
            .is_some_and(|sender| !sender.is_closed())
        {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already listened on (memory transport)"),
            ));
        }
        let (sender, receiver) = mpsc::channel(Self::ACCEPT_BACKLOG);
        network.listeners.insert(*addr, sender);
        Ok(MemoryListener {
            receiver,
            addr: *addr,
        })
    }
}

/// Accepted in-memory connections. Dropping it frees the address.
#[derive(Debug)]
pub struct MemoryListener {
    receiver: mpsc::Receiver<Incoming>,
    addr: SocketAddr,
}

impl crate::LocalAddr<SocketAddr> for MemoryListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Stream for MemoryListener {
    type Item = io::Result<(ReadHalf<DuplexStream>, WriteHalf<DuplexStream>, SocketAddr)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx).map(|incoming| {
            incoming.map(|(stream, from)| {
                let (reader, writer) = tokio::io::split(stream);
                Ok((reader, writer, from))
            })
        })
    }
}
