//! Tor: onion addresses, and the ways Umbra reaches the Tor network.
//!
//! - [`OnionAddr`]: a v3 onion service address with its port, checked (version and
//!   checksum) when parsed;
//! - `socks` (crate root) and [`control`]: a system tor, reached through its SOCKS port
//!   (outbound) and its control port (onion services for inbound);
//! - [`system`]: [`SystemTor`], the [`Transport`](crate::Transport) over
//!   a system tor;
//! - `arti` (feature `arti`): an embedded Tor client (arti), the same transport without a
//!   tor daemon.

mod addr;
mod any;
#[cfg(feature = "arti")]
pub mod arti;
pub mod control;
pub mod system;

pub use addr::{OnionAddr, OnionAddrError, TorAddr};
pub use any::{AnyTor, AnyTorListener, ForwardedOnion, TorReader, TorWriter};
pub use control::{ControlAuth, OnionKey};
pub use system::{SystemTor, SystemTorConfig, SystemTorListener};
