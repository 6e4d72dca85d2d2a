//! Issue 13, the internal side: query answers larger than a frame arrive whole (in parts), and
//! what a gateway holds for a worker or standalone API that stops reading is bounded in bytes;
//! such a peer is closed and counted (`slow_links_closed`), a worker's events then go to
//! another worker, and devices are served throughout.

use gateway::proto::{Query, Role, ToGateway, DEFAULT_MAX_FRAME};
use gateway::StandaloneApi;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tests::cluster::{SECRET, TEXT};
use tests::raw_link::RawLink;
use tests::scrape::{http, metrics_addr};
use tests::{Cluster, Gateway, LineClient, WAIT};

/// What may wait for one internal peer (the gateway's `PEER_QUEUE_BYTES`).
const PEER_QUEUE_BYTES: u64 = 4 * 1024 * 1024;
/// The gateway's write stall limit: a peer that takes nothing for this long is closed.
const WRITE_STALL: Duration = Duration::from_secs(10);
/// From the first unread byte to the close counted: the stall, plus filling the socket
/// buffers first and a loaded 2-core machine running debug builds.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);
/// Gateway RSS growth allowed while a peer reads nothing: its bound, plus allocator slack and
/// the buffers of the links and clients. Before the bound, the answers queued for an API that
/// never read grew by hundreds of MiB (8192 queued answers of 64 KiB).
const RSS_GROWTH_MAX: u64 = PEER_QUEUE_BYTES + 16 * 1024 * 1024;

fn rss(pid: u32) -> u64 {
    device_sim::rss::rss_kb(pid).map_or(0, |kb| kb * 1024)
}

/// The sample `name{...}` of the metrics page at `addr`.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let (_, _, page) = http(addr, "GET", "/metrics").await;
    let prefix = format!("{name}{{");
    page.lines()
        .filter(|l| l.starts_with(&prefix))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

async fn slow_links_closed(metrics: SocketAddr) -> u64 {
    metric(metrics, "devgate_slow_links_closed_total").await
}

/// A cluster of one gateway serving its metrics page, and that page's address.
async fn gateway_with_metrics() -> (Cluster, Gateway, SocketAddr) {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT], "metrics_listen = \"127.0.0.1:0\"")
        .await;
    let metrics = metrics_addr(&g.proc.wait_announced("metrics").await);
    (cluster, g, metrics)
}

