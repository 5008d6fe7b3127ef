//! The `umbrad` binary as a peer of a real monerod (Debian's 0.18, regtest, on loopback):
//! it connects, monerod lists the connection, the status line counts it, SIGTERM saves
//! the address book, and the next start dials the saved anchor first. Bounded waits; the
//! monerod and every umbrad are stopped when the test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use umbra_test_kit::Monerod;

/// Bound on each wait.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running umbrad whose log lines arrive on a channel; killed on drop if still running.
struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Node {
    fn start(home: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_umbrad"))
            .env_clear()
            .env("HOME", home)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::sync_channel(4096);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing every one of `parts`; returns it.
    fn wait_for(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(line) = self
                .log
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(err) => panic!("no line with {parts:?} ({err}); log: {:#?}", self.log),
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child, not
        // yet reaped (we hold its `Child`), so the id cannot have been reused.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0);
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "umbrad did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.log.extend(self.lines.try_iter());
        assert_eq!(status.code(), Some(0), "log: {:#?}", self.log);
    }
}

#[test]
fn umbrad_is_a_peer_of_monerod_and_keeps_its_anchor_across_restarts() {
    let monerod = Monerod::start().expect("monerod starts");
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("data");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let peer = monerod.p2p_addr().to_string();
    let common = [
        "--regtest",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--p2p-bind-ip",
        "127.0.0.1",
        "--p2p-bind-port",
        &port,
        "--allow-local-ip",
        "--status-interval",
        "1",
    ];

    // First run: told about monerod with --add-peer.
    let mut args = common.to_vec();
    args.extend(["--add-peer", &peer]);
    let mut node = Node::start(home.path(), &args);
    node.wait_for(&["outbound peer connected", &peer, "source=seed"]);
    node.wait_for(&["status:", "peers out 1"]);
    // monerod sees us: one incoming connection, at the height we claim (genesis).
    let connections: serde_json::Value = monerod
        .rpc()
        .call("get_connections", &serde_json::json!({}))
        .unwrap();
    let ours: Vec<_> = connections["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["incoming"].as_bool() == Some(true))
        .collect();
    assert_eq!(ours.len(), 1, "{connections:#}");
    assert_eq!(ours[0]["height"].as_u64(), Some(1), "{connections:#}");
    node.terminate();
    assert!(node.log.iter().any(|l| l.contains("address book saved")));
    assert!(data_dir.join("clearnet-peers.epee").is_file());

    // Second run, no peers given: the saved anchor is dialled.
    let mut node = Node::start(home.path(), &common);
    node.wait_for(&["address book loaded", "anchors=1"]);
    node.wait_for(&["outbound peer connected", &peer, "source=anchor"]);
    node.terminate();
    monerod.stop().unwrap();
}
