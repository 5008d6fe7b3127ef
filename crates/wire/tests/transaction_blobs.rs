//! `TransactionBlobs`, the lazy view of a block entry's transactions: decoding checks every
//! transaction exactly as decoding them into vectors does (same errors, same limits), the
//! transactions read back lazily are the ones an eager decode finds, and decoded lists
//! compare and encode like built ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use proptest::{collection::vec, prelude::*};
use umbra_epee::{
    Array, EpeeObject, ErrorKind, Limits, Section, Value, from_bytes, from_slice,
    from_slice_with_limits, to_bytes,
};
use umbra_wire::{BlockCompleteEntry, TransactionBlobs, TxBlobEntry, TxBlobRef};

/// A block entry decoded the way `txs` was decoded before it became a view: a vector of
/// full blobs.
#[derive(Debug, PartialEq, EpeeObject)]
struct EagerNormal<'a> {
    #[epee(default = false)]
    pruned: bool,
    block: &'a [u8],
    #[epee(default = 0)]
    block_weight: u64,
    txs: Vec<&'a [u8]>,
}

/// The same with a vector of pruned entries.
#[derive(Debug, PartialEq, EpeeObject)]
struct EagerPruned<'a> {
    #[epee(default = false)]
    pruned: bool,
    block: &'a [u8],
    #[epee(default = 0)]
    block_weight: u64,
    txs: Vec<TxBlobEntry<&'a [u8]>>,
}

fn normal_entry(txs: Vec<Bytes>) -> BlockCompleteEntry {
    BlockCompleteEntry {
        pruned: false,
        block: Bytes::from_static(b"a block"),
        block_weight: 0,
        txs: TransactionBlobs::from_blobs(txs),
    }
}

fn pruned_entry(txs: Vec<(Bytes, [u8; 32])>) -> BlockCompleteEntry {
    BlockCompleteEntry {
        pruned: true,
        block: Bytes::from_static(b"a pruned block"),
        block_weight: 12_345,
        txs: TransactionBlobs::from_pruned(
            txs.into_iter()
                .map(|(blob, prunable_hash)| TxBlobEntry {
                    blob,
                    prunable_hash,
                })
                .collect(),
        ),
    }
}

fn encode<'de, T: EpeeObject<'de>>(value: &T) -> Bytes {
    to_bytes(value).unwrap().freeze()
}

/// A section field.
fn field(name: &'static str, value: Value) -> (Bytes, Value) {
    (Bytes::from_static(name.as_bytes()), value)
}

fn string(bytes: &'static [u8]) -> Value {
    Value::String(Bytes::from_static(bytes))
}

/// A pruned transaction as a section.
fn tx_section(fields: Vec<(Bytes, Value)>) -> Section {
    Section { fields }
}

/// A block entry document with the given `txs` value (and `pruned` if given).
fn entry_doc(pruned: Option<bool>, txs: Value) -> Bytes {
    let mut fields = vec![field("block", string(b"block"))];
    if let Some(pruned) = pruned {
        fields.push(field("pruned", Value::Bool(pruned)));
    }
    fields.push(field("txs", txs));
    encode(&Section { fields })
}

/// The transactions of a decoded entry, as owned pairs.
fn lazy(entry: &BlockCompleteEntry<&[u8]>) -> Vec<(Vec<u8>, Option<[u8; 32]>)> {
    entry
        .txs
        .iter()
        .map(|tx| (tx.blob().to_vec(), tx.prunable_hash().copied()))
        .collect()
}

#[test]
fn decoded_lists_equal_built_ones_and_encode_to_the_same_bytes() {
    let big = Bytes::from(vec![7u8; 70_000]); // a 4-byte length varint
    for entry in [
        normal_entry(vec![
            Bytes::from_static(b"tx one"),
            Bytes::new(),
            Bytes::from(vec![1u8; 300]),
            big.clone(),
        ]),
        normal_entry(Vec::new()),
        pruned_entry(vec![(Bytes::from_static(b"tx"), [3; 32]), (big, [4; 32])]),
        pruned_entry(Vec::new()),
    ] {
        let bytes = encode(&entry);
        let owned: BlockCompleteEntry = from_bytes(&bytes).unwrap();
        assert_eq!(owned, entry);
        assert_eq!(owned.txs.len(), entry.txs.len());
        assert_eq!(owned.txs.is_pruned(), entry.pruned);
        assert_eq!(encode(&owned), bytes);

        let borrowed: BlockCompleteEntry<&[u8]> = from_slice(&bytes).unwrap();
        assert!(borrowed.txs.iter().eq(entry.txs.iter()));
        assert_eq!(borrowed.txs.iter().len(), entry.txs.len());
        assert_eq!(encode(&borrowed), bytes);
    }
}

