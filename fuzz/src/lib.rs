//! Fuzz checks for every Umbra decoder of untrusted bytes: epee documents
//! ([`umbra_epee`]), levin byte streams ([`umbra_levin`]), every Monero P2P message
//! body ([`umbra_wire`]), and block and transaction blobs ([`umbra_consensus`]).
//!
//! # Where it sits
//!
//! ```text
//!  fuzz/libfuzzer (cargo-fuzz, libFuzzer)  ─┐
//!                                           ├─▶ umbra_fuzz::<check>(&[u8]) ─▶ epee / levin / wire / consensus / …
//!  fuzz/tests/corpora.rs (cargo test, CI)  ─┘
//! ```
//!
//! Each check is a `pub fn NAME(data: &[u8])` that must return normally for **every**
//! input. Decoding errors are fine and expected; a panic is a bug: either a decoder
//! panicked, or it accepted an input and then broke one of the properties below. The same
//! functions are driven by libFuzzer (`fuzz/run.sh`) and replayed on the seed corpora,
//! regression inputs and a few thousand generated inputs by `cargo test -p umbra-fuzz`.
//!
//! | check | input | asserts when decoding succeeds |
//! |---|---|---|
//! | [`epee_section`] | an epee document | re-encoding is a fixpoint (encode → decode → encode gives the same bytes), no longer than the input, and [`Limits::TRUSTED`] decodes the same |
//! | [`epee_typed`] | an epee document | for several typed objects (handshake, chain, objects, transactions, and a struct using every derive attribute): encode → decode gives an equal value, and the encoding is canonical; borrowed decoding (`from_slice`, `&[u8]` blobs) agrees with owned decoding; the transactions of each block entry, read back from their decoded view, are those a dynamic decode finds |
//! | [`levin_stream`] | 2 config bytes + a byte stream | see [`levin_stream`]: chunking does not change the output, buffers stay bounded, every bucket re-encodes (plainly and padded) to itself |
//! | [`address_book_peers_file`] | a peers file (`<zone>-peers.epee`) | it has this build's version and zone; it encodes (as the address book saves it), that decodes to an equal file, and the encoding is canonical |
//! | [`noise_records`] | config and chunking bytes + a program of record operations | see [`noise_records`]: a record stream (honest records, lying headers, flipped bits, cuts, injected, replayed and dropped records) fed in chunks: the decoder accepts only a prefix of what was sealed, in order, never buffers more than a record, and an untouched stream decodes exactly |
//! | [`noise_handshake`] | mode and seed bytes + bytes or a mask | the responder reading msg1 and the initiator reading msg2: raw bytes never authenticate, a genuine message with a mask is accepted exactly when the mask only flips the representative's random top bits, an accepted msg1 is refused as a replay the second time |
//! | [`socks_reply`] | a config byte + what a SOCKS5 proxy sends | see [`tor::socks_reply`]: the parsers never ask for more than a reply can hold, what parses re-encodes to its bytes, the client handshake buffers at most one reply, and the chunking changes nothing |
//! | [`tor_control_reply`] | a config byte + what tor's control port sends | see [`tor::tor_control_reply`]: buffering stays within the line limit, the chunking changes nothing, every reply re-encodes to bytes that parse back to it |
//! | [`sam_reply`] | what an I2P SAM bridge sends | see [`i2p::sam_reply`]: lines stay bounded, replies, addresses, destinations and keys re-encode to what was parsed |
//! | [`consensus_tx`] | a transaction blob | see [`consensus::consensus_tx`]: what decodes is its own canonical encoding and decodes again to the same hash; the semantic checks give a verdict at six hard forks, and what passes asks for one ring per input |
//! | [`consensus_block`] | a block blob | see [`consensus::consensus_block`]: parsing and the header and coinbase rules against a regtest chain give a verdict, never "parsed but not its own encoding" |
//! | `wire_*` (17) | a message body | the message has the command and kind it was decoded with, and encode → decode gives an equal [`Message`] whose encoding is canonical |
//!
//! "Canonical" means what monerod writes: read back as a dynamic [`Section`], the bytes
//! re-encode to themselves, and the fields of every object are in byte order of their names.
//!
//! [`TARGETS`] lists every check with the kind of input it takes; [`corpus`] turns the
//! seed files into fuzzing corpora.
//!
//! # Example
//!
//! ```
//! // A document with an empty root object, and garbage: neither may panic.
//! umbra_fuzz::epee_section(&[0x01, 0x11, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]);
//! for target in umbra_fuzz::TARGETS {
//!     (target.check)(b"\x01\x21\x01\x01 not a message");
//! }
//! assert_eq!(umbra_fuzz::TARGETS.len(), 28);
//! ```

// Panics ARE the fuzz oracle in this crate: every `assert!` and `panic!` here states a
// property of the decoders under test, and a fuzzer (or the corpus test) reports the input
// that breaks it. Nothing else in this crate panics: inputs are only ever sliced with
// `get`/`split_*`.
#![allow(clippy::panic)]

pub mod consensus;
pub mod corpus;
pub mod i2p;
pub mod tor;

pub use consensus::{consensus_block, consensus_tx};
pub use i2p::sam_reply;
pub use tor::{socks_reply, tor_control_reply};

use std::fmt::{Debug, Write as _};

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use umbra_address_book::{AddressBookConfig, FILE_VERSION, FileError, decode_peers_file};
use umbra_epee::{
    Array, ByteArrayVec, ContainerAsBlob, EpeeObject, Error as EpeeError, ErrorKind, Limits,
    Section, Value, from_bytes, from_bytes_with_limits, from_slice, to_bytes,
};
use umbra_levin::{
    Bucket, BucketCodec, DEFAULT_MAX_FRAGMENTS, FrameKind, HEADER_SIZE, INITIAL_MAX_PACKET_SIZE,
    Interleaving, LevinMessage, MONEROD_MAX_FRAGMENTS, MessageHead, MessageKind, NoiseSize,
    RESERVE_AHEAD, return_code,
};
use umbra_p2p_core::{ClearNet, NetworkZone};
use umbra_wire::{
    ChainResponse, GetObjectsResponse, HandshakeRequest, HandshakeResponse, Message, MessageId,
    NewTransactions, TimedSyncResponse, WireError,
};

/// What kind of bytes a check takes, which decides the seeds its corpus is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// An epee document: a levin body (whole frames contribute the bytes after their
    /// 33-byte header).
    EpeeBody,
    /// Two configuration bytes and a levin byte stream; see [`levin_stream`].
    LevinStream,
    /// A configuration byte and what a proxy or router sends on a local control
    /// connection (SOCKS5, tor's control port, a SAM bridge); seeded with
    /// [`corpus::PROXY_SEEDS`].
    ProxyReply,
    /// A transaction blob (consensus encoding); seeded with mainnet and regtest
    /// transactions.
    TxBlob,
    /// A block blob (consensus encoding); seeded with mainnet and regtest blocks.
    BlockBlob,
}

/// One fuzz target: a check and what it takes.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name of the check, of its cargo-fuzz target and of its corpus folder.
    pub name: &'static str,
    /// What the input is.
    pub input: Input,
    /// The check itself.
    pub check: fn(&[u8]),
}

/// One wire-message check: which message, and as which levin kind.
#[derive(Debug, Clone, Copy)]
pub struct WireTarget {
    /// The name of the check.
    pub name: &'static str,
    /// The message.
    pub id: MessageId,
    /// How it is sent: request or response (admin messages), notification (protocol).
    pub kind: MessageKind,
    /// The check itself.
    pub check: fn(&[u8]),
}

