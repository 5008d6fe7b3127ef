//! The database as `tower::Service`s: [`ReadHandle`] (a bounded pool of reader threads)
//! and [`WriteHandle`] (one writer thread behind a bounded queue).
//!
//! ```text
//!  ReadHandle (Clone) ── poll_ready: one of `read_queue` permits ──▶ rayon pool (`read_threads`)
//!                                                                    each request: one snapshot
//!  WriteHandle (Clone) ─ poll_ready: a slot in the `write_queue` ──▶ writer thread
//!                                                                    each request: one write transaction
//! ```
//!
//! Both are `Clone`; clones share the pool, the permits and the queue. `poll_ready` is
//! where back-pressure shows: it returns `Pending` while `read_queue` reads are in
//! flight, or while `write_queue` writes wait for the writer. The blocking engine calls
//! never run on the caller's (async) thread.
//!
//! A write request, once `call`ed, is carried out even if its future is dropped (dropping
//! only loses the answer). Writes are carried out one at a time, in the order their
//! `call`s reached the queue. When every [`WriteHandle`] is dropped the writer thread
//! finishes the queue and exits; the read pool lives as long as a [`ReadHandle`].

use std::{
    future::Future,
    ops::Range,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::{PollSemaphore, PollSender};
use tower::Service;

use crate::{
    AltBlock, AltChain, BlockEntry, BlockInfo, BlockLocation, ChainSupplement, Hash, NewAltBlock,
    OutputId, OutputInfo, PoppedBlock, Storage, StorageConfig, StorageError, TxBlob, TxEntry,
    VerifiedBlock, read::Snapshot,
};

/// A read request; each runs in its own snapshot and mirrors a [`Snapshot`] method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadRequest {
    /// [`Snapshot::chain_height`] → [`ReadResponse::Count`].
    ChainHeight,
    /// [`Snapshot::top`] → [`ReadResponse::Top`].
    Top,
    /// [`Snapshot::top_info`] → [`ReadResponse::BlockInfo`].
    TopInfo,
    /// [`Snapshot::block_hash`] → [`ReadResponse::Hash`].
    BlockHash(u64),
    /// [`Snapshot::block_height`] → [`ReadResponse::Height`].
    BlockHeight(Hash),
    /// [`Snapshot::find_block`] → [`ReadResponse::Location`].
    FindBlock(Hash),
    /// [`Snapshot::block_info`] → [`ReadResponse::BlockInfo`].
    BlockInfo(u64),
    /// [`Snapshot::block_infos`] → [`ReadResponse::BlockInfos`].
    BlockInfos(Range<u64>),
    /// [`Snapshot::block_hashes`] → [`ReadResponse::Hashes`].
    BlockHashes(Range<u64>),
    /// [`Snapshot::block_blob`] → [`ReadResponse::Blob`].
    BlockBlob(u64),
    /// [`Snapshot::block_blob_by_hash`] → [`ReadResponse::Blob`].
    BlockBlobByHash(Hash),
    /// [`Snapshot::block_txs`] → [`ReadResponse::Txs`].
    BlockTxs(u64),
    /// [`Snapshot::block_entries`] → [`ReadResponse::BlockEntries`].
    BlockEntries(Vec<Hash>),
    /// [`Snapshot::tx`] → [`ReadResponse::Tx`].
    Tx(Hash),
    /// [`Snapshot::tx`] for each → [`ReadResponse::TxList`].
    Txs(Vec<Hash>),
    /// [`Snapshot::outputs`] → [`ReadResponse::Outputs`].
    Outputs(Vec<OutputId>),
    /// [`Snapshot::num_outputs`] → [`ReadResponse::Count`].
    NumOutputs(u64),
    /// [`Snapshot::key_images_spent`] → [`ReadResponse::Spent`].
    KeyImagesSpent(Vec<Hash>),
    /// [`Snapshot::short_chain_history`] → [`ReadResponse::Hashes`].
    ShortChainHistory,
    /// [`Snapshot::chain_supplement`] → [`ReadResponse::Supplement`].
    ChainSupplement {
        /// The peer's short chain history, top first, genesis last.
        history: Vec<Hash>,
        /// The most block ids to return.
        max_ids: u64,
    },
    /// [`Snapshot::alt_block`] → [`ReadResponse::AltBlock`].
    AltBlock(Hash),
    /// [`Snapshot::alt_chain`] → [`ReadResponse::AltChain`].
    AltChain(Hash),
    /// [`Snapshot::alt_chains`] → [`ReadResponse::AltChains`].
    AltChains,
}

