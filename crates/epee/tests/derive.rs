//! The derive macro: field order, defaults, optional and container fields, and the typed
//! errors for missing, duplicate and wrongly typed fields.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Bytes;
use umbra_epee::{
    ByteArrayVec, ContainerAsBlob, EpeeObject, ErrorKind, Marker, Section, TypeCode, Value,
    from_bytes, to_bytes,
};

#[derive(Debug, Clone, PartialEq, EpeeObject)]
struct Inner {
    id: u64,
    #[epee(rename = "m_name")]
    name: String,
}

#[derive(Debug, Clone, PartialEq, EpeeObject)]
struct Everything {
    zeta: i64,
    alpha: i32,
    i16_field: i16,
    i8_field: i8,
    u64_field: u64,
    u32_field: u32,
    u16_field: u16,
    u8_field: u8,
    double: f64,
    flag: bool,
    blob: Bytes,
    hash: [u8; 32],
    inner: Inner,
    inners: Vec<Inner>,
    numbers: Vec<u64>,
    strings: Vec<Bytes>,
    nested_arrays: Vec<Vec<u16>>,
    ids: ByteArrayVec<32>,
    weights: ContainerAsBlob<u64>,
    maybe: Option<u32>,
    #[epee(default = 7)]
    seven: u32,
}

fn sample() -> Everything {
    Everything {
        zeta: -5,
        alpha: -70_000,
        i16_field: -300,
        i8_field: -3,
        u64_field: u64::MAX,
        u32_field: 4_000_000_000,
        u16_field: 65_000,
        u8_field: 200,
        double: 1.5,
        flag: true,
        blob: Bytes::from_static(b"\x00\xffblob"),
        hash: [9; 32],
        inner: Inner {
            id: 1,
            name: "one".into(),
        },
        inners: vec![
            Inner {
                id: 2,
                name: "two".into(),
            },
            Inner {
                id: 3,
                name: String::new(),
            },
        ],
        numbers: vec![1, 2, 3],
        strings: vec![Bytes::from_static(b"a"), Bytes::new()],
        nested_arrays: vec![vec![1, 2], vec![3]],
        ids: vec![[1; 32], [2; 32]].into(),
        weights: vec![10, 20].into(),
        maybe: Some(4),
        seven: 8,
    }
}

#[test]
fn every_kind_of_field_round_trips() {
    let value = sample();
    let bytes = to_bytes(&value).unwrap().freeze();
    assert_eq!(from_bytes::<Everything>(&bytes).unwrap(), value);
}