impl WireTarget {
    /// The head the check decodes its input with (responses with return code 1, success).
    #[must_use]
    pub const fn head(&self) -> MessageHead {
        wire_head(self.id, self.kind)
    }
}

const fn wire_head(id: MessageId, kind: MessageKind) -> MessageHead {
    let command = id.command();
    match kind {
        MessageKind::Request => MessageHead::request(command),
        MessageKind::Response => MessageHead::response(command, return_code::SUCCESS),
        MessageKind::Notification => MessageHead::notification(command),
    }
}

/// Generates one check per (message, levin kind), [`WIRE_TARGETS`] and [`TARGETS`], so that
/// every message is checked in exactly the same way.
macro_rules! wire_checks {
    ($($name:ident => $id:ident as $kind:ident,)*) => {
        $(
            #[doc = concat!(
                "Decodes the input as the body of a `", stringify!($id), "` ",
                stringify!($kind), " and checks the round trip; see [`wire_round_trip`]."
            )]
            pub fn $name(data: &[u8]) {
                wire_round_trip(wire_head(MessageId::$id, MessageKind::$kind), data);
            }
        )*

        /// Every wire-message check: each [`MessageId`] in each levin kind it can have.
        pub const WIRE_TARGETS: &[WireTarget] = &[$(
            WireTarget {
                name: stringify!($name),
                id: MessageId::$id,
                kind: MessageKind::$kind,
                check: $name,
            },
        )*];

        /// Every fuzz target, in the order `fuzz/run.sh` runs them.
        pub const TARGETS: &[Target] = &[
            Target { name: "epee_section", input: Input::EpeeBody, check: epee_section },
            Target { name: "epee_typed", input: Input::EpeeBody, check: epee_typed },
            Target { name: "levin_stream", input: Input::LevinStream, check: levin_stream },
            Target {
                name: "address_book_peers_file",
                input: Input::EpeeBody,
                check: address_book_peers_file,
            },
            Target { name: "noise_records", input: Input::EpeeBody, check: noise_records },
            Target { name: "noise_handshake", input: Input::EpeeBody, check: noise_handshake },
            Target { name: "socks_reply", input: Input::ProxyReply, check: socks_reply },
            Target {
                name: "tor_control_reply",
                input: Input::ProxyReply,
                check: tor_control_reply,
            },
            Target { name: "sam_reply", input: Input::ProxyReply, check: sam_reply },
            Target { name: "consensus_tx", input: Input::TxBlob, check: consensus_tx },
            Target { name: "consensus_block", input: Input::BlockBlob, check: consensus_block },
            $(Target { name: stringify!($name), input: Input::EpeeBody, check: $name },)*
        ];
    };
}

wire_checks! {
    wire_handshake_request => Handshake as Request,
    wire_handshake_response => Handshake as Response,
    wire_timed_sync_request => TimedSync as Request,
    wire_timed_sync_response => TimedSync as Response,
    wire_ping_request => Ping as Request,
    wire_ping_response => Ping as Response,
    wire_support_flags_request => SupportFlags as Request,
    wire_support_flags_response => SupportFlags as Response,
    wire_new_block => NewBlock as Notification,
    wire_new_transactions => NewTransactions as Notification,
    wire_get_objects_request => GetObjectsRequest as Notification,
    wire_get_objects_response => GetObjectsResponse as Notification,
    wire_chain_request => ChainRequest as Notification,
    wire_chain_response => ChainResponse as Notification,
    wire_new_fluffy_block => NewFluffyBlock as Notification,
    wire_fluffy_missing_txs_request => FluffyMissingTxsRequest as Notification,
    wire_get_txpool_complement => GetTxPoolComplement as Notification,
}

/// The target called `name`.
#[must_use]
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// Hex of at most the first 256 bytes, for assertion messages.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(256) * 2 + 16);
    for byte in bytes.iter().take(256) {
        let _ = write!(out, "{byte:02x}");
    }
    if bytes.len() > 256 {
        let _ = write!(out, "… ({} bytes)", bytes.len());
    }
    out
}

// ---------------------------------------------------------------------------------------
// epee
// ---------------------------------------------------------------------------------------

/// Decodes the input as a dynamic epee [`Section`] with the default (monerod P2P) limits.
/// If that succeeds:
///
/// - it re-encodes, and the encoding is a fixpoint: decoding it and encoding again gives
///   the same bytes;
/// - the encoding is no longer than the input (it only drops what the format lets a writer
///   choose: trailing bytes, over-long varints, monerod's bare "array" marker);
/// - decoding with [`Limits::TRUSTED`] succeeds too and gives the same document (limits
///   only ever refuse, they never change a result).
///
/// Our own encodings are decoded as `decode_own` explains (with zero padding after them
/// if, and only if, monerod's minimum-size rule for arrays of strings refuses them).
///
/// The one encoding error allowed is a field name of 255 bytes: monerod reads names of
/// 1–255 bytes but refuses to write one of 255 (`pack_entry_to_buff` checks `size() <
/// 255`), and umbra-epee does the same.
pub fn epee_section(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let Ok(section) = from_bytes::<Section>(&input) else {
        return;
    };
    let first = match to_bytes(&section) {
        Ok(bytes) => bytes.freeze(),
        Err(error) if matches!(error.kind(), ErrorKind::FieldNameTooLong(255)) => {
            assert!(
                longest_name(&section) == 255,
                "FieldNameTooLong(255) without a 255-byte name, input {}",
                hex(data)
            );
            return;
        }
        Err(error) => panic!(
            "a decoded section does not re-encode: {error}; input {}",
            hex(data)
        ),
    };
    assert!(
        first.len() <= data.len(),
        "re-encoding grew the document from {} to {} bytes; input {}",
        data.len(),
        first.len(),
        hex(data)
    );
    assert_fixpoint(&first, data);

    match from_bytes_with_limits::<Section>(&input, Limits::TRUSTED) {
        Ok(trusted) => match to_bytes(&trusted) {
            Ok(bytes) => assert!(
                bytes == first,
                "TRUSTED limits decode a different document; input {}",
                hex(data)
            ),
            Err(error) => panic!("TRUSTED decode does not re-encode: {error}"),
        },
        Err(error) => panic!(
            "accepted with the default limits but refused with TRUSTED: {error}; input {}",
            hex(data)
        ),
    }
}

/// Decodes bytes that one of our own encoders wrote.
///
/// Like monerod, the reader refuses an array whose declared length does not fit in the
/// remaining input at a minimum size per element, and that minimum is 2 bytes for a string
/// (monerod's `ps_min_bytes<std::string>`) although an empty string takes 1. So an array
/// of `n` short strings near the end of a document, which our writer (and monerod's) can
/// produce, is refused with [`ErrorKind::ArrayTooLong`] unless something follows it. When
/// decoding fails with that error, and only then, this decodes the same bytes followed by
/// as many zero bytes again (trailing bytes are ignored by every decoder), which satisfies
/// any minimum-size check without changing what is decoded.
fn decode_own<T, E>(
    encoded: &Bytes,
    decode: impl Fn(&Bytes) -> Result<T, E>,
    cause: impl Fn(&E) -> Option<&EpeeError>,
) -> Result<T, E> {
    match decode(encoded) {
        Err(error)
            if matches!(
                cause(&error).map(EpeeError::kind),
                Some(ErrorKind::ArrayTooLong { .. })
            ) =>
        {
            let mut padded = BytesMut::with_capacity(encoded.len() * 2);
            padded.extend_from_slice(encoded);
            padded.resize(encoded.len() * 2, 0);
            decode(&padded.freeze())
        }
        result => result,
    }
}

