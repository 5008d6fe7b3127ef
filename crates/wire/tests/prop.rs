//! Round trips of every message over the levin codec, with generated contents and the byte
//! stream cut at arbitrary points.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{SocketAddrV4, SocketAddrV6};

use bytes::{Bytes, BytesMut};
use proptest::{collection::vec, option, prelude::*};
use tokio_util::codec::{Decoder, Encoder};
use umbra_epee::{ByteArrayVec, ContainerAsBlob};
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, BlockCompleteEntry, ChainRequest, ChainResponse,
    CoreSyncData, FluffyMissingTxsRequest, GetObjectsRequest, GetObjectsResponse,
    GetTxPoolComplement, HandshakeRequest, HandshakeResponse, Message, MoneroCodec, NetworkAddress,
    NewBlock, NewFluffyBlock, NewTransactions, PeerListEntry, PingResponse, ProtocolMessage,
    SupportFlagsResponse, TimedSyncRequest, TimedSyncResponse, TransactionBlobs, TxBlobEntry,
};

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

/// Transaction blobs are never empty; an array of empty strings at the very end of a
/// document is refused (as monerod refuses it: it wants two bytes per string left).
fn tx_blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 1..64).prop_map(Bytes::from)
}

fn hashes() -> impl Strategy<Value = ByteArrayVec<32>> {
    vec(any::<[u8; 32]>(), 0..8).prop_map(ByteArrayVec::from)
}

fn node_data() -> impl Strategy<Value = BasicNodeData> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
        any::<Option<([u8; 32], u32)>>(),
    )
        .prop_map(
            |(
                network_id,
                my_port,
                rpc_port,
                rpc_credits_per_hash,
                peer_id,
                support_flags,
                umbra,
            )| {
                BasicNodeData {
                    network_id,
                    my_port,
                    rpc_port,
                    rpc_credits_per_hash,
                    peer_id,
                    support_flags,
                    umbra_key: umbra.map(|(key, _)| key),
                    umbra_transports: umbra.map(|(_, transports)| transports),
                }
            },
        )
}

