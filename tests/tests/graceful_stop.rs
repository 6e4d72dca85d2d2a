//! SIGTERM hands off, over real processes (issue 12): a gateway that is told to stop accepts no
//! more clients, reads its clients no more, still gives each what its pending events release,
//! and waits for its worker's acknowledgements before it closes and exits.
//!
//! A GT06 tracker's location ack is held by the gateway until the worker (in its own process)
//! acknowledges the location's event. The worker is frozen (SIGSTOP) before the location is
//! sent, so the ack is pending when the gateway gets SIGTERM; the test then checks that the
//! gateway is still there and has not closed the tracker, thaws the worker, and expects the ack
//! to reach the tracker before its connection ends and the gateway exits with status 0.

#[allow(dead_code)]
#[path = "rules_mqtt/gt06.rs"]
mod gt06;

use gt06::{gt06_login, read_exactly, LOCATION, LOCATION_ACK};
use std::time::Duration;
use tests::cluster::Cluster;
use tests::WAIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GT06: &str = r#"{ url = "gt06://127.0.0.1:0" }"#;

/// The login ack for serial 1 (from the captured vector).
const LOGIN_ACK_LEN: usize = 10;

#[tokio::test]
async fn a_stopping_gateway_waits_for_held_acks_before_it_closes() {
    let cluster = Cluster::start().await;
    let mut gateway = cluster.gateway("g", &[GT06], "").await;
    let worker = cluster.worker("w").await;
    gateway.wait_worker_linked("w", 1).await;

    let mut tracker = TcpStream::connect(gateway.listener(0))
        .await
        .expect("connect");
    tracker
        .write_all(&gt06_login("359710049095095"))
        .await
        .expect("login");
    read_exactly(&mut tracker, LOGIN_ACK_LEN).await;

    // The worker cannot acknowledge anything now: the location's ack stays held.
    worker.freeze();
    tracker
        .write_all(&hex::decode(LOCATION).expect("hex"))
        .await
        .expect("location");
    gateway.proc.signal(libc::SIGTERM);

    // Held for as long as the worker is frozen: no ack, no close, the gateway still runs.
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), tracker.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the tracker got {early:?} while its ack was still held"
    );
    assert!(
        !gateway.proc.exited(),
        "the gateway exited with an ack held"
    );
    // It accepts no new client any more.
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            match TcpStream::connect(gateway.listener(0)).await {
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "the stopping gateway still accepts");

    worker.signal(libc::SIGCONT);
    let ack = read_exactly(&mut tracker, LOCATION_ACK.len() / 2).await;
    assert_eq!(
        hex::encode(ack),
        LOCATION_ACK,
        "the held ack, once released"
    );
    let end = tokio::time::timeout(WAIT, tracker.read(&mut byte)).await;
    assert!(
        matches!(end, Ok(Ok(0)) | Ok(Err(_))),
        "the connection ends after the ack: {end:?}"
    );
    assert_eq!(
        gateway.proc.wait_exit(WAIT).await,
        Some(0),
        "the gateway exits once everything is handed off; stderr:\n{}",
        gateway.proc.stderr()
    );
    assert!(
        !gateway
            .proc
            .log_lines(&["gateway stopped: every client closed"])
            .is_empty(),
        "the gateway says it handed everything off; stderr:\n{}",
        gateway.proc.stderr()
    );
}
