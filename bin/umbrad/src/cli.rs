//! The command line: flags, their environment-variable fallbacks, and the config layer
//! they make.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Parser, ValueEnum};

use crate::config::{
    AnonymousInbound, ConfigError, ConfigLayer, I2pInbound, I2pLayer, I2pMode, InboundArg,
    LogFilter, LogFormat, LogLayer, Network, P2pLayer, PeerAddr, ProxyNetwork, TorLayer, TorMode,
    TxProxy,
};

/// `umbrad --version`: the version and how it was built.
#[cfg(debug_assertions)]
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (debug build)");
/// `umbrad --version`: the version and how it was built.
#[cfg(not(debug_assertions))]
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (release build)");

/// The environment variable that picks the network when none of `--testnet`,
/// `--stagenet`, `--regtest` is given.
pub const NETWORK_ENV: &str = "UMBRA_NETWORK";

/// Text after the flag list in `umbrad --help`.
const AFTER_LONG_HELP: &str = "\
Configuration is layered, lowest first: built-in defaults, the config file, environment
variables, command-line flags. The config file is --config <PATH> (UMBRA_CONFIG), which
must exist, else <DATA_DIR>/umbrad.toml if it exists. `umbrad --generate-config` prints
a sample file documenting every setting; `umbrad --print-config` shows the result of
the layering. RUST_LOG, when set, replaces the log filter.

The network is mainnet unless the config file's `network` key, UMBRA_NETWORK (mainnet,
testnet, stagenet or regtest) or one of --testnet, --stagenet, --regtest says otherwise,
in that order of precedence; at most one of the three flags may be given. The P2P bind
port defaults to the network's port: mainnet and regtest 18080, testnet 28080, stagenet
38080.

Lists given by repeated flags (--add-peer, --add-exclusive-node, --add-priority-node)
replace the config file's list; they are not merged with it.

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
    group(ArgGroup::new("network").args(["testnet", "stagenet", "regtest"]).multiple(false)),
)]
pub struct Cli {
    /// Config file to read (TOML); must exist. Default: <DATA_DIR>/umbrad.toml, if present.
    #[arg(short, long, value_name = "PATH", env = "UMBRA_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory for the node's data [config: data_dir]
    /// [default: $XDG_DATA_HOME/umbra or ~/.local/share/umbra]
    #[arg(long, value_name = "DIR", env = "UMBRA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Join the public test network (P2P port 28080) [config: network = "testnet"]
    /// [env: UMBRA_NETWORK=testnet]
    #[arg(long)]
    pub testnet: bool,

    /// Join the public staging network (P2P port 38080) [config: network = "stagenet"]
    /// [env: UMBRA_NETWORK=stagenet]
    #[arg(long)]
    pub stagenet: bool,

    /// Run a private regression-test chain (mainnet's network id, P2P port 18080)
    /// [config: network = "regtest"] [env: UMBRA_NETWORK=regtest]
    #[arg(long)]
    pub regtest: bool,

    /// IP address to accept P2P connections on, IPv4 or IPv6 [config: p2p.bind_ip]
    /// [default: 0.0.0.0]
    #[arg(long, value_name = "IP", env = "UMBRA_P2P_BIND_IP")]
    pub p2p_bind_ip: Option<IpAddr>,

    /// Port to accept P2P connections on; 0 lets the system choose [config: p2p.bind_port]
    /// [default: the network's port: 18080, testnet 28080, stagenet 38080]
    #[arg(long, value_name = "PORT", env = "UMBRA_P2P_BIND_PORT")]
    pub p2p_bind_port: Option<u16>,

    /// Outbound connections to keep open [config: p2p.out_peers] [default: 12]
    #[arg(long, value_name = "N")]
    pub out_peers: Option<usize>,

    /// Most inbound connections at a time [config: p2p.in_peers] [default: 64]
    #[arg(long, value_name = "N")]
    pub in_peers: Option<usize>,

    /// Most inbound connections from one IP address [config: p2p.max_connections_per_ip]
    /// [default: 1]
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Add this peer to the address book at start; repeat for more. Replaces the file's
    /// list [config: p2p.add_peers]
    #[arg(long = "add-peer", value_name = "HOST:PORT")]
    pub add_peers: Vec<PeerAddr>,

    /// Connect only to this peer; repeat for more. Replaces the file's list
    /// [config: p2p.exclusive_nodes]
    #[arg(long = "add-exclusive-node", value_name = "HOST:PORT")]
    pub exclusive_nodes: Vec<PeerAddr>,