/// The answer to a [`ReadRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadResponse {
    /// A count (chain height, number of outputs).
    Count(u64),
    /// Height and hash of the top block.
    Top(Option<(u64, Hash)>),
    /// A height.
    Height(Option<u64>),
    /// A hash.
    Hash(Option<Hash>),
    /// Where a block is.
    Location(BlockLocation),
    /// One block's metadata.
    BlockInfo(Option<BlockInfo>),
    /// Several blocks' metadata.
    BlockInfos(Vec<BlockInfo>),
    /// Hashes (block ids).
    Hashes(Vec<Hash>),
    /// A block blob.
    Blob(Option<Vec<u8>>),
    /// A block's transactions.
    Txs(Option<Vec<TxBlob>>),
    /// Blocks with their transactions.
    BlockEntries(Vec<Option<BlockEntry>>),
    /// A transaction.
    Tx(Option<TxEntry>),
    /// Transactions, in the order asked.
    TxList(Vec<Option<TxEntry>>),
    /// Outputs, in the order asked.
    Outputs(Vec<Option<OutputInfo>>),
    /// For each key image, whether it is spent.
    Spent(Vec<bool>),
    /// The answer to a chain history.
    Supplement(Option<ChainSupplement>),
    /// An alternative block.
    AltBlock(Option<AltBlock>),
    /// An alternative chain.
    AltChain(AltChain),
    /// Alternative chains: id and number of blocks.
    AltChains(Vec<(Hash, u64)>),
}

/// Answers `request` from `s`.
fn answer(s: &Snapshot<'_>, request: ReadRequest) -> Result<ReadResponse, StorageError> {
    use ReadRequest as Q;
    use ReadResponse as A;
    Ok(match request {
        Q::ChainHeight => A::Count(s.chain_height()?),
        Q::Top => A::Top(s.top()?),
        Q::TopInfo => A::BlockInfo(s.top_info()?),
        Q::BlockHash(h) => A::Hash(s.block_hash(h)?),
        Q::BlockHeight(hash) => A::Height(s.block_height(&hash)?),
        Q::FindBlock(hash) => A::Location(s.find_block(&hash)?),
        Q::BlockInfo(h) => A::BlockInfo(s.block_info(h)?),
        Q::BlockInfos(range) => A::BlockInfos(s.block_infos(range)?),
        Q::BlockHashes(range) => A::Hashes(s.block_hashes(range)?),
        Q::BlockBlob(h) => A::Blob(s.block_blob(h)?),
        Q::BlockBlobByHash(hash) => A::Blob(s.block_blob_by_hash(&hash)?),
        Q::BlockTxs(h) => A::Txs(s.block_txs(h)?),
        Q::BlockEntries(hashes) => A::BlockEntries(s.block_entries(&hashes)?),
        Q::Tx(hash) => A::Tx(s.tx(&hash)?),
        Q::Txs(hashes) => A::TxList(hashes.iter().map(|h| s.tx(h)).collect::<Result<_, _>>()?),
        Q::Outputs(ids) => A::Outputs(s.outputs(&ids)?),
        Q::NumOutputs(amount) => A::Count(s.num_outputs(amount)?),
        Q::KeyImagesSpent(kis) => A::Spent(s.key_images_spent(&kis)?),
        Q::ShortChainHistory => A::Hashes(s.short_chain_history()?),
        Q::ChainSupplement { history, max_ids } => {
            A::Supplement(s.chain_supplement(&history, max_ids)?)
        }
        Q::AltBlock(hash) => A::AltBlock(s.alt_block(&hash)?),
        Q::AltChain(tip) => A::AltChain(s.alt_chain(&tip)?),
        Q::AltChains => A::AltChains(s.alt_chains()?),
    })
}

