//! Issue 12, at-least-once delivery, over real processes: a register, one gateway, two
//! `counting_worker`s that log every message they handle (marked when redelivered), and 50
//! text clients sending numbered lines at a steady rate while workers are killed, frozen or
//! restarted. The logs are read back and every number of every client must be there.
//!
//! The pauses between chaos steps are the schedule (load keeps flowing meanwhile); every wait
//! for an outcome polls a log line, a log file or a process exit, and is bounded.

use std::time::Duration;
use tests::counting::{CountingCluster, Load, Logs};
use tests::Frozen;

/// Clients, each sending `c<i> <n>` for n = 1, 2, ...
const CLIENTS: usize = 50;
/// Lines per second, all clients together.
const RATE: u32 = 3_000;
/// Load between two chaos steps.
const STEP: Duration = Duration::from_secs(2);
/// How long a worker stays stopped (SIGSTOP): well under the links' 20 s dead interval, so
/// the gateway waits for it instead of redelivering.
const FROZEN: Duration = Duration::from_secs(5);
/// How long the logs may take to catch up once the clients stopped.
const CATCH_UP: Duration = Duration::from_secs(30);

const WORKER: &str = env!("CARGO_BIN_EXE_counting_worker");

/// Two workers, and the clients sending to both of them.
async fn under_load() -> (CountingCluster, Logs, Load) {
    let c = CountingCluster::start(WORKER, &["w1", "w2"]).await;
    let mut logs = c.logs();
    let load = Load::start(c.gateway.listener(0), CLIENTS, RATE).await;
    // Least-connections spreads the clients over both workers.
    logs.wait_growing(&[0, 1], "load started").await;
    (c, logs, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_messages_survive_worker_kills() {
    let (mut c, mut logs, load) = under_load().await;

    // After each kill the survivor has every client, so the next victim is always busy.
    tokio::time::sleep(STEP).await;
    c.kill_and_restart(0).await;
    // A stalled worker is waited for: its link stays up, all the clients' events queue.
    tokio::time::sleep(STEP).await;
    {
        let _frozen = Frozen::new(&c.workers[1].proc);
        tokio::time::sleep(FROZEN).await;
    }
    // Killed while it works through that backlog, it dies with thousands of events sent and
    // unacknowledged, some of them handled already.
    logs.wait_growing(&[1], "w2 thawed").await;
    c.kill_and_restart(1).await;
    tokio::time::sleep(STEP).await;
    c.kill_and_restart(0).await;
    tokio::time::sleep(STEP).await;
    let v = c.judge(&mut logs, load, CATCH_UP).await;
    let gateway_redelivered = c.gateway_redelivered();
    println!(
        "delivery after 3 kills and 1 freeze: {} (gateway redelivered {gateway_redelivered})",
        v.summary()
    );
    assert!(
        v.is_clean(),
        "{}; the gateway's workers:\n{}",
        v.problems(),
        c.link_history()
    );
    // A redelivered event reaches one worker, which lives long enough to handle it.
    assert_eq!(
        v.redelivered as u64, gateway_redelivered,
        "lines marked redelivered vs events the gateway redelivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_loses_and_repeats_nothing() {
    let (mut c, mut logs, load) = under_load().await;
    for i in [0, 1] {
        tokio::time::sleep(STEP).await;
        c.terminate_and_restart(i).await;
    }
    tokio::time::sleep(STEP).await;
    let v = c.judge(&mut logs, load, CATCH_UP).await;
    println!("delivery after a rolling restart: {}", v.summary());
    assert!(
        v.is_clean(),
        "{}; the gateway's workers:\n{}",
        v.problems(),
        c.link_history()
    );
    assert_eq!(
        (v.duplicates, v.redelivered, c.gateway_redelivered()),
        (0, 0, 0),
        "a graceful leave repeats nothing; marked {:?}; the gateway's links:\n{}",
        v.redelivered_examples,
        c.link_history()
    );
}
