//! `SystemTor` and the control-port client against real `tor` processes started here (on
//! free 127.0.0.1 ports, each with its own data directory, killed by pid when the test
//! ends), plus scripted fakes for what a real tor cannot be made to do (a SOCKS proxy
//! recording credentials, a control port lying about SAFECOOKIE).
//!
//! Two kinds of tor, neither of which can reach beyond loopback:
//! - `DisableNetwork 1`: the control port works (onion services can be created), but tor
//!   opens no SOCKS port and makes no connection at all;
//! - "stranded": network on, but its only way in is a bridge on 127.0.0.1 that never
//!   answers (`UseBridges 1`), so the SOCKS port is open and every stream fails the way it
//!   does for a tor that cannot bootstrap (after `SocksTimeout`, or at once for a bad
//!   address with `ExtendedErrors`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use umbra_transport::{
    LocalAddr, Transport,
    socks::{Socks5Proxy, SocksError, TargetAddr},
    tor::{
        OnionAddr, TorAddr,
        control::{
            AuthMethod, ControlAuth, ControlConnection, ControlErrorKind, OnionKey, Password,
            service_id,
        },
        system::{ServiceState, SystemTor, SystemTorConfig},
    },
};

const TOR: &str = "/usr/sbin/tor";
const PASSWORD: &str = "umbra test password";
const TIMEOUT: Duration = Duration::from_secs(5);

/// A tor process of this test; killed (by its pid) and reaped on drop.
struct Tor {
    child: Child,
    dir: tempfile::TempDir,
    control: SocketAddr,
    /// Held for the stranded tor: its bridge, which never answers.
    _bridge: Option<std::net::TcpListener>,
}

impl Tor {
    /// A tor with `DisableNetwork 1`, cookie and password authentication.
    fn offline() -> Self {
        let hash = Command::new(TOR)
            .args(["--quiet", "--hash-password", PASSWORD])
            .output()
            .expect("tor --hash-password");
        let hash = String::from_utf8(hash.stdout).unwrap();
        let hash = hash.lines().last().unwrap().trim().to_owned();
        assert!(hash.starts_with("16:"), "{hash}");
        Self::start(
            &format!("DisableNetwork 1\nSocksPort 0\nHashedControlPassword {hash}\n"),
            None,
        )
    }

    /// A tor whose only way into the network is a loopback bridge that never answers.
    fn stranded() -> Self {
        let bridge = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bridge_addr = bridge.local_addr().unwrap();
        Self::start(
            &format!(
                "SocksPort auto ExtendedErrors\nSocksTimeout 2\nUseBridges 1\nBridge {bridge_addr}\n"
            ),
            Some(bridge),
        )
    }

