//! Umbra over QUIC: [`QuicTransport`] with the default [`QuicConfig`] (both sockets bound
//! to `127.0.0.1`). `streams` streams are `streams` dials to the same peer: `streams`
//! QUIC streams on one QUIC connection.

use std::{net::SocketAddr, time::Duration};

use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Transport,
    quic::{QuicConfig, QuicTransport},
};

use crate::{
    Connected, Result, dial_pairs,
    sides::{Sides, on},
};

/// Opens `streams` QUIC streams (one connection) to a [`QuicTransport`] listener on
/// `127.0.0.1`. The listener's endpoint (and the tasks quinn spawns for it) lives on the
/// server side's runtime, the dialler's on the client's.
///
/// # Errors
/// Any transport error, or `limit` passing.
pub async fn connect(sides: &Sides, streams: usize, limit: Duration) -> Result<Connected> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = QuicConfig {
        bind: loopback,
        ..QuicConfig::default()
    };
    let server_id = Identity::generate();
    let server = QuicTransport::new(&server_id, config.clone())?;
    let client = QuicTransport::new(&Identity::generate(), config)?;
    let mut listener = {
        let (server, addr) = (server.clone(), Keyed::new(loopback, server_id.public()));
        on(&sides.server, limit, "QUIC listen", async move {
            server.listen(&addr).await
        })
        .await?
    };
    let addr = listener.local_addr()?;
    let pairs = dial_pairs(sides, &client, &mut listener, &addr, streams, limit, "QUIC").await?;
    let (closing_client, closing_server) = (client.clone(), server.clone());
    Ok(Connected::new(
        pairs,
        vec![Box::new(listener), Box::new(server), Box::new(client)],
        Some(Box::pin(async move {
            closing_client.close().await;
            closing_server.close().await;
        })),
    ))
}
