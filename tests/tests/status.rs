//! `devgate status` and `Api::gateway_status`: each gateway's live counts (clients, uids,
//! groups, traffic counters, held events, workers with their clients) over real processes,
//! plain and `--json`, and an incomplete answer when a gateway is frozen.

use gateway::client_id::GatewayKey;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tests::api_cluster::{devgate_cli, eventually, ApiCluster, CliRun};
use tests::cluster::SECRET;
use tests::{Frozen, WAIT};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

/// What one gateway's status must say in the scenario below.
struct Expected {
    clients: u64,
    uids: u64,
    groups: u64,
    messages_in: u64,
}

/// The counts a status answer gives for one gateway, or why it does not match `e` yet.
fn mismatch(status: &Value, e: &Expected) -> Option<String> {
    let got = (
        status["clients"].as_u64(),
        status["uids"].as_u64(),
        status["groups"].as_u64(),
        status["stats"]["messages_in"].as_u64(),
    );
    let want = (
        Some(e.clients),
        Some(e.uids),
        Some(e.groups),
        Some(e.messages_in),
    );
    if got != want {
        return Some(format!(
            "(clients, uids, groups, messages_in) {got:?} != {want:?}"
        ));
    }
    // Client assignments to workers are made as the connect events are routed.
    let workers = status["workers"].as_array()?;
    let sum: u64 = workers.iter().filter_map(|w| w["clients"].as_u64()).sum();
    (sum != e.clients).then(|| format!("workers' clients sum to {sum}: {workers:?}"))
}

/// Checks everything in one gateway's status that does not move once the scenario is done.
fn check_settled(key: &str, status: &Value, e: &Expected) {
    assert_eq!(mismatch(status, e), None, "{key}: {status:#}");
    assert_eq!(status["gateway"], key, "{status:#}");
    let mut names: Vec<&str> = status["workers"]
        .as_array()
        .expect("workers list")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    names.sort();
    // The standalone APIs (the test's, the CLI's) are not workers: they get no events.
    assert_eq!(names, ["w1", "w2"], "{status:#}");
    let stats = &status["stats"];
    assert_eq!(stats["accepted"].as_u64(), Some(e.clients), "{status:#}");
    // Every line a device sent was answered (echo or `ok`), besides each device's hello.
    assert!(
        stats["messages_out"].as_u64() >= Some(e.messages_in + e.clients),
        "{status:#}"
    );
    for quiet in [
        "protocol_errors",
        "skipped",
        "overflow_closes",
        "dropped_oldest",
        "heartbeat_closes",
        "refused_events",
    ] {
        assert_eq!(stats[quiet], 0, "{quiet}: {status:#}");
    }
    assert_eq!(status["held"], 0, "{status:#}");
    assert_eq!(status["held_overflows"], 0, "{status:#}");
    assert!(status["uptime_secs"].is_u64(), "{status:#}");
}

fn json_of(run: &CliRun) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {run:?}"))
}

