//! Above the open-file limit (20,000 here, and it cannot be raised) device-sim shards itself
//! into child processes. 25,000 idle devices are held against two echo-server processes that
//! share one port (SO_REUSEPORT), since one server process cannot hold them either; the devices
//! connect from 127.0.0.1-127.0.0.4 so that no source address runs out of ephemeral ports.
//!
//! Runs in the normal `cargo test` (and so in `.ci/run`); it takes about 15 seconds.

mod common;

use common::{run_json, u, Server};

const DEVICES: u64 = 25_000;

#[test]
fn twenty_five_thousand_idle_devices_are_sharded_over_processes_and_all_held() {
    let first = Server::start("127.0.0.1:0", &["--reuseport", "--threads", "1"]);
    let addr = first.addr.to_string();
    let second = Server::start(&addr, &["--reuseport", "--threads", "1"]);
    assert_eq!(second.addr, first.addr);

    let devices = DEVICES.to_string();
    let report = run_json(&[
        "idle",
        "--target",
        &addr,
        "--devices",
        &devices,
        "--ramp",
        "5000/s",
        "--duration",
        "3s",
        "--source-ips",
        "127.0.0.1-127.0.0.4",
        "--server-pid",
        &first.pid().to_string(),
        "--server-pid",
        &second.pid().to_string(),
    ]);

    assert!(u(&report, "shards") >= 2, "{report}");
    let group = &report["groups"][0];
    assert_eq!(u(group, "devices"), DEVICES);
    assert_eq!(u(group, "max_connected"), DEVICES, "{group}");
    assert_eq!(u(group, "connects"), DEVICES, "{group}");
    assert_eq!(u(group, "disconnects"), 0, "{group}");
    let rss = &report["server_rss"];
    assert_eq!(u(rss, "connections"), DEVICES, "{report}");
    assert_eq!(rss["pids"].as_array().unwrap().len(), 2);
    assert!(u(rss, "held_kb") > u(rss, "before_kb"), "{rss}");
}
