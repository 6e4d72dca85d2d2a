//! uid binding across two gateway processes: send_to_uid, close_uid, the uid queries and the
//! batch uid queries, driven by devices through `api_worker` and by a `StandaloneApi`.

use tests::api_cluster::{eventually, ApiCluster};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_on_two_gateways_gets_send_to_uid_on_both_and_stays_online_until_both_close() {
    let c = ApiCluster::start(WORKER).await;
    let mut on_a = c.on_a().await;
    let mut on_b = c.on_b().await;
    let mut other = c.on_b().await;
    on_a.cmd("bind alice").await;
    on_b.cmd("bind alice").await;

    let mut both = vec![on_a.id, on_b.id];
    both.sort();
    let clients = c.api.get_client_id_by_uid("alice").await;
    assert!(clients.complete, "{clients:?}");
    assert_eq!(clients.value, both);
    assert_eq!(
        c.api
            .get_uid_by_client_id(on_a.id)
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    assert_eq!(c.api.get_uid_by_client_id(other.id).await.unwrap(), None);

    // From the StandaloneApi, then from a handler (through a third device).
    assert!(c
        .api
        .send_to_uid(&["alice"], "api to alice")
        .await
        .is_empty());
    assert_eq!(on_a.recv().await, "api to alice");
    assert_eq!(on_b.recv().await, "api to alice");
    assert!(other.cmd("touid alice,nobody from other").await.is_empty());
    assert_eq!(on_a.recv().await, "from other");
    assert_eq!(on_b.recv().await, "from other");

    // The uid travels with each event of its connections.
    assert_eq!(on_b.whoami().await.0.as_deref(), Some("alice"));

    drop(on_a);
    let left = eventually("alice's connection on A is unbound", || async {
        let a = c.api.get_client_id_by_uid("alice").await;
        (a.complete && a.value.len() == 1).then_some(a.value)
    })
    .await;
    assert_eq!(left, vec![on_b.id]);
    let online = c.api.is_uid_online("alice").await;
    assert!(online.complete && online.value, "{online:?}");

    drop(on_b);
    eventually("alice is offline once both connections closed", || async {
        let a = c.api.is_uid_online("alice").await;
        (a.complete && !a.value).then_some(())
    })
    .await;
    assert!(c.api.get_all_uid_list().await.value.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_replaces_a_uid_unbinding_removes_it_and_batch_queries_cover_both_gateways() {
    let c = ApiCluster::start(WORKER).await;
    let mut d1 = c.on_a().await;
    let mut d2 = c.on_b().await;
    let mut d3 = c.on_a().await;
    let d4 = c.on_b().await;
    d1.cmd("bind u1").await;
    d2.cmd("bind u2").await;
    d3.cmd("bind u3").await;
    d3.cmd("bind u4").await;

    assert_eq!(
        c.api.get_uid_by_client_id(d3.id).await.unwrap().as_deref(),
        Some("u4")
    );
    assert!(c.api.get_client_id_by_uid("u3").await.value.is_empty());
    let all = c.api.get_all_uid_list().await;
    assert!(all.complete);
    assert_eq!(all.value, ["u1", "u2", "u4"]);
    assert_eq!(c.api.get_all_uid_count().await.value, 3);

    let batch = c
        .api
        .get_client_ids_by_uids(&["u1", "u2", "u4", "nobody"])
        .await;
    assert!(batch.complete);
    assert_eq!(batch.value.len(), 3, "{batch:?}");
    assert_eq!(batch.value["u1"], vec![d1.id]);
    assert_eq!(batch.value["u2"], vec![d2.id]);
    assert_eq!(batch.value["u4"], vec![d3.id]);
    let online = c.api.online_uids(&["u1", "nobody", "u2", "u3"]).await;
    assert!(online.complete);
    assert_eq!(online.value, ["u1", "u2"]);

    // Unbinding another uid than the bound one changes nothing; the bound one goes.
    d2.cmd("unbind u1").await;
    assert_eq!(d2.whoami().await.0.as_deref(), Some("u2"));
    d2.cmd("unbind u2").await;
    assert_eq!(d2.whoami().await.0, None);
    assert_eq!(c.api.get_all_uid_list().await.value, ["u1", "u4"]);
    assert_eq!(c.api.get_uid_by_client_id(d2.id).await.unwrap(), None);

    // Binding from the StandaloneApi is the same call a handler makes.
    c.api.bind_uid(d4.id, "u5").await.unwrap();
    assert_eq!(
        c.api.get_client_id_by_uid("u5").await.value,
        vec![d4.id],
        "a command and a later query on one link are ordered"
    );
    c.api.unbind_uid(d4.id, "u5").await.unwrap();
    assert!(!c.api.is_uid_online("u5").await.value);
    assert_eq!(d1.whoami().await.0.as_deref(), Some("u1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_uid_closes_every_connection_of_the_uid_on_both_gateways_after_its_last_message() {
    let c = ApiCluster::start(WORKER).await;
    let mut on_a = c.on_a().await;
    let mut on_b = c.on_b().await;
    let mut bystander = c.on_b().await;
    on_a.cmd("bind bob").await;
    on_b.cmd("bind bob").await;
    bystander.cmd("bind carol").await;

    bystander.cmd("closeuid bob").await;
    assert_eq!(on_a.expect_closed().await, ["bye bob"]);
    assert_eq!(on_b.expect_closed().await, ["bye bob"]);
    // A closing connection leaves the client table just before its uid is unbound, so the
    // count alone can say 1 while bob is still bound: wait for both.
    eventually("bob's connections are gone and bob is unbound", || async {
        let n = c.api.get_all_client_id_count().await;
        let bob = c.api.is_uid_online("bob").await;
        (n.complete && n.value == 1 && bob.complete && !bob.value).then_some(())
    })
    .await;
    assert!(!c.api.is_uid_online("bob").await.value);
    assert_eq!(c.api.get_all_uid_list().await.value, ["carol"]);

    // From the StandaloneApi too.
    let errors = c.api.close_uid("carol", None).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(bystander.expect_closed().await.is_empty());
}
