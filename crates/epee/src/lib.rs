//! Monero's *epee portable storage*: the self-describing binary format every levin
//! message body of the Monero P2P protocol is written in.
//!
//! # Where it sits
//!
//! ```text
//! bytes ─▶ levin frame ─▶ epee document ─▶ typed message (umbra-wire)
//!                         ^^^^^^^^^^^^^ this crate
//! ```
//!
//! This crate knows nothing about networking or Monero messages; it turns bytes into Rust
//! values and back, exactly as monerod does, and refuses hostile input without panicking or
//! allocating beyond [`Limits`].
//!
//! # The format
//!
//! A document is the 9-byte [`SIGNATURE`] followed by the root object. An object is a
//! [`varint`] field count, then per field: a name (one length byte, 1–255 bytes), a
//! [`Marker`] byte (one of thirteen [`TypeCode`]s, with the high bit set for "array of"),
//! and the value. Integers and doubles are little-endian; strings are a varint length and
//! raw bytes (blobs such as hashes are strings); arrays are a varint length and their
//! elements. monerod writes the fields of an object in byte order of their names (they live
//! in a `std::map`) and omits empty containers; this crate does the same, so what it writes
//! is byte-for-byte what monerod writes.
//!
//! # Typed (de)serialisation: why a derive macro
//!
//! Messages are plain structs with `#[derive(EpeeObject)]`. We chose a derive macro over
//! serde and over a declarative macro:
//!
//! - **Decode speed.** The generated decoder matches each field name straight to a typed
//!   slot and decodes the value in place; there is no intermediate tree, no visitor and no
//!   `Deserializer` indirection. Blobs are [`bytes::Bytes`] slices of the input
//!   ([`from_bytes`]) or plain `&[u8]` borrows of it ([`from_slice`]), zero-copy either way,
//!   and lists of hashes are one [`ByteArrayVec`] view, so blob-heavy messages decode at
//!   memory speed. Measured: 2.5–3.9× the `monero-epee` crate on Monero's messages
//!   (`docs/benchmarks.md` in the repository).
//! - **Exact bytes.** The macro sorts fields by name at compile time, reproducing monerod's
//!   field order without a runtime sort — something serde's field-order-as-declared model
//!   and a declarative macro cannot do cleanly.
//! - **Clarity.** Each monerod serialisation macro maps to one attribute: `KV_SERIALIZE_N`
//!   is `#[epee(rename = "…")]`, `KV_SERIALIZE_OPT` is `#[epee(default = …)]` (absent means
//!   the default, the default is not written), `KV_SERIALIZE_VAL_POD_AS_BLOB` is a
//!   `[u8; N]` field, `KV_SERIALIZE_CONTAINER_POD_AS_BLOB` is a [`ByteArrayVec`] or
//!   [`ContainerAsBlob`] field, and `Option<T>` is a field that may be absent.
//!
//! Missing required fields, wrong types and duplicate fields are typed [`Error`]s that name
//! the field path; unknown fields are skipped (within the same limits as known ones).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use umbra_epee::{ByteArrayVec, EpeeObject, from_bytes, to_bytes};
//!
//! #[derive(Debug, PartialEq, EpeeObject)]
//! struct ChainRequest {
//!     block_ids: ByteArrayVec<32>,
//!     #[epee(default = false)]
//!     prune: bool,
//! }
//!
//! let request = ChainRequest { block_ids: vec![[7u8; 32]].into(), prune: true };
//! let bytes = to_bytes(&request)?.freeze();
//! assert_eq!(from_bytes::<ChainRequest>(&bytes)?, request);
//!
//! // Hostile input gets a typed error, never a panic.
//! let truncated = bytes.slice(..bytes.len() - 1);
//! assert!(from_bytes::<ChainRequest>(&truncated).is_err());
//! # Ok::<(), umbra_epee::Error>(())
//! ```
//!
//! # Limits
//!
//! [`Limits::default`] are monerod's own P2P limits (objects, fields, strings) plus a depth
//! limit no looser than monerod's recursion guard; see [`Limits`] for the figures and the
//! reasoning.

// Lets the derive macro refer to `::umbra_epee` from inside this crate's own tests and docs.
#[allow(unused_extern_crates)]
extern crate self as umbra_epee;

mod containers;
mod dynamic;
mod error;
mod limits;
mod marker;
mod object;
mod reader;
mod value;
pub mod varint;

pub use containers::{Blob, ByteArrayVec, ContainerAsBlob, InputBlob, PodLe};
pub use dynamic::{Array, Section, Value};
pub use error::{Error, ErrorKind, Result};
pub use limits::Limits;
pub use marker::{ARRAY_FLAG, Marker, TypeCode};
pub use object::{
    EpeeObject, SIGNATURE, from_bytes, from_bytes_with_limits, from_slice, from_slice_with_limits,
    read_object_value, read_signature, to_bytes, to_writer, write_field, write_field_count,
};
pub use reader::{Mark, Reader};
pub use value::EpeeValue;

/// Derives [`EpeeObject`] and [`EpeeValue`] for a struct with named fields.
///
/// Field attributes:
/// - `#[epee(rename = "m_name")]`: the name on the wire (default: the Rust field name);
/// - `#[epee(default = expr)]`: the field may be absent (then it is `expr`), and it is not
///   written when it equals `expr` (monerod's `KV_SERIALIZE_OPT`);
/// - `#[epee(default)]`: the same with `Default::default()`;
/// - `#[epee(missing = expr)]` / `#[epee(missing)]`: the field may be absent (then it is
///   `expr`), but it is always written (monerod's plain `KV_SERIALIZE` of a string, which
///   older peers may not send).
///
/// Struct attributes: `#[epee(validate = path)]` runs `path(&mut value) -> Result<()>` on every
/// decoded value (for rules that tie fields together); `#[epee(crate = "path")]` names
/// where `umbra_epee` is.
///
/// Fields are written in byte order of their wire names, as monerod writes them.
pub use umbra_epee_derive::EpeeObject;

#[doc(hidden)]
pub use bytes;