fn sync_data() -> impl Strategy<Value = CoreSyncData> {
    (
        any::<u64>(),
        any::<u128>(),
        any::<[u8; 32]>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(
            |(current_height, difficulty, top_id, top_version, pruning_seed)| {
                let mut data = CoreSyncData {
                    current_height,
                    cumulative_difficulty: 0,
                    cumulative_difficulty_top64: 0,
                    top_id,
                    top_version,
                    pruning_seed,
                };
                data.set_cumulative_difficulty(difficulty);
                data
            },
        )
}

fn address() -> impl Strategy<Value = NetworkAddress> {
    prop_oneof![
        any::<SocketAddrV4>().prop_map(NetworkAddress::Ipv4),
        (any::<std::net::Ipv6Addr>(), any::<u16>())
            .prop_map(|(ip, port)| NetworkAddress::Ipv6(SocketAddrV6::new(ip, port, 0, 0))),
        ("[a-z2-7]{56}", any::<u16>()).prop_map(|(h, port)| NetworkAddress::Tor {
            host: format!("{h}.onion"),
            port
        }),
        ("[a-z2-7]{52}", any::<u16>()).prop_map(|(h, port)| NetworkAddress::I2p {
            host: format!("{h}.b32.i2p"),
            port
        }),
    ]
}

fn peer_list() -> impl Strategy<Value = Vec<PeerListEntry>> {
    vec(
        (
            address(),
            any::<u64>(),
            any::<i64>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
            any::<Option<[u8; 32]>>(),
            any::<Option<u32>>(),
        )
            .prop_map(
                |(
                    adr,
                    id,
                    last_seen,
                    pruning_seed,
                    rpc_port,
                    rpc_credits_per_hash,
                    umbra_key,
                    umbra_transports,
                )| {
                    PeerListEntry {
                        adr,
                        id,
                        last_seen,
                        pruning_seed,
                        rpc_port,
                        rpc_credits_per_hash,
                        umbra_key,
                        umbra_transports,
                    }
                },
            ),
        0..6,
    )
}

fn block_entry() -> impl Strategy<Value = BlockCompleteEntry> {
    let normal = (blob(), vec(tx_blob(), 0..4)).prop_map(|(block, txs)| BlockCompleteEntry {
        pruned: false,
        block,
        block_weight: 0,
        txs: TransactionBlobs::from_blobs(txs),
    });
    let pruned = (blob(), any::<u64>(), vec((blob(), any::<[u8; 32]>()), 0..4)).prop_map(
        |(block, block_weight, txs)| BlockCompleteEntry {
            pruned: true,
            block,
            block_weight,
            txs: TransactionBlobs::from_pruned(
                txs.into_iter()
                    .map(|(blob, prunable_hash)| TxBlobEntry {
                        blob,
                        prunable_hash,
                    })
                    .collect(),
            ),
        },
    );
    prop_oneof![normal, pruned]
}

fn protocol() -> impl Strategy<Value = ProtocolMessage> {
    prop_oneof![
        (block_entry(), any::<u64>()).prop_map(|(b, current_blockchain_height)| {
            ProtocolMessage::NewBlock(NewBlock {
                b,
                current_blockchain_height,
            })
        }),
        (vec(tx_blob(), 0..4), blob(), any::<bool>()).prop_map(
            |(txs, padding, dandelionpp_fluff)| {
                ProtocolMessage::NewTransactions(NewTransactions {
                    txs,
                    padding,
                    dandelionpp_fluff,
                })
            }
        ),
        (hashes(), any::<bool>()).prop_map(|(blocks, prune)| {
            ProtocolMessage::GetObjectsRequest(GetObjectsRequest { blocks, prune })
        }),
        (vec(block_entry(), 0..4), hashes(), any::<u64>()).prop_map(
            |(blocks, missed_ids, current_blockchain_height)| {
                ProtocolMessage::GetObjectsResponse(GetObjectsResponse {
                    blocks,
                    missed_ids,
                    current_blockchain_height,
                })
            }
        ),
        (hashes(), any::<bool>()).prop_map(|(block_ids, prune)| {
            ProtocolMessage::ChainRequest(ChainRequest { block_ids, prune })
        }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u128>(),
            hashes(),
            vec(any::<u64>(), 0..8),
            blob()
        )
            .prop_map(
                |(start_height, total_height, difficulty, ids, weights, first_block)| {
                    ProtocolMessage::ChainResponse(ChainResponse {
                        start_height,
                        total_height,
                        cumulative_difficulty: difficulty as u64,
                        cumulative_difficulty_top64: (difficulty >> 64) as u64,
                        m_block_ids: ids,
                        m_block_weights: ContainerAsBlob::from(weights),
                        first_block,
                    })
                }
            ),
        (block_entry(), any::<u64>()).prop_map(|(b, current_blockchain_height)| {
            ProtocolMessage::NewFluffyBlock(NewFluffyBlock {
                b,
                current_blockchain_height,
            })
        }),
        (any::<[u8; 32]>(), any::<u64>(), vec(any::<u64>(), 0..8)).prop_map(
            |(block_hash, current_blockchain_height, missing)| {
                ProtocolMessage::FluffyMissingTxsRequest(FluffyMissingTxsRequest {
                    block_hash,
                    current_blockchain_height,
                    missing_tx_indices: ContainerAsBlob::from(missing),
                })
            }
        ),
        hashes().prop_map(|hashes| {
            ProtocolMessage::GetTxPoolComplement(GetTxPoolComplement { hashes })
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (node_data(), sync_data()).prop_map(|(node_data, payload_data)| {
            Message::Request(AdminRequest::Handshake(HandshakeRequest {
                node_data,
                payload_data,
            }))
        }),
        sync_data().prop_map(|payload_data| {
            Message::Request(AdminRequest::TimedSync(TimedSyncRequest { payload_data }))
        }),
        Just(Message::Request(AdminRequest::Ping)),
        Just(Message::Request(AdminRequest::SupportFlags)),
        (node_data(), sync_data(), peer_list()).prop_map(
            |(node_data, payload_data, local_peerlist_new)| {
                Message::Response(AdminResponse::Handshake(HandshakeResponse {
                    node_data,
                    payload_data,
                    local_peerlist_new,
                }))
            }
        ),
        (sync_data(), peer_list()).prop_map(|(payload_data, local_peerlist_new)| {
            Message::Response(AdminResponse::TimedSync(TimedSyncResponse {
                payload_data,
                local_peerlist_new,
            }))
        }),
        ("[ -~]{0,8}", any::<u64>()).prop_map(|(status, peer_id)| {
            Message::Response(AdminResponse::Ping(PingResponse { status, peer_id }))
        }),
        any::<u32>().prop_map(|support_flags| {
            Message::Response(AdminResponse::SupportFlags(SupportFlagsResponse {
                support_flags,
            }))
        }),
        protocol().prop_map(Message::Protocol),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip_through_the_codec_in_any_chunks(
        messages in vec(message(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut codec = MoneroCodec::default();
        let mut wire = BytesMut::new();
        for message in &messages {
            codec.encode(message.clone(), &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len())).collect();
        points.push(wire.len());
        points.sort_unstable();

        let mut decoder = MoneroCodec::default();
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in points {
            buffer.extend_from_slice(&wire[start..end]);
            start = end;
            while let Some(message) = decoder.decode(&mut buffer).unwrap() {
                decoded.push(message);
            }
        }
        prop_assert!(buffer.is_empty());
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn optional_peer_fields_survive(entry in option::of(peer_list())) {
        // A response with and without peers: an empty list is left out and comes back empty.
        let peers = entry.unwrap_or_default();
        let message = Message::Response(AdminResponse::TimedSync(TimedSyncResponse {
            payload_data: CoreSyncData {
                current_height: 1,
                cumulative_difficulty: 1,
                cumulative_difficulty_top64: 0,
                top_id: [0; 32],
                top_version: 1,
                pruning_seed: 0,
            },
            local_peerlist_new: peers,
        }));
        let mut wire = BytesMut::new();
        MoneroCodec::default().encode(message.clone(), &mut wire).unwrap();
        prop_assert_eq!(MoneroCodec::default().decode(&mut wire).unwrap(), Some(message));
    }
}
