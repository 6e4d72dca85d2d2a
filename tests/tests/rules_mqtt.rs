//! The quick start's rules and MQTT bridge through real `devgate start` processes and a real
//! broker (in-process rumqttd on an ephemeral port, or DEVGATE_TEST_MQTT): device data reaches
//! an MQTT subscriber, MQTT commands reach devices (a text line, a GT06 0x80 command), a
//! command for an offline uid is dropped, and without `[worker.mqtt]` publishes are skipped.
//!
//! The processes run `examples/quickstart*.toml` themselves, with only the ports (ephemeral),
//! the broker, the MQTT client id, the rules path (absolute) and the data dir replaced.

// The rules crate's MQTT test harness: the broker (DEVGATE_TEST_MQTT or rumqttd), a recording
// subscriber, a QoS 1 publisher, random names so runs sharing a broker never share topics.
#[path = "../../rules/tests/common/mod.rs"]
mod common;
#[path = "rules_mqtt/config.rs"]
mod config;
#[path = "rules_mqtt/gt06.rs"]
mod gt06;

use common::{eventually, publish, unique, Subscriber};
use config::{example_config, repo};
use gt06::{gt06_login, random_imei, read_exactly, LOCATION, LOCATION_ACK, RELAY_COMMAND};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tests::api_cluster::devgate_cli;
use tests::scrape::{http, metrics_addr, sample};
use tests::{LineClient, Proc, Read};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// `devgate start` on an example config; returns the process and its text and gt06 listeners.
async fn start(name: &str, data_dir: &Path) -> (Proc, std::net::SocketAddr, std::net::SocketAddr) {
    let p = Proc::spawn(name, "start", &example_config(name, data_dir));
    let text = p.wait_listener("text").await;
    let gt06 = p.wait_listener("gt06").await;
    p.wait_announced("worker").await;
    (p, text, gt06)
}

/// The first message `sub` received (topic, JSON payload); panics when none arrives in time.
async fn first(sub: &Subscriber) -> (String, Value) {
    let secs = tests::WAIT.as_secs();
    assert!(
        eventually(secs, || !sub.got.lock().unwrap().is_empty()).await,
        "no MQTT message in {secs} s"
    );
    sub.got.lock().unwrap()[0].clone()
}