    /// Connect to this peer first and keep it; repeat for more. Replaces the file's list
    /// [config: p2p.priority_nodes]
    #[arg(long = "add-priority-node", value_name = "HOST:PORT")]
    pub priority_nodes: Vec<PeerAddr>,

    /// Accept private and loopback addresses in peer lists and connect to them (a flag
    /// can only turn this on) [config: p2p.allow_local_ip] [default: off]
    #[arg(long)]
    pub allow_local_ip: bool,
    /// Stealth mode: speak only Umbra's encrypted transport; plain levin gets silence
    /// (a flag can only turn this on) [config: p2p.stealth] [default: off]
    #[arg(long)]
    pub stealth: bool,
    /// Also accept Umbra peers over QUIC on the UDP port of the P2P port's number
    /// [config: p2p.quic] [default: off]
    #[arg(long)]
    pub quic: bool,
    /// Dial Umbra peers over QUIC when they accept it [config: p2p.prefer_quic]
    /// [default: off]
    #[arg(long)]
    pub prefer_quic: bool,
    /// Run the P2P network over Tor too: "embedded" (Umbra's own Tor client, no daemon)
    /// or "system" (a tor daemon's SOCKS and control ports) [config: tor.mode]
    /// [default: off]
    #[arg(long, value_enum, value_name = "MODE", env = "UMBRA_TOR")]
    pub tor: Option<TorMode>,
    /// The system tor's SOCKS port [config: tor.socks] [default: 127.0.0.1:9050]
    #[arg(long, value_name = "IP:PORT")]
    pub tor_socks: Option<std::net::SocketAddr>,
    /// The system tor's control port, to create our onion service [config: tor.control]
    /// [default: 127.0.0.1:9051]
    #[arg(long, value_name = "IP:PORT")]
    pub tor_control: Option<std::net::SocketAddr>,
    /// monerod's anonymity-network proxy, repeatable (once per network): tor,IP:PORT or
    /// tor,IP:PORT,MAX (a system tor's SOCKS port; sets tor.mode = "system"), i2p,IP:PORT
    /// or i2p,IP:PORT,MAX (an I2P router's SOCKS proxy, i2pd's 4447; sets i2p.mode =
    /// "socks"). MAX: the most outbound connections of that network
    #[arg(long, value_name = "NETWORK,IP:PORT[,MAX]")]
    pub tx_proxy: Vec<TxProxy>,
    /// monerod's spelling of inbound through a service set up outside umbrad, repeatable
    /// (once per network): ONION:PORT,IP:PORT,MAX (an onion service in torrc) or
    /// B32.b32.i2p,IP:PORT,MAX (a server tunnel in i2pd's tunnels.conf): our address, the
    /// local port it forwards to, the most inbound connections (MAX may be left out)
    /// [config: tor.anonymous_inbound, i2p.anonymous_inbound]
    #[arg(long, value_name = "ADDRESS,IP:PORT[,MAX]")]
    pub anonymous_inbound: Vec<InboundArg>,
    /// Run the P2P network over I2P too, through an I2P router's SAM bridge (i2pd with
    /// sam.enabled) [config: i2p.mode = "sam"] [default: off]
    #[arg(long)]
    pub i2p: bool,
    /// The I2P router's SAM bridge; implies --i2p [config: i2p.sam]
    /// [default: 127.0.0.1:7656]
    #[arg(long, value_name = "IP:PORT")]
    pub i2p_sam: Option<std::net::SocketAddr>,
    /// Print this node's public identity key (what Umbra peers dial it with, as
    /// KEY@HOST:PORT), creating the identity if there is none, then exit
    #[arg(long, conflicts_with_all = ["generate_config", "print_config", "backup_identity", "restore_identity"])]
    pub show_identity: bool,
    /// Print the 24 backup words of this node's identity, creating it if there is none,
    /// then exit. Whoever has the words has the identity: keep them offline
    #[arg(long, conflicts_with_all = ["generate_config", "print_config", "restore_identity"])]
    pub backup_identity: bool,
    /// Rebuild this node's identity from its 24 backup words, read from standard input,
    /// then exit. Refuses to replace a different identity already in the data directory
    #[arg(long, conflicts_with_all = ["generate_config", "print_config"])]
    pub restore_identity: bool,

