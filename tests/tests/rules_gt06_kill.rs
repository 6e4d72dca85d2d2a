//! "What a device was told is received is never lost", for a GT06 fleet through the quick start's
//! rules and MQTT bridge: `devgate start` (`examples/quickstart-mqtt.toml`, `handler = "rules"`,
//! `examples/rules.toml`) is killed with SIGKILL while 30 trackers stream locations with a few
//! frames in flight each, then started again on the same `data_dir`. Every location whose ack a
//! tracker had read before the kill must reach an MQTT subscriber on `devices/<imei>/location`,
//! and each tracker's stored state (`lat`, `lon`, `time`, set by the `location` rule) must be at
//! least as new as its last acked location. Duplicates (a location published before the kill and
//! sent again from the outbox after the restart) are allowed: counted and printed, not failed.
//!
//! Every location is distinct (GPS time 2024-01-01 00:00:00 UTC + n seconds, latitude raised by
//! n units), so a message or a state names exactly which frame it came from, and each ack echoes
//! its frame's serial, so a tracker knows exactly which frames are confirmed.
//!
//! Why it fails if devgate acked before flushing: the `location` rule's state write and outbox
//! entry sit in the pipeline's open batch until the flusher writes and flushes it (sled by itself
//! only flushes every 500 ms). An ack written before that flush confirms a location that the kill
//! can still wipe out: it is then neither in the outbox (so the restarted bridge never publishes
//! it, unless the first process published it in the short window before the kill) nor in the
//! stored state, which the second check reads straight from the sled directory.

// The rules crate's MQTT test harness: the broker (DEVGATE_TEST_MQTT or rumqttd), a recording
// subscriber, random names so runs sharing a broker never share topics.
#[path = "../../rules/tests/common/mod.rs"]
mod common;
// GT06 frames built by the tests, not by the codec under test.
#[path = "rules_mqtt/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "families/frames.rs"]
mod frames;
#[allow(dead_code)]
#[path = "rules_mqtt/gt06.rs"]
mod gt06;

use common::Subscriber;
use config::example_config;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::{poll_until, Proc, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Trackers, each on its own connection.
const DEVICES: usize = 30;
/// Acks every tracker must have read before the kill.
const KILL_AFTER: u32 = 20;
/// Location frames a tracker sends ahead of its acks.
const IN_FLIGHT: usize = 4;
/// Frames per tracker at most: GPS times stay within one day, serials never wrap.
const MAX_FRAMES: u32 = 60_000;
/// How long the restarted devgate may take to publish every acked location.
const DELIVERY: Duration = Duration::from_secs(30);

/// Latitude of location 0 in GT06 units (degrees x 1,800,000): 54.9 N.
const LAT_RAW: u32 = 98_820_000;
/// The captured location's longitude (24.017622 E), GPS info byte and cell (LBS) block.
const LON_RAW: u32 = 0x0293_a9e8;
const GPS_INFO: u8 = 0xc5;
const LBS: [u8; 8] = [0x00, 0xf6, 0x01, 0x00, 0x6e, 0x00, 0x55, 0xda];
/// GPS fixed, north, east, course 0.
const COURSE_STATUS: [u8; 2] = [0x54, 0x00];
/// The date part of every location's GPS time.
const DAY: &str = "2024-01-01T";

/// `examples/quickstart-mqtt.toml` as it is, but for ephemeral ports, this test's broker and
/// client id, the example rules by absolute path and `data_dir`.
fn config(data_dir: &Path) -> String {
    example_config("quickstart-mqtt.toml", data_dir)
}

/// `devgate start` on `data_dir`; returns it and its gt06 listener once its worker is up.
async fn start(label: &str, data_dir: &Path) -> (Proc, SocketAddr) {
    let p = Proc::spawn(label, "start", &config(data_dir));
    let gt06 = p.wait_listener("gt06").await;
    p.wait_announced("worker").await;
    (p, gt06)
}

/// A GT06 location (0x12) with the given GPS date-time (yy mm dd hh mm ss) and latitude.
fn location_frame(date: [u8; 6], lat_raw: u32, serial: u16) -> Vec<u8> {
    let mut content = date.to_vec();
    content.push(GPS_INFO);
    content.extend_from_slice(&lat_raw.to_be_bytes());
    content.extend_from_slice(&LON_RAW.to_be_bytes());
    content.push(0); // speed
    content.extend_from_slice(&COURSE_STATUS);
    content.extend_from_slice(&LBS);
    frames::gt06_frame(0x12, &content, serial)
}

/// The serial of location `n` (the login is serial 1).
fn serial(n: u32) -> u16 {
    u16::try_from(n + 2).expect("serials below MAX_FRAMES never wrap")
}

/// Location `n` of a tracker: GPS time `DAY` 00:00:00 + n seconds, latitude LAT_RAW + n.
fn location(n: u32) -> Vec<u8> {
    let hms = [n / 3600, n / 60 % 60, n % 60].map(|v| u8::try_from(v).expect("within a day"));
    location_frame([24, 1, 1, hms[0], hms[1], hms[2]], LAT_RAW + n, serial(n))
}

/// The ack of location `n`: `78 78 05 12 <serial> <crc> 0D 0A`.
fn location_ack(n: u32) -> Vec<u8> {
    frames::gt06_frame(0x12, &[], serial(n))
}

/// Which location a GPS time (`fields.time`, RFC 3339) names: `DAY` hh:mm:ss -> seconds.
fn location_number(time: &str) -> Option<u32> {
    let hms = time.strip_prefix(DAY)?.get(..8)?;
    let mut parts = hms.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600 + m * 60 + s)
}

