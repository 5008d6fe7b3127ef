//! Onion services hosted by an embedded arti client, forwarding to TCP servers on 127.0.0.1
//! (what the onion host's `ADD_ONION` does for C tor).
//!
//! # Why the benchmark has them
//!
//! To measure arti as a service host next to C tor (the onion host's `ADD_ONION`), and to
//! give each client services of its own implementation for the handshake and bulk
//! measurements. (On the test kit's first private network arti and C tor could not reach
//! each other's services at all: C tor's onion-service time period under
//! `TestingTorNetwork` is 24 voting intervals, arti's the consensus parameter
//! `hsdir_interval`; the kit now makes both 6 minutes.)
//!
//! Services are launched through `arti-client` directly rather than through
//! [`ArtiTor::launch_onion_service`](umbra_transport::tor::arti::ArtiTor::launch_onion_service)
//! because `ArtiTor` hosts one service per client and does not expose the service's status,
//! and its `wait_onion_service_reachable` waits for arti's `Running`/`DegradedReachable`
//! states, which a service never reaches on this network: arti uploads for the current
//! time period only and reports `DegradedUnreachable` (with no upload problem) — reachable
//! all the same.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use arti_client::{TorClient, config::onion_service::OnionServiceConfigBuilder};
use futures::StreamExt;
use safelog::DisplayRedacted as _;
use tokio::{net::TcpStream, sync::Semaphore, task::JoinHandle};
use tor_cell::relaycell::msg::Connected;
use tor_hsservice::{HsNickname, RendRequest, RunningOnionService, StreamRequest, status::State};
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;
use umbra_transport::tor::OnionAddr;

/// Streams one service forwards at once; more are refused.
const MAX_STREAMS: usize = 64;
/// How long one forwarded stream may live.
const STREAM_LIFETIME: Duration = Duration::from_secs(900);

/// How far a launched service got, from arti's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// `Running` or `DegradedReachable`: descriptors on both HSDir rings.
    Reachable,
    /// `DegradedUnreachable` with no upload problem: the descriptor is on the HSDirs of
    /// the current time period only (the most this network allows; see the module docs).
    CurrentPeriodOnly,
}

/// One onion service hosted by arti, forwarding each stream on its port to a TCP target.
/// Stops when dropped.
pub struct HostedService {
    /// The service's address and port.
    pub onion: OnionAddr,
    running: Arc<RunningOnionService>,
    launched: Instant,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for HostedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedService")
            .field("onion", &self.onion)
            .field("state", &self.running.status().state())
            .finish_non_exhaustive()
    }
}

impl Drop for HostedService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Launches service `nickname` on `client` (a fresh key in its keystore), forwarding
/// streams to `port` on to `target`. Call inside the tokio runtime.
///
/// # Errors
/// arti refused to launch it.
pub fn launch(
    client: &TorClient<PreferredRuntime>,
    nickname: &str,
    port: u16,
    target: SocketAddr,
) -> Result<HostedService, String> {
    let name: HsNickname = nickname
        .parse()
        .map_err(|e: tor_hsservice::InvalidNickname| e.to_string())?;
    let mut config = OnionServiceConfigBuilder::default();
    config.nickname(name);
    let config = config.build().map_err(|e| e.to_string())?;
    let launched = Instant::now();
    let (running, requests) = client
        .launch_onion_service(config)
        .map_err(|e| format!("launching onion service {nickname}: {e}"))?
        .ok_or_else(|| format!("onion service {nickname} is disabled"))?;
    let hsid = running
        .onion_address()
        .ok_or_else(|| format!("arti has no key for onion service {nickname}"))?;
    let host = hsid.display_unredacted().to_string();
    let onion =
        OnionAddr::new(&host, port).map_err(|e| format!("arti named a service {host}: {e}"))?;
    let task = tokio::spawn(forward(Box::pin(requests), port, target));
    Ok(HostedService {
        onion,
        running,
        launched,
        task,
    })
}

impl HostedService {
    /// Waits (at most `timeout`) until arti has uploaded the descriptor: its state is
    /// reachable, or `DegradedUnreachable` with no problem. Returns the time since launch.
    ///
    /// # Errors
    /// The timeout passed, or the service broke or shut down (with arti's state).
    pub async fn wait_published(&self, timeout: Duration) -> Result<(Duration, Published), String> {
        let check = |status: &tor_hsservice::status::OnionServiceStatus| match status.state() {
            State::Running | State::DegradedReachable => Some(Ok(Published::Reachable)),
            State::DegradedUnreachable if status.current_problem().is_none() => {
                Some(Ok(Published::CurrentPeriodOnly))
            }
            // A service starts out `Shutdown` until its tasks run: not an end state here.
            State::Broken => Some(Err("the onion service is broken".to_owned())),
            _ => None,
        };
        let mut events = self.running.status_events();
        if let Some(done) = check(&self.running.status()) {
            return done.map(|p| (self.launched.elapsed(), p));
        }
        let waited = tokio::time::timeout(timeout, async {
            while let Some(status) = events.next().await {
                if let Some(done) = check(&status) {
                    return done;
                }
            }
            Err("arti's status stream ended".to_owned())
        })
        .await;
        match waited {
            Ok(done) => done.map(|p| (self.launched.elapsed(), p)),
            Err(_) => Err(format!(
                "no descriptor upload within {timeout:?} (state {:?}, problem {:?})",
                self.running.status().state(),
                self.running.status().current_problem()
            )),
        }
    }
}

/// Answers the service's rendezvous requests: each stream to `port` is accepted and
/// joined to a new TCP connection to `target`; streams to other ports are refused.
async fn forward(
    requests: std::pin::Pin<Box<dyn futures::Stream<Item = RendRequest> + Send>>,
    port: u16,
    target: SocketAddr,
) {
    let slots = Arc::new(Semaphore::new(MAX_STREAMS));
    let mut streams = Box::pin(tor_hsservice::handle_rend_requests(requests));
    while let Some(request) = streams.next().await {
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            let _ = request.shutdown_circuit();
            continue;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(STREAM_LIFETIME, join(request, port, target)).await;
        });
    }
}

async fn join(request: StreamRequest, port: u16, target: SocketAddr) {
    let wanted =
        matches!(request.request(), IncomingStreamRequest::Begin(begin) if begin.port() == port);
    if !wanted {
        let _ = request.shutdown_circuit();
        return;
    }
    let Ok(tcp) = TcpStream::connect(target).await else {
        let _ = request.shutdown_circuit();
        return;
    };
    let _ = tcp.set_nodelay(true);
    let Ok(onion) = request.accept(Connected::new_empty()).await else {
        return;
    };
    let (mut onion_r, mut onion_w) = onion.split();
    let (mut tcp_r, mut tcp_w) = tcp.into_split();
    let up = tokio::io::copy(&mut onion_r, &mut tcp_w);
    let down = tokio::io::copy(&mut tcp_r, &mut onion_w);
    // Either direction ending ends the stream (Tor streams have no half-close).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
