//! Groups across two gateway processes: send_to_group with exclude lists, leave, close and
//! ungroup, and every group query, driven by devices through `api_worker` and a `StandaloneApi`.
//!
//! Silence is checked with a fence, not a timer: after a send, one `send_to_all("fence")` on the
//! same link follows it, so a client left out must read `fence` as its very next line.

use gateway::ClientId;
use tests::api_cluster::{ApiCluster, Device};

const WORKER: &str = env!("CARGO_BIN_EXE_api_worker");

fn sorted(devices: &[&Device]) -> Vec<ClientId> {
    let mut v: Vec<ClientId> = devices.iter().map(|d| d.id).collect();
    v.sort();
    v
}

async fn fence(c: &ApiCluster, devices: &mut [&mut Device]) {
    assert!(c.api.send_to_all("fence", &[], &[]).await.is_empty());
    for d in devices.iter_mut() {
        assert_eq!(d.recv().await, "fence", "{} got more than it should", d.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_group_across_gateways_reaches_exactly_the_members_minus_the_excluded() {
    let c = ApiCluster::start(WORKER).await;
    let (mut m1, mut m2) = (c.on_a().await, c.on_a().await);
    let (mut m3, mut m4) = (c.on_b().await, c.on_b().await);
    let (mut out_a, mut out_b) = (c.on_a().await, c.on_b().await);
    let mut both = c.on_b().await;
    for d in [&mut m1, &mut m2, &mut m3, &mut m4, &mut both] {
        d.cmd("join room").await;
    }
    both.cmd("join other").await;

    // StandaloneApi: exclude one member on each gateway.
    let errors = c
        .api
        .send_to_group(&["room"], "api to room", &[m2.id, m4.id])
        .await;
    assert!(errors.is_empty(), "{errors:?}");
    for d in [&mut m1, &mut m3, &mut both] {
        assert_eq!(d.recv().await, "api to room");
    }
    fence(
        &c,
        &mut [
            &mut m1, &mut m2, &mut m3, &mut m4, &mut out_a, &mut out_b, &mut both,
        ],
    )
    .await;

    // A handler, excluding its own client.
    assert!(m1.cmd("togroup room from m1 exclude-self").await.is_empty());
    for d in [&mut m2, &mut m3, &mut m4, &mut both] {
        assert_eq!(d.recv().await, "from m1");
    }
    // Not excluded, the sender is a member like any other.
    assert_eq!(m3.cmd("togroup room from m3").await, ["from m3"]);
    for d in [&mut m1, &mut m2, &mut m4, &mut both] {
        assert_eq!(d.recv().await, "from m3");
    }
    fence(
        &c,
        &mut [
            &mut m1, &mut m2, &mut m3, &mut m4, &mut out_a, &mut out_b, &mut both,
        ],
    )
    .await;

    // Several groups at once: a member of both gets one copy.
    assert!(c
        .api
        .send_to_group(&["room", "other"], "to both groups", &[])
        .await
        .is_empty());
    for d in [&mut m1, &mut m2, &mut m3, &mut m4, &mut both] {
        assert_eq!(d.recv().await, "to both groups");
    }
    fence(
        &c,
        &mut [
            &mut m1, &mut m2, &mut m3, &mut m4, &mut out_a, &mut out_b, &mut both,
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_queries_merge_members_uids_counts_and_sessions_of_both_gateways() {
    let c = ApiCluster::start(WORKER).await;
    let (mut m1, mut m2) = (c.on_a().await, c.on_a().await);
    let (mut m3, mut m4) = (c.on_b().await, c.on_b().await);
    let _outsider = c.on_b().await;
    for d in [&mut m1, &mut m2, &mut m3, &mut m4] {
        d.cmd("join room").await;
    }
    m4.cmd("join other").await;
    m1.cmd("bind ua").await;
    m3.cmd("bind ub").await;
    m4.cmd("bind ub").await;
    m3.cmd("session role=\"lead\"").await;

    let groups = c.api.get_all_group_id_list().await;
    assert!(groups.complete);
    assert_eq!(groups.value, ["other", "room"]);
    let count = c.api.get_client_id_count_by_group("room").await;
    assert!(count.complete);
    assert_eq!(count.value, 4);
    assert_eq!(
        c.api.get_client_id_list_by_group("room").await.value,
        sorted(&[&m1, &m2, &m3, &m4])
    );
    let counts = c
        .api
        .get_client_count_by_groups(&["room", "other", "empty"])
        .await;
    assert!(counts.complete);
    assert_eq!(
        counts.value.into_iter().collect::<Vec<_>>(),
        [("empty".into(), 0), ("other".into(), 1), ("room".into(), 4)]
    );
    assert_eq!(
        c.api.get_uid_list_by_group("room").await.value,
        ["ua", "ub"]
    );
    assert_eq!(c.api.get_uid_count_by_group("room").await.value, 2);
    assert_eq!(c.api.get_uid_count_by_group("other").await.value, 1);

    let sessions = c.api.get_client_sessions_by_group("room").await;
    assert!(sessions.complete);
    assert_eq!(
        sessions.value.keys().copied().collect::<Vec<_>>(),
        sorted(&[&m1, &m2, &m3, &m4])
    );
    assert_eq!(sessions.value[&m3.id]["role"], "lead");
    assert!(sessions
        .value
        .values()
        .all(|s| s.contains_key("connected_at")));
    let other = c.api.get_client_sessions_by_group("other").await.value;
    assert_eq!(other.keys().copied().collect::<Vec<_>>(), [m4.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_or_closing_removes_a_member_and_ungroup_empties_the_group_on_every_gateway() {
    let c = ApiCluster::start(WORKER).await;
    let (mut a1, mut a2) = (c.on_a().await, c.on_a().await);
    let (mut b1, mut b2) = (c.on_b().await, c.on_b().await);
    let mut watcher = c.on_a().await;
    watcher.cmd("join watchers").await;
    for d in [&mut a1, &mut a2, &mut b1, &mut b2] {
        d.cmd("join g").await;
    }
    assert_eq!(c.api.get_client_id_count_by_group("g").await.value, 4);

    a1.cmd("leave g").await;
    assert_eq!(
        c.api.get_client_id_list_by_group("g").await.value,
        sorted(&[&a2, &b1, &b2])
    );

    // Closing unbinds the uid and leaves the groups; the close event still carries the uid.
    b1.cmd("bind carol").await;
    let b1_id = b1.id;
    drop(b1);
    let note = watcher.recv().await;
    assert!(
        note.starts_with(&format!("closed {b1_id} uid=carol session=")),
        "{note}"
    );
    assert_eq!(
        c.api.get_client_id_list_by_group("g").await.value,
        sorted(&[&a2, &b2]),
        "the gateway forgets the client before it tells the worker"
    );
    assert!(!c.api.is_uid_online("carol").await.value);

    // ungroup from a handler on A empties the group on B too.
    a2.cmd("ungroup g").await;
    let count = c.api.get_client_id_count_by_group("g").await;
    assert!(count.complete);
    assert_eq!(count.value, 0);
    assert_eq!(c.api.get_all_group_id_list().await.value, ["watchers"]);
    assert!(c.api.send_to_group(&["g"], "to g", &[]).await.is_empty());
    fence(&c, &mut [&mut a1, &mut a2, &mut b2, &mut watcher]).await;

    // A former member can join again (ungroup cleared its membership on its gateway too).
    b2.cmd("join g").await;
    a1.cmd("join g").await;
    assert_eq!(
        c.api.get_client_id_list_by_group("g").await.value,
        sorted(&[&a1, &b2])
    );

    // ungroup and leave_group / join_group from the StandaloneApi.
    assert!(c.api.ungroup("g").await.is_empty());
    c.api.join_group(a2.id, "h").await.unwrap();
    c.api.join_group(b2.id, "h").await.unwrap();
    c.api.leave_group(b2.id, "h").await.unwrap();
    assert!(c.api.sync().await.complete);
    assert_eq!(c.api.get_client_id_count_by_group("g").await.value, 0);
    assert_eq!(c.api.get_client_id_list_by_group("h").await.value, [a2.id]);
}
