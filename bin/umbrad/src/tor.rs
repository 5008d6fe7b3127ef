//! The Tor zone: Umbra's P2P network over Tor, beside clearnet and kept apart from it.
//!
//! ```text
//!   TorNet ─► Relisten ─► HybridTransport (levin for monerod, Noise for Umbra peers)
//!                              └─► AnyTor: a system tor (SOCKS + control port, or an
//!                                  onion service from torrc) or the embedded client (arti)
//! ```
//!
//! What keeps the zone apart from clearnet: its own identity (`identity/tor.key`, also the
//! key of the onion service with a system tor), its own address book (`tor-peers.epee`),
//! a fresh node id on every connection, no port in handshakes and only onion addresses in
//! its peer lists (the zone's types allow nothing else). A Tor failure is an error and a
//! retry with back-off, never a direct connection.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use tracing::{info, warn};
use umbra_identity::{Identity, KeyStore, Origin};
use umbra_p2p::NetworkConfig;
use umbra_p2p_core::{TorNet, handshake::UmbraAdvert};
use umbra_transport::hybrid::{HybridConfig, HybridTransport, PeerAddr as ZonePeer, transports};
use umbra_transport::relisten::{Backoff, Relisten};
use umbra_transport::tor::arti::{ArtiConfig, ArtiTor, FallbackCache, TorDirectory};
use umbra_transport::tor::{
    AnyTor, ForwardedOnion, OnionAddr, OnionKey, SystemTor, SystemTorConfig, TorAddr,
};

use crate::config::{
    AnonymousInbound, Config, ProxySpecError, TorConfig, TorMode, parse_onion_peer,
};
use crate::identity;

/// The Tor zone's transport.
pub type TorTransport = Relisten<HybridTransport<AnyTor>>;
/// The Tor zone.
pub type TorZone = TorNet<TorTransport>;

/// The name of the Tor zone's identity in the key store.
pub const IDENTITY: &str = "tor";

