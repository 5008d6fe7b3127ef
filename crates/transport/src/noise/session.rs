//! The async handshakes: [`initiate`] and [`respond`] over any reader and writer.

use std::sync::Arc;

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    time::Instant,
};
use umbra_identity::{Identity, PublicKey};

use super::{
    config::Config,
    handshake::{
        Established, HandshakeError, InitiatorHandshake, MSG1_LEN, MSG2_LEN, ResponderHandshake,
        SessionInfo, unix_ms_now,
    },
    replay::ReplayFilter,
    stats::NoiseStats,
    stream::{NoiseReader, NoiseWriter},
};

/// What a successful handshake gives: the two halves and who the peer is.
pub type Session<R, W> = (NoiseReader<R>, NoiseWriter<W>, SessionInfo);

/// After a failed handshake a responder reads and discards at most this much before it
/// stops reading (it still waits for the close time).
const PROBE_DISCARD_LIMIT: usize = 256 * 1024;

/// What every inbound handshake of one listener shares: the replay filter and the
/// counters.
#[derive(Debug)]
pub struct Responder {
    replay: ReplayFilter,
    stats: Arc<NoiseStats>,
}

impl Responder {
    /// A responder with a replay filter sized by `config` and fresh counters.
    #[must_use]
    pub fn new(config: &Config) -> Self {
        Self::with_stats(config, Arc::default())
    }

    /// A responder counting into `stats` (shared with other sessions).
    #[must_use]
    pub fn with_stats(config: &Config, stats: Arc<NoiseStats>) -> Self {
        Self {
            replay: ReplayFilter::new(config.replay_window, config.replay_capacity),
            stats,
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Arc<NoiseStats> {
        &self.stats
    }

    /// The replay filter.
    #[must_use]
    pub fn replay_filter(&self) -> &ReplayFilter {
        &self.replay
    }
}

impl Established {
    /// Puts the session on a connection: `reader` and `writer` are the connection's
    /// halves, positioned just after the handshake (its padding read). For callers that
    /// run the sans-IO handshake themselves; [`initiate`] and [`respond`] end with this.
    pub fn into_session<R, W>(
        self,
        reader: R,
        writer: W,
        config: &Config,
        stats: &Arc<NoiseStats>,
    ) -> Session<R, W> {
        let Self {
            encoder,
            decoder,
            info,
        } = self;
        let remote = info.remote_key();
        (
            NoiseReader::new(reader, decoder, Arc::clone(stats), remote),
            NoiseWriter::new(writer, encoder, config.jitter, Arc::clone(stats), remote),
            info,
        )
    }
}

/// Reads and drops `len` bytes of handshake padding.
async fn skip<R: AsyncRead + Unpin>(reader: &mut R, mut len: usize) -> std::io::Result<()> {
    let mut scratch = [0u8; 512];
    while len > 0 {
        let chunk = scratch.get_mut(..len.min(512)).unwrap_or_default();
        reader.read_exact(chunk).await?;
        len -= chunk.len();
    }
    Ok(())
}

/// Runs the initiator's side of the handshake with the holder of `responder` over
/// `reader` and `writer` (a connection just opened), within `config.handshake_timeout`.
///
/// Sends msg1 at once (one write: the 144 fixed bytes and random padding), then waits
/// for msg2.
///
/// # Errors
/// [`HandshakeError::NotAuthentic`] if the peer does not hold `responder` (it cannot
/// answer, so this usually shows as [`HandshakeError::Timeout`] or an end of stream
/// ([`HandshakeError::Io`]) when the responder closes); [`HandshakeError::BadPayload`]
/// for an answer this version does not speak.
pub async fn initiate<R, W>(
    mut reader: R,
    mut writer: W,
    identity: &Identity,
    responder: &PublicKey,
    config: &Config,
    stats: &Arc<NoiseStats>,
) -> Result<Session<R, W>, HandshakeError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let exchange = async {
        let (pending, msg1) = {
            let mut rng = rand::rng();
            InitiatorHandshake::start(identity, responder, config, unix_ms_now(), &mut rng)?
        };
        writer.write_all(&msg1).await?;
        writer.flush().await?;
        let mut msg2 = [0u8; MSG2_LEN];
        reader.read_exact(&mut msg2).await?;
        let (established, padding) = pending.read_msg2(&msg2, config)?;
        skip(&mut reader, padding).await?;
        Ok(established)
    };
    let result = tokio::time::timeout(config.handshake_timeout, exchange)
        .await
        .unwrap_or(Err(HandshakeError::Timeout));
    stats.initiated(result.as_ref().map(|_| ()));
    result.map(|established| established.into_session(reader, writer, config, stats))
}

/// Runs the responder's side of the handshake over `reader` and `writer` (a connection
/// just accepted; `reader` may first replay bytes already read from it), within
/// `config.handshake_timeout`.
///
/// Writes nothing until msg1 has authenticated, passed the replay filter and its padding
/// has been read. On any failure it stays silent: it reads and discards what arrives (at
/// most 256 KiB) until a random time in `config.probe_close_delay` after the call began
/// (or returns at once if that time has passed), and only then returns the error; the
/// caller closes the connection by dropping the halves it gave. To a prober, garbage, a
/// replay, a truncated message and silence all look the same.
///
/// # Errors
/// Every [`HandshakeError`]; each is counted in `responder`'s stats.
pub async fn respond<R, W>(
    mut reader: R,
    mut writer: W,
    identity: &Identity,
    config: &Config,
    responder: &Responder,
) -> Result<Session<R, W>, HandshakeError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let close_at = Instant::now() + config.probe_close_delay.draw(&mut rand::rng());
    let exchange = async {
        let mut msg1 = [0u8; MSG1_LEN];
        reader.read_exact(&mut msg1).await?;
        let accepted = {
            let mut rng = rand::rng();
            ResponderHandshake::read_msg1(
                identity,
                &msg1,
                unix_ms_now(),
                &responder.replay,
                &mut rng,
            )?
        };
        if accepted.replay_filter_evicted() {
            responder.stats.replay_evicted();
        }
        skip(&mut reader, accepted.msg1_padding()).await?;
        let (msg2, established) = {
            let mut rng = rand::rng();
            accepted.write_msg2(config, unix_ms_now(), &mut rng)?
        };
        writer.write_all(&msg2).await?;
        writer.flush().await?;
        Ok(established)
    };
    let result = tokio::time::timeout(config.handshake_timeout, exchange)
        .await
        .unwrap_or(Err(HandshakeError::Timeout));
    responder.stats.responded(result.as_ref().map(|_| ()));
    match result {
        Ok(established) => Ok(established.into_session(reader, writer, config, &responder.stats)),
        Err(error) => {
            tracing::trace!(%error, "inbound Noise handshake refused; closing silently");
            discard_until(&mut reader, close_at).await;
            Err(error)
        }
    }
}

/// Reads and drops whatever arrives until `deadline` (at most [`PROBE_DISCARD_LIMIT`]
/// bytes, then only waits), writing nothing.
async fn discard_until<R: AsyncRead + Unpin>(reader: &mut R, deadline: Instant) {
    let mut scratch = [0u8; 1024];
    let mut discarded = 0usize;
    while discarded < PROBE_DISCARD_LIMIT {
        match tokio::time::timeout_at(deadline, reader.read(&mut scratch)).await {
            // Time is up.
            Err(_) => return,
            // The peer stopped sending: wait for the close time all the same.
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => discarded += n,
            // The connection is gone: nothing is left to observe.
            Ok(Err(_)) => return,
        }
    }
    tokio::time::sleep_until(deadline).await;
}