fn epee_cause(error: &EpeeError) -> Option<&EpeeError> {
    Some(error)
}

fn file_cause(error: &FileError) -> Option<&EpeeError> {
    match error {
        FileError::Decode(source) => Some(source),
        _ => None,
    }
}

fn wire_cause(error: &WireError) -> Option<&EpeeError> {
    match error {
        WireError::Body { source, .. } => Some(source),
        _ => None,
    }
}

/// Decodes `encoded` (an encoding made by our writer) as a [`Section`] and re-encodes it:
/// the bytes must not change.
fn assert_fixpoint(encoded: &Bytes, input: &[u8]) {
    let decode = |bytes: &Bytes| from_bytes_with_limits::<Section>(bytes, Limits::TRUSTED);
    let again = match decode_own(encoded, decode, epee_cause) {
        Ok(section) => section,
        Err(error) => panic!(
            "our own encoding does not decode as a section: {error}\nencoded {}\ninput {}",
            hex(encoded),
            hex(input)
        ),
    };
    match to_bytes(&again) {
        Ok(second) => assert!(
            second == encoded,
            "encoding is not a fixpoint\nfirst  {}\nsecond {}\ninput {}",
            hex(encoded),
            hex(&second),
            hex(input)
        ),
        Err(error) => panic!("our own encoding does not re-encode: {error}"),
    }
}

/// The longest field name anywhere in `section`.
fn longest_name(section: &Section) -> usize {
    section
        .fields
        .iter()
        .map(|(name, value)| name.len().max(longest_name_in_value(value)))
        .max()
        .unwrap_or(0)
}

fn longest_name_in_value(value: &Value) -> usize {
    match value {
        Value::Object(section) => longest_name(section),
        Value::Array(array) => longest_name_in_array(array),
        _ => 0,
    }
}

