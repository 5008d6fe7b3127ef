//! Umbra's Noise transport: `NoiseTransport<Tcp>` with the default [`Config`], as a node
//! runs it (random record padding up to 255 bytes, no jitter, rekey every 256 MiB).
//! `streams` streams are `streams` Noise sessions, each its own TCP connection.

use std::{net::SocketAddr, time::Duration};

use futures::StreamExt;
use tokio::io::join;
use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Tcp, Transport,
    noise::{Config, NoiseTransport},
};

use crate::{
    BenchError, BoxIo, Connected, Pair, Result, check_pair,
    sides::{Sides, on},
    within,
};

/// Opens `streams` Noise sessions to a `NoiseTransport<Tcp>` listener on `127.0.0.1`
/// with the default [`Config`]. The listener (and its handshakes) runs on the server
/// side's runtime, the dials on the client's.
///
/// # Errors
/// Any transport or handshake error, or `limit` passing.
pub async fn connect(sides: &Sides, streams: usize, limit: Duration) -> Result<Connected> {
    connect_with(sides, streams, limit, Config::default()).await
}

/// [`connect`] with another [`Config`] (both ends).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(
    sides: &Sides,
    streams: usize,
    limit: Duration,
    config: Config,
) -> Result<Connected> {
    let server = NoiseTransport::new(Tcp::default(), Identity::generate(), config.clone());
    let client = NoiseTransport::new(Tcp::default(), Identity::generate(), config);
    let addr = Keyed::new(SocketAddr::from(([127, 0, 0, 1], 0)), server.public_key());
    let mut listener = {
        let server = server.clone();
        on(&sides.server, limit, "Noise listen", async move {
            server.listen(&addr).await
        })
        .await?
    };
    let addr = listener.local_addr()?;
    let mut pairs = Vec::with_capacity(streams);
    // One dial at a time, so the n-th accepted session is the n-th dialled one.
    for _ in 0..streams {
        let (reader, writer) = {
            let (client, addr) = (client.clone(), addr.clone());
            on(&sides.client, limit, "Noise dial", async move {
                client.dial(&addr).await
            })
            .await?
        };
        let (their_reader, their_writer, _from) = within(limit, "Noise accept", async {
            match listener.next().await {
                Some(accepted) => accepted.map_err(BenchError::from),
                None => Err("the Noise listener ended".into()),
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
    Ok(Connected::new(
        pairs,
        vec![Box::new(listener), Box::new(server), Box::new(client)],
        None,
    ))
}
