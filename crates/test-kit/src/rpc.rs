//! A small blocking client for monerod's JSON-RPC interface (`http://127.0.0.1:R/json_rpc`),
//! with typed responses for the calls tests need.
//!
//! Every call is bounded by a timeout. A response counts as a success only when it has no
//! JSON-RPC `error` object and its `result.status` is `"OK"`; `"BUSY"` becomes
//! [`RpcError::Busy`], any other status [`RpcError::Status`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte hash (block id, transaction id), as raw bytes.
pub type Hash = [u8; 32];

/// Default bound on one RPC request: connect, send, wait for and read the answer.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time `generateblocks` gets per requested block, on top of the client's timeout.
/// A regtest block with fixed difficulty 1 takes tens of milliseconds on a 2-core machine,
/// more when the RandomX seed changes; this is generous on purpose.
const GENERATE_TIME_PER_BLOCK: Duration = Duration::from_millis(500);

/// Upper bound on one `generateblocks` request, however many blocks it asks for.
const MAX_GENERATE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Largest response body the client reads (64 MiB; a header is under 1 KiB).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// How much of an unexpected response body an error message quotes.
const BODY_EXCERPT_CHARS: usize = 300;

/// What went wrong with one RPC call. Every variant names the JSON-RPC method.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The HTTP exchange failed: connection refused, timeout, broken connection.
    #[error("{method}: HTTP request to {url} failed: {source}")]
    Http {
        /// The JSON-RPC method.
        method: String,
        /// The endpoint.
        url: String,
        /// What ureq reported.
        #[source]
        source: Box<ureq::Error>,
    },
    /// monerod answered with an HTTP status other than 200.
    #[error("{method}: HTTP status {status} from {url}: {body}")]
    HttpStatus {
        /// The JSON-RPC method.
        method: String,
        /// The endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The response was not the JSON this client expects.
    #[error("{method}: could not decode the response ({source}): {body}")]
    Decode {
        /// The JSON-RPC method.
        method: String,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
        /// The start of the response body.
        body: String,
    },
    /// The response carried a JSON-RPC `error` object (unknown method, bad parameters,
    /// block not found, ...).
    #[error("{method}: RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// monerod's error code (negative; `-32601` is "Method not found").
        code: i64,
        /// monerod's message.
        message: String,
    },
    /// `result.status` was `"BUSY"`: monerod does not consider itself synchronised yet.
    /// `generateblocks` and `get_last_block_header` answer this on a fresh regtest node with
    /// no peers; see the crate docs.
    #[error("{method}: monerod answered BUSY (it does not consider itself synchronised)")]
    Busy {
        /// The JSON-RPC method.
        method: String,
    },
    /// `result.status` was neither `"OK"` nor `"BUSY"` (or was missing).
    #[error("{method}: status {status:?}, expected \"OK\"")]
    Status {
        /// The JSON-RPC method.
        method: String,
        /// The status monerod reported (empty when the field was missing).
        status: String,
    },
    /// The blocking task running the call panicked or was cancelled
    /// (only from [`RpcClient::run_blocking`]).
    #[error("the blocking task running the RPC call failed: {0}")]
    Task(String),
}

impl RpcError {
    /// Whether this is [`RpcError::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

/// A blocking JSON-RPC client for one monerod.
///
/// Cheap to clone (the connection pool is shared) and `Send + Sync`. From async code, run
/// calls on the blocking pool, for example with [`RpcClient::run_blocking`]:
///
/// ```no_run
/// # async fn demo(rpc: umbra_test_kit::RpcClient) -> Result<(), umbra_test_kit::RpcError> {
/// let info = rpc.run_blocking(|rpc| rpc.get_info()).await?;
/// assert_eq!(info.height, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RpcClient {
    /// `http://127.0.0.1:R`, for the endpoints beside `/json_rpc`.
    base: String,
    url: String,
    agent: ureq::Agent,
    timeout: Duration,
    /// Whether a JSON-RPC `result` must carry `status: "OK"` (monerod's answers do,
    /// monero-wallet-rpc's do not).
    check_status: bool,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    /// A client for the monerod whose RPC port is at `addr`, with [`DEFAULT_RPC_TIMEOUT`].
    pub fn new(addr: SocketAddr) -> Self {
        Self::with_timeout(addr, DEFAULT_RPC_TIMEOUT)
    }

    /// A client whose requests each take at most `timeout` (`generateblocks` gets more; see
    /// [`RpcClient::generateblocks_with`]).
    pub fn with_timeout(addr: SocketAddr, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            // Never route loopback RPC through a proxy from the environment.
            .proxy(None)
            // HTTP errors are turned into `RpcError::HttpStatus` with the body quoted.
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .new_agent();
        Self {
            base: format!("http://{addr}"),
            url: format!("http://{addr}/json_rpc"),
            agent,
            timeout,
            check_status: true,
        }
    }

