//! The `tower::Service` seam: every request is answered, saves work, and a poisoned lock
//! does not take the book down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use common::*;
use tower::{Service, ServiceExt};
use umbra_address_book::{
    AddressBook, AddressBookConfig, AddressBookHandle, AddressBookRequest as Req,
    AddressBookResponse as Resp, AddressBookService, LoadReport, PeerListKind, Verdict,
};
use umbra_p2p_core::ClearNet;

async fn call(service: &mut AddressBookHandle<ClearNet>, request: Req<ClearNet>) -> Resp<ClearNet> {
    service.ready().await.unwrap().call(request).await.unwrap()
}

/// Compiles only if the handle satisfies the bound the p2p crate will ask for.
fn assert_service<S: AddressBookService<ClearNet>>(_: &S) {}

#[tokio::test]
async fn the_service_answers_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = AddressBookConfig {
        data_dir: Some(dir.path().to_owned()),
        ..small_config()
    };
    let mut service = AddressBookHandle::new(AddressBook::<ClearNet>::new(config.clone()));
    assert_service(&service);

    let r = call(&mut service, Req::AddGray((0..5).map(peer).collect())).await;
    assert!(matches!(r, Resp::NewPeers(5)), "{r:?}");
    let r = call(&mut service, Req::HandshakeSucceeded(peer(0))).await;
    assert!(matches!(r, Resp::Accepted(true)), "{r:?}");
    let r = call(&mut service, Req::AnchorConnected(peer(0))).await;
    assert!(matches!(r, Resp::Accepted(true)), "{r:?}");
    let r = call(&mut service, Req::Anchors).await;
    assert!(
        matches!(&r, Resp::Peers(p) if p.len() == 1 && p[0].addr == addr(0)),
        "{r:?}"
    );

    // Exclusion by address and by host (ban key).
    let exclude: HashSet<SocketAddr> = [addr(1), addr(2).with_port_zero(), addr(3)].into();
    for _ in 0..50 {
        let r = call(
            &mut service,
            Req::TakeGray {
                exclude: exclude.clone(),
            },
        )
        .await;
        assert!(
            matches!(&r, Resp::Peer(Some(p)) if p.addr == addr(4)),
            "{r:?}"
        );
    }
    let r = call(
        &mut service,
        Req::TakeWhite {
            exclude: [addr(0)].into(),
        },
    )
    .await;
    assert!(matches!(r, Resp::Peer(None)), "{r:?}");
    let r = call(&mut service, Req::PeersForSharing { max: 10 }).await;
    assert!(
        matches!(&r, Resp::Peers(p) if p.len() == 1 && p[0].last_seen == 0),
        "{r:?}"
    );

    let r = call(&mut service, Req::DialFailed(addr(4))).await;
    assert!(matches!(r, Resp::Done), "{r:?}");
    let r = call(&mut service, Req::AnchorDisconnected(addr(0))).await;
    assert!(matches!(r, Resp::Done), "{r:?}");

    let r = call(
        &mut service,
        Req::Ban {
            addr: addr(1),
            duration: Some(Duration::from_secs(60)),
        },
    )
    .await;
    assert!(matches!(r, Resp::BannedUntil(Some(_))), "{r:?}");
    let r = call(&mut service, Req::IsBanned(addr(1))).await;
    assert!(matches!(r, Resp::IsBanned(true)), "{r:?}");
    let r = call(&mut service, Req::Unban(addr(1))).await;
    assert!(matches!(r, Resp::Unbanned(true)), "{r:?}");
    let r = call(
        &mut service,
        Req::Misbehaved {
            addr: addr(2),
            score: 10,
        },
    )
    .await;
    assert!(
        matches!(r, Resp::Verdict(Verdict::Tolerated { score: 10 })),
        "{r:?}"
    );
    let r = call(
        &mut service,
        Req::Misbehaved {
            addr: addr(2),
            score: 1000,
        },
    )
    .await;
    assert!(matches!(r, Resp::Verdict(Verdict::Banned)), "{r:?}");
    let r = call(
        &mut service,
        Req::Ban {
            addr: addr(3),
            duration: None,
        },
    )
    .await;
    let Resp::BannedUntil(Some(until)) = r else {
        panic!("{r:?}")
    };
    let default_ban = until
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(
        default_ban > Duration::from_secs(23 * 3600),
        "{default_ban:?}"
    );

    let r = call(&mut service, Req::Stats).await;
    let Resp::Stats(stats) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (stats.white, stats.gray, stats.anchors, stats.bans),
        (1, 0, 0, 2)
    );

    let r = call(&mut service, Req::Save).await;
    assert!(matches!(r, Resp::Done), "{r:?}");
    let (loaded, report) =
        AddressBook::<ClearNet>::load_with_report(config, std::time::SystemTime::now());
    assert!(matches!(report, LoadReport::Loaded { .. }), "{report:?}");
    assert_eq!(loaded.list_of(&addr(0)), Some(PeerListKind::White));
}

#[tokio::test]
async fn a_failed_save_is_the_services_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let config = AddressBookConfig {
        data_dir: Some(not_a_dir),
        ..small_config()
    };
    let mut service = AddressBookHandle::new(AddressBook::<ClearNet>::new(config));
    let error = service
        .ready()
        .await
        .unwrap()
        .call(Req::Save)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("file"), "{error}");
    // The service is still usable.
    assert!(matches!(
        call(&mut service, Req::Stats).await,
        Resp::Stats(_)
    ));
}

#[test]
fn clones_share_one_book_across_threads() {
    let handle = AddressBookHandle::new(book(AddressBookConfig {
        max_gray: 10_000,
        ..small_config()
    }));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    handle.add_gray([peer(t * 1000 + i)]);
                    let _ = handle.take_gray(|_| false);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(handle.stats().gray, 1000);
}

#[test]
fn a_poisoned_lock_is_recovered() {
    let handle = AddressBookHandle::new(book(small_config()));
    let clone = handle.clone();
    let crashed = std::thread::spawn(move || {
        clone.with_book(|_| panic!("a caller panicked while holding the book"));
    })
    .join();
    assert!(crashed.is_err());
    // Still answers, through both the methods and the service.
    assert!(handle.handshake_succeeded(peer(1)));
    assert_eq!(handle.stats().white, 1);
    assert!(format!("{handle:?}").contains("white: 1"));
}

trait PortZero {
    fn with_port_zero(self) -> SocketAddr;
}

impl PortZero for SocketAddr {
    fn with_port_zero(mut self) -> SocketAddr {
        self.set_port(0);
        self
    }
}
