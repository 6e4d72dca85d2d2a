//! device-sim against a deliberately faulty echo server: what it reports lost, duplicated, out of
//! order and corrupted matches exactly what the server did.

mod common;

use device_sim::plan::Proto;
use device_sim::runner::{self, Quiet};
use device_sim::server::{self, EchoServer};

async fn faults_are_counted_exactly(proto: Proto, proto_flag: &str) {
    let listener = server::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let spec = "drop=0.03,dup=0.03,reorder=0.03,corrupt=0.02"
        .parse()
        .unwrap();
    let (srv, faults) = EchoServer::new(proto).with_faults(spec, 42).unwrap();
    tokio::spawn(srv.serve(listener));

    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--proto",
        proto_flag,
        "--devices",
        "4",
        "--rate",
        "400",
        "--duration",
        "2s",
        "--grace",
        "2500ms",
        "--loss-timeout",
        "2s",
        "--payload",
        "80",
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let c = result.groups[0].totals.counts;
    let f = faults.totals();

    // The server really did each kind of fault, so the comparison below means something.
    assert!(
        f.dropped > 0 && f.duplicated > 0 && f.reordered > 0 && f.corrupted > 0,
        "{f:?}"
    );
    assert_eq!(c.sent, f.messages, "every message sent reached the server");
    assert_eq!(c.duplicated, f.duplicated);
    assert_eq!(c.out_of_order, f.reordered);
    assert_eq!(c.corrupted, f.corrupted);
    // A corrupted reply leaves its message unanswered, so it is lost too.
    assert_eq!(c.lost(), f.dropped + f.corrupted);
    assert_eq!(c.received, f.messages - f.dropped - f.corrupted);
    assert_eq!((c.late, c.lost_in_disconnect), (0, 0));
    assert_eq!(result.groups[0].totals.disconnects, 0);
    assert_eq!(result.groups[0].latency.len(), c.received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_faults_are_counted_exactly() {
    faults_are_counted_exactly(Proto::Text, "text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_faults_are_counted_exactly() {
    faults_are_counted_exactly(Proto::Frame, "frame").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_recovers_from_dropped_replies_through_the_loss_timeout() {
    let listener = server::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (srv, faults) = EchoServer::new(Proto::Text)
        .with_faults("drop=0.2".parse().unwrap(), 3)
        .unwrap();
    tokio::spawn(srv.serve(listener));

    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--devices",
        "2",
        "--depth",
        "2",
        "--duration",
        "1500ms",
        // A device ends as soon as nothing is in flight (the dropped replies time out after
        // 100 ms), so a long grace costs nothing; a short one would count a reply delayed past
        // it on a loaded machine as unanswered, that is lost, though the server sent it.
        "--grace",
        "5s",
        "--loss-timeout",
        "100ms",
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let c = result.groups[0].totals.counts;
    let f = faults.totals();
    // With one in five replies dropped, a closed loop without the timeout would stall after a
    // handful of messages; refilled slots keep it going.
    assert!(f.dropped >= 20, "{f:?}");
    assert_eq!(c.lost(), f.dropped);
    assert!(c.timed_out > 0);
    // A reply slower than the timeout (a loaded machine) is late, not lost.
    assert_eq!(c.received + c.late + f.dropped, c.sent);
}