    /// Log level: monerod's 0-4 (0 = warn, 1 = info, 2 = debug, 3 and 4 = trace) or a
    /// tracing EnvFilter, e.g. "info,umbrad=debug" [config: log.level] [default: info]
    #[arg(long, value_name = "LEVEL", env = "UMBRA_LOG_LEVEL")]
    pub log_level: Option<LogFilter>,

    /// Log line format [config: log.format] [default: text]
    #[arg(long, value_enum, value_name = "FORMAT", env = "UMBRA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Seconds between two status lines in the log [config: log.status_interval]
    /// [default: 60]
    #[arg(long, value_name = "SECS")]
    pub status_interval: Option<u64>,

    /// Print a commented sample config file with every default, then exit
    #[arg(long, conflicts_with = "print_config")]
    pub generate_config: bool,

    /// Print the effective configuration (defaults, file, environment and flags merged) as
    /// TOML, then exit
    #[arg(long)]
    pub print_config: bool,
}

impl Cli {
    /// The settings given by flags and environment variables, as a config layer, with the
    /// network from [`NETWORK_ENV`] of this process when no network flag is given.
    pub fn layer(&self) -> Result<ConfigLayer, ConfigError> {
        self.layer_with(std::env::var_os(NETWORK_ENV).as_deref())
    }

    /// [`Cli::layer`] with `network_env` as the value of [`NETWORK_ENV`]; an empty value
    /// counts as unset. A network flag beats the variable, which is then not checked.
    pub fn layer_with(&self, network_env: Option<&OsStr>) -> Result<ConfigLayer, ConfigError> {
        let network = match self.network_flag() {
            Some(network) => Some(network),
            None => network_env
                .filter(|value| !value.is_empty())
                .map(parse_network_env)
                .transpose()?,
        };
        let list = |peers: &Vec<PeerAddr>| (!peers.is_empty()).then(|| peers.clone());
        Ok(ConfigLayer {
            network,
            data_dir: self.data_dir.clone(),
            p2p: P2pLayer {
                bind_ip: self.p2p_bind_ip,
                bind_port: self.p2p_bind_port,
                out_peers: self.out_peers,
                in_peers: self.in_peers,
                max_connections_per_ip: self.max_connections_per_ip,
                add_peers: list(&self.add_peers),
                exclusive_nodes: list(&self.exclusive_nodes),
                priority_nodes: list(&self.priority_nodes),
                allow_local_ip: self.allow_local_ip.then_some(true),
                stealth: self.stealth.then_some(true),
                quic: self.quic.then_some(true),
                prefer_quic: self.prefer_quic.then_some(true),
                timed_sync_interval: None,
            },
            log: LogLayer {
                level: self.log_level.clone(),
                format: self.log_format,
                status_interval: self.status_interval,
            },
            tor: self.tor_layer()?,
            i2p: self.i2p_layer()?,
        })
    }

    /// The Tor flags as a config layer: `--tx-proxy tor,...` means a system tor at that
    /// SOCKS port, `--anonymous-inbound ONION...` an onion service configured in torrc.
    fn tor_layer(&self) -> Result<TorLayer, ConfigError> {
        let proxy = self.tx_proxy_for(ProxyNetwork::Tor)?;
        let inbound = one(
            self.anonymous_inbound.iter().filter_map(|arg| match arg {
                InboundArg::Tor(tor) => Some(*tor),
                InboundArg::I2p(_) => None,
            }),
            "--anonymous-inbound is given twice for Tor",
        )?;
        let mode = self.tor.or_else(|| proxy.map(|_| TorMode::System));
        Ok(TorLayer {
            mode,
            socks: self.tor_socks.or(proxy.map(|proxy| proxy.socks)),
            control: self.tor_control,
            out_peers: proxy.and_then(|proxy| proxy.max),
            in_peers: inbound.and_then(|inbound| inbound.max),
            anonymous_inbound: inbound.map(|inbound: AnonymousInbound| {
                let mut text = format!("{},{}", inbound.onion, inbound.local);
                if let Some(max) = inbound.max {
                    text.push_str(&format!(",{max}"));
                }
                text
            }),
            ..TorLayer::default()
        })
    }