/// A new device on the text listener `text` sends a hot reading under a fresh uid and gets its
/// `ok`; returns the uid, the device, and the alert the rules published for it.
async fn hot_reading(
    text: std::net::SocketAddr,
) -> (String, LineClient<TcpStream>, (String, Value)) {
    let uid = unique("sensor");
    let alerts = Subscriber::start(&format!("devices/{uid}/#")).await;
    let mut device = LineClient::connect(text).await;
    device
        .send(&format!(r#"{{"uid":"{uid}","temp":75}}"#))
        .await;
    assert_eq!(device.recv().await, format!("ok {uid}"));
    let alert = first(&alerts).await;
    (uid, device, alert)
}

/// Publishes `command` on `topic` until `received` sees something: the bridge subscribes on its
/// own after connecting, and a command published before that is (rightly) lost.
async fn command_until<T, F>(topic: &str, command: &str, mut received: F) -> T
where
    F: AsyncFnMut() -> Option<T>,
{
    for _ in 0..10 {
        publish(topic, command.as_bytes()).await;
        if let Some(got) = received().await {
            return got;
        }
    }
    panic!("{command:?} on {topic} never reached the device");
}

#[test]
fn crc_and_login_builder_match_the_captured_login() {
    assert_eq!(
        hex::encode(gt06_login("123456789012345")),
        "78780d01012345678901234500018cdd0d0a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_device_publishes_to_mqtt_and_gets_commands_and_offline_ones_are_dropped() {
    let data = tempfile::tempdir().unwrap();
    let (devgate, text, _) = start("quickstart-mqtt.toml", data.path()).await;
    // Uplink: a hot reading binds the uid and the alert rule publishes it.
    let (uid, mut device, (topic, msg)) = hot_reading(text).await;
    assert_eq!(topic, format!("devices/{uid}/alert"));
    assert_eq!(msg["uid"], Value::from(uid.as_str()), "{msg}");
    assert_eq!(msg["temp"].as_f64(), Some(75.0), "{msg}");
    assert_eq!(msg["alert"], "temp", "{msg}");
    assert!(msg["time"].is_u64() && msg["msg_id"].is_u64(), "{msg}");

    // Downlink: a command on devices/<uid>/down arrives as a text line.
    let down = format!("devices/{uid}/down");
    let got = command_until(&down, "reboot", async || {
        match device.read_within(Duration::from_secs(2)).await {
            Read::Got(line) => Some(line),
            Read::Closed => panic!("device closed"),
            Read::Nothing => None,
        }
    })
    .await;
    assert_eq!(got, "reboot");

    // Offline policy "drop": a command for a uid nobody holds is not kept for later. Each
    // publish returns on its PubAck, so the broker routed the first before the marker was
    // sent: once the marker is delivered, the bridge has handled the first command too.
    let later = unique("sensor");
    publish(&format!("devices/{later}/down"), b"while-offline").await;
    publish(&down, b"marker").await;
    loop {
        match device.read_within(tests::WAIT).await {
            Read::Got(l) if l == "marker" => break,
            Read::Got(l) if l == "reboot" => {} // a retry of command_until's
            other => panic!("expected the marker, got {other:?}"),
        }
    }
    let mut second = LineClient::connect(text).await;
    second
        .send(&format!(r#"{{"uid":"{later}","temp":20}}"#))
        .await;
    // The rule binds the uid, then replies: a command delivered between the two would come
    // before the reply. Publish only once the reply is here, so the uid is surely bound.
    let ok = format!("ok {later}");
    let mut before = Vec::new();
    while before.last() != Some(&ok) {
        before.push(second.recv().await);
    }
    let got = command_until(&format!("devices/{later}/down"), "online-now", async || {
        loop {
            match second.read_within(Duration::from_secs(2)).await {
                Read::Got(l) if l == "online-now" => return Some(l),
                Read::Got(l) => before.push(l),
                Read::Closed => panic!("device closed"),
                Read::Nothing => return None,
            }
        }
    })
    .await;
    assert_eq!(got, "online-now");
    assert_eq!(before, [ok], "a dropped command came back");
    drop(devgate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gt06_location_reaches_mqtt_and_an_mqtt_command_reaches_the_tracker_as_0x80() {
    let data = tempfile::tempdir().unwrap();
    let (devgate, _, gt06) = start("quickstart-mqtt.toml", data.path()).await;
    let imei = random_imei();
    let locations = Subscriber::start(&format!("devices/{imei}/location")).await;

    let mut tracker = TcpStream::connect(gt06).await.unwrap();
    let login = gt06_login(&imei);
    tracker.write_all(&login).await.unwrap();
    let ack = read_exactly(&mut tracker, 10).await;
    assert_eq!(&ack[..4], [0x78, 0x78, 0x05, 0x01], "login ack");
    tracker
        .write_all(&hex::decode(LOCATION).unwrap())
        .await
        .unwrap();
    assert_eq!(
        hex::encode(read_exactly(&mut tracker, 10).await),
        LOCATION_ACK
    );

    let (topic, msg) = first(&locations).await;
    assert_eq!(topic, format!("devices/{imei}/location"));
    assert_eq!(msg["uid"], Value::from(imei.as_str()), "{msg}");
    let near = |v: &Value, want: f64| v.as_f64().is_some_and(|x| (x - want).abs() < 1e-5);
    assert!(near(&msg["lat"], 54.945347), "{msg}");
    assert!(near(&msg["lon"], 24.017622), "{msg}");
    assert_eq!(msg["speed"].as_f64(), Some(0.0), "{msg}");
    let time = msg["time"].as_str().unwrap_or_default();
    assert!(time.starts_with("2015-10-20T14:21:11"), "{msg}");
    assert!(msg["msg_id"].is_u64(), "{msg}");

    // `Relay,1#` on devices/<imei>/down is the tracker's first command: Traccar's exact frame.
    let frame = command_until(&format!("devices/{imei}/down"), "Relay,1#", async || {
        gt06::read_within(
            &mut tracker,
            RELAY_COMMAND.len() / 2,
            Duration::from_secs(2),
        )
        .await
    })
    .await;
    assert_eq!(hex::encode(frame), RELAY_COMMAND);
    drop(devgate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_worker_mqtt_publishes_are_skipped_and_logged_once() {
    let data = tempfile::tempdir().unwrap();
    let (devgate, text, gt06) = start("quickstart.toml", data.path()).await;
    devgate
        .wait_log(&["no [worker.mqtt]: publish actions are skipped"], 1)
        .await;

    // Rules that publish still answer: the hot reading's reply, the tracker's acks, echoes.
    let uid = unique("sensor");
    let mut device = LineClient::connect(text).await;
    for _ in 0..3 {
        device
            .send(&format!(r#"{{"uid":"{uid}","temp":90}}"#))
            .await;
        assert_eq!(device.recv().await, format!("ok {uid}"));
    }
    let mut tracker = TcpStream::connect(gt06).await.unwrap();
    tracker
        .write_all(&gt06_login(&random_imei()))
        .await
        .unwrap();
    read_exactly(&mut tracker, 10).await;
    for _ in 0..3 {
        let location = hex::decode(LOCATION).unwrap();
        tracker.write_all(&location).await.unwrap();
        assert_eq!(
            hex::encode(read_exactly(&mut tracker, 10).await),
            LOCATION_ACK
        );
    }
    device.send("still echoing").await;
    assert_eq!(device.recv().await, "still echoing");
    // The quick start's other listeners echo through the rules too.
    let mut frame = tests::FrameClient::connect(devgate.wait_listener("frame").await).await;
    frame.send(b"framed hello").await;
    assert_eq!(frame.recv().await, b"framed hello");
    let ws = devgate.wait_listener("websocket").await;
    let mut ws = tests::WsClient::connect(ws, "/").await;
    ws.send("ws hello").await;
    assert_eq!(ws.recv().await, "ws hello");
    assert_eq!(
        devgate.log_lines(&["publish"]).len(),
        1,
        "{}",
        devgate.stderr()
    );
}

/// Scrapes the metrics page until every `(metric, at least)` holds for `gateway`; returns it.
async fn page_with(metrics: std::net::SocketAddr, gateway: &str, want: &[(&str, u64)]) -> String {
    let what = format!("the metrics page shows {want:?}");
    tests::api_cluster::eventually(&what, || async {
        let (_, _, page) = http(metrics, "GET", "/metrics").await;
        want.iter()
            .all(|(name, min)| sample(&page, name, gateway).is_some_and(|v| v >= *min))
            .then_some(page)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_the_metrics_page_show_the_rules_pipelines_and_the_bridges_counters_moving() {
    let data = tempfile::tempdir().unwrap();
    let config = example_config("quickstart-mqtt.toml", data.path()).replacen(
        "[gateway]\n",
        "[gateway]\nmetrics_listen = \"127.0.0.1:0\"\n",
        1,
    );
    let devgate = Proc::spawn("counters", "start", &config);
    let text = devgate.wait_listener("text").await;
    let register = devgate.wait_addr("register").await;
    let gateway = devgate.wait_addr("internal").await.to_string();
    let metrics = metrics_addr(&devgate.wait_announced("metrics").await);
    devgate.wait_announced("worker").await;

    // Before any event: the pipeline's and the bridge's samples are there, at zero.
    let (_, _, before) = http(metrics, "GET", "/metrics").await;
    for name in ["devgate_rules_events_total", "devgate_mqtt_acked_total"] {
        assert_eq!(
            sample(&before, name, &gateway),
            Some(0),
            "{name}:\n{before}"
        );
    }
    assert!(
        before.contains("# TYPE devgate_mqtt_outbox_len gauge\n"),
        "{before}"
    );

    // A hot reading: the rules handle it (rules_events) and publish an alert that the broker
    // acknowledges (mqtt_published, mqtt_acked) and the subscriber receives.
    hot_reading(text).await;
    let want = [
        ("devgate_rules_events_total", 2), // the connect event and the reading
        ("devgate_rules_published_total", 1),
        ("devgate_mqtt_published_total", 1),
        ("devgate_mqtt_acked_total", 1),
    ];
    let page = page_with(metrics, &gateway, &want).await;
    assert!(
        page.contains("# HELP devgate_rules_events_total Events handled by the rules pipeline.\n"),
        "{page}"
    );

    // `devgate status` reads the same registry: JSON keys and plain rows.
    let wait = Duration::from_secs(5);
    let run = devgate_cli("status", register, "", wait, &["--json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("status --json is JSON");
    let stats = &v["value"][&gateway]["stats"];
    for (key, min) in [
        ("rules_events", 2),
        ("rules_published", 1),
        ("mqtt_published", 1),
        ("mqtt_acked", 1),
        ("mqtt_outbox_len", 0),
        ("accepted", 1),
    ] {
        assert!(stats[key].as_u64() >= Some(min), "{key}: {v:#}");
    }
    let run = devgate_cli("status", register, "", wait, &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for row in [
        "  rules events  ",
        "  mqtt acked  ",
        "  mqtt downlink dropped offline  ",
    ] {
        assert!(run.stdout.contains(row), "{row:?}:\n{}", run.stdout);
    }
    drop(devgate);
}

#[test]
fn the_example_rules_pass_their_tests_through_devgate_test_rules() {
    let out = Command::new(tests::process::devgate())
        .args(["test-rules", "examples/rules.toml"])
        .current_dir(repo())
        .output()
        .expect("run devgate test-rules");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases = std::fs::read_to_string(repo().join("examples/rules.test.toml"))
        .unwrap()
        .lines()
        .filter(|l| l.trim() == "[[test]]")
        .count();
    assert!(cases > 0);
    let summary = format!("rule tests ok: {cases} passed, 0 failed, 0 errors");
    assert!(stdout.contains(&summary), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_at_once_at_the_default_level() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let broker = format!("mqtt://{closed}");
    let text = example_config("quickstart-mqtt.toml", data.path())
        .lines()
        .map(|l| match l.starts_with("broker = ") {
            true => format!("broker = \"{broker}\""),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let p = Proc::spawn("unreachable-broker", "start", &text);
    p.wait_log(&["WARN", "cannot reach the MQTT broker", &broker], 1)
        .await;
}
