//! The `umbrad` binary among Umbra peers on loopback: identities made, backed up and
//! restored; two and then ten umbrads forming an encrypted mesh from one bootstrap
//! address, with a real monerod still talking plain levin to them; a wrong key refused;
//! stealth mode silent to plain levin. Bounded waits; every process is stopped when its
//! test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use common::{Node, TIMEOUT, free_port, run_action};
use umbra_test_kit::Monerod;

/// The key `umbrad --show-identity` prints for `data_dir` (creating the identity).
fn show_identity(home: &Path, data_dir: &Path) -> String {
    let (code, out) = run_action(
        home,
        &["--data-dir", data_dir.to_str().unwrap(), "--show-identity"],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    out.trim().to_owned()
}

#[test]
fn identity_is_created_private_backed_up_and_restored() {
    let home = tempfile::tempdir().unwrap();
    let old = home.path().join("old");
    let key = show_identity(home.path(), &old);
    assert_eq!(key.len(), 64, "{key}");
    assert_eq!(
        show_identity(home.path(), &old),
        key,
        "the same key every time"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = old.join("identity").join("clearnet.key");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, words) = run_action(
        home.path(),
        &["--data-dir", old.to_str().unwrap(), "--backup-identity"],
        "",
    );
    assert_eq!(code, Some(0));
    assert_eq!(words.split_whitespace().count(), 24, "{words}");

    // A new machine: the words rebuild the same identity.
    let new = home.path().join("new");
    let (code, out) = run_action(
        home.path(),
        &["--data-dir", new.to_str().unwrap(), "--restore-identity"],
        &words,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(show_identity(home.path(), &new), key);

    // Restoring other words over it is refused and changes nothing.
    let other = home.path().join("other");
    show_identity(home.path(), &other);
    let (_, other_words) = run_action(
        home.path(),
        &["--data-dir", other.to_str().unwrap(), "--backup-identity"],
        "",
    );
    let (code, out) = run_action(
        home.path(),
        &["--data-dir", new.to_str().unwrap(), "--restore-identity"],
        &other_words,
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("already holds another identity"), "{out}");
    assert_eq!(show_identity(home.path(), &new), key);
    // Bad words are refused without echoing them.
    let (code, out) = run_action(
        home.path(),
        &["--data-dir", new.to_str().unwrap(), "--restore-identity"],
        "abandon ability able about\n",
    );
    assert_eq!(code, Some(1));
    assert!(out.contains("4 words") && !out.contains("ability"), "{out}");
}

/// `(out, in, encrypted)` of a status line ("status: peers out 3 in 5 encrypted 7 ...").
fn peer_counts(line: &str) -> (usize, usize, usize) {
    let after = |word: &str| -> usize {
        let rest = &line[line.find(word).unwrap() + word.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (after("peers out "), after(" in "), after(" encrypted "))
}

/// Waits for a status line with at least one peer, every peer encrypted.
fn wait_all_encrypted(node: &mut Node) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let line = node.next_line_with(&["status:", "peers out"]);
        let (out, inbound, encrypted) = peer_counts(&line);
        if out + inbound >= 1 && encrypted == out + inbound {
            return;
        }
        assert!(Instant::now() < deadline, "{line}");
    }
}

/// An umbrad on 127.0.0.1:`port` with data in `home/name`.
fn umbrad(home: &Path, name: &str, port: u16, extra: &[&str]) -> Node {
    let data_dir = home.join(name);
    let port = port.to_string();
    let mut args = vec![
        "--regtest",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--p2p-bind-ip",
        "127.0.0.1",
        "--p2p-bind-port",
        &port,
        "--allow-local-ip",
        "--max-connections-per-ip",
        "32",
        "--out-peers",
        "4",
        "--status-interval",
        "1",
        "--log-level",
        "info,umbra_p2p=debug",
    ];
    args.extend(extra);
    Node::start(home, &args)
}

#[test]
fn ten_umbrads_form_an_encrypted_mesh_beside_a_plain_monerod() {
    let home = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..10).map(|_| free_port()).collect();
    let boot_key = show_identity(home.path(), &home.path().join("n0"));
    let boot = format!("{boot_key}@127.0.0.1:{}", ports[0]);

    let mut nodes = vec![umbrad(home.path(), "n0", ports[0], &[])];
    // Two nodes first: the second dials the first by key.
    nodes.push(umbrad(home.path(), "n1", ports[1], &["--add-peer", &boot]));
    nodes[1].wait_for(&["outbound peer connected", &boot]);
    wait_all_encrypted(&mut nodes[1]);
    // A monerod beside them, dialling the first node: plain levin on the same port.
    let monerod = Monerod::builder()
        .exclusive_node(format!("127.0.0.1:{}", ports[0]).parse().unwrap())
        .start()
        .expect("monerod starts");
    // Then eight more, each knowing only the first node.
    for (n, port) in ports.iter().enumerate().skip(2) {
        nodes.push(umbrad(
            home.path(),
            &format!("n{n}"),
            *port,
            &["--add-peer", &boot],
        ));
    }
    // Every node reaches the first over the encrypted transport.
    for node in nodes.iter_mut().skip(2) {
        node.wait_for(&["outbound peer connected", &boot]);
    }
    // Peer lists carry keys between Umbra peers: nodes connect to others they learnt of
    // from the first node's handshake peer list (source=gray), by key, so encrypted. (The
    // second node joined when the first knew nobody; it learns at the next timed sync.)
    let deadline = Instant::now() + TIMEOUT;
    let mut learnt = 0;
    for node in nodes.iter_mut().skip(2) {
        let line = node.wait_for(&["outbound peer connected", "source=gray"]);
        assert!(
            line.contains("@127.0.0.1:"),
            "learnt peers are dialled by key: {line}"
        );
        learnt += 1;
        assert!(Instant::now() < deadline);
    }
    assert_eq!(learnt, 8);
    // monerod is connected to the first node over plain levin and stays connected.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let connections: serde_json::Value = monerod
            .rpc()
            .call("get_connections", &serde_json::json!({}))
            .unwrap();
        let to_us = connections["connections"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|c| c["port"].as_str() == Some(&ports[0].to_string()))
                    .count()
            })
            .unwrap_or(0);
        if to_us == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monerod never connected: {connections}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The first node's status counts monerod among its peers, the one not encrypted.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let line = nodes[0].next_line_with(&["status:", "peers out"]);
        let (out, inbound, encrypted) = peer_counts(&line);
        if inbound >= 2 && encrypted + 1 == out + inbound {
            break;
        }
        assert!(Instant::now() < deadline, "{line}");
    }
    for node in &mut nodes {
        node.terminate();
    }
}