/// One tracker streaming locations: a writer keeps `IN_FLIGHT` frames ahead of the acks, a
/// reader checks that each ack confirms the next frame and counts it.
struct Tracker {
    imei: String,
    /// Acks read, each for the next location in order: locations 0..acked are confirmed.
    acked: Arc<AtomicU32>,
    /// Locations handed to the socket (the failing write included): an upper bound on what
    /// devgate could have received.
    sent: Arc<AtomicU32>,
    /// Ends at EOF or reset (the kill); an error on an unexpected ack.
    reader: tokio::task::JoinHandle<Result<(), String>>,
    /// Ends when the reader ends (it closes the window) or a write fails.
    writer: tokio::task::JoinHandle<()>,
}

impl Tracker {
    async fn start(gt06: SocketAddr) -> Tracker {
        let imei = gt06::random_imei();
        let mut stream = TcpStream::connect(gt06).await.expect("connect to gt06");
        stream
            .write_all(&gt06::gt06_login(&imei))
            .await
            .expect("write login");
        let ack = gt06::read_exactly(&mut stream, 10).await;
        assert_eq!(&ack[..4], [0x78, 0x78, 0x05, 0x01], "{imei}: login ack");
        let (rd, wr) = stream.into_split();
        let acked = Arc::new(AtomicU32::new(0));
        let sent = Arc::new(AtomicU32::new(0));
        let window = Arc::new(Semaphore::new(IN_FLIGHT));
        let reader = tokio::spawn(read_acks(rd, imei.clone(), acked.clone(), window.clone()));
        let writer = tokio::spawn(send_locations(wr, sent.clone(), window));
        Tracker {
            imei,
            acked,
            sent,
            reader,
            writer,
        }
    }

    fn acked(&self) -> u32 {
        self.acked.load(Ordering::SeqCst)
    }

    fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst)
    }
}

async fn read_acks(
    mut rd: OwnedReadHalf,
    imei: String,
    acked: Arc<AtomicU32>,
    window: Arc<Semaphore>,
) -> Result<(), String> {
    let mut ack = [0u8; 10];
    let result = loop {
        // EOF or reset: the kill. A partial ack confirms nothing.
        if rd.read_exact(&mut ack).await.is_err() {
            break Ok(());
        }
        let n = acked.load(Ordering::SeqCst);
        if ack[..] != location_ack(n)[..] {
            break Err(format!(
                "{imei}: expected the ack of location {n} ({}), got {}",
                hex::encode(location_ack(n)),
                hex::encode(ack)
            ));
        }
        acked.store(n + 1, Ordering::SeqCst);
        window.add_permits(1);
    };
    window.close();
    result
}

