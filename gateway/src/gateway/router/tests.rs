//! The handover as a plain state machine: routers and slots with in-memory queues for sinks,
//! no sockets, no clock. Each test reads what each worker's queue received, in order.

use super::*;
use crate::client_id::ClientId;
use bytes::Bytes;
use std::net::Ipv4Addr;
use tokio::sync::mpsc;

fn client(conn: u32) -> Arc<ClientHandle> {
    Arc::new(ClientHandle::new(ClientId {
        ip: Ipv4Addr::LOCALHOST,
        port: 2900,
        conn,
    }))
}

fn data(c: &ClientHandle, text: &'static str) -> FromGateway {
    FromGateway::Data {
        client: c.id,
        data: Bytes::from_static(text.as_bytes()),
        meta: None,
        protocol: "text".into(),
    }
}

/// A worker whose events land in a queue the test reads.
async fn worker(router: &Router, name: &str) -> (Arc<WorkerSlot>, mpsc::Receiver<ClientEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let slot = router
        .add_worker(name.to_string(), WorkerSink::Remote(tx))
        .await;
    (slot, rx)
}

/// What a queue holds now: (message text, redelivered).
fn drain(rx: &mut mpsc::Receiver<ClientEvent>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        let text = match &ev.msg {
            FromGateway::Data { data, .. } => String::from_utf8_lossy(data).into_owned(),
            other => format!("{other:?}"),
        };
        out.push((text, ev.redelivered));
    }
    out
}

fn texts(v: &[(&str, bool)]) -> Vec<(String, bool)> {
    v.iter().map(|(t, r)| (t.to_string(), *r)).collect()
}

#[tokio::test]
async fn a_dead_workers_events_go_first_then_what_its_clients_sent_meanwhile() {
    let router = Router::new(100);
    let (a, mut a_rx) = worker(&router, "a").await;
    let (c1, c2) = (client(1), client(2));
    assert_eq!(
        router.route(&c1, data(&c1, "c1-1"), 0, false).await,
        Routed::Delivered
    );
    assert_eq!(
        router.route(&c2, data(&c2, "c2-1"), 0, false).await,
        Routed::Delivered
    );
    // A second worker links before the first dies; c1 and c2 stay on `a` meanwhile.
    let (_, mut b_rx) = worker(&router, "b").await;
    // `a` wrote c1-1 (unacknowledged), c2-1 is still in its queue.
    let sent = a_rx.try_recv().expect("c1-1 sent to a");
    let queued = a_rx.try_recv().expect("c2-1 queued for a");

    router.remove_worker(a.id);
    // c1 sends again before the handover: it waits, it does not jump ahead on `b`.
    assert_eq!(
        router.route(&c1, data(&c1, "c1-2"), 0, false).await,
        Routed::Held
    );
    assert!(
        drain(&mut b_rx).is_empty(),
        "nothing reaches b before the handover"
    );

    router.hand_over(&a, vec![sent], vec![queued]).await;
    assert_eq!(
        drain(&mut b_rx),
        texts(&[("c1-1", true), ("c2-1", false), ("c1-2", false)]),
        "unacknowledged (marked), then unsent, then what waited"
    );
    assert_eq!(router.redelivered.load(Ordering::Relaxed), 1);
    // Afterwards c1 goes straight to b.
    assert_eq!(
        router.route(&c1, data(&c1, "c1-3"), 0, false).await,
        Routed::Delivered
    );
    assert_eq!(drain(&mut b_rx), texts(&[("c1-3", false)]));
}

#[tokio::test]
async fn with_no_worker_left_the_handed_over_events_are_held_in_order_until_one_links() {
    let router = Router::new(100);
    let (a, mut a_rx) = worker(&router, "a").await;
    let c1 = client(1);
    for t in ["1", "2", "3"] {
        router.route(&c1, data(&c1, t), 0, false).await;
    }
    let one = a_rx.try_recv().expect("1");
    let two = a_rx.try_recv().expect("2");
    let three = a_rx.try_recv().expect("3");
    router.remove_worker(a.id);
    router.hand_over(&a, vec![one, two], vec![three]).await;
    assert_eq!(router.held_count().await, 3);
    // A new event of c1 goes behind them.
    assert_eq!(
        router.route(&c1, data(&c1, "4"), 0, false).await,
        Routed::Held
    );

    let (_, mut b_rx) = worker(&router, "b").await;
    assert_eq!(
        drain(&mut b_rx),
        texts(&[("1", true), ("2", true), ("3", false), ("4", false)])
    );
    assert_eq!(router.held_count().await, 0);
}

