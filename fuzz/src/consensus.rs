//! Fuzz checks for the consensus crate's decoders of untrusted bytes: transaction blobs
//! (from peers and the pool) and block blobs (from peers), each followed by the rules that
//! need no chain data (transactions) or only a small chain state (blocks).
//!
//! | check | input | asserts |
//! |---|---|---|
//! | [`consensus_tx`] | a transaction blob | see [`consensus_tx`]: what decodes is its own canonical encoding and decodes again to the same transaction and hash; the semantic checks give a verdict at every hard fork tried; what passes asks for one ring per input and is refused when one weight unit too heavy |
//! | [`consensus_block`] | a block blob | see [`consensus_block`]: parsing and every header and coinbase rule against a regtest chain holding its genesis block give a verdict, never "parsed but not its own encoding" |

use std::sync::OnceLock;

use umbra_consensus::{
    ChainConfig, ChainContext, HardFork, Network, PowCheck,
    block::{BlockBytesCheck, check_block_bytes},
    monero_oxide::transaction::Input as TxInput,
    tx::{Reason, SemanticRules, Tx, TxHash, TxId, semantic},
    verify_block_header_and_coinbase,
};

use crate::hex;

/// The hard forks [`consensus_tx`] runs the semantic checks at: the launch rules, the
/// first with RingCT, Bulletproofs, CLSAG and Bulletproofs+ (the newest).
pub const TX_HARD_FORKS: [HardFork; 6] = [
    HardFork::V1,
    HardFork::V4,
    HardFork::V8,
    HardFork::V10,
    HardFork::V13,
    HardFork::V16,
];

/// Decodes the input as a transaction blob with [`Tx::parse`], then:
///
/// - what decodes keeps its blob, which is exactly the input, re-encodes (the decoded
///   transaction serialized again) to exactly the input, and decodes again to an equal
///   [`Tx`] (same hash and weight); its weight is at least its size and it has one key
///   image per input;
/// - a refused blob is named by the Keccak-256 of its bytes and its length;
/// - [`semantic::check`] at each of [`TX_HARD_FORKS`] (no weight limit) returns a verdict
///   naming this transaction; when it passes, the [`CheckedTx`](umbra_consensus::tx::CheckedTx)
///   has the transaction's hash and that hard fork, and its `ring_request()` has one entry
///   per input with that input's key image and as many ring members as it has key offsets;
///   the same check with a weight limit one below the transaction's weight refuses it as
///   too heavy.
pub fn consensus_tx(data: &[u8]) {
    let tx = match Tx::parse(data) {
        Ok(tx) => tx,
        Err(error) => {
            let expected = TxId::Unparsed {
                blob_hash: TxHash(umbra_consensus::monero_oxide::primitives::keccak256(data)),
                len: data.len(),
            };
            assert_eq!(error.tx, expected, "input {}", hex(data));
            return;
        }
    };
    assert!(tx.blob() == data, "blob differs; input {}", hex(data));
    assert!(
        tx.transaction().serialize() == data,
        "re-encoding differs; input {}",
        hex(data)
    );
    let again = Tx::parse(tx.blob())
        .unwrap_or_else(|e| panic!("own blob refused: {e}; input {}", hex(data)));
    assert!(
        again == tx,
        "decodes differently again; input {}",
        hex(data)
    );
    assert!(
        tx.weight() >= data.len() as u64,
        "weight {} below size; input {}",
        tx.weight(),
        hex(data)
    );
    let inputs = &tx.transaction().prefix().inputs;
    assert_eq!(tx.key_images().count(), inputs.len(), "input {}", hex(data));

    for hard_fork in TX_HARD_FORKS {
        let rules = SemanticRules {
            hard_fork,
            max_weight: u64::MAX,
        };
        let checked = match semantic::check(tx.clone(), &rules) {
            Ok(checked) => checked,
            Err(error) => {
                assert_eq!(
                    error.tx,
                    TxId::Hash(TxHash(tx.hash())),
                    "{hard_fork:?}; input {}",
                    hex(data)
                );
                continue;
            }
        };
        assert_eq!(checked.hash(), tx.hash(), "input {}", hex(data));
        assert_eq!(checked.hard_fork(), hard_fork, "input {}", hex(data));
        let request = checked.ring_request();
        assert_eq!(
            request.inputs.len(),
            inputs.len(),
            "{hard_fork:?}: ring request; input {}",
            hex(data)
        );
        for ((asked, input), key_image) in request.inputs.iter().zip(inputs).zip(tx.key_images()) {
            assert_eq!(asked.key_image, key_image, "input {}", hex(data));
            if let TxInput::ToKey { key_offsets, .. } = input {
                assert_eq!(
                    asked.indices.len(),
                    key_offsets.len(),
                    "input {}",
                    hex(data)
                );
            }
        }

        let tight = SemanticRules {
            hard_fork,
            max_weight: tx.weight().saturating_sub(1),
        };
        match semantic::check(tx.clone(), &tight) {
            Err(error) if matches!(error.reason, Reason::TooHeavy { .. }) => {}
            other => panic!(
                "{hard_fork:?}, limit one below the weight: {other:?}; input {}",
                hex(data)
            ),
        }
    }
}

/// The chain [`consensus_block`] checks blocks against: `monerod --regtest
/// --fixed-difficulty 1` holding its genesis block (accepted by checkpoint), so the next
/// block is height 1 under hard fork 16. Built once per process.
///
/// # Panics
/// If the genesis block is refused: a bug in the block rules, not in an input.
pub fn regtest_context() -> &'static ChainContext {
    static CONTEXT: OnceLock<ChainContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let mut ctx = ChainContext::new(ChainConfig::regtest(Some(1)));
        let genesis = Network::Regtest.genesis_block();
        let info = verify_block_header_and_coinbase(
            &genesis,
            &ctx,
            &[],
            PowCheck::Checkpoint(genesis.hash()),
            None,
        )
        .unwrap_or_else(|e| panic!("regtest genesis refused: {e}"));
        ctx.apply(&info)
            .unwrap_or_else(|e| panic!("regtest genesis not applied: {e}"));
        ctx
    })
}

/// Decodes the input as a block blob and runs the header and coinbase rules on it with
/// [`check_block_bytes`] against [`regtest_context`]: every input gets a verdict (not
/// parsed, refused, accepted), never [`BlockBytesCheck::NonCanonical`] (parsed, but not
/// the block's own encoding, so its hash would not be the hash of these bytes).
///
/// `check_block_bytes` replaces the proof of work by a checkpoint of the block's own hash
/// (`PowCheck::Checkpoint`): computing RandomX for each input would cost milliseconds
/// (plus a 256 MiB cache per seed), a thousand times the rest. The listed transactions are
/// given as 1,500-byte transactions without fee.
pub fn consensus_block(data: &[u8]) {
    let verdict = check_block_bytes(data, regtest_context());
    assert!(
        verdict != BlockBytesCheck::NonCanonical,
        "block parsed but re-encodes differently; input {}",
        hex(data)
    );
}
