//! umbrad over Tor, against a real Tor network on loopback (tor + tor-gencert: 3
//! authorities, 2 exits, a middle, a client, an onion host) and a real monerod:
//!
//! - umbrad with a system tor reaches monerod's onion service (monerod's own Tor support:
//!   `--anonymous-inbound` behind an onion service, `--tx-proxy` at the network's SOCKS
//!   port), handshakes, exchanges timed syncs and keeps the connection; monerod reaches
//!   umbrad's onion service;
//! - a second umbrad with the embedded Tor client (arti, joined to the same private
//!   network) reaches monerod's and the first umbrad's onion services (both hosted by C
//!   tor), and a third umbrad with another system tor reaches the embedded one's: between
//!   umbrads, Umbra's encryption runs inside the Tor stream;
//! - faults: an onion address with no service behind it, a Tor that is down at start and
//!   comes up later, a SOCKS proxy that answers garbage, the tor client killed mid-session:
//!   clear errors, retries, no panic, never a direct connection.
//!
//! One Tor network serves each test (it takes 15–25 s to start).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Node, free_port};
use umbra_test_kit::Monerod;
use umbra_test_kit::tor_net::TorNetwork;

/// How long Tor things may take on this network (circuits, descriptor fetches, arti's
/// bootstrap).
const TOR_WAIT: Duration = Duration::from_secs(120);

