//! The torrc of every node, as text. No I/O here: the caller writes the files.
//!
//! The options and the reasons for them are listed in the module docs of
//! [`tor_net`](super) and in `docs/tor-network.md`; the unit tests below pin the exact text.

use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::path::Path;

/// `CircuitBuildTimeout` of every node, with `LearnCircuitBuildTimeout 0`. Circuits on
/// loopback build in milliseconds, so the learned timeout drops to almost nothing, and on a
/// loaded machine every build then "times out" (measured: an onion host abandoned its
/// rendezvous circuits for a minute after 18 such timeouts). A fixed, generous bound avoids it.
pub(super) const CIRCUIT_BUILD_TIMEOUT_SECS: u32 = 30;

/// The authorities' `V3AuthVotingInterval`: a new consensus every 15 s.
///
/// It also fixes the onion-service time period of C tor: under `TestingTorNetwork` C tor
/// makes it one shared-random protocol run, 24 voting intervals (6 minutes here), and
/// ignores the consensus parameter. arti always takes the period from the consensus
/// parameter `hsdir_interval` (default 1440 minutes, at least 5), so the authorities
/// publish [`HS_TIME_PERIOD_MINUTES`] as that parameter: both then derive the same blinded
/// keys and find each other's onion services. (With 10 s the C tor period would be 4
/// minutes, below arti's minimum of 5.)
pub(super) const VOTING_INTERVAL_SECS: u32 = 15;

/// The onion-service time period, in minutes, that C tor derives from
/// [`VOTING_INTERVAL_SECS`] and that the consensus tells arti (`hsdir_interval`).
pub(super) const HS_TIME_PERIOD_MINUTES: u32 = 24 * VOTING_INTERVAL_SECS / 60;
const _: () = assert!(
    (24 * VOTING_INTERVAL_SECS).is_multiple_of(60),
    "whole minutes only"
);

/// One directory authority, as every node's `DirAuthority` line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DirAuthority {
    /// Its nickname.
    pub(super) name: String,
    /// Its ORPort on 127.0.0.1.
    pub(super) or_port: u16,
    /// Its DirPort on 127.0.0.1.
    pub(super) dir_port: u16,
    /// Fingerprint of its v3 authority identity key (40 upper-case hex digits, from the
    /// `fingerprint` line of tor-gencert's `authority_certificate`).
    pub(super) v3ident: String,
    /// Fingerprint of its relay identity key (40 upper-case hex digits, from
    /// `tor --list-fingerprint`).
    pub(super) fingerprint: String,
}

impl DirAuthority {
    fn line(&self) -> String {
        format!(
            "DirAuthority {} orport={} no-v2 v3ident={} 127.0.0.1:{} {}",
            self.name, self.or_port, self.v3ident, self.dir_port, self.fingerprint
        )
    }
}

/// What every node of one network shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    /// `__OwningControllerProcess`: tor exits when this process is gone (checked every 15 s).
    pub(super) owner_pid: u32,
    /// All directory authorities.
    pub(super) authorities: Vec<DirAuthority>,
    /// Relay fingerprints of the exits (`TestingDirAuthVoteExit`).
    pub(super) exit_fingerprints: Vec<String>,
}

/// The part of a relay's torrc that depends on its role.
#[derive(Debug, Clone)]
pub(super) enum RelayRole<'a> {
    /// A directory authority (also a relay and the only directory caches).
    Authority {
        /// Its DirPort on 127.0.0.1.
        dir_port: u16,
        /// Its `V3BandwidthsFile`.
        bandwidth_file: &'a Path,
    },
    /// An exit to 127.0.0.0/8 and to `ports` on any address.
    Exit {
        /// Ports accepted on any address (see [`relay`]).
        ports: RangeInclusive<u16>,
        /// A resolv.conf naming only 127.0.0.1, so the exit never sends DNS beyond loopback.
        resolv_conf: &'a Path,
    },
    /// A middle relay (no exit).
    Middle,
}

