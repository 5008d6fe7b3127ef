//! Hostile input: each case gets its typed error, never a panic, and the decoder never
//! allocates beyond what the limits allow (measured with a counting allocator).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use bytes::{BufMut, Bytes, BytesMut};
use umbra_epee::{
    EpeeObject, ErrorKind, Limits, SIGNATURE, Section, from_bytes, from_bytes_with_limits,
};

/// Counts the bytes allocated by the current thread (tests run on several threads).
struct CountingAlloc;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the thread-local
// counter is a `Cell<usize>` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Bytes allocated by this thread while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

fn doc(body: &[u8]) -> Bytes {
    let mut out = BytesMut::from(&SIGNATURE[..]);
    out.put_slice(body);
    out.freeze()
}

#[derive(Debug, EpeeObject)]
struct Typed {
    #[allow(dead_code)]
    list: Vec<u64>,
    #[allow(dead_code)]
    objects: Vec<Section>,
}

#[test]
fn wrong_signature() {
    let error = from_bytes::<Section>(&Bytes::from_static(
        b"\x01\x11\x01\x01\x01\x01\x02\x01\x02\x00",
    ))
    .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BadSignature { .. }),
        "{error}"
    );
    let error = from_bytes::<Section>(&Bytes::from_static(b"\x01\x11")).unwrap_err();
    assert_eq!(
        error,
        ErrorKind::BadSignature {
            found: vec![0x01, 0x11]
        }
    );
    assert!(matches!(
        from_bytes::<Section>(&Bytes::new()).unwrap_err().kind(),
        ErrorKind::BadSignature { .. }
    ));
}

#[test]
fn truncated_everywhere() {
    // A valid document with every kind of value, cut at every length.
    let mut full = BytesMut::new();
    full.put_u8(4 << 2); // 4 fields
    full.put_slice(b"\x01a\x05"); // a: u64
    full.put_u64_le(7);
    full.put_slice(b"\x01b\x0a"); // b: string
    full.put_u8(3 << 2);
    full.put_slice(b"xyz");
    full.put_slice(b"\x01c\x0c\x04\x01d\x0b\x01"); // c: { d: true }
    full.put_slice(b"\x01e\x85\x08"); // e: [u64; 2]
    full.put_u64_le(1);
    full.put_u64_le(2);
    let full = doc(&full);
    assert!(from_bytes::<Section>(&full).is_ok());
    for len in SIGNATURE.len()..full.len() {
        let error = from_bytes::<Section>(&full.slice(..len)).unwrap_err();
        // An array cut short is refused at its length already: it cannot fit what remains.
        assert!(
            matches!(
                error.kind(),
                ErrorKind::Truncated { .. } | ErrorKind::ArrayTooLong { .. }
            ),
            "at {len}: {error}"
        );
    }
}

#[test]
fn oversized_string_is_refused_before_allocating() {
    // A string claiming 2^40 bytes, with 3 bytes present.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x01s\x0a");
    body.put_u64_le(((1u64 << 40) << 2) | 3);
    body.put_slice(b"abc");
    let input = doc(&body);
    let (result, allocated) = allocated_by(|| from_bytes::<Section>(&input));
    assert!(
        matches!(
            result.as_ref().map_err(|e| e.kind()),
            Err(&ErrorKind::StringTooLong { .. })
        ),
        "{result:?}"
    );
    assert!(allocated < 4096, "allocated {allocated} bytes");

    // Under the limit but longer than the input: truncated.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x01s\x0a");
    body.put_u32_le((1_000_000 << 2) | 2);
    let (result, allocated) = allocated_by(|| from_bytes::<Section>(&doc(&body)));
    assert!(
        matches!(
            result.as_ref().map_err(|e| e.kind()),
            Err(&ErrorKind::Truncated {
                needed: 1_000_000,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(allocated < 4096, "allocated {allocated} bytes");
}

#[test]
fn oversized_array_is_refused_before_allocating() {
    // 2^50 u64 elements declared, 16 bytes present.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x04list\x85");
    body.put_u64_le(((1u64 << 50) << 2) | 3);
    body.put_u64_le(1);
    body.put_u64_le(2);
    let input = doc(&body);
    let (result, allocated) = allocated_by(|| from_bytes::<Typed>(&input));
    let error = result.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::ArrayTooLong { max: 2, .. }),
        "{error}"
    );
    assert!(allocated < 4096, "allocated {allocated} bytes");

    // An array of objects longer than the object budget.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x07objects\x8c");
    body.put_u32_le((20_000 << 2) | 2);
    body.put_slice(&[0u8; 20_000]); // 20,000 empty objects
    let input = doc(&body);
    let (result, allocated) = allocated_by(|| from_bytes::<Typed>(&input));
    let error = result.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::TooManyObjects { max: 8_192 });
    assert!(allocated < 4096, "allocated {allocated} bytes");
}

#[test]
fn the_configured_array_limit_applies() {
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x04list\x85\x0c"); // 3 elements
    for i in 0..3u64 {
        body.put_u64_le(i);
    }
    let input = doc(&body);
    let limits = Limits {
        max_array_len: 2,
        ..Limits::default()
    };
    let error = from_bytes_with_limits::<Typed>(&input, limits).unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::ArrayTooLong { len: 3, max: 2 });
}