/// `(out, in, encrypted)` of a status line ("status: peers out 3 in 5 encrypted 7 ...").
fn peer_counts(line: &str) -> (usize, usize, usize) {
    let after = |word: &str| -> usize {
        let rest = &line[line.find(word).unwrap() + word.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (after("peers out "), after(" in "), after(" encrypted "))
}

/// Waits up to `wait` for a Tor-zone status line that `ok` accepts.
fn wait_tor_status(
    node: &mut Node,
    wait: Duration,
    what: &str,
    ok: impl Fn(usize, usize, usize) -> bool,
) {
    let deadline = Instant::now() + wait;
    loop {
        let line = node.next_line_with_within(&["status:", "zone=\"tor\""], wait);
        let (out, inbound, encrypted) = peer_counts(&line);
        if ok(out, inbound, encrypted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last {line}; log: {:#?}",
            node.log
        );
    }
}

/// The `KEY@ONION:PORT` an umbrad logged for its onion service.
fn onion_of(node: &mut Node) -> String {
    let line = node.wait_for_within(&["our onion service"], TOR_WAIT);
    let start = line.find("dial ").unwrap() + "dial ".len();
    let end = line[start..].find(')').unwrap() + start;
    line[start..end].to_owned()
}

/// An umbrad with clearnet closed (no listener, no outbound peers) and the Tor zone on.
fn umbrad(home: &Path, name: &str, tor_args: &[&str]) -> Node {
    let data_dir = home.join(name);
    let mut args = vec![
        "--regtest",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--p2p-bind-ip",
        "127.0.0.1",
        "--p2p-bind-port",
        "0",
        "--in-peers",
        "0",
        "--out-peers",
        "0",
        "--status-interval",
        "1",
        "--log-level",
        "info,umbra_p2p=debug,umbra_p2p_core=debug,umbra_transport=debug,tor_hsclient=debug",
    ];
    args.extend(tor_args);
    Node::start(home, &args)
}

/// Config-file lines that make the node send timed syncs every 2 s (monerod: 60 s), so a
/// test sees them exchanged.
const TIMED_SYNC_EVERY_2_S: &str = "[p2p]\ntimed_sync_interval = 2\n";

/// A config file with [`TIMED_SYNC_EVERY_2_S`] only.
fn timed_sync_config(home: &Path) -> std::path::PathBuf {
    let path = home.join("timed-sync.toml");
    std::fs::write(&path, TIMED_SYNC_EVERY_2_S).unwrap();
    path
}

/// A config file joining the embedded client to the private network (and
/// [`TIMED_SYNC_EVERY_2_S`]).
fn arti_config(home: &Path, net: &TorNetwork) -> std::path::PathBuf {
    let arti = net.arti_network();
    let authorities: Vec<String> = arti
        .authorities
        .iter()
        .map(|a| format!("\"{}\"", a.v3ident_hex()))
        .collect();
    let fallbacks: Vec<String> = arti
        .fallback_caches
        .iter()
        .flat_map(|f| {
            f.orports.iter().map(move |port| {
                format!(
                    "\"{} {} {port}\"",
                    f.rsa_identity_hex(),
                    f.ed_identity_base64()
                )
            })
        })
        .collect();
    let path = home.join("arti.toml");
    std::fs::write(
        &path,
        format!(
            "{TIMED_SYNC_EVERY_2_S}[tor]\nmode = \"embedded\"\nallow_local = true\nauthorities = [{}]\nfallbacks = [{}]\n",
            authorities.join(", "),
            fallbacks.join(", ")
        ),
    )
    .unwrap();
    path
}

#[test]
fn umbrad_and_monerod_reach_each_other_over_tor_and_two_umbrads_talk_encrypted_inside_it() {
    let home = tempfile::tempdir().unwrap();
    let net = TorNetwork::start().expect("private Tor network");
    let socks = net.socks_addr().to_string();
    let control = net.control_addr().to_string();

    // monerod's onion service, on the onion host, forwarding to its --anonymous-inbound port.
    let monerod_anon = free_port();
    let monerod_service = net
        .add_onion_service(18083, SocketAddr::from(([127, 0, 0, 1], monerod_anon)))
        .expect("monerod's onion service");
    let monerod_onion = format!("{}:18083", monerod_service.hostname);

    // umbrad 1: a system tor (the network's client), its own onion service through the
    // control port, and monerod's onion as a peer.
    let timed_sync = timed_sync_config(home.path());
    let mut u1 = umbrad(
        home.path(),
        "u1",
        &[
            "--config",
            timed_sync.to_str().unwrap(),
            "--tor",
            "system",
            "--tor-socks",
            &socks,
            "--tor-control",
            &control,
            "--add-peer",
            &monerod_onion,
        ],
    );
    let u1_keyed = onion_of(&mut u1);
    let u1_onion = u1_keyed.split_once('@').unwrap().1.to_owned();

    // monerod: reaches umbrad 1's onion through the SOCKS port, accepts through its own.
    let monerod = Monerod::builder()
        .args([
            "--tx-proxy".to_owned(),
            format!("tor,{socks},8"),
            "--anonymous-inbound".to_owned(),
            format!("{monerod_onion},127.0.0.1:{monerod_anon},25"),
            // The test kit's monerod has an exclusive clearnet node, which makes monerod
            // dial exclusive nodes only, on every zone: umbrad's onion is one.
            "--add-exclusive-node".to_owned(),
            u1_onion,
        ])
        .start()
        .expect("monerod");

    // umbrad 1 handshakes with monerod over Tor, and monerod connects to umbrad 1's onion:
    // one outbound and one inbound Tor connection, both plain levin (monerod).
    wait_tor_status(
        &mut u1,
        TOR_WAIT,
        "umbrad 1 out to monerod and in from it",
        |out, inbound, _| out >= 1 && inbound >= 1,
    );
    let connections = monerod.rpc().get_connections().unwrap();
    assert!(
        connections.iter().any(|c| c.address.contains(".onion")),
        "monerod has no Tor connection: {connections:?}"
    );
    // Timed syncs go both ways over Tor: monerod (umbrad 1's only peer so far) answers
    // umbrad 1's, sent every 2 s, with its chain state.
    for _ in 0..2 {
        let line = u1.next_line_with_within(&["the peer answered our timed sync"], TOR_WAIT);
        assert!(line.contains("height=1"), "{line}");
    }

    // umbrad 3: the embedded client (arti) joined to the private network, its own onion
    // service, and both monerod's onion (plain levin) and umbrad 1's (Umbra by key) as
    // peers: arti reaching C tor's onion services.
    let config = arti_config(home.path(), &net);
    let mut u3 = umbrad(
        home.path(),
        "u3",
        &[
            "--config",
            config.to_str().unwrap(),
            "--add-peer",
            &monerod_onion,
            "--add-peer",
            &u1_keyed,
        ],
    );
    let u3_keyed = onion_of(&mut u3);
    u3.wait_for_within(
        &["embedded Tor client has joined the Tor network"],
        TOR_WAIT,
    );
    u3.wait_for_within(&["the peer answered our timed sync"], TOR_WAIT);

    // umbrad 2: its own tor client, Umbra peer of umbrad 1 and umbrad 3 by key: Umbra's
    // encryption inside the Tor stream, and a C tor client reaching arti's onion service.
    let client2 = net.start_client().expect("a second tor client");
    let socks2 = client2.socks_addr().to_string();
    let control2 = client2.control_addr().to_string();
    let mut u2 = umbrad(
        home.path(),
        "u2",
        &[
            "--tor",
            "system",
            "--tor-socks",
            &socks2,
            "--tor-control",
            &control2,
            "--add-peer",
            &u1_keyed,
            "--add-peer",
            &u3_keyed,
        ],
    );
    wait_tor_status(
        &mut u2,
        TOR_WAIT,
        "umbrad 2 connected encrypted to umbrads 1 and 3",
        |out, _, encrypted| out >= 2 && encrypted >= 2,
    );
    wait_tor_status(
        &mut u3,
        TOR_WAIT,
        "umbrad 3 (arti) out to monerod and umbrad 1, in from umbrad 2",
        |out, inbound, encrypted| out >= 2 && inbound >= 1 && encrypted >= 2,
    );
    // The encrypted sessions came in at umbrad 1 through its onion service (from 2 and 3).
    wait_tor_status(
        &mut u1,
        TOR_WAIT,
        "umbrad 1 sees two encrypted inbound peers",
        |_, _, encrypted| encrypted >= 2,
    );
    // Nothing of this went over clearnet: the clearnet zones stayed empty.
    for node in [&u1, &u2, &u3] {
        let clearnet_peers = node.log.iter().find(|l| {
            l.contains("status:")
                && l.contains("zone=\"clearnet\"")
                && !l.contains("peers out 0 in 0")
        });
        assert!(clearnet_peers.is_none(), "{clearnet_peers:?}");
    }
    u3.terminate();
    u2.terminate();
    u1.terminate();
    drop(monerod);
}

/// A fake SOCKS proxy that answers every greeting with garbage.
fn garbage_socks() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 64];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        }
    });
    addr
}