fn longest_name_in_array(array: &Array) -> usize {
    match array {
        Array::Object(sections) => sections.iter().map(longest_name).max().unwrap_or(0),
        Array::Array(arrays) => arrays.iter().map(longest_name_in_array).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether the fields of every object in `section` are in byte order of their names
/// (strictly: names are unique), as monerod writes them.
fn is_sorted_deep(section: &Section) -> bool {
    section.fields.windows(2).all(|pair| match pair {
        [(a, _), (b, _)] => a < b,
        _ => true,
    }) && section.fields.iter().all(|(_, value)| value_sorted(value))
}

fn value_sorted(value: &Value) -> bool {
    match value {
        Value::Object(section) => is_sorted_deep(section),
        Value::Array(array) => array_sorted(array),
        _ => true,
    }
}

fn array_sorted(array: &Array) -> bool {
    match array {
        Array::Object(sections) => sections.iter().all(is_sorted_deep),
        Array::Array(arrays) => arrays.iter().all(array_sorted),
        _ => true,
    }
}

/// Checks that `encoded`, written by a typed encoder, is what monerod would write: a valid
/// document whose objects have their fields in name order, and which a dynamic
/// [`Section`] reproduces byte for byte.
fn assert_canonical(encoded: &Bytes, input: &[u8]) {
    let decode = |bytes: &Bytes| from_bytes_with_limits::<Section>(bytes, Limits::TRUSTED);
    match decode_own(encoded, decode, epee_cause) {
        Ok(section) => assert!(
            is_sorted_deep(&section),
            "typed encoding has fields out of name order\nencoded {}\ninput {}",
            hex(encoded),
            hex(input)
        ),
        Err(error) => panic!(
            "typed encoding is not a valid document: {error}\nencoded {}\ninput {}",
            hex(encoded),
            hex(input)
        ),
    }
    assert_fixpoint(encoded, input);
}

/// A nested object for [`Everything`].
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
struct Inner {
    id: u64,
    // Bare `#[epee(default)]` does not compile on a `String` (see `Everything`).
    #[epee(rename = "m_name", default = String::new())]
    name: String,
}

/// A struct that uses every kind of field and attribute the derive macro has (no `f64`,
/// so equality is exact). Every field may be absent, so random documents decode often.
///
/// A bare `#[epee(default)]` on a `String` or `[u8; N]` field does not compile (the
/// derive writes `self.field != Default::default()`, and both types have several
/// `PartialEq` impls), so those fields spell their default out.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
struct Everything {
    #[epee(default)]
    signed: i64,
    #[epee(default)]
    small: i8,
    #[epee(default = 7)]
    seven: u32,
    #[epee(default)]
    port: u16,
    #[epee(default)]
    flag: bool,
    #[epee(missing)]
    blob: Bytes,
    #[epee(rename = "m_text", default = String::new())]
    text: String,
    #[epee(default = [0; 32])]
    hash: [u8; 32],
    maybe: Option<u64>,
    maybe_inner: Option<Inner>,
    inners: Vec<Inner>,
    numbers: Vec<u32>,
    strings: Vec<Bytes>,
    flags: Vec<bool>,
    nested: Vec<Vec<i16>>,
    ids: ByteArrayVec<32>,
    weights: ContainerAsBlob<u64>,
    deltas: ContainerAsBlob<i32>,
}

/// Decodes the input as several typed objects, each with the default limits: the bodies
/// of the handshake request and response, timed-sync response, chain response, objects
/// response and new transactions, and a struct that uses every derive attribute. For each
/// one that decodes: encode → decode gives an equal value, and the encoding is canonical
/// (fields in name order, reproduced byte for byte by a dynamic [`Section`]).
pub fn epee_typed(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    typed_round_trip::<HandshakeRequest>(&input);
    typed_round_trip::<HandshakeResponse>(&input);
    typed_round_trip::<TimedSyncResponse>(&input);
    typed_round_trip::<ChainResponse>(&input);
    typed_round_trip::<GetObjectsResponse>(&input);
    typed_round_trip::<NewTransactions>(&input);
    typed_round_trip::<Everything>(&input);
    borrowed_agrees::<ChainResponse, ChainResponse<&[u8]>>(&input);
    borrowed_agrees::<GetObjectsResponse, GetObjectsResponse<&[u8]>>(&input);
    borrowed_agrees::<NewTransactions, NewTransactions<&[u8]>>(&input);
    transactions_read_back(&input);
}

/// A transaction as [`transactions_read_back`] compares it: its blob and, if pruned, its
/// prunable hash (`None` where a dynamic decode finds no such string).
type ReadBackTx = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The transactions of each block entry of a [`GetObjectsResponse`], read back from their
/// decoded view ([`umbra_wire::TransactionBlobs::iter`]), are exactly as many as it says
/// and exactly those a dynamic [`Section`] decode of the same bytes holds.
fn transactions_read_back(input: &Bytes) {
    let Ok(response) = from_slice::<GetObjectsResponse<&[u8]>>(input) else {
        return;
    };
    let section = match from_bytes_with_limits::<Section>(input, Limits::TRUSTED) {
        Ok(section) => section,
        Err(error) => panic!(
            "a GetObjectsResponse that is not a section: {error}; input {}",
            hex(input)
        ),
    };
    let entries: &[Section] = match section.get("blocks") {
        Some(Value::Array(Array::Object(entries))) => entries,
        _ => &[],
    };
    assert!(
        entries.len() == response.blocks.len(),
        "{} block entries, the section has {}; input {}",
        response.blocks.len(),
        entries.len(),
        hex(input)
    );
    let string = |value: Option<&Value>| match value {
        Some(Value::String(bytes)) => Some(bytes.to_vec()),
        _ => None,
    };
    for (entry, dynamic) in response.blocks.iter().zip(entries) {
        let read_back: Vec<ReadBackTx> = entry
            .txs
            .iter()
            .map(|tx| {
                (
                    Some(tx.blob().to_vec()),
                    tx.prunable_hash().map(|hash| hash.to_vec()),
                )
            })
            .collect();
        let expected: Vec<ReadBackTx> = match dynamic.get("txs") {
            Some(Value::Array(Array::String(blobs))) => blobs
                .iter()
                .map(|blob| (Some(blob.to_vec()), None))
                .collect(),
            Some(Value::Array(Array::Object(txs))) => txs
                .iter()
                .map(|tx| (string(tx.get("blob")), string(tx.get("prunable_hash"))))
                .collect(),
            _ => Vec::new(),
        };
        assert!(
            read_back.len() == entry.txs.len() && read_back == expected,
            "the transactions read back ({} of {}) are not those decoded: {read_back:?} \
             against {expected:?}; input {}",
            read_back.len(),
            entry.txs.len(),
            hex(input)
        );
    }
}

/// Borrowed decoding ([`from_slice`] into the `&[u8]` flavour of a wire type) must agree
/// with owned decoding ([`from_bytes`]): both succeed and encode to the same bytes, or
/// both fail with the same error.
fn borrowed_agrees<'a, Owned, Borrowed>(input: &'a Bytes)
where
    Owned: for<'de> EpeeObject<'de> + Debug,
    Borrowed: EpeeObject<'a> + Debug,
{
    let type_name = std::any::type_name::<Borrowed>();
    match (from_bytes::<Owned>(input), from_slice::<Borrowed>(input)) {
        (Ok(owned), Ok(borrowed)) => {
            let (owned_bytes, borrowed_bytes) = (to_bytes(&owned), to_bytes(&borrowed));
            assert!(
                owned_bytes == borrowed_bytes,
                "{type_name}: borrowed and owned decoding disagree\nowned    {owned:?}\nborrowed {borrowed:?}\ninput {}",
                hex(input)
            );
        }
        (Err(owned), Err(borrowed)) => assert!(
            owned == borrowed,
            "{type_name}: owned decoding fails with {owned}, borrowed with {borrowed}; input {}",
            hex(input)
        ),
        (owned, borrowed) => panic!(
            "{type_name}: only one decoding mode accepts the input\nowned    {owned:?}\nborrowed {borrowed:?}\ninput {}",
            hex(input)
        ),
    }
}

fn typed_round_trip<T: for<'de> EpeeObject<'de> + PartialEq + Debug>(input: &Bytes) {
    let type_name = std::any::type_name::<T>();
    let Ok(value) = from_bytes::<T>(input) else {
        return;
    };
    let encoded = match to_bytes(&value) {
        Ok(bytes) => bytes.freeze(),
        Err(error) => panic!(
            "decoded {type_name} does not re-encode: {error}; input {}",
            hex(input)
        ),
    };
    match decode_own(&encoded, |bytes| from_bytes::<T>(bytes), epee_cause) {
        Ok(again) => assert!(
            again == value,
            "{type_name} changed in a round trip\nbefore {value:?}\nafter  {again:?}\ninput {}",
            hex(input)
        ),
        Err(error) => panic!(
            "re-encoded {type_name} does not decode: {error}\nvalue {value:?}\nencoded {}\ninput {}",
            hex(&encoded),
            hex(input)
        ),
    }
    assert_canonical(&encoded, input);
}

// ---------------------------------------------------------------------------------------
// wire
// ---------------------------------------------------------------------------------------

/// The check behind every `wire_*` target: decodes `data` as the body of the message
/// with `head` (default limits). If that succeeds:
///
/// - the message's own head ([`LevinMessage::head`]) has the command and kind of `head`;
/// - it encodes ([`LevinMessage::encode_body`]), and decoding that gives an equal
///   [`Message`];
/// - the encoding is canonical (see the crate docs).
pub fn wire_round_trip(head: MessageHead, data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let Ok(message) = Message::decode_with_limits(head, &body, Limits::default()) else {
        return;
    };
    // Requests and notifications may carry any return code, responses any positive one:
    // the message's own head has the canonical one.
    let own = message.head();
    assert!(
        own.command == head.command && own.kind == head.kind,
        "decoded with {head:?} but the message says {own:?}"
    );
    let mut encoded = BytesMut::new();
    if let Err(error) = message.encode_body(&mut encoded) {
        panic!(
            "decoded {:?} does not re-encode: {error}; body {}",
            message.id(),
            hex(data)
        );
    }
    let encoded = encoded.freeze();
    let decode = |bytes: &Bytes| Message::decode_with_limits(head, bytes, Limits::default());
    match decode_own(&encoded, decode, wire_cause) {
        Ok(again) => assert!(
            again == message,
            "message changed in a round trip\nbefore {message:?}\nafter  {again:?}\nbody {}",
            hex(data)
        ),
        Err(error) => panic!(
            "re-encoded {:?} does not decode: {error}\nencoded {}\nbody {}",
            message.id(),
            hex(&encoded),
            hex(data)
        ),
    }
    assert_canonical(&encoded, data);
}

// ---------------------------------------------------------------------------------------
// address book
// ---------------------------------------------------------------------------------------

/// Decodes the input as a clearnet peers file with [`decode_peers_file`], the decoder
/// the address book reads `<data_dir>/<zone>-peers.epee` with (default bounds). If that
/// succeeds:
///
/// - the file has this build's format version ([`FILE_VERSION`]) and the zone's name;
/// - it encodes (what [`umbra_address_book::AddressBook::save`] writes for it), and the
///   decoder reads that back as an equal file: a saved book loads as it was saved. (Only
///   an input close to the size limit may encode to more than the limit, since the
///   encoding writes each number at its own width where the input may use a narrower
///   one: then the error must be [`FileError::TooLarge`].)
/// - the encoding is canonical (see the crate docs).
pub fn address_book_peers_file(data: &[u8]) {
    let config = AddressBookConfig::default();
    let Ok(file) = decode_peers_file::<ClearNet>(data, &config) else {
        return;
    };
    assert!(
        file.version == FILE_VERSION && file.zone == <ClearNet as NetworkZone>::NAME,
        "accepted a file of version {} and zone {:?}; input {}",
        file.version,
        file.zone,
        hex(data)
    );
    let encoded = match to_bytes(&file) {
        Ok(bytes) => bytes.freeze(),
        Err(error) => panic!(
            "a decoded peers file does not encode: {error}; input {}",
            hex(data)
        ),
    };
    let decode = |bytes: &Bytes| decode_peers_file::<ClearNet>(bytes, &config);
    match decode_own(&encoded, decode, file_cause) {
        Ok(again) => assert!(
            again == file,
            "a peers file changed in a round trip\nbefore {file:?}\nafter  {again:?}\ninput {}",
            hex(data)
        ),
        Err(FileError::TooLarge { max, .. })
            if u64::try_from(encoded.len()).is_ok_and(|len| len > max) => {}
        Err(error) => panic!(
            "a saved peers file does not load: {error}\nencoded {}\ninput {}",
            hex(&encoded),
            hex(data)
        ),
    }
    assert_canonical(&encoded, data);
}

// ---------------------------------------------------------------------------------------
// levin
// ---------------------------------------------------------------------------------------

/// How [`levin_stream`] sets up its codec; decoded from the input's second byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Max packet size: 4 KiB, 16 KiB, 256 KiB ([`INITIAL_MAX_PACKET_SIZE`]) or 1 MiB
    /// (bits 0–1). The last is larger than [`RESERVE_AHEAD`], so it checks that an
    /// announced size is not reserved up front.
    pub max_packet_size: usize,
    /// Fragments per message: 1, 3, 20 ([`MONEROD_MAX_FRAGMENTS`]) or 256
    /// ([`DEFAULT_MAX_FRAGMENTS`]) (bits 2–3).
    pub max_fragments: usize,
    /// What to do with messages between fragments (bit 4 set: reject).
    pub interleaving: Interleaving,
    /// Noise size used to re-encode each decoded bucket padded: none, 64, 512 or 3072
    /// bytes (bits 5–6).
    pub padding: Option<NoiseSize>,
}