    /// The same client for a server whose JSON-RPC answers carry no `status` field
    /// (monero-wallet-rpc): `result` is decoded as it is, errors still come from the `error`
    /// object.
    pub(crate) fn without_status_check(mut self) -> Self {
        self.check_status = false;
        self
    }

    /// The JSON-RPC endpoint, `http://127.0.0.1:R/json_rpc`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound on one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls any JSON-RPC `method` with `params` and decodes `result` into `R`, after checking
    /// for an `error` object and that `result.status` is `"OK"`.
    pub fn call<P, R>(&self, method: &str, params: &P) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with_timeout(method, params, self.timeout)
    }

    fn call_with_timeout<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let request = JsonRpcRequest {
            jsonrpc: "2.0",
            id: "0",
            method,
            params,
        };
        let body = self.post(&self.url, method, &request, timeout)?;
        decode_response(method, &body, self.check_status)
    }

    /// Calls one of monerod's plain JSON endpoints beside `/json_rpc` (`path` such as
    /// `"get_transactions"` or `"get_outs"`): `params` is the whole request body, and the
    /// answer is the whole response body, which must carry `status: "OK"`.
    pub fn call_endpoint<P, R>(&self, path: &str, params: &P) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let body = self.post(&url, path, params, self.timeout)?;
        decode_plain(path, &body)
    }

    /// POSTs `body` as JSON to `url` and returns the response body of an HTTP 200 answer.
    fn post<B: Serialize + ?Sized>(
        &self,
        url: &str,
        method: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<String, RpcError> {
        tracing::debug!(url, method, "RPC call");
        let http = |source: ureq::Error| RpcError::Http {
            method: method.to_owned(),
            url: url.to_owned(),
            source: Box::new(source),
        };
        let mut response = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send_json(body)
            .map_err(http)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(http)?;
        if status != 200 {
            return Err(RpcError::HttpStatus {
                method: method.to_owned(),
                url: url.to_owned(),
                status,
                body: excerpt(&text),
            });
        }
        Ok(text)
    }

    /// `get_info`: height, top block, difficulty, sync state, connections.
    pub fn get_info(&self) -> Result<GetInfo, RpcError> {
        self.call("get_info", &Empty {})
    }

    /// `generateblocks`: mines `amount_of_blocks` blocks on top of the current chain, paying
    /// `wallet_address` (for example [`MINING_ADDRESS`](crate::MINING_ADDRESS)).
    ///
    /// Answers [`RpcError::Busy`] while monerod does not consider itself synchronised.
    pub fn generateblocks(
        &self,
        amount_of_blocks: u64,
        wallet_address: &str,
    ) -> Result<GenerateBlocks, RpcError> {
        self.generateblocks_with(&GenerateBlocksRequest::new(
            amount_of_blocks,
            wallet_address,
        ))
    }

    /// `generateblocks` with every parameter (`prev_block` forks from an older block).
    ///
    /// The request may take longer than the client's timeout: it gets an extra half second
    /// per requested block, at most an hour in all.
    pub fn generateblocks_with(
        &self,
        request: &GenerateBlocksRequest,
    ) -> Result<GenerateBlocks, RpcError> {
        let blocks = u32::try_from(request.amount_of_blocks).unwrap_or(u32::MAX);
        let timeout = self
            .timeout
            .saturating_add(GENERATE_TIME_PER_BLOCK.saturating_mul(blocks))
            .min(MAX_GENERATE_TIMEOUT)
            .max(self.timeout);
        self.call_with_timeout("generateblocks", request, timeout)
    }

    /// `get_connections`: monerod's open P2P connections, on every zone.
    pub fn get_connections(&self) -> Result<Vec<Connection>, RpcError> {
        self.call::<_, Connections>("get_connections", &Empty {})
            .map(|r| r.connections.unwrap_or_default())
    }

    /// `get_block` by height.
    pub fn get_block_by_height(&self, height: u64) -> Result<Block, RpcError> {
        self.call("get_block", &HeightParam { height })
    }

    /// `get_block` by block hash.
    pub fn get_block_by_hash(&self, hash: &Hash) -> Result<Block, RpcError> {
        self.call("get_block", &HashParam { hash: *hash })
    }

    /// `get_block_header_by_height`.
    pub fn get_block_header_by_height(&self, height: u64) -> Result<BlockHeader, RpcError> {
        self.call::<_, HeaderResult>("get_block_header_by_height", &HeightParam { height })
            .map(|r| r.block_header)
    }

    /// `get_block_header_by_hash`.
    pub fn get_block_header_by_hash(&self, hash: &Hash) -> Result<BlockHeader, RpcError> {
        self.call::<_, HeaderResult>("get_block_header_by_hash", &HashParam { hash: *hash })
            .map(|r| r.block_header)
    }

    /// `get_last_block_header`: the header of the top block.
    ///
    /// monerod answers [`RpcError::Busy`] here while it does not consider itself
    /// synchronised; [`RpcClient::get_info`] and
    /// [`RpcClient::get_block_header_by_height`] work in that state.
    pub fn get_last_block_header(&self) -> Result<BlockHeader, RpcError> {
        self.call::<_, HeaderResult>("get_last_block_header", &Empty {})
            .map(|r| r.block_header)
    }

    /// `get_block_headers_range`: headers of the blocks `start_height..=end_height`.
    pub fn get_block_headers_range(
        &self,
        start_height: u64,
        end_height: u64,
    ) -> Result<Vec<BlockHeader>, RpcError> {
        self.call::<_, HeadersResult>(
            "get_block_headers_range",
            &RangeParam {
                start_height,
                end_height,
            },
        )
        .map(|r| r.headers)
    }

    /// `get_block_headers_range` with `fill_pow_hash`: the headers of `start_height..=end_height`
    /// with [`BlockHeader::pow_hash`] filled in (monerod computes one RandomX hash per block,
    /// so ask for a few hundred blocks at a time).
    pub fn get_block_headers_range_with_pow(
        &self,
        start_height: u64,
        end_height: u64,
    ) -> Result<Vec<BlockHeader>, RpcError> {
        self.call::<_, HeadersResult>(
            "get_block_headers_range",
            &RangePowParam {
                start_height,
                end_height,
                fill_pow_hash: true,
            },
        )
        .map(|r| r.headers)
    }

    /// `/get_transactions` (a plain endpoint, not JSON-RPC): the full (unpruned) transactions
    /// with these hashes, each with monerod's JSON rendering and its outputs' global indices.
    /// Works for coinbase transactions too. Hashes monerod does not know come back in
    /// [`Transactions::missed_tx`].
    pub fn get_transactions(&self, hashes: &[Hash]) -> Result<Transactions, RpcError> {
        self.call_endpoint(
            "get_transactions",
            &GetTransactionsParam {
                txs_hashes: hashes.iter().map(hex::encode).collect(),
                decode_as_json: true,
                prune: false,
            },
        )
    }

    /// `/get_outs` (a plain endpoint): the RingCT outputs (amount 0) with these global indices,
    /// with the hash of the transaction that created each.
    pub fn get_outs(&self, indices: &[u64]) -> Result<Vec<OutputEntry>, RpcError> {
        self.call_endpoint::<_, GetOutsResult>(
            "get_outs",
            &GetOutsParam {
                outputs: indices
                    .iter()
                    .map(|&index| GetOutsIndex { amount: 0, index })
                    .collect(),
                get_txid: true,
            },
        )
        .map(|r| r.outs)
    }

    /// `get_output_distribution` for RingCT outputs (amount 0), cumulative, from
    /// `from_height` to the top: entry `i` is the number of RingCT outputs in blocks up to and
    /// including height `start_height + i`.
    pub fn get_rct_output_distribution(
        &self,
        from_height: u64,
    ) -> Result<OutputDistribution, RpcError> {
        let result: DistributionsResult = self.call(
            "get_output_distribution",
            &DistributionParam {
                amounts: [0],
                from_height,
                cumulative: true,
                binary: false,
            },
        )?;
        result
            .distributions
            .into_iter()
            .next()
            .ok_or_else(|| RpcError::Status {
                method: "get_output_distribution".to_owned(),
                status: "no distribution for amount 0".to_owned(),
            })
    }

    /// `/get_transaction_pool` (a plain endpoint): the transactions in the pool, with whether
    /// each has been relayed.
    pub fn get_transaction_pool(&self) -> Result<Vec<PoolTransaction>, RpcError> {
        self.call_endpoint::<_, PoolResult>("get_transaction_pool", &Empty {})
            .map(|r| r.transactions)
    }

    /// `get_coinbase_tx_sum`: coins emitted and fees paid in the blocks
    /// `height..height + count`.
    pub fn get_coinbase_tx_sum(&self, height: u64, count: u64) -> Result<CoinbaseTxSum, RpcError> {
        self.call("get_coinbase_tx_sum", &CountParam { height, count })
    }

    /// `get_block_template` for a block paying `wallet_address`: its height and RandomX seed.
    pub fn get_block_template(&self, wallet_address: &str) -> Result<BlockTemplate, RpcError> {
        self.call(
            "get_block_template",
            &TemplateParam {
                wallet_address,
                reserve_size: 0,
            },
        )
    }

    /// Runs `f` with a clone of this client on tokio's blocking pool and awaits it, so async
    /// tests can call the blocking methods without stalling the runtime:
    /// `rpc.run_blocking(|rpc| rpc.get_info()).await`.
    ///
    /// Must be called from within a tokio runtime. A panic inside `f` is returned as
    /// [`RpcError::Task`].
    pub async fn run_blocking<T, F>(&self, f: F) -> Result<T, RpcError>
    where
        F: FnOnce(&RpcClient) -> Result<T, RpcError> + Send + 'static,
        T: Send + 'static,
    {
        let client = self.clone();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .map_err(|e| RpcError::Task(e.to_string()))?
    }
}

