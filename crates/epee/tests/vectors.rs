//! Real bytes from monerod's own test data.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Bytes;
use umbra_epee::{Section, from_bytes, to_bytes};

#[test]
fn monerod_fuzz_seed_is_an_empty_object() {
    let bytes = Bytes::from_static(include_bytes!("data/monerod-fuzz-BINARY1.bin"));
    let section: Section = from_bytes(&bytes).unwrap();
    assert!(section.fields.is_empty());
    assert_eq!(to_bytes(&section).unwrap().freeze(), bytes);
}
