//! The I2P transport (`umbra_transport::i2p`) against fake SAM bridges of the test's own
//! (scripted garbage, and a well-behaved bridge whose sessions can be killed) and against
//! real i2pd routers from the test kit: one router on 127.0.0.1, and a private network of
//! three routers inside a network namespace.
//!
//! What needs a real i2pd takes time: i2pd 2.45 answers `SESSION CREATE` only when it
//! checks the session's tunnels, every 20 s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};
use umbra_test_kit::{I2pNetwork, I2pd, i2pd::network_hosts, netns};
use umbra_transport::{
    LocalAddr, Transport,
    i2p::{
        Destination, I2pAddr, PrivateKey, ResultCode, SamConfig, SamError, SamReader, SamTransport,
        SessionKey, TunnelOptions, encode_base64, sam::SamConnection,
    },
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A made-up Ed25519 destination (the layout i2pd uses) and its "private key".
fn fake_key(fill: u8) -> PrivateKey {
    let mut bytes = vec![fill; 384];
    bytes.extend_from_slice(&[5, 0, 4, 0, 7, 0, 0]);
    bytes.extend_from_slice(&[fill ^ 0xff; 256 + 32]);
    encode_base64(&bytes).parse().unwrap()
}

/// The `SamError` inside an `io::Error` from the transport.
fn sam_error(error: &io::Error) -> &SamError {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<SamError>())
        .unwrap_or_else(|| panic!("not a SamError: {error:?}"))
}

/// Quick timeouts for fake bridges.
fn quick(bridge: SocketAddr) -> SamConfig {
    SamConfig {
        control_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(3),
        session_timeout: Duration::from_secs(3),
        accept_retry_max: Duration::from_millis(500),
        ..SamConfig::new(bridge)
    }
}

/// Tunnels a lone router can build (it has no peers).
const ZERO_HOP: TunnelOptions = TunnelOptions {
    inbound_length: 0,
    outbound_length: 0,
    inbound_quantity: 1,
    outbound_quantity: 1,
};

/// Tunnels for the dialling side of the private network: one hop each way.
const ONE_HOP: TunnelOptions = TunnelOptions {
    inbound_length: 1,
    outbound_length: 1,
    inbound_quantity: 2,
    outbound_quantity: 2,
};

/// Tunnels for the listening side: one hop in, none out. i2pd 2.45 publishes a session's
/// lease set when an inbound tunnel is built, and drops the publication for good ("Can't
/// publish LeaseSet. Destination is not ready") while the session has no outbound
/// tunnel yet; a 0-hop outbound tunnel exists at once, so the publication goes through.
const ONE_HOP_IN: TunnelOptions = TunnelOptions {
    outbound_length: 0,
    ..ONE_HOP
};

fn real(bridge: SocketAddr, tunnels: TunnelOptions) -> SamConfig {
    SamConfig {
        tunnels,
        session_timeout: Duration::from_secs(120),
        connect_timeout: Duration::from_secs(60),
        accept_retry_max: Duration::from_secs(1),
        ..SamConfig::new(bridge)
    }
}

/// A bridge that answers every connection's first line with `answer`, then stays silent
/// (or closes when `answer` is empty).
async fn scripted_bridge(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                let _ = stream.read_line(&mut line).await;
                if answer.is_empty() {
                    return;
                }
                let _ = stream.get_mut().write_all(answer).await;
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            });
        }
    });
    addr
}

/// A bridge that says HELLO properly and answers the next line with `answer`.
async fn bridge_answering_second(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                let _ = stream.read_line(&mut line).await;
                let _ = stream
                    .get_mut()
                    .write_all(b"HELLO REPLY RESULT=OK VERSION=3.1\n")
                    .await;
                line.clear();
                let _ = stream.read_line(&mut line).await;
                let _ = stream.get_mut().write_all(answer).await;
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            });
        }
    });
    addr
}

/// What the well-behaved fake bridge saw.
#[derive(Default)]
struct Seen {
    /// The `DESTINATION=` of every `SESSION CREATE` (`TRANSIENT` or a key).
    session_keys: Mutex<Vec<String>>,
    /// `PONG` lines received.
    pongs: Mutex<Vec<String>>,
    connects: AtomicUsize,
    lookups: AtomicUsize,
}