impl StreamConfig {
    /// The configuration encoded in `byte`.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            max_packet_size: match byte & 0b11 {
                0 => 4 << 10,
                1 => 16 << 10,
                2 => INITIAL_MAX_PACKET_SIZE,
                _ => 1 << 20,
            },
            max_fragments: match (byte >> 2) & 0b11 {
                0 => 1,
                1 => 3,
                2 => MONEROD_MAX_FRAGMENTS,
                _ => DEFAULT_MAX_FRAGMENTS,
            },
            interleaving: if byte & 0x10 == 0 {
                Interleaving::Allow
            } else {
                Interleaving::Reject
            },
            padding: match (byte >> 5) & 0b11 {
                0 => None,
                1 => NoiseSize::new(64),
                2 => NoiseSize::new(512),
                _ => Some(NoiseSize::MONEROD),
            },
        }
    }

    fn codec(&self) -> BucketCodec {
        BucketCodec::new(self.max_packet_size)
            .with_max_fragments(self.max_fragments)
            .with_interleaving(self.interleaving)
    }
}

/// A configuration byte for [`levin_stream`] whose codec accepts everything monerod sends
/// on clearnet and Tor (256 KiB, 256 fragments, interleaving allowed), re-encoding with
/// monerod's noise size.
pub const STREAM_CONFIG_MONEROD: u8 = 0b0110_1110;

/// Splits a stream into chunks whose lengths come from a selector byte:
///
/// - `0`: the whole stream at once;
/// - otherwise a base length `(s & 0x3f) + 1`, times 61 if bit 7 is set (so chunks reach
///   past a 3 KiB noise frame); bit 6 set: lengths vary pseudo-randomly in
///   `1..=2 * base`, from a generator seeded by the selector.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    selector: u8,
    state: u32,
}

