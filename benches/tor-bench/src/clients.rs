//! Umbra's two Tor clients set up for the private network: [`SystemTor`] over a client
//! tor's SOCKS and control ports, [`ArtiTor`] joined through the network's authorities and
//! directory caches.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use umbra_test_kit::tor_net::{ArtiNetwork, OnionService};
use umbra_transport::tor::{
    OnionAddr, SystemTor, SystemTorConfig,
    arti::{ArtiConfig, ArtiTor, FallbackCache, TorDirectory},
};

/// How long an embedded client may take to bootstrap.
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(120);

/// A [`SystemTor`] over the tor with these SOCKS and control ports, with the transport's
/// defaults otherwise (stream isolation per peer, 60 s connect timeout, cookie
/// authentication found through `PROTOCOLINFO`).
#[must_use]
pub fn system_tor(socks: SocketAddr, control: SocketAddr) -> SystemTor {
    SystemTor::new(SystemTorConfig {
        socks,
        control,
        ..SystemTorConfig::default()
    })
}

/// The [`ArtiConfig`] that joins `network`, with its state and cache under `dir`:
/// the authorities' v3 identities, the directory caches' identities and OR ports, local
/// addresses allowed (every relay and target is on 127.0.0.1) and the temporary directory
/// trusted.
#[must_use]
pub fn arti_config(network: &ArtiNetwork, dir: &Path) -> ArtiConfig {
    ArtiConfig {
        directory: TorDirectory::Private {
            authorities: network.authorities.iter().map(|a| a.v3ident).collect(),
            fallbacks: network
                .fallback_caches
                .iter()
                .map(|cache| FallbackCache {
                    rsa_identity: cache.rsa_identity,
                    ed_identity: cache.ed_identity,
                    orports: cache.orports.clone(),
                })
                .collect(),
        },
        allow_local_addrs: true,
        trust_all_dirs: true,
        ..ArtiConfig::new(dir)
    }
}

/// A fresh embedded client (new state and cache directories under `dir`), bootstrapped,
/// and how long bootstrapping took. Call inside a tokio runtime.
///
/// # Errors
/// Bootstrapping failed or took longer than [`BOOTSTRAP_TIMEOUT`].
pub async fn bootstrap_arti(
    network: &ArtiNetwork,
    dir: &Path,
) -> Result<(ArtiTor, Duration), String> {
    let config = arti_config(network, dir);
    let started = Instant::now();
    let tor = Box::pin(ArtiTor::bootstrap(config, BOOTSTRAP_TIMEOUT))
        .await
        .map_err(|e| e.to_string())?;
    Ok((tor, started.elapsed()))
}

/// The address of an onion service the network published.
///
/// # Errors
/// The kit returned a host name that is not a v3 onion address.
pub fn onion_addr(service: &OnionService) -> Result<OnionAddr, String> {
    OnionAddr::new(&service.hostname, service.port)
        .map_err(|e| format!("onion service {}: {e}", service.hostname))
}