/// A write request; each runs in one write transaction on the writer thread.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WriteRequest {
    /// [`Storage::write_block`] → [`WriteResponse::Done`].
    WriteBlock(Box<VerifiedBlock>),
    /// [`Storage::write_blocks`] → [`WriteResponse::Done`].
    WriteBlocks(Vec<VerifiedBlock>),
    /// [`Storage::pop_blocks`] → [`WriteResponse::Popped`].
    PopBlocks(u64),
    /// [`Storage::write_alt_block`] → [`WriteResponse::AltChainId`].
    WriteAltBlock(Box<NewAltBlock>),
    /// [`Storage::delete_alt_chain`] → [`WriteResponse::Deleted`].
    DeleteAltChain(Hash),
    /// [`Storage::clear_alt_blocks`] → [`WriteResponse::Deleted`].
    ClearAltBlocks,
}

/// The answer to a [`WriteRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteResponse {
    /// Written and durable.
    Done,
    /// The popped blocks, lowest first.
    Popped(Vec<PoppedBlock>),
    /// The stored alternative block's chain id.
    AltChainId(Hash),
    /// How many alternative blocks were deleted.
    Deleted(u64),
}

fn apply(storage: &Storage, request: WriteRequest) -> Result<WriteResponse, StorageError> {
    Ok(match request {
        WriteRequest::WriteBlock(block) => {
            storage.write_block(&block)?;
            WriteResponse::Done
        }
        WriteRequest::WriteBlocks(blocks) => {
            storage.write_blocks(&blocks)?;
            WriteResponse::Done
        }
        WriteRequest::PopBlocks(n) => WriteResponse::Popped(storage.pop_blocks(n)?),
        WriteRequest::WriteAltBlock(block) => {
            WriteResponse::AltChainId(storage.write_alt_block(&block)?)
        }
        WriteRequest::DeleteAltChain(id) => WriteResponse::Deleted(storage.delete_alt_chain(&id)?),
        WriteRequest::ClearAltBlocks => WriteResponse::Deleted(storage.clear_alt_blocks()?),
    })
}

/// Names the read service's bound once: what consensus, the block downloader and RPC take.
pub trait ChainRead:
    Service<ReadRequest, Response = ReadResponse, Error = StorageError, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> ChainRead for S where
    S: Service<ReadRequest, Response = ReadResponse, Error = StorageError, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// Names the write service's bound once.
pub trait ChainWrite:
    Service<WriteRequest, Response = WriteResponse, Error = StorageError, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> ChainWrite for S where
    S: Service<
            WriteRequest,
            Response = WriteResponse,
            Error = StorageError,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// The future of a service call: the worker's answer.
#[derive(Debug)]
pub struct ResponseFuture<T> {
    state: FutureState<T>,
}

#[derive(Debug)]
enum FutureState<T> {
    Waiting(oneshot::Receiver<Result<T, StorageError>>),
    Failed(Option<StorageError>),
}

impl<T> ResponseFuture<T> {
    fn failed(error: StorageError) -> Self {
        ResponseFuture {
            state: FutureState::Failed(Some(error)),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T, StorageError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            // A dropped sender means the worker died before answering.
            FutureState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StorageError::ServiceClosed))),
            FutureState::Failed(error) => {
                Poll::Ready(Err(error.take().unwrap_or(StorageError::ServiceClosed)))
            }
        }
    }
}

struct ReadPool {
    storage: Arc<Storage>,
    pool: rayon::ThreadPool,
}

/// The read service: cloneable, `Service<ReadRequest>`, backed by a pool of reader
/// threads; at most `read_queue` requests in flight across all clones.
pub struct ReadHandle {
    pool: Arc<ReadPool>,
    permits: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for ReadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHandle")
            .field("threads", &self.pool.pool.current_num_threads())
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

impl Clone for ReadHandle {
    fn clone(&self) -> Self {
        ReadHandle {
            pool: Arc::clone(&self.pool),
            permits: self.permits.clone(),
            permit: None,
        }
    }
}

impl ReadHandle {
    /// The database under the service (for synchronous reads on a blocking thread).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.pool.storage
    }
}