    fn start(extra: &str, bridge: Option<std::net::TcpListener>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let torrc = format!(
            "DataDirectory {data}\n\
             ControlPort auto\n\
             ControlPortWriteToFile {port_file}\n\
             CookieAuthentication 1\n\
             Log notice file {log}\n\
             AvoidDiskWrites 1\n\
             {extra}",
            data = path.join("data").display(),
            port_file = path.join("control_port").display(),
            log = path.join("tor.log").display(),
        );
        std::fs::write(path.join("torrc"), torrc).unwrap();
        let child = Command::new(TOR)
            .arg("-f")
            .arg(path.join("torrc"))
            .args(["--defaults-torrc", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tor");
        let mut tor = Self {
            child,
            dir,
            control: "127.0.0.1:1".parse().unwrap(),
            _bridge: bridge,
        };
        // The port file appears once the control listener is open (well under a second).
        let started = Instant::now();
        let port_file = tor.dir.path().join("control_port");
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(addr) = text.trim().strip_prefix("PORT=")
                && tor.cookie_file().exists()
            {
                tor.control = addr.parse().unwrap();
                return tor;
            }
            if let Some(status) = tor.child.try_wait().unwrap() {
                panic!("tor exited with {status}: {}", tor.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tor did not start: {}",
                tor.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn cookie_file(&self) -> PathBuf {
        self.dir.path().join("data").join("control_auth_cookie")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tor.log")).unwrap_or_default()
    }

    async fn connect(&self) -> ControlConnection {
        ControlConnection::connect(self.control, TIMEOUT)
            .await
            .unwrap()
    }

    async fn authenticated(&self) -> ControlConnection {
        let mut control = self.connect().await;
        control.authenticate(&ControlAuth::Auto).await.unwrap();
        control
    }

    /// The SOCKS port tor opened (`SocksPort auto`).
    async fn socks(&self) -> SocketAddr {
        let mut control = self.authenticated().await;
        let listeners = control.get_info_one("net/listeners/socks").await.unwrap();
        listeners.trim_matches('"').parse().unwrap()
    }

    fn config(&self, socks: SocketAddr) -> SystemTorConfig {
        SystemTorConfig {
            socks,
            control: self.control,
            connect_timeout: TIMEOUT,
            control_timeout: TIMEOUT,
            ..SystemTorConfig::default()
        }
    }

    /// Kills tor (by pid) and waits for it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn some_onion() -> OnionAddr {
    "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083"
        .parse()
        .unwrap()
}

#[tokio::test]
async fn authenticates_with_cookie_safecookie_and_password_and_answers_getinfo() {
    let tor = Tor::offline();

    let mut control = tor.connect().await;
    let info = control.protocol_info().await.unwrap();
    for method in [
        AuthMethod::Cookie,
        AuthMethod::SafeCookie,
        AuthMethod::HashedPassword,
    ] {
        assert!(info.auth_methods.contains(&method), "{info:?}");
    }
    assert_eq!(
        info.cookie_file.as_deref(),
        Some(tor.cookie_file().as_path())
    );
    assert!(
        info.tor_version.as_deref().unwrap().starts_with("0.4."),
        "{info:?}"
    );
    control
        .authenticate_cookie(&tor.cookie_file())
        .await
        .unwrap();
    let values = control
        .get_info(&["version", "status/bootstrap-phase"])
        .await
        .unwrap();
    assert_eq!(values[0].0, "version");
    assert_eq!(Some(&values[0].1), info.tor_version.as_ref());
    assert!(values[1].1.contains("BOOTSTRAP PROGRESS="), "{values:?}");
    // A multi-line (data) value.
    let config = control.get_info_one("config-text").await.unwrap();
    assert!(
        config.lines().any(|line| line == "DisableNetwork 1"),
        "{config}"
    );
    // A refusal is an error, and the connection goes on.
    let error = control.get_info(&["no/such/key"]).await.unwrap_err();
    assert_eq!(error.status(), Some(552));
    assert!(error.to_string().contains("GETINFO no/such/key"), "{error}");
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::NotFound);
    assert!(control.get_info_one("version").await.is_ok());
    // Arguments that could smuggle a second command are refused before sending.
    let error = control
        .get_info(&["version\r\nSIGNAL HALT"])
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::InvalidArgument(_)),
        "{error}"
    );

    let mut control = tor.connect().await;
    control.protocol_info().await.unwrap();
    control
        .authenticate_safecookie(&tor.cookie_file())
        .await
        .unwrap();
    assert!(control.get_info_one("version").await.is_ok());

    let mut control = tor.connect().await;
    assert_eq!(
        control.authenticate(&ControlAuth::Auto).await.unwrap(),
        AuthMethod::SafeCookie
    );

    let mut control = tor.connect().await;
    let auth = ControlAuth::Password(Password::new(PASSWORD));
    assert_eq!(
        control.authenticate(&auth).await.unwrap(),
        AuthMethod::HashedPassword
    );
    assert!(control.get_info_one("version").await.is_ok());

    // Wrong secrets: tor answers 515 (and closes); the error never shows the secret.
    let mut control = tor.connect().await;
    let error = control
        .authenticate(&ControlAuth::Password(Password::new("wrong horse")))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(515));
    let text = error.to_string();
    assert!(
        text.contains(&tor.control.to_string()) && text.contains("AUTHENTICATE"),
        "{text}"
    );
    assert!(!text.contains("wrong horse"), "{text}");
    assert_eq!(
        io::Error::from(error).kind(),
        io::ErrorKind::PermissionDenied
    );

    let stale = tor.dir.path().join("stale_cookie");
    std::fs::write(&stale, [7u8; 32]).unwrap();
    let mut control = tor.connect().await;
    let error = control.authenticate_cookie(&stale).await.unwrap_err();
    assert_eq!(error.status(), Some(515), "{error}");
    // SAFECOOKIE with the wrong cookie: tor's proof does not check out, nothing is sent.
    let mut control = tor.connect().await;
    let error = control.authenticate_safecookie(&stale).await.unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::ServerHashMismatch),
        "{error}"
    );
    let error = control
        .authenticate_cookie(&tor.dir.path().join("missing"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

#[tokio::test]
async fn add_onion_with_new_and_given_keys_gives_the_address_the_key_computes() {
    let tor = Tor::offline();
    let mut control = tor.authenticated().await;
    control.set_events(&["HS_DESC"]).await.unwrap();
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();

    // A key made by tor.
    let added = control.add_onion(None, &[(80, target)]).await.unwrap();
    let key = added.key.clone().expect("tor returns the key it made");
    assert_eq!(key.onion_addr(80), added.onion);
    assert_eq!(added.onion.port(), 80);
    let id = service_id(&added.onion);
    let current = control.get_info_one("onions/current").await.unwrap();
    assert!(current.lines().any(|line| line == id), "{current}");
    // DisableNetwork: no descriptor is ever uploaded, so waiting times out, clearly.
    let error = control
        .wait_for_upload(&added.onion, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::Timeout(_)),
        "{error}"
    );
    assert!(error.to_string().contains(&id), "{error}");

    control.del_onion(&added.onion).await.unwrap();
    let current = control.get_info_one("onions/current").await.unwrap();
    assert!(!current.contains(&id), "{current}");
    let error = control.del_onion(&added.onion).await.unwrap_err();
    assert_eq!(error.status(), Some(552), "{error}");

    // The same key, given back: the same service.
    let again = control
        .add_onion(Some(&key), &[(80, target)])
        .await
        .unwrap();
    assert_eq!(again.onion, added.onion);
    assert!(again.key.is_none());

    // A key made here, with two ports.
    let ours = OnionKey::generate();
    let added = control
        .add_onion(Some(&ours), &[(18083, target), (18084, target)])
        .await
        .unwrap();
    assert_eq!(added.onion, ours.onion_addr(18083));
    let current = control.get_info_one("onions/current").await.unwrap();
    assert_eq!(current.lines().count(), 2, "{current}");

    // Another connection cannot run the same service at the same time.
    let mut other = tor.authenticated().await;
    let error = other
        .add_onion(Some(&ours), &[(1, target)])
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(550), "{error}");
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::AddrInUse);
    // Services belong to the connection that made them.
    assert_eq!(other.get_info_one("onions/current").await.unwrap(), "");
}

