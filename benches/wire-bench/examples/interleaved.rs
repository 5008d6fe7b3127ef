//! Decode times that a busy machine disturbs less than criterion's: for each case of
//! `umbra_wire_bench::CASES`, the three decoders (ours borrowed, ours owned, monero-epee)
//! take turns, batch after batch, on the same bytes, and each keeps its fastest batch.
//! A neighbour's load can only make a batch slower, so the minimum over many short,
//! interleaved batches is what each decoder costs when it has the core to itself, and
//! the three minimums were taken under the same conditions.
//!
//! ```text
//! cargo run --profile bench -p umbra-wire-bench --example interleaved [ROUNDS]
//! ```
//!
//! `ROUNDS` (default 400) batches per decoder and case; a batch is as many decodes as
//! take about 100 µs. Prints a markdown table, then a second one for the get-objects
//! responses where each decoder also reads every transaction blob it decoded (our block
//! entries keep their transactions as a checked view that is read again on iteration;
//! the monero-epee reference builds a vector of them while decoding).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use bytes::Bytes;
use umbra_wire::{ChainResponse, GetObjectsResponse, HandshakeRequest, HandshakeResponse};
use umbra_wire_bench::{CASES, compare::Compared, fixtures, reference};

/// Fastest time per decode of each decoder of `T`, in nanoseconds: borrowed, owned,
/// monero-epee.
fn measure<T: Compared>(body: &Bytes, rounds: usize) -> [f64; 3] {
    fastest(
        || {
            let decoded = umbra_epee::from_slice::<T::Borrowed<'_>>(black_box(body));
            drop(black_box(decoded.unwrap()));
        },
        || {
            let decoded = umbra_epee::from_bytes::<T>(black_box(body));
            drop(black_box(decoded.unwrap()));
        },
        || {
            let decoded = T::decode_reference(black_box(body));
            drop(black_box(decoded.unwrap()));
        },
        rounds,
    )
}

/// Total length of the transaction blobs of our decoded response.
fn our_transactions<B: umbra_epee::Blob>(response: &GetObjectsResponse<B>) -> usize {
    let txs = response.blocks.iter().flat_map(|entry| entry.txs.iter());
    txs.map(|tx| tx.blob().len()).sum()
}

/// Total length of the transaction blobs of the reference's decoded response.
fn their_transactions(response: &reference::GetObjectsResponse<'_>) -> usize {
    let entries = response.blocks.iter();
    entries
        .map(|entry| match &entry.txs {
            reference::TransactionBlobs::Normal(txs) => txs.iter().map(|tx| tx.len()).sum(),
            reference::TransactionBlobs::Pruned(txs) => {
                txs.iter().map(|tx| tx.blob.len()).sum::<usize>()
            }
        })
        .sum()
}

/// Runs the three decoders in turn, batch after batch, and returns each one's fastest
/// time per call, in nanoseconds.
fn fastest(a: impl Fn(), b: impl Fn(), c: impl Fn(), rounds: usize) -> [f64; 3] {
    // A batch size that makes the slowest decoder's batch (monero-epee's) about 100 µs.
    let start = Instant::now();
    let mut calibration = 0u32;
    while start.elapsed() < Duration::from_millis(20) {
        c();
        calibration += 1;
    }
    let batch = calibration.div_ceil(200).max(1);
    let mut best = [f64::MAX; 3];
    for _ in 0..rounds {
        best[0] = best[0].min(per_call(&a, batch));
        best[1] = best[1].min(per_call(&b, batch));
        best[2] = best[2].min(per_call(&c, batch));
    }
    best
}

/// Nanoseconds per call of `decode`, over one batch of `batch` calls.
fn per_call(decode: &impl Fn(), batch: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        decode();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(batch)
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .map_or(400, |n| n.parse().expect("a number of rounds"));
    let handshake_request = fixtures::handshake_request().unwrap();
    let handshake_response = fixtures::handshake_response().unwrap();
    let chain = fixtures::chain_response(fixtures::CHAIN_IDS).unwrap();
    let chain = fixtures::encode(&chain).unwrap();
    let mainnet = fixtures::get_objects_mainnet(fixtures::OBJECTS_BLOCKS).unwrap();
    let mainnet = fixtures::encode(&mainnet).unwrap();
    let regtest = fixtures::get_objects_regtest().unwrap();

    header();
    let bodies = [
        &handshake_request,
        &handshake_response,
        &chain,
        &mainnet,
        &regtest,
    ];
    for (case, body) in CASES.iter().zip(bodies) {
        let best = match case.name {
            "handshake_request" => measure::<HandshakeRequest>(body, rounds),
            "handshake_response" => measure::<HandshakeResponse>(body, rounds),
            "chain_response_10k" => measure::<ChainResponse>(body, rounds),
            _ => measure::<GetObjectsResponse>(body, rounds),
        };
        row(case.title, best);
    }

    println!();
    println!("Decode, then read every transaction blob:");
    println!();
    header();
    for (case, body) in [(&CASES[3], &mainnet), (&CASES[4], &regtest)] {
        let best = fastest(
            || {
                let response = umbra_epee::from_slice::<GetObjectsResponse<&[u8]>>(black_box(body));
                black_box(our_transactions(&response.unwrap()));
            },
            || {
                let response = umbra_epee::from_bytes::<GetObjectsResponse>(black_box(body));
                black_box(our_transactions(&response.unwrap()));
            },
            || {
                let response = GetObjectsResponse::decode_reference(black_box(body));
                black_box(their_transactions(&response.unwrap()));
            },
            rounds,
        );
        row(case.title, best);
    }
}

fn header() {
    println!(
        "| message | ours decode, borrowed | ours decode, owned | monero-epee decode | borrowed ÷ monero-epee | owned ÷ monero-epee |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
}

fn row(title: &str, [borrowed, owned, theirs]: [f64; 3]) {
    println!(
        "| {title} | {} | {} | {} | {:.2}× | {:.2}× |",
        format_ns(borrowed),
        format_ns(owned),
        format_ns(theirs),
        theirs / borrowed,
        theirs / owned
    );
}

fn format_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}
