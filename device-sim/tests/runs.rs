//! The device-sim binary against its own echo server over real sockets on 127.0.0.1 (and
//! ::1): clean runs report no loss on every protocol, TLS and WebSocket work, results from
//! several processes merge exactly, idle runs measure the server, scenarios run.

mod common;

use common::{run_json, u, Server};

fn assert_clean(group: &serde_json::Value) {
    assert!(u(group, "sent") > 0, "{group}");
    assert_eq!(u(group, "received"), u(group, "sent"), "{group}");
    for key in [
        "lost",
        "lost_in_disconnect",
        "late",
        "duplicated",
        "out_of_order",
        "corrupted",
        "connect_errors",
        "disconnects",
        "reconnects",
    ] {
        assert_eq!(u(group, key), 0, "{key} in {group}");
    }
    assert_eq!(u(&group["latency_us"], "count"), u(group, "received"));
}

#[test]
fn a_closed_loop_run_against_the_plain_echo_server_loses_nothing() {
    for proto in ["text", "frame"] {
        let server = Server::start("127.0.0.1:0", &["--proto", proto]);
        let report = run_json(&[
            "run",
            "--target",
            &server.addr.to_string(),
            "--proto",
            proto,
            "--devices",
            "20",
            "--depth",
            "8",
            "--duration",
            "1s",
            "--payload",
            "100",
        ]);
        let group = &report["groups"][0];
        assert_clean(group);
        assert_eq!(u(group, "max_connected"), 20);
        assert_eq!(u(&report, "shards"), 1);
    }
}

#[test]
fn devices_and_the_echo_server_work_over_ipv6() {
    let server = Server::start("[::1]:0", &[]);
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    let report = run_json(&[
        "run",
        "--target",
        &server.addr.to_string(),
        "--devices",
        "10",
        "--depth",
        "4",
        "--duration",
        "1s",
    ]);
    let group = &report["groups"][0];
    assert_clean(group);
    assert_eq!(u(group, "max_connected"), 10);
}

#[test]
fn a_fixed_rate_run_never_sends_ahead_of_its_schedule() {
    let server = Server::start("127.0.0.1:0", &[]);
    let report = run_json(&[
        "run",
        "--target",
        &server.addr.to_string(),
        "--devices",
        "10",
        "--rate",
        "50/s",
        "--duration",
        "1s",
    ]);
    let group = &report["groups"][0];
    assert_clean(group);
    // 10 devices at 50/s for the run's length (plus the first tick of each) at most.
    let elapsed = report["elapsed_secs"].as_f64().unwrap();
    assert!(
        u(group, "sent") as f64 <= 10.0 * (50.0 * elapsed + 1.0),
        "{report}"
    );
}

#[test]
fn websocket_devices_talk_to_a_websocket_echo_server() {
    let server = Server::start("127.0.0.1:0", &["--proto", "websocket"]);
    let report = run_json(&[
        "run",
        "--target",
        &server.addr.to_string(),
        "--proto",
        "websocket",
        "--devices",
        "5",
        "--depth",
        "4",
        "--duration",
        "1s",
    ]);
    assert_clean(&report["groups"][0]);
}

#[test]
fn tls_devices_trust_a_given_ca_or_any_certificate_with_insecure() {
    let dir = common::temp_dir("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start("127.0.0.1:0", &["--tls-cert", cert, "--tls-key", key]);
    let target = server.addr.to_string();

    let insecure = run_json(&[
        "run",
        "--target",
        &target,
        "--tls",
        "--insecure",
        "--devices",
        "4",
        "--depth",
        "4",
        "--duration",
        "1s",
    ]);
    assert_clean(&insecure["groups"][0]);

    let verified = run_json(&[
        "run",
        "--target",
        &target,
        "--tls",
        "--ca",
        cert,
        "--server-name",
        "localhost",
        "--devices",
        "4",
        "--depth",
        "4",
        "--duration",
        "1s",
    ]);
    assert_clean(&verified["groups"][0]);

    // The certificate is for `localhost`, so a different name fails every connect. A connect
    // still under way when the run ends is not counted, so the run outlasts the connect
    // timeout: at least the first attempt ends, refused or timed out, on a loaded machine too.
    let refused = run_json(&[
        "run",
        "--target",
        &target,
        "--tls",
        "--ca",
        cert,
        "--server-name",
        "example.test",
        "--devices",
        "2",
        "--duration",
        "2s",
        "--connect-timeout",
        "1s",
    ]);
    let group = &refused["groups"][0];
    assert_eq!(u(group, "connects"), 0, "{group}");
    assert!(u(group, "connect_errors") > 0, "{group}");
}

#[test]
fn a_run_split_over_processes_merges_counts_and_histograms_exactly() {
    let server = Server::start("127.0.0.1:0", &[]);
    let report = run_json(&[
        "run",
        "--target",
        &server.addr.to_string(),
        "--devices",
        "60",
        "--depth",
        "2",
        "--duration",
        "1s",
        "--max-per-process",
        "25",
        "--timeline",
    ]);
    assert_eq!(u(&report, "shards"), 3);
    let group = &report["groups"][0];
    assert_clean(group);
    assert_eq!(u(group, "devices"), 60);
    assert_eq!(u(group, "connects"), 60);
    assert!(!group["timeline"].as_array().unwrap().is_empty());
}

#[test]
fn idle_devices_hold_their_connections_and_the_servers_memory_is_reported() {
    let server = Server::start("127.0.0.1:0", &[]);
    let report = run_json(&[
        "idle",
        "--target",
        &server.addr.to_string(),
        "--devices",
        "300",
        "--duration",
        "1500ms",
        "--server-pid",
        &server.pid().to_string(),
    ]);
    let group = &report["groups"][0];
    assert_eq!(u(group, "max_connected"), 300);
    assert_eq!(u(group, "disconnects"), 0);
    assert_eq!(u(group, "sent"), 0);
    let rss = &report["server_rss"];
    assert_eq!(u(rss, "connections"), 300, "{report}");
    assert_eq!(rss["pids"][0].as_u64(), Some(u64::from(server.pid())));
    assert!(u(rss, "held_kb") >= u(rss, "before_kb"), "{rss}");
}

#[test]
fn the_example_scenario_runs_its_groups_side_by_side() {
    let server = Server::start("127.0.0.1:0", &[]);
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/fleet-scenario.toml"
    );
    let report = run_json(&[
        "scenario",
        example,
        "--target",
        &server.addr.to_string(),
        "--duration",
        "1s",
    ]);
    let groups = report["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["trackers", "concentrators", "sleepers"]);
    for g in groups {
        assert_eq!(u(g, "max_connected"), u(g, "devices"), "{g}");
        assert_eq!(u(g, "received"), u(g, "sent"), "{g}");
        assert_eq!(
            u(g, "corrupted") + u(g, "lost") + u(g, "duplicated"),
            0,
            "{g}"
        );
    }
    assert!(u(&groups[1], "received") > 0);
    assert_eq!(u(&report["total"], "devices"), 1520);
}

#[test]
fn bad_flags_are_refused_with_a_reason() {
    let out = std::process::Command::new(common::exe())
        .args([
            "run",
            "--target",
            "127.0.0.1:1",
            "--devices",
            "1",
            "--payload",
            "10",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 51 bytes"), "{stderr}");
}