#[tokio::test]
async fn the_listener_holds_the_onion_service_and_it_vanishes_when_dropped() {
    let tor = Tor::offline();
    let transport = SystemTor::new(tor.config(closed_port()));
    let (mut listener, key) = transport.listen_new(18083).await.unwrap();
    let onion = listener.onion();
    assert_eq!(onion, key.onion_addr(18083));
    assert_eq!(listener.local_addr().unwrap(), TorAddr::Onion(onion));
    assert!(listener.local_socket().unwrap().ip().is_loopback());

    // The service exists: tor refuses to make it a second time.
    let mut probe = tor.authenticated().await;
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let error = probe
        .add_onion(Some(&key), &[(1, target)])
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(550), "{error}");

    // What tor delivers to the local socket comes out as an inbound connection.
    let mut client = TcpStream::connect(listener.local_socket().unwrap())
        .await
        .unwrap();
    client.write_all(b"hi").await.unwrap();
    let (mut reader, _writer, from) = tokio::time::timeout(TIMEOUT, listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(from, TorAddr::Inbound(_)), "{from}");
    let mut hi = [0; 2];
    reader.read_exact(&mut hi).await.unwrap();
    assert_eq!(&hi, b"hi");

    // No network: never published, and waiting says so in time.
    let error = listener
        .wait_published(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(listener.state(), ServiceState::Starting);

    // Dropping the listener closes its control connection: tor removes the service, so
    // it can be made again.
    drop(listener);
    let started = Instant::now();
    let added = loop {
        match probe.add_onion(Some(&key), &[(1, target)]).await {
            Ok(added) => break added,
            Err(error) => assert_eq!(error.status(), Some(550), "{error}"),
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "the service outlived its listener"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    probe.del_onion(&added.onion).await.unwrap();

    // Transport::listen with the configured key, on its own address only.
    let config = SystemTorConfig {
        onion_key: Some(key.clone()),
        ..tor.config(closed_port())
    };
    let transport = SystemTor::new(config.clone());
    let listener = transport.listen(&TorAddr::Onion(onion)).await.unwrap();
    assert_eq!(listener.onion(), onion);
    let other = OnionKey::generate().onion_addr(18083);
    let error = transport.listen(&TorAddr::Onion(other)).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("configured onion key is for"),
        "{error}"
    );
    let error = transport
        .listen(&TorAddr::next_inbound())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let exposed = SystemTor::new(SystemTorConfig {
        inbound_bind: "0.0.0.0:0".parse().unwrap(),
        ..config
    });
    let error = exposed.listen_new(1).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("not a loopback address"),
        "{error}"
    );
}

