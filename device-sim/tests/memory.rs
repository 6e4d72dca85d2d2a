//! Trackers keep what the server did not ack and send it again after a reconnect, over real
//! sockets on 127.0.0.1, against a GT06 server written for the test: it acks every other
//! location of a tracker's first connection, then closes it; on the next connection it acks
//! everything. (The memory as a state machine: src/behaviour/family/memory.rs.)

mod common;

use device_sim::behaviour::family::device_id;
use device_sim::behaviour::family::gt06::frame;
use device_sim::behaviour::family::motion::civil;
use device_sim::plan::Family;
use device_sim::report::Report;
use device_sim::runner::{self, Quiet};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOGIN: u8 = 0x01;
const LOCATION: u8 = 0x22;
/// Locations a tracker's first connection reads before the server closes it.
const FIRST_LOCATIONS: usize = 6;

/// What the server saw of one tracker: the location frames of each connection, and which of
/// the first connection's it acked.
#[derive(Debug, Default, Clone)]
struct Tracker {
    connections: Vec<Vec<Vec<u8>>>,
    acked_first: Vec<bool>,
}

/// Splits the GT06 short-form frames off the front of `buf`.
fn frames(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while buf.len() >= 3 {
        assert_eq!(&buf[..2], &[0x78, 0x78], "not a GT06 frame: {buf:02x?}");
        let len = usize::from(buf[2]) + 5;
        if buf.len() < len {
            break;
        }
        out.push(buf.drain(..len).collect());
    }
    out
}

fn serial(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[frame.len() - 6], frame[frame.len() - 5]])
}

async fn ack(tcp: &mut TcpStream, f: &[u8]) -> bool {
    let mut reply = Vec::new();
    frame(f[3], &[], serial(f), &mut reply);
    tcp.write_all(&reply).await.is_ok()
}

/// A tracker's connection: the first acks every other location and, after
/// [`FIRST_LOCATIONS`], stops answering, closes its side and reads what is still coming until
/// the tracker hangs up; later ones ack everything.
async fn serve(mut tcp: TcpStream, seen: Arc<Mutex<HashMap<String, Tracker>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut imei = None;
    let mut first = false;
    let mut closing = false;
    loop {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        for f in frames(&mut buf) {
            if f[3] == LOGIN {
                let id = hex::encode(&f[4..12])[1..].to_string();
                {
                    let mut seen = seen.lock().unwrap();
                    let t = seen.entry(id.clone()).or_default();
                    first = t.connections.is_empty();
                    t.connections.push(Vec::new());
                }
                imei = Some(id);
                assert!(ack(&mut tcp, &f).await);
                continue;
            }
            let Some(id) = &imei else {
                panic!("a frame before the login: {f:02x?}");
            };
            if f[3] != LOCATION {
                continue;
            }
            let (acked, received) = {
                let mut seen = seen.lock().unwrap();
                let t = seen.get_mut(id).unwrap();
                let conn = t.connections.last_mut().unwrap();
                conn.push(f.clone());
                let received = conn.len();
                if first {
                    let acked = !closing && received % 2 == 1;
                    t.acked_first.push(acked);
                    (acked, received)
                } else {
                    (true, received)
                }
            };
            if acked && !ack(&mut tcp, &f).await {
                return;
            }
            if first && !closing && received == FIRST_LOCATIONS {
                closing = true;
                let _ = tcp.shutdown().await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_tracker_first_resends_exactly_its_unacked_locations_byte_for_byte() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, shared.clone()));
        }
    });
    let dir = common::temp_dir("memory");
    let log = dir.join("acked.jsonl");
    let id_base = 356_000_000_000_100;
    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--proto",
        "gt06",
        "--devices",
        "2",
        "--id-base",
        &id_base.to_string(),
        "--rate",
        "20",
        "--duration",
        "1500ms",
        "--grace",
        "2s",
        "--backoff-min",
        "10ms",
        "--backoff-max",
        "50ms",
        "--acked-log",
        log.to_str().unwrap(),
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let report = Report::new(&result, false);
    let g = &report.groups[0];
    let family = g.family.unwrap();

    let seen = seen.lock().unwrap().clone();
    let mut expected_resent = 0;
    let mut expected_lines = BTreeSet::new();
    let mut resent_times = BTreeSet::new();
    for i in 0..2 {
        let uid = device_id(Family::GT06, id_base, i);
        let t = &seen[&uid];
        assert!(t.connections.len() >= 2, "{uid} reconnected: {t:?}");
        let (first, second) = (&t.connections[0], &t.connections[1]);
        let unacked: Vec<&Vec<u8>> = first
            .iter()
            .zip(&t.acked_first)
            .filter(|(_, acked)| !**acked)
            .map(|(f, _)| f)
            .collect();
        assert!(unacked.len() >= FIRST_LOCATIONS / 2, "{t:?}");
        // After its login, the tracker sent the unacked ones first, in order, as they were.
        let resent: Vec<&Vec<u8>> = second.iter().take(unacked.len()).collect();
        assert_eq!(resent, unacked, "{uid}");
        // And nothing of the first connection again after them.
        assert!(second[unacked.len()..].iter().all(|f| !first.contains(f)));
        expected_resent += unacked.len() as u64;
        // Every location the server saw was acked in the end, once.
        for f in first.iter().chain(second) {
            let time = gps_time(f);
            let resent = unacked.contains(&f);
            expected_lines.insert((uid.clone(), time));
            if resent {
                resent_times.insert((uid.clone(), time));
            }
        }
    }

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut logged = BTreeSet::new();
    let mut logged_resent = BTreeSet::new();
    for l in &lines {
        let key = (
            l["uid"].as_str().unwrap().to_string(),
            l["time"].as_i64().unwrap(),
        );
        assert!(logged.insert(key.clone()), "logged twice: {l}");
        if l["resent"] == true {
            logged_resent.insert(key);
        }
    }
    // The server saw every location of the run (the second connection lasted to its end).
    assert_eq!(logged, expected_lines);
    assert_eq!(logged_resent, resent_times);
    assert_eq!(family.resent, expected_resent, "{family:?}");
    assert_eq!(family.locations_acked, lines.len() as u64, "{family:?}");
    assert_eq!(family.locations, lines.len() as u64, "{family:?}");
    assert_eq!((family.never_acked, family.dropped_from_memory), (0, 0));
    assert_eq!(
        (g.lost, g.lost_in_disconnect, g.corrupted),
        (0, 0, 0),
        "{g:?}"
    );
    let text = report.render();
    assert!(
        text.contains(&format!("{expected_resent} resent")) && text.contains("0 never acked"),
        "{text}"
    );
}

/// The GPS time of a GT06 location frame, unix seconds (UTC, as device-sim writes it).
fn gps_time(f: &[u8]) -> i64 {
    let date: Vec<i64> = f[4..10].iter().map(|&b| i64::from(b)).collect();
    // Search the day the frame names: device-sim's clock is within a day of this test's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let midnight = now - now.rem_euclid(86_400);
    (midnight - 86_400..midnight + 2 * 86_400)
        .step_by(86_400)
        .find_map(|day| {
            let secs = day + date[3] * 3600 + date[4] * 60 + date[5];
            let c = civil(secs);
            (c[0] - 2000 == date[0] && c[1] == date[1] && c[2] == date[2]).then_some(secs)
        })
        .unwrap_or_else(|| panic!("no time for {date:?}"))
}