#[tokio::test]
async fn a_leaving_worker_with_everything_acknowledged_hands_over_nothing_redelivered() {
    let router = Router::new(100);
    let (a, mut a_rx) = worker(&router, "a").await;
    let (_, mut b_rx) = worker(&router, "b").await;
    let c1 = client(1);
    router.route(&c1, data(&c1, "1"), 0, false).await;
    assert_eq!(
        drain(&mut a_rx),
        texts(&[("1", false)]),
        "the first of equals takes it"
    );
    assert!(Arc::ptr_eq(&slot_of(&c1), &a));
    // `a` leaves; it acknowledged "1", so its window is empty when it is released.
    router.remove_worker(a.id);
    assert_eq!(
        router.route(&c1, data(&c1, "2"), 0, false).await,
        Routed::Held
    );
    router.hand_over(&a, Vec::new(), Vec::new()).await;
    assert_eq!(drain(&mut b_rx), texts(&[("2", false)]));
    assert_eq!(router.redelivered.load(Ordering::Relaxed), 0);
    assert!(drain(&mut a_rx).is_empty());
}

/// The slot a client is assigned to.
fn slot_of(c: &ClientHandle) -> Arc<WorkerSlot> {
    c.worker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .expect("assigned")
}

#[tokio::test]
async fn a_data_event_waiting_for_a_remote_worker_is_deferred_until_its_client_is_told() {
    let router = Router::new(100);
    let (_a, mut a_rx) = worker(&router, "a").await;
    let c1 = client(1);
    // A device confirmation waits for this event: accepted only when the worker acknowledges.
    assert_eq!(
        router.route(&c1, data(&c1, "loc"), 1, true).await,
        Routed::Deferred
    );
    // The same event without a waiting confirmation counts as delivered.
    assert_eq!(
        router.route(&c1, data(&c1, "txt"), 2, false).await,
        Routed::Delivered
    );
    let first = a_rx.try_recv().expect("loc");
    assert!(first.confirm && first.seq == 1);
}

#[tokio::test]
async fn waiting_for_a_handover_is_bounded() {
    let router = Router::new(2);
    let (a, _a_rx) = worker(&router, "a").await;
    let c1 = client(1);
    router.route(&c1, data(&c1, "0"), 0, false).await;
    router.remove_worker(a.id);
    assert_eq!(
        router.route(&c1, data(&c1, "1"), 0, false).await,
        Routed::Held
    );
    assert_eq!(
        router.route(&c1, data(&c1, "2"), 0, false).await,
        Routed::Held
    );
    assert_eq!(
        router.route(&c1, data(&c1, "3"), 0, false).await,
        Routed::Overflow,
        "past the bound the client is closed (the device resends), never an unbounded queue"
    );
}

#[tokio::test]
async fn an_event_held_while_a_worker_is_up_goes_first_when_the_next_event_is_routed() {
    let router = Router::new(100);
    let (_a, mut a_rx) = worker(&router, "a").await;
    let (c1, c2) = (client(1), client(2));
    // What a sender whose link died after the handover puts back: held, with a worker up.
    router.held.lock().await.push_back(ClientEvent {
        client: c1.clone(),
        msg: data(&c1, "late"),
        seq: 0,
        confirm: false,
        redelivered: false,
    });
    router.has_held.store(true, Ordering::Release);
    assert_eq!(
        router.route(&c2, data(&c2, "next"), 0, false).await,
        Routed::Delivered
    );
    assert_eq!(
        drain(&mut a_rx),
        texts(&[("late", false), ("next", false)]),
        "the held event first, not stranded behind every later one"
    );
}
