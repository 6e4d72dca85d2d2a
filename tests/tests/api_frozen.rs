//! A frozen gateway (SIGSTOP) never makes a query hang or silently shrink: the answer comes
//! back at its timeout, marked incomplete, naming that gateway, with the other gateway's part.

use gateway::client_id::GatewayKey;
use gateway::worker::ApiError;
use std::net::Ipv4Addr;
use std::time::Duration;
use tests::api_cluster::{devgate_cli, eventually, ApiCluster};
use tests::cluster::SECRET;
use tests::{Frozen, WAIT};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");
/// The query timeout while the gateway is frozen: short, but long enough for the healthy
/// gateway to answer on a busy machine. Every query runs at once, and the CLI runs together,
/// so the freeze stays well under the links' 20 s liveness limit (after which the register
/// would rightly drop the silent gateway from its list).
const SHORT: Duration = Duration::from_secs(3);
/// The CLI waits this long for the gateways, then as long again for the answers.
const CLI_WAIT: Duration = Duration::from_secs(5);

/// Bounds a call that must come back by itself (at its own timeout): a hang fails the test.
async fn returns<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("the query hung past its timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_gateway_makes_queries_return_incomplete_naming_it_with_the_other_answer_kept() {
    let c = ApiCluster::start(WORKER).await;
    let mut on_a = c.on_a().await;
    let mut on_b = c.on_b().await;
    on_a.cmd("bind eve").await;
    on_b.cmd("bind frank").await;
    on_a.cmd("join grp").await;
    on_b.cmd("join grp").await;
    let frozen_key = GatewayKey {
        ip: Ipv4Addr::LOCALHOST,
        port: c.b.internal.port(),
    };

    let frozen = Frozen::new(&c.b.proc);
    c.api.set_query_timeout(SHORT);

    // The CLI in another process asks at the same time: the freeze lasts as long as the
    // slowest of them, not their sum.
    let cli = |args: &'static [&'static str]| {
        devgate_cli("query", c.cluster.register_addr, SECRET, CLI_WAIT, args)
    };
    let (uids, count, online, clients, one, plain, json) = returns(async {
        tokio::join!(
            c.api.get_all_uid_list(),
            c.api.get_client_id_count_by_group("grp"),
            c.api.online_uids(&["eve", "frank"]),
            c.api.get_all_client_id_count(),
            c.api.is_online(on_b.id),
            cli(&["uids"]),
            cli(&["--json", "uids"]),
        )
    })
    .await;
    assert!(!uids.complete);
    assert_eq!(uids.missing, [frozen_key]);
    assert_eq!(uids.value, ["eve"]);
    assert_eq!((count.value, count.complete), (1, false));
    assert_eq!(count.missing, [frozen_key]);
    assert_eq!(online.value, ["eve"]);
    assert_eq!(online.missing, [frozen_key]);
    assert_eq!((clients.value, clients.complete), (1, false));
    // A question about one client of the frozen gateway is an error naming it, not a "no".
    assert_eq!(one, Err(ApiError::Timeout(frozen_key)));

    // The CLI: exit code 2, the gateway named, the rest printed.
    assert_eq!(plain.code, Some(2), "{plain:?}");
    assert_eq!(
        plain.stdout.trim_end(),
        format!("eve\n(incomplete: no answer from {frozen_key})")
    );
    assert_eq!(json.code, Some(2), "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"value": ["eve"], "complete": false, "missing": [frozen_key.to_string()]})
    );

    // Thawed, the same gateway answers again and the answers are whole.
    drop(frozen);
    let whole = eventually("the thawed gateway answers again", || async {
        let a = c.api.get_all_uid_list().await;
        a.complete.then_some(a.value)
    })
    .await;
    assert_eq!(whole, ["eve", "frank"]);
    assert!(c.api.is_online(on_b.id).await.unwrap());
    assert_eq!(on_b.whoami().await.0.as_deref(), Some("frank"));
}
