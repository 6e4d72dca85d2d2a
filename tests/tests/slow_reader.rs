//! Issue 13, hostile networks: a client that sends but never reads. Whatever the gateway holds
//! for it (queue, write buffer) counts against `send_buffer_max`; when that is full the client
//! is closed (default policy), counted in `overflow_closes`, and dropped within the close
//! deadline, while the gateway's memory stays near the bound and other clients are served.
//! In `devgate start` (worker in-process) and in split processes, with small and large lines.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::cluster::TEXT;
use tests::{Cluster, LineClient, Proc, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The gateway's bound per client (the default, stated here so the bounds below follow it).
const SEND_BUFFER_MAX: u64 = 1024 * 1024;
/// From the first byte sent to `overflow_closes` counted: a few seconds, generous for a
/// loaded 2-core machine running debug builds (filling 1 MiB takes well under a second).
const OVERFLOW_WITHIN: Duration = Duration::from_secs(10);
/// From `overflow_closes` counted to the slow client's connection dropped by the gateway while
/// the client still reads nothing: the gateway's 2 s close deadline, plus slack.
const DROPPED_WITHIN: Duration = Duration::from_secs(5);
/// Gateway RSS growth allowed over its baseline: the bound, plus allocator slack, socket and
/// read buffers, and the worker link's buffers (split) or the in-process worker (start).
/// Before the fix the gateway grew by hundreds of MiB within seconds.
const RSS_GROWTH_MAX: u64 = SEND_BUFFER_MAX + 10 * 1024 * 1024;
/// The same for split processes: what the gateway read from the slow client before its echoes
/// overflowed may also wait for the worker, in the link's retention window (4 MiB) and its
/// event queue (bounded by count, 8,192 events, not bytes: 6-13 MiB measured with 256 KiB
/// lines), and be copied into the link's write.
const RSS_GROWTH_MAX_SPLIT: u64 =
    RSS_GROWTH_MAX + 10 * 1024 * 1024 + gateway::gateway::retention::MAX_BYTES as u64;

/// The gateway's resident set in bytes, from /proc/PID/status.
fn rss(pid: u32) -> u64 {
    device_sim::rss::rss_kb(pid).map_or(0, |kb| kb * 1024)
}

/// The sample `name{gateway=...}` from the metrics page at `addr` (0 when unreadable).
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let prefix = format!("{name}{{");
    let scrape = async {
        let mut tcp = tests::clients::tcp(addr).await;
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.ok()?;
        let page = String::from_utf8(raw).ok()?;
        page.lines()
            .filter(|l| l.starts_with(&prefix))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    };
    tokio::time::timeout(WAIT, scrape)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

async fn overflow_closes(addr: SocketAddr) -> u64 {
    metric(addr, "devgate_overflow_closes_total").await
}

async fn metrics_addr(p: &Proc) -> SocketAddr {
    let url = p.wait_announced("metrics").await;
    url.strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bad metrics line {url:?}"))
}

/// Connects a client that sends `line_len`-byte lines as fast as it can and never reads
/// (with a small receive buffer, so the gateway's side fills quickly); checks it is closed
/// and counted in time, that `gateway_pid` stays within its memory bound, and that a
/// well-behaved client at `addr` echoes throughout.
async fn slow_reader_is_closed(
    addr: SocketAddr,
    metrics: SocketAddr,
    gateway_pid: u32,
    line_len: usize,
    rss_growth_max: u64,
) {
    let mut good = LineClient::connect(addr).await;
    good.echo_many("before", 20).await;
    assert_eq!(overflow_closes(metrics).await, 0);
    let rss_before = rss(gateway_pid);
    assert!(rss_before > 0, "no VmRSS for pid {gateway_pid}");

    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let slow = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let (mut slow_rd, mut slow_wr) = slow.into_split();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writer = {
        let stop = stop.clone();
        let mut line = vec![b'x'; line_len - 1];
        line.push(b'\n');
        tokio::spawn(async move {
            // Until the gateway drops the connection (reset) or the test has seen enough.
            while !stop.load(Ordering::Acquire) {
                if slow_wr.write_all(&line).await.is_err() {
                    break;
                }
            }
        })
    };

    // Meanwhile: the other client keeps echoing, and the gateway's memory is sampled.
    let mut rss_max = rss_before;
    let mut i = 0;
    let to_overflow = loop {
        good.echo_many(&format!("during-{i}"), 1).await;
        i += 1;
        rss_max = rss_max.max(rss(gateway_pid));
        if overflow_closes(metrics).await >= 1 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < OVERFLOW_WITHIN,
            "no overflow close within {OVERFLOW_WITHIN:?} ({line_len} B lines); RSS {rss_before} -> {rss_max}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Still without reading: the gateway drops the connection within its close deadline
    // (its client gauge falls back to the one good client).
    stop.store(true, Ordering::Release);
    let counted = Instant::now();
    let mut to_dropped = None;
    while counted.elapsed() < DROPPED_WITHIN {
        rss_max = rss_max.max(rss(gateway_pid));
        if metric(metrics, "devgate_clients").await == 1 {
            to_dropped = Some(counted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(to_dropped) = to_dropped else {
        panic!("the slow client ({line_len} B lines) was still connected {DROPPED_WITHIN:?} after its overflow close");
    };
    // Its socket reads what the gateway wrote, then EOF (or a reset): closed, not half-open.
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match slow_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client's socket did not end");
    writer.abort();
    rss_max = rss_max.max(rss(gateway_pid));

    good.echo_many("after", 20).await;
    assert_eq!(
        overflow_closes(metrics).await,
        1,
        "only the slow client overflowed"
    );
    eprintln!(
        "slow reader, {line_len} B lines: overflow close after {to_overflow:?}, dropped \
         {to_dropped:?} later; gateway RSS {} KiB -> at most {} KiB",
        rss_before / 1024,
        rss_max / 1024
    );
    assert!(
        rss_max.saturating_sub(rss_before) < rss_growth_max,
        "gateway RSS grew from {rss_before} to {rss_max} bytes: over {rss_growth_max}"
    );
}

fn start_config() -> String {
    format!(
        "secret = \"\"\n[register]\nlisten = \"127.0.0.1:0\"\n[gateway]\nname = \"g\"\n\
         lan_ip = \"127.0.0.1\"\ninternal_listen = \"127.0.0.1:0\"\n\
         metrics_listen = \"127.0.0.1:0\"\nlisteners = [{TEXT}]\n\
         [worker]\nname = \"w\"\nhandler = \"echo\"\n"
    )
}

async fn in_start(line_len: usize) {
    let start = Proc::spawn("start", "start", &start_config());
    let text = start.wait_listener("text").await;
    let metrics = metrics_addr(&start).await;
    slow_reader_is_closed(text, metrics, start.pid(), line_len, RSS_GROWTH_MAX).await;
}

async fn in_split_processes(line_len: usize) {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT], "metrics_listen = \"127.0.0.1:0\"")
        .await;
    let metrics = metrics_addr(&g.proc).await;
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;
    slow_reader_is_closed(
        g.listener(0),
        metrics,
        g.proc.pid(),
        line_len,
        RSS_GROWTH_MAX_SPLIT,
    )
    .await;
    g.proc.wait_log(&["send buffer full"], 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_closes_a_client_that_never_reads_small_lines() {
    in_start(64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_closes_a_client_that_never_reads_large_lines() {
    in_start(256 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_processes_close_a_client_that_never_reads_small_lines() {
    in_split_processes(64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_processes_close_a_client_that_never_reads_large_lines() {
    in_split_processes(256 * 1024).await;
}
