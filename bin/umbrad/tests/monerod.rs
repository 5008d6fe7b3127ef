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

mod common;

use std::net::{Ipv4Addr, TcpListener};

use common::Node;
use umbra_test_kit::Monerod;

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