impl<'a> Chunks<'a> {
    /// Chunks of `stream` as `selector` says.
    #[must_use]
    pub fn new(stream: &'a [u8], selector: u8) -> Self {
        Self {
            rest: stream,
            selector,
            state: u32::from(selector),
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let len = if self.selector == 0 {
            self.rest.len()
        } else {
            let mut base = usize::from(self.selector & 0x3f) + 1;
            if self.selector & 0x80 != 0 {
                base *= 61;
            }
            if self.selector & 0x40 == 0 {
                base
            } else {
                self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                1 + (self.state >> 16) as usize % (2 * base)
            }
        };
        let (chunk, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        Some(chunk)
    }
}

/// What one pass of the codec over a stream produced.
#[derive(Debug, PartialEq, Eq)]
struct StreamOutcome {
    buckets: Vec<Bucket>,
    /// The error that ended the stream, if any (its text, for the assertion message).
    error: Option<String>,
}

/// A loose bound on the read buffer's capacity after `fed` bytes were appended: the
/// codec reserves at most [`RESERVE_AHEAD`] beyond the bytes it holds, and a growing
/// `BytesMut` at most doubles its allocation. A codec that reserved an announced body size
/// up front (up to 1 MiB with config bits 0–1 = 3) would break it.
fn capacity_bound(fed: usize) -> usize {
    4 * (fed + RESERVE_AHEAD)
}

/// Feeds the chunks to a fresh codec, calling `decode` until it wants more bytes after
/// each chunk and `decode_eof` at the end; stops at the first error. With `check_buckets`
/// every bucket also goes through [`check_bucket`] (the chunked pass skips it: its buckets
/// must equal those of the whole pass anyway).
fn run_stream<'a>(
    config: &StreamConfig,
    check_buckets: bool,
    chunks: impl Iterator<Item = &'a [u8]>,
    total: usize,
    input: &[u8],
) -> StreamOutcome {
    // Every bucket the decoder yields consumes at least its 33-byte header, so a decoder
    // that yields more than this is looping without consuming input.
    let max_buckets = total / HEADER_SIZE + 1;
    let mut codec = config.codec();
    let mut src = BytesMut::new();
    let mut buckets = Vec::new();
    let mut fed = 0usize;
    let mut at_eof = false;
    let mut chunks = chunks.fuse();
    while !at_eof {
        match chunks.next() {
            Some(chunk) => {
                src.extend_from_slice(chunk);
                fed += chunk.len();
            }
            None => at_eof = true,
        }
        let mut wants_more = false;
        for _ in 0..=max_buckets {
            let before = src.len();
            let result = if at_eof {
                codec.decode_eof(&mut src)
            } else {
                codec.decode(&mut src)
            };
            assert!(
                src.len() <= before,
                "the decoder added bytes to the read buffer; input {}",
                hex(input)
            );
            assert!(
                src.capacity() <= capacity_bound(fed),
                "read buffer capacity {} after {fed} bytes fed; input {}",
                src.capacity(),
                hex(input)
            );
            match result {
                Ok(Some(bucket)) => {
                    // Each bucket's header was consumed by this call or an earlier one.
                    let consumed = fed - src.len();
                    assert!(
                        (buckets.len() + 1) * HEADER_SIZE <= consumed,
                        "{} buckets out of {consumed} consumed bytes; input {}",
                        buckets.len() + 1,
                        hex(input)
                    );
                    if check_buckets {
                        check_bucket(config, &bucket, input);
                    }
                    buckets.push(bucket);
                }
                Ok(None) => {
                    // Whatever is left is an incomplete header or an incomplete body the
                    // codec has admitted: never more than the limit.
                    assert!(
                        src.len() < config.max_packet_size.max(HEADER_SIZE),
                        "decoder waits with {} bytes buffered (limit {}); input {}",
                        src.len(),
                        config.max_packet_size,
                        hex(input)
                    );
                    if at_eof {
                        assert!(
                            src.is_empty() && !codec.is_reassembling(),
                            "decode_eof ended cleanly with {} bytes left or fragments open; \
                             input {}",
                            src.len(),
                            hex(input)
                        );
                    }
                    wants_more = true;
                    break;
                }
                Err(error) => {
                    return StreamOutcome {
                        buckets,
                        error: Some(error.to_string()),
                    };
                }
            }
        }
        assert!(
            wants_more,
            "decoder yielded more than {max_buckets} buckets from {total} bytes; input {}",
            hex(input)
        );
    }
    StreamOutcome {
        buckets,
        error: None,
    }
}

/// Properties of one decoded bucket: it is a message within the limit, it re-encodes to
/// itself plainly and padded, and (if it is a Monero message) its body round-trips.
fn check_bucket(config: &StreamConfig, bucket: &Bucket, input: &[u8]) {
    let head = match bucket.header.frame_kind() {
        Ok(FrameKind::Message(kind)) => MessageHead {
            command: bucket.header.command,
            kind,
            return_code: bucket.header.return_code,
        },
        other => panic!(
            "decoder yielded a non-message frame ({other:?}) {:?}; input {}",
            bucket.header,
            hex(input)
        ),
    };
    assert!(
        bucket.message_head() == Some(head),
        "Bucket::message_head disagrees with the header's kind; input {}",
        hex(input)
    );
    assert!(
        bucket.header.size == bucket.body.len() as u64,
        "header says {} bytes, body has {}; input {}",
        bucket.header.size,
        bucket.body.len(),
        hex(input)
    );
    assert!(
        bucket.body.len() <= config.max_packet_size,
        "a {}-byte body passed a limit of {}; input {}",
        bucket.body.len(),
        config.max_packet_size,
        hex(input)
    );

    // Plain re-encoding: exactly the header and the body, and it decodes to itself.
    let mut plain = BytesMut::new();
    if let Err(error) = config.codec().encode(bucket.clone(), &mut plain) {
        panic!(
            "a decoded bucket does not re-encode: {error}; input {}",
            hex(input)
        );
    }
    assert!(
        plain.get(..HEADER_SIZE) == Some(&bucket.header.to_bytes()[..])
            && plain.get(HEADER_SIZE..) == Some(&bucket.body[..]),
        "plain re-encoding is not header + body; input {}",
        hex(input)
    );
    match config.codec().decode_eof(&mut plain) {
        Ok(Some(again)) => assert!(
            again == *bucket && plain.is_empty(),
            "plain re-encoding decodes differently; input {}",
            hex(input)
        ),
        other => panic!(
            "plain re-encoding does not decode: {other:?}; input {}",
            hex(input)
        ),
    }

    if let Some(noise) = config.padding {
        check_padded(config, noise, bucket, input);
    }

    if MessageId::from_command(head.command).is_some() {
        wire_round_trip(head, &bucket.body);
    }
}

/// Re-encodes `bucket` padded to `noise` (whole and zero-padded if it fits, else
/// fragmented) and checks that the codec reads it back.
fn check_padded(config: &StreamConfig, noise: NoiseSize, bucket: &Bucket, input: &[u8]) {
    let mut encoder = config.codec().with_padding(Some(noise));
    let mut padded = BytesMut::new();
    if encoder.encode(bucket.clone(), &mut padded).is_err() {
        // Too many fragments or too large once padded: allowed, but nothing may be left
        // half-written.
        assert!(
            padded.is_empty(),
            "a failed padded encode left {} bytes; input {}",
            padded.len(),
            hex(input)
        );
        return;
    }
    assert!(
        padded.len().is_multiple_of(noise.get()),
        "padded encoding of {} bytes is not a multiple of the noise size {}; input {}",
        padded.len(),
        noise.get(),
        hex(input)
    );
    let fragmented = padded.len() > noise.get();
    let mut decoder = config.codec();
    match decoder.decode_eof(&mut padded) {
        Ok(Some(again)) => {
            let same_head = Bucket {
                header: bucket.header,
                body: Bytes::new(),
            }
            .message_head()
                == again.message_head();
            let body_ok = if fragmented {
                again.body == bucket.body
            } else {
                again.body.starts_with(&bucket.body)
                    && again
                        .body
                        .get(bucket.body.len()..)
                        .is_some_and(|pad| pad.iter().all(|b| *b == 0))
            };
            assert!(
                same_head && body_ok,
                "padded re-encoding (noise {}, fragmented {fragmented}) decodes differently; \
                 input {}",
                noise.get(),
                hex(input)
            );
        }
        other => panic!(
            "padded re-encoding (noise {}) does not decode: {other:?}; input {}",
            noise.get(),
            hex(input)
        ),
    }
    match decoder.decode_eof(&mut padded) {
        Ok(None) => {}
        other => panic!(
            "padded re-encoding leaves something behind: {other:?}; input {}",
            hex(input)
        ),
    }
}

/// Decodes a levin byte stream with a [`BucketCodec`] and checks how it behaves.
///
/// Input layout: `[chunking, config, stream...]`; the first byte says how the stream is
/// cut into the chunks handed to the codec ([`Chunks`]), the second how the codec is set
/// up ([`StreamConfig::from_byte`]). Inputs shorter than two bytes are a stream on their
/// own with both bytes zero. [`levin_stream_input`] builds inputs.
///
/// After every chunk `decode` is called until it wants more bytes, and `decode_eof` at the
/// end. Asserted:
///
/// - no panic and no endless loop: every bucket accounts for at least a header's worth of
///   consumed bytes;
/// - while the codec waits for bytes it holds less than the max packet size; the read
///   buffer's capacity never follows a body size announced by a header (it grows by at
///   most [`RESERVE_AHEAD`] beyond the bytes that arrived);
/// - a clean end of stream leaves no bytes and no open fragments;
/// - every bucket is a message with `header.size == body.len()` within the limit, whose
///   plain re-encoding is exactly header + body and decodes to it, and whose padded
///   re-encoding (if configured) decodes to it (plus zero padding when not fragmented);
/// - a bucket that is a Monero message passes [`wire_round_trip`];
/// - the chunking changes nothing: cutting the stream as the first byte says yields the
///   same buckets, and an error if and only if, feeding it whole does.
pub fn levin_stream(data: &[u8]) {
    let (selector, config, stream) = match data {
        [selector, config, stream @ ..] => (*selector, *config, stream),
        _ => (0, 0, data),
    };
    let config = StreamConfig::from_byte(config);
    let whole = run_stream(&config, true, std::iter::once(stream), stream.len(), data);
    if selector == 0 {
        return;
    }
    let chunked = run_stream(
        &config,
        false,
        Chunks::new(stream, selector),
        stream.len(),
        data,
    );
    assert!(
        chunked.buckets == whole.buckets && chunked.error.is_some() == whole.error.is_some(),
        "chunking changed the outcome: whole gave {} buckets and {:?}, chunked {} buckets \
         and {:?}; input {}",
        whole.buckets.len(),
        whole.error,
        chunked.buckets.len(),
        chunked.error,
        hex(data)
    );
}

/// An input for [`levin_stream`]: the chunk selector, the config byte, then the stream.
#[must_use]
pub fn levin_stream_input(selector: u8, config: u8, stream: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(stream.len() + 2);
    input.push(selector);
    input.push(config);
    input.extend_from_slice(stream);
    input
}

// ---------------------------------------------------------------------------------------
// noise
// ---------------------------------------------------------------------------------------

/// How many records of up to 64 KiB one [`noise_records`] input may seal (the rest are
/// skipped), so a short input cannot make megabytes.
const NOISE_LARGE_RECORDS: usize = 8;

/// What [`noise_records`] put on the wire and expects back.
#[derive(Debug, Default)]
struct NoiseWire {
    stream: Vec<u8>,
    /// Where each sealed record starts and ends in `stream` (before byte-level edits).
    records: Vec<std::ops::Range<usize>>,
    /// The data of every record a decoder may accept, in order.
    expected: Vec<u8>,
    /// Whether a final record was sealed.
    fin: bool,
    /// Whether anything but honest records was put on the wire.
    tampered: bool,
}

/// Builds a record stream from the program in `program`; see [`noise_records`].
fn noise_program(encoder: &mut umbra_transport::noise::RecordEncoder, program: &[u8]) -> NoiseWire {
    use umbra_transport::noise::record::RecordHeader;

    let mut wire = NoiseWire::default();
    let mut large = 0;
    let mut rest = program;
    let mut counter = 0u8;
    while let [op, tail @ ..] = rest {
        rest = tail;
        let arg = usize::from(op & 0x1f);
        let mut take = |n: usize| {
            let (taken, left) = rest.split_at(n.min(rest.len()));
            rest = left;
            taken
        };
        counter = counter.wrapping_add(1);
        match op >> 5 {
            // An honest record: small, large, or the final one.
            kind @ 0..=2 => {
                let len = match kind {
                    0 => arg * 13,
                    1 if large < NOISE_LARGE_RECORDS => {
                        large += 1;
                        (arg * 2113 + 1).min(encoder.max_data())
                    }
                    1 => continue,
                    _ => arg,
                };
                let mut plain = vec![counter; len];
                let start = wire.stream.len();
                if encoder
                    .seal(&mut plain, kind == 2, &mut wire.stream)
                    .is_ok()
                {
                    wire.records.push(start..wire.stream.len());
                    wire.expected.extend(std::iter::repeat_n(counter, len));
                    wire.fin |= kind == 2;
                }
            }
            // A header that may lie, with a body that may not match it.
            3 => {
                let header = match take(5) {
                    &[b0, b1, p0, p1, flags] => RecordHeader {
                        body_len: u16::from_be_bytes([b0, b1]),
                        pad_len: u16::from_be_bytes([p0, p1]),
                        flags,
                    },
                    _ => continue,
                };
                let body_len = if arg & 1 == 1 {
                    usize::from(header.body_len).min(2048)
                } else {
                    arg * 5
                };
                let body = vec![counter; body_len];
                let start = wire.stream.len();
                if encoder.seal_raw(header, &body, &mut wire.stream).is_ok() {
                    wire.records.push(start..wire.stream.len());
                    // A decoder may accept it only if it is self-consistent (a FIN or
                    // REKEY flag then derails what follows: only the prefix is checked).
                    let consistent = usize::from(header.body_len) == body_len
                        && header.pad_len <= header.body_len
                        && header.flags & !umbra_transport::noise::record::flags::KNOWN == 0;
                    if consistent {
                        let data = usize::from(header.body_len - header.pad_len);
                        wire.expected.extend(std::iter::repeat_n(counter, data));
                    }
                    wire.tampered = true;
                }
            }
            // Byte-level edits: flip a bit, cut, inject bytes.
            4 => {
                if let (&[lo, hi], false) = (take(2), wire.stream.is_empty()) {
                    let at = usize::from(u16::from_le_bytes([lo, hi])) % wire.stream.len();
                    if let Some(byte) = wire.stream.get_mut(at) {
                        *byte ^= 1 << (arg & 7);
                    }
                    wire.tampered = true;
                }
            }
            5 => {
                if let &[lo, hi] = take(2) {
                    let at = usize::from(u16::from_le_bytes([lo, hi])) % (wire.stream.len() + 1);
                    wire.stream.truncate(at);
                    wire.tampered = true;
                }
            }
            6 => {
                let bytes = take(arg);
                wire.stream.extend_from_slice(bytes);
                wire.tampered |= !bytes.is_empty();
            }
            // Replay the last record, or swap the last two.
            _ => {
                let len = wire.stream.len();
                let last_two = match wire.records.as_slice() {
                    [.., a, b] if a.end == b.start && b.end <= len => Some((a.clone(), b.clone())),
                    _ => None,
                };
                let last = wire.records.last().cloned().filter(|r| r.end <= len);
                if arg & 1 == 0 {
                    if let Some(record) = last {
                        wire.stream.extend_from_within(record);
                        wire.tampered = true;
                    }
                } else if let Some((a, b)) = last_two {
                    let first = wire.stream.get(a.clone()).map(<[u8]>::to_vec);
                    let second = wire.stream.get(b.clone()).map(<[u8]>::to_vec);
                    if let (Some(first), Some(second)) = (first, second) {
                        let tail = wire.stream.split_off(b.end);
                        wire.stream.truncate(a.start);
                        wire.stream.extend_from_slice(&second);
                        wire.stream.extend_from_slice(&first);
                        wire.stream.extend_from_slice(&tail);
                        wire.tampered = true;
                    }
                }
            }
        }
    }
    wire
}

/// Drives a Noise [`RecordDecoder`](umbra_transport::noise::RecordDecoder) with a record
/// stream built from the input, fed in chunks.
///
/// Input: a config byte (bits 0–1: padding none / uniform ≤ 255 / uniform ≤ 4000 /
/// blocks of 256; bits 2–3: rekey after `u64::MAX`, 1, 200 or 5,000 bytes), a chunking
/// selector ([`Chunks`]), then a program, one op byte each (high 3 bits the op, low 5 an
/// argument): an honest record (small, large or final), a raw header that may lie (with
/// 5 header bytes), a flipped bit, a cut, injected bytes, a replayed or a dropped
/// record. The encoder and decoder share a fixed key.
///
/// Asserts: whatever the stream, the data the decoder accepts is a prefix of the data
/// that was sealed, in order (nothing forged, replayed or reordered gets through); it
/// never asks for more than one record ([`MAX_RECORD`](umbra_transport::noise::record::MAX_RECORD))
/// to be buffered; after an error every call fails; and an untouched stream decodes to
/// exactly what was sealed, ending where it ends, final record included.
pub fn noise_records(data: &[u8]) {
    use umbra_transport::noise::{
        Padding, RecordError,
        record::{MAX_RECORD, record_pair},
    };

    let (config, selector, program) = match data {
        [config, selector, program @ ..] => (*config, *selector, program),
        _ => (0, 0, data),
    };
    let padding = match config & 3 {
        0 => Padding::None,
        1 => Padding::Uniform { max: 255 },
        2 => Padding::Uniform { max: 4000 },
        _ => Padding::Blocks {
            block: 256,
            extra_blocks: 2,
        },
    };
    let rekey_after = match (config >> 2) & 3 {
        0 => u64::MAX,
        1 => 1,
        2 => 200,
        _ => 5000,
    };
    let Some((mut encoder, mut decoder)) = record_pair(u64::from(config), padding, rekey_after)
    else {
        panic!("no ChaCha20-Poly1305");
    };
    let wire = noise_program(&mut encoder, program);

    let mut decoded = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut error = None;
    let mut fin = false;
    'chunks: for chunk in Chunks::new(&wire.stream, selector) {
        buffer.extend_from_slice(chunk);
        loop {
            let header = match decoder.decode_header(&buffer) {
                Ok(Some(header)) => header,
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'chunks;
                }
            };
            let len = header.record_len();
            assert!(
                len <= MAX_RECORD,
                "a record of {len} bytes; input {}",
                hex(data)
            );
            let Some(record) = buffer.get_mut(..len) else {
                break;
            };
            match decoder.open_in_place(record) {
                Ok(opened) => {
                    decoded.extend_from_slice(record.get(opened.data()).unwrap_or_default());
                    buffer.drain(..len);
                    if opened.fin {
                        fin = true;
                        break 'chunks;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break 'chunks;
                }
            }
        }
        // Waiting for the rest of one record: never more than a record is held.
        assert!(
            buffer.len() < MAX_RECORD,
            "{} bytes buffered waiting for one record; input {}",
            buffer.len(),
            hex(data)
        );
    }
    assert!(
        wire.expected.starts_with(&decoded),
        "the decoder accepted data that was not sealed in this order ({} of {} bytes); \
         input {}",
        decoded.len(),
        wire.expected.len(),
        hex(data)
    );
    if error.is_some() {
        assert_eq!(
            decoder.decode_header(&wire.stream),
            Err(RecordError::Failed),
            "a failed decoder went on; input {}",
            hex(data)
        );
    }
    if !wire.tampered {
        assert!(
            error.is_none() && decoded == wire.expected && fin == wire.fin,
            "an untouched stream did not decode to what was sealed: {error:?}, {} of {} \
             bytes, fin {fin} (sealed {}); input {}",
            decoded.len(),
            wire.expected.len(),
            wire.fin,
            hex(data)
        );
        assert!(
            fin || buffer.is_empty(),
            "bytes left over; input {}",
            hex(data)
        );
    }
}

