//! The command line: flags, their environment-variable fallbacks, and the config layer
//! they make.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{ConfigLayer, LogFilter, LogFormat, LogLayer, Network, P2pLayer, PeerAddr};

/// `umbrad --version`: the version and how it was built.
#[cfg(debug_assertions)]
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (debug build)");
/// `umbrad --version`: the version and how it was built.
#[cfg(not(debug_assertions))]
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (release build)");

/// Text after the flag list in `umbrad --help`.
const AFTER_LONG_HELP: &str = "\
Configuration is layered, lowest first: built-in defaults, the config file, environment
variables, command-line flags. The config file is --config <PATH> (UMBRA_CONFIG), which
must exist, else <DATA_DIR>/umbrad.toml if it exists. `umbrad --generate-config` prints
a sample file documenting every setting; `umbrad --print-config` shows the result of
the layering. RUST_LOG, when set, replaces the log filter.

With no action flag, umbrad runs the node until Ctrl-C or SIGTERM.

Exit codes: 0 success, 1 runtime failure, 2 bad command line or configuration.";

/// umbrad: a privacy-first Monero node.
#[derive(Debug, Parser)]
#[command(
    name = "umbrad",
    version,
    long_version = LONG_VERSION,
    about = "umbrad: a privacy-first Monero node",
    after_long_help = AFTER_LONG_HELP,
)]
pub struct Cli {
    /// Config file to read (TOML); must exist. Default: <DATA_DIR>/umbrad.toml, if present.
    #[arg(short, long, value_name = "PATH", env = "UMBRA_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory for the node's data [config: data_dir]
    /// [default: $XDG_DATA_HOME/umbra or ~/.local/share/umbra]
    #[arg(long, value_name = "DIR", env = "UMBRA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Monero network to join [config: network] [default: mainnet]
    #[arg(long, value_enum, value_name = "NETWORK", env = "UMBRA_NETWORK")]
    pub network: Option<Network>,

    /// Address to accept P2P connections on [config: p2p.listen]
    /// [default: 0.0.0.0:<network's port>]
    #[arg(long, value_name = "IP:PORT", env = "UMBRA_P2P_LISTEN")]
    pub p2p_listen: Option<SocketAddr>,

    /// Outbound connections to keep open [config: p2p.outbound_peers] [default: 12]
    #[arg(long, value_name = "N")]
    pub outbound_peers: Option<usize>,

    /// Most inbound connections at a time [config: p2p.inbound_peers] [default: 64]
    #[arg(long, value_name = "N")]
    pub inbound_peers: Option<usize>,

    /// Connect only to this peer; repeat for more. Replaces the file's list
    /// [config: p2p.exclusive_peers]
    #[arg(long = "exclusive-peer", value_name = "HOST:PORT")]
    pub exclusive_peers: Vec<PeerAddr>,

    /// Connect to this peer first and keep it; repeat for more. Replaces the file's list
    /// [config: p2p.priority_peers]
    #[arg(long = "priority-peer", value_name = "HOST:PORT")]
    pub priority_peers: Vec<PeerAddr>,

    /// Log filter, tracing EnvFilter syntax, e.g. "info,umbrad=debug" [config: log.level]
    /// [default: info]
    #[arg(long, value_name = "FILTER", env = "UMBRA_LOG")]
    pub log: Option<LogFilter>,

    /// Log line format [config: log.format] [default: text]
    #[arg(long, value_enum, value_name = "FORMAT", env = "UMBRA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Print a commented sample config file with every default, then exit
    #[arg(long, conflicts_with = "print_config")]
    pub generate_config: bool,

    /// Print the effective configuration (defaults, file, environment and flags merged) as
    /// TOML, then exit
    #[arg(long)]
    pub print_config: bool,
}

impl Cli {
    /// The settings given by flags and environment variables, as a config layer.
    pub fn layer(&self) -> ConfigLayer {
        let list = |peers: &Vec<PeerAddr>| (!peers.is_empty()).then(|| peers.clone());
        ConfigLayer {
            network: self.network,
            data_dir: self.data_dir.clone(),
            p2p: P2pLayer {
                listen: self.p2p_listen,
                outbound_peers: self.outbound_peers,
                inbound_peers: self.inbound_peers,
                exclusive_peers: list(&self.exclusive_peers),
                priority_peers: list(&self.priority_peers),
            },
            log: LogLayer {
                level: self.log.clone(),
                format: self.log_format,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_a_layer() {
        let cli = Cli::try_parse_from([
            "umbrad",
            "--network",
            "stagenet",
            "--p2p-listen",
            "127.0.0.1:1",
            "--outbound-peers",
            "3",
            "--exclusive-peer",
            "a.example:1",
            "--exclusive-peer",
            "[::1]:2",
            "--log",
            "debug",
        ])
        .unwrap();
        let layer = cli.layer();
        assert_eq!(layer.network, Some(Network::Stagenet));
        assert_eq!(layer.p2p.listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(layer.p2p.outbound_peers, Some(3));
        assert_eq!(layer.p2p.inbound_peers, None);
        assert_eq!(layer.p2p.exclusive_peers.map(|p| p.len()), Some(2));
        assert_eq!(layer.p2p.priority_peers, None);
        assert_eq!(layer.log.level.map(String::from).as_deref(), Some("debug"));
    }

    #[test]
    fn bad_flag_values_are_rejected() {
        for args in [
            ["umbrad", "--network", "mainet"],
            ["umbrad", "--p2p-listen", "nowhere"],
            ["umbrad", "--exclusive-peer", "nohost"],
            ["umbrad", "--log", "umbrad=loud"],
            ["umbrad", "--outbound-peers", "-1"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
