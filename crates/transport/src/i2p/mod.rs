//! I2P through a SAM v3 bridge (i2pd's or Java I2P's).
//!
//! ```text
//!  SamTransport ── one SAM session: its control connection is held open by a keeper task,
//!    │             which also runs NAMING LOOKUP (through the session's own tunnels)
//!    │ dial(addr):   NAMING LOOKUP <b32> (cached), then a new connection:
//!    │               HELLO → STREAM CONNECT <destination> → bytes
//!    │ listen(addr): a pool of connections: HELLO → STREAM ACCEPT → <peer destination>\n → bytes
//!    ▼
//!  SAM bridge 127.0.0.1:7656 ── I2P router ── tunnels ── the I2P network
//! ```
//!
//! - [`I2pAddr`]: a `.b32.i2p` address (the SHA-256 of a destination) with the port
//!   Monero's peer lists carry;
//! - [`Destination`], [`PrivateKey`]: an endpoint's public identity and its keys, in I2P's
//!   base64;
//! - [`reply`]: SAM reply lines, parsed without I/O, with limits;
//! - [`sam`]: a SAM client over tokio TCP, one command at a time per connection;
//! - [`SamTransport`]: a [`Transport`](crate::Transport) over one SAM session, addressed
//!   by [`I2pAddr`];
//! - [`AnyI2p`]: the I2P zone's transport, addressed by [`I2pEndpoint`] (a destination, or
//!   an inbound connection): SAM both ways, or monerod's way — i2pd's SOCKS proxy out and
//!   a server tunnel forwarding to a local port in — or a mix.
//!
//! # Privacy
//!
//! Nothing here logs a peer's address, a destination or a key: logs name the session id
//! only, and `Debug` of a [`PrivateKey`] is redacted. Errors ([`SamError`]) name the
//! bridge and the step, never the peer. Keep the node's I2P address apart from its
//! clearnet identity in the zones above.
//!
//! # Example
//!
//! ```no_run
//! use futures::StreamExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use umbra_transport::{
//!     Transport,
//!     i2p::{SamConfig, SamTransport, SessionKey},
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Keep the keys to keep the address across restarts.
//! let transport = SamTransport::connect(SamConfig::default()).await?; // ~20 s on i2pd
//! let me = transport.local_addr().await?;
//! let _saved: String = transport.private_key().ok_or("no key")?.to_base64().to_owned();
//!
//! let mut listener = transport.listen(&me).await?;
//! let (_reader, mut writer) = transport.dial(&"cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p".parse()?).await?;
//! writer.write_all(b"hello").await?;
//! if let Some(accepted) = listener.next().await {
//!     let (mut reader, _writer, _peer) = accepted?;
//!     let mut buf = [0u8; 5];
//!     reader.read_exact(&mut buf).await?;
//! }
//! # let _ = SessionKey::Transient;
//! # Ok(())
//! # }
//! ```

mod addr;
mod any;
mod dest;
mod endpoint;
mod error;
pub mod reply;
pub mod sam;
mod session;
mod transport;

pub use addr::{I2pAddr, I2pAddrError};
pub use any::{AnyI2p, AnyI2pListener, ForwardedI2p, I2pDial, I2pListen, I2pReader, I2pWriter};
pub use dest::{
    Destination, DestinationError, MAX_DESTINATION_BYTES, MAX_PRIVATE_KEY_BYTES, PrivateKey,
    SIGNATURE_TYPE_ED25519, decode_base64, encode_base64,
};
pub use endpoint::I2pEndpoint;
pub use error::{ResultCode, SamError};
pub use sam::{SamReader, TunnelOptions};
pub use transport::{Resolve, SamConfig, SamListener, SamTransport, SessionKey};
