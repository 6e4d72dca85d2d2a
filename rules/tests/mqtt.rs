//! The MQTT bridge over a real broker: in-process rumqttd by default, or DEVGATE_TEST_MQTT.

mod common;

use common::{broker, eventually, publish, unique, Proxy, RecordingSink, Subscriber};
use rules::{
    parse_rules, Bridge, BridgeHandle, Event, MqttConfig, OfflinePolicy, Pipeline, SledStore,
    StateStore,
};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

fn config(addr: SocketAddr) -> MqttConfig {
    let mut c = MqttConfig::new(addr.to_string());
    c.client_id = unique("bridge");
    c.backoff_initial_ms = 50;
    c.backoff_max_ms = 500;
    c.connect_timeout_secs = 2;
    c
}

/// Rules that publish every message of a uid to `<prefix>/<uid>` with its sequence number.
fn numbered_rules(prefix: &str) -> rules::RuleSet {
    let src = format!(
        "[[rule]]\nactions = [{{ publish = {{ topic = \"{prefix}/${{uid}}\", qos = 1, payload = {{ n = \"${{fields.n}}\" }} }} }}]"
    );
    parse_rules(&src, Path::new("numbered.toml")).unwrap()
}

fn numbered(uid: &str, n: usize) -> Event {
    let mut ev = Event::message("c1", "tcp", "text", format!("{{\"n\":{n}}}"));
    ev.uid = Some(uid.into());
    ev
}

