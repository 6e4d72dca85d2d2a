//! Processes dying and coming back: workers killed with SIGKILL, no worker at all, the
//! register restarted. Clients stay connected through all of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::cluster::{FRAME, TEXT, WEBSOCKET};
use tests::{Cluster, FrameClient, LineClient, Read, WsClient, WAIT};

/// Sends numbered lines one at a time while workers come and go. A line in flight when a
/// worker dies is redelivered to another one, so its echo may come twice (at least once), but
/// first echoes come in order and only of lines sent. Returns how many echoes arrived, once
/// `stop` is set and the last `settle` lines in a row all arrived.
///
/// It sends until then, however long the test takes: a fixed number of lines would be a clock
/// that a fast machine can run out of before the test sets `stop`. The caller bounds the wait
/// after `stop`.
async fn steady_sender(mut c: LineClient<tokio::net::TcpStream>, stop: Arc<AtomicBool>) -> usize {
    let settle = 10;
    let (mut received, mut in_a_row, mut last) = (0usize, 0usize, None::<usize>);
    for i in 0usize.. {
        if stop.load(Ordering::Acquire) && in_a_row >= settle {
            return received;
        }
        assert!(
            c.try_send(&format!("steady-{i}")).await,
            "steady client was dropped"
        );
        // Read up to this line's echo; a late echo of an earlier line may come first.
        loop {
            match c.read_within(Duration::from_millis(500)).await {
                Read::Got(line) => {
                    let n: usize = line
                        .strip_prefix("steady-")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
                    assert!(n <= i, "echo {n} before line {n} was sent");
                    if matches!(last, Some(l) if n <= l) {
                        // A repeat: the line was redelivered after its worker died.
                        continue;
                    }
                    last = Some(n);
                    received += 1;
                    if n == i {
                        in_a_row += 1;
                        break;
                    }
                }
                Read::Nothing => {
                    in_a_row = 0;
                    break;
                }
                Read::Closed => panic!("steady client closed by the gateway"),
            }
        }
    }
    unreachable!("the line numbers ran out");
}