/// The identities of [`noise_handshake`]: fixed, so runs are reproducible.
fn noise_identities() -> &'static (
    umbra_transport::noise::Identity,
    umbra_transport::noise::Identity,
) {
    use umbra_transport::noise::Identity;
    static IDS: std::sync::OnceLock<(Identity, Identity)> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        (
            Identity::from_seed(&[0x11; 32]),
            Identity::from_seed(&[0x22; 32]),
        )
    })
}

/// Whether `mask` (XORed over a handshake message) changes nothing but the two random
/// top bits of the representative (byte 31), which the Elligator2 map ignores.
fn only_tweak_bits(mask: &[u8]) -> bool {
    mask.iter()
        .enumerate()
        .all(|(i, &m)| m == 0 || (i == 31 && m & 0x3f == 0))
}

/// Drives the Noise handshake's sans-IO cores with the input, as a responder reading
/// msg1 or an initiator reading msg2 (fixed identities and clock, generators seeded from
/// the input).
///
/// Input: a mode byte, a seed byte, then: (mode 0) raw bytes read as msg1; (mode 1) a
/// mask XORed over a genuine msg1; (mode 2) raw bytes read as msg2 by a genuine
/// initiator; (mode 3) a mask XORed over a genuine msg2.
///
/// Asserts: raw bytes never make a valid message; a masked genuine message is accepted
/// exactly when the mask is empty or only flips the representative's two random top
/// bits; an accepted msg1 is refused as a replay the second time; an accepted message's
/// padding length is within [`MAX_HANDSHAKE_PADDING`](umbra_transport::noise::MAX_HANDSHAKE_PADDING).
pub fn noise_handshake(data: &[u8]) {
    use rand::{SeedableRng, rngs::StdRng};
    use umbra_transport::noise::{
        Config, HandshakeError, InitiatorHandshake, MAX_HANDSHAKE_PADDING, ReplayFilter,
        ResponderHandshake,
        handshake::{MSG1_LEN, MSG2_LEN},
    };

    const NOW: u64 = 1_800_000_000_000;
    let (mode, seed, rest) = match data {
        [mode, seed, rest @ ..] => (*mode, *seed, rest),
        _ => return,
    };
    let (initiator, responder) = noise_identities();
    let config = Config::default();
    let filter = ReplayFilter::new(std::time::Duration::from_secs(120), 16);
    let mut rng = StdRng::seed_from_u64(u64::from(seed));
    let Ok((pending, msg1)) =
        InitiatorHandshake::start(initiator, &responder.public(), &config, NOW, &mut rng)
    else {
        panic!("a genuine msg1 could not be made");
    };
    let masked = |message: &[u8], len: usize| {
        let mut fixed = vec![0u8; len];
        for (i, slot) in fixed.iter_mut().enumerate() {
            *slot = message.get(i).copied().unwrap_or(0) ^ rest.get(i).copied().unwrap_or(0);
        }
        fixed
    };
    match mode % 4 {
        0 | 1 => {
            let fixed = if mode % 4 == 0 {
                match rest.get(..MSG1_LEN) {
                    Some(bytes) => bytes.to_vec(),
                    // A responder would wait for the rest, then time out.
                    None => return,
                }
            } else {
                masked(&msg1, MSG1_LEN)
            };
            let Ok(fixed) = <[u8; MSG1_LEN]>::try_from(fixed.as_slice()) else {
                return;
            };
            let expect_ok = mode % 4 == 1 && only_tweak_bits(rest.get(..MSG1_LEN).unwrap_or(rest));
            match ResponderHandshake::read_msg1(responder, &fixed, NOW, &filter, &mut rng) {
                Ok(accepted) => {
                    assert!(expect_ok, "msg1 accepted; input {}", hex(data));
                    assert_eq!(accepted.remote_key(), initiator.public());
                    assert!(accepted.msg1_padding() <= usize::from(MAX_HANDSHAKE_PADDING));
                    let again =
                        ResponderHandshake::read_msg1(responder, &fixed, NOW, &filter, &mut rng);
                    assert!(
                        matches!(again, Err(HandshakeError::Replay)),
                        "a replayed msg1 was not refused: {again:?}; input {}",
                        hex(data)
                    );
                    if accepted.write_msg2(&config, NOW, &mut rng).is_err() {
                        panic!("msg2 could not be written; input {}", hex(data));
                    }
                }
                Err(error) => assert!(
                    !expect_ok,
                    "a genuine msg1 was refused: {error}; input {}",
                    hex(data)
                ),
            }
        }
        _ => {
            let fixed = if mode % 4 == 2 {
                match rest.get(..MSG2_LEN) {
                    Some(bytes) => bytes.to_vec(),
                    None => return,
                }
            } else {
                let Ok(msg1) = <[u8; MSG1_LEN]>::try_from(msg1.get(..MSG1_LEN).unwrap_or_default())
                else {
                    panic!("msg1 is shorter than {MSG1_LEN} bytes");
                };
                let Ok(accepted) =
                    ResponderHandshake::read_msg1(responder, &msg1, NOW, &filter, &mut rng)
                else {
                    panic!("a genuine msg1 was refused; input {}", hex(data));
                };
                let Ok((msg2, _)) = accepted.write_msg2(&config, NOW, &mut rng) else {
                    panic!("msg2 could not be written");
                };
                masked(&msg2, MSG2_LEN)
            };
            let Ok(fixed) = <[u8; MSG2_LEN]>::try_from(fixed.as_slice()) else {
                return;
            };
            let expect_ok = mode % 4 == 3 && only_tweak_bits(rest.get(..MSG2_LEN).unwrap_or(rest));
            match pending.read_msg2(&fixed, &config) {
                Ok((established, padding)) => {
                    assert!(expect_ok, "msg2 accepted; input {}", hex(data));
                    assert_eq!(established.info.remote_key(), responder.public());
                    assert!(padding <= usize::from(MAX_HANDSHAKE_PADDING));
                }
                Err(error) => assert!(
                    !expect_ok,
                    "a genuine msg2 was refused: {error}; input {}",
                    hex(data)
                ),
            }
        }
    }
}

