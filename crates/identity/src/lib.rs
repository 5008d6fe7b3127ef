//! Key identities for Umbra peers.
//!
//! An Umbra peer is known by a key, not by an address. This crate holds that key:
//!
//! - [`Identity`]: the secret. An Ed25519 key whose X25519 form is the static key of the
//!   Noise sessions of `umbra-transport`, and whose Ed25519 form is the key of the
//!   self-signed certificate its QUIC transport presents, so one [`PublicKey`]
//!   authenticates a peer on either transport.
//! - [`PublicKey`]: what peers know: 32 bytes, shown as 64 hex digits; what an address-book
//!   entry of an Umbra peer carries.
//! - Backup words: [`Identity::phrase`] gives the 24 BIP39 English words of the secret,
//!   [`Identity::from_phrase`] rebuilds it, so an operator can move an identity to a new
//!   machine with pen and paper.
//! - [`KeyStore`]: one file per identity in a private directory (0700; files 0600,
//!   written atomically; files others can read are refused). A node keeps one identity per
//!   network zone, so a peer meeting it on clearnet and on Tor cannot link the two.
//!
//! Secrets are wiped from memory when dropped, and no `Debug` or `Display` here ever
//! shows one.
//!
//! # Example
//!
//! ```
//! use umbra_identity::{Identity, KeyStore, Origin};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = KeyStore::open(dir.path().join("identity"))?;
//! let (identity, origin) = store.load_or_create("clearnet")?;
//! assert_eq!(origin, Origin::Created);
//!
//! // The operator writes the words down ...
//! let words = identity.phrase();
//! // ... and rebuilds the identity elsewhere.
//! let elsewhere = tempfile::tempdir()?;
//! let restored = KeyStore::open(elsewhere.path())?.restore("clearnet", &words)?;
//! assert_eq!(restored.public(), identity.public());
//! # Ok(())
//! # }
//! ```

mod key;
mod store;

pub use key::{Identity, KeyError, PHRASE_WORDS, PublicKey};
pub use store::{KeyStore, Origin, StoreError};
