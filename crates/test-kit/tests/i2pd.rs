//! The i2pd harness: a router starts with its SAM bridge on loopback, reaches for nothing
//! beyond 127.0.0.1, survives a kill and restart with its identity and ports, and is gone
//! after it is dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, TcpStream},
    time::Duration,
};

use umbra_test_kit::{
    I2pd, I2pdError,
    i2pd::{LOG_FILE_NAME, router_hash},
    process_exists,
};

fn hello(sam: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&sam, Duration::from_secs(2)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream
        .write_all(b"HELLO VERSION MIN=3.1 MAX=3.3\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

#[test]
fn i2pd_answers_sam_on_loopback_and_is_gone_after_drop() {
    let router = I2pd::start().unwrap_or_else(|e| panic!("{e}"));
    let (pid, dir) = (router.pid(), router.data_dir().to_path_buf());
    assert!(process_exists(pid));
    assert!(router.sam_addr().ip().is_loopback());
    assert!(router.ntcp2_addr().ip().is_loopback());
    assert_eq!(
        hello(router.sam_addr()),
        "HELLO REPLY RESULT=OK VERSION=3.1\n"
    );
    let config = std::fs::read_to_string(dir.join("i2pd.conf")).unwrap();
    assert!(config.contains("netid = 77") && config.contains("reservedrange = false"));
    // Give it a moment to write its router info (and try its one reseed).
    std::thread::sleep(Duration::from_millis(500));
    assert!(router_hash(&router.router_info().unwrap()).is_some());
    // Every download it tried went to loopback (the refusing reseed port), never out.
    let log = std::fs::read_to_string(dir.join(LOG_FILE_NAME)).unwrap();
    for line in log.lines().filter(|l| l.contains("Downloading")) {
        assert!(line.contains("http://127.0.0.1:"), "{line}");
    }
    drop(router);
    assert!(!process_exists(pid), "i2pd {pid} still runs after drop");
    assert!(!dir.exists(), "data dir left behind");
}

#[test]
fn killed_i2pd_restarts_with_its_identity_and_ports() {
    let mut router = I2pd::start().unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(500));
    let identity = router_hash(&router.router_info().unwrap()).unwrap();
    let (sam, first_pid) = (router.sam_addr(), router.pid());
    router.kill().unwrap();
    assert!(!router.is_running());
    assert!(!process_exists(first_pid));
    assert!(TcpStream::connect_timeout(&sam, Duration::from_secs(1)).is_err());
    router.restart().unwrap_or_else(|e| panic!("{e}"));
    assert!(router.is_running());
    assert_ne!(router.pid(), first_pid);
    assert_eq!(router.sam_addr(), sam);
    assert!(hello(sam).starts_with("HELLO REPLY RESULT=OK"));
    assert_eq!(
        router_hash(&router.router_info().unwrap()).unwrap(),
        identity
    );
    let stopped = router.stop().unwrap();
    assert!(stopped.is_some());
    assert!(
        router.stop().unwrap().is_none(),
        "a second stop has nothing to stop"
    );
}

#[test]
fn bad_binary_or_foreign_address_are_clear_errors() {
    let error = I2pd::builder()
        .binary("/nonexistent/i2pd")
        .start()
        .unwrap_err();
    assert!(matches!(error, I2pdError::Spawn { .. }), "{error}");
    // 198.18.0.99 is on no interface outside a test namespace.
    let error = I2pd::builder()
        .host(Ipv4Addr::new(198, 18, 0, 99))
        .start()
        .unwrap_err();
    assert!(matches!(error, I2pdError::HostNotLocal { .. }), "{error}");
    assert!(error.to_string().contains("netns"), "{error}");
}
