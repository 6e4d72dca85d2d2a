//! The gateway's Prometheus endpoint (`[gateway] metrics_listen`), scraped over a real socket
//! while a text client echoes through a worker.

use tests::cluster::TEXT;
use tests::scrape::{http, metrics_addr, sample};
use tests::{Cluster, LineClient, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_text_clients_messages_and_unknown_paths_are_404() {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT], "metrics_listen = \"127.0.0.1:0\"")
        .await;
    let metrics = metrics_addr(&g.proc.wait_announced("metrics").await);
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