/// A quoted torrc value (tor unescapes C-style quoted strings).
fn quoted(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Lines every node gets (DESIGN.md, "Facts about a private Tor network on loopback").
fn common(shared: &Shared, nickname: &str, data_dir: &Path) -> String {
    let mut out = String::with_capacity(2048);
    let hsdirs: Vec<&str> = shared
        .authorities
        .iter()
        .map(|a| a.fingerprint.as_str())
        .collect();
    // `write!` into a String cannot fail.
    let _ = writeln!(
        out,
        "# Written by umbra-test-kit (tor_net). Node {nickname}."
    );
    let _ = writeln!(out, "TestingTorNetwork 1");
    let _ = writeln!(out, "DataDirectory {}", quoted(data_dir));
    let _ = writeln!(out, "Nickname {nickname}");
    let _ = writeln!(out, "Log notice stdout");
    let _ = writeln!(out, "SafeLogging 0");
    let _ = writeln!(out, "RunAsDaemon 0");
    let _ = writeln!(out, "__OwningControllerProcess {}", shared.owner_pid);
    let _ = writeln!(out, "ShutdownWaitLength 0");
    let _ = writeln!(out, "PathsNeededToBuildCircuits 0.67");
    let _ = writeln!(
        out,
        "TestingDirAuthVoteExit {}",
        shared.exit_fingerprints.join(",")
    );
    let _ = writeln!(out, "TestingDirAuthVoteHSDir {}", hsdirs.join(","));
    let _ = writeln!(out, "TestingDirAuthVoteHSDirIsStrict 1");
    let _ = writeln!(out, "TestingDirAuthVoteGuard *");
    let _ = writeln!(out, "TestingMinExitFlagThreshold 0");
    let _ = writeln!(out, "ClientUseIPv6 0");
    let _ = writeln!(out, "LearnCircuitBuildTimeout 0");
    let _ = writeln!(out, "CircuitBuildTimeout {CIRCUIT_BUILD_TIMEOUT_SECS}");
    for authority in &shared.authorities {
        let _ = writeln!(out, "{}", authority.line());
    }
    out
}

/// The torrc of a relay (authority, exit or middle) with its ORPort on 127.0.0.1:`or_port`.
pub(super) fn relay(
    shared: &Shared,
    nickname: &str,
    data_dir: &Path,
    or_port: u16,
    role: &RelayRole<'_>,
) -> String {
    let mut out = common(shared, nickname, data_dir);
    let _ = writeln!(out, "Address 127.0.0.1");
    let _ = writeln!(out, "ORPort 127.0.0.1:{or_port}");
    let _ = writeln!(out, "SocksPort 0");
    let _ = writeln!(out, "AssumeReachable 1");
    let _ = writeln!(out, "ContactInfo {nickname}@umbra-test.invalid");
    let _ = writeln!(out, "FetchDirInfoEarly 1");
    let _ = writeln!(out, "FetchDirInfoExtraEarly 1");
    match role {
        RelayRole::Authority {
            dir_port,
            bandwidth_file,
        } => {
            let _ = writeln!(out, "DirPort 127.0.0.1:{dir_port}");
            let _ = writeln!(out, "AuthoritativeDirectory 1");
            let _ = writeln!(out, "V3AuthoritativeDirectory 1");
            let _ = writeln!(out, "V3AuthVotingInterval {VOTING_INTERVAL_SECS}");
            let _ = writeln!(
                out,
                "ConsensusParams hsdir_interval={HS_TIME_PERIOD_MINUTES}"
            );
            let _ = writeln!(out, "V3AuthVoteDelay 2");
            let _ = writeln!(out, "V3AuthDistDelay 2");
            let _ = writeln!(out, "TestingV3AuthInitialVotingInterval 5");
            let _ = writeln!(out, "TestingV3AuthInitialVoteDelay 2");
            let _ = writeln!(out, "TestingV3AuthInitialDistDelay 2");
            let _ = writeln!(out, "V3BandwidthsFile {}", quoted(bandwidth_file));
            let _ = writeln!(out, "ExitRelay 0");
            let _ = writeln!(out, "ExitPolicy reject *:*");
        }
        RelayRole::Exit { ports, resolv_conf } => {
            let _ = writeln!(out, "DirCache 0");
            let _ = writeln!(out, "ExitRelay 1");
            let _ = writeln!(out, "ExitPolicyRejectPrivate 0");
            let _ = writeln!(out, "ExitPolicy accept 127.0.0.0/8:*");
            let _ = writeln!(out, "ExitPolicy accept *:{}-{}", ports.start(), ports.end());
            let _ = writeln!(out, "ExitPolicy reject *:*");
            let _ = writeln!(out, "ServerDNSDetectHijacking 0");
            let _ = writeln!(out, "ServerDNSResolvConfFile {}", quoted(resolv_conf));
        }
        RelayRole::Middle => {
            let _ = writeln!(out, "DirCache 0");
            let _ = writeln!(out, "ExitRelay 0");
            let _ = writeln!(out, "ExitPolicy reject *:*");
        }
    }
    out
}

/// The torrc of a client tor with a SOCKS port and a control port (cookie authentication).
pub(super) fn client(
    shared: &Shared,
    nickname: &str,
    data_dir: &Path,
    socks_port: u16,
    control_port: u16,
) -> String {
    let mut out = common(shared, nickname, data_dir);
    let _ = writeln!(out, "SocksPort 127.0.0.1:{socks_port} ExtendedErrors");
    let _ = writeln!(out, "ControlPort 127.0.0.1:{control_port}");
    let _ = writeln!(out, "CookieAuthentication 1");
    let _ = writeln!(out, "VanguardsLiteEnabled 0");
    out
}

/// The content of a fresh `V3BandwidthsFile`: only the timestamp line (bandwidth file format
/// 1.0.0 allows a file without relay lines).
pub(super) fn bandwidth_file(unix_time: u64) -> String {
    format!("{unix_time}\n")
}

/// The resolv.conf exits use: only 127.0.0.1, where nothing answers DNS, so an exit never
/// sends a DNS query beyond loopback.
pub(super) const RESOLV_CONF: &str = "nameserver 127.0.0.1\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            owner_pid: 42,
            authorities: vec![
                DirAuthority {
                    name: "auth0".into(),
                    or_port: 5000,
                    dir_port: 5001,
                    v3ident: "A".repeat(40),
                    fingerprint: "B".repeat(40),
                },
                DirAuthority {
                    name: "auth1".into(),
                    or_port: 5002,
                    dir_port: 5003,
                    v3ident: "C".repeat(40),
                    fingerprint: "D".repeat(40),
                },
            ],
            exit_fingerprints: vec!["E".repeat(40), "F".repeat(40)],
        }
    }

    #[test]
    fn every_node_gets_the_testing_network_lines() {
        let text = client(&shared(), "client", Path::new("/d/client"), 7000, 7001);
        for line in [
            "TestingTorNetwork 1",
            "DataDirectory \"/d/client\"",
            "Nickname client",
            "__OwningControllerProcess 42",
            "PathsNeededToBuildCircuits 0.67",
            &format!(
                "TestingDirAuthVoteExit {},{}",
                "E".repeat(40),
                "F".repeat(40)
            ),
            &format!(
                "TestingDirAuthVoteHSDir {},{}",
                "B".repeat(40),
                "D".repeat(40)
            ),
            "TestingDirAuthVoteHSDirIsStrict 1",
            "TestingDirAuthVoteGuard *",
            "TestingMinExitFlagThreshold 0",
            "ClientUseIPv6 0",
            "LearnCircuitBuildTimeout 0",
            "CircuitBuildTimeout 30",
            &format!(
                "DirAuthority auth0 orport=5000 no-v2 v3ident={} 127.0.0.1:5001 {}",
                "A".repeat(40),
                "B".repeat(40)
            ),
            "SocksPort 127.0.0.1:7000 ExtendedErrors",
            "ControlPort 127.0.0.1:7001",
            "CookieAuthentication 1",
            "VanguardsLiteEnabled 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("ORPort"));
    }

    #[test]
    fn authority_votes_quickly_and_has_a_dir_port() {
        let bw = Path::new("/d/auth0/bw");
        let text = relay(
            &shared(),
            "auth0",
            Path::new("/d/auth0"),
            5000,
            &RelayRole::Authority {
                dir_port: 5001,
                bandwidth_file: bw,
            },
        );
        for line in [
            "Address 127.0.0.1",
            "ORPort 127.0.0.1:5000",
            "DirPort 127.0.0.1:5001",
            "AssumeReachable 1",
            "FetchDirInfoEarly 1",
            "FetchDirInfoExtraEarly 1",
            "AuthoritativeDirectory 1",
            "V3AuthoritativeDirectory 1",
            "V3AuthVotingInterval 15",
            "ConsensusParams hsdir_interval=6",
            "V3AuthVoteDelay 2",
            "V3AuthDistDelay 2",
            "TestingV3AuthInitialVotingInterval 5",
            "TestingV3AuthInitialVoteDelay 2",
            "TestingV3AuthInitialDistDelay 2",
            "V3BandwidthsFile \"/d/auth0/bw\"",
            "ExitPolicy reject *:*",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("DirCache 0"));
    }

    #[test]
    fn exit_accepts_loopback_and_the_test_ports_only() {
        let text = relay(
            &shared(),
            "exit0",
            Path::new("/d/exit0"),
            5004,
            &RelayRole::Exit {
                ports: 32768..=60999,
                resolv_conf: Path::new("/d/resolv.conf"),
            },
        );
        let policy: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ExitPolicy"))
            .collect();
        assert_eq!(
            policy,
            [
                "ExitPolicyRejectPrivate 0",
                "ExitPolicy accept 127.0.0.0/8:*",
                "ExitPolicy accept *:32768-60999",
                "ExitPolicy reject *:*",
            ]
        );
        assert!(text.contains("\nDirCache 0\n"));
        assert!(text.contains("\nExitRelay 1\n"));
        assert!(text.contains("\nServerDNSResolvConfFile \"/d/resolv.conf\"\n"));
    }

    #[test]
    fn middle_is_no_exit_and_no_cache() {
        let text = relay(
            &shared(),
            "middle0",
            Path::new("/d/m"),
            5006,
            &RelayRole::Middle,
        );
        assert!(text.contains("\nDirCache 0\nExitRelay 0\nExitPolicy reject *:*\n"));
    }

    #[test]
    fn paths_are_quoted_and_escaped() {
        assert_eq!(quoted(Path::new("/a b/\"c\\")), "\"/a b/\\\"c\\\\\"");
    }
}
