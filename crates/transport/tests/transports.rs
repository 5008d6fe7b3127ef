//! Both transports: dial, accept, bytes both ways, and the errors a caller can expect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{io, net::SocketAddr};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umbra_transport::{Tcp, Transport, memory::MemoryTransport};

async fn echo_round_trip<T: Transport>(transport: T, listener: T::Listener, addr: T::Addr) {
    let mut listener = listener;
    let server = tokio::spawn(async move {
        let (mut reader, mut writer, _from) = listener.next().await.unwrap().unwrap();
        let mut buf = [0u8; 4];
        reader.read_exact(&mut buf).await.unwrap();
        writer.write_all(&buf).await.unwrap();
        writer.flush().await.unwrap();
    });
    let (mut reader, mut writer) = transport.dial(&addr).await.unwrap();
    writer.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    server.await.unwrap();
}

#[tokio::test]
async fn tcp_carries_bytes_both_ways() {
    let tcp = Tcp::default();
    let listener = tcp.listen(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    echo_round_trip(tcp, listener, addr).await;
}

#[tokio::test]
async fn memory_carries_bytes_both_ways() {
    let net = MemoryTransport::new();
    let addr: SocketAddr = "10.1.2.3:18080".parse().unwrap();
    let listener = net.listen(&addr).await.unwrap();
    echo_round_trip(net, listener, addr).await;
}

#[tokio::test]
async fn tcp_dial_to_a_closed_port_is_refused() {
    let tcp = Tcp::default();
    let listener = tcp.listen(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = tcp.dial(&addr).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn memory_reports_the_dialler_address_and_refuses_unknown_ones() {
    let net = MemoryTransport::new();
    let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let mut listener = net.listen(&addr).await.unwrap();
    let other = net.with_local_ip("10.9.9.9".parse().unwrap());
    let _conn = other.dial(&addr).await.unwrap();
    let (_r, _w, from) = listener.next().await.unwrap().unwrap();
    assert_eq!(from.ip().to_string(), "10.9.9.9");

    let error = net
        .dial(&"10.0.0.2:1".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert!(error.to_string().contains("10.0.0.2:1"), "{error}");

    let error = net.listen(&addr).await.err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    drop(listener);
    net.listen(&addr).await.unwrap();
}

#[tokio::test]
async fn memory_backlog_is_bounded() {
    let net = MemoryTransport::new();
    let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let _listener = net.listen(&addr).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..MemoryTransport::ACCEPT_BACKLOG {
        held.push(net.dial(&addr).await.unwrap());
    }
    let error = net.dial(&addr).await.err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}