#[test]
fn an_owned_decode_shares_the_input() {
    let entry = normal_entry(vec![
        Bytes::from_static(b"first"),
        Bytes::from(vec![9; 100]),
    ]);
    let bytes = encode(&entry);
    let decoded: BlockCompleteEntry = from_bytes(&bytes).unwrap();
    let input = bytes.as_ptr_range();
    for tx in &decoded.txs {
        assert!(input.contains(&tx.blob().as_ptr()), "a blob was copied");
    }
}

#[test]
fn items_say_what_they_are() {
    let bytes = encode(&pruned_entry(vec![(Bytes::from_static(b"p"), [5; 32])]));
    let decoded: BlockCompleteEntry<&[u8]> = from_slice(&bytes).unwrap();
    assert_eq!(
        decoded.txs.iter().collect::<Vec<_>>(),
        [TxBlobRef::Pruned {
            blob: b"p",
            prunable_hash: &[5; 32]
        }]
    );
    let bytes = encode(&normal_entry(vec![Bytes::from_static(b"f")]));
    let decoded: BlockCompleteEntry<&[u8]> = from_slice(&bytes).unwrap();
    assert_eq!(
        decoded.txs.iter().collect::<Vec<_>>(),
        [TxBlobRef::Full(b"f")]
    );
    assert_eq!(decoded.txs.iter().next().unwrap().prunable_hash(), None);
    assert!(format!("{:?}", decoded.txs).starts_with("Normal"));
}

#[test]
fn lists_of_different_kinds_or_transactions_differ() {
    assert_ne!(
        TransactionBlobs::<Bytes>::new(false),
        TransactionBlobs::new(true)
    );
    assert_eq!(
        TransactionBlobs::<Bytes>::new(false),
        TransactionBlobs::from_blobs(Vec::new())
    );
    assert_ne!(
        normal_entry(vec![Bytes::from_static(b"a")]).txs,
        normal_entry(vec![Bytes::from_static(b"b")]).txs
    );
    let decoded: BlockCompleteEntry =
        from_bytes(&encode(&normal_entry(vec![Bytes::from_static(b"a")]))).unwrap();
    assert_ne!(decoded.txs, normal_entry(vec![Bytes::new()]).txs);
}

#[test]
fn an_input_spelt_differently_encodes_as_monerod_writes_it() {
    // A 2-byte length varint where 1 byte does, pruned fields out of order, an unknown
    // field: the decoded entry encodes to what the built one does, as it did when `txs`
    // was decoded into vectors.
    let canonical = encode(&normal_entry(vec![Bytes::from_static(b"hello")]));
    let at = canonical
        .windows(6)
        .position(|w| w == b"\x14hello")
        .unwrap();
    let mut long = canonical[..at].to_vec();
    long.extend_from_slice(b"\x15\x00hello");
    long.extend_from_slice(&canonical[at + 6..]);
    let decoded: BlockCompleteEntry<&[u8]> = from_slice(&long).unwrap();
    assert_eq!(encode(&decoded), canonical);

    let shuffled = entry_doc(
        Some(true),
        Value::Array(Array::Object(vec![tx_section(vec![
            field("zzz", Value::U8(1)),
            field("prunable_hash", Value::String(Bytes::from(vec![8u8; 32]))),
            field("blob", string(b"tx")),
        ])])),
    );
    let decoded: BlockCompleteEntry<&[u8]> = from_slice(&shuffled).unwrap();
    let built = BlockCompleteEntry {
        pruned: true,
        block: Bytes::from_static(b"block"),
        block_weight: 0,
        txs: TransactionBlobs::from_pruned(vec![TxBlobEntry {
            blob: Bytes::from_static(b"tx"),
            prunable_hash: [8; 32],
        }]),
    };
    assert_eq!(encode(&decoded), encode(&built));
}

