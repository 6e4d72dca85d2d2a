//! Shared test harness: a broker (in-process rumqttd on an ephemeral port, or the one named by
//! DEVGATE_TEST_MQTT), a TCP proxy that can cut the path to it, an MQTT subscriber that records
//! what arrives, and a downlink sink that records what devices would get.
#![allow(dead_code)]

use bytes::Bytes;
use rules::mqtt::BoxFuture;
use rules::{DownlinkSink, SinkError};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A short random suffix so tests sharing a real broker never share topics or client ids.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn start_rumqttd() -> SocketAddr {
    use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = ServerSettings {
        name: "v4-test".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1 << 20,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 << 20,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some([("1".to_string(), server)].into_iter().collect()),
        ..Default::default()
    };
    std::thread::spawn(move || {
        let mut broker = Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("rumqttd stopped: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "rumqttd did not start on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    addr
}

/// The broker for MQTT tests: DEVGATE_TEST_MQTT (host:port) or an in-process rumqttd.
pub fn broker() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| match std::env::var("DEVGATE_TEST_MQTT") {
        Ok(a) if !a.is_empty() => {
            use std::net::ToSocketAddrs;
            a.to_socket_addrs()
                .expect("DEVGATE_TEST_MQTT is host:port")
                .next()
                .expect("DEVGATE_TEST_MQTT resolves")
        }
        _ => start_rumqttd(),
    })
}

/// A TCP proxy in front of the broker whose path can be cut (existing connections closed,
/// new ones closed at once) and restored; works the same with any broker.
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(target: SocketAddr, open: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(open));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (o, c) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                // Checked and registered under the lock `cut` holds: a connection accepted
                // while the path is being cut is either refused here or aborted by `cut`.
                // (Registered after the spawn without the lock, it could relay a whole
                // session before `cut` saw it, and survive the cut.)
                let mut list = c.lock().unwrap();
                if !o.load(Ordering::SeqCst) {
                    drop(list);
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.retain(|h| !h.is_finished());
                list.push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            open,
            conns,
            accept,
        }
    }

    pub fn cut(&self) {
        let mut list = self.conns.lock().unwrap();
        self.open.store(false, Ordering::SeqCst);
        for h in list.drain(..) {
            h.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// A subscriber that records every message (topic, JSON payload) arriving on a filter.
pub struct Subscriber {
    pub got: Arc<Mutex<Vec<(String, Value)>>>,
    client: AsyncClient,
    task: AbortHandle,
}

impl Subscriber {
    /// Connects directly to the broker and returns once the subscription is acknowledged.
    pub async fn start(filter: &str) -> Subscriber {
        let b = broker();
        let mut opts = MqttOptions::new(unique("sub"), b.ip().to_string(), b.port());
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_inflight(100);
        let (client, mut el) = AsyncClient::new(opts, 100);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let g = got.clone();
        let task = tokio::spawn(async move {
            let mut tx = Some(tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(t) = tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        g.lock().unwrap().push((p.topic.clone(), v));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .abort_handle();
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("suback in time")
            .unwrap();
        Subscriber { got, client, task }
    }

    /// Distinct message ids seen so far (field `msg_id`).
    pub fn ids(&self) -> HashSet<u64> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, v)| v["msg_id"].as_u64())
            .collect()
    }

    /// Waits until `n` distinct ids arrived (or the deadline passes) and returns them.
    pub async fn wait_ids(&self, n: usize, secs: u64) -> HashSet<u64> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let ids = self.ids();
            if ids.len() >= n || Instant::now() > deadline {
                return ids;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks that every repeated id came with the same payload; returns how many repeats.
    pub fn duplicates_agree(&self) -> usize {
        let mut by_id: BTreeMap<u64, Value> = BTreeMap::new();
        let mut dups = 0;
        for (_, v) in self.got.lock().unwrap().iter() {
            let id = v["msg_id"].as_u64().expect("every message carries msg_id");
            if let Some(prev) = by_id.insert(id, v.clone()) {
                assert_eq!(&prev, v, "a duplicate id carried a different message");
                dups += 1;
            }
        }
        dups
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
        self.task.abort();
    }
}

/// A plain publisher (for downlink tests).
pub async fn publish(topic: &str, payload: &[u8]) {
    let b = broker();
    let opts = MqttOptions::new(unique("pub"), b.ip().to_string(), b.port());
    let (client, mut el) = AsyncClient::new(opts, 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline.into(), el.poll())
            .await
            .expect("puback in time");
        if let Ok(Event::Incoming(Packet::PubAck(_))) = ev {
            break;
        }
    }
    let _ = client.disconnect().await;
}

/// A downlink sink: uids in `online` receive (recorded), others are offline.
#[derive(Default)]
pub struct RecordingSink {
    pub online: Mutex<HashSet<String>>,
    pub got: Mutex<Vec<(String, Bytes)>>,
}

impl RecordingSink {
    pub fn set_online(&self, uid: &str) {
        self.online.lock().unwrap().insert(uid.to_owned());
    }

    pub fn received(&self) -> Vec<(String, String)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(u, b)| (u.clone(), String::from_utf8_lossy(b).into_owned()))
            .collect()
    }
}

impl DownlinkSink for RecordingSink {
    fn send_to_uid<'a>(
        &'a self,
        uid: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<bool, SinkError>> {
        Box::pin(async move {
            if !self.online.lock().unwrap().contains(uid) {
                return Ok(false);
            }
            self.got.lock().unwrap().push((uid.to_owned(), data));
            Ok(true)
        })
    }
}

/// Polls `cond` every 20 ms for up to `secs` seconds.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