async fn send_locations(mut wr: OwnedWriteHalf, sent: Arc<AtomicU32>, window: Arc<Semaphore>) {
    for n in 0..MAX_FRAMES {
        match window.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        sent.store(n + 1, Ordering::SeqCst);
        if wr.write_all(&location(n)).await.is_err() {
            return;
        }
    }
}

/// What the subscriber got for our trackers: per (imei, location), the msg_ids it came with.
fn delivered(sub: &Subscriber, ours: &HashSet<String>) -> BTreeMap<(String, u32), Vec<u64>> {
    let mut out: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
    for (topic, msg) in sub.got.lock().unwrap().iter() {
        let Some(uid) = msg["uid"].as_str().filter(|u| ours.contains(*u)) else {
            continue;
        };
        assert_eq!(topic, &format!("devices/{uid}/location"), "{msg}");
        let n = msg["time"].as_str().and_then(location_number);
        let n = n.unwrap_or_else(|| panic!("{uid}: a location with no GPS time of ours: {msg}"));
        let id = msg["msg_id"].as_u64();
        let id = id.unwrap_or_else(|| panic!("{uid}: a location with no msg_id: {msg}"));
        out.entry((uid.to_string(), n)).or_default().push(id);
    }
    out
}

/// Acked locations the subscriber has not got.
fn missing(
    acked: &[(String, u32, u32)],
    got: &BTreeMap<(String, u32), Vec<u64>>,
) -> Vec<(String, u32)> {
    acked
        .iter()
        .flat_map(|(imei, acked, _)| (0..*acked).map(move |n| (imei.clone(), n)))
        .filter(|k| !got.contains_key(k))
        .collect()
}

