//! The Monero handshake with monerod over Tor, and directly over TCP as the baseline.
//!
//! monerod (regtest) takes Tor peers on `--anonymous-inbound <onion>:18083,127.0.0.1:<port>,25`
//! behind an onion service the network's onion host publishes, with `--tx-proxy` at the
//! network's SOCKS port. Umbra dials that onion with each client and runs its real outbound
//! handshake (`umbra_p2p_core::handshake::handshake_outbound`: handshake request and
//! response, plus whatever monerod sends before the response); the connection is then
//! closed.
//!
//! Over Tor the handshake is two round trips, directly one: monerod 0.18 announces no
//! support flags on anonymous zones ("only set in public zone"), so the handshaker asks for
//! them, as monerod does, and monerod refuses the request there with levin return code -6
//! (`is_filtered_command` lets only handshakes, timed syncs and transactions through);
//! the handshaker takes the refusal as "no flags", as monerod's `try_get_support_flags`
//! does.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    runtime::Runtime,
};
use umbra_p2p_core::{
    ZoneAddr,
    handshake::{HandshakeConfig, handshake_outbound},
};
use umbra_test_kit::{GENESIS_HASH_HEX, Monerod, tor_net::TorNetwork};
use umbra_transport::{
    Transport,
    hybrid::PeerAddr,
    tor::{SystemTor, TorAddr, arti::ArtiTor},
};
use umbra_wire::{CoreSyncData, network_id};

use crate::{Progress, arti_host, clients, timed, within, zone::PUBLISH_TIMEOUT};

/// The virtual port of monerod's onion service (monerod's Tor default).
pub const MONEROD_ONION_PORT: u16 = 18083;
/// Bound on one dial.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(150);
/// Bound on one handshake (the handshaker's own deadline; its default is 10 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The samples of one way to reach monerod.
#[derive(Debug, Clone, Default)]
pub struct Path {
    /// How (`direct TCP`, `system tor`, `arti`).
    pub name: String,
    /// The first dial and handshake of this client to monerod's onion (none for TCP).
    pub cold: Option<(Duration, Duration)>,
    /// Later dials (over Tor: a new stream on the open rendezvous circuit).
    pub dial: Vec<Duration>,
    /// The handshake after each of those dials, from the open stream to the outcome.
    pub handshake: Vec<Duration>,
    /// Dial plus handshake.
    pub total: Vec<Duration>,
    /// Handshakes (the first included) in which monerod announced no support flags, so
    /// the handshaker asked for them: a second round trip (see the module docs).
    pub support_flags_asked: usize,
    /// Failed samples.
    pub errors: Vec<String>,
}

/// Everything the handshake measurement found.
#[derive(Debug, Clone, Default)]
pub struct Handshakes {
    /// Direct TCP, system tor, arti.
    pub paths: Vec<Path>,
    /// Set-up failures (the service, monerod).
    pub errors: Vec<String>,
}