#[test]
fn fields_are_written_in_byte_order_of_their_wire_names() {
    let bytes = to_bytes(&sample()).unwrap().freeze();
    let section: Section = from_bytes(&bytes).unwrap();
    let names: Vec<&[u8]> = section.fields.iter().map(|(n, _)| n.as_ref()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // The rename is what goes on the wire.
    let Some(Value::Object(inner)) = section.get("inner") else {
        panic!("inner missing")
    };
    assert!(inner.get("m_name").is_some());
    assert!(inner.get("name").is_none());
}

#[test]
fn defaults_empty_containers_and_none_are_not_written_and_come_back() {
    let mut value = sample();
    value.seven = 7;
    value.maybe = None;
    value.inners.clear();
    value.numbers.clear();
    value.ids = ByteArrayVec::new();
    value.weights = ContainerAsBlob::default();
    let bytes = to_bytes(&value).unwrap().freeze();
    let section: Section = from_bytes(&bytes).unwrap();
    for absent in ["seven", "maybe", "inners", "numbers", "ids", "weights"] {
        assert!(section.get(absent).is_none(), "{absent} was written");
    }
    assert_eq!(from_bytes::<Everything>(&bytes).unwrap(), value);
}

#[derive(Debug, PartialEq, EpeeObject)]
struct Small {
    a: u32,
    b: Bytes,
}

fn encode_section(fields: Vec<(&'static str, Value)>) -> Bytes {
    let section = Section {
        fields: fields
            .into_iter()
            .map(|(n, v)| (Bytes::from_static(n.as_bytes()), v))
            .collect(),
    };
    to_bytes(&section).unwrap().freeze()
}

#[test]
fn unknown_fields_are_skipped() {
    let bytes = encode_section(vec![
        ("a", Value::U32(1)),
        (
            "zzz",
            Value::Object(Section {
                fields: vec![(Bytes::from_static(b"x"), Value::Bool(true))],
            }),
        ),
        ("b", Value::String(Bytes::from_static(b"hi"))),
        ("unknown", Value::Array(umbra_epee::Array::U64(vec![1, 2]))),
    ]);
    assert_eq!(
        from_bytes::<Small>(&bytes).unwrap(),
        Small {
            a: 1,
            b: Bytes::from_static(b"hi")
        }
    );
}

#[test]
fn a_missing_required_field_is_a_typed_error() {
    let bytes = encode_section(vec![("a", Value::U32(1))]);
    assert_eq!(
        from_bytes::<Small>(&bytes).unwrap_err(),
        ErrorKind::MissingField("b")
    );
}

#[test]
fn a_duplicate_field_is_a_typed_error() {
    let bytes = encode_section(vec![
        ("a", Value::U32(1)),
        ("a", Value::U32(2)),
        ("b", Value::String(Bytes::new())),
    ]);
    assert_eq!(
        from_bytes::<Small>(&bytes).unwrap_err(),
        ErrorKind::DuplicateField("a".into())
    );
    // The dynamic reader refuses duplicates as monerod does.
    assert_eq!(
        from_bytes::<Section>(&bytes).unwrap_err(),
        ErrorKind::DuplicateField("a".into())
    );
}

#[test]
fn a_wrong_type_names_the_field_path() {
    #[derive(Debug, EpeeObject)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }
    let bytes = encode_section(vec![(
        "inner",
        Value::Object(Section {
            fields: vec![
                (Bytes::from_static(b"id"), Value::String(Bytes::new())),
                (Bytes::from_static(b"m_name"), Value::String(Bytes::new())),
            ],
        }),
    )]);
    let error = from_bytes::<Outer>(&bytes).unwrap_err();
    assert_eq!(error.field_path(), ["inner", "id"]);
    assert_eq!(
        error.kind(),
        &ErrorKind::WrongType {
            expected: Marker::scalar(TypeCode::U64),
            found: Marker::scalar(TypeCode::String)
        }
    );
    assert_eq!(
        error.to_string(),
        "in field \"inner\": in field \"id\": expected u64, found string"
    );
}

#[test]
fn integers_of_another_width_are_accepted_when_they_fit() {
    let bytes = encode_section(vec![
        ("a", Value::U8(5)),
        ("b", Value::String(Bytes::new())),
    ]);
    assert_eq!(from_bytes::<Small>(&bytes).unwrap().a, 5);
    let bytes = encode_section(vec![
        ("a", Value::I64(-1)),
        ("b", Value::String(Bytes::new())),
    ]);
    assert_eq!(
        from_bytes::<Small>(&bytes).unwrap_err().kind(),
        &ErrorKind::IntegerOutOfRange {
            value: -1,
            target: "u32"
        }
    );
}

#[test]
fn a_fixed_size_blob_of_the_wrong_length_is_an_error() {
    #[derive(Debug, EpeeObject)]
    struct Hash {
        #[allow(dead_code)]
        h: [u8; 32],
    }
    let bytes = encode_section(vec![("h", Value::String(Bytes::from(vec![0u8; 31])))]);
    assert_eq!(
        from_bytes::<Hash>(&bytes).unwrap_err().kind(),
        &ErrorKind::WrongLength {
            expected: 32,
            found: 31
        }
    );
}

#[test]
fn a_hash_list_that_is_not_whole_hashes_is_an_error() {
    #[derive(Debug, EpeeObject)]
    struct Ids {
        #[allow(dead_code)]
        ids: ByteArrayVec<32>,
    }
    let bytes = encode_section(vec![("ids", Value::String(Bytes::from(vec![0u8; 33])))]);
    assert_eq!(
        from_bytes::<Ids>(&bytes).unwrap_err().kind(),
        &ErrorKind::NotMultiple {
            len: 33,
            item_size: 32
        }
    );
}

#[test]
fn blobs_share_the_input_buffer() {
    let value = Small {
        a: 1,
        b: Bytes::from(vec![7u8; 4096]),
    };
    let bytes = to_bytes(&value).unwrap().freeze();
    let decoded: Small = from_bytes(&bytes).unwrap();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&decoded.b.as_ptr()), "blob was copied");
}