#[test]
fn the_location_builder_matches_the_captured_location() {
    let frame = location_frame([15, 10, 20, 14, 21, 11], 0x05e5_1e78, 3);
    assert_eq!(hex::encode(frame), gt06::LOCATION);
    assert_eq!(
        hex::encode(frames::gt06_frame(0x12, &[], 3)),
        gt06::LOCATION_ACK
    );
    assert_eq!(location_number("2024-01-01T01:02:03Z"), Some(3723));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_location_acked_before_a_sigkill_reaches_mqtt_and_the_state() {
    let began = Instant::now();
    let data = tempfile::tempdir().expect("temp dir");
    let sub = Subscriber::start("devices/+/location").await;
    let (mut devgate, gt06) = start("gt06-kill", data.path()).await;
    let started = began.elapsed();
    let mut trackers = Vec::new();
    for _ in 0..DEVICES {
        trackers.push(Tracker::start(gt06).await);
    }
    let ours: HashSet<String> = trackers.iter().map(|t| t.imei.clone()).collect();

    // Kill as soon as every tracker has its acks, with frames of each still in flight.
    let all_acking = poll_until(WAIT, || {
        trackers
            .iter()
            .all(|t| t.acked() >= KILL_AFTER)
            .then_some(())
    })
    .await;
    assert!(
        all_acking.is_some(),
        "not every tracker got {KILL_AFTER} acks (acked, sent): {:?}; stderr:\n{}",
        trackers
            .iter()
            .map(|t| (t.acked(), t.sent()))
            .collect::<Vec<_>>(),
        devgate.stderr()
    );
    devgate.kill();
    let killed = began.elapsed();

    // (imei, acked, sent), once the readers have read all devgate wrote before it died.
    let mut fleet = Vec::new();
    for t in trackers {
        let read = tokio::time::timeout(WAIT, t.reader).await;
        let read = read.unwrap_or_else(|_| panic!("{}: no EOF after the kill", t.imei));
        read.expect("reader task").unwrap_or_else(|e| panic!("{e}"));
        t.writer.await.expect("writer task");
        fleet.push((
            t.imei,
            t.acked.load(Ordering::SeqCst),
            t.sent.load(Ordering::SeqCst),
        ));
    }
    let acked_total: u32 = fleet.iter().map(|f| f.1).sum();
    let sent_total: u32 = fleet.iter().map(|f| f.2).sum();

    // Acked locations not at the subscriber yet: what the restarted bridge must publish from
    // the outbox (or the first process's last publishes still on their way).
    let waiting = missing(&fleet, &delivered(&sub, &ours)).len();

    // The restarted bridge publishes what the outbox kept.
    let (mut again, _) = start("gt06-kill-restarted", data.path()).await;
    let restarted = began.elapsed();
    poll_until(DELIVERY, || {
        missing(&fleet, &delivered(&sub, &ours))
            .is_empty()
            .then_some(())
    })
    .await;
    let got = delivered(&sub, &ours);
    let all_delivered = began.elapsed();
    let lost = missing(&fleet, &got);
    let messages: usize = got.values().map(Vec::len).sum();
    let resent = got
        .values()
        .map(|ids| ids.len() - ids.iter().collect::<HashSet<_>>().len())
        .sum::<usize>();
    eprintln!(
        "{DEVICES} trackers: {acked_total} locations acked before the kill, {sent_total} sent; \
         {} distinct delivered in {messages} messages: {} duplicates ({resent} with a msg_id seen \
         before); acked ones missing: {} at the end, {waiting} at the restart",
        got.len(),
        messages - got.len(),
        lost.len()
    );
    let sent: HashMap<&str, u32> = fleet.iter().map(|f| (f.0.as_str(), f.2)).collect();
    for (imei, n) in got.keys() {
        assert!(
            n < &sent[imei.as_str()],
            "{imei}: location {n} was never sent"
        );
    }
    let restarted_log = again.stderr();

    // The stored state, read from the data dir once the restarted devgate is gone.
    again.signal(libc::SIGTERM);
    // (wait_exit says None for an exit by signal too: then the process is gone already.)
    if again.wait_exit(WAIT).await.is_none() && !again.exited() {
        eprintln!("the restarted devgate did not stop on SIGTERM in {WAIT:?}: killed");
        again.kill();
    }
    let store = rules::SledStore::open(data.path()).expect("open the data dir");
    // (imei, last acked location, stored location) where the state is older than the ack.
    let mut behind = Vec::new();
    let mut ahead = 0;
    for (imei, acked, sent) in &fleet {
        let state = rules::store::load_state(&store, imei)
            .unwrap_or_else(|e| panic!("{imei}: state unreadable: {e}"))
            .0;
        let last_acked = acked - 1;
        let stored = state
            .get("time")
            .and_then(Value::as_str)
            .and_then(location_number);
        let Some(stored) = stored.filter(|s| *s >= last_acked) else {
            behind.push((imei.clone(), last_acked, stored));
            continue;
        };
        ahead += usize::from(stored > last_acked);
        assert!(
            stored < *sent,
            "{imei}: state of location {stored}, never sent"
        );
        let lat = state.get("lat").and_then(Value::as_f64);
        let want = f64::from(LAT_RAW + stored) / 1_800_000.0;
        assert!(
            lat.is_some_and(|l| (l - want).abs() < 1e-6),
            "{imei}: the state's lat is not location {stored}'s ({want}): {state:?}"
        );
        let lon = state.get("lon").and_then(Value::as_f64);
        let want = f64::from(LON_RAW) / 1_800_000.0;
        assert!(
            lon.is_some_and(|l| (l - want).abs() < 1e-6),
            "{imei}: the state's lon is not {want}: {state:?}"
        );
    }
    eprintln!(
        "states: {} behind their last ack, {ahead} ahead of it (flushed, not yet acked); \
         started at {:.1} s, killed at {:.1} s, restarted at {:.1} s, all delivered at {:.1} s, \
         done at {:.1} s",
        behind.len(),
        started.as_secs_f64(),
        killed.as_secs_f64(),
        restarted.as_secs_f64(),
        all_delivered.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert!(
        lost.is_empty(),
        "{} locations were acked before the kill and never reached MQTT in {DELIVERY:?}, e.g. \
         (imei, location) {:?}; stderr of the restarted devgate:\n{restarted_log}",
        lost.len(),
        &lost[..lost.len().min(10)],
    );
    assert!(
        behind.is_empty(),
        "{} trackers' stored state is older than their last acked location, e.g. \
         (imei, last acked, stored) {:?}",
        behind.len(),
        &behind[..behind.len().min(10)]
    );
}