/// Decodes a JSON-RPC response body: `error` object, then `result.status` (when
/// `check_status`), then `result`.
fn decode_response<R: DeserializeOwned>(
    method: &str,
    body: &str,
    check_status: bool,
) -> Result<R, RpcError> {
    let decode = |source| RpcError::Decode {
        method: method.to_owned(),
        source,
        body: excerpt(body),
    };
    let envelope: JsonRpcResponse = serde_json::from_str(body).map_err(decode)?;
    if let Some(error) = envelope.error {
        return Err(RpcError::Rpc {
            method: method.to_owned(),
            code: error.code,
            message: error.message,
        });
    }
    let result = envelope.result.unwrap_or(serde_json::Value::Null);
    if !check_status {
        return serde_json::from_value(result).map_err(decode);
    }
    check_result_status(method, body, result)
}

/// Decodes the body of a plain endpoint (`/get_transactions`, ...): the object itself carries
/// the `status`.
fn decode_plain<R: DeserializeOwned>(method: &str, body: &str) -> Result<R, RpcError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|source| RpcError::Decode {
            method: method.to_owned(),
            source,
            body: excerpt(body),
        })?;
    check_result_status(method, body, value)
}

/// Checks `result.status` and decodes `result`.
fn check_result_status<R: DeserializeOwned>(
    method: &str,
    body: &str,
    result: serde_json::Value,
) -> Result<R, RpcError> {
    let decode = |source| RpcError::Decode {
        method: method.to_owned(),
        source,
        body: excerpt(body),
    };
    let status = result
        .get("status")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match status {
        "OK" => serde_json::from_value(result).map_err(decode),
        "BUSY" => Err(RpcError::Busy {
            method: method.to_owned(),
        }),
        other => Err(RpcError::Status {
            method: method.to_owned(),
            status: other.to_owned(),
        }),
    }
}