#[test]
fn monerods_bare_array_marker_is_read_for_both_kinds() {
    // A field of type 13 ("array", without the array flag) followed by the array's marker.
    let normal = encode(&normal_entry(vec![Bytes::from_static(b"tx")]));
    let pruned = encode(&pruned_entry(vec![(Bytes::from_static(b"tx"), [1; 32])]));
    for canonical in [normal, pruned] {
        let at = canonical.windows(4).position(|w| w == b"\x03txs").unwrap() + 4;
        let mut bare = canonical[..at].to_vec();
        bare.push(0x0d);
        bare.extend_from_slice(&canonical[at..]);
        let decoded: BlockCompleteEntry<&[u8]> = from_slice(&bare).unwrap();
        assert_eq!(encode(&decoded), canonical);
    }
}

/// Decodes `bytes` as a view and eagerly, and checks that both agree: on the
/// transactions if both succeed, on the very same error if both fail.
fn agrees_with_eager(bytes: &[u8], limits: Limits) -> Result<(), umbra_epee::Error> {
    let view = from_slice_with_limits::<BlockCompleteEntry<&[u8]>>(bytes, limits);
    let normal = from_slice_with_limits::<EagerNormal<'_>>(bytes, limits);
    let pruned = from_slice_with_limits::<EagerPruned<'_>>(bytes, limits);
    match &view {
        Ok(entry) if entry.txs.is_empty() => {}
        Ok(entry) if entry.txs.is_pruned() => {
            let eager = pruned.expect("the eager decode refuses what the view accepts");
            let eager: Vec<_> = eager
                .txs
                .iter()
                .map(|tx| (tx.blob.to_vec(), Some(tx.prunable_hash)))
                .collect();
            assert_eq!(lazy(entry), eager);
        }
        Ok(entry) => {
            let eager = normal.expect("the eager decode refuses what the view accepts");
            let eager: Vec<_> = eager.txs.iter().map(|tx| (tx.to_vec(), None)).collect();
            assert_eq!(lazy(entry), eager);
        }
        // The eager decoder of the same kind fails in the same way (the other kind fails on
        // the marker); the consistency rule between `pruned` and `txs` is the view's own.
        Err(error) if matches!(error.kind(), ErrorKind::Invalid(_)) => {}
        Err(error) => {
            let eager = if bytes.windows(5).any(|w| w == b"\x03txs\x8c") {
                pruned.err()
            } else {
                normal.err()
            };
            assert_eq!(
                Some(error),
                eager.as_ref(),
                "the view and the eager decode disagree"
            );
        }
    }
    view.map(drop)
}

fn hash_of(len: usize) -> Value {
    Value::String(Bytes::from(vec![2u8; len]))
}

fn pruned_tx(blob: &'static [u8]) -> Section {
    tx_section(vec![
        field("blob", string(blob)),
        field("prunable_hash", hash_of(32)),
    ])
}

#[test]
fn malformed_transactions_are_refused_at_decode() {
    let limits = Limits::default();
    let pruned =
        |sections: Vec<Section>| entry_doc(Some(true), Value::Array(Array::Object(sections)));
    let cases: Vec<(&str, Bytes, Vec<&str>)> = vec![
        (
            "a 31-byte prunable hash",
            pruned(vec![
                pruned_tx(b"ok"),
                tx_section(vec![
                    field("blob", string(b"x")),
                    field("prunable_hash", hash_of(31)),
                ]),
            ]),
            vec!["txs", "prunable_hash"],
        ),
        (
            "a pruned transaction without its blob",
            pruned(vec![tx_section(vec![field("prunable_hash", hash_of(32))])]),
            vec!["txs"],
        ),
        (
            "a pruned transaction with two hashes",
            pruned(vec![tx_section(vec![
                field("blob", string(b"x")),
                field("prunable_hash", hash_of(32)),
                field("prunable_hash", hash_of(32)),
            ])]),
            vec!["txs"],
        ),
        (
            "a blob that is a number",
            pruned(vec![tx_section(vec![
                field("blob", Value::U64(1)),
                field("prunable_hash", hash_of(32)),
            ])]),
            vec!["txs", "blob"],
        ),
        (
            "an array of numbers",
            entry_doc(None, Value::Array(Array::U64(vec![1, 2]))),
            vec!["txs"],
        ),
        (
            "a single string",
            entry_doc(None, string(b"tx")),
            vec!["txs"],
        ),
        (
            "full blobs in a pruned entry",
            entry_doc(
                Some(true),
                Value::Array(Array::String(vec![Bytes::from_static(b"tx")])),
            ),
            vec!["txs"],
        ),
        (
            "pruned transactions in an entry that is not pruned",
            entry_doc(
                Some(false),
                Value::Array(Array::Object(vec![pruned_tx(b"tx")])),
            ),
            vec!["txs"],
        ),
    ];
    for (what, bytes, path) in cases {
        let error = agrees_with_eager(&bytes, limits).expect_err(what);
        assert_eq!(error.field_path(), path, "{what}: {error}");
    }

    // Cut anywhere inside the transactions: refused, and as the eager decode refuses it.
    let whole = encode(&pruned_entry(vec![
        (Bytes::from_static(b"first"), [1; 32]),
        (Bytes::from_static(b"second"), [2; 32]),
    ]));
    let start = whole.windows(4).position(|w| w == b"\x03txs").unwrap();
    for end in start..whole.len() {
        agrees_with_eager(&whole[..end], limits).expect_err("a truncated entry");
    }
}

