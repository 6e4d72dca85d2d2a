//! Issue 5 end to end: a real gateway with gt06, jt808, teltonika and text listeners, a
//! register, and the `family_worker` (src/bin/family_worker.rs) in its own process. For each
//! family a simulated device logs in and gets its ack byte for byte, sends locations and gets
//! their acks; the worker's handler reports what it saw (uid, protocol, decoded fields) to a
//! watcher on the text listener; then `devgate send --uid` from another process reaches the
//! device as its family's command, byte for byte.
//!
//! Device frames are captured vectors or built by `families/frames.rs` (its own CRC, XOR and
//! escaping, checked against captured frames), never by the codecs under test.

#[path = "families/frames.rs"]
mod frames;

use frames::*;
use serde_json::Value;
use std::path::Path;
use tests::api_cluster::{devgate_cli, worker_config, Program, QUERY_TIMEOUT};
use tests::cluster::{Cluster, Gateway, SECRET, TEXT};
use tests::{LineClient, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WORKER: &str = env!("CARGO_BIN_EXE_family_worker");

/// Listener order of the gateway: text, then one per family.
const LISTENERS: [&str; 4] = [
    TEXT,
    r#"{ url = "gt06://127.0.0.1:0" }"#,
    r#"{ url = "jt808://127.0.0.1:0" }"#,
    r#"{ url = "teltonika://127.0.0.1:0" }"#,
];

/// The commands every device gets, in order: the second has bytes JT/T 808 must escape.
const COMMANDS: [&str; 2] = ["Relay,1#", "say ~} now"];

/// Register, gateway, `family_worker` and a watcher that has joined the report group.
struct Setup {
    cluster: Cluster,
    gateway: Gateway,
    _worker: Program,
    watcher: LineClient<TcpStream>,
}

impl Setup {
    async fn start() -> Setup {
        let cluster = Cluster::start().await;
        let gateway = cluster.gateway("g", &LISTENERS, "").await;
        let config = worker_config(cluster.register_addr, "fw");
        let mut worker = Program::spawn("fw", Path::new(WORKER), &[], &config);
        assert_eq!(worker.wait_announced("worker").await, "fw");
        gateway.wait_worker_linked("fw", 1).await;
        let mut watcher = LineClient::connect(gateway.listener(0)).await;
        watcher.send("watch").await;
        assert_eq!(watcher.recv().await, "watching");
        Setup {
            cluster,
            gateway,
            _worker: worker,
            watcher,
        }
    }

    /// A device connected to the listener of `protocol`.
    async fn device(&self, protocol: &str) -> Tracker {
        let i = match protocol {
            "gt06" => 1,
            "jt808" => 2,
            _ => 3,
        };
        Tracker {
            stream: tests::clients::tcp(self.gateway.listener(i)).await,
        }
    }

    /// The handler's next report: asserts its event, uid and protocol; returns it.
    async fn report(&mut self, event: &str, uid: &str, protocol: &str) -> Value {
        let line = self.watcher.recv().await;
        let r: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("report {line:?}: {e}"));
        assert_eq!(r["event"], event, "{r}");
        assert_eq!(r["uid"], uid, "the handler's cx.uid: {r}");
        assert_eq!(r["protocol"], protocol, "the connect event's protocol: {r}");
        r
    }

    /// The handler's next report, a message of `kind`: returns its decoded fields.
    async fn message(&mut self, kind: &str, uid: &str, protocol: &str) -> Value {
        let r = self.report("message", uid, protocol).await;
        let fields = &r["fields"];
        assert_eq!(fields["protocol"], protocol, "{r}");
        assert_eq!(fields["kind"], kind, "{r}");
        fields.clone()
    }

    /// Asserts `uid` is bound to exactly the connection the handler reported (`client`).
    async fn assert_bound(&self, uid: &str, client: &Value) {
        let run = self.cli("query", &["uid-clients", uid]).await;
        assert_eq!(run.trim_end(), client.as_str().expect("client id"), "{uid}");
    }

    /// Runs the `devgate` CLI against the register; asserts it succeeded; returns stdout.
    async fn cli(&self, sub: &str, args: &[&str]) -> String {
        let run = devgate_cli(sub, self.cluster.register_addr, SECRET, QUERY_TIMEOUT, args).await;
        assert_eq!(run.code, Some(0), "devgate {sub} {args:?}: {run:?}");
        run.stdout
    }

    /// Sends each of [`COMMANDS`] to `uid` with `devgate send` and asserts `device` receives
    /// `expected(command number, text)`, byte for byte.
    async fn downlinks(
        &self,
        uid: &str,
        device: &mut Tracker,
        expected: impl Fn(u16, &str) -> Vec<u8>,
    ) {
        for (serial, text) in (0u16..).zip(COMMANDS) {
            self.cli("send", &["--uid", uid, text]).await;
            device.expect(&expected(serial, text)).await;
        }
    }
}

/// A simulated device: a plain TCP socket.
struct Tracker {
    stream: TcpStream,
}

impl Tracker {
    async fn send(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).await.expect("device write");
    }

    async fn send_hex(&mut self, frame: &str) {
        self.send(&hex::decode(frame).expect("hex frame")).await;
    }

    /// Reads as many bytes as `want` has and asserts they are `want`; returns them.
    async fn expect(&mut self, want: &[u8]) -> Vec<u8> {
        let mut got = vec![0u8; want.len()];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut got))
            .await
            .unwrap_or_else(|_| panic!("no {} within {WAIT:?}", hex::encode(want)))
            .expect("device read");
        assert_eq!(hex::encode(&got), hex::encode(want));
        got
    }

    async fn expect_hex(&mut self, want: &str) -> Vec<u8> {
        self.expect(&hex::decode(want).expect("hex")).await
    }
}