#[tokio::test]
async fn dialling_through_a_tor_that_cannot_reach_the_network_fails_clearly() {
    let tor = Tor::stranded();
    let socks = tor.socks().await;

    // Our timeout first (tor's SocksTimeout is 2 s): the error names the step it reached,
    // so the isolating username/password went through with a real tor.
    let transport = SystemTor::new(SystemTorConfig {
        connect_timeout: Duration::from_millis(700),
        ..tor.config(socks)
    });
    let peer = TorAddr::Onion(some_onion());
    let started = Instant::now();
    let error = transport.dial(&peer).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    let text = error.to_string();
    assert!(text.contains("did not finish the CONNECT step"), "{text}");
    assert!(
        text.contains(&socks.to_string()) && text.contains("2gzyxa5i"),
        "{text}"
    );

    // Tor's own answer when it gives up (TTL expired, after SocksTimeout).
    let transport = SystemTor::new(tor.config(socks));
    let started = Instant::now();
    let error = transport.dial(&peer).await.unwrap_err();
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    let socks_error = error
        .get_ref()
        .unwrap()
        .downcast_ref::<SocksError>()
        .unwrap();
    assert!(socks_error.reply_code().is_some(), "{error}");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");

    // A bad onion name: tor's extended code, at once.
    let proxy = Socks5Proxy::new(socks);
    let target = TargetAddr::domain("aaaa.onion", 80).unwrap();
    let error = io::Error::from(proxy.connect(&target, None).await.unwrap_err());
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("invalid onion address (0xF6)"),
        "{error}"
    );

    // Inbound addresses cannot be dialled.
    let error = transport.dial(&TorAddr::next_inbound()).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn when_tor_dies_the_listener_ends_with_an_error_and_dialling_fails_clearly() {
    let mut tor = Tor::stranded();
    let socks = tor.socks().await;
    let transport = SystemTor::new(tor.config(socks));
    let (mut listener, _key) = transport.listen_new(18083).await.unwrap();
    // The SOCKS port answers while tor runs.
    let target = TargetAddr::domain("aaaa.onion", 80).unwrap();
    let error = Socks5Proxy::new(socks)
        .connect(&target, None)
        .await
        .unwrap_err();
    assert!(error.reply_code().is_some(), "{error}");

    tor.kill();

    let item = tokio::time::timeout(TIMEOUT, listener.next())
        .await
        .expect("the listener noticed tor's death in time");
    let error = item.expect("an error item, not a silent end").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
    assert!(error.to_string().contains("is gone"), "{error}");
    assert!(listener.next().await.is_none());
    assert!(matches!(listener.state(), ServiceState::Gone(_)));
    let error = listener.wait_published(TIMEOUT).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);

    let error = transport
        .dial(&TorAddr::Onion(some_onion()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    let text = error.to_string();
    assert!(
        text.contains(&format!("SOCKS5 proxy {socks}")) && text.contains("could not reach"),
        "{text}"
    );
    let error = transport.listen_new(1).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    assert!(
        error.to_string().contains(&tor.control.to_string()),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// Scripted fakes
// ---------------------------------------------------------------------------------------

/// A SOCKS proxy that accepts any credentials, reports what it was offered, and connects
/// nowhere.
async fn recording_proxy(connections: usize) -> (SocketAddr, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(connections);
    tokio::spawn(async move {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut greeting = [0; 3];
            stream.read_exact(&mut greeting).await.unwrap();
            let mut seen = Vec::new();
            if greeting[2] == 2 {
                stream.write_all(&[5, 2]).await.unwrap();
                let mut head = [0; 2];
                stream.read_exact(&mut head).await.unwrap();
                let mut username = vec![0; usize::from(head[1])];
                stream.read_exact(&mut username).await.unwrap();
                let mut plen = [0; 1];
                stream.read_exact(&mut plen).await.unwrap();
                let mut password = vec![0; usize::from(plen[0])];
                stream.read_exact(&mut password).await.unwrap();
                seen = username;
                stream.write_all(&[1, 0]).await.unwrap();
            } else {
                stream.write_all(&[5, 0]).await.unwrap();
            }
            let mut head = [0; 5];
            stream.read_exact(&mut head).await.unwrap();
            let rest = match head[3] {
                1 => 4 - 1 + 2,
                4 => 16 - 1 + 2,
                _ => usize::from(head[4]) + 2,
            };
            stream.read_exact(&mut vec![0; rest]).await.unwrap();
            stream
                .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
            tx.send(seen).await.unwrap();
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn every_peer_gets_its_own_socks_credentials_and_the_same_peer_the_same() {
    let (socks, mut seen) = recording_proxy(5).await;
    let transport = SystemTor::new(SystemTorConfig {
        socks,
        ..SystemTorConfig::default()
    });
    let a = TorAddr::Onion(some_onion());
    let b = TorAddr::Onion(some_onion().with_port(18084));
    let c = TorAddr::Onion(OnionKey::generate().onion_addr(18083));
    let mut users = Vec::new();
    for peer in [&a, &a, &b, &c] {
        transport.dial(peer).await.unwrap();
        users.push(seen.recv().await.unwrap());
    }
    assert!(!users[0].is_empty());
    assert_eq!(users[0], users[1], "the same peer may share a circuit");
    assert_ne!(users[0], users[2], "another port is another peer");
    assert_ne!(users[0], users[3]);
    assert_ne!(users[2], users[3]);
    // Another transport (another secret) never shares credentials with this one.
    let (socks2, mut seen2) = recording_proxy(2).await;
    let other = SystemTor::new(SystemTorConfig {
        socks: socks2,
        ..SystemTorConfig::default()
    });
    other.dial(&a).await.unwrap();
    assert_ne!(seen2.recv().await.unwrap(), users[0]);
    // Without isolation: no authentication offered at all.
    let plain = SystemTor::new(SystemTorConfig {
        socks,
        isolate_streams: false,
        ..SystemTorConfig::default()
    });
    plain.dial(&a).await.unwrap();
    assert!(seen.recv().await.unwrap().is_empty());
    // connect_socket goes through the proxy as well.
    other
        .connect_socket("10.9.8.7:443".parse().unwrap())
        .await
        .unwrap();
    assert!(!seen2.recv().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_proxy_never_falls_back_to_a_direct_connection() {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let transport = SystemTor::new(SystemTorConfig {
        socks: closed_port(),
        ..SystemTorConfig::default()
    });
    let error = transport
        .connect_socket(target.local_addr().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), target.accept())
            .await
            .is_err(),
        "something connected to the target directly"
    );
}

/// A fake control port: answers each line it reads with the next scripted reply, then
/// stays silent; returns the lines it read once the client closes.
async fn scripted_control(
    replies: Vec<&'static str>,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let mut lines = Vec::new();
        let mut replies = replies.into_iter();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return lines;
            }
            lines.push(line.trim_end().to_owned());
            // Past the script: silence (the connection stays open).
            if let Some(reply) = replies.next() {
                writer.write_all(reply.as_bytes()).await.unwrap();
            }
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_control_port_that_fakes_safecookie_never_gets_our_proof() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join("cookie");
    std::fs::write(&cookie, [1u8; 32]).unwrap();
    let protocolinfo: &'static str = Box::leak(
        format!(
            "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=SAFECOOKIE COOKIEFILE=\"{}\"\r\n250 OK\r\n",
            cookie.display()
        )
        .into_boxed_str(),
    );
    let challenge = "250 AUTHCHALLENGE SERVERHASH=0000000000000000000000000000000000000000000000000000000000000000 SERVERNONCE=1111111111111111111111111111111111111111111111111111111111111111\r\n";
    let (addr, server) = scripted_control(vec![protocolinfo, challenge]).await;
    let mut control = ControlConnection::connect(addr, TIMEOUT).await.unwrap();
    let error = control.authenticate(&ControlAuth::Auto).await.unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::ServerHashMismatch),
        "{error}"
    );
    assert_eq!(
        io::Error::from(error).kind(),
        io::ErrorKind::PermissionDenied
    );
    // Refuses further use.
    let error = control.get_info_one("version").await.unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::Unusable(_)),
        "{error}"
    );
    drop(control);
    let lines = server.await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("AUTHCHALLENGE SAFECOOKIE "),
        "{lines:?}"
    );
}

