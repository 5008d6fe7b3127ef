//! Waits shared by the zone-network tests: for an event, or for a condition of a network.

#![allow(dead_code, clippy::panic)]

use std::time::Duration;

use tokio::{sync::broadcast, time::Instant};
use umbra_p2p::{Network, NetworkEvent};
use umbra_p2p_core::NetworkZone;

/// Waits up to `wait` for the first event `pick` accepts; panics naming `what` after it.
/// Lagging behind the events is fine (the ones missed are skipped).
pub async fn event<A: Clone, T>(
    events: &mut broadcast::Receiver<NetworkEvent<A>>,
    wait: Duration,
    what: &str,
    mut pick: impl FnMut(&NetworkEvent<A>) -> Option<T>,
) -> T {
    let deadline = Instant::now() + wait;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
        match event {
            Ok(event) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
        }
    }
}

/// Polls `check` of `network` every 20 ms for up to `wait`; panics naming `what` (and the
/// network's status) after it.
pub async fn until<Z: NetworkZone>(
    network: &Network<Z>,
    wait: Duration,
    what: &str,
    check: impl Fn(&Network<Z>) -> bool,
) {
    let deadline = Instant::now() + wait;
    while !check(network) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            network.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
