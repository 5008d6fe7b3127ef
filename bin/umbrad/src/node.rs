//! Running the node: prepare the data directory, start the runtime, run until a shutdown
//! signal.
//!
//! The P2P stack is not wired in yet: the node announces itself, says so, and waits for
//! Ctrl-C or SIGTERM.

use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::config::Config;

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// A signal handler could not be installed.
    #[error("cannot listen for {signal}: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// The I/O error.
        source: io::Error,
    },
}

/// Runs the node on `config` until Ctrl-C or SIGTERM. `config_file` is the file the
/// configuration was read from, for the startup line.
pub fn run(config: &Config, config_file: Option<&Path>) -> Result<(), NodeError> {
    create_data_dir(&config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("umbrad")
        .build()
        .map_err(NodeError::Runtime)?;
    runtime.block_on(serve(config, config_file))
}

/// The node's main task.
async fn serve(config: &Config, config_file: Option<&Path>) -> Result<(), NodeError> {
    // Listen for signals before announcing the start, so that a signal sent as soon as the
    // startup line appears is handled, not fatal.
    let mut shutdown = Shutdown::listen()?;
    info!(
        version = %env!("CARGO_PKG_VERSION"),
        network = %config.network,
        data_dir = %config.data_dir.display(),
        listen = %config.p2p.listen_addr(),
        config_file = %config_file.map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
        "umbrad starting"
    );
    warn!(
        "networking is not wired into this build: umbrad does not listen or connect to peers \
         yet; it idles until Ctrl-C or SIGTERM"
    );
    let signal = shutdown.recv().await;
    info!("received {signal}, shutting down");
    Ok(())
}

/// Creates the data directory and any missing parents, private to the user (0700) on unix;
/// warns if an existing one is open to others.
fn create_data_dir(path: &Path) -> Result<(), NodeError> {
    let fail = |source| NodeError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(path).map_err(fail)?;
        let mode = std::fs::metadata(path).map_err(fail)?.permissions().mode();
        if mode & 0o077 != 0 {
            warn!(
                data_dir = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "the data directory is open to other users; `chmod 700` it"
            );
        }
    }
    #[cfg(not(unix))]
    builder.create(path).map_err(fail)?;
    Ok(())
}

/// The shutdown signals the node listens for.
struct Shutdown {
    /// SIGINT (Ctrl-C).
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    /// SIGTERM.
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Starts listening for the signals; from now on they no longer end the process.
    #[cfg(unix)]
    fn listen() -> Result<Self, NodeError> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind, name| {
            signal(kind).map_err(|source| NodeError::Signal {
                signal: name,
                source,
            })
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Starts listening for the signals.
    #[cfg(not(unix))]
    fn listen() -> Result<Self, NodeError> {
        Ok(Self {})
    }

    /// Waits for a signal and returns its name.
    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// Waits for Ctrl-C and returns its name.
    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        // If Ctrl-C cannot be listened for, there is nothing to wait for: stop.
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn data_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_data_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Creating it again is fine.
        create_data_dir(&dir).unwrap();
    }

    #[test]
    fn data_dir_over_a_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = create_data_dir(&file).unwrap_err();
        assert!(
            err.to_string().contains("cannot create data directory"),
            "{err}"
        );
    }
}
