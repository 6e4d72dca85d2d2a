//! `devgate send` and `devgate query`: a StandaloneApi in a separate process pushes to devices
//! and reads counts, with plain and `--json` output, as the README documents.

use serde_json::Value;
use std::time::Duration;
use tests::api_cluster::{devgate_cli, ApiCluster, CliRun, Device};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

fn ok(run: CliRun) -> String {
    assert_eq!(run.code, Some(0), "{run:?}");
    run.stdout.trim_end().to_string()
}

fn json(run: CliRun) -> Value {
    let out = ok(run);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn lines(ids: &[&Device]) -> String {
    let mut v: Vec<String> = ids.iter().map(|d| d.id.to_string()).collect();
    v.sort();
    v.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devgate_send_from_another_process_reaches_a_client_a_uid_a_group_and_everyone() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, mut b1, mut b2) = (c.on_a().await, c.on_b().await, c.on_b().await);
    a1.cmd("bind dave").await;
    b1.cmd("bind dave").await;
    b1.cmd("join fleet").await;
    b2.cmd("join fleet").await;

    ok(c.cli("send", &["--uid", "dave", "cli to dave"]).await);
    assert_eq!(a1.recv().await, "cli to dave");
    assert_eq!(b1.recv().await, "cli to dave");
    let b2_id = b2.id.to_string();
    ok(c.cli("send", &["--client", &b2_id, "cli to b2"]).await);
    assert_eq!(b2.recv().await, "cli to b2");
    ok(c.cli("send", &["--group", "fleet", "cli to fleet"]).await);
    assert_eq!(b1.recv().await, "cli to fleet");
    assert_eq!(b2.recv().await, "cli to fleet");
    ok(c.cli("send", &["--all", "cli to all"]).await);
    for d in [&mut a1, &mut b1, &mut b2] {
        assert_eq!(d.recv().await, "cli to all", "{} missed a send", d.id);
    }

    let refused = c.cli("send", &["cli to nowhere"]).await;
    assert_ne!(
        refused.code,
        Some(0),
        "a send without a target: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devgate_query_from_another_process_reads_uids_groups_counts_and_sessions_plain_and_json() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, mut b1, mut b2) = (c.on_a().await, c.on_b().await, c.on_b().await);
    a1.cmd("bind dave").await;
    b1.cmd("bind dave").await;
    b2.cmd("bind erin").await;
    a1.cmd("join fleet").await;
    b2.cmd("join fleet").await;
    b2.cmd("session plate=\"XY-1\"").await;
    let all = lines(&[&a1, &b1, &b2]);

    assert_eq!(ok(c.cli("query", &["client-count"]).await), "3");
    assert_eq!(ok(c.cli("query", &["clients"]).await), all);
    assert_eq!(ok(c.cli("query", &["uid-count"]).await), "2");
    assert_eq!(ok(c.cli("query", &["uids"]).await), "dave\nerin");
    assert_eq!(ok(c.cli("query", &["groups"]).await), "fleet");
    assert_eq!(ok(c.cli("query", &["group-count", "fleet"]).await), "2");
    assert_eq!(
        ok(c.cli("query", &["group-clients", "fleet"]).await),
        lines(&[&a1, &b2])
    );
    assert_eq!(
        ok(c.cli("query", &["group-uids", "fleet"]).await),
        "dave\nerin"
    );
    assert_eq!(
        ok(c.cli("query", &["uid-clients", "dave"]).await),
        lines(&[&a1, &b1])
    );
    let b2_id = b2.id.to_string();
    assert_eq!(ok(c.cli("query", &["is-online", &b2_id]).await), "true");
    let session: Value =
        serde_json::from_str(&ok(c.cli("query", &["session", &b2_id]).await)).unwrap();
    assert_eq!(session["plate"], "XY-1");
    assert!(session["connected_at"].is_u64());
    let sessions: Value = serde_json::from_str(&ok(c.cli("query", &["sessions"]).await)).unwrap();
    assert_eq!(sessions.as_object().map(|m| m.len()), Some(3));
    assert_eq!(sessions[&b2_id]["plate"], "XY-1");

    // --json wraps every value with its completeness.
    let count = json(c.cli("query", &["--json", "uid-count"]).await);
    assert_eq!(
        count,
        serde_json::json!({"value": 2, "complete": true, "missing": []})
    );
    let members = json(c.cli("query", &["--json", "group-clients", "fleet"]).await);
    let mut expected = vec![a1.id.to_string(), b2_id.clone()];
    expected.sort();
    assert_eq!(members["value"], serde_json::json!(expected));
    assert_eq!(members["complete"], true);
    let sessions = json(c.cli("query", &["--json", "sessions"]).await);
    assert_eq!(sessions["value"][&b2_id]["plate"], "XY-1");
    let online = json(c.cli("query", &["--json", "is-online", &b2_id]).await);
    assert_eq!(online["value"], true);

    // The devices' own view agrees with the CLI's.
    assert_eq!(b1.whoami().await.0.as_deref(), Some("dave"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devgate_query_with_the_wrong_secret_is_refused_and_says_why() {
    let c = ApiCluster::start(WORKER).await;
    // With the wrong secret the CLI always waits this long, but the refusal it must report
    // needs a handshake round trip with the register first, which a loaded machine may take a
    // while to make: the handshake's own limit, not 1 s.
    let run = devgate_cli(
        "query",
        c.cluster.register_addr,
        "not-the-secret",
        Duration::from_secs(5),
        &["client-count"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr.contains("no gateway list from the register"),
        "{run:?}"
    );
    assert!(run.stderr.contains("the secrets differ"), "{run:?}");
}
