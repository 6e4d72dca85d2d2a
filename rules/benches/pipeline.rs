//! Throughput of the rules path, next to a plain rumqttc loop to the same broker in the same run.
//!
//! `cargo bench -p rules --bench pipeline` (broker: DEVGATE_TEST_MQTT or in-process rumqttd;
//! BENCH_N messages per MQTT case, default 5000). Prints one line per case.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{broker, unique, Subscriber};
use rules::{
    check_rules_file, parse_rules, Bridge, Event, MqttConfig, Outcome, Pipeline, SledStore,
    StateStore, Waiter,
};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn location(uid: &str, n: usize) -> Event {
    let mut ev = Event::message("7f00000122b800000001", "gt06", "gt06", vec![0x78u8, 0x78]);
    ev.uid = Some(uid.into());
    ev.fields = Some(serde_json::json!({
        "kind": "location", "time": "2024-01-01T00:00:00Z", "latitude": 22.5 + n as f64 * 1e-6,
        "longitude": 114.0, "speed": 42.0, "course": 90, "fix": true
    }));
    ev
}

fn line(name: &str, n: usize, took: Duration) {
    println!(
        "{name:<58} {n:>7} msgs {:>8.0} msg/s  ({:.2} s)",
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}

async fn plain_rumqttc(n: usize) {
    let topic = unique("bench-plain");
    let sub = Subscriber::start(&format!("{topic}/#")).await;
    let b = broker();
    let mut opts = MqttOptions::new(unique("plain"), b.ip().to_string(), b.port());
    opts.set_inflight(64).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 128);
    let poller = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let start = Instant::now();
    for i in 0..n {
        let payload =
            serde_json::json!({"uid": "d1", "lat": 22.5, "lon": 114.0, "speed": 42.0, "msg_id": i});
        client
            .publish(
                format!("{topic}/d1"),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&payload).unwrap(),
            )
            .await
            .unwrap();
    }
    let got = sub.wait_ids(n, 120).await.len();
    line(
        "plain rumqttc QoS1 publish loop -> subscriber",
        got,
        start.elapsed(),
    );
    poller.abort();
}

