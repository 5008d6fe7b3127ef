//! Time from start until Umbra's Tor zone is ready: a Tor client that can build circuits
//! and Umbra's own onion service published, with a system tor and with the embedded arti.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use tokio::runtime::Runtime;
use umbra_test_kit::tor_net::{ArtiNetwork, TorNetwork};
use umbra_transport::tor::OnionKey;

use crate::{
    arti_host::{self, Published},
    clients, within,
};

/// The virtual port of Umbra's own onion service in these runs (monerod's Tor default).
pub const ZONE_PORT: u16 = 18083;
/// How long an onion service may take to be published (system tor) or reachable (arti).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(120);

/// One run with a system tor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemRun {
    /// From spawning a fresh client tor until it could build circuits
    /// ([`TorNetwork::start_client`]: `PROGRESS=100` and `circuit-established=1`).
    pub client: Duration,
    /// From `ADD_ONION` (Umbra's [`SystemTor::listen_with_key`](umbra_transport::tor::SystemTor::listen_with_key),
    /// a fresh key) until the `HS_DESC UPLOADED` events say it is published
    /// ([`SystemTorListener::wait_published`](umbra_transport::tor::SystemTorListener::wait_published)).
    pub service: Duration,
}

impl SystemRun {
    /// Client start plus service publication.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.client + self.service
    }
}

/// One run with the embedded arti client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtiRun {
    /// [`ArtiTor::bootstrap`](umbra_transport::tor::arti::ArtiTor::bootstrap) with fresh
    /// state and cache directories.
    pub bootstrap: Duration,
    /// From launching Umbra's onion service on that client until arti reported its
    /// descriptor uploaded ([`HostedService::wait_published`](crate::arti_host::HostedService::wait_published)).
    pub service: Duration,
    /// What arti reported.
    pub published: Published,
}

impl ArtiRun {
    /// Bootstrap plus service.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.bootstrap + self.service
    }
}

/// One run with a system tor: a fresh client tor from the network, then Umbra's onion
/// service through its control port. The client is stopped before returning (not timed).
///
/// # Errors
/// What failed, as text.
pub fn system_run(rt: &Runtime, net: &TorNetwork) -> Result<SystemRun, String> {
    let started = Instant::now();
    let client = net
        .start_client()
        .map_err(|e| format!("starting a client tor: {e}"))?;
    let client_ready = started.elapsed();
    let tor = clients::system_tor(client.socks_addr(), client.control_addr());
    let service = rt.block_on(async {
        let started = Instant::now();
        let listener = within(
            PUBLISH_TIMEOUT,
            "ADD_ONION",
            tor.listen_with_key(&OnionKey::generate(), ZONE_PORT),
        )
        .await?;
        listener
            .wait_published(PUBLISH_TIMEOUT)
            .await
            .map_err(|e| format!("waiting for publication: {e}"))?;
        let published = started.elapsed();
        drop(listener);
        Ok::<_, String>(published)
    });
    // Stop the client (SIGTERM, reaped) whatever happened; not part of the figure.
    drop(client);
    Ok(SystemRun {
        client: client_ready,
        service: service?,
    })
}

/// One run with the embedded client: bootstrap with fresh state under `dir`, then launch
/// Umbra's onion service (through arti-client, see [`arti_host`]) and
/// wait until arti has uploaded its descriptor. The client is dropped before returning;
/// `dir` must outlive the runtime (arti's tasks may still write there).
///
/// # Errors
/// What failed, as text.
pub fn arti_run(rt: &Runtime, network: &ArtiNetwork, dir: &Path) -> Result<ArtiRun, String> {
    rt.block_on(async {
        let (tor, bootstrap) = clients::bootstrap_arti(network, dir).await?;
        // Nobody dials this service: its streams would go to the discard port.
        let discard = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
        let service = arti_host::launch(tor.client(), "umbra-p2p", ZONE_PORT, discard)?;
        let (took, published) = service.wait_published(PUBLISH_TIMEOUT).await?;
        drop(service);
        drop(tor);
        Ok(ArtiRun {
            bootstrap,
            service: took,
            published,
        })
    })
}
