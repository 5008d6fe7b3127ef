//! Runs one benchmark's routine in a plain loop, for profilers that count instructions
//! (criterion's statistics get in their way):
//!
//! ```text
//! cargo build --profile bench -p umbra-wire-bench --example profile
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/profile chain_response_10k ours/decode 200
//! callgrind_annotate /tmp/cg.out | head -40
//! ```
//!
//! Arguments: a case name of `umbra_wire_bench::CASES`, one of `ours/decode`,
//! `ours/decode-borrowed`,
//! `monero-epee/decode` or `ours/encode`, and an iteration count (default 1000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use umbra_wire::{ChainResponse, GetObjectsResponse, HandshakeRequest, HandshakeResponse};
use umbra_wire_bench::{
    compare::Compared,
    fixtures,
    report::{OURS_DECODE, OURS_DECODE_BORROWED, OURS_ENCODE, THEIRS_DECODE},
};

#[inline(never)]
fn run<T: Compared>(body: &Bytes, what: &str, iterations: usize) {
    match what {
        OURS_DECODE => {
            for _ in 0..iterations {
                black_box(umbra_epee::from_bytes::<T>(black_box(body)).unwrap());
            }
        }
        OURS_DECODE_BORROWED => {
            for _ in 0..iterations {
                black_box(umbra_epee::from_slice::<T::Borrowed<'_>>(black_box(body)).unwrap());
            }
        }
        THEIRS_DECODE => {
            for _ in 0..iterations {
                black_box(T::decode_reference(black_box(body)).unwrap());
            }
        }
        OURS_ENCODE => {
            let message: T = umbra_epee::from_bytes(body).unwrap();
            let mut buf = BytesMut::with_capacity(body.len());
            for _ in 0..iterations {
                buf.clear();
                umbra_epee::to_writer(black_box(&message), &mut buf).unwrap();
                black_box(buf.len());
            }
        }
        other => panic!("unknown routine {other:?}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().expect("a case name");
    let what = args
        .next()
        .expect("ours/decode, ours/decode-borrowed, monero-epee/decode or ours/encode");
    let iterations = args.next().map_or(1000, |n| n.parse().expect("a count"));
    let run: fn(&Bytes, &str, usize) = match case.as_str() {
        "handshake_request" => run::<HandshakeRequest>,
        "handshake_response" => run::<HandshakeResponse>,
        "chain_response_10k" => run::<ChainResponse>,
        "get_objects_mainnet_100" | "get_objects_regtest_100" => run::<GetObjectsResponse>,
        other => panic!("unknown case {other:?}"),
    };
    let body = match case.as_str() {
        "handshake_request" => fixtures::handshake_request(),
        "handshake_response" => fixtures::handshake_response(),
        "chain_response_10k" => fixtures::chain_response(fixtures::CHAIN_IDS)
            .and_then(|message| fixtures::encode(&message)),
        "get_objects_mainnet_100" => fixtures::get_objects_mainnet(fixtures::OBJECTS_BLOCKS)
            .and_then(|message| fixtures::encode(&message)),
        _ => fixtures::get_objects_regtest(),
    }
    .unwrap();
    run(&body, &what, iterations);
    println!("{iterations} × {what} of {case}: done");
}
