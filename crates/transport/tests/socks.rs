//! The SOCKS5 client against scripted fake proxies on 127.0.0.1: what it sends, what it
//! makes of every reply, and that a proxy answering garbage, closing early or stalling
//! gives a clear error in time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    future::Future,
    io,
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use umbra_transport::socks::{
    self, BoundAddr, Credentials, ReplyCode, Socks5Proxy, SocksError, TargetAddr,
};

/// A proxy that runs `script` on each of its first `connections` connections.
async fn fake_proxy<F, Fut>(connections: usize, script: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.unwrap();
            script(stream).await;
        }
    });
    (addr, task)
}

fn proxy(addr: SocketAddr) -> Socks5Proxy {
    Socks5Proxy {
        addr,
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(2),
    }
}

async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

fn onion_target() -> TargetAddr {
    TargetAddr::domain(
        "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
        18083,
    )
    .unwrap()
}

fn socks_error(error: &io::Error) -> &SocksError {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SocksError>())
        .expect("a SocksError inside")
}

const SUCCESS_V4: [u8; 10] = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

#[tokio::test]
async fn sends_names_unresolved_and_leaves_the_targets_first_bytes_in_the_stream() {
    let (addr, server) = fake_proxy(1, |mut stream| async move {
        assert_eq!(read_n(&mut stream, 3).await, [5, 1, 0]);
        // Byte by byte: the client must cope with any fragmentation.
        for b in [5u8, 0] {
            stream.write_all(&[b]).await.unwrap();
        }
        let name = b"no-such-host.invalid";
        let mut expected = vec![5, 1, 0, 3, name.len() as u8];
        expected.extend_from_slice(name);
        expected.extend_from_slice(&443u16.to_be_bytes());
        // The name comes as a name (address type 3): nothing resolved it locally.
        assert_eq!(read_n(&mut stream, expected.len()).await, expected);
        // The reply and the target's first bytes in one write.
        let mut reply = SUCCESS_V4.to_vec();
        reply.extend_from_slice(b"hello");
        stream.write_all(&reply).await.unwrap();
        assert_eq!(read_n(&mut stream, 4).await, b"ping");
    })
    .await;
    let target = TargetAddr::domain("no-such-host.invalid", 443).unwrap();
    let mut stream = proxy(addr).connect(&target, None).await.unwrap();
    let mut hello = [0; 5];
    stream.read_exact(&mut hello).await.unwrap();
    assert_eq!(&hello, b"hello");
    stream.write_all(b"ping").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn negotiates_username_and_password_and_reports_the_bound_address() {
    let (addr, server) = fake_proxy(1, |mut stream| async move {
        // With credentials only username/password is offered (no silent downgrade).
        assert_eq!(read_n(&mut stream, 3).await, [5, 1, 2]);
        stream.write_all(&[5, 2]).await.unwrap();
        assert_eq!(read_n(&mut stream, 12).await, b"\x01\x04peer\x05token");
        stream.write_all(&[1, 0]).await.unwrap();
        let request = read_n(&mut stream, 10).await;
        assert_eq!(request, [5, 1, 0, 1, 10, 1, 2, 3, 0x4a, 0x38]);
        stream
            .write_all(b"\x05\x00\x00\x03\x09relay.lan\x12\x34")
            .await
            .unwrap();
    })
    .await;
    let credentials = Credentials::new(b"peer".to_vec(), b"token".to_vec()).unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let target = TargetAddr::Ip("10.1.2.3:19000".parse().unwrap());
    let bound = socks::connect(&mut stream, &target, Some(&credentials))
        .await
        .unwrap();
    assert_eq!(bound, BoundAddr::Domain(b"relay.lan".to_vec(), 0x1234));
    server.await.unwrap();
}

#[tokio::test]
async fn a_refused_password_or_method_is_permission_denied() {
    let (addr, server) = fake_proxy(2, |mut stream| async move {
        let greeting = read_n(&mut stream, 3).await;
        if greeting[2] == 2 {
            stream.write_all(&[5, 2]).await.unwrap();
            read_n(&mut stream, 5).await;
            stream.write_all(&[1, 1]).await.unwrap();
        } else {
            stream.write_all(&[5, 0xFF]).await.unwrap();
        }
    })
    .await;
    let credentials = Credentials::new(b"u".to_vec(), b"p".to_vec()).unwrap();
    let error = io::Error::from(
        proxy(addr)
            .connect(&onion_target(), Some(&credentials))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert!(
        error.to_string().contains("refused the username/password"),
        "{error}"
    );
    let error = io::Error::from(
        proxy(addr)
            .connect(&onion_target(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert!(error.to_string().contains("none of the offered"), "{error}");
    server.await.unwrap();
}

#[tokio::test]
async fn every_reply_code_is_spelled_out_with_a_fitting_error_kind() {
    use io::ErrorKind as K;
    let cases = [
        (0x01, K::Other, "general SOCKS server failure"),
        (0x02, K::PermissionDenied, "not allowed"),
        (0x03, K::NetworkUnreachable, "network unreachable"),
        (0x04, K::HostUnreachable, "host unreachable"),
        (0x05, K::ConnectionRefused, "connection refused"),
        (0x06, K::TimedOut, "TTL expired"),
        (0x07, K::Unsupported, "command not supported"),
        (0x08, K::Unsupported, "address type not supported"),
        (0xF0, K::NotFound, "descriptor not found"),
        (0xF1, K::HostUnreachable, "descriptor is invalid"),
        (0xF2, K::HostUnreachable, "introduction failed"),
        (0xF3, K::HostUnreachable, "rendezvous failed"),
        (0xF4, K::PermissionDenied, "needs client authorisation"),
        (
            0xF5,
            K::PermissionDenied,
            "refused the client authorisation",
        ),
        (0xF6, K::InvalidInput, "invalid onion address"),
        (0xF7, K::TimedOut, "introduction timed out"),
        (0x42, K::Other, "unknown reply code"),
    ];
    let codes: Vec<u8> = cases.iter().map(|c| c.0).collect();
    let codes = std::sync::Arc::new(std::sync::Mutex::new(codes.into_iter()));
    let (addr, server) = fake_proxy(cases.len(), move |mut stream| {
        let code = codes.lock().unwrap().next().unwrap();
        async move {
            read_n(&mut stream, 3).await;
            stream.write_all(&[5, 0]).await.unwrap();
            read_n(&mut stream, 7 + 62).await;
            // Tor's error replies: the code and a zero IPv4 address.
            stream
                .write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
        }
    })
    .await;
    for (code, kind, words) in cases {
        let error = proxy(addr)
            .connect(&onion_target(), None)
            .await
            .unwrap_err();
        assert_eq!(error.reply_code(), Some(ReplyCode::from_byte(code)));
        let error = io::Error::from(error);
        assert_eq!(error.kind(), kind, "0x{code:02X}");
        let text = error.to_string();
        assert!(text.contains(words), "{text}");
        assert!(text.contains(&format!("0x{code:02X}")), "{text}");
        // Names the proxy and the target.
        assert!(text.contains(&addr.to_string()), "{text}");
        assert!(text.contains("2gzyxa5ihm7nsggf"), "{text}");
        assert_eq!(
            socks_error(&error).reply_code(),
            Some(ReplyCode::from_byte(code))
        );
    }
    server.await.unwrap();
}

/// A proxy that reads the greeting (and, after choosing username/password, the
/// credentials and the request), then answers `reply` and lingers.
async fn answering(reply: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
    fake_proxy(1, move |mut stream| async move {
        read_n(&mut stream, 3).await;
        stream.write_all(reply).await.unwrap();
        // Linger so the client sees the garbage, not a close.
        let _ = stream.read(&mut [0; 128]).await;
    })
    .await
}

#[tokio::test]
async fn garbage_from_the_proxy_is_invalid_data() {
    let credentials = Credentials::new(b"u".to_vec(), b"p".to_vec()).unwrap();
    let cases: [(&'static [u8], Option<&Credentials>, &str); 4] = [
        // An HTTP server where the proxy should be.
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            None,
            "version byte 0x48, not 0x05",
        ),
        // A method that was not offered.
        (
            &[5, 2],
            None,
            "chose authentication method 0x02, which was not offered",
        ),
        // A username/password reply of the wrong version.
        (
            &[5, 2, 5, 0],
            Some(&credentials),
            "version byte 0x05, not 0x01",
        ),
        // A CONNECT reply with an address type that does not exist.
        (
            &[5, 0, 5, 0, 0, 9, 0, 0, 0],
            None,
            "unknown address type 0x09",
        ),
    ];
    for (reply, credentials, words) in cases {
        let (addr, server) = answering(reply).await;
        let error = proxy(addr)
            .connect(&onion_target(), credentials)
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains(words), "{text}");
        assert!(text.contains(&addr.to_string()), "{text}");
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::InvalidData);
        server.abort();
    }
}

#[tokio::test]
async fn a_proxy_that_closes_early_is_unexpected_eof() {
    let (addr, server) = fake_proxy(1, |mut stream| async move {
        read_n(&mut stream, 3).await;
    })
    .await;
    let error = proxy(addr)
        .connect(&onion_target(), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("closed the connection during its method selection reply (0 bytes"),
        "{text}"
    );
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::UnexpectedEof);
    server.await.unwrap();

    let (addr, server) = fake_proxy(1, |mut stream| async move {
        read_n(&mut stream, 3).await;
        stream.write_all(&[5, 0]).await.unwrap();
        read_n(&mut stream, 69).await;
        stream.write_all(&[5, 0, 0, 1, 127]).await.unwrap();
    })
    .await;
    let error = proxy(addr)
        .connect(&onion_target(), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("during its CONNECT reply (5 bytes of it received)"),
        "{text}"
    );
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::UnexpectedEof);
    server.await.unwrap();
}

#[tokio::test]
async fn a_stalling_proxy_times_out_at_the_handshake_timeout() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stalled_tx, mut stalled_rx) = tokio::sync::mpsc::channel::<TcpStream>(2);
    let (addr, server) = fake_proxy(2, move |mut stream| {
        let first = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
        let stalled_tx = stalled_tx.clone();
        async move {
            read_n(&mut stream, 3).await;
            // The first connection gets no reply at all; the second its method selection,
            // then silence.
            if !first {
                stream.write_all(&[5, 0]).await.unwrap();
            }
            // Keep the connection open (a stall, not a close).
            stalled_tx.send(stream).await.unwrap();
        }
    })
    .await;
    let quick = Socks5Proxy {
        handshake_timeout: Duration::from_millis(300),
        ..proxy(addr)
    };
    for stage in ["method selection", "CONNECT"] {
        let started = Instant::now();
        let error = quick.connect(&onion_target(), None).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let text = error.to_string();
        assert!(
            text.contains(&format!("did not finish the {stage} step within 300ms")),
            "{text}"
        );
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::TimedOut);
    }
    server.await.unwrap();
    stalled_rx.close();
}

#[tokio::test]
async fn an_unreachable_proxy_is_refused_and_named() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = proxy(addr)
        .connect(&onion_target(), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("SOCKS5 proxy {addr}")) && text.contains("could not reach"),
        "{text}"
    );
    assert_eq!(
        io::Error::from(error).kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[test]
fn a_name_socks_cannot_carry_is_refused_before_any_connection() {
    let error = TargetAddr::domain("x".repeat(300), 80).unwrap_err();
    assert!(error.to_string().contains("300 bytes"), "{error}");
}
