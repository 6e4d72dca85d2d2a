//! Sending to clients and to everyone across two gateway processes, closing a client, and the
//! client queries, from a `StandaloneApi` and from a handler.
//!
//! Silence is checked with a fence (see api_groups.rs): a client left out of a send reads the
//! `fence` that followed it on the same link as its very next line.

use gateway::client_id::GatewayKey;
use gateway::worker::ApiError;
use gateway::ClientId;
use std::net::Ipv4Addr;
use tests::api_cluster::{eventually, ApiCluster, Device};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

async fn fence(c: &ApiCluster, devices: &mut [&mut Device]) {
    assert!(c.api.send_to_all("fence", &[], &[]).await.is_empty());
    for d in devices.iter_mut() {
        assert_eq!(d.recv().await, "fence", "{} got more than it should", d.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_all_honours_its_only_and_exclude_lists_across_gateways() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, mut a2) = (c.on_a().await, c.on_a().await);
    let (mut b1, mut b2) = (c.on_b().await, c.on_b().await);

    assert!(c
        .api
        .send_to_all("all but a2", &[], &[a2.id])
        .await
        .is_empty());
    for d in [&mut a1, &mut b1, &mut b2] {
        assert_eq!(d.recv().await, "all but a2");
    }
    fence(&c, &mut [&mut a1, &mut a2, &mut b1, &mut b2]).await;

    let only = [a2.id, b1.id, b2.id];
    assert!(c
        .api
        .send_to_all("only some", &only, &[b2.id])
        .await
        .is_empty());
    assert_eq!(a2.recv().await, "only some");
    assert_eq!(b1.recv().await, "only some");
    fence(&c, &mut [&mut a1, &mut a2, &mut b1, &mut b2]).await;

    assert!(a1.cmd("toall from a1 exclude-self").await.is_empty());
    for d in [&mut a2, &mut b1, &mut b2] {
        assert_eq!(d.recv().await, "from a1");
    }
    assert_eq!(b2.cmd("toall from b2").await, ["from b2"]);
    for d in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(d.recv().await, "from b2");
    }
    fence(&c, &mut [&mut a1, &mut a2, &mut b1, &mut b2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_client_and_close_client_reach_the_owning_gateway_and_client_queries_follow() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, a2) = (c.on_a().await, c.on_a().await);
    let (mut b1, mut b2) = (c.on_b().await, c.on_b().await);

    c.api.send_to_client(b2.id, "just b2").await.unwrap();
    c.api.send_to_client(a1.id, "just a1").await.unwrap();
    assert_eq!(b2.recv().await, "just b2");
    assert_eq!(a1.recv().await, "just a1");
    fence(&c, &mut [&mut a1, &mut b1, &mut b2]).await;

    let mut all = vec![a1.id, a2.id, b1.id, b2.id];
    all.sort();
    let list = c.api.get_all_client_id_list().await;
    assert!(list.complete);
    assert_eq!(list.value, all);
    assert_eq!(c.api.get_all_client_id_count().await.value, 4);
    assert!(c.api.is_online(b1.id).await.unwrap());

    c.api
        .close_client(b1.id, Some("last words".into()))
        .await
        .unwrap();
    assert_eq!(b1.expect_closed().await, ["last words"]);
    eventually("b1 is offline", || async {
        (!c.api.is_online(b1.id).await.unwrap()).then_some(())
    })
    .await;
    assert_eq!(c.api.get_all_client_id_count().await.value, 3);
    c.api.close_client(a2.id, None).await.unwrap();
    eventually("a2 is gone from the client list", || async {
        let l = c.api.get_all_client_id_list().await;
        (!l.value.contains(&a2.id)).then_some(())
    })
    .await;

    // A client id naming no known gateway fails at once instead of vanishing.
    let stranger = ClientId {
        ip: Ipv4Addr::LOCALHOST,
        port: 1,
        conn: 7,
    };
    let key = GatewayKey {
        ip: Ipv4Addr::LOCALHOST,
        port: 1,
    };
    assert_eq!(
        c.api.send_to_client(stranger, "x").await,
        Err(ApiError::NoGateway(key))
    );
    assert_eq!(
        c.api.is_online(stranger).await,
        Err(ApiError::NoGateway(key))
    );
}
