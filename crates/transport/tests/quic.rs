//! QUIC between Umbra peers: keys bound to connections, streams sharing a connection, and
//! the peers that must be refused.

#![cfg(feature = "quic")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Transport,
    quic::{QuicConfig, QuicError, QuicListener, QuicTransport},
};

/// Every wait in these tests is bounded: a hang is a failure, not a stuck CI job.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over 10 s"))
}

/// Polls `check` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not after 5 s");
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn client_config() -> QuicConfig {
    QuicConfig {
        bind: localhost(),
        ..QuicConfig::default()
    }
}

async fn listening(
    identity: &Identity,
    config: QuicConfig,
) -> (QuicTransport, QuicListener, Keyed<SocketAddr>) {
    let transport = QuicTransport::new(identity, config).unwrap();
    let listener = transport
        .listen(&Keyed::new(localhost(), identity.public()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    (transport, listener, addr)
}

#[tokio::test]
async fn dial_and_listen_carry_bytes_both_ways_and_the_listener_learns_the_key() {
    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    assert_eq!(alice_at.key, alice.public());
    assert_eq!(Some(alice_at.addr), server.local_addr());

    let bob = Identity::generate();
    let client = QuicTransport::new(&bob, client_config()).unwrap();
    let (mut reader, mut writer) = within("dial", client.dial(&alice_at)).await.unwrap();
    writer.write_all(b"ping").await.unwrap();

    let (mut their_reader, mut their_writer, from) =
        within("accept", listener.next()).await.unwrap().unwrap();
    assert_eq!(from.key, bob.public());
    assert_eq!(Some(from.addr), client.local_addr());
    let mut buf = [0u8; 4];
    within("read", their_reader.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"ping");
    their_writer.write_all(b"pong").await.unwrap();
    their_writer.shutdown().await.unwrap();

    let mut answer = Vec::new();
    within("read", reader.read_to_end(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, b"pong");

    // The dialler's end of its writer is the listener's end of file.
    writer.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within("eof", their_reader.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_dialler_that_reads_first_is_still_seen_by_the_listener() {
    let alice = Identity::generate();
    let (_server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let (mut reader, _writer) = client.dial(&alice_at).await.unwrap();
    // The dialler writes nothing: only the stream-open byte announces the stream.
    let (_their_reader, mut their_writer, _) =
        within("accept", listener.next()).await.unwrap().unwrap();
    their_writer.write_all(b"hello first").await.unwrap();
    let mut buf = [0u8; 11];
    within("read", reader.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hello first");
}

#[tokio::test]
async fn dialling_the_wrong_key_is_refused_and_the_error_names_both_keys() {
    let alice = Identity::generate();
    let (server, _listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let mallory_expected = Identity::generate().public();
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();

    let error = within(
        "dial",
        client.dial(&Keyed::new(alice_at.addr, mallory_expected)),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    let text = error.to_string();
    assert!(text.contains(&mallory_expected.to_string()), "{text}");
    assert!(text.contains(&alice.public().to_string()), "{text}");
    match error.get_ref().and_then(|e| e.downcast_ref::<QuicError>()) {
        Some(QuicError::WrongKey {
            expected,
            presented,
            addr,
        }) => {
            assert_eq!(**expected, mallory_expected);
            assert_eq!(**presented, alice.public());
            assert_eq!(*addr, alice_at.addr);
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert_eq!(client.stats().connections_dialled, 0);
    assert_eq!(client.stats().cached_connections, 0);

    // The right key still works afterwards, from the same transport.
    within("dial", client.dial(&alice_at)).await.unwrap();
    assert_eq!(client.stats().connections_dialled, 1);
    eventually("server saw the refused handshake", || {
        server.stats().handshakes_failed == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dials_to_one_peer_are_streams_over_one_connection() {
    const STREAMS: usize = 16;
    const BYTES: usize = 256 * 1024;

    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    // Echo every stream back, each in its own task.
    let echo = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..STREAMS {
            let (mut reader, mut writer, _) = listener.next().await.unwrap().unwrap();
            tasks.push(tokio::spawn(async move {
                tokio::io::copy(&mut reader, &mut writer).await.unwrap();
                writer.shutdown().await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        listener
    });

    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let dials = (0..STREAMS).map(|i| {
        let client = client.clone();
        let alice_at = alice_at.clone();
        tokio::spawn(async move {
            let (mut reader, mut writer) = client.dial(&alice_at).await.unwrap();
            let payload: Vec<u8> = (0..BYTES).map(|j| (i * 31 + j % 251) as u8).collect();
            let expected = payload.clone();
            let send = tokio::spawn(async move {
                writer.write_all(&payload).await.unwrap();
                writer.shutdown().await.unwrap();
            });
            let mut echoed = Vec::with_capacity(BYTES);
            reader.read_to_end(&mut echoed).await.unwrap();
            send.await.unwrap();
            assert!(echoed == expected, "stream {i} echoed other bytes");
        })
    });
    within("all streams", futures::future::try_join_all(dials))
        .await
        .unwrap();
    let _listener = within("echo", echo).await.unwrap();

    let stats = client.stats();
    assert_eq!(stats.connections_dialled, 1, "{stats:?}");
    assert_eq!(stats.streams_opened, STREAMS as u64, "{stats:?}");
    assert_eq!(stats.cached_connections, 1, "{stats:?}");
    assert_eq!(stats.open_connections, 1, "{stats:?}");
    let stats = server.stats();
    assert_eq!(stats.connections_accepted, 1, "{stats:?}");
    assert_eq!(stats.streams_accepted, STREAMS as u64, "{stats:?}");
    assert_eq!(stats.serving_connections, 1, "{stats:?}");
}

#[tokio::test]
async fn a_peer_that_went_away_is_dialled_on_a_fresh_connection() {
    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let (_reader, mut writer) = client.dial(&alice_at).await.unwrap();
    writer.write_all(b"1").await.unwrap();
    let first = within("accept", listener.next()).await.unwrap().unwrap();
    assert_eq!(client.stats().cached_connections, 1);

    // Alice goes away (closing, so her peers hear of it at once) and comes back on the same
    // address with the same key. (Her streams hold her socket: drop them too.)
    drop((first, listener));
    within("close", server.close()).await;
    drop(server);
    eventually("the client dropped the dead connection", || {
        client.stats().cached_connections == 0
    })
    .await;
    let mut relisten = None;
    for _ in 0..100 {
        let server = QuicTransport::new(&alice, QuicConfig::default()).unwrap();
        match server.listen(&alice_at).await {
            Ok(listener) => {
                relisten = Some((server, listener));
                break;
            }
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }
    let (_server, mut listener) = relisten.expect("the port was not freed");

    let (mut reader, mut writer) = within("dial", client.dial(&alice_at)).await.unwrap();
    writer.write_all(b"2").await.unwrap();
    let (_, mut their_writer, _) = within("accept", listener.next()).await.unwrap().unwrap();
    their_writer.write_all(b"back").await.unwrap();
    let mut buf = [0u8; 4];
    within("read", reader.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"back");
    assert_eq!(client.stats().connections_dialled, 2);
}

#[tokio::test]
async fn data_a_listener_wrote_just_before_dropping_everything_still_arrives() {
    const BYTES: usize = 4 << 20;
    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let (mut reader, _writer) = client.dial(&alice_at).await.unwrap();
    let (_, mut their_writer, _) = within("accept", listener.next()).await.unwrap().unwrap();
    // Alice writes a reply bigger than any window, then drops the stream, her listener
    // and her transport at once: closing the connection now would lose the tail.
    let reply = vec![7u8; BYTES];
    let write = tokio::spawn(async move {
        their_writer.write_all(&reply).await.unwrap();
        drop((their_writer, listener, server));
    });
    let mut got = Vec::with_capacity(BYTES);
    within("read", reader.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got.len(), BYTES);
    within("write", write).await.unwrap();
}

#[tokio::test]
async fn data_a_dialler_wrote_just_before_dropping_everything_still_arrives() {
    const BYTES: usize = 4 << 20;
    let alice = Identity::generate();
    let (_server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let (reader, mut writer) = client.dial(&alice_at).await.unwrap();
    let write = tokio::spawn(async move {
        writer.write_all(&vec![9u8; BYTES]).await.unwrap();
        drop((reader, writer, client));
    });
    let (mut their_reader, _, _) = within("accept", listener.next()).await.unwrap().unwrap();
    let mut got = Vec::with_capacity(BYTES);
    within("read", their_reader.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got.len(), BYTES);
    within("write", write).await.unwrap();
}

#[tokio::test]
async fn a_connection_without_streams_closes_after_the_linger() {
    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let client = QuicTransport::new(
        &Identity::generate(),
        QuicConfig {
            linger: Duration::from_millis(100),
            ..client_config()
        },
    )
    .unwrap();
    let (reader, writer) = client.dial(&alice_at).await.unwrap();
    let accepted = within("accept", listener.next()).await.unwrap().unwrap();
    // While the stream is open the connection stays, whatever the linger.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.stats().cached_connections, 1);
    drop((reader, writer, accepted));
    eventually("the idle connection closed", || {
        client.stats().cached_connections == 0 && server.stats().serving_connections == 0
    })
    .await;
}

#[tokio::test]
async fn the_listener_limits_streams_and_connections() {
    let alice = Identity::generate();
    let (_server, mut listener, alice_at) = listening(
        &alice,
        QuicConfig {
            max_concurrent_streams: 2,
            max_connections: 1,
            ..QuicConfig::default()
        },
    )
    .await;
    let client = QuicTransport::new(
        &Identity::generate(),
        QuicConfig {
            open_stream_timeout: Duration::from_millis(200),
            ..client_config()
        },
    )
    .unwrap();
    let first = client.dial(&alice_at).await.unwrap();
    let second = client.dial(&alice_at).await.unwrap();
    let error = within("third dial", client.dial(&alice_at))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    // A stream that ends gives its credit back.
    let (_r, _w, _) = within("accept", listener.next()).await.unwrap().unwrap();
    drop(first);
    drop(_r);
    drop(_w);
    within("dial after a stream ended", async {
        loop {
            if client.dial(&alice_at).await.is_ok() {
                break;
            }
        }
    })
    .await;

    // One connection is served; a second peer is refused before its handshake.
    let other = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let error = within("refused dial", other.dial(&alice_at))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    drop(second);
}

#[tokio::test]
async fn listen_needs_our_own_key_and_one_listener_at_a_time() {
    let alice = Identity::generate();
    let (server, listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    let foreign = Keyed::new(alice_at.addr, Identity::generate().public());
    assert_eq!(
        server.listen(&foreign).await.unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        server.listen(&alice_at).await.unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
    let elsewhere = Keyed::new("127.0.0.2:1".parse().unwrap(), alice.public());
    assert_eq!(
        server.listen(&elsewhere).await.unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    drop(listener);
    let mut listener = server.listen(&alice_at).await.unwrap();
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let _stream = client.dial(&alice_at).await.unwrap();
    within("accept on the new listener", listener.next())
        .await
        .unwrap()
        .unwrap();
    // Closing the transport ends the listener's stream.
    within("close", server.close()).await;
    assert!(within("listener end", listener.next()).await.is_none());
    assert_eq!(
        server.listen(&alice_at).await.unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
}

#[tokio::test]
async fn a_config_out_of_range_is_refused() {
    let identity = Identity::generate();
    for config in [
        QuicConfig {
            accept_queue: 0,
            ..QuicConfig::default()
        },
        QuicConfig {
            keep_alive: Some(Duration::from_secs(60)),
            ..QuicConfig::default()
        },
        QuicConfig {
            idle_timeout: Duration::ZERO,
            ..QuicConfig::default()
        },
        QuicConfig {
            max_concurrent_streams: 0,
            ..QuicConfig::default()
        },
    ] {
        assert!(matches!(
            QuicTransport::new(&identity, config),
            Err(QuicError::Config(_))
        ));
    }
}

/// A raw quinn client or server built from a normal rcgen certificate (ECDSA P-256), or none.
mod raw {
    use rustls::{
        DigitallySignedStruct, SignatureScheme,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime},
    };

    use super::*;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn ecdsa_cert() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let certified = rcgen::generate_simple_self_signed(vec!["umbra".to_owned()]).unwrap();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        (certified.cert.der().clone(), key.into())
    }

    /// Believes any server: these clients test what the *server* refuses.
    #[derive(Debug)]
    struct Credulous(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for Credulous {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// What a raw client presents.
    #[derive(Debug, Clone, Copy)]
    pub enum ClientCert {
        /// No certificate.
        None,
        /// A normal rcgen ECDSA certificate. rustls finds no scheme of it in the server's
        /// request (ed25519 only), so it ends up sending no certificate.
        Ecdsa,
        /// An ECDSA certificate, but handshake signatures made with an Ed25519 key: the
        /// certificate itself reaches the server's verifier.
        EcdsaCertEd25519Signer,
    }

    /// Signs with an identity's Ed25519 key whatever certificate goes with it.
    #[derive(Debug)]
    struct Liar(Identity);

    impl rustls::sign::SigningKey for Liar {
        fn choose_scheme(
            &self,
            offered: &[SignatureScheme],
        ) -> Option<Box<dyn rustls::sign::Signer>> {
            offered
                .contains(&SignatureScheme::ED25519)
                .then(|| Box::new(LiarSigner(self.0.clone())) as Box<dyn rustls::sign::Signer>)
        }
        fn algorithm(&self) -> rustls::SignatureAlgorithm {
            rustls::SignatureAlgorithm::ED25519
        }
    }

    #[derive(Debug)]
    struct LiarSigner(Identity);

    impl rustls::sign::Signer for LiarSigner {
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
            Ok(self.0.sign(message).to_vec())
        }
        fn scheme(&self) -> SignatureScheme {
            SignatureScheme::ED25519
        }
    }

    /// Connects presenting `cert`, opens a stream and tries a round trip; the error is why
    /// the connection closed.
    pub async fn client_round_trip(server: SocketAddr, cert: ClientCert) -> Result<(), String> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Credulous(provider)));
        let mut tls = match cert {
            ClientCert::None => builder.with_no_client_auth(),
            ClientCert::Ecdsa => {
                let (cert, key) = ecdsa_cert();
                builder.with_client_auth_cert(vec![cert], key).unwrap()
            }
            ClientCert::EcdsaCertEd25519Signer => {
                let (cert, _) = ecdsa_cert();
                let key = rustls::sign::CertifiedKey::new(
                    vec![cert],
                    Arc::new(Liar(Identity::generate())),
                );
                builder
                    .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)))
            }
        };
        tls.alpn_protocols = vec![b"umbra/1".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let endpoint = quinn::Endpoint::client(localhost()).unwrap();
        let connecting = endpoint
            .connect_with(quinn::ClientConfig::new(Arc::new(crypto)), server, "umbra")
            .unwrap();
        // The client's side of the handshake may finish before the server has judged the
        // client's certificate: the refusal then closes the connection just after.
        let conn = connecting.await.map_err(|e| e.to_string())?;
        let round_trip = async {
            let (mut send, mut recv) = conn.open_bi().await.ok()?;
            send.write_all(&[1, 2, 3]).await.ok()?;
            send.finish().ok()?;
            let mut buf = [0u8; 1];
            recv.read_exact(&mut buf).await.ok()
        };
        match round_trip.await {
            Some(()) => Ok(()),
            None => Err(conn.closed().await.to_string()),
        }
    }

    /// A quinn server with an ECDSA certificate that asks no client certificate.
    pub fn ecdsa_server() -> quinn::Endpoint {
        let (cert, key) = ecdsa_cert();
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        tls.alpn_protocols = vec![b"umbra/1".to_vec()];
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
        quinn::Endpoint::server(
            quinn::ServerConfig::with_crypto(Arc::new(crypto)),
            localhost(),
        )
        .unwrap()
    }
}

#[tokio::test]
async fn clients_without_an_identity_certificate_are_refused() {
    let alice = Identity::generate();
    let (server, mut listener, alice_at) = listening(&alice, QuicConfig::default()).await;
    for (cert, why) in [
        (raw::ClientCert::None, "peer sent no certificates"),
        (raw::ClientCert::Ecdsa, "peer sent no certificates"),
        (raw::ClientCert::EcdsaCertEd25519Signer, "NotEd25519"),
    ] {
        let result = within("raw client", raw::client_round_trip(alice_at.addr, cert)).await;
        let error = result.expect_err("a client without an identity certificate got through");
        assert!(error.contains(why), "{cert:?}: {error}");
    }
    eventually("the handshakes counted as failed", || {
        server.stats().handshakes_failed == 3
    })
    .await;
    assert_eq!(server.stats().connections_accepted, 0);
    // Nothing reached the listener.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), listener.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_server_without_an_identity_certificate_is_refused() {
    let server = raw::ecdsa_server();
    let addr = server.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        // Take the connection attempt so the handshake runs; it must fail.
        if let Some(incoming) = server.accept().await {
            assert!(incoming.await.is_err());
        }
    });
    let client = QuicTransport::new(&Identity::generate(), client_config()).unwrap();
    let error = within(
        "dial",
        client.dial(&Keyed::new(addr, Identity::generate().public())),
    )
    .await
    .unwrap_err();
    // Our ClientHello offers only the ed25519 signature scheme, so an ECDSA server cannot
    // even sign its handshake: refused before any key is compared.
    assert_ne!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
    assert!(
        matches!(
            error.get_ref().and_then(|e| e.downcast_ref::<QuicError>()),
            Some(QuicError::Connection { .. })
        ),
        "{error}"
    );
    within("server", accept).await.unwrap();
}
