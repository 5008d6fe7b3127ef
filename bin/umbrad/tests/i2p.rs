//! umbrad over I2P, against real i2pd routers (Debian i2pd 2.45):
//!
//! - **a private I2P network** (five routers on 198.18.0.x in a network namespace of the
//!   test's own, see `umbra_test_kit::i2pd`): umbrad 1 on a router's SAM bridge, umbrad 2
//!   the way monerod does it (the router's SOCKS proxy out, a server tunnel in); they
//!   reach each other by `.b32.i2p` address both ways, with Umbra's encryption inside the
//!   I2P streams, and learn each other's address through peer lists (timed syncs); a real
//!   monerod joins with its own I2P flags (`--tx-proxy i2p,...`, `--anonymous-inbound`)
//!   and talks to umbrad 1 both ways;
//! - **faults**, against one i2pd on 127.0.0.1: a SAM port answering garbage, a router
//!   that is down when umbrad starts and comes up later, a router killed mid-session and
//!   restarted, a destination that does not exist: clear errors, retries with back-off,
//!   the same `.b32.i2p` address across router and umbrad restarts, never a clearnet
//!   connection, no panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Node, free_port};
use umbra_test_kit::Monerod;
use umbra_test_kit::i2pd::{I2pNetwork, I2pd, network_hosts};
use umbra_test_kit::netns;

/// How long I2P things may take in the private network (sessions, lease sets, lookups).
const I2P_WAIT: Duration = Duration::from_secs(180);

/// `(out, in, encrypted)` of a status line ("status: peers out 3 in 5 encrypted 7 ..."),
/// `None` for a zone that has not started.
fn peer_counts(line: &str) -> Option<(usize, usize, usize)> {
    let after = |word: &str| -> Option<usize> {
        let rest = &line[line.find(word)? + word.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((after("peers out ")?, after(" in ")?, after(" encrypted ")?))
}

/// Waits up to `wait` for an I2P-zone status line that `ok` accepts; returns it.
fn wait_i2p_status(
    node: &mut Node,
    wait: Duration,
    what: &str,
    ok: impl Fn(usize, usize, usize) -> bool,
) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let line = node.next_line_with_within(&["status:", "zone=\"i2p\""], wait);
        if let Some((out, inbound, encrypted)) = peer_counts(&line)
            && ok(out, inbound, encrypted)
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last {line}; log: {:#?}",
            node.log
        );
    }
}

/// The `KEY@B32.b32.i2p` an umbrad logged for its own destination.
fn destination_of(node: &mut Node) -> String {
    let line = node.wait_for_within(&["our I2P destination (Umbra peers dial "], I2P_WAIT);
    let start = line.find("dial ").unwrap() + "dial ".len();
    let end = line[start..].find(')').unwrap() + start;
    line[start..end].to_owned()
}

/// A config file for the I2P zone with short tunnels: 1 hop in, none out (i2pd 2.45
/// publishes a destination's lease set reliably only when an outbound tunnel exists at
/// once; see `umbra_test_kit::i2pd`), or none at all on a lone router.
fn i2p_config(home: &Path, name: &str, inbound_hops: u8) -> PathBuf {
    let path = home.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("[i2p]\ninbound_hops = {inbound_hops}\noutbound_hops = 0\n"),
    )
    .unwrap();
    path
}

/// An umbrad with clearnet closed (no listener, no outbound peers) and the I2P zone set
/// up by `i2p_args`.
fn umbrad(home: &Path, name: &str, inbound_hops: u8, i2p_args: &[&str]) -> Node {
    let data_dir = home.join(name);
    let config = i2p_config(home, name, inbound_hops);
    let mut args = vec![
        "--regtest",
        "--config",
        config.to_str().unwrap(),
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
        "info,umbra_p2p=debug,umbra_transport=debug",
    ];
    args.extend(i2p_args);
    Node::start(home, &args)
}

/// Nothing of `node` went over clearnet: its clearnet zone never had a peer.
fn assert_no_clearnet(node: &Node) {
    for line in &node.log {
        if line.contains("zone=\"clearnet\"") && line.contains("status:") {
            assert!(line.contains("peers out 0 in 0"), "a clearnet peer: {line}");
        }
        assert!(!line.contains("panicked"), "{line}");
    }
}