/// A SAM bridge of the test's own that behaves: one session at a time with `our_key`
/// (for `TRANSIENT`), `peer` resolvable by name, connects echo what they get after sending
/// `early` together with the status line, accepts deliver `peer` when `incoming` has a
/// permit. Sending on `kill` closes the current session's control connection (the bridge
/// forgets it: later commands with its id get `INVALID_ID`).
struct FakeBridge {
    addr: SocketAddr,
    seen: Arc<Seen>,
    incoming: Arc<Semaphore>,
    kill: watch::Sender<u64>,
}

async fn fake_bridge(our_key: PrivateKey, peer: Destination) -> FakeBridge {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let incoming = Arc::new(Semaphore::new(0));
    let (kill, _) = watch::channel(0u64);
    let current_id: Arc<Mutex<Option<String>>> = Arc::default();
    let (s, i, k) = (Arc::clone(&seen), Arc::clone(&incoming), kill.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (seen, incoming, kill, current_id) = (
                Arc::clone(&s),
                Arc::clone(&i),
                k.subscribe(),
                Arc::clone(&current_id),
            );
            let (our_key, peer) = (our_key.clone(), peer.clone());
            tokio::spawn(async move {
                serve(stream, seen, incoming, kill, current_id, our_key, peer).await;
            });
        }
    });
    FakeBridge {
        addr,
        seen,
        incoming,
        kill,
    }
}

async fn serve(
    stream: TcpStream,
    seen: Arc<Seen>,
    incoming: Arc<Semaphore>,
    mut kill: watch::Receiver<u64>,
    current_id: Arc<Mutex<Option<String>>>,
    our_key: PrivateKey,
    peer: Destination,
) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let field = |key: &str| {
            command
                .split(' ')
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
                .unwrap_or_default()
                .to_owned()
        };
        let id_ok = || current_id.lock().unwrap().as_deref() == Some(field("ID").as_str());
        let out = stream.get_mut();
        if command.starts_with("HELLO VERSION") {
            out.write_all(b"HELLO REPLY RESULT=OK VERSION=3.1\n")
                .await
                .unwrap();
        } else if command.starts_with("SESSION CREATE") {
            let given = field("DESTINATION");
            seen.session_keys.lock().unwrap().push(given.clone());
            let key = if given == "TRANSIENT" {
                our_key.to_base64().to_owned()
            } else {
                given
            };
            *current_id.lock().unwrap() = Some(field("ID"));
            let reply = format!("SESSION STATUS RESULT=OK DESTINATION={key}\n");
            out.write_all(reply.as_bytes()).await.unwrap();
            // SAM 3.2 keep-alive: the client must answer.
            out.write_all(b"PING 1234\n").await.unwrap();
            kill.borrow_and_update();
            loop {
                line.clear();
                tokio::select! {
                    read = stream.read_line(&mut line) => {
                        if read.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end().to_owned();
                        if let Some(name) = line.strip_prefix("NAMING LOOKUP NAME=") {
                            seen.lookups.fetch_add(1, Ordering::SeqCst);
                            let reply = naming_reply(name, &peer);
                            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
                        } else {
                            seen.pongs.lock().unwrap().push(line);
                        }
                    }
                    _ = kill.changed() => {
                        *current_id.lock().unwrap() = None;
                        return;
                    }
                }
            }
        } else if command.starts_with("NAMING LOOKUP") {
            // Lookups belong on the session's control connection.
            seen.lookups.fetch_add(1, Ordering::SeqCst);
            let reply = naming_reply(&field("NAME"), &peer);
            out.write_all(reply.as_bytes()).await.unwrap();
        } else if command.starts_with("STREAM CONNECT") {
            seen.connects.fetch_add(1, Ordering::SeqCst);
            if !id_ok() {
                out.write_all(b"STREAM STATUS RESULT=INVALID_ID\n")
                    .await
                    .unwrap();
                return;
            }
            if field("DESTINATION") != peer.to_base64() {
                out.write_all(b"STREAM STATUS RESULT=CANT_REACH_PEER MESSAGE=\"no lease set\"\n")
                    .await
                    .unwrap();
                return;
            }
            out.write_all(b"STREAM STATUS RESULT=OK\nearly")
                .await
                .unwrap();
            return echo(stream).await;
        } else if command.starts_with("STREAM ACCEPT") {
            if !id_ok() {
                out.write_all(b"STREAM STATUS RESULT=INVALID_ID\n")
                    .await
                    .unwrap();
                return;
            }
            out.write_all(b"STREAM STATUS RESULT=OK\n").await.unwrap();
            let permit = tokio::select! {
                permit = incoming.acquire() => permit.unwrap(),
                _ = kill.changed() => return,
            };
            permit.forget();
            let first = format!("{} FROM_PORT=0 TO_PORT=0\nhello", peer.to_base64());
            stream.get_mut().write_all(first.as_bytes()).await.unwrap();
            return echo(stream).await;
        } else {
            out.write_all(b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=unknown command\n")
                .await
                .unwrap();
            return;
        }
    }
}

