//! A minimal Monero peer for interop tests: a levin connection that sends and receives
//! [`Message`]s, keeps every raw bucket it received (to capture test vectors), and answers
//! monerod's admin requests while a test waits for something else.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use umbra_levin::{Bucket, BucketCodec, DEFAULT_MAX_PACKET_SIZE, LevinMessage, MessageHead};
use umbra_wire::{
    AdminRequest, AdminResponse, BasicNodeData, CoreSyncData, HandshakeRequest, Message,
    PingResponse, SupportFlagsResponse, TimedSyncResponse, network_id, support_flags,
};

/// Where captured vectors go when `UMBRA_CAPTURE_VECTORS` is set (to `1` or a directory).
pub fn capture_dir() -> Option<PathBuf> {
    let value = std::env::var_os("UMBRA_CAPTURE_VECTORS")?;
    let dir = if value == "1" {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/monerod")
    } else {
        PathBuf::from(value)
    };
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// The regtest genesis block hash (regtest uses mainnet's genesis).
pub fn genesis_hash() -> [u8; 32] {
    hex_array(umbra_test_kit::GENESIS_HASH_HEX)
}

pub fn hex_array<const N: usize>(hex_str: &str) -> [u8; N] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// Our chain as we claim it: regtest genesis only.
pub fn genesis_sync_data() -> CoreSyncData {
    CoreSyncData {
        current_height: 1,
        cumulative_difficulty: 1,
        cumulative_difficulty_top64: 0,
        top_id: genesis_hash(),
        top_version: 1,
        pruning_seed: 0,
    }
}

pub struct Peer {
    framed: Framed<TcpStream, BucketCodec>,
    /// Our peer id.
    pub peer_id: u64,
    /// Whether we claim fluffy-block support.
    pub support_flags: u32,
    /// Our chain as we claim it.
    pub sync_data: CoreSyncData,
    /// Every bucket received, in order.
    pub received: Vec<Bucket>,
    /// How many admin requests of the peer we answered on our own.
    pub answered: Vec<AdminRequest>,
}

impl Peer {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Self::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            framed: Framed::new(stream, BucketCodec::new(DEFAULT_MAX_PACKET_SIZE)),
            peer_id: rand_id(),
            support_flags: support_flags::FLUFFY_BLOCKS,
            sync_data: genesis_sync_data(),
            received: Vec::new(),
            answered: Vec::new(),
        }
    }

    pub fn node_data(&self) -> BasicNodeData {
        BasicNodeData {
            network_id: network_id::MAINNET,
            my_port: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            peer_id: self.peer_id,
            support_flags: self.support_flags,
            umbra_key: None,
            umbra_transports: None,
        }
    }

    pub fn handshake_request(&self) -> HandshakeRequest {
        HandshakeRequest {
            node_data: self.node_data(),
            payload_data: self.sync_data.clone(),
        }
    }

    /// Encodes and sends a message; returns the exact bytes sent.
    pub async fn send(&mut self, message: impl Into<Message>) -> Bytes {
        let message = message.into();
        let mut body = BytesMut::new();
        message.encode_body(&mut body).unwrap();
        let bucket = Bucket::new(message.head(), body.freeze());
        let mut wire = BytesMut::new();
        bucket.header.put(&mut wire);
        wire.extend_from_slice(&bucket.body);
        self.framed.send(bucket).await.unwrap();
        wire.freeze()
    }

    /// Receives the next bucket and decodes it.
    pub async fn recv(&mut self, timeout: Duration) -> (MessageHead, Message) {
        let bucket = tokio::time::timeout(timeout, self.framed.next())
            .await
            .unwrap_or_else(|_| panic!("no message within {timeout:?}"))
            .expect("connection closed")
            .expect("framing error");
        let head = bucket.message_head().expect("a message, not a fragment");
        let message = Message::decode(head, bucket.body.clone())
            .unwrap_or_else(|e| panic!("cannot decode command {}: {e}", head.command));
        self.received.push(bucket);
        (head, message)
    }

    /// Receives until `want` returns `Some`, answering monerod's timed syncs, pings and
    /// support-flag requests in the meantime; other messages are skipped. Bounded by
    /// `timeout` in all.
    pub async fn recv_until<T>(
        &mut self,
        timeout: Duration,
        mut want: impl FnMut(&MessageHead, &Message) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (head, message) = self.recv(left).await;
            if let Some(found) = want(&head, &message) {
                return found;
            }
            if let Message::Request(request) = message {
                self.answer(request).await;
            }
        }
    }

    /// Answers an admin request the way a well-behaved peer does.
    pub async fn answer(&mut self, request: AdminRequest) {
        let response = match &request {
            AdminRequest::TimedSync(_) => AdminResponse::TimedSync(TimedSyncResponse {
                payload_data: self.sync_data.clone(),
                local_peerlist_new: Vec::new(),
            }),
            AdminRequest::Ping => AdminResponse::Ping(PingResponse {
                status: umbra_wire::PING_OK_STATUS.into(),
                peer_id: self.peer_id,
            }),
            AdminRequest::SupportFlags => AdminResponse::SupportFlags(SupportFlagsResponse {
                support_flags: self.support_flags,
            }),
            AdminRequest::Handshake(_) => panic!("unexpected second handshake"),
        };
        self.answered.push(request);
        self.send(response).await;
    }

    /// Saves the raw bytes (header + body) of the last received bucket whose command is
    /// `command`, when capturing is on.
    pub fn capture(&self, command: u32, name: &str) {
        let Some(dir) = capture_dir() else { return };
        let bucket = self
            .received
            .iter()
            .rev()
            .find(|b| b.header.command == command)
            .unwrap_or_else(|| panic!("nothing received with command {command}"));
        let mut wire = BytesMut::new();
        bucket.header.put(&mut wire);
        wire.extend_from_slice(&bucket.body);
        std::fs::write(dir.join(format!("{name}.bin")), &wire).unwrap();
        eprintln!("captured {name}.bin ({} bytes)", wire.len());
    }

    /// Saves bytes we sent (for vectors of our own messages that monerod accepted).
    pub fn capture_sent(bytes: &[u8], name: &str) {
        let Some(dir) = capture_dir() else { return };
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
}

fn rand_id() -> u64 {
    // Distinct per connection; randomness quality does not matter in tests.
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
