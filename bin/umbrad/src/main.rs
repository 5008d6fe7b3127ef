//! `umbrad`: the Umbra node, a privacy-first Monero peer.
//!
//! This binary owns the node's configuration, command line and logs, and wires the crates
//! of the workspace together. Today it runs the clearnet P2P network as a peer among
//! monerods (handshakes, timed syncs, peer lists, bans, the address book kept in the data
//! directory); it holds only the genesis block until chain sync lands.
//!
//! ```text
//! cargo run --release -p umbrad                        # run on the built-in defaults
//! umbrad --generate-config > ~/.local/share/umbra/umbrad.toml
//! umbrad --stagenet --print-config                     # show the merged configuration
//! umbrad --show-identity                               # the key Umbra peers dial us by
//! umbrad --backup-identity                             # its 24 backup words
//! umbrad --restore-identity < words.txt                # rebuild it on a new machine
//! ```
//!
//! Modules: [`cli`] (flags), [`config`] (settings, layering, the sample file), [`logging`]
//! (the `tracing` subscriber), [`chain`] (what we claim about our chain), [`identity`]
//! (the node's identity keys), [`node`]
//! (running the network until a shutdown signal), [`tor`] and [`i2p`] (the anonymity-network
//! zones).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad command line or configuration.

mod chain;
mod cli;
mod config;
mod i2p;
mod identity;
mod logging;
mod node;
mod tor;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::config::{Config, ConfigError, Environment};
use crate::logging::LoggingError;
use crate::node::NodeError;

/// Anything that stops `umbrad`.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Logging could not start.
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// `--generate-config` or `--print-config` could not write its output.
    #[error("cannot write to standard output: {0}")]
    Stdout(io::Error),
    /// The identity could not be loaded, created or restored.
    #[error(transparent)]
    Identity(#[from] umbra_identity::StoreError),
    /// `--restore-identity` could not read standard input.
    #[error("cannot read the backup words from standard input: {0}")]
    Stdin(io::Error),
}

impl Error {
    /// The process exit code: 2 for configuration errors (as clap uses for bad flags), 1
    /// for the rest.
    fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_)
            | Self::Logging(
                LoggingError::InvalidRustLog { .. } | LoggingError::InvalidFilter { .. },
            ) => 2,
            Self::Logging(LoggingError::Init(_))
            | Self::Node(_)
            | Self::Stdout(_)
            | Self::Identity(_)
            | Self::Stdin(_) => 1,
        }
    }
}

fn main() -> ExitCode {
    // On a bad command line clap prints the problem and usage and exits with code 2.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Nothing more can be done if standard error is gone.
            let _ = writeln!(io::stderr(), "umbrad: error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Does what the command line asks.
fn run(cli: &Cli) -> Result<(), Error> {
    let env = Environment::from_process();
    if cli.generate_config {
        return print(&config::sample_config(&Config::defaults(&env)?)?);
    }
    let loaded = config::load(cli.config.as_deref(), cli.layer()?, &env)?;
    if cli.print_config {
        let file = loaded
            .file
            .as_deref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
        let header = format!(
            "# Effective configuration of umbrad {}.\n# Config file: {file}\n\n",
            env!("CARGO_PKG_VERSION")
        );
        return print(&(header + &loaded.config.to_toml()?));
    }
    let data_dir = &loaded.config.data_dir;
    if cli.show_identity || cli.backup_identity || cli.restore_identity {
        node::create_data_dir(data_dir)?;
    }
    if cli.restore_identity {
        let mut words = String::new();
        io::stdin().read_line(&mut words).map_err(Error::Stdin)?;
        let words = zeroize::Zeroizing::new(words);
        let restored = identity::restore_clearnet(data_dir, &words)?;
        return print(&format!("restored identity {}\n", restored.public()));
    }
    if cli.show_identity {
        let (identity, _) = identity::clearnet(data_dir)?;
        return print(&format!("{}\n", identity.public()));
    }
    if cli.backup_identity {
        let (identity, _) = identity::clearnet(data_dir)?;
        return print(&format!("{}\n", identity.phrase().as_str()));
    }
    logging::init(&loaded.config.log)?;
    node::run(&loaded.config, loaded.file.as_deref())?;
    Ok(())
}

/// Writes `text` to standard output. A closed pipe (`umbrad --generate-config | head`) is
/// not an error.
fn print(text: &str) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(Error::Stdout(err)),
        _ => Ok(()),
    }
}