#[cfg(test)]
mod noise_tests {
    use super::*;

    /// The Noise checks' oracles are not vacuous: an honest program reaches the
    /// exact-decoding assertion, and genuine handshake messages (untouched, or with only
    /// the representative's random top bits flipped) reach the acceptance path.
    #[test]
    fn the_noise_checks_reach_their_oracles() {
        let Some((mut encoder, _)) = umbra_transport::noise::record::record_pair(
            0,
            umbra_transport::noise::Padding::None,
            u64::MAX,
        ) else {
            panic!("no cipher");
        };
        let wire = noise_program(&mut encoder, &[0x05, 0x21, 0x3f, 0x43]);
        assert!(!wire.tampered && wire.fin);
        assert_eq!(wire.expected.len(), 65 + 2114 + (31 * 2113 + 1) + 3);
        for config in [0u8, 1, 2, 3, 4, 5, 6, 7, 0x0b, 0x0f] {
            for selector in [0u8, 1, 0x47, 0xc1] {
                noise_records(&[config, selector, 0x05, 0x21, 0x3f, 0x43]);
            }
        }
        let mut tweak = vec![1u8, 9];
        tweak.extend(std::iter::repeat_n(0, 31));
        tweak.push(0xc0);
        for mode in [1u8, 3] {
            noise_handshake(&[mode, 9]);
            tweak[0] = mode;
            noise_handshake(&tweak);
        }
        // One flipped bit anywhere else is refused (asserted inside).
        noise_handshake(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0x10]);
        noise_handshake(&[3, 9, 0x80]);
    }
}
