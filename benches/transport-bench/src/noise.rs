//! Umbra's Noise transport: `NoiseTransport<Tcp>` with the default [`Config`], as a node
//! runs it (random record padding up to 255 bytes, no jitter, rekey every 256 MiB).
//! `streams` streams are `streams` Noise sessions, each its own TCP connection.

use std::{net::SocketAddr, time::Duration};

use umbra_identity::Identity;
use umbra_transport::{
    Keyed, LocalAddr, Tcp, Transport,
    noise::{Config, NoiseTransport},
};

use crate::{
    Connected, Result, dial_pairs,
    sides::{Sides, on},
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
    let pairs = dial_pairs(
        sides,
        &client,
        &mut listener,
        &addr,
        streams,
        limit,
        "Noise",
    )
    .await?;
    Ok(Connected::new(
        pairs,
        vec![Box::new(listener), Box::new(server), Box::new(client)],
        None,
    ))
}