fn excerpt(body: &str) -> String {
    let mut out: String = body.chars().take(BODY_EXCERPT_CHARS).collect();
    if out.len() < body.len() {
        out.push_str("...");
    }
    out
}

#[derive(Serialize)]
struct JsonRpcRequest<'a, P: ?Sized> {
    jsonrpc: &'static str,
    id: &'static str,
    method: &'a str,
    params: &'a P,
}

#[derive(Deserialize)]
struct JsonRpcResponse {
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<JsonRpcErrorObject>,
}

#[derive(Deserialize)]
struct JsonRpcErrorObject {
    code: i64,
    message: String,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct HeightParam {
    height: u64,
}

#[derive(Serialize)]
struct HashParam {
    #[serde(serialize_with = "ser_hash")]
    hash: Hash,
}

#[derive(Serialize)]
struct RangeParam {
    start_height: u64,
    end_height: u64,
}

#[derive(Serialize)]
struct RangePowParam {
    start_height: u64,
    end_height: u64,
    fill_pow_hash: bool,
}

#[derive(Serialize)]
struct GetTransactionsParam {
    txs_hashes: Vec<String>,
    decode_as_json: bool,
    prune: bool,
}

#[derive(Serialize)]
struct GetOutsIndex {
    amount: u64,
    index: u64,
}

#[derive(Serialize)]
struct GetOutsParam {
    outputs: Vec<GetOutsIndex>,
    get_txid: bool,
}

#[derive(Deserialize)]
struct GetOutsResult {
    #[serde(default)]
    outs: Vec<OutputEntry>,
}

#[derive(Serialize)]
struct DistributionParam {
    amounts: [u64; 1],
    from_height: u64,
    cumulative: bool,
    binary: bool,
}

#[derive(Deserialize)]
struct DistributionsResult {
    #[serde(default)]
    distributions: Vec<OutputDistribution>,
}

#[derive(Deserialize)]
struct PoolResult {
    #[serde(default)]
    transactions: Vec<PoolTransaction>,
}

#[derive(Serialize)]
struct CountParam {
    height: u64,
    count: u64,
}

#[derive(Serialize)]
struct TemplateParam<'a> {
    wallet_address: &'a str,
    reserve_size: u64,
}