/// A fix as a vector gives it: UTC time, degrees rounded to `places` decimals, km/h.
struct Fix {
    time: &'static str,
    lat: f64,
    lon: f64,
    places: i32,
    speed: f64,
}

/// Asserts the decoded fields hold `fix`: the degrees within the vector's rounding.
fn assert_fix(fields: &Value, fix: Fix) {
    assert_eq!(fields["time"], fix.time, "{fields}");
    let num = |k: &str| {
        fields[k]
            .as_f64()
            .unwrap_or_else(|| panic!("no {k}: {fields}"))
    };
    let half_unit = 0.5 * 10f64.powi(-fix.places) + 1e-12;
    assert!(
        (num("latitude") - fix.lat).abs() <= half_unit,
        "latitude: {fields}"
    );
    assert!(
        (num("longitude") - fix.lon).abs() <= half_unit,
        "longitude: {fields}"
    );
    assert_eq!(num("speed"), fix.speed, "speed: {fields}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gt06_tracker_logs_in_reports_locations_and_gets_0x80_commands() {
    const IMEI: &str = "864717003283581";
    let mut s = Setup::start().await;
    let mut t = s.device("gt06").await;

    t.send_hex(GT06_LOGIN).await;
    t.expect_hex(GT06_LOGIN_ACK).await;
    let client = s.report("identity", IMEI, "gt06").await["client"].clone();
    let login = s.message("login", IMEI, "gt06").await;
    assert_eq!(login["device_id"], IMEI);

    t.send_hex(GT06_LOCATION_A).await;
    t.expect_hex(GT06_LOCATION_A_ACK).await;
    let f = s.message("location", IMEI, "gt06").await;
    assert_fix(
        &f,
        Fix {
            time: "2015-10-20T14:21:11Z",
            lat: 54.945347,
            lon: 24.017622,
            places: 6,
            speed: 0.0,
        },
    );
    t.send_hex(GT06_LOCATION_B).await;
    t.expect_hex(GT06_LOCATION_B_ACK).await;
    let f = s.message("location", IMEI, "gt06").await;
    assert_fix(
        &f,
        Fix {
            time: "2017-08-25T17:02:22Z",
            lat: 27.463709,
            lon: 76.04256,
            places: 6,
            speed: 85.0,
        },
    );
    assert_eq!(f["course"], 200);

    s.assert_bound(IMEI, &client).await;
    // The codec numbers its own frames from 0 per connection; acks are not counted.
    s.downlinks(IMEI, &mut t, |serial, text| gt06_command(text, serial))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jt808_terminal_registers_authenticates_reports_and_gets_0x8300_text() {
    let phone = JT808_PHONE;
    let mut s = Setup::start().await;
    let mut t = s.device("jt808").await;

    t.send_hex(JT808_REGISTER).await;
    let reply = t.expect_hex(JT808_REGISTER_ACK).await;
    let client = s.report("identity", phone, "jt808").await["client"].clone();
    s.message("register", phone, "jt808").await;

    // The terminal authenticates with the code the platform issued.
    let code = jt808_auth_code(&reply);
    t.send(&jt808_frame(0x0102, phone, 6, code.as_bytes()))
        .await;
    t.expect(&jt808_ack(phone, 6, 0x0102)).await;
    let auth = s.message("auth", phone, "jt808").await;
    assert_eq!(auth["details"]["auth_code"], code.as_str(), "{auth}");

    let body = hex::decode(JT808_LOCATION_BODY).unwrap();
    t.send(&jt808_frame(0x0200, phone, 7, &body)).await;
    t.expect(&jt808_ack(phone, 7, 0x0200)).await;
    let f = s.message("location", phone, "jt808").await;
    // The terminal's clock is Beijing time (the codec's default): 07:21:21 GMT+8.
    assert_fix(
        &f,
        Fix {
            time: "2015-08-17T23:21:21Z",
            lat: 22.6426,
            lon: 114.032984,
            places: 6,
            speed: 0.0,
        },
    );
    assert_eq!((&f["course"], &f["altitude"]), (&8.into(), &128.into()));

    s.assert_bound(phone, &client).await;
    // Platform serials count from 0 per connection; the acks' serial 0 is not counted.
    s.downlinks(phone, &mut t, |serial, text| {
        jt808_text(phone, serial, text)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teltonika_tracker_identifies_reports_records_and_gets_codec_12_commands() {
    const IMEI: &str = "123456789012345";
    let mut s = Setup::start().await;
    let mut t = s.device("teltonika").await;

    t.send_hex(TELTONIKA_IMEI).await;
    t.expect(&[0x01]).await;
    let client = s.report("identity", IMEI, "teltonika").await["client"].clone();
    let login = s.message("login", IMEI, "teltonika").await;
    assert_eq!(login["device_id"], IMEI);

    t.send_hex(TELTONIKA_LOCATION).await;
    t.expect_hex(TELTONIKA_LOCATION_ACK).await;
    let f = s.message("location", IMEI, "teltonika").await;
    // Record time 1546604839000 ms: whole seconds, so no fraction in the RFC 3339 text.
    assert_fix(
        &f,
        Fix {
            time: "2019-01-04T12:27:19Z",
            lat: 48.1523066,
            lon: 16.3745183,
            places: 7,
            speed: 83.0,
        },
    );
    assert_eq!(f["timestamp"], 1_546_604_839);
    assert_eq!((&f["course"], &f["satellites"]), (&198.into(), &15.into()));

    s.assert_bound(IMEI, &client).await;
    s.downlinks(IMEI, &mut t, |_, text| teltonika_command(text))
        .await;
}
