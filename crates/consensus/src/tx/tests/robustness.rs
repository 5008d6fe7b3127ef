//! Mutated transactions never panic the verifier: decoding, semantic checks and (with ring
//! data of the right shape) the contextual checks run to a verdict on every input.
//!
//! This is the property a fuzz target for transaction parsing and the semantic checks
//! asserts (see `docs/consensus-tx.md`); here it runs over deterministic mutations of the
//! mainnet and synthetic transactions on every `cargo test`.

use super::{
    build::{Spec, build},
    synthetic::CHAIN,
};
use crate::{
    HardFork,
    tx::{Context, SemanticRules, Tx, contextual, semantic},
};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

/// One mutation of `seed`: flipped bits, overwritten bytes, 64-bit boundary values, inserted
/// or deleted runs, truncation, or a splice with `other`.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        if data.is_empty() {
            data.push(0);
        }
        let at = rng.below(data.len());
        match rng.below(7) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = rng.next() as u8,
            2 => {
                let value = [0u64, 1, 0x7f, 0x80, 0xff, u64::MAX, u64::MAX / 2][rng.below(7)];
                let end = (at + 8).min(data.len());
                let bytes = value.to_le_bytes();
                data[at..end].copy_from_slice(&bytes[..end - at]);
            }
            3 => {
                let n = 1 + rng.below(16);
                for _ in 0..n {
                    data.insert(at, rng.next() as u8);
                }
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
            5 => data.truncate(at),
            _ => {
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                data.splice(
                    at..data.len().min(at + len),
                    other[from..from + len].iter().copied(),
                );
            }
        }
    }
    data
}

#[test]
fn mutated_transactions_get_a_verdict_never_a_panic() {
    let mut seeds: Vec<Vec<u8>> = [
        "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3",
        "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df",
        "9e3f73e66d7c7293af59c59c1ff5d6aae047289f49e5884c66caaf4aea49fb34",
        "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee",
        "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169",
        "84d48dc11ec91950f8b70a85af9db91fe0c8abef71ef5db08304f7344b99ea66",
    ]
    .iter()
    .map(|h| super::mainnet::mainnet_tx(h))
    .collect();
    seeds.push(build(&CHAIN, &Spec::type6(vec![50, 51], 2)).blob().to_vec());
    seeds.push(
        build(
            &CHAIN,
            &Spec {
                plus: false,
                view_tags: false,
                ring_size: 11,
                ..Spec::type6(vec![52], 3)
            },
        )
        .blob()
        .to_vec(),
    );

    let forks = [
        HardFork::V1,
        HardFork::V2,
        HardFork::V7,
        HardFork::V9,
        HardFork::V13,
        HardFork::V15,
        HardFork::V16,
    ];
    let ctx = Context::new(super::build::CHAIN_HEIGHT, 1_700_000_000);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut decoded, mut checked, mut verified, mut total) = (0, 0, 0, 0);
    for (n, seed) in seeds.iter().enumerate() {
        let other = &seeds[(n + 1) % seeds.len()];
        for _ in 0..150 {
            let input = mutate(&mut rng, seed, other);
            total += 1;
            if input == *seed {
                continue;
            }
            let Ok(tx) = Tx::parse(&input) else { continue };
            decoded += 1;
            let hf = forks[rng.below(forks.len())];
            let Ok(c) = semantic::check(
                tx,
                &SemanticRules {
                    hard_fork: hf,
                    max_weight: u64::MAX,
                },
            ) else {
                continue;
            };
            checked += 1;
            // Ring data of the requested shape, members drawn from the synthetic chain.
            let request = c.ring_request();
            let mut data = CHAIN.ring_data(&request);
            for input in &mut data.inputs {
                input.amount_outputs = Some(rng.next() % 100);
                for member in &mut input.members {
                    if member.is_none() {
                        *member = Some(CHAIN.members[rng.below(CHAIN.members.len())]);
                    }
                }
            }
            if contextual::verify(c, &ctx, &data).is_ok() {
                verified += 1;
            }
        }
    }
    eprintln!(
        "{total} mutations: {decoded} decoded, {checked} passed the semantic checks, {verified} verified"
    );
    assert_eq!(total, 150 * seeds.len());
    // Mutations of signed data must not produce a valid transaction.
    assert_eq!(verified, 0);
}
