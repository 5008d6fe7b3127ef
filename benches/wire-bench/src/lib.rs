//! Criterion benchmarks of Umbra's wire crates (`umbra-epee`, `umbra-levin`, `umbra-wire`)
//! side by side with [`monero_epee`], the streaming epee reader of the monero-oxide
//! project, on the same bytes and in the same run.
//!
//! # Running
//!
//! ```text
//! cargo bench -p umbra-wire-bench                      # ~70 s of measurement on 2 cores
//! cargo run -p umbra-wire-bench --bin bench-report     # markdown table from the results
//! cargo run --profile bench -p umbra-wire-bench --example interleaved  # steadier on a busy machine
//! benches/wire-bench/icount.sh                         # instructions per decode (valgrind)
//! ```
//!
//! This crate is a workspace member but not a default member, so `cargo build` and
//! `cargo test` at the root do not build criterion.
//!
//! # What is measured
//!
//! For each message in [`CASES`] (a criterion group of that name) there are three
//! benchmarks, each with the epee body length as its throughput:
//!
//! - `ours/decode`: `umbra_epee::from_bytes::<T>(&body)` into our typed struct, blobs as
//!   zero-copy `Bytes`;
//! - `monero-epee/decode`: the same body walked with `monero-epee` into an equivalent typed
//!   struct ([`mod@reference`]), blobs as borrowed slices;
//! - `ours/encode`: `umbra_epee::to_writer` into a reused, pre-sized `BytesMut`.
//!   `monero-epee` has no encoder, so encoding has no counterpart.
//!
//! Before timing, the benchmark checks that both decoders extracted the same values
//! ([`compare::Compared`]) and that our encoder gives back the very same bytes.
//!
//! # Example
//!
//! ```
//! use umbra_wire::HandshakeRequest;
//! use umbra_wire_bench::{compare::Compared, fixtures};
//!
//! let body = fixtures::handshake_request()?;
//! let ours: HandshakeRequest = umbra_epee::from_bytes(&body)?;
//! let theirs = HandshakeRequest::decode_reference(&body)?;
//! assert_eq!(ours.as_reference(), theirs);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

pub mod compare;
pub mod fixtures;
pub mod reference;
pub mod report;

/// One benchmarked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseInfo {
    /// The criterion group name.
    pub name: &'static str,
    /// What the message is, for the report.
    pub title: &'static str,
    /// Whether the message is mostly large blobs (the 1 GB/s decode target applies).
    pub blob_heavy: bool,
}

/// The benchmarked messages, in report order.
pub const CASES: [CaseInfo; 5] = [
    CaseInfo {
        name: "handshake_request",
        title: "handshake request (monerod capture)",
        blob_heavy: false,
    },
    CaseInfo {
        name: "handshake_response",
        title: "handshake response (monerod capture)",
        blob_heavy: false,
    },
    CaseInfo {
        name: "chain_response_10k",
        title: "chain entry response, 10,000 ids + weights",
        blob_heavy: true,
    },
    CaseInfo {
        name: "get_objects_mainnet_100",
        title: "get-objects response, 100 mainnet blocks + txs",
        blob_heavy: true,
    },
    CaseInfo {
        name: "get_objects_regtest_100",
        title: "get-objects response, 100 regtest blocks (monerod capture)",
        blob_heavy: false,
    },
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::Bytes;
    use umbra_wire::{
        BlockCompleteEntry, ChainResponse, GetObjectsResponse, HandshakeRequest, HandshakeResponse,
        NetworkAddress, PeerListEntry, TransactionBlobs, TxBlobEntry,
    };

    use crate::{compare::Compared, fixtures};

    /// Both decoders agree on `body`, and our encoder reproduces it.
    fn agree<T: Compared>(body: &Bytes) -> T {
        let ours: T = umbra_epee::from_bytes(body).unwrap();
        assert_eq!(ours.as_reference(), T::decode_reference(body).unwrap());
        assert_eq!(fixtures::encode(&ours).unwrap(), body);
        ours
    }

    #[test]
    fn both_decoders_agree_on_every_case() {
        agree::<HandshakeRequest>(&fixtures::handshake_request().unwrap());
        agree::<HandshakeResponse>(&fixtures::handshake_response().unwrap());
        let chain = fixtures::chain_response(fixtures::CHAIN_IDS).unwrap();
        let chain = agree::<ChainResponse>(&fixtures::encode(&chain).unwrap());
        assert_eq!(chain.m_block_ids.len(), fixtures::CHAIN_IDS);
        let objects = fixtures::get_objects_mainnet(fixtures::OBJECTS_BLOCKS).unwrap();
        let objects = agree::<GetObjectsResponse>(&fixtures::encode(&objects).unwrap());
        assert_eq!(objects.blocks.len(), fixtures::OBJECTS_BLOCKS);
        let regtest = agree::<GetObjectsResponse>(&fixtures::get_objects_regtest().unwrap());
        assert_eq!(regtest.blocks.len(), 100);
    }

    #[test]
    fn mainnet_blocks_carry_their_available_transactions() {
        let blocks = fixtures::mainnet_blocks().unwrap();
        let tx_counts: Vec<usize> = blocks.iter().map(|(_, txs)| txs.len()).collect();
        assert_eq!(tx_counts, [0, 2, 3, 0, 0]);
    }

    #[test]
    fn both_decoders_agree_on_peer_lists_and_pruned_entries() {
        let mut response: HandshakeResponse =
            umbra_epee::from_bytes(&fixtures::handshake_response().unwrap()).unwrap();
        let addresses = [
            NetworkAddress::Ipv4("1.2.3.4:18080".parse().unwrap()),
            NetworkAddress::Ipv6("[2001:db8::1]:18080".parse().unwrap()),
            NetworkAddress::Tor {
                host: format!("{}.onion", "a".repeat(56)),
                port: 18083,
            },
            NetworkAddress::I2p {
                host: format!("{}.b32.i2p", "b".repeat(52)),
                port: 0,
            },
        ];
        response.local_peerlist_new = addresses
            .into_iter()
            .enumerate()
            .map(|(i, adr)| PeerListEntry {
                adr,
                id: i as u64 + 7,
                last_seen: 1_700_000_000,
                pruning_seed: 0x181,
                rpc_port: 18089,
                rpc_credits_per_hash: 0,
                umbra_key: None,
                umbra_transports: None,
            })
            .collect();
        agree::<HandshakeResponse>(&fixtures::encode(&response).unwrap());

        let pruned = GetObjectsResponse {
            blocks: vec![BlockCompleteEntry {
                pruned: true,
                block: Bytes::from_static(b"block"),
                block_weight: 1234,
                txs: TransactionBlobs::from_pruned(vec![TxBlobEntry {
                    blob: Bytes::from_static(b"tx"),
                    prunable_hash: [3; 32],
                }]),
            }],
            missed_ids: vec![[9u8; 32]].into(),
            current_blockchain_height: 5,
        };
        agree::<GetObjectsResponse>(&fixtures::encode(&pruned).unwrap());
    }
}