#[derive(Deserialize)]
struct HeaderResult {
    block_header: BlockHeader,
}

#[derive(Deserialize)]
struct HeadersResult {
    #[serde(default)]
    headers: Vec<BlockHeader>,
}

/// Joins monerod's split 128-bit difficulty (`x` low 64 bits, `x_top64` high 64 bits).
fn wide(low: u64, top64: u64) -> u128 {
    (u128::from(top64) << 64) | u128::from(low)
}

/// The answer to `get_connections`.
#[derive(Debug, Clone, Deserialize)]
struct Connections {
    /// Missing when there are none.
    connections: Option<Vec<Connection>>,
}

/// One of monerod's connections (the fields tests use; monerod sends more).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// The peer's address (`ip:port`, `<onion>:port`; `<unknown tor host>` for inbound
    /// Tor connections).
    pub address: String,
    /// Whether the peer connected to monerod.
    pub incoming: bool,
    /// The peer's node id, in hex.
    #[serde(default)]
    pub peer_id: String,
    /// The connection's state (`normal`, `synchronizing`, ...).
    #[serde(default)]
    pub state: String,
}

/// The answer to `get_info` (the fields tests use; monerod sends more).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct GetInfo {
    /// Always `"OK"` here (other statuses are errors).
    pub status: String,
    /// Number of blocks in the chain (1 on a fresh regtest node: just genesis).
    pub height: u64,
    /// Height the node believes the network is at; 0 until a peer reports a higher chain.
    pub target_height: u64,
    /// Hash of the top block.
    #[serde(deserialize_with = "de_hash")]
    pub top_block_hash: Hash,
    /// Low 64 bits of the next block's difficulty.
    pub difficulty: u64,
    /// High 64 bits of the next block's difficulty.
    pub difficulty_top64: u64,
    /// Low 64 bits of the chain's cumulative difficulty.
    pub cumulative_difficulty: u64,
    /// High 64 bits of the chain's cumulative difficulty.
    pub cumulative_difficulty_top64: u64,
    /// Whether the node considers itself synchronised (if not, `generateblocks` is BUSY).
    pub synchronized: bool,
    /// Whether the node is downloading blocks from a peer.
    pub busy_syncing: bool,
    /// Whether the node runs with `--offline`.
    pub offline: bool,
    /// `"fakechain"` on regtest, else `"mainnet"`, `"testnet"` or `"stagenet"`.
    pub nettype: String,
    /// Number of inbound P2P connections.
    pub incoming_connections_count: u64,
    /// Number of outbound P2P connections.
    pub outgoing_connections_count: u64,
    /// Size of the white peer list.
    pub white_peerlist_size: u64,
    /// Size of the gray peer list.
    pub grey_peerlist_size: u64,
    /// Number of transactions in the chain, coinbase transactions excluded (monerod
    /// subtracts the height).
    pub tx_count: u64,
    /// Number of transactions in the pool.
    pub tx_pool_size: u64,
    /// Number of alternative blocks known.
    pub alt_blocks_count: u64,
    /// monerod's version, for example `"0.18.0.0-unknown"`.
    pub version: String,
}

impl GetInfo {
    /// The cumulative difficulty as one 128-bit number.
    pub fn cumulative_difficulty_u128(&self) -> u128 {
        wide(self.cumulative_difficulty, self.cumulative_difficulty_top64)
    }

    /// The next block's difficulty as one 128-bit number.
    pub fn difficulty_u128(&self) -> u128 {
        wide(self.difficulty, self.difficulty_top64)
    }
}

/// Parameters of `generateblocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerateBlocksRequest {
    /// How many blocks to mine.
    pub amount_of_blocks: u64,
    /// Mainnet-format address the coinbase pays (regtest uses mainnet addresses).
    pub wallet_address: String,
    /// Mine the first block on top of this block instead of the top: forks the chain (later
    /// blocks of the same call follow the new block).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_hash"
    )]
    pub prev_block: Option<Hash>,
    /// Nonce to start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_nonce: Option<u32>,
}

impl GenerateBlocksRequest {
    /// Mine `amount_of_blocks` on the top block, paying `wallet_address`.
    pub fn new(amount_of_blocks: u64, wallet_address: &str) -> Self {
        Self {
            amount_of_blocks,
            wallet_address: wallet_address.to_owned(),
            prev_block: None,
            starting_nonce: None,
        }
    }

    /// Fork: mine the first block on top of `hash`.
    pub fn prev_block(mut self, hash: Hash) -> Self {
        self.prev_block = Some(hash);
        self
    }

