//! Devices behave like real ones when the server misbehaves: they reconnect with backoff after a
//! drop, keep their sequence numbers going, and count failed connects.

mod common;

use device_sim::runner::{self, Quiet};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An echo server that closes every connection after `life`.
async fn short_lived_echo(life: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = tokio::time::timeout(life, async {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tcp.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                })
                .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_devices_reconnect_and_their_replies_stay_consistent() {
    let addr = short_lived_echo(Duration::from_millis(150)).await;
    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--devices",
        "3",
        "--depth",
        "2",
        "--duration",
        "1500ms",
        "--backoff-min",
        "10ms",
        "--backoff-max",
        "50ms",
        "--grace",
        "500ms",
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let g = &result.groups[0].totals;
    assert!(g.disconnects >= 3, "{g:?}");
    assert!(g.reconnects >= 3, "{g:?}");
    assert_eq!(g.connects, 3 + g.reconnects);
    let c = g.counts;
    assert!(c.received > 0);
    // Messages cut off by a drop are counted apart, never as duplicates or corruption: sequence
    // numbers go on across reconnects, so an old reply cannot pass for a new one.
    assert_eq!(
        (c.duplicated, c.corrupted, c.out_of_order),
        (0, 0, 0),
        "{c:?}"
    );
    assert_eq!(
        c.received + c.late + c.lost_in_disconnect + c.lost(),
        c.sent,
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connects_are_counted_and_retried_with_backoff() {
    // A port held by a socket that is bound but does not listen: connects to it are refused,
    // and for the whole test no other process can listen there and no connect of the devices
    // can get it as its own source port (which would connect the socket to itself).
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let target = reserved.local_addr().unwrap().to_string();
    let plan = common::plan(&[
        "run",
        "--target",
        &target,
        "--devices",
        "2",
        "--duration",
        "1s",
        "--backoff-min",
        "20ms",
        "--backoff-max",
        "100ms",
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    drop(reserved);
    let g = &result.groups[0].totals;
    assert_eq!(g.connects, 0);
    // Each device tried more than once, and at most once per half of the smallest delay.
    assert!(g.connect_errors > 2, "{g:?}");
    assert!(g.connect_errors <= 2 * (1000 / 10 + 1), "{g:?}");
}