#[test]
fn every_limit_applies_to_every_transaction() {
    let normal = encode(&normal_entry(
        (0..5u8).map(|i| Bytes::from(vec![i; 40])).collect(),
    ));
    let pruned = encode(&pruned_entry(
        (0..3u8)
            .map(|i| (Bytes::from(vec![i; 40]), [i; 32]))
            .collect(),
    ));
    let limits = Limits::default();
    let cases = [
        // The block and five transactions are six strings.
        (
            &normal,
            Limits {
                max_strings: 5,
                ..limits
            },
            "too many strings",
        ),
        (
            &normal,
            Limits {
                max_string_len: 39,
                ..limits
            },
            "a string too long",
        ),
        (
            &normal,
            Limits {
                max_array_len: 4,
                ..limits
            },
            "an array too long",
        ),
        (
            &normal,
            Limits {
                max_depth: 1,
                ..limits
            },
            "too deep",
        ),
        // Three pruned transactions are three objects.
        (
            &pruned,
            Limits {
                max_objects: 2,
                ..limits
            },
            "too many objects",
        ),
        // The root's four fields and two per transaction.
        (
            &pruned,
            Limits {
                max_fields: 9,
                ..limits
            },
            "too many fields",
        ),
        (
            &pruned,
            Limits {
                max_strings: 6,
                ..limits
            },
            "too many strings",
        ),
        (
            &pruned,
            Limits {
                max_depth: 2,
                ..limits
            },
            "too deep",
        ),
    ];
    for (bytes, limits, what) in cases {
        let error = agrees_with_eager(bytes, limits).expect_err(what);
        assert_eq!(error.field_path().first(), Some(&"txs"), "{what}: {error}");
    }
    // And each one exactly at the limit is fine.
    let at_the_limit = [
        (
            &normal,
            Limits {
                max_strings: 6,
                ..limits
            },
        ),
        (
            &normal,
            Limits {
                max_string_len: 40,
                ..limits
            },
        ),
        (
            &normal,
            Limits {
                max_array_len: 5,
                ..limits
            },
        ),
        (
            &normal,
            Limits {
                max_depth: 2,
                ..limits
            },
        ),
        (
            &pruned,
            Limits {
                max_objects: 3,
                ..limits
            },
        ),
        (
            &pruned,
            Limits {
                max_fields: 10,
                ..limits
            },
        ),
        (
            &pruned,
            Limits {
                max_strings: 7,
                ..limits
            },
        ),
        (
            &pruned,
            Limits {
                max_depth: 3,
                ..limits
            },
        ),
    ];
    for (bytes, limits) in at_the_limit {
        agrees_with_eager(bytes, limits).unwrap();
    }
}

/// A transaction blob of at least one byte: monerod (`ps_min_bytes<std::string>` = 2) and
/// `umbra-epee` refuse an array whose length exceeds the remaining input / 2, so an array
/// of empty strings at the end of an object is refused by both, as it should be.
fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 1..300).prop_map(Bytes::from)
}

proptest! {
    #[test]
    fn lazy_iteration_equals_an_eager_decode(
        txs in vec(blob(), 0..8),
        pruned in vec((blob(), any::<[u8; 32]>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        for bytes in [encode(&normal_entry(txs)), encode(&pruned_entry(pruned))] {
            agrees_with_eager(&bytes, Limits::default()).unwrap();
            // A cut anywhere is refused by both in the same way.
            let _ = agrees_with_eager(&bytes[..cut.index(bytes.len())], Limits::default());
        }
    }
}
