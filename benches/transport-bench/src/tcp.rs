//! Plain TCP (tokio): the baseline. `streams` streams are `streams` connections.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

use crate::{
    BenchError, BoxIo, Connected, Pair, Result, check_pair,
    sides::{AbortOnDrop, Sides, on},
    within,
};

/// Opens `streams` TCP connections to a listener on `127.0.0.1`, with `TCP_NODELAY` on
/// both ends (as Umbra's `Tcp` transport and libp2p's are configured here). The listener
/// and the accepted ends live on the server side's runtime, the dialled ends on the
/// client's.
///
/// # Errors
/// Any socket error, or `limit` passing on a connect or accept.
pub async fn connect(sides: &Sides, streams: usize, limit: Duration) -> Result<Connected> {
    let listener = on(&sides.server, limit, "TCP listen", async {
        TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    })
    .await?;
    let addr = listener.local_addr()?;
    let (accepted, mut queue) = mpsc::channel(streams.max(1));
    let acceptor = AbortOnDrop(sides.server.spawn(async move {
        for _ in 0..streams {
            let stream = listener.accept().await.and_then(|(stream, _)| {
                stream.set_nodelay(true)?;
                Ok(stream)
            });
            if accepted.send(stream).await.is_err() {
                break;
            }
        }
    }));
    let mut pairs = Vec::with_capacity(streams);
    // One connect at a time, so the n-th accepted connection is the n-th dialled one.
    for _ in 0..streams {
        let client = on(&sides.client, limit, "TCP connect", async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        })
        .await?;
        let server = within(limit, "TCP accept", async {
            match queue.recv().await {
                Some(stream) => stream.map_err(BenchError::from),
                None => Err("the TCP listener ended".into()),
            }
        })
        .await?;
        let mut pair = Pair {
            client: Box::new(client) as BoxIo,
            server: Box::new(server) as BoxIo,
        };
        check_pair(&mut pair, limit).await?;
        pairs.push(pair);
    }
    Ok(Connected::new(pairs, vec![Box::new(acceptor)], None))
}
