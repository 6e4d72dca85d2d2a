//! Clients that misbehave (silent, garbage, oversized) and peers with the wrong secret: each
//! is dealt with alone, and everyone else keeps being served exactly as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::cluster::{FRAME, TEXT, WEBSOCKET};
use tests::{Cluster, FrameClient, LineClient, Read, WsClient, WAIT};

/// A client is closed once a whole interval passes without a message from it. The chatty
/// client below waits for each echo (a round trip through the worker process) before its next
/// message, so the interval is 2 s, not 1 s: a loaded machine must not make it look silent.
const HEARTBEAT: &str = "ping_interval = 2\nping_not_response_limit = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_closes_a_silent_client_and_keeps_chatty_ones_including_websocket_pings() {
    let cluster = Cluster::start().await;
    let g = cluster.gateway("g1", &[TEXT, WEBSOCKET], HEARTBEAT).await;
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;

    let mut silent = LineClient::connect(g.listener(0)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let chatty = {
        let (addr, stop) = (g.listener(0), stop.clone());
        tokio::spawn(async move {
            let mut c = LineClient::connect(addr).await;
            let mut sent = 0;
            while !stop.load(Ordering::Acquire) {
                c.send(&format!("alive-{sent}")).await;
                assert_eq!(c.recv().await, format!("alive-{sent}"));
                sent += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            c.echo_many("still-open", 3).await;
        })
    };
    let pinger = {
        let (addr, stop) = (g.listener(1), stop.clone());
        tokio::spawn(async move {
            let mut c = WsClient::connect(addr, "/").await;
            while !stop.load(Ordering::Acquire) {
                c.ping().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            c.echo_many("ws-still-open", 3).await;
        })
    };

    // Closed after one or two silent intervals (2 s each).
    let before = silent.expect_closed(WAIT).await;
    assert!(before.is_empty(), "the silent client got {before:?}");
    g.proc.wait_log(&["silent for"], 1).await;
    // A second silent client, connected after that tick, is closed two ticks later: the others
    // keep talking through those two more intervals, then are checked to be still open.
    let mut silent_again = LineClient::connect(g.listener(0)).await;
    let before = silent_again.expect_closed(WAIT).await;
    assert!(before.is_empty(), "the second silent client got {before:?}");
    g.proc.wait_log(&["silent for"], 2).await;
    stop.store(true, Ordering::Release);
    tokio::time::timeout(WAIT, chatty)
        .await
        .expect("chatty client hung")
        .expect("chatty client was closed");
    tokio::time::timeout(WAIT, pinger)
        .await
        .expect("websocket client hung")
        .expect("websocket client was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_data_is_sent_each_interval_and_a_zero_limit_never_closes() {
    let cluster = Cluster::start().await;
    let extra = "ping_interval = 1\nping_not_response_limit = 0\nping_data = \"hb\"";
    let g = cluster.gateway("g1", &[TEXT], extra).await;
    let mut c = LineClient::connect(g.listener(0)).await;
    assert_eq!(c.recv().await, "hb");
    assert_eq!(c.recv().await, "hb");
    assert_eq!(c.recv().await, "hb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_messages_close_only_their_sender_and_others_see_nothing() {
    let cluster = Cluster::start().await;
    let g = cluster
        .gateway("g1", &[TEXT, FRAME, WEBSOCKET], "max_message_size = 64")
        .await;
    let _w = cluster.worker("w1").await;
    g.wait_worker_linked("w1", 1).await;
    let (text_addr, frame_addr, ws_addr) = (g.listener(0), g.listener(1), g.listener(2));

    let mut text = LineClient::connect(text_addr).await;
    let mut frame = FrameClient::connect(frame_addr).await;
    let mut ws = WsClient::connect(ws_addr, "/").await;
    text.echo_many("good-text", 50).await;
    frame.echo_many("good-frame", 50).await;
    ws.echo_many("good-ws", 50).await;

    // A frame whose length field (2) is shorter than its own header.
    let mut short = FrameClient::connect(frame_addr).await;
    short.send_raw(&[0, 0, 0, 2, b'x', b'y']).await;
    short.expect_closed(WAIT).await;
    // A frame announcing a body far over max_message_size.
    let mut huge = FrameClient::connect(frame_addr).await;
    huge.send_raw(&100_000u32.to_be_bytes()).await;
    huge.expect_closed(WAIT).await;
    // A text line over max_message_size, with and without its newline.
    let mut long = LineClient::connect(text_addr).await;
    long.send(&"x".repeat(200)).await;
    assert!(long.expect_closed(WAIT).await.is_empty());
    let mut endless = LineClient::connect(text_addr).await;
    endless.send_raw("y".repeat(500).as_bytes()).await;
    assert!(endless.expect_closed(WAIT).await.is_empty());
    // Not an HTTP upgrade at all on the websocket port (an HTTP error reply is allowed).
    let mut not_http = LineClient::connect(ws_addr).await;
    not_http.send_raw(b"\x00\x01\x02 hello\r\n\r\n").await;
    not_http.expect_closed(WAIT).await;

    // The well-behaved clients get exactly their own echoes, and nothing else.
    text.echo_many("good-text-again", 50).await;
    frame.echo_many("good-frame-again", 50).await;
    ws.echo_many("good-ws-again", 50).await;
    text.expect_nothing(Duration::from_millis(300)).await;
    assert_eq!(
        frame.read_within(Duration::from_millis(100)).await,
        Read::Nothing
    );
    assert_eq!(
        ws.read_within(Duration::from_millis(100)).await,
        Read::Nothing
    );
    g.proc.wait_log(&["closing after bad input"], 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_wrong_secret_is_refused_says_why_and_the_others_keep_serving() {
    let cluster = Cluster::start().await;
    let g = cluster.gateway("g1", &[TEXT], "").await;
    let _good = cluster.worker("good").await;
    g.wait_worker_linked("good", 1).await;

    let bad = cluster.worker_with_secret("bad", "not-the-secret").await;
    bad.wait_log(&["secrets differ"], 1).await;
    cluster.register.wait_log(&["refused"], 1).await;
    // A gateway with a wrong secret is refused too, so no worker ever links to it.
    let stranger = cluster
        .gateway_with_secret("stranger", "not-the-secret", &[TEXT], "")
        .await;
    stranger.proc.wait_log(&["secrets differ"], 1).await;
    cluster.register.wait_log(&["refused"], 2).await;

    let mut c = LineClient::connect(g.listener(0)).await;
    c.echo_many("served", 50).await;
    // A newly started worker with the right secret still joins through the same register.
    let _late = cluster.worker("late").await;
    g.wait_worker_linked("late", 1).await;
    c.echo_many("served-again", 50).await;
    assert!(g.proc.log_lines(&["worker=bad"]).is_empty());
    assert!(stranger.proc.log_lines(&["worker linked"]).is_empty());
}