/// Submits `n` events as the gateway's handler does ([`Pipeline::process`]: evaluation at
/// once, effects batched, actions released after the flush) from `keys` connections, without
/// waiting for each; returns once every event is released.
fn submit_all(p: &Pipeline, n: usize, keys: usize, uid: impl Fn(usize) -> String) {
    let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..n {
        let mut ev = location(&uid(i), i);
        ev.client_id = format!("c{}", i % keys).into();
        let waiter = || -> Waiter {
            let (r, f) = (released.clone(), failed.clone());
            Box::new(move |_actions, outcome| {
                if outcome != Outcome::Durable {
                    f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                r.fetch_add(1, std::sync::atomic::Ordering::Release);
            })
        };
        if p.process(&ev, 1, &ev.client_id, waiter).unwrap().is_some() {
            released.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }
    while released.load(std::sync::atomic::Ordering::Acquire) < n {
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(failed.load(std::sync::atomic::Ordering::Relaxed), 0);
}

async fn through_rules(n: usize, keys: usize) {
    let uid = unique("bench");
    let sub = Subscriber::start(&format!("devices/{uid}/location")).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut cfg = MqttConfig::new(broker().to_string());
    cfg.client_id = unique("bench-bridge");
    let bridge = Bridge::start(cfg, store.clone(), Arc::new(rules::mqtt::NoDownlink)).unwrap();
    let rules = check_rules_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rules.toml"
    ))
    .unwrap();
    let pipeline = Arc::new(Pipeline::new(rules, store, Some(bridge.outbox())));
    let start = Instant::now();
    let p = pipeline.clone();
    let u = uid.clone();
    tokio::task::spawn_blocking(move || submit_all(&p, n, keys, |_| u.clone()))
        .await
        .unwrap();
    let accepted = start.elapsed();
    let got = sub.wait_ids(n, 120).await.len();
    line(
        &format!("rules+state+outbox+bridge QoS1 -> subscriber, {keys} connection(s)"),
        got,
        start.elapsed(),
    );
    line(
        &format!("  of which released (evaluate+state+outbox+flush), {keys} conn."),
        n,
        accepted,
    );
    let st = pipeline.stats();
    let b = bridge.stats();
    println!(
        "   flushes {}, {:.1} events per flush; bridge published {} acked {} retried {}, outbox {}",
        st.flushes,
        st.flushed_events as f64 / st.flushes.max(1) as f64,
        b.published,
        b.acked,
        b.retried,
        b.outbox_len
    );
    bridge.shutdown().await;
}

/// A sled store that counts and times its flushes (where the durable path spends its time).
struct Timed(
    SledStore,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicU64,
);
impl StateStore for Timed {
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, rules::StoreError> {
        self.0.get(k)
    }
    fn put(&self, k: &[u8], v: &[u8]) -> Result<(), rules::StoreError> {
        self.0.put(k, v)
    }
    fn batch(&self, b: rules::Batch) -> Result<(), rules::StoreError> {
        self.0.batch(b)
    }
    fn scan_prefix(
        &self,
        p: &[u8],
        a: Option<&[u8]>,
        l: usize,
    ) -> Result<rules::store::Pairs, rules::StoreError> {
        self.0.scan_prefix(p, a, l)
    }
    fn flush(&self) -> Result<(), rules::StoreError> {
        let t = Instant::now();
        let r = self.0.flush();
        self.1.fetch_add(
            t.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        r
    }
    fn data_dir(&self) -> Option<&Path> {
        self.0.data_dir()
    }
}

fn state_updates(n: usize, keys: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Timed(
        SledStore::open(dir.path()).unwrap(),
        Default::default(),
        Default::default(),
    ));
    let rules = parse_rules(
        "[[rule]]\nactions = [{ set_state = { speed = \"${fields.speed}\", lat = \"${fields.latitude}\", seen = \"${now}\" } }]",
        Path::new("bench.toml"),
    )
    .unwrap();
    let p = Pipeline::new(rules, store.clone(), None);
    let start = Instant::now();
    submit_all(&p, n, keys, |i| format!("u{}", i % 1000));
    line(
        &format!("state updates to sled (batched), {keys} connection(s)"),
        n,
        start.elapsed(),
    );
    println!(
        "   flushes {} taking {} ms total",
        store.2.load(std::sync::atomic::Ordering::Relaxed),
        store.1.load(std::sync::atomic::Ordering::Relaxed) / 1000
    );
}

/// The outbox's log alone: messages committed (written and synced) `batch` at a time.
fn outbox_only(n: usize, batch: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut cfg = MqttConfig::new("127.0.0.1:1");
    cfg.outbox.max_entries = 10_000_000;
    let ob = rules::Outbox::open(store, &cfg).unwrap();
    let payload = serde_json::json!({"uid": "d1", "lat": 22.5, "lon": 114.0, "speed": 42.0});
    let start = Instant::now();
    let mut staged = Vec::with_capacity(batch);
    for i in 0..n {
        let p = ob
            .prepare("devices/d1/location", 1, false, &payload)
            .unwrap();
        staged.push(ob.stage(p).unwrap());
        if staged.len() == batch || i + 1 == n {
            ob.commit(std::mem::take(&mut staged)).unwrap();
        }
    }
    line(
        &format!("outbox log, {batch} message(s) per write + fdatasync"),
        n,
        start.elapsed(),
    );
}

fn evaluate_only(n: usize) {
    let rules = check_rules_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rules.toml"
    ))
    .unwrap();
    let ev = location("d1", 0);
    let st = rules::DeviceState::new();
    let start = Instant::now();
    let mut actions = 0;
    for i in 0..n {
        actions += rules.evaluate(&ev, &st, i as u64).len();
    }
    assert_eq!(actions, 2 * n);
    line(
        "RuleSet::evaluate only (example rules, location)",
        n,
        start.elapsed(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then run a tiny smoke.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 50 } else { 5000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "broker {} (DEVGATE_TEST_MQTT or in-process rumqttd)",
        broker()
    );
    evaluate_only(n * 20);
    state_updates(n, 1);
    state_updates(n, 100);
    outbox_only(n, 1);
    outbox_only(n, 100);
    rt.block_on(async {
        plain_rumqttc(n).await;
        through_rules(n, 1).await;
        through_rules(n, 100).await;
        plain_rumqttc(n).await;
    });
}
