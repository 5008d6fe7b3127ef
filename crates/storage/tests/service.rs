//! The tower services: writes through the single writer, reads from the pool while
//! writes go on, back-pressure at the bounds, and errors for misuse instead of panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::{future::poll_fn, sync::Arc, task::Context};

use futures::task::noop_waker_ref;
use tower::{Service, ServiceExt};
use umbra_storage::{
    ChainRead, ChainWrite, OutputId, ReadRequest, ReadResponse, StorageError, WriteRequest,
    WriteResponse, open_service, synthetic::SyntheticChain,
};

async fn read<S: ChainRead>(s: &mut S, request: ReadRequest) -> ReadResponse {
    s.ready().await.unwrap().call(request).await.unwrap()
}

async fn write<S: ChainWrite>(
    s: &mut S,
    request: WriteRequest,
) -> Result<WriteResponse, StorageError> {
    s.ready().await.unwrap().call(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_reads_go_through_the_services() {
    for engine in umbra_storage::EngineKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (mut reads, mut writes, _storage) =
            open_service(&common::config(&dir, *engine)).unwrap();
        let mut chain = SyntheticChain::new(9);

        let genesis = chain.block(0);
        assert_eq!(
            write(
                &mut writes,
                WriteRequest::WriteBlock(Box::new(genesis.clone()))
            )
            .await
            .unwrap(),
            WriteResponse::Done
        );
        let batch: Vec<_> = (0..5).map(|_| chain.block(2)).collect();
        assert_eq!(
            write(&mut writes, WriteRequest::WriteBlocks(batch.clone()))
                .await
                .unwrap(),
            WriteResponse::Done
        );

        assert_eq!(
            read(&mut reads, ReadRequest::ChainHeight).await,
            ReadResponse::Count(6)
        );
        assert_eq!(
            read(&mut reads, ReadRequest::Top).await,
            ReadResponse::Top(Some((5, batch[4].hash)))
        );
        let ReadResponse::BlockInfos(infos) = read(&mut reads, ReadRequest::BlockInfos(0..6)).await
        else {
            panic!()
        };
        assert_eq!(infos.len(), 6);
        let ReadResponse::Outputs(outs) = read(
            &mut reads,
            ReadRequest::Outputs(vec![OutputId::rct(0), OutputId::rct(10_000)]),
        )
        .await
        else {
            panic!()
        };
        assert!(outs[0].is_some() && outs[1].is_none());
        let ReadResponse::Hashes(history) = read(&mut reads, ReadRequest::ShortChainHistory).await
        else {
            panic!()
        };
        assert_eq!(history.len(), 6);
        let ReadResponse::TxList(txs) = read(
            &mut reads,
            ReadRequest::Txs(vec![batch[0].txs[0].hash, [0; 32]]),
        )
        .await
        else {
            panic!()
        };
        assert!(txs[0].is_some() && txs[1].is_none());

        // A refused write is an error response; the service goes on.
        let err = write(&mut writes, WriteRequest::WriteBlock(Box::new(genesis)))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::WrongHeight { .. }), "{err}");
        let WriteResponse::Popped(popped) = write(&mut writes, WriteRequest::PopBlocks(2))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(popped.len(), 2);
        assert_eq!(
            read(&mut reads, ReadRequest::ChainHeight).await,
            ReadResponse::Count(4)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_while_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (reads, mut writes, _storage) =
        open_service(&common::config(&dir, umbra_storage::EngineKind::Redb)).unwrap();
    let mut chain = SyntheticChain::new(2);
    let blocks: Vec<_> = (0..40)
        .map(|i| chain.block(if i == 0 { 0 } else { 2 }))
        .collect();
    let writer = tokio::spawn(async move {
        for b in blocks {
            write(&mut writes, WriteRequest::WriteBlock(Box::new(b)))
                .await
                .unwrap();
        }
    });
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut reads = reads.clone();
        readers.push(tokio::spawn(async move {
            let mut heights = Vec::new();
            for _ in 0..50 {
                let ReadResponse::Count(h) = read(&mut reads, ReadRequest::ChainHeight).await
                else {
                    panic!()
                };
                // Whatever height a reader sees, that chain is complete in its snapshot.
                if h > 0 {
                    let ReadResponse::BlockInfos(infos) =
                        read(&mut reads, ReadRequest::BlockInfos(0..h)).await
                    else {
                        panic!()
                    };
                    assert!(infos.len() as u64 >= h);
                }
                heights.push(h);
                tokio::task::yield_now().await;
            }
            heights
        }));
    }
    writer.await.unwrap();
    for r in readers {
        let heights = r.await.unwrap();
        assert!(
            heights.windows(2).all(|w| w[0] <= w[1]),
            "a reader never sees the chain shrink: {heights:?}"
        );
    }
    let mut reads = reads;
    assert_eq!(
        read(&mut reads, ReadRequest::ChainHeight).await,
        ReadResponse::Count(40)
    );
}

#[tokio::test]
async fn the_read_queue_bound_holds_and_misuse_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&dir, umbra_storage::EngineKind::Redb);
    config.read_threads = 1;
    config.read_queue = 1;
    config.write_queue = 1;
    let (mut reads, mut writes, _storage) = open_service(&config).unwrap();

    // Calling without poll_ready is refused, not a panic.
    assert!(matches!(
        reads.call(ReadRequest::ChainHeight).await,
        Err(StorageError::NotReady)
    ));
    assert!(matches!(
        writes.call(WriteRequest::ClearAltBlocks).await,
        Err(StorageError::NotReady)
    ));

    // With the one permit held (ready, not yet called), a clone is not ready.
    poll_fn(|cx| reads.poll_ready(cx)).await.unwrap();
    let mut other = reads.clone();
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(other.poll_ready(&mut cx).is_pending());
    let answer = reads.call(ReadRequest::ChainHeight).await.unwrap();
    assert_eq!(answer, ReadResponse::Count(0));
    // The permit is back once the read is done.
    poll_fn(|cx| other.poll_ready(cx)).await.unwrap();

    // The write queue: one reserved slot per ready handle; the writer drains it.
    assert_eq!(
        write(&mut writes, WriteRequest::ClearAltBlocks)
            .await
            .unwrap(),
        WriteResponse::Deleted(0)
    );
    let storage: Arc<_> = Arc::clone(reads.storage());
    assert_eq!(storage.read(|s| s.chain_height()).unwrap(), 0);
}