#[test]
fn trailing_padding_after_the_root_object_is_ignored() {
    let mut bytes = to_bytes(&Small {
        a: 1,
        b: Bytes::new(),
    })
    .unwrap();
    bytes.extend_from_slice(&[0u8; 100]);
    assert_eq!(from_bytes::<Small>(&bytes.freeze()).unwrap().a, 1);
}

#[test]
fn missing_fields_are_filled_but_always_written() {
    #[derive(Debug, PartialEq, EpeeObject)]
    struct Padded {
        #[epee(rename = "_", missing)]
        padding: Bytes,
        #[epee(missing = 3)]
        three: u8,
    }
    let empty = encode_section(vec![]);
    assert_eq!(
        from_bytes::<Padded>(&empty).unwrap(),
        Padded {
            padding: Bytes::new(),
            three: 3
        }
    );
    let bytes = to_bytes(&Padded {
        padding: Bytes::new(),
        three: 3,
    })
    .unwrap()
    .freeze();
    let section: Section = from_bytes(&bytes).unwrap();
    assert_eq!(section.get("_"), Some(&Value::String(Bytes::new())));
    assert_eq!(section.get("three"), Some(&Value::U8(3)));
}

#[test]
fn borrowed_fields_decode_from_a_slice_without_copying() {
    #[derive(Debug, PartialEq, EpeeObject)]
    struct Borrowed<'a> {
        blob: &'a [u8],
        ids: ByteArrayVec<32, &'a [u8]>,
        weights: ContainerAsBlob<u64, &'a [u8]>,
        owned: u64,
    }
    #[derive(Debug, PartialEq, EpeeObject)]
    struct Owned {
        blob: Bytes,
        ids: ByteArrayVec<32>,
        weights: ContainerAsBlob<u64>,
        owned: u64,
    }
    let owned = Owned {
        blob: Bytes::from_static(b"block"),
        ids: vec![[3; 32], [4; 32]].into(),
        weights: vec![10u64, 20, 30].into(),
        owned: 7,
    };
    let bytes = to_bytes(&owned).unwrap().freeze();
    let borrowed: Borrowed<'_> = umbra_epee::from_slice(&bytes).unwrap();
    assert_eq!(borrowed.blob, b"block");
    assert!(
        bytes.as_ptr_range().contains(&borrowed.blob.as_ptr()),
        "blob was copied"
    );
    assert_eq!(borrowed.ids.as_slice(), &[[3; 32], [4; 32]]);
    assert_eq!(borrowed.weights.to_vec(), [10, 20, 30]);
    assert_eq!(borrowed.weights.get(1), Some(20));
    assert_eq!(borrowed.weights.get(3), None);
    assert_eq!(borrowed.owned, 7);
    // The borrowed view encodes to the same bytes.
    assert_eq!(to_bytes(&borrowed).unwrap().freeze(), bytes);
    // And an owned type decodes from a plain slice too (copying its blobs).
    assert_eq!(umbra_epee::from_slice::<Owned>(&bytes).unwrap(), owned);
}

#[test]
fn bare_default_works_for_blob_and_string_fields() {
    #[derive(Debug, PartialEq, EpeeObject)]
    struct Defaults {
        #[epee(default)]
        text: String,
        #[epee(default)]
        blob: Bytes,
        #[epee(default)]
        hash: [u8; 32],
    }
    let empty = encode_section(vec![]);
    let value = from_bytes::<Defaults>(&empty).unwrap();
    assert_eq!(
        value,
        Defaults {
            text: String::new(),
            blob: Bytes::new(),
            hash: [0; 32]
        }
    );
    // Defaults are not written.
    assert_eq!(to_bytes(&value).unwrap().freeze(), empty);
}