// ---------------------------------------------------------------------------------------
// A private I2P network: two umbrads and a monerod
// ---------------------------------------------------------------------------------------

/// The first 8 bytes of levin (its signature): what a plain connection starts with.
const LEVIN_SIGNATURE: [u8; 8] = [0x01, 0x21, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];

/// A TCP relay from `127.0.0.1:<returned port>` to `to` that records the first 8 bytes
/// each connection sends: put between a router's server tunnel and the node behind it, it
/// shows what travelled inside the I2P stream. At most 16 connections.
fn recording_relay(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for inbound in listener.incoming().take(16) {
            let Ok(mut inbound) = inbound else { continue };
            let Ok(mut outbound) = TcpStream::connect(to) else {
                continue;
            };
            let record = Arc::clone(&record);
            let mut back_in = inbound.try_clone().unwrap();
            let mut back_out = outbound.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut first = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match inbound.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if first.len() < 8 {
                        first.extend_from_slice(&buf[..n.min(8 - first.len())]);
                        if first.len() == 8 {
                            record.lock().unwrap().push(first.clone());
                        }
                    }
                    if outbound.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = outbound.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut back_out, &mut back_in);
                let _ = back_in.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, seen)
}

#[test]
fn umbrads_and_monerod_reach_each_other_over_a_private_i2p_network() {
    if netns::inside() {
        over_the_private_network();
        return;
    }
    let started = Instant::now();
    let output = netns::rerun_in_namespace(
        "umbrads_and_monerod_reach_each_other_over_a_private_i2p_network",
        &network_hosts(5),
        Duration::from_secs(900),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert!(output.contains("1 passed"), "{output}");
    eprintln!("{output}\n(whole test {:?})", started.elapsed());
}

fn over_the_private_network() {
    let started = Instant::now();
    let home = tempfile::tempdir().unwrap();
    let hosts = network_hosts(5);
    // Router 0: umbrad 1's SAM bridge. Router 1: umbrad 2's SOCKS proxy and server
    // tunnel. Router 2: monerod's SOCKS proxy and server tunnel. Routers 3 and 4 store
    // the network database: the routers of the destinations under test must not be
    // floodfills (with monerod's SOCKS proxy on a floodfill, its streams to umbrad 1 got
    // no answer in three runs of three: "Streaming: LeaseSet was not confirmed").
    let u2_local = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // Router 1 forwards umbrad 2's connections through a relay that records their first
    // bytes: what umbrad 1 sent inside the I2P stream.
    let (u2_relay, u2_first_bytes) = recording_relay(u2_local);
    let monerod_local = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let network = I2pNetwork::start_with(vec![
        I2pd::builder().host(hosts[0]).floodfill(false),
        I2pd::builder()
            .host(hosts[1])
            .floodfill(false)
            .socks_proxy(true)
            .server_tunnel("umbrad2", u2_relay),
        I2pd::builder()
            .host(hosts[2])
            .floodfill(false)
            .socks_proxy(true)
            .server_tunnel("monerod", monerod_local),
        I2pd::builder().host(hosts[3]),
        I2pd::builder().host(hosts[4]),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let routers = network.routers();
    let u2_b32 = routers[1].tunnel_address("umbrad2").unwrap();
    let monerod_b32 = routers[2].tunnel_address("monerod").unwrap();
    eprintln!("I2P network up after {:?}", started.elapsed());

    // umbrad 1: SAM on router 0, its own destination; dials monerod's.
    let sam = routers[0].sam_addr().to_string();
    let mut u1 = umbrad(
        home.path(),
        "u1",
        1,
        &["--i2p-sam", &sam, "--add-peer", &monerod_b32],
    );
    let u1_keyed = destination_of(&mut u1);
    let u1_b32 = u1_keyed.split_once('@').unwrap().1.to_owned();
    eprintln!("umbrad 1 has its destination after {:?}", started.elapsed());

    // monerod: monerod's own I2P flags, through router 2; dials umbrad 1 (the kit's
    // monerod has an exclusive clearnet node, which makes monerod dial exclusive nodes
    // only, on every zone: umbrad 1's destination is one).
    let monerod_socks = routers[2].socks_addr().unwrap();
    let monerod = Monerod::builder()
        .log_level("0,net.p2p:INFO,net.p2p.msg:INFO,net.socks:DEBUG")
        .args([
            "--tx-proxy".to_owned(),
            format!("i2p,{monerod_socks},8"),
            "--anonymous-inbound".to_owned(),
            format!("{monerod_b32},{monerod_local},25"),
            "--add-exclusive-node".to_owned(),
            u1_b32.clone(),
        ])
        .start()
        .expect("monerod");

    // umbrad 2: monerod's way (SOCKS out through router 1, router 1's server tunnel in),
    // an Umbra peer of umbrad 1 by key.
    let socks = routers[1].socks_addr().unwrap().to_string();
    let inbound = format!("{u2_b32},{u2_local},25");
    let tx_proxy = format!("i2p,{socks},8");
    let mut u2 = umbrad(
        home.path(),
        "u2",
        1,
        &[
            "--tx-proxy",
            &tx_proxy,
            "--anonymous-inbound",
            &inbound,
            "--add-peer",
            &u1_keyed,
        ],
    );

    // umbrad 2 reaches umbrad 1 by its .b32.i2p address, encrypted inside the I2P stream.
    wait_i2p_status(
        &mut u2,
        I2P_WAIT,
        "umbrad 2 connected encrypted to umbrad 1",
        |out, _, encrypted| out >= 1 && encrypted >= 1,
    );
    eprintln!("umbrad 2 -> umbrad 1 after {:?}", started.elapsed());
    // umbrad 1 learns umbrad 2's address from umbrad 2's peer list (a timed sync: umbrad 2
    // came in without an address) and dials it back through umbrad 2's server tunnel,
    // with the key that came with it: two encrypted connections each way.
    let heard = u1.wait_for_within(
        &[
            "new peers heard of",
            "zone=\"i2p\"",
            "from=",
            "<inbound I2P connection",
        ],
        I2P_WAIT,
    );
    eprintln!(
        "umbrad 1 heard of peers after {:?}: {heard}",
        started.elapsed()
    );
    wait_i2p_status(
        &mut u1,
        I2P_WAIT,
        "umbrad 1 in and out to umbrad 2, encrypted, and out to monerod",
        |out, inbound, encrypted| out >= 2 && inbound >= 1 && encrypted >= 2,
    );
    eprintln!(
        "umbrad 1 <-> umbrad 2 and -> monerod after {:?}",
        started.elapsed()
    );
    let dialled_back = u1.wait_for_within(&["outbound peer connected", &u2_b32], I2P_WAIT);
    assert!(dialled_back.contains('@'), "by key: {dialled_back}");
    // What came out of the I2P stream at umbrad 2's end was Umbra's encrypted transport
    // (a Noise handshake: random-looking bytes), never levin in clear.
    let first_bytes = u2_first_bytes.lock().unwrap().clone();
    assert!(
        !first_bytes.is_empty(),
        "nothing came through the server tunnel"
    );
    for first in &first_bytes {
        assert_ne!(first.as_slice(), LEVIN_SIGNATURE, "plain levin inside I2P");
    }

    // monerod: its own connections over I2P, in from umbrad 1 and out to it.
    let deadline = Instant::now() + I2P_WAIT;
    loop {
        let connections = monerod.rpc().get_connections().unwrap();
        let out = connections
            .iter()
            .any(|c| !c.incoming && c.address.contains(&u1_b32[..20]));
        let inbound = connections
            .iter()
            .any(|c| c.incoming && c.address.contains("i2p"));
        if out && inbound {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monerod's I2P connections: {connections:?}\nmonerod log:\n{}\nrouters:\n{}",
            monerod.log_tail(60),
            network.log_tails(20)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    wait_i2p_status(
        &mut u1,
        I2P_WAIT,
        "umbrad 1 in from monerod too",
        |_, inbound, _| inbound >= 2,
    );
    eprintln!("monerod <-> umbrad 1 after {:?}", started.elapsed());

    u2.terminate();
    u1.terminate();
    let count = |node: &Node, what: &str| node.log.iter().filter(|l| l.contains(what)).count();
    eprintln!(
        "umbrad 1: {} inbound connections refused, {} inbound handshakes failed, {} handshakes done",
        count(&u1, "inbound connection refused"),
        count(&u1, "inbound handshake failed"),
        count(&u1, "handshake done direction=inbound"),
    );
    assert_no_clearnet(&u1);
    assert_no_clearnet(&u2);
    // Our addresses are never dialled in clear, and no I2P address ever reaches a
    // resolver: nothing in the logs about resolving them.
    for node in [&u1, &u2] {
        assert!(!node.log.iter().any(|l| l.contains("cannot resolve")));
    }
    drop(monerod);
    eprintln!("private-network test took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------
// Faults, against one i2pd on 127.0.0.1
// ---------------------------------------------------------------------------------------

/// A fake SAM bridge that answers everything with garbage.
fn garbage_sam() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 64];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    addr
}

#[test]
fn i2p_faults_give_clear_errors_and_retries_never_a_direct_connection() {
    let started = Instant::now();
    let home = tempfile::tempdir().unwrap();
    // A valid b32 address whose destination nobody has.
    let nowhere = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    // 1. Garbage on the SAM port: a clear error naming the bridge, retried with back-off.
    let fake = garbage_sam().to_string();
    let mut bad = umbrad(home.path(), "bad", 0, &["--i2p-sam", &fake]);
    let line = bad.wait_for_within(&["cannot reach the I2P router's SAM bridge"], I2P_WAIT);
    assert!(line.contains(&fake), "the error names the bridge: {line}");
    assert!(line.contains("SAM bridge"), "{line}");
    bad.next_line_with_within(&["cannot reach the I2P router's SAM bridge"], I2P_WAIT);
    let status = bad.next_line_with_within(&["status:", "zone=\"i2p\""], I2P_WAIT);
    assert!(status.contains("not started"), "{status}");
    bad.terminate();
    assert_no_clearnet(&bad);

    // 2. The router is down when umbrad starts and comes up later: umbrad waits, then
    //    makes its destination, keeps it, and listens on it.
    let mut router = I2pd::start().expect("i2pd");
    let sam = router.sam_addr().to_string();
    router.stop().unwrap();
    let mut late = umbrad(
        home.path(),
        "late",
        0,
        &["--i2p-sam", &sam, "--add-peer", nowhere],
    );
    let refused = late.wait_for_within(&["cannot reach the I2P router's SAM bridge"], I2P_WAIT);
    assert!(refused.contains("is the I2P router running"), "{refused}");
    router.restart().expect("i2pd comes back");
    let keyed = destination_of(&mut late);
    late.wait_for_within(&["listening for peers", "zone=\"i2p\""], I2P_WAIT);
    eprintln!(
        "late router: destination and listener after {:?}",
        started.elapsed()
    );

    // 3. A destination that does not exist: a clear error from the router, retried later;
    //    never resolved, never dialled any other way.
    let dial = late.wait_for_within(&["dial failed", "zone=\"i2p\""], I2P_WAIT);
    assert!(dial.contains("I2P") || dial.contains("SAM"), "{dial}");
    eprintln!("a destination nobody has: {dial}");

    // 4. The router dies mid-session, then comes back: the listener notices, retries with
    //    back-off, and listens again on the same address (the session is made again with
    //    the same keys).
    router.kill().unwrap();
    late.next_line_with_within(&["the listener ended"], I2P_WAIT);
    late.next_line_with_within(&["cannot listen yet"], I2P_WAIT);
    router.restart().expect("i2pd comes back");
    late.next_line_with_within(&["listening again"], I2P_WAIT);
    eprintln!(
        "router restarted and listened on again after {:?}",
        started.elapsed()
    );
    late.terminate();
    assert_no_clearnet(&late);

    // 5. umbrad restarts: the same I2P address, from the kept keys, and the zone's own
    //    identity and address book files.
    let mut again = umbrad(home.path(), "late", 0, &["--i2p-sam", &sam]);
    assert_eq!(
        destination_of(&mut again),
        keyed,
        "the address survives restarts"
    );
    again.terminate();
    let data_dir = home.path().join("late");
    assert!(data_dir.join("identity/i2p.key").exists());
    assert!(data_dir.join("identity/i2p-destination.secret").exists());
    assert!(data_dir.join("i2p-peers.epee").exists());
    eprintln!("fault test took {:?}", started.elapsed());
}
