//! Where each end of a connection runs: the two peers' tokio runtimes.
//!
//! By default ([`Runtimes::split`]) the dialling peer and the listening peer each get
//! their own multi-thread runtime with one worker thread, so each peer runs on (at most)
//! one core, as two single-threaded processes on one 2-core machine would: the sender's
//! sealing and the receiver's opening happen in parallel on the two cores, and nothing
//! of one peer can land on the other's thread. [`Runtimes::shared`] puts both ends on one
//! multi-thread runtime instead (one worker per core, tokio's scheduler decides where
//! each task runs), which is what an application with both ends in one process would
//! see.
//!
//! Everything a peer does runs on its runtime: its listener or dial, the tasks a stack
//! spawns for it (Noise accept loop, quinn endpoint driver, yamux connection driver),
//! and its half of every measurement (sender or receiver, pinger or echo). The
//! orchestration (setup order, timeouts, clocks) runs wherever [`run`](crate::run()) is
//! awaited and only waits.

use std::{fmt, future::Future, io, time::Duration};

use tokio::{
    runtime::{Builder, Handle, Runtime},
    task::JoinHandle,
};

use crate::{BenchError, Result, within};

/// Handles of the two peers' runtimes.
#[derive(Debug, Clone)]
pub struct Sides {
    /// The dialling peer (sends in the bulk runs, pings, initiates handshakes).
    pub client: Handle,
    /// The listening peer (receives, echoes, responds to handshakes).
    pub server: Handle,
    /// How they were made, for the report.
    pub mode: Mode,
}

/// The name of the client peer's runtime threads (split mode).
pub const CLIENT_THREADS: &str = "client-peer";
/// The name of the server peer's runtime threads (split mode).
pub const SERVER_THREADS: &str = "server-peer";

impl Sides {
    /// The thread names of the client and the server peer, when each has its own
    /// runtime (so their CPU time can be told apart).
    #[must_use]
    pub fn thread_names(&self) -> Option<(&'static str, &'static str)> {
        match self.mode {
            Mode::Split => Some((CLIENT_THREADS, SERVER_THREADS)),
            Mode::Shared(_) => None,
        }
    }
}

/// How the two peers' runtimes are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each peer its own runtime with one worker thread.
    Split,
    /// Both peers on one multi-thread runtime with this many workers.
    Shared(usize),
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Split => write!(
                f,
                "each peer on its own tokio runtime with one worker thread (one core per peer)"
            ),
            Self::Shared(workers) => write!(
                f,
                "both peers on one multi-thread tokio runtime with {workers} worker threads"
            ),
        }
    }
}

/// The runtimes themselves; dropping them shuts them down without waiting.
pub struct Runtimes {
    client: Option<Runtime>,
    server: Option<Runtime>,
    mode: Mode,
}

impl fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtimes")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn runtime(name: &str, workers: usize) -> io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name(name)
        .enable_all()
        .build()
}

impl Runtimes {
    /// One runtime with one worker per peer.
    ///
    /// # Errors
    /// If a runtime cannot be built.
    pub fn split() -> io::Result<Self> {
        Ok(Self {
            client: Some(runtime(CLIENT_THREADS, 1)?),
            server: Some(runtime(SERVER_THREADS, 1)?),
            mode: Mode::Split,
        })
    }

    /// Both peers on one runtime with `workers` worker threads.
    ///
    /// # Errors
    /// If the runtime cannot be built.
    pub fn shared(workers: usize) -> io::Result<Self> {
        Ok(Self {
            client: Some(runtime("peers", workers)?),
            server: None,
            mode: Mode::Shared(workers.max(1)),
        })
    }

    /// Handles of both peers' runtimes.
    ///
    /// # Errors
    /// Never in practice (the runtimes live until `self` is dropped).
    pub fn sides(&self) -> Result<Sides> {
        let client = self
            .client
            .as_ref()
            .ok_or("the runtimes were shut down")?
            .handle()
            .clone();
        let server = self
            .server
            .as_ref()
            .map_or_else(|| client.clone(), |rt| rt.handle().clone());
        Ok(Sides {
            client,
            server,
            mode: self.mode,
        })
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        // Lingering tasks (QUIC and libp2p idle timers) are not waited for; this also
        // works from inside another runtime (tests).
        if let Some(rt) = self.client.take() {
            rt.shutdown_background();
        }
        if let Some(rt) = self.server.take() {
            rt.shutdown_background();
        }
    }
}

/// A task aborted when dropped.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` on `handle`'s runtime and waits for it, at most `limit` (then it is
/// aborted); errors are prefixed with `what`.
///
/// # Errors
/// `fut`'s error, its panic, or the timeout.
pub async fn on<T, E, F>(handle: &Handle, limit: Duration, what: &str, fut: F) -> Result<T>
where
    F: Future<Output = std::result::Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BenchError> + Send + 'static,
{
    let mut task = AbortOnDrop(handle.spawn(fut));
    within(limit, what, async {
        match (&mut task.0).await {
            Ok(result) => result.map_err(Into::into),
            Err(error) => Err(BenchError::from(format!("task failed: {error}"))),
        }
    })
    .await
}