fn genesis() -> Result<[u8; 32], String> {
    let bytes = (0..32)
        .map(|i| {
            GENESIS_HASH_HEX
                .get(2 * i..2 * i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or("GENESIS_HASH_HEX is not 64 hex digits")?;
    bytes
        .try_into()
        .map_err(|_| "GENESIS_HASH_HEX is not 32 bytes".to_owned())
}

/// Our outbound handshake on an open stream to `peer`: its duration, and whether the peer
/// announced no support flags, so that the handshaker asked for them (a second round trip).
///
/// monerod 0.18 sends no support flags on anonymous zones ("only set in public zone") and
/// refuses the request there with levin return code -6 (`is_filtered_command`: only
/// handshakes, timed syncs and transactions pass); the handshaker takes the refusal as
/// "no flags", as monerod's own `try_get_support_flags` does. So over Tor a handshake is
/// two round trips, directly over TCP one.
async fn handshake<R, W, A>(
    reader: R,
    writer: W,
    peer: A,
    top: [u8; 32],
) -> Result<(Duration, bool), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    let config = HandshakeConfig {
        timeout: HANDSHAKE_TIMEOUT,
        ..HandshakeConfig::new(network_id::MAINNET, rand::random::<u64>() | 1)
    };
    let shake = Box::pin(handshake_outbound(
        reader,
        writer,
        peer,
        config,
        CoreSyncData::genesis(top),
    ));
    let (done, elapsed) = timed(within(
        HANDSHAKE_TIMEOUT + Duration::from_secs(5),
        "handshake",
        shake,
    ))
    .await;
    // Dropping the handshaken halves closes the connection.
    let connection = done?;
    Ok((elapsed, connection.outcome.node_data.support_flags == 0))
}

type Sample = Result<(Duration, Duration, bool), String>;

/// One dial and handshake over Tor: (dial, handshake).
async fn over_tor<T: Transport<Addr = TorAddr>>(tor: &T, addr: &TorAddr, top: [u8; 32]) -> Sample {
    let (dialled, dial) = timed(within(DIAL_TIMEOUT, "dial", Box::pin(tor.dial(addr)))).await;
    let (reader, writer) = dialled?;
    let (shake, asked) = handshake(reader, writer, PeerAddr::plain(*addr), top).await?;
    Ok((dial, shake, asked))
}

/// One connect and handshake over TCP: (connect, handshake).
async fn over_tcp(addr: SocketAddr, top: [u8; 32]) -> Sample {
    let (connected, dial) = timed(within(
        Duration::from_secs(10),
        "connect",
        TcpStream::connect(addr),
    ))
    .await;
    let stream = connected?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (reader, writer) = stream.into_split();
    let (shake, asked) = handshake(reader, writer, addr, top).await?;
    Ok((dial, shake, asked))
}

fn push(path: &mut Path, sample: Sample, what: impl fmt::Display) {
    match sample {
        Ok((dial, shake, asked)) => {
            path.dial.push(dial);
            path.handshake.push(shake);
            path.total.push(dial + shake);
            path.support_flags_asked += usize::from(asked);
        }
        Err(e) => path.errors.push(format!("{what}: {e}")),
    }
}

fn push_cold(path: &mut Path, sample: Sample) {
    match sample {
        Ok((dial, shake, asked)) => {
            path.cold = Some((dial, shake));
            path.support_flags_asked += usize::from(asked);
        }
        Err(e) => path.errors.push(format!("first: {e}")),
    }
}

fn path(name: &str) -> Path {
    Path {
        name: name.to_owned(),
        ..Path::default()
    }
}

/// Starts monerod behind an onion service and measures `samples` handshakes each: directly
/// over TCP to its P2P port, then a first and `samples` later ones over the system tor (to
/// the onion host's service) and arti (to a service `host` publishes, forwarding to the
/// same port; see [`arti_host`]), taking turns. monerod is stopped and the services
/// removed before returning.
pub fn measure(
    rt: &Runtime,
    net: &TorNetwork,
    system: &SystemTor,
    arti: &ArtiTor,
    host: &ArtiTor,
    samples: usize,
    progress: Progress<'_>,
) -> Handshakes {
    let mut out = Handshakes::default();
    let top = match genesis() {
        Ok(top) => top,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let anon_port =
        match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(e) => {
                out.errors.push(format!("picking a port: {e}"));
                return out;
            }
        };
    let anon = SocketAddr::from((Ipv4Addr::LOCALHOST, anon_port));
    let service = match net.add_onion_service(MONEROD_ONION_PORT, anon) {
        Ok(service) => service,
        Err(e) => {
            out.errors
                .push(format!("publishing monerod's onion service: {e}"));
            return out;
        }
    };
    let onion = match clients::onion_addr(&service) {
        Ok(onion) => TorAddr::Onion(onion),
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    progress("handshakes: starting monerod with --anonymous-inbound");
    let monerod = Monerod::builder()
        .args([
            "--anonymous-inbound".to_owned(),
            format!("{}:{MONEROD_ONION_PORT},{anon},25", service.hostname),
            "--tx-proxy".to_owned(),
            format!("tor,{},8", net.socks_addr()),
        ])
        .start();
    let monerod = match monerod {
        Ok(monerod) => monerod,
        Err(e) => {
            out.errors.push(format!("starting monerod: {e}"));
            let _ = net.remove_onion_service(&service);
            return out;
        }
    };
    let p2p = monerod.p2p_addr();
    let mut tcp = path("direct TCP → P2P port");
    let mut sys = path("system tor → C tor service");
    let mut emb = path("arti → arti service");
    // arti reaches monerod through a service of its own forwarding to the same port.
    let (arti_service, arti_onion) = rt.block_on(async {
        match arti_host::launch(host.client(), "monerod", MONEROD_ONION_PORT, anon) {
            Ok(service) => match service.wait_published(PUBLISH_TIMEOUT).await {
                Ok(_) => {
                    let onion = TorAddr::Onion(service.onion);
                    (Some(service), Ok(onion))
                }
                Err(e) => (
                    Some(service),
                    Err(format!("arti's service for monerod: {e}")),
                ),
            },
            Err(e) => (None, Err(format!("arti's service for monerod: {e}"))),
        }
    });
    rt.block_on(async {
        for i in 0..samples {
            push(
                &mut tcp,
                over_tcp(p2p, top).await,
                format!("TCP sample {i}"),
            );
        }
        progress("handshakes: over Tor");
        push_cold(&mut sys, over_tor(system, &onion, top).await);
        match &arti_onion {
            Ok(arti_onion) => {
                push_cold(&mut emb, over_tor(arti, arti_onion, top).await);
            }
            Err(e) => emb.errors.push(e.clone()),
        }
        for i in 0..samples {
            if i % 2 == 0 {
                push(&mut sys, over_tor(system, &onion, top).await, i);
            }
            if let Ok(arti_onion) = &arti_onion {
                push(&mut emb, over_tor(arti, arti_onion, top).await, i);
            }
            if i % 2 == 1 {
                push(&mut sys, over_tor(system, &onion, top).await, i);
            }
        }
    });
    rt.block_on(async move { drop(arti_service) });
    drop(monerod);
    if let Err(e) = net.remove_onion_service(&service) {
        out.errors
            .push(format!("removing monerod's onion service: {e}"));
    }
    out.paths = vec![tcp, sys, emb];
    out
}