fn naming_reply(name: &str, peer: &Destination) -> String {
    if name == I2pAddr::from_destination(peer).host() {
        format!(
            "NAMING REPLY RESULT=OK NAME={name} VALUE={}\n",
            peer.to_base64()
        )
    } else {
        format!("NAMING REPLY RESULT=KEY_NOT_FOUND NAME={name}\n")
    }
}

async fn echo(mut stream: BufReader<TcpStream>) {
    let mut buf = vec![0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.get_mut().write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Faults without a router: nothing listening, garbage, silence
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bridge_with_nothing_listening_is_a_clear_error() {
    // Bind a port, then free it: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let error = SamTransport::connect(quick(addr)).await.unwrap_err();
    assert!(matches!(error, SamError::Unreachable { .. }), "{error}");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    let text = error.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("SAM bridge"),
        "{text}"
    );

    // Through the Transport trait: dial and listen fail the same way, at once.
    let transport = SamTransport::new(quick(addr)).unwrap();
    let target = I2pAddr::from_destination(fake_key(1).destination());
    let error = transport.dial(&target).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert!(matches!(sam_error(&error), SamError::Unreachable { .. }));
    let error = transport.listen(&target).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn bridge_answering_garbage_is_a_clear_error() {
    let long: &'static [u8] = Box::leak(vec![b'A'; 10_000].into_boxed_slice());
    let cases: [(&'static [u8], io::ErrorKind, &str); 7] = [
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            io::ErrorKind::InvalidData,
            "not a SAM reply",
        ),
        (
            b"SSH-2.0-OpenSSH_9.2\r\n",
            io::ErrorKind::InvalidData,
            "not a SAM reply",
        ),
        (long, io::ErrorKind::InvalidData, "8 KiB"),
        (b"\xff\xfe\xfd\n", io::ErrorKind::InvalidData, "UTF-8"),
        (
            b"HELLO REPLY RESULT=OK VERSION=9.9\n",
            io::ErrorKind::InvalidData,
            "VERSION",
        ),
        (
            b"HELLO REPLY RESULT=NOVERSION\n",
            io::ErrorKind::Unsupported,
            "NOVERSION",
        ),
        (
            b"",
            io::ErrorKind::ConnectionAborted,
            "closed the connection",
        ),
    ];
    for (answer, kind, says) in cases {
        let bridge = scripted_bridge(answer).await;
        let error = SamConnection::connect(bridge, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        let text = error.to_string();
        assert!(
            text.contains(says) && text.contains(&bridge.to_string()),
            "{text}"
        );
    }
}

#[tokio::test]
async fn bridge_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bridge = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut streams = Vec::new();
        loop {
            streams.push(listener.accept().await.unwrap());
        }
    });
    let started = Instant::now();
    let error = SamConnection::connect(bridge, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SamError::Timeout {
                during: "HELLO",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn bad_replies_to_commands_are_clear_errors() {
    let cases: [(&'static [u8], &str); 5] = [
        (b"SESSION STATUS RESULT=OK\n", "no DESTINATION"),
        (
            b"SESSION STATUS RESULT=OK DESTINATION=bm90IGEga2V5\n",
            "malformed destination",
        ),
        (b"STREAM STATUS RESULT=OK\n", "another command"),
        (b"SESSION STATUS RESULT=DUPLICATED_ID\n", "DUPLICATED_ID"),
        (
            b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=Unknown STYLE\n",
            "I2P_ERROR (the I2P router failed): Unknown STYLE",
        ),
    ];
    for (answer, says) in cases {
        let bridge = bridge_answering_second(answer).await;
        let error = SamTransport::connect(quick(bridge)).await.unwrap_err();
        assert!(error.to_string().contains(says), "{says}: {error}");
    }
    let refused = SamTransport::connect(quick(
        bridge_answering_second(b"SESSION STATUS RESULT=DUPLICATED_ID\n").await,
    ))
    .await
    .unwrap_err();
    assert_eq!(refused.result_code(), Some(&ResultCode::DuplicatedId));
    assert_eq!(refused.kind(), io::ErrorKind::AddrInUse);

    // A session for another destination than the stored key is refused too.
    let other = fake_key(9);
    let answer: &'static [u8] = Box::leak(
        format!(
            "SESSION STATUS RESULT=OK DESTINATION={}\n",
            other.to_base64()
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let config = SamConfig {
        key: SessionKey::Stored(fake_key(3)),
        ..quick(bridge_answering_second(answer).await)
    };
    let error = SamTransport::connect(config).await.unwrap_err();
    assert!(error.to_string().contains("another destination"), "{error}");
}

// ---------------------------------------------------------------------------------------
// The transport's logic against a well-behaved fake bridge
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dial_resolves_connects_and_keeps_early_bytes() {
    let (ours, peer) = (fake_key(1), fake_key(2));
    let bridge = fake_bridge(ours.clone(), peer.destination().clone()).await;
    let transport = SamTransport::connect(quick(bridge.addr)).await.unwrap();
    let me = transport.local_addr().await.unwrap();
    assert!(me.is_of(ours.destination()));
    assert_eq!(transport.private_key().unwrap(), ours);
    assert_eq!(*bridge.seen.session_keys.lock().unwrap(), ["TRANSIENT"]);
    // The keeper answers the bridge's PING.
    wait_until("PONG", Duration::from_secs(2), async || {
        !bridge.seen.pongs.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*bridge.seen.pongs.lock().unwrap(), ["PONG 1234"]);

    let target = I2pAddr::from_destination(peer.destination()).with_port(18080);
    for round in 0..2 {
        let (mut reader, mut writer) = transport.dial(&target).await.unwrap();
        writer.write_all(b" round").await.unwrap();
        let mut got = [0u8; 11];
        reader.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"early round", "round {round}");
    }
    // The destination was looked up once, then cached.
    assert_eq!(bridge.seen.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(bridge.seen.connects.load(Ordering::SeqCst), 2);

    // A name the bridge cannot resolve.
    let unknown = I2pAddr::from_destination(fake_key(7).destination());
    let error = transport.dial(&unknown).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    assert_eq!(
        sam_error(&error).result_code(),
        Some(&ResultCode::KeyNotFound)
    );
    let text = error.to_string();
    assert!(
        text.contains("NAMING LOOKUP") && !text.contains(&unknown.host()),
        "{text}"
    );
}

#[tokio::test]
async fn listener_hands_over_peers_with_their_address_and_bytes() {
    let (ours, peer) = (fake_key(1), fake_key(2));
    let bridge = fake_bridge(ours.clone(), peer.destination().clone()).await;
    let transport = SamTransport::connect(quick(bridge.addr)).await.unwrap();
    let me = transport.local_addr().await.unwrap();

    let elsewhere = I2pAddr::from_destination(peer.destination());
    let error = transport.listen(&elsewhere).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrNotAvailable);

    let mut listener = transport.listen(&me.with_port(18080)).await.unwrap();
    assert_eq!(listener.local_addr().unwrap(), me.with_port(18080));
    bridge.incoming.add_permits(3);
    for _ in 0..3 {
        let (mut reader, mut writer, from) =
            tokio::time::timeout(Duration::from_secs(5), listener.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        assert_eq!(from, I2pAddr::from_destination(peer.destination()));
        let mut hello = [0u8; 5];
        reader.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
        writer.write_all(b"!").await.unwrap();
        let mut echo = [0u8; 1];
        reader.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"!");
    }
}

#[tokio::test]
async fn dead_session_is_noticed_and_made_again_with_the_same_key() {
    let (ours, peer) = (fake_key(1), fake_key(2));
    let bridge = fake_bridge(ours.clone(), peer.destination().clone()).await;
    let transport = SamTransport::connect(quick(bridge.addr)).await.unwrap();
    let me = transport.local_addr().await.unwrap();
    let mut listener = transport.listen(&me).await.unwrap();
    assert!(transport.is_connected().await);

    // The bridge drops the session (as a restarted router would).
    bridge.kill.send_modify(|n| *n += 1);
    wait_until(
        "the session to be noticed dead",
        Duration::from_secs(2),
        async || !transport.is_connected().await,
    )
    .await;
    // Waiting accepts fail (their session ended) and are retried by the listener.
    let failed = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            failed.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::NotConnected
        ),
        "{failed}"
    );

    // The next dial makes a new session, with the keys of the first one.
    let target = I2pAddr::from_destination(peer.destination());
    let (mut reader, _writer) = transport.dial(&target).await.unwrap();
    let mut early = [0u8; 5];
    reader.read_exact(&mut early).await.unwrap();
    assert_eq!(transport.local_addr().await.unwrap(), me);
    let keys = bridge.seen.session_keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], "TRANSIENT");
    assert_eq!(keys[1], ours.to_base64());

    // And the listener serves the new session.
    bridge.incoming.add_permits(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let item = tokio::time::timeout_at(deadline.into(), listener.next())
            .await
            .expect("no peer accepted after the session came back")
            .unwrap();
        if let Ok((_, _, from)) = item {
            assert!(from.is_of(peer.destination()));
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------
// One real i2pd on 127.0.0.1
// ---------------------------------------------------------------------------------------

/// Starts an i2pd (blocking the runtime for about a second is fine here).
fn lone_router() -> I2pd {
    I2pd::start().unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_router_makes_sessions_names_them_and_keeps_stored_keys() {
    let router = lone_router();
    let bridge = router.sam_addr();
    let started = Instant::now();

    // A stored key from DEST GENERATE, and a transient session, made at the same time.
    let stored = SamTransport::generate_key(bridge, Duration::from_secs(10))
        .await
        .unwrap();
    let stored_addr = I2pAddr::from_destination(stored.destination());
    let (first, second) = tokio::join!(
        SamTransport::connect(real(bridge, ZERO_HOP)),
        SamTransport::connect(SamConfig {
            key: SessionKey::Stored(stored.clone()),
            ..real(bridge, ZERO_HOP)
        }),
    );
    let (first, second) = (
        first.unwrap_or_else(|e| panic!("{e}\n{}", router.log_tail(30))),
        second.unwrap_or_else(|e| panic!("{e}\n{}", router.log_tail(30))),
    );
    let session_time = started.elapsed();
    assert_eq!(second.local_addr().await.unwrap(), stored_addr);
    assert_eq!(second.private_key().unwrap(), stored);

    // The transient session's address is its key's, and the router resolves it.
    let me = first.local_addr().await.unwrap();
    let key = first.private_key().unwrap();
    assert!(me.is_of(key.destination()));
    assert_eq!(&first.lookup(&me).await.unwrap(), key.destination());
    assert_eq!(
        &first.lookup(&stored_addr).await.unwrap(),
        stored.destination()
    );

    // A second session with the same keys: i2pd 2.45 shares the live destination (at
    // once, "Local destination ... exists"); the SAM spec (and Java I2P) say DUPLICATED_DEST.
    let twin = SamTransport::connect(SamConfig {
        key: SessionKey::Stored(stored.clone()),
        ..real(bridge, ZERO_HOP)
    })
    .await;
    match twin {
        Ok(twin) => assert_eq!(twin.local_addr().await.unwrap(), stored_addr),
        Err(error) => assert_eq!(
            error.result_code(),
            Some(&ResultCode::DuplicatedDest),
            "{error}"
        ),
    }

    // Two sessions of one lone router cannot stream to each other: the peer's lease set is
    // looked up through floodfills, and a lone router has none but itself.
    let _listener = second.listen(&stored_addr).await.unwrap();
    let error = first.dial(&stored_addr).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::HostUnreachable, "{error}");
    assert_eq!(
        sam_error(&error).result_code(),
        Some(&ResultCode::CantReachPeer)
    );

    // A destination that does not exist.
    let nowhere = I2pAddr::from_destination(fake_key(5).destination());
    let error = first.dial(&nowhere).await.unwrap_err();
    assert!(
        matches!(
            sam_error(&error).result_code(),
            Some(ResultCode::KeyNotFound | ResultCode::InvalidKey | ResultCode::CantReachPeer)
        ),
        "{error}"
    );
    eprintln!(
        "sessions made in {session_time:?}; test took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_killed_mid_session_gives_errors_then_a_new_session_with_the_same_address() {
    let mut router = lone_router();
    let bridge = router.sam_addr();
    let transport = SamTransport::connect(real(bridge, ZERO_HOP))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", router.log_tail(30)));
    let me = transport.local_addr().await.unwrap();
    let mut listener = transport.listen(&me).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    tokio::task::block_in_place(|| router.kill()).unwrap();
    wait_until(
        "the dead router to be noticed",
        Duration::from_secs(5),
        async || !transport.is_connected().await,
    )
    .await;

    // Dials fail at once with a clear error; the listener reports failed accepts.
    let peer = I2pAddr::from_destination(fake_key(4).destination());
    let error = transport.dial(&peer).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    assert!(
        error.to_string().contains("is the I2P router running"),
        "{error}"
    );
    let failed = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            failed.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionRefused
        ),
        "{failed}"
    );

    // The router comes back (same keys, same ports): the transport makes a new session
    // with the keys of the old one, so the address holds.
    tokio::task::block_in_place(|| router.restart()).unwrap();
    assert_eq!(transport.local_addr().await.unwrap(), me);
    assert!(transport.is_connected().await);
    assert_eq!(
        &transport.lookup(&me).await.unwrap(),
        transport.private_key().unwrap().destination()
    );
}

// ---------------------------------------------------------------------------------------
// A private I2P network: three i2pd routers in a network namespace
// ---------------------------------------------------------------------------------------

#[test]
fn stream_crosses_a_private_i2p_network() {
    if netns::inside() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(across_the_network());
        return;
    }
    let output = netns::rerun_in_namespace(
        "stream_crosses_a_private_i2p_network",
        &network_hosts(4),
        Duration::from_secs(400),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert!(output.contains("1 passed"), "{output}");
    eprintln!("{output}");
}

type Streams = (
    SamReader,
    tokio::net::tcp::OwnedWriteHalf,
    SamReader,
    tokio::net::tcp::OwnedWriteHalf,
    I2pAddr,
);

/// Dials `to`, says "ping", and takes the stream from `listener` (within 30 s).
async fn stream_to(
    from: &SamTransport,
    to: &I2pAddr,
    listener: &mut umbra_transport::i2p::SamListener,
) -> Result<Streams, String> {
    let (reader, mut writer) = from.dial(to).await.map_err(|e| e.to_string())?;
    writer.write_all(b"ping").await.map_err(|e| e.to_string())?;
    let accepted = tokio::time::timeout(Duration::from_secs(30), listener.next())
        .await
        .map_err(|_| "dialled, but nothing was accepted within 30 s".to_owned())?
        .ok_or("the listener ended")?;
    let (mut peer_reader, peer_writer, peer) = accepted.map_err(|e| e.to_string())?;
    let mut ping = [0u8; 4];
    peer_reader
        .read_exact(&mut ping)
        .await
        .map_err(|e| e.to_string())?;
    if &ping != b"ping" {
        return Err(format!("B read {ping:?}"));
    }
    Ok((reader, writer, peer_reader, peer_writer, peer))
}

async fn across_the_network() {
    let started = Instant::now();
    // A on router 0, B on router 1, routers 2 and 3 store the network database.
    let mut network = tokio::task::block_in_place(|| {
        I2pNetwork::start_with_floodfills(&network_hosts(4), &[false, false, true, true])
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let (bridge_a, bridge_b) = (
        network.routers()[0].sam_addr(),
        network.routers()[1].sam_addr(),
    );
    let (a, b) = tokio::join!(
        SamTransport::connect(real(bridge_a, ONE_HOP)),
        SamTransport::connect(real(bridge_b, ONE_HOP_IN)),
    );
    let (a, b) = (
        a.unwrap_or_else(|e| panic!("{e}\n{}", network.log_tails(20))),
        b.unwrap_or_else(|e| panic!("{e}\n{}", network.log_tails(20))),
    );
    eprintln!("network and sessions ready after {:?}", started.elapsed());
    let addr_a = a.local_addr().await.unwrap();
    let mut b = b;
    let mut addr_b = b.local_addr().await.unwrap();
    let mut listener = b.listen(&addr_b).await.unwrap();

    // A dials B across the network, retrying while B's lease set spreads. i2pd 2.45 may
    // never publish a new session's lease set when its first inbound tunnels are built
    // before its outbound ones ("Can't publish LeaseSet. Destination is not ready", no
    // retry until the tunnels are rebuilt minutes later): after 16 s of failures B gets
    // a new session.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut since = Instant::now();
    let mut sessions_for_b = 1;
    let (mut reader, mut writer, mut peer_reader, mut peer_writer, from) = loop {
        match stream_to(&a, &addr_b, &mut listener).await {
            Ok(streams) => break streams,
            Err(why) => {
                eprintln!("no stream yet ({:?}): {why}", started.elapsed());
                assert!(
                    Instant::now() < deadline,
                    "no stream from A to B: {why}\n{}",
                    network.log_tails(30)
                );
                if since.elapsed() > Duration::from_secs(16) {
                    drop(listener);
                    b = SamTransport::connect(real(bridge_b, ONE_HOP_IN))
                        .await
                        .unwrap_or_else(|e| panic!("{e}\n{}", network.log_tails(20)));
                    addr_b = b.local_addr().await.unwrap();
                    listener = b.listen(&addr_b).await.unwrap();
                    sessions_for_b += 1;
                    since = Instant::now();
                } else {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    };
    eprintln!(
        "first stream after {:?} ({sessions_for_b} session(s) for B)",
        started.elapsed()
    );
    assert_eq!(from, addr_a, "the listener names the dialling peer");
    peer_writer.write_all(b"pong").await.unwrap();
    let mut pong = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(30), reader.read_exact(&mut pong))
        .await
        .expect("no pong within 30 s")
        .unwrap();
    assert_eq!(&pong, b"pong");

    // A megabyte each way.
    let block: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = block.clone();
    let transfer = Instant::now();
    let upload = tokio::spawn(async move {
        writer.write_all(&sent).await.unwrap();
        writer
    });
    let mut got = vec![0u8; block.len()];
    peer_reader.read_exact(&mut got).await.unwrap();
    assert!(got == block, "bytes changed on the way");
    let mut writer = upload.await.unwrap();
    eprintln!("1 MB across 1-hop tunnels in {:?}", transfer.elapsed());

    // A destination nobody has: a clear error.
    let nowhere = I2pAddr::from_destination(fake_key(6).destination());
    let error = a.dial(&nowhere).await.unwrap_err();
    eprintln!("dialling a destination that does not exist: {error}");
    assert!(sam_error(&error).result_code().is_some() || error.kind() == io::ErrorKind::TimedOut);

    // A's router dies mid-stream: A's stream ends at once, and A's dials fail clearly.
    tokio::task::block_in_place(|| network.routers_mut()[0].kill()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = writer.write_all(b"still there?").await;
        let mut buf = [0u8; 64];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "A's stream did not end when its router died");
    let error = a.dial(&addr_b).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");

    // B's router dies: B's listener reports failed accepts instead of hanging.
    tokio::task::block_in_place(|| network.routers_mut()[1].kill()).unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .unwrap()
        .unwrap();
    assert!(failed.is_err());
    eprintln!("test took {:?}", started.elapsed());
}