    /// Start the nonce search at `nonce`.
    pub fn starting_nonce(mut self, nonce: u32) -> Self {
        self.starting_nonce = Some(nonce);
        self
    }
}

/// The answer to `generateblocks`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct GenerateBlocks {
    /// Hashes of the mined blocks, in order.
    #[serde(default, deserialize_with = "de_hashes")]
    pub blocks: Vec<Hash>,
    /// Height of the last mined block (the top block's height, which is `get_info.height - 1`
    /// when mining on the main chain).
    pub height: u64,
}

/// A block header as monerod's RPC reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockHeader {
    /// Height of this block (genesis is 0).
    pub height: u64,
    /// Block hash.
    #[serde(deserialize_with = "de_hash")]
    pub hash: Hash,
    /// Hash of the previous block (zeros for genesis).
    #[serde(deserialize_with = "de_hash")]
    pub prev_hash: Hash,
    /// Major version (hard-fork version).
    pub major_version: u8,
    /// Minor version (vote).
    pub minor_version: u8,
    /// Block timestamp (seconds since the Unix epoch; 0 for genesis).
    pub timestamp: u64,
    /// Nonce.
    pub nonce: u32,
    /// Number of blocks on top of this one.
    pub depth: u64,
    /// Low 64 bits of this block's difficulty.
    pub difficulty: u64,
    /// High 64 bits of this block's difficulty.
    pub difficulty_top64: u64,
    /// Low 64 bits of the cumulative difficulty up to this block.
    pub cumulative_difficulty: u64,
    /// High 64 bits of the cumulative difficulty up to this block.
    pub cumulative_difficulty_top64: u64,
    /// Coinbase reward in atomic units.
    pub reward: u64,
    /// Block size in bytes.
    pub block_size: u64,
    /// Block weight.
    #[serde(default)]
    pub block_weight: u64,
    /// Long-term block weight.
    #[serde(default)]
    pub long_term_weight: u64,
    /// Number of non-coinbase transactions.
    pub num_txes: u64,
    /// Whether the block is on an alternative chain.
    pub orphan_status: bool,
    /// Hash of the coinbase transaction.
    #[serde(deserialize_with = "de_hash")]
    pub miner_tx_hash: Hash,
    /// Proof-of-work hash; monerod fills it only when asked to, so usually `None`.
    #[serde(default, deserialize_with = "de_opt_hash")]
    pub pow_hash: Option<Hash>,
}

impl BlockHeader {
    /// The cumulative difficulty as one 128-bit number.
    pub fn cumulative_difficulty_u128(&self) -> u128 {
        wide(self.cumulative_difficulty, self.cumulative_difficulty_top64)
    }

    /// This block's difficulty as one 128-bit number.
    pub fn difficulty_u128(&self) -> u128 {
        wide(self.difficulty, self.difficulty_top64)
    }
}

/// The answer to `get_block`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Block {
    /// The serialised block (header, coinbase, transaction hashes), decoded from hex.
    #[serde(deserialize_with = "de_hex_bytes")]
    pub blob: Vec<u8>,
    /// The block's header.
    pub block_header: BlockHeader,
    /// monerod's JSON rendering of the block, as a string (see [`Block::json_value`]).
    pub json: String,
    /// Hash of the coinbase transaction.
    #[serde(deserialize_with = "de_hash")]
    pub miner_tx_hash: Hash,
    /// Hashes of the block's other transactions (empty when there are none: monerod then
    /// omits the field).
    #[serde(default, deserialize_with = "de_hashes")]
    pub tx_hashes: Vec<Hash>,
}

impl Block {
    /// Parses [`Block::json`].
    pub fn json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

/// The answer to `/get_transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Transactions {
    /// The transactions found, in the order asked for.
    #[serde(default)]
    pub txs: Vec<TransactionEntry>,
    /// Hashes monerod does not know (empty when it found them all; monerod then omits it).
    #[serde(default, deserialize_with = "de_hashes")]
    pub missed_tx: Vec<Hash>,
}