/// The value of the line `  LABEL   VALUE` in a plain status block.
fn row<'a>(block: &'a str, label: &str) -> Option<&'a str> {
    block.lines().find_map(|l| {
        let rest = l.strip_prefix("  ")?.strip_prefix(label)?;
        // The label is followed by padding, not by more of a longer label.
        rest.starts_with("  ").then(|| rest.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devgate_status_reports_each_gateways_clients_uids_groups_counters_and_workers() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, mut a2, mut b1) = (c.on_a().await, c.on_a().await, c.on_b().await);
    // Gateway A: 2 clients, uid dave, group fleet, 5 lines in.
    a1.cmd("bind dave").await;
    for line in ["one", "two"] {
        a1.conn.send(line).await;
        assert_eq!(a1.recv().await, line);
    }
    a2.cmd("join fleet").await;
    a2.conn.send("three").await;
    assert_eq!(a2.recv().await, "three");
    // Gateway B: 1 client, uid erin, groups fleet and night, 4 lines in.
    b1.cmd("bind erin").await;
    b1.cmd("join fleet").await;
    b1.cmd("join night").await;
    b1.conn.send("hi").await;
    assert_eq!(b1.recv().await, "hi");

    let ka = a1.id.gateway();
    let kb = b1.id.gateway();
    assert_ne!(ka, kb);
    let expected: BTreeMap<String, Expected> = BTreeMap::from([
        (
            ka.to_string(),
            Expected {
                clients: 2,
                uids: 1,
                groups: 1,
                messages_in: 5,
            },
        ),
        (
            kb.to_string(),
            Expected {
                clients: 1,
                uids: 1,
                groups: 2,
                messages_in: 4,
            },
        ),
    ]);

    // The CLI in another process, --json: counters move asynchronously, so poll until they
    // all say what the devices did.
    let v = eventually("status --json reports what the devices did", || async {
        let run = c.cli("status", &["--json"]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let v = json_of(&run);
        let per_gateway = v["value"].as_object()?;
        let all_match = per_gateway.len() == expected.len()
            && expected
                .iter()
                .all(|(k, e)| per_gateway.get(k).is_some_and(|s| mismatch(s, e).is_none()));
        all_match.then_some(v)
    })
    .await;
    assert_eq!(v["complete"], true, "{v:#}");
    assert_eq!(v["missing"], json!([]), "{v:#}");
    for (key, e) in &expected {
        check_settled(key, &v["value"][key], e);
    }

    // The same through the API, in gateway order.
    let a = c.api.gateway_status().await;
    assert!(a.complete, "{a:?}");
    assert!(a.missing.is_empty(), "{a:?}");
    let keys: Vec<GatewayKey> = a.value.iter().map(|(k, _)| *k).collect();
    let mut sorted = vec![ka, kb];
    sorted.sort();
    assert_eq!(keys, sorted);
    for (key, status) in &a.value {
        let status = serde_json::to_value(status).expect("a status report is JSON");
        check_settled(&key.to_string(), &status, &expected[&key.to_string()]);
    }

    // Plain: one block per gateway, headed by its key, with aligned rows.
    let run = c.cli("status", &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let blocks: Vec<&str> = run.stdout.trim_end().split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{run:?}");
    for (key, e) in &expected {
        let head = format!("gateway {key} ");
        let block = blocks
            .iter()
            .find(|b| b.starts_with(&head))
            .unwrap_or_else(|| panic!("no block for {key}: {run:?}"));
        assert_eq!(
            row(block, "clients"),
            Some(&*e.clients.to_string()),
            "{block}"
        );
        assert_eq!(row(block, "uids"), Some(&*e.uids.to_string()), "{block}");
        assert_eq!(
            row(block, "groups"),
            Some(&*e.groups.to_string()),
            "{block}"
        );
        let inout = row(block, "messages in/out").expect("messages row");
        assert!(
            inout.starts_with(&format!("{} / ", e.messages_in)),
            "{block}"
        );
        assert_eq!(row(block, "protocol errors"), Some("0"), "{block}");
        assert_eq!(row(block, "overflow closes"), Some("0"), "{block}");
        assert_eq!(row(block, "held"), Some("0 (overflows 0)"), "{block}");
        let workers = row(block, "workers").expect("workers row");
        assert!(
            workers.contains("w1 (") && workers.contains("w2 ("),
            "{block}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devgate_status_with_a_frozen_gateway_exits_2_naming_it_and_shows_the_other() {
    // Short enough that the freeze stays well under the links' 20 s liveness limit, long
    // enough for the healthy gateway to answer on a busy machine (see api_frozen.rs).
    const SHORT: Duration = Duration::from_secs(3);
    const CLI_WAIT: Duration = Duration::from_secs(5);
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, b1) = (c.on_a().await, c.on_b().await);
    a1.cmd("bind dave").await;
    let (ka, kb) = (a1.id.gateway(), b1.id.gateway());

    let frozen = Frozen::new(&c.b.proc);
    c.api.set_query_timeout(SHORT);
    let cli = |args: &'static [&'static str]| {
        devgate_cli("status", c.cluster.register_addr, SECRET, CLI_WAIT, args)
    };
    // All at once, so the freeze lasts as long as the slowest, not their sum.
    let (api, plain, json) = tokio::time::timeout(WAIT, async {
        tokio::join!(c.api.gateway_status(), cli(&[]), cli(&["--json"]))
    })
    .await
    .expect("status hung past its timeout");
    drop(frozen);

    assert!(!api.complete, "{api:?}");
    assert_eq!(api.missing, [kb]);
    assert_eq!(api.value.len(), 1, "{api:?}");
    assert_eq!(api.value[0].0, ka);
    assert_eq!(api.value[0].1.uids, 1);

    assert_eq!(plain.code, Some(2), "{plain:?}");
    assert!(
        plain.stdout.starts_with(&format!("gateway {ka} ")),
        "{plain:?}"
    );
    assert!(
        plain
            .stdout
            .trim_end()
            .ends_with(&format!("(incomplete: no answer from {kb})")),
        "{plain:?}"
    );
    assert!(
        !plain.stdout.contains(&format!("gateway {kb}")),
        "{plain:?}"
    );

    assert_eq!(json.code, Some(2), "{json:?}");
    let v = json_of(&json);
    assert_eq!(v["complete"], false, "{v:#}");
    assert_eq!(v["missing"], json!([kb.to_string()]), "{v:#}");
    assert_eq!(v["value"][ka.to_string()]["clients"], 1, "{v:#}");
    assert!(v["value"].get(kb.to_string()).is_none(), "{v:#}");
}