    /// The I2P flags as a config layer: `--i2p`/`--i2p-sam` mean the router's SAM bridge,
    /// `--tx-proxy i2p,...` its SOCKS proxy (monerod's way; the two contradict each
    /// other), `--anonymous-inbound B32...` a server tunnel configured in the router.
    fn i2p_layer(&self) -> Result<I2pLayer, ConfigError> {
        let proxy = self.tx_proxy_for(ProxyNetwork::I2p)?;
        let inbound = one(
            self.anonymous_inbound.iter().filter_map(|arg| match arg {
                InboundArg::I2p(i2p) => Some(*i2p),
                InboundArg::Tor(_) => None,
            }),
            "--anonymous-inbound is given twice for I2P",
        )?;
        let sam = self.i2p || self.i2p_sam.is_some();
        if sam && proxy.is_some() {
            return Err(ConfigError::Flags(
                "--i2p/--i2p-sam reach I2P through the router's SAM bridge, --tx-proxy i2p,...                  through its SOCKS proxy (monerod's way): give one of them"
                    .to_owned(),
            ));
        }
        let mode = if sam {
            Some(I2pMode::Sam)
        } else {
            proxy.map(|_| I2pMode::Socks)
        };
        Ok(I2pLayer {
            mode,
            sam: self.i2p_sam,
            socks: proxy.map(|proxy| proxy.socks),
            out_peers: proxy.and_then(|proxy| proxy.max),
            in_peers: inbound.and_then(|inbound| inbound.max),
            anonymous_inbound: inbound.as_ref().map(I2pInbound::to_string),
            ..I2pLayer::default()
        })
    }

    /// The `--tx-proxy` for `network`, if one was given; two are an error.
    fn tx_proxy_for(&self, network: ProxyNetwork) -> Result<Option<TxProxy>, ConfigError> {
        one(
            self.tx_proxy
                .iter()
                .filter(|proxy| proxy.network == network)
                .copied(),
            "--tx-proxy is given twice for one network",
        )
    }

    /// The network chosen by `--testnet`, `--stagenet` or `--regtest` (clap lets through
    /// at most one).
    fn network_flag(&self) -> Option<Network> {
        if self.testnet {
            Some(Network::Testnet)
        } else if self.stagenet {
            Some(Network::Stagenet)
        } else if self.regtest {
            Some(Network::Regtest)
        } else {
            None
        }
    }
}

/// The one item of `items`, if any; more than one is `ConfigError::Flags(twice)`.
fn one<T>(mut items: impl Iterator<Item = T>, twice: &str) -> Result<Option<T>, ConfigError> {
    let first = items.next();
    if items.next().is_some() {
        return Err(ConfigError::Flags(twice.to_owned()));
    }
    Ok(first)
}