/// One transaction in a `/get_transactions` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TransactionEntry {
    /// Its hash.
    #[serde(deserialize_with = "de_hash")]
    pub tx_hash: Hash,
    /// The whole transaction. monerod leaves it empty for a coinbase transaction and gives it
    /// in [`TransactionEntry::pruned_as_hex`] instead; see [`TransactionEntry::blob`].
    #[serde(default, deserialize_with = "de_hex_bytes")]
    pub as_hex: Vec<u8>,
    /// The pruned part (prefix and RingCT base), when monerod splits the transaction.
    #[serde(default, deserialize_with = "de_hex_bytes")]
    pub pruned_as_hex: Vec<u8>,
    /// The prunable part (range proofs, ring signatures), when monerod splits the transaction.
    #[serde(default, deserialize_with = "de_hex_bytes")]
    pub prunable_as_hex: Vec<u8>,
    /// monerod's JSON rendering of the transaction (see [`TransactionEntry::json_value`]).
    #[serde(default)]
    pub as_json: String,
    /// Height of the block holding it (meaningless while [`TransactionEntry::in_pool`]).
    #[serde(default)]
    pub block_height: u64,
    /// Timestamp of the block holding it.
    #[serde(default)]
    pub block_timestamp: u64,
    /// Whether it is in the pool rather than in a block.
    #[serde(default)]
    pub in_pool: bool,
    /// Global indices of its outputs (in the index space of each output's amount; 0 for
    /// RingCT outputs).
    #[serde(default)]
    pub output_indices: Vec<u64>,
}

impl TransactionEntry {
    /// The whole serialised transaction: [`TransactionEntry::as_hex`], or the pruned and
    /// prunable parts joined when monerod sent them split.
    pub fn blob(&self) -> Vec<u8> {
        if !self.as_hex.is_empty() {
            return self.as_hex.clone();
        }
        let mut blob = self.pruned_as_hex.clone();
        blob.extend_from_slice(&self.prunable_as_hex);
        blob
    }

    /// Parses [`TransactionEntry::as_json`].
    pub fn json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.as_json)
    }
}

/// One transaction in a `/get_transaction_pool` answer (the fields the kit uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PoolTransaction {
    /// Its hash.
    #[serde(deserialize_with = "de_hash")]
    pub id_hash: Hash,
    /// Whether monerod has relayed it (Dandelion++ stem or fluff). monerod 0.18 leaves a
    /// transaction it got over RPC out of block templates until then, even when the relay
    /// fails for want of peers.
    #[serde(default)]
    pub relayed: bool,
    /// Its weight.
    #[serde(default)]
    pub weight: u64,
    /// Its fee.
    #[serde(default)]
    pub fee: u64,
}

/// One output in a `/get_outs` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OutputEntry {
    /// Height of the block that created it.
    pub height: u64,
    /// Its one-time public key.
    #[serde(deserialize_with = "de_hash")]
    pub key: Hash,
    /// Its amount commitment (for a coinbase output, the commitment to the clear amount with
    /// mask 1).
    #[serde(deserialize_with = "de_hash")]
    pub mask: Hash,
    /// Hash of the transaction that created it.
    #[serde(deserialize_with = "de_hash")]
    pub txid: Hash,
    /// Whether it may be spent on top of the current chain (its unlock time has passed and it
    /// is at least 10 blocks deep).
    pub unlocked: bool,
}

/// The answer to `get_output_distribution` for one amount.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OutputDistribution {
    /// The amount (0 for RingCT outputs).
    pub amount: u64,
    /// Height of the first entry.
    pub start_height: u64,
    /// Outputs before `start_height` (added to every cumulative entry).
    pub base: u64,
    /// One entry per block from `start_height`: the cumulative number of outputs up to and
    /// including that block.
    pub distribution: Vec<u64>,
}

/// The answer to `get_coinbase_tx_sum`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CoinbaseTxSum {
    /// Low 64 bits of the coins the blocks created (coinbase outputs minus the fees they
    /// collected).
    pub emission_amount: u64,
    /// High 64 bits of the emission.
    #[serde(default)]
    pub emission_amount_top64: u64,
    /// Low 64 bits of the fees the blocks' transactions paid.
    pub fee_amount: u64,
    /// High 64 bits of the fees.
    #[serde(default)]
    pub fee_amount_top64: u64,
}

impl CoinbaseTxSum {
    /// The emission as one 128-bit number.
    pub fn emission_u128(&self) -> u128 {
        wide(self.emission_amount, self.emission_amount_top64)
    }

    /// The fees as one 128-bit number.
    pub fn fee_u128(&self) -> u128 {
        wide(self.fee_amount, self.fee_amount_top64)
    }
}

/// The answer to `get_block_template` (the fields the kit uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockTemplate {
    /// Height of the block to be mined.
    pub height: u64,
    /// Height of the block whose hash is the RandomX key for it.
    pub seed_height: u64,
    /// That block's hash.
    #[serde(deserialize_with = "de_hash")]
    pub seed_hash: Hash,
    /// The serialised block template.
    #[serde(deserialize_with = "de_hex_bytes")]
    pub blocktemplate_blob: Vec<u8>,
}

fn parse_hash<E: serde::de::Error>(s: &str) -> Result<Hash, E> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|e| E::custom(format_args!("bad 32-byte hex hash {s:?}: {e}")))?;
    Ok(out)
}