/// `echo_many`, after skipping repeated echoes of this client's `earlier` lines (prefixes): a
/// worker killed before it acknowledged them had them redelivered to the next one.
async fn echo_many_after_repeats(
    c: &mut LineClient<tokio::net::TcpStream>,
    tag: &str,
    n: usize,
    earlier: &[String],
) {
    let lines: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    c.send_raw(format!("{}\n", lines.join("\n")).as_bytes())
        .await;
    let mut next = 0;
    while next < n {
        let got = c.recv().await;
        if next == 0 && earlier.iter().any(|p| got.starts_with(p.as_str())) {
            continue;
        }
        assert_eq!(got, lines[next], "echoes of {tag} out of order or wrong");
        next += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_replaced_without_dropping_clients_and_a_restarted_worker_takes_over() {
    let cluster = Cluster::start().await;
    let g1 = cluster.gateway("g1", &[TEXT], "").await;
    let g2 = cluster.gateway("g2", &[TEXT], "").await;
    let mut w1 = cluster.worker("w1").await;
    let mut w2 = cluster.worker("w2").await;
    for g in [&g1, &g2] {
        g.wait_worker_linked("w1", 1).await;
        g.wait_worker_linked("w2", 1).await;
    }
    // Six clients, three per gateway: least-connections spreads them over both workers.
    let mut clients = Vec::new();
    for i in 0..6 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        let mut c = LineClient::connect(g.listener(0)).await;
        c.echo_many(&format!("before-{i}"), 20).await;
        clients.push(c);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let steady = tokio::spawn(steady_sender(
        LineClient::connect(g1.listener(0)).await,
        stop.clone(),
    ));

    w1.kill();
    g1.wait_worker_gone("w1", 1).await;
    g2.wait_worker_gone("w1", 1).await;
    // Once the gateways have noticed, nothing is lost: the same connections echo via w2 (after
    // repeating what w1 handled but had not acknowledged, if anything).
    for (i, c) in clients.iter_mut().enumerate() {
        let earlier = [format!("before-{i}-")];
        echo_many_after_repeats(c, &format!("after-kill-{i}"), 20, &earlier).await;
    }

    let _w1_again = cluster.worker("w1-again").await;
    g1.wait_worker_linked("w1-again", 1).await;
    g2.wait_worker_linked("w1-again", 1).await;
    w2.kill();
    g1.wait_worker_gone("w2", 1).await;
    g2.wait_worker_gone("w2", 1).await;
    // Only the restarted worker is left, and it serves old and new clients alike.
    for (i, c) in clients.iter_mut().enumerate() {
        let earlier = [format!("before-{i}-"), format!("after-kill-{i}-")];
        echo_many_after_repeats(c, &format!("after-restart-{i}"), 20, &earlier).await;
    }
    let mut fresh = LineClient::connect(g2.listener(0)).await;
    fresh.echo_many("fresh", 20).await;

    stop.store(true, Ordering::Release);
    let received = tokio::time::timeout(WAIT, steady)
        .await
        .expect("steady client did not settle")
        .expect("steady client failed");
    assert!(received >= 10, "steady client got only {received} echoes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_while_no_worker_is_up_are_delivered_in_order_once_one_starts() {
    let cluster = Cluster::start().await;
    let g = cluster.gateway("g1", &[TEXT, FRAME, WEBSOCKET], "").await;
    let mut text = LineClient::connect(g.listener(0)).await;
    let mut frame = FrameClient::connect(g.listener(1)).await;
    let mut ws = WsClient::connect(g.listener(2), "/").await;
    for i in 0..50 {
        text.send(&format!("held-text-{i}")).await;
        frame.send(format!("held-frame-{i}").as_bytes()).await;
        ws.send(&format!("held-ws-{i}")).await;
    }
    // No worker: nothing can answer, and the clients are not dropped either.
    text.expect_nothing(Duration::from_millis(300)).await;

    let mut w1 = cluster.worker("w1").await;
    for i in 0..50 {
        assert_eq!(text.recv().await, format!("held-text-{i}"));
        assert_eq!(frame.recv().await, format!("held-frame-{i}").into_bytes());
        assert_eq!(ws.recv().await, format!("held-ws-{i}"));
    }

    // The same again after the only worker died: held until the next one links.
    w1.kill();
    g.wait_worker_gone("w1", 1).await;
    for i in 0..20 {
        text.send(&format!("held-again-{i}")).await;
    }
    text.expect_nothing(Duration::from_millis(300)).await;
    let _w2 = cluster.worker("w2").await;
    // w1 may have died before it acknowledged its last echoes: those come again first (at
    // least once), then the held lines, in order.
    let mut next = 0;
    while next < 20 {
        let got = text.recv().await;
        if next == 0 && got.starts_with("held-text-") {
            continue;
        }
        assert_eq!(got, format!("held-again-{next}"));
        next += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_event_does_not_fit_the_full_hold_queue_is_closed() {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT], "pending_events_max = 10")
        .await;
    let mut c = LineClient::connect(g.listener(0)).await;
    for i in 0..30 {
        if !c.try_send(&format!("m{i}")).await {
            break;
        }
    }
    let echoed = c.expect_closed(WAIT).await;
    assert!(echoed.is_empty(), "no worker, yet got {echoed:?}");
    g.proc.wait_log(&["hold queue is full"], 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_register_restarts_existing_and_new_gateways_and_workers_find_each_other() {
    let mut cluster = Cluster::start().await;
    let g1 = cluster.gateway("g1", &[TEXT], "").await;
    let mut w1 = cluster.worker("w1").await;
    g1.wait_worker_linked("w1", 1).await;
    let mut old = LineClient::connect(g1.listener(0)).await;
    old.echo_many("before", 20).await;

    cluster.restart_register().await;

    // A gateway that only the new register knows is found by the running worker.
    let g2 = cluster.gateway("g2", &[TEXT], "").await;
    let mut on_g2 = LineClient::connect(g2.listener(0)).await;
    on_g2.send("via-new-register").await;
    assert_eq!(on_g2.recv().await, "via-new-register");
    g2.wait_worker_linked("w1", 1).await;

    // A worker that only the new register told about g1 links to it: g1 re-announced itself.
    let _w2 = cluster.worker("w2").await;
    g1.wait_worker_linked("w2", 1).await;
    g2.wait_worker_linked("w2", 1).await;
    w1.kill();
    g1.wait_worker_gone("w1", 1).await;
    g2.wait_worker_gone("w1", 1).await;
    old.echo_many("after", 20).await;
    on_g2.echo_many("after", 20).await;
}
