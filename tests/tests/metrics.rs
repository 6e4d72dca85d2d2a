//! The gateway's Prometheus endpoint (`[gateway] metrics_listen`), scraped over a real socket
//! while a text client echoes through a worker.

use std::net::SocketAddr;
use tests::cluster::TEXT;
use tests::{Cluster, LineClient, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request with `Connection: close`, read to EOF: (status, headers, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let exchange = async {
        let mut tcp = tests::clients::tcp(addr).await;
        let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.expect("write request");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read response");
        raw
    };
    let raw = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("no complete response in time");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value of the sample `name{gateway="<gateway>"}` on a metrics page.
fn sample(page: &str, name: &str, gateway: &str) -> Option<u64> {
    let prefix = format!("{name}{{gateway=\"{gateway}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_text_clients_messages_and_unknown_paths_are_404() {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT], "metrics_listen = \"127.0.0.1:0\"")
        .await;
    let url = g.proc.wait_announced("metrics").await;
    let metrics: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bad metrics line {url:?}"));
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;

    const N: u64 = 25;
    let mut c = LineClient::connect(g.listener(0)).await;
    c.echo_many("m", N as usize).await;

    // The gateway label is its key: lan_ip and internal port.
    let gateway = g.internal.to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let (head, page) = loop {
        let (status, head, page) = http(metrics, "GET", "/metrics").await;
        assert_eq!(status, 200, "{head}\n{page}");
        let clients = sample(&page, "devgate_clients", &gateway);
        let msgs_in = sample(&page, "devgate_messages_in_total", &gateway);
        let msgs_out = sample(&page, "devgate_messages_out_total", &gateway);
        if clients == Some(1) && msgs_in == Some(N) && msgs_out == Some(N) {
            break (head, page);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters never reached 1 client and {N} messages in and out:\n{page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        head.lines()
            .any(|l| l == "content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(sample(&page, "devgate_accepted_total", &gateway), Some(1));
    assert_eq!(sample(&page, "devgate_workers", &gateway), Some(1));
    assert!(page.contains("# TYPE devgate_messages_in_total counter\n"));
    assert!(page.contains("# TYPE devgate_clients gauge\n"));

    let (status, _, _) = http(metrics, "GET", "/nope").await;
    assert_eq!(status, 404);
    let (status, head, _) = http(metrics, "POST", "/metrics").await;
    assert_eq!(status, 405, "{head}");

    // The scrapes left the client alone.
    c.echo_many("after", 3).await;
}