/// Reads the value of [`NETWORK_ENV`].
fn parse_network_env(value: &OsStr) -> Result<Network, ConfigError> {
    let text = value.to_string_lossy();
    Network::from_str(&text, false).map_err(|_| ConfigError::InvalidEnv {
        var: NETWORK_ENV,
        value: text.into_owned(),
        reason: "expected mainnet, testnet, stagenet or regtest".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("umbrad").chain(args.iter().copied())).unwrap()
    }

    fn layer(args: &[&str]) -> ConfigLayer {
        parse(args).layer_with(None).unwrap()
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_flags_make_an_empty_layer() {
        assert_eq!(layer(&[]), ConfigLayer::default());
    }

    #[test]
    fn monerod_named_flags_become_a_layer() {
        let layer = layer(&[
            "--stagenet",
            "--data-dir",
            "/d",
            "--p2p-bind-ip",
            "127.0.0.1",
            "--p2p-bind-port",
            "1",
            "--out-peers",
            "3",
            "--in-peers",
            "4",
            "--max-connections-per-ip",
            "7",
            "--status-interval",
            "9",
            "--add-peer",
            "p.example:5",
            "--add-exclusive-node",
            "a.example:1",
            "--add-exclusive-node",
            "[::1]:2",
            "--add-priority-node",
            "10.0.0.1:6",
            "--allow-local-ip",
            "--stealth",
            "--quic",
            "--prefer-quic",
            "--add-peer",
            "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29@10.0.0.2:18080",
            "--log-level",
            "debug",
            "--log-format",
            "compact",
        ]);
        let peers = |list: &[&str]| Some(list.iter().map(|p| p.parse().unwrap()).collect());
        assert_eq!(
            layer,
            ConfigLayer {
                network: Some(Network::Stagenet),
                data_dir: Some(PathBuf::from("/d")),
                p2p: P2pLayer {
                    bind_ip: Some("127.0.0.1".parse().unwrap()),
                    bind_port: Some(1),
                    out_peers: Some(3),
                    in_peers: Some(4),
                    max_connections_per_ip: Some(7),
                    add_peers: peers(&[
                        "p.example:5",
                        "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29@10.0.0.2:18080"
                    ]),
                    exclusive_nodes: peers(&["a.example:1", "[::1]:2"]),
                    priority_nodes: peers(&["10.0.0.1:6"]),
                    allow_local_ip: Some(true),
                    stealth: Some(true),
                    quic: Some(true),
                    prefer_quic: Some(true),
                    timed_sync_interval: None,
                },
                log: LogLayer {
                    level: Some("debug".parse().unwrap()),
                    format: Some(LogFormat::Compact),
                    status_interval: Some(9),
                },
                tor: TorLayer::default(),
                i2p: I2pLayer::default(),
            }
        );
    }

    #[test]
    fn monerod_tor_flags_become_the_tor_layer() {
        let onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
        let inbound = format!("{onion}:18083,127.0.0.1:28083,25");
        let tor = layer(&[
            "--tx-proxy",
            "tor,127.0.0.1:9150,6",
            "--anonymous-inbound",
            &inbound,
            "--tor-control",
            "127.0.0.1:9151",
        ])
        .tor;
        assert_eq!(tor.mode, Some(TorMode::System));
        assert_eq!(tor.socks, Some("127.0.0.1:9150".parse().unwrap()));
        assert_eq!(tor.control, Some("127.0.0.1:9151".parse().unwrap()));
        assert_eq!(tor.out_peers, Some(6));
        assert_eq!(tor.in_peers, Some(25));
        assert_eq!(tor.anonymous_inbound.as_deref(), Some(inbound.as_str()));
        // --tor picks the back-end; the SOCKS port then comes from --tor-socks.
        let tor = layer(&["--tor", "embedded"]).tor;
        assert_eq!(tor.mode, Some(TorMode::Embedded));
        assert_eq!(tor.socks, None);
        for bad in [
            vec!["--tx-proxy", "i3p,127.0.0.1:1"],
            vec!["--anonymous-inbound", "x.onion:1,127.0.0.1:2"],
            vec!["--tor", "sometimes"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("umbrad").chain(bad.iter().copied())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn i2p_flags_become_the_i2p_layer_and_monerod_spellings_mix_with_tor() {
        let b32 = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";
        let onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
        // monerod's flags for both networks at once.
        let i2p_inbound = format!("{b32},127.0.0.1:18085,9");
        let tor_inbound = format!("{onion}:18083,127.0.0.1:28083");
        let both = layer(&[
            "--tx-proxy",
            "tor,127.0.0.1:9050",
            "--tx-proxy",
            "i2p,127.0.0.1:4447,5",
            "--anonymous-inbound",
            &i2p_inbound,
            "--anonymous-inbound",
            &tor_inbound,
        ]);
        assert_eq!(both.tor.mode, Some(TorMode::System));
        assert_eq!(both.tor.socks, Some("127.0.0.1:9050".parse().unwrap()));
        assert_eq!(
            both.tor.anonymous_inbound.as_deref(),
            Some(tor_inbound.as_str())
        );
        assert_eq!(both.i2p.mode, Some(I2pMode::Socks));
        assert_eq!(both.i2p.socks, Some("127.0.0.1:4447".parse().unwrap()));
        assert_eq!(both.i2p.out_peers, Some(5));
        assert_eq!(both.i2p.in_peers, Some(9));
        assert_eq!(
            both.i2p.anonymous_inbound.as_deref(),
            Some(i2p_inbound.as_str())
        );
        // SAM.
        let sam = layer(&["--i2p-sam", "127.0.0.1:7000"]).i2p;
        assert_eq!(sam.mode, Some(I2pMode::Sam));
        assert_eq!(sam.sam, Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(layer(&["--i2p"]).i2p.mode, Some(I2pMode::Sam));
        assert_eq!(layer(&[]).i2p, I2pLayer::default());
        // Contradictions are errors that say what to do.
        for args in [
            &["--i2p", "--tx-proxy", "i2p,127.0.0.1:4447"][..],
            &[
                "--tx-proxy",
                "i2p,127.0.0.1:1",
                "--tx-proxy",
                "i2p,127.0.0.1:2",
            ],
            &[
                "--tx-proxy",
                "tor,127.0.0.1:1",
                "--tx-proxy",
                "tor,127.0.0.1:2",
            ],
            &[
                "--anonymous-inbound",
                &i2p_inbound,
                "--anonymous-inbound",
                &i2p_inbound,
            ],
        ] {
            let error = parse(args).layer_with(None).unwrap_err().to_string();
            assert!(error.contains("conflicting flags"), "{args:?}: {error}");
        }
    }

    #[test]
    fn each_network_flag_picks_its_network() {
        for (flag, network) in [
            ("--testnet", Network::Testnet),
            ("--stagenet", Network::Stagenet),
            ("--regtest", Network::Regtest),
        ] {
            assert_eq!(layer(&[flag]).network, Some(network), "{flag}");
        }
    }

    #[test]
    fn network_flags_are_mutually_exclusive() {
        for args in [
            ["--testnet", "--regtest"],
            ["--stagenet", "--testnet"],
            ["--regtest", "--stagenet"],
        ] {
            let err = Cli::try_parse_from(std::iter::once("umbrad").chain(args)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(text.contains(args[0]) && text.contains(args[1]), "{text}");
        }
    }

    #[test]
    fn umbra_network_applies_only_without_a_network_flag() {
        let env = |value: &'static str| Some(OsStr::new(value));
        let none = parse(&[]);
        assert_eq!(
            none.layer_with(env("stagenet")).unwrap().network,
            Some(Network::Stagenet)
        );
        assert_eq!(
            none.layer_with(env("mainnet")).unwrap().network,
            Some(Network::Mainnet)
        );
        assert_eq!(none.layer_with(env("")).unwrap().network, None);
        let err = none.layer_with(env("moneronet")).unwrap_err().to_string();
        assert!(
            err.contains("UMBRA_NETWORK") && err.contains("moneronet"),
            "{err}"
        );
        // A flag beats the variable, even an invalid one.
        let flag = parse(&["--regtest"]);
        assert_eq!(
            flag.layer_with(env("stagenet")).unwrap().network,
            Some(Network::Regtest)
        );
        assert_eq!(
            flag.layer_with(env("moneronet")).unwrap().network,
            Some(Network::Regtest)
        );
    }

    #[test]
    fn log_level_takes_monerod_numbers_or_a_filter() {
        let level = |value: &str| {
            layer(&["--log-level", value])
                .log
                .level
                .map(String::from)
                .unwrap()
        };
        assert_eq!(level("0"), "warn");
        assert_eq!(level("1"), "info");
        assert_eq!(level("2"), "debug");
        assert_eq!(level("3"), "trace");
        assert_eq!(level("4"), "trace");
        assert_eq!(level("info,umbrad=trace"), "info,umbrad=trace");
        assert_eq!(level("warn"), "warn");
    }

    #[test]
    fn bind_ip_and_port_are_separate() {
        let port_only = layer(&["--p2p-bind-port", "5"]);
        assert_eq!(port_only.p2p.bind_ip, None);
        assert_eq!(port_only.p2p.bind_port, Some(5));
        let ip_only = layer(&["--p2p-bind-ip", "::1"]);
        assert_eq!(ip_only.p2p.bind_ip, Some("::1".parse().unwrap()));
        assert_eq!(ip_only.p2p.bind_port, None);
    }

    #[test]
    fn bad_flag_values_are_rejected() {
        for args in [
            &["--network", "mainnet"][..],
            &["--testnet", "yes"],
            &["--p2p-listen", "0.0.0.0:18080"],
            &["--p2p-bind-ip", "0.0.0.0:18080"],
            &["--p2p-bind-ip", "[::1]"],
            &["--p2p-bind-ip", "localhost"],
            &["--p2p-bind-port", "65536"],
            &["--p2p-bind-port", "-1"],
            &["--add-peer", "nohost"],
            &["--add-exclusive-node", "nohost"],
            &["--add-priority-node", "host:0"],
            &["--exclusive-peer", "a.example:1"],
            &["--log-level", "umbrad=loud"],
            &["--log-level", "5"],
            &["--log-level", ""],
            &["--log", "info"],
            &["--out-peers", "-1"],
            &["--in-peers", "many"],
            &["--outbound-peers", "1"],
            &["--allow-local-ip", "true"],
        ] {
            let parsed = Cli::try_parse_from(std::iter::once("umbrad").chain(args.iter().copied()));
            assert!(parsed.is_err(), "{args:?}");
        }
    }
}