fn de_hash<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
    let s = String::deserialize(d)?;
    parse_hash(&s)
}

fn de_opt_hash<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        Ok(None)
    } else {
        parse_hash(&s).map(Some)
    }
}

fn de_hashes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter().map(|s| parse_hash(s)).collect()
}

fn de_hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    hex::decode(&s).map_err(|e| serde::de::Error::custom(format_args!("bad hex blob: {e}")))
}

fn ser_hash<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(hash))
}

fn ser_opt_hash<S: Serializer>(hash: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
    match hash {
        Some(hash) => ser_hash(hash, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS_HEADER: &str = r#"{"id":"0","jsonrpc":"2.0","result":{"block_header":{
        "block_size":80,"block_weight":80,"cumulative_difficulty":1,"cumulative_difficulty_top64":0,
        "depth":0,"difficulty":1,"difficulty_top64":0,
        "hash":"418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3","height":0,
        "long_term_weight":80,"major_version":1,
        "miner_tx_hash":"c88ce9783b4f11190d7b9c17a69c1c52200f9faaee8e98dd07e6811175177139",
        "minor_version":0,"nonce":10000,"num_txes":0,"orphan_status":false,"pow_hash":"",
        "prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",
        "reward":17592186044415,"timestamp":0,"wide_cumulative_difficulty":"0x1","wide_difficulty":"0x1"},
        "credits":0,"status":"OK","top_hash":"","untrusted":false}}"#;

    #[test]
    fn decodes_a_real_genesis_header() {
        let r: HeaderResult =
            decode_response("get_block_header_by_height", GENESIS_HEADER, true).unwrap();
        let h = r.block_header;
        assert_eq!(h.height, 0);
        assert_eq!(hex::encode(h.hash), crate::GENESIS_HASH_HEX);
        assert_eq!(h.prev_hash, [0; 32]);
        assert_eq!(h.nonce, 10000);
        assert_eq!(h.pow_hash, None);
        assert_eq!(h.cumulative_difficulty_u128(), 1);
    }

    #[test]
    fn busy_status_is_a_typed_error() {
        let body =
            r#"{"id":"0","jsonrpc":"2.0","result":{"height":0,"status":"BUSY","untrusted":false}}"#;
        let err = decode_response::<GenerateBlocks>("generateblocks", body, true).unwrap_err();
        assert!(err.is_busy(), "{err}");
        assert!(err.to_string().contains("generateblocks"));
    }

    #[test]
    fn rpc_error_object_names_method_code_and_message() {
        let body =
            r#"{"error":{"code":-32601,"message":"Method not found"},"id":"0","jsonrpc":"2.0"}"#;
        let err = decode_response::<GetInfo>("no_such", body, true).unwrap_err();
        assert!(matches!(err, RpcError::Rpc { code: -32601, .. }));
        assert_eq!(
            err.to_string(),
            "no_such: RPC error -32601: Method not found"
        );
    }

    #[test]
    fn other_status_and_garbage_are_errors() {
        let body = r#"{"result":{"status":"Failed"}}"#;
        let err = decode_response::<GetInfo>("get_info", body, true).unwrap_err();
        assert!(matches!(err, RpcError::Status { ref status, .. } if status == "Failed"));
        let err = decode_response::<GetInfo>("get_info", "<html>", true).unwrap_err();
        assert!(matches!(err, RpcError::Decode { .. }), "{err}");
    }

    #[test]
    fn wide_difficulty_joins_halves() {
        assert_eq!(wide(5, 0), 5);
        assert_eq!(wide(0, 1), 1u128 << 64);
        assert_eq!(wide(u64::MAX, u64::MAX), u128::MAX);
    }

    #[test]
    fn generateblocks_request_serialises_like_monerod_expects() {
        let r = GenerateBlocksRequest::new(2, "addr");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"amount_of_blocks": 2, "wallet_address": "addr"})
        );
        let r = r.prev_block([0xab; 32]).starting_nonce(7);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["prev_block"], serde_json::json!("ab".repeat(32)));
        assert_eq!(v["starting_nonce"], serde_json::json!(7));
    }

    #[test]
    fn unreachable_endpoint_is_an_http_error_naming_the_method() {
        let dead = crate::ports::DeadPort::bind().unwrap();
        let rpc = RpcClient::with_timeout(dead.addr(), Duration::from_secs(2));
        let err = rpc.get_info().unwrap_err();
        assert!(matches!(err, RpcError::Http { .. }), "{err}");
        assert!(
            err.to_string().starts_with("get_info: HTTP request to"),
            "{err}"
        );
    }
}