#[test]
fn tor_faults_give_clear_errors_and_retries_never_a_direct_connection() {
    let home = tempfile::tempdir().unwrap();
    // A valid onion address (checksum and version) with no service behind it.
    let nowhere = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083";

    // 1. A SOCKS proxy that answers garbage, and a control port that is closed: the dial
    //    fails with a clear error, the onion service keeps being retried.
    let fake = garbage_socks().to_string();
    let closed = format!("127.0.0.1:{}", free_port());
    let mut bad = umbrad(
        home.path(),
        "bad",
        &[
            "--tor",
            "system",
            "--tor-socks",
            &fake,
            "--tor-control",
            &closed,
            "--add-peer",
            nowhere,
        ],
    );
    bad.wait_for_within(&["cannot listen yet"], TOR_WAIT);
    let dial = bad.wait_for_within(&["dial", "SOCKS"], TOR_WAIT);
    assert!(dial.contains(&fake), "the error names the proxy: {dial}");
    // Retried with back-off, not given up.
    bad.next_line_with_within(&["cannot listen yet"], TOR_WAIT);
    bad.terminate();

    // 2. A tor that is down when umbrad starts, comes up, dies mid-session and comes back:
    //    the zone waits, starts, notices, and starts again, by itself.
    let net = TorNetwork::start().expect("private Tor network");
    let mut client = net.start_client().expect("a tor client");
    let socks = client.socks_addr().to_string();
    let control = client.control_addr().to_string();
    client.kill().unwrap();
    let mut late = umbrad(
        home.path(),
        "late",
        &[
            "--tor",
            "system",
            "--tor-socks",
            &socks,
            "--tor-control",
            &control,
            "--add-peer",
            nowhere,
        ],
    );
    late.wait_for_within(&["cannot listen yet"], TOR_WAIT);
    client.restart().expect("the tor client comes back");
    late.wait_for_within(&["listening again"], TOR_WAIT);
    // The onion with nothing behind it: a clear error from Tor, retried later.
    late.wait_for_within(&["dial failed", "onion"], TOR_WAIT);

    // 3. The tor client dies mid-session, then comes back.
    client.kill().unwrap();
    late.next_line_with_within(&["the listener ended"], TOR_WAIT);
    late.next_line_with_within(&["cannot listen yet"], TOR_WAIT);
    client.restart().expect("the tor client comes back");
    late.next_line_with_within(&["listening again"], TOR_WAIT);
    late.terminate();
    assert!(!late.log.iter().any(|l| l.contains("panicked")));
}
