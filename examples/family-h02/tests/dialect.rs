//! device-sim's H02 dialect against this crate's codec: its lines decode to the fixes it sent,
//! the codec's answers read back as the dialect expects, and a fleet run over real sockets
//! reports every location, has every heartbeat answered and every command confirmed.

mod common;

use bytes::{Bytes, BytesMut};
use codecs::{Inbound, Outbound};
use common::{codec, replies};
use device_sim::behaviour::family::motion::Fix;
use device_sim::behaviour::family::{Dialect, Reply};
use device_sim::cli::{Cli, Command};
use device_sim::dialects::Dialects;
use device_sim::runner::{self, Quiet};
use family_h02::dialect::{H02Device, FAMILY, HEARTBEAT};
use family_kit::{feed, messages, Event};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_util::codec::{Encoder, Framed};

const IMEI: &str = "860000000000007";

/// A fix in each hemisphere pair, so that every sign is exercised.
fn fixes() -> [Fix; 2] {
    let fix = Fix {
        unix_ms: 1_700_000_123_000,
        latitude: 22.543_21,
        longitude: 114.058_76,
        altitude_m: 35,
        speed_kmh: 47.0,
        course: 271,
        satellites: 9,
        odometer_m: 1_234,
    };
    let south_west = Fix {
        unix_ms: 1_700_000_124_000,
        latitude: -33.868_82,
        longitude: -70.650_01,
        course: 0,
        ..fix
    };
    [fix, south_west]
}

#[test]
fn the_dialects_lines_decode_to_what_it_sent_and_the_answers_read_back() {
    let mut device = H02Device::new(IMEI);
    let mut c = codec();
    let mut out = Vec::new();
    assert_eq!(device.heartbeat(&mut out), Some(HEARTBEAT));
    let events = feed(&mut c, &[&out]);
    assert!(matches!(&events[0], Event::Item(Inbound::Identity(id)) if id == IMEI));
    assert_eq!(messages(&events)[0]["kind"], "heartbeat");
    let echo = replies(&events).concat();
    let mut scratch = Vec::new();
    let read = device.read(echo.as_bytes(), &mut scratch).unwrap();
    assert_eq!(read, Some((echo.len(), Reply::Ack(HEARTBEAT))));

    for fix in fixes() {
        out.clear();
        assert_eq!(
            device.location(&fix, &mut out),
            None,
            "H02 waits for no ack"
        );
        let events = feed(&mut c, &[&out]);
        let f = &messages(&events)[0];
        assert_eq!(f["kind"], "location", "{f}");
        let near = |key: &str, want: f64, within: f64| {
            let got = f[key].as_f64().unwrap();
            assert!((got - want).abs() < within, "{key}: {got} vs {want}");
        };
        near("latitude", fix.latitude, 2e-6);
        near("longitude", fix.longitude, 2e-6);
        near("speed", fix.speed_kmh, 0.01);
        assert_eq!(f["course"], fix.course);
        assert_eq!(f["timestamp"], fix.unix_ms / 1000);
        assert_eq!(f["fix"], true);
        assert!(f.get("alarm").is_none(), "{f}");
        // The V4 answer confirms nothing the device waits for.
        let answer = replies(&events).concat();
        let read = device.read(answer.as_bytes(), &mut scratch).unwrap();
        assert_eq!(read, Some((answer.len(), Reply::Notice)));
    }

    let mut command = BytesMut::new();
    let text = "S20,130305,1,1";
    c.encode(Outbound::Data(Bytes::from(text)), &mut command)
        .unwrap();
    let mut answer = Vec::new();
    let read = device.read(&command, &mut answer).unwrap();
    assert_eq!(read, Some((command.len(), Reply::Command { answer: None })));
    let events = feed(&mut c, &[&answer]);
    let f = &messages(&events)[0];
    assert_eq!(f["kind"], "command_response", "{f}");
    assert_eq!(f["text"], text);
    assert!((f["latitude"].as_f64().unwrap() + 33.868_82).abs() < 2e-6);
    assert!(replies(&events).is_empty());
}

/// What the server saw over all its connections.
#[derive(Debug, Default)]
struct Seen {
    identities: BTreeSet<String>,
    locations: u64,
    heartbeats: u64,
    responses: Vec<Value>,
}

/// A server speaking H02 through the codec: writes every answer, sends one command per
/// connection after its first location.
async fn server() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = shared.clone();
            tokio::spawn(async move {
                let mut framed = Framed::new(tcp, codec());
                let mut commanded = false;
                while let Some(Ok(event)) = framed.next().await {
                    match event {
                        Inbound::Identity(id) => {
                            seen.lock().unwrap().identities.insert(id);
                        }
                        Inbound::Reply(bytes) => {
                            let sent = framed.send(Outbound::Binary(bytes)).await;
                            if sent.is_err() {
                                return;
                            }
                        }
                        Inbound::Message {
                            fields: Some(f), ..
                        } => {
                            let kind = f["kind"].as_str().unwrap_or_default().to_string();
                            {
                                let mut s = seen.lock().unwrap();
                                match kind.as_str() {
                                    "location" => s.locations += 1,
                                    "heartbeat" => s.heartbeats += 1,
                                    "command_response" => s.responses.push(f),
                                    _ => {}
                                }
                            }
                            if kind == "location" && !commanded {
                                commanded = true;
                                let command =
                                    Outbound::Data(Bytes::from_static(b"S71,010203,22,10"));
                                if framed.send(command).await.is_err() {
                                    return;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_fleet_reports_every_location_has_heartbeats_answered_and_confirms_commands() {
    let (addr, seen) = server().await;
    let mut dialects = Dialects::stock();
    dialects.register(FAMILY).unwrap();
    let cli = <Cli as clap::Parser>::try_parse_from([
        "device-sim-h02",
        "run",
        "--target",
        &addr,
        "--proto",
        "h02",
        "--devices",
        "3",
        "--rate",
        "10",
        "--heartbeat",
        "200ms",
        "--duration",
        "1500ms",
        "--grace",
        "2s",
    ])
    .unwrap();
    let Command::Run(args) = cli.command else {
        panic!("a run")
    };
    let plan = args.plan(&dialects).unwrap();
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let g = &result.groups[0];
    let (t, c) = (&g.totals, &g.totals.counts);
    assert_eq!(g.proto, "h02");
    assert_eq!(t.family.logins, 0, "H02 has no login: {t:?}");
    assert!(t.family.locations > 0 && t.family.heartbeats > 0, "{t:?}");
    assert_eq!(t.family.without_ack, t.family.locations, "{t:?}");
    assert_eq!(t.family.downlinks, 3, "{t:?}");
    assert_eq!(
        (c.sent, c.received),
        (t.family.heartbeats, t.family.heartbeats),
        "{t:?}"
    );
    assert_eq!(c.corrupted + c.duplicated + c.lost(), 0, "{t:?}");
    assert_eq!((t.connects, t.disconnects), (3, 0), "{t:?}");

    let seen = seen.lock().unwrap();
    let ids: BTreeSet<String> = (0..3).map(|i| format!("86000000000000{i}")).collect();
    assert_eq!(seen.identities, ids);
    assert_eq!(seen.locations, t.family.locations);
    assert_eq!(seen.heartbeats, t.family.heartbeats);
    assert_eq!(seen.responses.len(), 3);
    assert!(seen
        .responses
        .iter()
        .all(|r| r["text"] == "S71,010203,22,10" && r["kind"] == "command_response"));
}
