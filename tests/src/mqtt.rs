//! A QoS 1 MQTT subscriber with a persistent session (clean_session = false, a fixed client id)
//! that counts what arrives by a key of the test's choosing, so a broker restart loses nothing
//! it was sent and the test can tell duplicates from missing messages.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::AbortHandle;

/// Payloads kept for the report of messages the key function could not read.
const BAD_KEPT: usize = 10;

/// What the subscriber saw: per key, how many times (one entry per distinct key, which is
/// what the test checks against).
struct Seen<K> {
    counts: HashMap<K, u32>,
    /// Messages in total, duplicates included.
    messages: u64,
    /// Payloads the key function refused: the first [`BAD_KEPT`], and how many in all.
    bad: Vec<String>,
    bad_total: u64,
}

/// A persistent-session subscriber counting messages by key.
pub struct Recorder<K> {
    seen: Arc<Mutex<Seen<K>>>,
    connects: Arc<AtomicUsize>,
    sessions_lost: Arc<AtomicUsize>,
    client: AsyncClient,
    task: AbortHandle,
}

impl<K: Eq + Hash + Clone + Send + 'static> Recorder<K> {
    /// Connects as `client_id` with clean_session = false, subscribes to `filter` at QoS 1 and
    /// returns once the subscription is acknowledged. `key` names each message (topic, payload);
    /// `None` counts it as unreadable.
    pub async fn start(
        broker: SocketAddr,
        client_id: &str,
        filter: &str,
        key: impl Fn(&str, &[u8]) -> Option<K> + Send + 'static,
    ) -> Recorder<K> {
        let mut opts = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(false)
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_inflight(100);
        let (client, mut el) = AsyncClient::new(opts, 100);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("queue the subscribe request");
        let seen = Arc::new(Mutex::new(Seen {
            counts: HashMap::new(),
            messages: 0,
            bad: Vec::new(),
            bad_total: 0,
        }));
        let connects = Arc::new(AtomicUsize::new(0));
        let sessions_lost = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (s, c, lost) = (seen.clone(), connects.clone(), sessions_lost.clone());
        let resubscribe = client.clone();
        let filter_owned = filter.to_string();
        let task = tokio::spawn(async move {
            let mut tx = Some(tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        // A broker that forgot the session forgot the subscription too: take it
                        // again (what it had queued is gone, and the test will see that).
                        if c.fetch_add(1, Ordering::SeqCst) > 0 && !ack.session_present {
                            lost.fetch_add(1, Ordering::SeqCst);
                            let _ =
                                resubscribe.try_subscribe(filter_owned.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(t) = tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let k = key(&p.topic, &p.payload);
                        let mut seen = s.lock().unwrap();
                        seen.messages += 1;
                        match k {
                            Some(k) => *seen.counts.entry(k).or_default() += 1,
                            None => {
                                seen.bad_total += 1;
                                if seen.bad.len() < BAD_KEPT {
                                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                                    seen.bad.push(format!("{}: {text}", p.topic));
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                    // The broker is away (restarting): the next poll connects again.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .abort_handle();
        tokio::time::timeout(crate::WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("{client_id}: no suback from {broker} in {:?}", crate::WAIT))
            .expect("the subscriber task ended before the suback");
        Recorder {
            seen,
            connects,
            sessions_lost,
            client,
            task,
        }
    }

    /// Whether `k` has arrived at least once.
    pub fn has(&self, k: &K) -> bool {
        self.seen.lock().unwrap().counts.contains_key(k)
    }

    /// The keys among `keys` that have not arrived.
    pub fn missing<'a>(&self, keys: impl IntoIterator<Item = &'a K>) -> Vec<K>
    where
        K: 'a,
    {
        let seen = self.seen.lock().unwrap();
        keys.into_iter()
            .filter(|k| !seen.counts.contains_key(*k))
            .cloned()
            .collect()
    }

    /// Distinct keys arrived.
    pub fn distinct(&self) -> usize {
        self.seen.lock().unwrap().counts.len()
    }

    /// Messages arrived, duplicates and unreadable ones included.
    pub fn messages(&self) -> u64 {
        self.seen.lock().unwrap().messages
    }

    /// Messages that repeated a key already seen.
    pub fn duplicates(&self) -> u64 {
        let seen = self.seen.lock().unwrap();
        seen.counts.values().map(|&n| u64::from(n) - 1).sum()
    }

    /// Unreadable messages: how many, and the first few (topic: payload).
    pub fn unreadable(&self) -> (u64, Vec<String>) {
        let seen = self.seen.lock().unwrap();
        (seen.bad_total, seen.bad.clone())
    }

    /// Connections made (the first and every reconnect).
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }

    /// Reconnects on which the broker no longer had the session.
    pub fn sessions_lost(&self) -> usize {
        self.sessions_lost.load(Ordering::SeqCst)
    }
}

impl<K> Drop for Recorder<K> {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
        self.task.abort();
    }
}