impl Service<ReadRequest> for ReadHandle {
    type Response = ReadResponse;
    type Error = StorageError;
    type Future = ResponseFuture<ReadResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageError>> {
        if self.permit.is_none() {
            match self.permits.poll_acquire(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(permit)) => self.permit = Some(permit),
                Poll::Ready(None) => return Poll::Ready(Err(StorageError::ServiceClosed)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: ReadRequest) -> Self::Future {
        let Some(permit) = self.permit.take() else {
            return ResponseFuture::failed(StorageError::NotReady);
        };
        let (tx, rx) = oneshot::channel();
        let storage = Arc::clone(&self.pool.storage);
        self.pool.pool.spawn(move || {
            // The caller may have gone; then nobody wants the answer.
            let _ = tx.send(storage.read(|s| answer(s, request)));
            drop(permit);
        });
        ResponseFuture {
            state: FutureState::Waiting(rx),
        }
    }
}

struct WriteJob {
    request: WriteRequest,
    respond: oneshot::Sender<Result<WriteResponse, StorageError>>,
}

/// The write service: cloneable, `Service<WriteRequest>`; every clone feeds the one
/// writer thread through a queue of `write_queue` requests.
pub struct WriteHandle {
    sender: PollSender<WriteJob>,
    /// Whether `poll_ready` reserved a slot (`PollSender::send_item` panics without one).
    reserved: bool,
}

impl std::fmt::Debug for WriteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHandle")
            .field("closed", &self.sender.is_closed())
            .finish()
    }
}

impl Clone for WriteHandle {
    fn clone(&self) -> Self {
        WriteHandle {
            sender: self.sender.clone(),
            reserved: false,
        }
    }
}

impl Service<WriteRequest> for WriteHandle {
    type Response = WriteResponse;
    type Error = StorageError;
    type Future = ResponseFuture<WriteResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageError>> {
        if self.reserved {
            return Poll::Ready(Ok(()));
        }
        let ready = self
            .sender
            .poll_reserve(cx)
            .map_err(|_| StorageError::ServiceClosed);
        self.reserved = matches!(ready, Poll::Ready(Ok(())));
        ready
    }

    fn call(&mut self, request: WriteRequest) -> Self::Future {
        if !std::mem::take(&mut self.reserved) {
            return ResponseFuture::failed(StorageError::NotReady);
        }
        let (respond, rx) = oneshot::channel();
        match self.sender.send_item(WriteJob { request, respond }) {
            Ok(()) => ResponseFuture {
                state: FutureState::Waiting(rx),
            },
            Err(_) => ResponseFuture::failed(StorageError::ServiceClosed),
        }
    }
}

/// Starts the read pool and the writer thread over `storage`, sized by `config`
/// (`read_threads`, `read_queue`, `write_queue`; zeros count as 1).
pub fn start(
    storage: Arc<Storage>,
    config: &StorageConfig,
) -> Result<(ReadHandle, WriteHandle), StorageError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.read_threads.max(1))
        .thread_name(|i| format!("umbra-storage-read-{i}"))
        .panic_handler(|_| tracing::error!("a storage read panicked; its request fails"))
        .build()
        .map_err(|e| StorageError::engine("start the read pool", e))?;
    let read = ReadHandle {
        pool: Arc::new(ReadPool {
            storage: Arc::clone(&storage),
            pool,
        }),
        permits: PollSemaphore::new(Arc::new(Semaphore::new(config.read_queue.max(1)))),
        permit: None,
    };

    let (tx, mut rx) = mpsc::channel::<WriteJob>(config.write_queue.max(1));
    std::thread::Builder::new()
        .name("umbra-storage-writer".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                let result = apply(&storage, job.request);
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "storage write refused");
                }
                let _ = job.respond.send(result);
            }
        })
        .map_err(|e| StorageError::engine("start the writer thread", e))?;
    Ok((
        read,
        WriteHandle {
            sender: PollSender::new(tx),
            reserved: false,
        },
    ))
}

/// Opens the database ([`Storage::open`]) and [`start`]s its service.
///
/// ```
/// use tower::{Service, ServiceExt};
/// use umbra_storage::{ReadRequest, ReadResponse, StorageConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let (mut read, _write, _storage) = umbra_storage::open_service(&StorageConfig::new(dir.path()))?;
/// let height = read.ready().await?.call(ReadRequest::ChainHeight).await?;
/// assert_eq!(height, ReadResponse::Count(0));
/// # Ok(()) }
/// ```
pub fn open_service(
    config: &StorageConfig,
) -> Result<(ReadHandle, WriteHandle, Arc<Storage>), StorageError> {
    let storage = Arc::new(Storage::open(config)?);
    let (read, write) = start(Arc::clone(&storage), config)?;
    Ok((read, write, storage))
}