#[test]
fn a_wrong_key_is_refused_and_stealth_mode_is_silent_to_plain_levin() {
    let home = tempfile::tempdir().unwrap();
    let stealth_port = free_port();
    let stealth_key = show_identity(home.path(), &home.path().join("stealth"));
    let mut stealthy = umbrad(home.path(), "stealth", stealth_port, &["--stealth"]);
    stealthy.wait_for(&["stealth mode"]);
    stealthy.wait_for(&["listening for peers"]);

    // A plain levin handshake gets no byte back, and a close after a random delay.
    let mut stream = TcpStream::connect(("127.0.0.1", stealth_port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut handshake = vec![0x01, 0x21, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];
    handshake.extend([0u8; 25]);
    stream.write_all(&handshake).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = stream.read(&mut buf);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "the stealthy node answered plain levin: {read:?}"
    );
    eprintln!("plain levin probe closed after {:?}", started.elapsed());

    // A node dialling it with a wrong key gets nowhere ...
    let wrong = show_identity(home.path(), &home.path().join("someone-else"));
    let mut impostor_dialler = umbrad(
        home.path(),
        "wrong",
        free_port(),
        &[
            "--add-exclusive-node",
            &format!("{wrong}@127.0.0.1:{stealth_port}"),
        ],
    );
    impostor_dialler.wait_for(&["dial failed", &format!("127.0.0.1:{stealth_port}")]);
    // ... and one with the right key gets in.
    let mut friend = umbrad(
        home.path(),
        "friend",
        free_port(),
        &[
            "--add-exclusive-node",
            &format!("{stealth_key}@127.0.0.1:{stealth_port}"),
        ],
    );
    friend.wait_for(&["outbound peer connected", &stealth_key]);
    wait_all_encrypted(&mut stealthy);
    impostor_dialler.wait_for(&["status:", "peers out 0"]);
    for node in [&mut stealthy, &mut impostor_dialler, &mut friend] {
        node.terminate();
    }
}