/// A standalone API linked to the cluster's one gateway, waiting long for big answers.
async fn api(cluster: &Cluster) -> StandaloneApi {
    let api = StandaloneApi::connect(vec![cluster.register_addr.to_string()], SECRET, "test");
    assert!(api.ready(1, WAIT).await, "the API did not link the gateway");
    api.set_query_timeout(WAIT);
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_answer_exceeds_one_frame_returns_complete_and_correct() {
    let cluster = Cluster::start().await;
    let g = cluster.gateway("g1", &[TEXT], "").await;
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;
    let api = api(&cluster).await;

    // 24 clients with 800 KB sessions: about 19 MB of answer, over the 16 MiB frame limit.
    let mut devices = Vec::new();
    for _ in 0..24 {
        let mut d = LineClient::connect(g.listener(0)).await;
        d.echo_many("up", 1).await;
        devices.push(d);
    }
    let ids = api.get_all_client_id_list().await;
    assert!(ids.complete && ids.value.len() == 24, "{ids:?}");
    let mut expected = BTreeMap::new();
    for (n, id) in ids.value.iter().enumerate() {
        let mut session = Map::new();
        session.insert("n".into(), Value::from(n));
        session.insert(
            "blob".into(),
            Value::from(format!("{n:03}").repeat(800_000 / 3)),
        );
        api.set_session(*id, &session).await.expect("set_session");
        expected.insert(*id, session);
    }
    assert!(api.sync().await.complete, "the sessions were not all set");
    let size = serde_json::to_vec(&expected).unwrap().len();
    assert!(
        size > DEFAULT_MAX_FRAME,
        "the answer ({size} B) fits one frame"
    );

    let started = Instant::now();
    let all = api.get_all_client_sessions().await;
    let took = started.elapsed();
    assert!(all.complete, "missing {:?}", all.missing);
    assert!(all.value == expected, "the sessions came back different");
    eprintln!("all sessions: {size} B of JSON in {took:?}");

    // The link that carried it is still up: a small query right after is answered.
    let count = api.get_all_client_id_count().await;
    assert_eq!((count.value, count.complete), (24, true));
    devices[0].echo_many("after", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_never_reads_its_answers_is_closed_counted_and_bounded() {
    let (cluster, g, metrics) = gateway_with_metrics().await;
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;
    let api = api(&cluster).await;

    // One client with a 60 KB session: each query about it is answered with 60 KB.
    let mut good = LineClient::connect(g.listener(0)).await;
    good.echo_many("before", 5).await;
    let id = api.get_all_client_id_list().await.value[0];
    let mut session = Map::new();
    session.insert("blob".into(), Value::from("s".repeat(60_000)));
    api.set_session(id, &session).await.expect("set_session");
    assert!(api.sync().await.complete);
    let rss_before = rss(g.proc.pid());
    assert!(rss_before > 0);

    let mut slow = RawLink::connect(g.internal, SECRET, Role::Api, "never-reads").await;
    let asking = tokio::spawn(async move {
        // Until the gateway closes the link, or the test has seen enough.
        for n in 0u64.. {
            let ask = ToGateway::Query {
                id: n,
                query: Query::Session(id),
            };
            if !slow.send(&ask).await {
                break;
            }
        }
        slow
    });

    let started = Instant::now();
    let mut rss_max = rss_before;
    while slow_links_closed(metrics).await == 0 {
        good.echo_many("during", 1).await;
        rss_max = rss_max.max(rss(g.proc.pid()));
        assert!(
            started.elapsed() < CLOSED_WITHIN,
            "the API was not closed within {CLOSED_WITHIN:?}; RSS {rss_before} -> {rss_max}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_close = started.elapsed();
    assert!(
        to_close >= WRITE_STALL,
        "closed before the stall limit: {to_close:?}"
    );
    let slow = tokio::time::timeout(WAIT, asking)
        .await
        .expect("the gateway still takes queries after closing the link")
        .expect("asking task");
    // Its socket gives what the gateway wrote, then ends: closed, not half-open.
    assert!(
        slow.ends_within(WAIT).await,
        "the slow API's socket did not end"
    );
    rss_max = rss_max.max(rss(g.proc.pid()));

    good.echo_many("after", 5).await;
    assert_eq!(slow_links_closed(metrics).await, 1);
    let still = api.get_all_client_id_count().await;
    assert_eq!(
        (still.value, still.complete),
        (1, true),
        "other APIs are served"
    );
    eprintln!(
        "API never reading: closed after {to_close:?}; gateway RSS {} KiB -> at most {} KiB",
        rss_before / 1024,
        rss_max / 1024
    );
    assert!(
        rss_max.saturating_sub(rss_before) < RSS_GROWTH_MAX,
        "gateway RSS grew from {rss_before} to {rss_max} bytes: over {RSS_GROWTH_MAX}"
    );
}

/// Lines each client sends while its worker reads nothing, and their size: together more than
/// the link's retention window and socket buffers take, so the gateway's writes stall.
const LINES: usize = 150;
const LINE_LEN: usize = 16 * 1024;

/// Line `n` of a client: its number, then padding to `LINE_LEN` (without the newline).
fn numbered(n: usize) -> String {
    let head = format!("{n:05}:");
    format!("{head}{}", "p".repeat(LINE_LEN - 1 - head.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_stops_reading_is_closed_and_its_events_go_to_another_worker() {
    let (cluster, g, metrics) = gateway_with_metrics().await;

    // The only worker at first: it links, keeps its link alive with pings, reads nothing.
    let mut stuck = RawLink::connect(g.internal, SECRET, Role::Worker, "stuck").await;
    g.wait_worker_linked("stuck", 1).await;
    let pinging = tokio::spawn(async move {
        while stuck.send(&ToGateway::Ping).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let rss_before = rss(g.proc.pid());

    // Its clients send more than it can be written; the gateway keeps what it wrote.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(LineClient::connect(g.listener(0)).await);
    }
    let mut sending = Vec::new();
    for mut c in clients {
        sending.push(tokio::spawn(async move {
            for n in 0..LINES {
                c.send(&numbered(n)).await;
            }
            c
        }));
    }

    // An echo worker comes; the stuck one is closed for reading nothing, and its clients'
    // events (written and kept, or still queued) go to the echo worker.
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;
    let started = Instant::now();
    let mut rss_max = rss_before;
    while slow_links_closed(metrics).await == 0 {
        rss_max = rss_max.max(rss(g.proc.pid()));
        assert!(
            started.elapsed() < CLOSED_WITHIN,
            "the stuck worker was not closed within {CLOSED_WITHIN:?}:\n{}",
            g.proc.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    g.proc
        .wait_log(
            &["worker link closed", "worker=stuck", "stopped reading"],
            1,
        )
        .await;

    for (i, s) in sending.into_iter().enumerate() {
        let mut c = tokio::time::timeout(WAIT, s)
            .await
            .expect("a client could not send")
            .expect("client task");
        // Each line echoed at least once (redelivered ones may repeat), first echoes in order.
        let mut next = 0;
        while next < LINES {
            let line = c.recv().await;
            let n: usize = line[..5].parse().expect("a numbered echo");
            assert!(n <= next, "client {i}: line {next} lost, {n} came instead");
            assert_eq!(line, numbered(n), "client {i}: echo {n} garbled");
            if n == next {
                next += 1;
            }
        }
        rss_max = rss_max.max(rss(g.proc.pid()));
    }
    pinging.abort();
    eprintln!(
        "worker never reading: closed {:?} after the echo worker linked; gateway RSS {} KiB -> at most {} KiB",
        started.elapsed(),
        rss_before / 1024,
        rss_max / 1024
    );
    // The retention window and the unwritten queue: the events of 4 x 150 lines of 16 KiB.
    let bound = (4 * LINES * LINE_LEN) as u64 + RSS_GROWTH_MAX;
    assert!(
        rss_max.saturating_sub(rss_before) < bound,
        "gateway RSS grew from {rss_before} to {rss_max} bytes: over {bound}"
    );
}