#[tokio::test]
async fn events_before_a_reply_are_kept_and_a_silent_tor_times_out() {
    let (addr, server) = scripted_control(vec![
        "250 OK\r\n",
        "650 HS_DESC UPLOADED abc NO_AUTH $X\r\n650 STATUS_CLIENT NOTICE X\r\n250-version=1.2\r\n250 OK\r\n",
    ])
    .await;
    let mut control = ControlConnection::connect(addr, Duration::from_millis(300))
        .await
        .unwrap();
    control.authenticate_null().await.unwrap();
    assert_eq!(control.get_info_one("version").await.unwrap(), "1.2");
    let event = control.next_event().await.unwrap();
    assert!(
        event.end_text().starts_with("HS_DESC UPLOADED abc"),
        "{event:?}"
    );
    assert!(
        control
            .next_event()
            .await
            .unwrap()
            .end_text()
            .starts_with("STATUS_CLIENT")
    );
    // The script is over: the fake stops answering, and the command times out.
    let started = Instant::now();
    let error = control.get_info_one("version").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(error.kind, ControlErrorKind::Timeout(_)),
        "{error}"
    );
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::TimedOut);
    // A late reply could be taken for the next command's: the connection refuses more.
    let error = control.get_info_one("version").await.unwrap_err();
    assert!(
        matches!(error.kind, ControlErrorKind::Unusable(_)),
        "{error}"
    );
    drop(control);
    assert_eq!(server.await.unwrap().len(), 3);
}

#[test]
fn tor_is_installed_where_the_tests_expect_it() {
    assert!(
        Path::new(TOR).exists(),
        "{TOR} is missing (Debian package tor)"
    );
}
