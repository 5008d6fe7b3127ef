//! Replays the fuzz checks where CI can: every seed and regression input through every
//! check, then a few thousand generated inputs per check (arbitrary bytes, and seeds with
//! bits flipped, bytes overwritten, inserted and deleted, truncated and spliced).
//!
//! A failure here is a decoder bug (or a property a decoder lost): the message names the
//! check and the input in hex. Save the input under `fuzz/regressions/<check>/` so it is
//! replayed forever; see `fuzz/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    collections::BTreeSet,
    fs,
    net::SocketAddr,
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use bytes::BytesMut;
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, TestRunner},
};
use tokio_util::codec::Decoder;
use umbra_address_book::{AddressBook, AddressBookConfig, decode_peers_file};
use umbra_fuzz::{
    Input, TARGETS, Target, WIRE_TARGETS,
    corpus::{PEERS_FILES, Seed, Seeds, workspace_root},
};
use umbra_levin::{BucketCodec, DEFAULT_MAX_PACKET_SIZE, MessageKind};
use umbra_p2p_core::{ClearNet, PeerCandidate};
use umbra_wire::{Message, MessageId};

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| Seeds::load(&workspace_root()).expect("seed files load"))
}

/// Seed inputs per target, built once.
fn inputs(target: &Target) -> &'static [Seed] {
    static INPUTS: OnceLock<Vec<Vec<Seed>>> = OnceLock::new();
    let all = INPUTS.get_or_init(|| TARGETS.iter().map(|t| seeds().inputs(t)).collect());
    let index = TARGETS.iter().position(|t| t.name == target.name).unwrap();
    &all[index]
}

fn run(target: &Target, seed: &Seed) {
    let result = std::panic::catch_unwind(|| (target.check)(&seed.bytes));
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        panic!(
            "check {} failed on seed {} ({} bytes): {message}",
            target.name,
            seed.name,
            seed.bytes.len()
        );
    }
}

#[test]
fn the_seed_files_are_there() {
    let seeds = seeds();
    // monerod's LEVIN1 and the 12 frames captured from monerod for umbra-wire.
    assert!(seeds.frames.len() >= 13, "{} frames", seeds.frames.len());
    assert!(seeds.frames.iter().any(|s| s.name.contains("LEVIN1")));
    assert!(seeds.documents.iter().any(|s| s.name.contains("BINARY1")));
    assert!(
        seeds
            .documents
            .iter()
            .any(|s| s.name == "address-book-clearnet-peers.epee")
    );
    // 8 mainnet and 20 regtest transactions, 5 mainnet and 20 regtest blocks.
    assert!(seeds.txs.len() >= 28, "{} transactions", seeds.txs.len());
    assert!(seeds.blocks.len() >= 25, "{} blocks", seeds.blocks.len());
    for target in TARGETS {
        assert!(!inputs(target).is_empty(), "{} has no seeds", target.name);
    }
}

/// The consensus checks' oracles must not be vacuous: every transaction seed decodes
/// (except the one mainnet coinbase transaction, which `Tx::parse` refuses as such) and
/// passes the semantic checks at one of the hard forks `consensus_tx` tries.
#[test]
fn every_transaction_seed_passes_the_semantic_checks_at_some_hard_fork() {
    use umbra_consensus::tx::{Reason, SemanticRules, Tx, semantic};
    let mut coinbase = 0;
    for seed in &seeds().txs {
        let tx = match Tx::parse(&seed.bytes) {
            Ok(tx) => tx,
            Err(e) if matches!(e.reason, Reason::CoinbaseInput { .. }) => {
                coinbase += 1;
                continue;
            }
            Err(e) => panic!("{}: {e}", seed.name),
        };
        let passed: Vec<_> = umbra_fuzz::consensus::TX_HARD_FORKS
            .into_iter()
            .filter(|&hard_fork| {
                let rules = SemanticRules {
                    hard_fork,
                    max_weight: u64::MAX,
                };
                semantic::check(tx.clone(), &rules).is_ok()
            })
            .collect();
        assert!(!passed.is_empty(), "{} passes at no hard fork", seed.name);
    }
    assert_eq!(coinbase, 1);
}

/// Every block seed parses; the regtest fixture's block 1 passes every header and coinbase
/// rule against the context `consensus_block` uses, and the other blocks get as far as a
/// rule (they do not follow the genesis block).
#[test]
fn block_seeds_parse_and_regtest_block_1_is_accepted() {
    use umbra_consensus::block::{BlockBytesCheck, check_block_bytes};
    let ctx = umbra_fuzz::consensus::regtest_context();
    for seed in &seeds().blocks {
        let verdict = check_block_bytes(&seed.bytes, ctx);
        let expected = if seed.name == "regtest-block-1.bin" {
            BlockBytesCheck::Accepted
        } else {
            BlockBytesCheck::Refused
        };
        assert_eq!(verdict, expected, "{}", seed.name);
    }
}

