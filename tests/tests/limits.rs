//! Connection limits (issue 13): a listener's `max_connections`, `max_connections_per_ip`
//! and `max_accepts_per_sec`.
//! The connection over a limit is closed at once and counted (`connections_refused` in
//! status); the others keep working, and a place freed by a closing client is taken again.

use std::time::Duration;
use tests::api_cluster::status_counter;
use tests::{LineClient, Proc, Read, WAIT};
use tokio::io::AsyncReadExt;

const SECRET: &str = "limits-secret";

fn config() -> String {
    format!(
        "secret = \"{SECRET}\"\n[register]\nlisten = \"127.0.0.1:0\"\n[gateway]\nname = \"g\"\n\
         lan_ip = \"127.0.0.1\"\ninternal_listen = \"127.0.0.1:0\"\nlisteners = [\n\
         {{ url = \"text://127.0.0.1:0\", max_connections = 3 }},\n\
         {{ url = \"frame://127.0.0.1:0\", max_connections_per_ip = 2 }},\n\
         {{ url = \"raw://127.0.0.1:0\", max_accepts_per_sec = 1 }},\n]\n\
         [worker]\nname = \"w\"\nhandler = \"echo\"\n"
    )
}

/// Waits until a connection to `addr` is served (a place was freed), or panics.
async fn served_again(addr: std::net::SocketAddr) -> LineClient<tokio::net::TcpStream> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = LineClient::connect(addr).await;
        c.send("again").await;
        match c.read_within(Duration::from_secs(2)).await {
            Read::Got(line) => {
                assert_eq!(line, "again");
                return c;
            }
            _ if tokio::time::Instant::now() < deadline => continue,
            other => panic!("no place freed: {other:?}"),
        }
    }
}

/// Asserts that the server closes a connection to `addr` without serving it.
async fn refused(addr: std::net::SocketAddr) {
    let mut c = LineClient::connect(addr).await;
    c.send("over").await;
    match c.read_within(WAIT).await {
        Read::Closed => {}
        other => panic!("the connection over the limit was served: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_a_listeners_limits_are_closed_counted_and_the_rest_work() {
    let p = Proc::spawn("limits", "start", &config());
    let register = p.wait_addr("register").await;
    let text = p.wait_listener("text").await;
    let frame = p.wait_listener("frame").await;
    p.wait_announced("worker").await;

    // max_connections = 3 on the text listener.
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = LineClient::connect(text).await;
        c.echo_many(&format!("in-{i}"), 3).await;
        clients.push(c);
    }
    refused(text).await;
    for c in &mut clients {
        c.echo_many("still", 2).await;
    }
    drop(clients.pop());
    let _again = served_again(text).await;

    // max_connections_per_ip = 2 on the frame listener: all tests connect from 127.0.0.1.
    let mut f1 = tests::FrameClient::connect(frame).await;
    let mut f2 = tests::FrameClient::connect(frame).await;
    f1.echo_many("f1", 2).await;
    f2.echo_many("f2", 2).await;
    let mut f3 = tests::FrameClient::connect(frame).await;
    match f3.read_within(WAIT).await {
        Read::Closed => {}
        other => panic!("a third connection from one address was served: {other:?}"),
    }
    f1.echo_many("f1-after", 2).await;

    // max_accepts_per_sec = 1 on the raw listener: of five connections opened at once, the
    // first is served and at most one more (if a second passed meanwhile); the rest are closed.
    let raw = p.wait_listener("raw").await;
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(tests::clients::tcp(raw).await);
    }
    let mut closed = 0;
    for c in &mut conns {
        let mut buf = [0u8; 16];
        match tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            _ => {}
        }
    }
    assert!(
        (3..5).contains(&closed),
        "{closed} of 5 closed at 1 accept/s"
    );

    let (refused_count, v) = status_counter(register, SECRET, "connections_refused").await;
    assert!(
        refused_count.is_some_and(|n| n >= 5),
        "connections_refused {refused_count:?}: {v:#}"
    );
    p.wait_log(&["WARN", "connection refused", "max_connections"], 1)
        .await;
}