/// `depth` objects nested inside each other under field name "o".
fn nested_objects(depth: usize) -> Bytes {
    let mut body = BytesMut::new();
    for _ in 0..depth {
        body.put_slice(b"\x04\x01o\x0c");
    }
    body.put_u8(0);
    doc(&body)
}

#[test]
fn deep_nesting_is_refused() {
    // Root + 29 nested objects = depth 30: accepted.
    assert!(from_bytes::<Section>(&nested_objects(29)).is_ok());
    assert_eq!(
        from_bytes::<Section>(&nested_objects(30)).unwrap_err(),
        ErrorKind::TooDeep { max: 30 }
    );
    // Far deeper than any stack could take if it were not checked.
    assert_eq!(
        from_bytes::<Section>(&nested_objects(100_000)).unwrap_err(),
        ErrorKind::TooDeep { max: 30 }
    );
    // Also when the deep part hides in an unknown field of a typed object.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x07unknown\x0c");
    for _ in 0..100 {
        body.put_slice(b"\x04\x01o\x0c");
    }
    body.put_u8(0);
    assert!(matches!(
        from_bytes::<Typed>(&doc(&body)).unwrap_err().kind(),
        ErrorKind::TooDeep { .. }
    ));
}

#[test]
fn nested_arrays_count_towards_depth() {
    // An array of arrays of arrays ... 40 deep.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x01a");
    for _ in 0..40 {
        body.put_slice(b"\x8d\x04"); // array of arrays, 1 element, whose marker follows
    }
    body.put_slice(b"\x85\x00");
    let error = from_bytes::<Section>(&doc(&body)).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::TooDeep { .. }), "{error}");
}

#[test]
fn too_many_fields_and_strings() {
    // One object declaring 20,000 fields.
    let mut body = BytesMut::new();
    body.put_u32_le((20_000 << 2) | 2);
    let error = from_bytes::<Section>(&doc(&body)).unwrap_err();
    assert_eq!(error, ErrorKind::TooManyFields { max: 16_384 });

    // 17,000 tiny strings in one array.
    let mut body = BytesMut::new();
    body.put_slice(b"\x04\x01s\x8a");
    body.put_u32_le((17_000 << 2) | 2);
    for _ in 0..17_000 {
        body.put_u8(0);
        body.put_u8(0);
    }
    let error = from_bytes::<Section>(&doc(&body)).unwrap_err();
    assert_eq!(error, ErrorKind::TooManyStrings { max: 16_384 });
}

#[test]
fn bad_markers_bools_and_names() {
    // Unknown type code 14.
    assert_eq!(
        from_bytes::<Section>(&doc(b"\x04\x01x\x0e")).unwrap_err(),
        ErrorKind::UnknownType(14)
    );
    // A bool that is 2.
    assert_eq!(
        from_bytes::<Section>(&doc(b"\x04\x01x\x0b\x02")).unwrap_err(),
        ErrorKind::InvalidBool(2)
    );
    // An empty field name.
    assert_eq!(
        from_bytes::<Section>(&doc(b"\x04\x00")).unwrap_err(),
        ErrorKind::EmptyFieldName
    );
    // An array of arrays whose element is not an array.
    let error = from_bytes::<Section>(&doc(b"\x04\x01x\x8d\x04\x05")).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::WrongType { .. }),
        "{error}"
    );
}

#[test]
fn random_bytes_never_panic() {
    // A cheap deterministic generator; the property tests and fuzz targets go further.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut body = Vec::new();
        for _ in 0..(state % 64) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push((state >> 24) as u8);
        }
        let input = doc(&body);
        let _ = from_bytes::<Section>(&input);
        let _ = from_bytes::<Typed>(&input);
    }
}