/// The round-trip checks only mean something if the real monerod messages decode: every
/// captured frame must be a message the wire checks accept.
#[test]
fn every_captured_frame_decodes_as_its_wire_message() {
    let mut covered = BTreeSet::new();
    for frame in seeds()
        .frames
        .iter()
        .filter(|s| s.name.starts_with("captured-"))
    {
        let mut src = BytesMut::from(&frame.bytes[..]);
        let bucket = BucketCodec::new(DEFAULT_MAX_PACKET_SIZE)
            .decode_eof(&mut src)
            .unwrap()
            .unwrap();
        let head = bucket.message_head().unwrap();
        Message::decode_with_limits(head, &bucket.body, umbra_epee::Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", frame.name));
        let target = WIRE_TARGETS
            .iter()
            .find(|t| t.head() == head)
            .unwrap_or_else(|| panic!("{}: no wire target for {head:?}", frame.name));
        covered.insert(target.name);
    }
    assert!(covered.len() >= 8, "captured frames cover only {covered:?}");
}

/// The peers-file seed is what the address book's own save writes for a book with
/// something in every list (white, gray, anchors, IPv4 and IPv6 bans). After a change of
/// the file format, `UMBRA_UPDATE_SEEDS=1 cargo test -p umbra-fuzz --test corpora`
/// rewrites it.
#[test]
fn the_peers_file_seed_is_what_the_address_book_saves() {
    let dir = tempfile::tempdir().unwrap();
    let config = AddressBookConfig {
        data_dir: Some(dir.path().to_owned()),
        ..AddressBookConfig::default()
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let peer = |addr: &str, i: u32| PeerCandidate {
        addr: addr.parse::<SocketAddr>().unwrap(),
        id: 0x5eed_0000 + u64::from(i),
        last_seen: 1_699_990_000 + i64::from(i),
        pruning_seed: if i.is_multiple_of(2) {
            0
        } else {
            0x180 + i % 8
        },
        rpc_port: if i.is_multiple_of(3) { 18089 } else { 0 },
        rpc_credits_per_hash: if i.is_multiple_of(3) { 100 } else { 0 },
    };
    let mut book = AddressBook::<ClearNet>::new(config).with_rng_seed(7);
    let gray = (0..6).map(|i| peer(&format!("11.0.0.{}:18080", 10 + i), i));
    assert_eq!(book.add_gray(gray, now), 6);
    assert_eq!(book.add_gray([peer("[2a01:4f8::7]:18080", 6)], now), 1);
    for i in 0..3 {
        assert!(book.handshake_succeeded(peer(&format!("12.0.0.{i}:18080"), 20 + i), now));
    }
    assert!(book.anchor_connected(peer("12.0.0.0:18080", 20), now));
    book.ban(
        &"13.0.0.1:18080".parse().unwrap(),
        Duration::from_secs(3600),
        now,
    );
    book.ban(
        &"[2a01:4f8::66]:18080".parse().unwrap(),
        Duration::from_secs(86_400),
        now,
    );
    book.save(now).unwrap();
    let saved = fs::read(dir.path().join("clearnet-peers.epee")).unwrap();

    let seed = workspace_root()
        .join(PEERS_FILES)
        .join("clearnet-peers.epee");
    if std::env::var_os("UMBRA_UPDATE_SEEDS").is_some() {
        fs::create_dir_all(seed.parent().unwrap()).unwrap();
        fs::write(&seed, &saved).unwrap();
    }
    assert!(
        fs::read(&seed).unwrap() == saved,
        "{} is not what the address book saves now; rewrite it with UMBRA_UPDATE_SEEDS=1",
        seed.display()
    );
    // The seed gets past the decoder, so the target's round trip is exercised on it.
    let file = decode_peers_file::<ClearNet>(&saved, &AddressBookConfig::default()).unwrap();
    assert_eq!(
        (
            file.white.len(),
            file.gray.len(),
            file.anchors.len(),
            file.bans.len()
        ),
        (3, 7, 1, 2)
    );
}

#[test]
fn there_is_one_wire_check_per_message_and_kind() {
    let mut expected = BTreeSet::new();
    for id in MessageId::ALL {
        let kinds: &[MessageKind] = if id.is_admin() {
            &[MessageKind::Request, MessageKind::Response]
        } else {
            &[MessageKind::Notification]
        };
        for kind in kinds {
            expected.insert(format!("{id:?}/{kind:?}"));
        }
    }
    let found: BTreeSet<String> = WIRE_TARGETS
        .iter()
        .map(|t| format!("{:?}/{:?}", t.id, t.kind))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(WIRE_TARGETS.len(), 17);
    let names: BTreeSet<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names.len(), TARGETS.len(), "target names are unique");
    assert_eq!(TARGETS.len(), 11 + WIRE_TARGETS.len());
}

/// Every check has a cargo-fuzz target (and a `[[bin]]` for it), and nothing else does.
#[test]
fn every_check_has_a_cargo_fuzz_target() {
    let dir = workspace_root().join("fuzz/libfuzzer");
    let files: BTreeSet<String> = fs::read_dir(dir.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = TARGETS.iter().map(|t| format!("{}.rs", t.name)).collect();
    assert_eq!(files, expected);
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for target in TARGETS {
        let source =
            fs::read_to_string(dir.join(format!("fuzz_targets/{}.rs", target.name))).unwrap();
        assert!(
            source.contains(&format!("umbra_fuzz::{}(data)", target.name)),
            "fuzz_targets/{}.rs does not call its check",
            target.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "fuzz/libfuzzer/Cargo.toml has no [[bin]] {}",
            target.name
        );
    }
}

/// Every seed (as built for its target, regressions included) through its check, and
/// every raw seed file through every check: none may fail on any input.
#[test]
fn every_seed_passes_every_check() {
    let seeds = seeds();
    let raw: Vec<&Seed> = seeds
        .frames
        .iter()
        .chain(&seeds.documents)
        .chain(&seeds.txs)
        .chain(&seeds.blocks)
        .chain(seeds.regressions.iter().map(|(_, s)| s))
        .collect();
    for target in TARGETS {
        for seed in inputs(target) {
            run(target, seed);
        }
        for seed in &raw {
            run(target, seed);
        }
    }
}

/// The inputs of open bugs (`fuzz/regressions/OPEN`) must still break their check: once
/// one passes, its bug is fixed and its line in OPEN goes, so that it joins the replay above.
#[test]
fn open_bugs_still_fail() {
    for bug in &seeds().open_bugs {
        let target = umbra_fuzz::target(bug.target).unwrap();
        let result = std::panic::catch_unwind(|| (target.check)(&bug.seed.bytes));
        assert!(
            result.is_err(),
            "{} now passes {}: the bug ({}) looks fixed; delete its line in \
             fuzz/regressions/OPEN",
            bug.seed.name,
            bug.target,
            bug.description
        );
    }
}

/// One edit of a seed; positions are indices into whatever length the input has then.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// Sets a little-endian `u64` (a levin size, a varint's worth of bytes) to a value
    /// near a boundary.
    SetU64(Index, u64),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// Replaces everything from one point on with the tail of another seed of the target.
    Splice(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let boundary = prop_oneof![
        Just(0u64),
        Just(1),
        Just(32),
        Just(63),
        Just(64),
        Just(255),
        Just(16_383),
        Just(16_384),
        Just(1 << 20),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        any::<u64>(),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        1 => (any::<Index>(), boundary).prop_map(|(at, v)| Mutation::SetU64(at, v)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(at, other, from)| Mutation::Splice(at, other, from)),
    ]
}

fn mutate(seeds: &[Seed], mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = input.len();
        match mutation {
            Mutation::FlipBit(at, bit) if len > 0 => input[at.index(len)] ^= 1 << bit,
            Mutation::SetByte(at, byte) if len > 0 => input[at.index(len)] = *byte,
            Mutation::SetU64(at, value) if len >= 8 => {
                let at = at.index(len - 7);
                input[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            Mutation::Insert(at, bytes) => {
                let at = at.index(len + 1);
                input.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(at, n) if len > 0 => {
                let at = at.index(len);
                input.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(at) => input.truncate(at.index(len + 1)),
            Mutation::Splice(at, other, from) => {
                let other = &seeds[other.index(seeds.len())].bytes;
                let from = from.index(other.len() + 1);
                input.truncate(at.index(len + 1));
                input.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    input
}

/// Generated inputs per check: this many arbitrary byte strings and this many mutated
/// seeds. 21 checks × 300 cases keeps the test within a few seconds in debug builds.
const ARBITRARY_CASES: u32 = 150;
const MUTATED_CASES: u32 = 150;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // The failure is reported with its input in hex; saving it is a manual step
        // (fuzz/regressions/), so no proptest-regressions files are written.
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    })
}

fn arbitrary_input(target: &Target) -> BoxedStrategy<Vec<u8>> {
    let bytes = prop::collection::vec(any::<u8>(), 0..512);
    match target.input {
        // Bodies that at least start with the epee signature get past the first check.
        Input::EpeeBody => prop_oneof![
            bytes.clone(),
            bytes.prop_map(|tail| {
                let mut doc = umbra_epee::SIGNATURE.to_vec();
                doc.extend(tail);
                doc
            }),
        ]
        .boxed(),
        // Streams that start with a levin signature, behind any chunking/config bytes.
        Input::LevinStream => prop_oneof![
            bytes.clone(),
            (any::<u8>(), any::<u8>(), bytes).prop_map(|(selector, config, tail)| {
                let mut stream = vec![selector, config];
                stream.extend_from_slice(&umbra_levin::SIGNATURE.to_le_bytes());
                stream.extend(tail);
                stream
            }),
        ]
        .boxed(),
        // Text protocols: arbitrary bytes, and printable lines behind a config byte.
        Input::ProxyReply => prop_oneof![
            bytes,
            (any::<u8>(), "[ -~]{0,200}\r?\n").prop_map(|(config, line)| {
                let mut input = vec![config];
                input.extend_from_slice(line.as_bytes());
                input
            }),
        ]
        .boxed(),
        // Transactions: arbitrary bytes, and bytes behind a version-2 prefix head (version,
        // unlock time 0, one input of type `txin_to_key` with amount 0).
        Input::TxBlob => prop_oneof![
            bytes.clone(),
            bytes.prop_map(|tail| {
                let mut tx = vec![0x02, 0x00, 0x01, 0x02, 0x00];
                tx.extend(tail);
                tx
            }),
        ]
        .boxed(),
        // Blocks: arbitrary bytes, and bytes behind a version-16 header head.
        Input::BlockBlob => prop_oneof![
            bytes.clone(),
            bytes.prop_map(|tail| {
                let mut block = vec![0x10, 0x10];
                block.extend(tail);
                block
            }),
        ]
        .boxed(),
    }
}

#[test]
fn checks_hold_on_arbitrary_bytes() {
    for target in TARGETS {
        runner(ARBITRARY_CASES)
            .run(&arbitrary_input(target), |input| {
                (target.check)(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("check {}: {e}", target.name));
    }
}

#[test]
fn checks_hold_on_mutated_seeds() {
    for target in TARGETS {
        let seeds = inputs(target);
        let strategy = (any::<Index>(), prop::collection::vec(mutation(), 1..5));
        runner(MUTATED_CASES)
            .run(&strategy, |(seed, mutations)| {
                let seed = &seeds[seed.index(seeds.len())];
                let input = mutate(seeds, seed.bytes.clone(), &mutations);
                (target.check)(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("check {}: {e}", target.name));
    }
}

/// The levin check's own oracle must not be vacuous: a stream of real frames yields them
/// all, whatever the chunking.
#[test]
fn levin_stream_decodes_real_frames_in_any_chunking() {
    let frames: Vec<&Seed> = seeds()
        .frames
        .iter()
        .filter(|s| s.name.starts_with("captured-"))
        .collect();
    let mut stream = Vec::new();
    for frame in &frames {
        stream.extend_from_slice(&frame.bytes);
    }
    let mut src = BytesMut::from(&stream[..]);
    let mut codec = BucketCodec::new(DEFAULT_MAX_PACKET_SIZE);
    let mut count = 0;
    while let Some(bucket) = codec.decode_eof(&mut src).unwrap() {
        assert_eq!(bucket.body.len() as u64, bucket.header.size);
        count += 1;
    }
    assert_eq!(count, frames.len());
    for selector in [0u8, 1, 7, 0x45, 0x80, 0xc1, 0xff] {
        umbra_fuzz::levin_stream(&umbra_fuzz::levin_stream_input(
            selector,
            umbra_fuzz::STREAM_CONFIG_MONEROD,
            &stream,
        ));
    }
}

/// A header that announces a body near the limit, followed by a trickle of bytes: the
/// codec must wait without reserving the announced size (checked inside `levin_stream`
/// against the read buffer's capacity), in every chunking and with every limit.
#[test]
fn levin_stream_waits_for_announced_bodies_without_reserving_them() {
    use umbra_levin::{Header, MessageHead};
    for config in [0x00u8, 0x01, 0x02, 0x03, 0x13] {
        let limit = umbra_fuzz::StreamConfig::from_byte(config).max_packet_size;
        let mut stream = Header::new(MessageHead::request(1001), limit as u64)
            .to_bytes()
            .to_vec();
        stream.extend(std::iter::repeat_n(0x55, 3000));
        for selector in [0u8, 1, 0x3f, 0x7f, 0xff] {
            umbra_fuzz::levin_stream(&umbra_fuzz::levin_stream_input(selector, config, &stream));
        }
    }
}
