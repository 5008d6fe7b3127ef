//! What the two binaries share: the runtime, logging, limits and Ctrl-C.

use std::{future::Future, io};

/// The client's runtime: tokio's current-thread runtime. On a 2-core machine the client
/// and the target share the CPU; one client thread leaves the other core to the target
/// and gives steadier numbers than a multi-threaded client that competes for both.
///
/// # Errors
/// tokio could not start.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Logs progress (each step, the idle window) and warnings to stderr (`RUST_LOG`
/// overrides).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,umbra_p2p_load=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr)
        .try_init();
}

/// The `RLIMIT_NOFILE` a run with these steps needs: the largest step plus room for
/// everything else (at least 65,536). Targets started afterwards inherit it.
#[must_use]
pub fn nofile_wanted(steps: &[usize]) -> u64 {
    let largest = steps.iter().copied().max().unwrap_or(0) as u64;
    largest.saturating_add(4096).max(65_536)
}

/// Why a run ended early.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C); the targets were stopped")]
pub struct Interrupted;

/// Runs `work` until it ends or Ctrl-C arrives; on Ctrl-C `work` is dropped, so every guard
/// it holds (monerod, umbrad, connections) stops what it owns.
///
/// # Errors
/// [`Interrupted`] on Ctrl-C.
pub async fn until_ctrl_c<F: Future>(work: F) -> Result<F::Output, Interrupted> {
    tokio::pin!(work);
    tokio::select! {
        output = &mut work => Ok(output),
        signal = tokio::signal::ctrl_c() => match signal {
            Ok(()) => Err(Interrupted),
            // No signal handling available: just wait for the work.
            Err(_) => Ok(work.await),
        },
    }
}
