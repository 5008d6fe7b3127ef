//! Decode and encode of Monero P2P messages: Umbra's crates side by side with
//! `monero-epee`, on the same bytes, in one run. See the crate documentation of
//! `umbra-wire-bench` for what each benchmark measures.
//!
//! ```text
//! cargo bench -p umbra-wire-bench
//! cargo run -p umbra-wire-bench --bin bench-report
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::{hint::black_box, time::Duration};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use umbra_wire::{ChainResponse, GetObjectsResponse, HandshakeRequest, HandshakeResponse};
use umbra_wire_bench::{
    CASES,
    compare::Compared,
    fixtures,
    report::{OURS_DECODE, OURS_DECODE_BORROWED, OURS_ENCODE, THEIRS_DECODE},
};

/// Benchmarks one message: our decode (owned and borrowed), monero-epee's decode, our
/// encode.
fn message<T: Compared>(c: &mut Criterion, name: &str, body: &Bytes) {
    assert!(
        CASES.iter().any(|case| case.name == name),
        "{name} is not in CASES"
    );
    // Outside the timed loops: both decoders extract the same values, and our encoder
    // gives back exactly the bytes we decode.
    let ours: T = umbra_epee::from_bytes(body).expect("our decoder refused the body");
    let theirs = T::decode_reference(body).expect("monero-epee refused the body");
    assert_eq!(ours.as_reference(), theirs, "{name}: the decoders disagree");
    let mut buf = BytesMut::with_capacity(body.len());
    umbra_epee::to_writer(&ours, &mut buf).unwrap();
    assert_eq!(&buf[..], &body[..], "{name}: encoding is not byte-exact");
    // The borrowed decode extracted everything too: it encodes back to the same bytes.
    let borrowed: T::Borrowed<'_> = umbra_epee::from_slice(body).expect("borrowed decode");
    let mut again = BytesMut::with_capacity(body.len());
    umbra_epee::to_writer(&borrowed, &mut again).unwrap();
    assert_eq!(
        &again[..],
        &body[..],
        "{name}: borrowed decode lost something"
    );

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(OURS_DECODE, |b| {
        b.iter(|| umbra_epee::from_bytes::<T>(black_box(body)).unwrap());
    });
    group.bench_function(OURS_DECODE_BORROWED, |b| {
        b.iter(|| umbra_epee::from_slice::<T::Borrowed<'_>>(black_box(body)).unwrap());
    });
    group.bench_function(THEIRS_DECODE, |b| {
        b.iter(|| T::decode_reference(black_box(body)).unwrap());
    });
    group.bench_function(OURS_ENCODE, |b| {
        b.iter(|| {
            buf.clear();
            umbra_epee::to_writer(black_box(&ours), &mut buf).unwrap();
            black_box(buf.len())
        });
    });
    group.finish();
}

fn wire(c: &mut Criterion) {
    let [
        handshake_request,
        handshake_response,
        chain,
        mainnet,
        regtest,
    ] = CASES.map(|c| c.name);

    let body = fixtures::handshake_request().unwrap();
    message::<HandshakeRequest>(c, handshake_request, &body);

    let body = fixtures::handshake_response().unwrap();
    message::<HandshakeResponse>(c, handshake_response, &body);

    let body = fixtures::encode(&fixtures::chain_response(fixtures::CHAIN_IDS).unwrap()).unwrap();
    message::<ChainResponse>(c, chain, &body);

    let objects = fixtures::get_objects_mainnet(fixtures::OBJECTS_BLOCKS).unwrap();
    let body = fixtures::encode(&objects).unwrap();
    message::<GetObjectsResponse>(c, mainnet, &body);

    let body = fixtures::get_objects_regtest().unwrap();
    message::<GetObjectsResponse>(c, regtest, &body);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = wire
}
criterion_main!(benches);
