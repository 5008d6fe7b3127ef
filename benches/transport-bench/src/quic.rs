//! Umbra over QUIC: [`QuicTransport`] with the default [`QuicConfig`] (both sockets bound
//! to `127.0.0.1`). `streams` streams are `streams` dials to the same peer: `streams`
//! QUIC streams on one QUIC connection.

use std::{net::SocketAddr, time::Duration};

use futures::StreamExt;
use tokio::io::join;
use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Transport,
    quic::{QuicConfig, QuicTransport},
};

use crate::{
    BenchError, BoxIo, Connected, Pair, Result, check_pair,
    sides::{Sides, on},
    within,
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
    let mut pairs = Vec::with_capacity(streams);
    // One dial at a time, so the n-th accepted stream is the n-th dialled one.
    for _ in 0..streams {
        let (reader, writer) = {
            let (client, addr) = (client.clone(), addr.clone());
            on(&sides.client, limit, "QUIC dial", async move {
                client.dial(&addr).await
            })
            .await?
        };
        let (their_reader, their_writer, _from) = within(limit, "QUIC accept", async {
            match listener.next().await {
                Some(accepted) => accepted.map_err(BenchError::from),
                None => Err("the QUIC listener ended".into()),
            }
        })
        .await?;
        let mut pair = Pair {
            client: Box::new(join(reader, writer)) as BoxIo,
            server: Box::new(join(their_reader, their_writer)) as BoxIo,
        };
        check_pair(&mut pair, limit).await?;
        pairs.push(pair);
    }
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