fn start(cfg: MqttConfig, store: Arc<dyn StateStore>, sink: Arc<RecordingSink>) -> BridgeHandle {
    Bridge::start(cfg, store, sink).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_location_reaches_an_mqtt_subscriber_through_the_example_rules() {
    let uid = unique("dev");
    let sub = Subscriber::start(&format!("devices/{uid}/location")).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let bridge = start(config(broker()), store.clone(), Arc::default());
    let rules = rules::check_rules_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rules.toml"
    ))
    .unwrap();
    let pipeline = Pipeline::new(rules, store, Some(bridge.outbox()));
    let mut ev = Event::message("c1", "gt06", "gt06", vec![0x78u8, 0x78]);
    ev.uid = Some(uid.clone());
    ev.fields = Some(
        json!({"kind": "location", "time": "2024-01-01T00:00:00Z", "latitude": 22.5, "longitude": 114.0, "speed": 60.0, "course": 10, "fix": true}),
    );
    let left = pipeline.handle(&ev, 1_700_000_000_000).unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        pipeline.state(&uid).unwrap().get("speed"),
        Some(&json!(60.0))
    );

    assert_eq!(sub.wait_ids(1, 20).await.len(), 1);
    let (topic, msg) = sub.got.lock().unwrap()[0].clone();
    assert_eq!(topic, format!("devices/{uid}/location"));
    assert_eq!(msg["uid"], json!(uid));
    assert_eq!(
        (
            msg["lat"].as_f64(),
            msg["lon"].as_f64(),
            msg["speed"].as_f64()
        ),
        (Some(22.5), Some(114.0), Some(60.0))
    );
    assert_eq!(msg["time"], "2024-01-01T00:00:00Z");
    assert!(msg["msg_id"].is_u64());
    // The entry leaves the outbox just before the acked counter moves: wait for both.
    assert!(
        eventually(10, || {
            let s = bridge.stats();
            s.outbox_len == 0 && s.acked == 1
        })
        .await,
        "{:?}",
        bridge.stats()
    );
    let s = bridge.stats();
    assert_eq!(
        (s.published, s.acked, s.outbox_accepted),
        (1, 1, 1),
        "{s:?}"
    );
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_command_reaches_the_online_uid_and_is_dropped_and_counted_when_offline() {
    let prefix = unique("cmd");
    let mut cfg = config(broker());
    cfg.downlink.topics = vec![format!("{prefix}/{{uid}}/down")];
    let sink = Arc::new(RecordingSink::default());
    sink.set_online("u1");
    let store = Arc::new(rules::MemoryStore::new());
    let bridge = start(cfg, store, sink.clone());
    assert!(eventually(20, || bridge.stats().subscribe_acked == 1).await);

    publish(&format!("{prefix}/u1/down"), b"#RESET#").await;
    publish(&format!("{prefix}/u2/down"), b"#STATUS#").await;
    publish(&format!("{prefix}/u1/other"), b"x").await;
    // `downlink_received` moves when a command arrives, before the sink is asked; the
    // delivered or dropped counter moves after: wait until both commands were handled.
    assert!(
        eventually(10, || {
            let s = bridge.stats();
            s.downlink_received == 2 && s.downlink_delivered + s.downlink_dropped_offline == 2
        })
        .await,
        "{:?}",
        bridge.stats()
    );
    assert_eq!(
        sink.received(),
        vec![("u1".to_string(), "#RESET#".to_string())]
    );
    let s = bridge.stats();
    assert_eq!(
        (s.downlink_delivered, s.downlink_dropped_offline),
        (1, 1),
        "{s:?}"
    );
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_commands_wait_for_the_uid_in_order_bounded_and_survive_a_bridge_restart() {
    let prefix = unique("hold");
    let mut cfg = config(broker());
    cfg.downlink.topics = vec![format!("{prefix}/{{uid}}/down")];
    cfg.downlink.offline = OfflinePolicy::Hold;
    cfg.downlink.hold_per_uid = 2;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let sink = Arc::new(RecordingSink::default());
    let bridge = start(cfg.clone(), store.clone(), sink.clone());
    assert!(eventually(20, || bridge.stats().subscribe_acked == 1).await);
    for cmd in ["one", "two", "three"] {
        publish(&format!("{prefix}/u3/down"), cmd.as_bytes()).await;
    }
    assert!(
        eventually(10, || bridge.stats().downlink_held == 3).await,
        "{:?}",
        bridge.stats()
    );
    let s = bridge.stats();
    assert_eq!(
        (s.downlink_held_now, s.downlink_hold_dropped),
        (2, 1),
        "{s:?}"
    );
    bridge.shutdown().await;

    // A new bridge on the same store still holds them and delivers on online, oldest first.
    let bridge = start(cfg, store, sink.clone());
    assert_eq!(bridge.stats().downlink_held_now, 2);
    sink.set_online("u3");
    bridge.on_uid_online("u3").await;
    assert_eq!(
        sink.received(),
        vec![
            ("u3".to_string(), "two".to_string()),
            ("u3".to_string(), "three".to_string())
        ]
    );
    assert_eq!(bridge.stats().downlink_held_now, 0);
    bridge.on_uid_online("u3").await;
    assert_eq!(sink.received().len(), 2);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_1000_messages_arrive_after_the_broker_is_unreachable_for_seconds() {
    let prefix = unique("loss");
    let sub = Subscriber::start(&format!("{prefix}/#")).await;
    let proxy = Proxy::start(broker(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let bridge = start(config(proxy.addr), store.clone(), Arc::default());
    let pipeline = Arc::new(Pipeline::new(
        numbered_rules(&prefix),
        store,
        Some(bridge.outbox()),
    ));
    assert!(eventually(10, || bridge.stats().connected).await);

    let p = pipeline.clone();
    tokio::task::spawn_blocking(move || {
        for n in 0..400 {
            p.handle(&numbered("d1", n), 0).unwrap();
        }
    })
    .await
    .unwrap();
    let errors_before = bridge.stats().connection_errors;
    proxy.cut();
    let p = pipeline.clone();
    tokio::task::spawn_blocking(move || {
        for n in 400..1000 {
            p.handle(&numbered("d1", n), 0).unwrap();
        }
    })
    .await
    .unwrap();
    // Unreachable for as long as it takes the bridge to lose the link and fail to reconnect
    // twice (its backoff, not a fixed sleep, sets how long that is).
    assert!(
        eventually(30, || {
            let s = bridge.stats();
            !s.connected && s.connection_errors >= errors_before + 2
        })
        .await,
        "the bridge never saw the broker go away: {:?}",
        bridge.stats()
    );
    assert!(
        bridge.stats().outbox_len > 0,
        "the cut left messages waiting"
    );
    proxy.restore();

    let ids = sub.wait_ids(1000, 60).await;
    let dups = sub.duplicates_agree();
    let s = bridge.stats();
    eprintln!(
        "loss test: {} distinct of 1000, {dups} duplicates (same id, same payload), stats {s:?}",
        ids.len()
    );
    assert_eq!(ids.len(), 1000, "missing {}", 1000 - ids.len());
    let ns: std::collections::HashSet<u64> = sub
        .got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, v)| v["n"].as_u64())
        .collect();
    assert_eq!(ns, (0..1000).collect());
    assert!(eventually(10, || bridge.stats().outbox_len == 0).await);
    assert!(bridge.stats().connects >= 2);
    assert_eq!(pipeline.stats().published, 1000);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_started_while_the_broker_is_away_delivers_once_it_is_back() {
    let prefix = unique("late");
    let sub = Subscriber::start(&format!("{prefix}/#")).await;
    let proxy = Proxy::start(broker(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let cfg = config(proxy.addr);
    let bridge = start(cfg.clone(), store.clone(), Arc::default());
    let pipeline = Pipeline::new(
        numbered_rules(&prefix),
        store.clone(),
        Some(bridge.outbox()),
    );
    for n in 0..200 {
        pipeline.handle(&numbered("d2", n), 0).unwrap();
    }
    // Wait for a failed attempt rather than a fixed time a loaded machine may not keep.
    assert!(
        eventually(20, || bridge.stats().connection_errors >= 1).await,
        "{:?}",
        bridge.stats()
    );
    let s = bridge.stats();
    assert!(s.connection_errors >= 1 && s.connects == 0, "{s:?}");
    assert_eq!(s.outbox_len, 200);
    // Restart the bridge with the outbox still full, then bring the broker back.
    bridge.shutdown().await;
    let bridge = start(cfg, store, Arc::default());
    assert_eq!(bridge.stats().outbox_len, 200);
    proxy.restore();
    let ids = sub.wait_ids(200, 30).await;
    assert_eq!(ids.len(), 200);
    sub.duplicates_agree();
    assert!(eventually(10, || bridge.stats().outbox_len == 0).await);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_refuses_new_publishes_and_keeps_the_old_ones() {
    let prefix = unique("full");
    let proxy = Proxy::start(broker(), false).await;
    let mut cfg = config(proxy.addr);
    cfg.outbox.max_entries = 5;
    let store: Arc<dyn StateStore> = Arc::new(rules::MemoryStore::new());
    let bridge = start(cfg, store.clone(), Arc::default());
    let pipeline = Pipeline::new(numbered_rules(&prefix), store, Some(bridge.outbox()));
    for n in 0..5 {
        assert!(pipeline.handle(&numbered("d3", n), 0).unwrap().is_empty());
    }
    let refused = pipeline.handle(&numbered("d3", 5), 0).unwrap();
    assert!(
        matches!(&refused[..], [rules::Action::Skipped { reason, .. }] if reason.contains("outbox full")),
        "{refused:?}"
    );
    let sub = Subscriber::start(&format!("{prefix}/#")).await;
    proxy.restore();
    let ids = sub.wait_ids(5, 20).await;
    assert_eq!(ids.len(), 5);
    let ns: std::collections::HashSet<u64> = sub
        .got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, v)| v["n"].as_u64())
        .collect();
    assert_eq!(ns, (0..5).collect());
    let s = bridge.stats();
    assert_eq!(
        (s.outbox_refused_full, pipeline.stats().publish_refused),
        (1, 1)
    );
    bridge.shutdown().await;
}
