//! Sessions across processes: set by a handler in on_connect, carried to on_message, changed by
//! handlers and by a `StandaloneApi`, and read back with the session queries.

use serde_json::{json, Map, Value};
use tests::api_cluster::{eventually, ApiCluster};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_set_in_on_connect_is_seen_by_on_message_and_by_get_all_client_sessions() {
    let c = ApiCluster::start(WORKER).await;
    let mut on_a = c.on_a().await;
    let mut on_b = c.on_b().await;

    let (uid, seen_a) = on_a.whoami().await;
    assert_eq!(uid, None);
    assert_eq!(seen_a.len(), 1, "{seen_a:?}");
    assert!(seen_a["connected_at"].as_u64().is_some_and(|t| t > 0));
    let (_, seen_b) = on_b.whoami().await;
    assert!(seen_b.contains_key("connected_at"));

    let all = c.api.get_all_client_sessions().await;
    assert!(all.complete, "{all:?}");
    assert_eq!(all.value.len(), 2);
    assert_eq!(all.value[&on_a.id], seen_a);
    assert_eq!(all.value[&on_b.id], seen_b);
    assert_eq!(c.api.get_session(on_b.id).await.unwrap(), Some(seen_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_session_merges_set_session_replaces_and_both_reach_the_next_event() {
    let c = ApiCluster::start(WORKER).await;
    let mut d = c.on_b().await;
    let connected_at = d.whoami().await.1["connected_at"].clone();

    d.cmd("session color=\"red\"").await;
    d.cmd("session level=3").await;
    assert_eq!(
        d.whoami().await.1,
        object(json!({"connected_at": connected_at, "color": "red", "level": 3}))
    );
    d.cmd("setsession {\"only\":1}").await;
    assert_eq!(d.whoami().await.1, object(json!({"only": 1})));
    assert_eq!(d.cmd("getsession").await, ["session {\"only\":1}"]);
    // A session is a JSON object: anything else is refused and the session kept.
    d.conn.send("setsession [1,2]").await;
    assert_eq!(d.recv().await, "err setsession [1,2]: not a JSON object");

    // The StandaloneApi: merge, then replace; the next event carries the result.
    let keys = object(json!({"x": 2}));
    c.api.update_session(d.id, &keys).await.unwrap();
    assert_eq!(
        c.api.get_session(d.id).await.unwrap(),
        Some(object(json!({"only": 1, "x": 2})))
    );
    c.api
        .set_session(d.id, &object(json!({"y": 3})))
        .await
        .unwrap();
    assert_eq!(
        c.api.get_session(d.id).await.unwrap(),
        Some(object(json!({"y": 3})))
    );
    assert_eq!(d.whoami().await.1, object(json!({"y": 3})));

    // A closed client has no session; the close event still carried its last one.
    let mut watcher = c.on_a().await;
    watcher.cmd("join watchers").await;
    let id = d.id;
    drop(d);
    assert_eq!(
        watcher.recv().await,
        format!("closed {id} uid=- session={{\"y\":3}}")
    );
    eventually("the closed client is offline", || async {
        (!c.api.is_online(id).await.unwrap()).then_some(())
    })
    .await;
    assert_eq!(c.api.get_session(id).await.unwrap(), None);
}