/// Why the Tor zone could not be set up (Tor being unreachable is not such a reason: the
/// zone then retries with back-off).
#[derive(Debug, thiserror::Error)]
pub enum TorSetupError {
    /// The Tor identity could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] umbra_identity::StoreError),
    /// A `[tor]` setting is invalid.
    #[error("invalid [tor] setting: {0}")]
    Config(String),
    /// The embedded client could not be created.
    #[error(transparent)]
    Embedded(#[from] umbra_transport::tor::arti::ArtiError),
}

/// A Tor zone ready to start: its transport, its settings and our onion address.
#[derive(Debug)]
pub struct TorZoneSetup {
    /// The transport.
    pub transport: TorTransport,
    /// The network settings.
    pub network: NetworkConfig<ZonePeer<TorAddr>>,
    /// The back-end, for logs.
    pub kind: &'static str,
    /// The embedded client, when that is the back-end (to bootstrap it at start).
    pub embedded: Option<ArtiTor>,
}

/// Sets up the Tor zone of `config` (which has `tor.mode` other than off); `onion_peers`
/// are the .onion addresses given to `--add-peer`.
pub fn setup(
    config: &Config,
    onion_peers: Vec<ZonePeer<TorAddr>>,
) -> Result<TorZoneSetup, TorSetupError> {
    let tor = &config.tor;
    let (identity, origin) =
        KeyStore::open(identity::store_dir(&config.data_dir))?.load_or_create(IDENTITY)?;
    info!(
        public_key = %identity.public(),
        created = (origin == Origin::Created),
        "Tor identity ready (separate from the clearnet identity)"
    );
    let (backend, ours) = backend(config, &identity)?;
    let kind = backend.kind();
    let embedded = match &backend {
        AnyTor::Embedded(arti) => Some(arti.clone()),
        _ => None,
    };
    let hybrid = HybridTransport::new(backend, identity.clone(), HybridConfig::default());
    let transport = Relisten::new(hybrid, Backoff::default());

    let mut network = NetworkConfig::new(config.network.network_id());
    // With our key: what peers are told even while the listener waits for Tor.
    network.listen = ours.map(|onion| ZonePeer::umbra(TorAddr::Onion(onion), identity.public()));
    if let Some(onion) = ours {
        info!(address = %onion, "our onion service (Umbra peers dial {}@{onion})", identity.public());
    }
    network.umbra = Some(UmbraAdvert {
        key: identity.public().to_bytes(),
        transports: transports::NOISE_TCP,
    });
    network.out_peers = tor.out_peers;
    network.connection.timed_sync_interval = Duration::from_secs(config.p2p.timed_sync_interval);
    network.in_peers = if ours.is_some() { tor.in_peers } else { 0 };
    network.max_connections_per_host = 1;
    let mut seeds = onion_peers;
    for text in &tor.add_peers {
        seeds.push(parse_onion_peer(text).map_err(TorSetupError::Config)?);
    }
    network.seed_peers = seeds;
    // Tor is slower than the internet: give handshakes more time.
    network.handshake_timeout = network.handshake_timeout.max(Duration::from_secs(60));
    Ok(TorZoneSetup {
        transport,
        network,
        kind,
        embedded,
    })
}

/// Joins the embedded client to the network now rather than at the first dial, retrying
/// with back-off while the network cannot be reached; logs when it is in.
pub async fn bootstrap(arti: ArtiTor) {
    let backoff = Backoff::default();
    let mut failures = 0u32;
    loop {
        match arti.client().bootstrap().await {
            Ok(()) => {
                info!(
                    zone = "tor",
                    "the embedded Tor client has joined the Tor network"
                );
                return;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let wait = backoff.delay(failures);
                warn!(zone = "tor", %error, attempt = failures, ?wait, "the embedded Tor client cannot join the Tor network yet");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The Tor back-end and our onion address (none when inbound is off).
fn backend(
    config: &Config,
    identity: &Identity,
) -> Result<(AnyTor, Option<OnionAddr>), TorSetupError> {
    let tor = &config.tor;
    match tor.mode {
        TorMode::Off => Err(TorSetupError::Config("the Tor zone is off".to_owned())),
        TorMode::System => {
            let mut system = SystemTorConfig {
                socks: tor.socks,
                control: tor.control,
                ..SystemTorConfig::default()
            };
            if !tor.anonymous_inbound.is_empty() {
                let inbound: AnonymousInbound = tor
                    .anonymous_inbound
                    .parse()
                    .map_err(|e: ProxySpecError| TorSetupError::Config(e.to_string()))?;
                let forwarded = ForwardedOnion {
                    onion: inbound.onion,
                    local: inbound.local,
                };
                return Ok((
                    AnyTor::SystemForwarded(SystemTor::new(system), forwarded),
                    Some(inbound.onion),
                ));
            }
            // The onion service's key is the Tor identity: one secret to back up, and the
            // address survives restarts.
            let key = OnionKey::from_seed(&identity.seed());
            let ours = tor.inbound.then(|| key.onion_addr(tor.onion_port));
            system.onion_key = Some(key);
            Ok((AnyTor::System(SystemTor::new(system)), ours))
        }
        TorMode::Embedded => {
            let arti = ArtiTor::unbootstrapped(arti_config(&config.data_dir, tor)?)?;
            let ours = if tor.inbound {
                Some(arti.launch_onion_service(tor.onion_port)?)
            } else {
                None
            };
            Ok((AnyTor::Embedded(arti), ours))
        }
    }
}

/// The embedded client's settings: state in `<data_dir>/tor/arti`, and a private network
/// when `[tor]` names one.
fn arti_config(data_dir: &Path, tor: &TorConfig) -> Result<ArtiConfig, TorSetupError> {
    let mut arti = ArtiConfig::new(data_dir.join("tor").join("arti"));
    arti.allow_local_addrs = tor.allow_local;
    if tor.authorities.is_empty() {
        if !tor.fallbacks.is_empty() {
            return Err(TorSetupError::Config(
                "fallbacks without authorities: a private network needs both".to_owned(),
            ));
        }
        return Ok(arti);
    }
    if tor.fallbacks.is_empty() {
        return Err(TorSetupError::Config(
            "authorities without fallbacks: a private network needs both".to_owned(),
        ));
    }
    let authorities = tor
        .authorities
        .iter()
        .map(|text| fingerprint(text))
        .collect::<Result<Vec<_>, _>>()?;
    let fallbacks = tor
        .fallbacks
        .iter()
        .map(|text| fallback(text))
        .collect::<Result<Vec<_>, _>>()?;
    warn!(
        authorities = authorities.len(),
        "the embedded Tor client joins a PRIVATE Tor network (tor.authorities is set): for tests only"
    );
    arti.directory = TorDirectory::Private {
        authorities,
        fallbacks,
    };
    Ok(arti)
}

/// A 40-hex-digit RSA fingerprint.
fn fingerprint(text: &str) -> Result<[u8; 20], TorSetupError> {
    let mut out = [0u8; 20];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| {
        TorSetupError::Config(format!("{text:?} is not a 40-hex-digit fingerprint"))
    })?;
    Ok(out)
}

/// `RSA_FINGERPRINT ED25519_ID IP:PORT`.
fn fallback(text: &str) -> Result<FallbackCache, TorSetupError> {
    let fail = |why: &str| {
        TorSetupError::Config(format!(
            "fallback {text:?}: {why} (expected RSA_FINGERPRINT ED25519_ID IP:PORT)"
        ))
    };
    let mut words = text.split_whitespace();
    let (Some(rsa), Some(ed), Some(port), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(fail("three words needed"));
    };
    let rsa_identity = fingerprint(rsa)?;
    let ed = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(ed.trim_end_matches('='))
        .map_err(|_| fail("the Ed25519 identity is not base64"))?;
    let ed_identity: [u8; 32] = ed
        .try_into()
        .map_err(|_| fail("the Ed25519 identity is not 32 bytes"))?;
    let orport = port
        .parse()
        .map_err(|_| fail("the OR port is not IP:PORT"))?;
    Ok(FallbackCache {
        rsa_identity,
        ed_identity,
        orports: vec![orport],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_lines_parse() {
        let line = format!("{} {} 127.0.0.1:5001", "AB".repeat(20), "A".repeat(43));
        let cache = fallback(&line).unwrap();
        assert_eq!(cache.rsa_identity, [0xab; 20]);
        assert_eq!(cache.orports.len(), 1);
        for bad in [
            "",
            "AB 1 2",
            &format!("{} xyz 127.0.0.1:1", "AB".repeat(20)),
        ] {
            assert!(fallback(bad).is_err(), "{bad}");
        }
    }
}
