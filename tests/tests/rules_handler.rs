//! The built-in `rules` handler through a real `devgate start` process: text rules answer,
//! a JSON device is bound to its uid, a GT06 tracker gets its acks and its IMEI as uid.

use std::time::Duration;
use tests::{LineClient, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rules_file() -> String {
    format!("{}/../examples/rules.toml", env!("CARGO_MANIFEST_DIR"))
}

fn config(data_dir: &std::path::Path, rules: &str) -> String {
    format!(
        "[register]\nlisten = \"127.0.0.1:0\"\n[gateway]\ninternal_listen = \"127.0.0.1:0\"\n\
         listeners = [{{ url = \"text://127.0.0.1:0\" }}, {{ url = \"gt06://127.0.0.1:0\" }}]\n\
         [worker]\nhandler = \"rules\"\nrules = \"{rules}\"\ndata_dir = \"{}\"\n",
        data_dir.display()
    )
}

async fn read_exactly(stream: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
        .await
        .expect("reply within 10 s")
        .expect("read");
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_handler_answers_binds_uids_and_acks_trackers() {
    let data = tempfile::tempdir().unwrap();
    let start = Proc::spawn("rules", "start", &config(data.path(), &rules_file()));
    let register = start.wait_addr("register").await;
    let text = start.wait_listener("text").await;
    let gt06 = start.wait_listener("gt06").await;

    let mut c = LineClient::connect(text).await;
    c.send("ping").await;
    assert_eq!(c.recv().await, "pong");
    c.send(r#"{"uid":"sensor-1","temp":21}"#).await;
    assert_eq!(c.recv().await, "ok sensor-1");
    c.send("anything else").await;
    assert_eq!(c.recv().await, "anything else");

    // A GT06 login gets its byte-exact ack, then a location gets its own.
    let mut tracker = tokio::net::TcpStream::connect(gt06).await.unwrap();
    let login = hex::decode("78780d01012345678901234500018cdd0d0a").unwrap();
    tracker.write_all(&login).await.unwrap();
    assert_eq!(
        hex::encode(read_exactly(&mut tracker, 10).await),
        "787805010001d9dc0d0a"
    );
    let location =
        hex::decode("78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a")
            .unwrap();
    tracker.write_all(&location).await.unwrap();
    assert_eq!(
        hex::encode(read_exactly(&mut tracker, 10).await),
        "787805120003903f0d0a"
    );

    // Both uids are online: the JSON device's (bound by a rule) and the tracker's IMEI (bound
    // by the gateway from the codec's login).
    let client = gateway::StandaloneApi::connect(vec![register.to_string()], "", "test");
    assert!(client.ready(1, Duration::from_secs(10)).await);
    let online = client
        .online_uids(&["sensor-1", "123456789012345", "nobody"])
        .await;
    assert!(online.complete);
    assert_eq!(online.value, ["123456789012345", "sensor-1"]);
}

#[tokio::test]
async fn check_config_reports_errors_of_the_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad-rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"x\"\nwhen = \"text ==\"\nactions = []\n",
    )
    .unwrap();
    let cfg = dir.path().join("devgate.toml");
    std::fs::write(&cfg, config(dir.path(), &rules.display().to_string())).unwrap();
    let out = std::process::Command::new(tests::process::devgate())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("worker.rules"), "{stderr}");
    assert!(stderr.contains("bad-rules.toml"), "{stderr}");
}

/// A register, a gateway with a text listener and a separate `rules-worker` process running the
/// example rules with `extra` `[worker]` keys, linked to it; the data dir lives as long as
/// the returned guard.
async fn split(extra: &str) -> (tests::Cluster, tests::Gateway, Proc, tempfile::TempDir) {
    use tests::cluster::{common_toml, SECRET};
    let cluster = tests::Cluster::start().await;
    let gw = cluster
        .gateway("gw", &["{ url = \"text://127.0.0.1:0\" }"], "")
        .await;
    let data = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "{}[worker]\nname = \"rules-worker\"\nhandler = \"rules\"\nrules = \"{}\"\ndata_dir = \"{}\"\n{extra}",
        common_toml(SECRET, cluster.register_addr),
        rules_file(),
        data.path().display()
    );
    let worker = Proc::spawn("rules-worker", "worker", &config);
    assert_eq!(worker.wait_announced("worker").await, "rules-worker");
    gw.wait_worker_linked("rules-worker", 1).await;
    (cluster, gw, worker, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_process_runs_the_rules_handler_of_its_config() {
    let (_cluster, gw, _worker, _data) = split("").await;
    let mut c = LineClient::connect(gw.listener(0)).await;
    // The example rules answer `ping` with `pong`; the echo handler would say `ping`.
    c.send("ping").await;
    assert_eq!(c.recv().await, "pong");
    c.send(r#"{"uid":"split-1","temp":20}"#).await;
    assert_eq!(c.recv().await, "ok split-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_process_serves_its_rules_counters_on_its_own_metrics_page() {
    use tests::scrape::{http, metrics_addr, sample_labelled};
    let (_cluster, gw, worker, _data) = split("metrics_listen = \"127.0.0.1:0\"\n").await;
    let metrics = metrics_addr(&worker.wait_announced("metrics").await);
    let labels = "worker=\"rules-worker\"";
    let (status, _, page) = http(metrics, "GET", "/metrics").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        sample_labelled(&page, "devgate_rules_events_total", labels),
        Some(0),
        "{page}"
    );
    // No gateway runs in this process: its counters are on the gateway's page, not here.
    assert!(!page.contains("devgate_accepted_total"), "{page}");

    let mut c = LineClient::connect(gw.listener(0)).await;
    c.send("ping").await;
    assert_eq!(c.recv().await, "pong");
    // The connect event and `ping` were handled before `pong` was sent.
    let (_, _, page) = http(metrics, "GET", "/metrics").await;
    let events = sample_labelled(&page, "devgate_rules_events_total", labels);
    assert!(events >= Some(2), "{page}");
}
