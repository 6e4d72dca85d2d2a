//! Device-family trackers against servers built on devgate's own codecs, over real sockets on
//! 127.0.0.1: every device logs in with its own id, every frame is acked, downlink commands
//! are answered, and the report says so. (Single frames: family_frames.rs.)

mod common;

use bytes::Bytes;
use codecs::{CodecError, CodecOptions, Inbound, Outbound};
use device_sim::behaviour::family::device_id;
use device_sim::plan::{Behaviour, Family, Proto};
use device_sim::report::Report;
use device_sim::runner::{self, Quiet};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::codec::{Decoder, Encoder, Framed};

/// What a family server saw, over all its connections.
#[derive(Debug, Default)]
struct Seen {
    identities: BTreeSet<String>,
    logins: u64,
    locations: u64,
    /// Each location's uid and `timestamp`, as the gateway's events name them.
    records: BTreeSet<(String, i64)>,
    responses: Vec<Value>,
    errors: Vec<String>,
}

/// A server speaking one family through devgate's codec: it writes back every reply the codec
/// asks for, sends `command` once per connection after the first location, and closes a
/// connection after `close_after` locations when given, leaving the last one unacked.
async fn family_server<C>(
    codec: fn() -> C,
    command: &'static str,
    close_after: Option<u64>,
) -> (String, Arc<Mutex<Seen>>)
where
    C: Decoder<Item = Inbound, Error = CodecError>
        + Encoder<Outbound, Error = CodecError>
        + Send
        + 'static,
{
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
                let mut located = 0;
                let mut uid = String::new();
                // The codecs ask for a frame's reply just before giving its message: the reply
                // waits for it, so that the location that closes the connection goes unacked.
                let mut held: Option<Bytes> = None;
                while let Some(item) = framed.next().await {
                    let closes = close_after.is_some_and(|n| located + 1 >= n)
                        && matches!(&item, Ok(Inbound::Message { fields: Some(f), .. })
                            if f["kind"] == "location");
                    if let (Some(ack), false) = (held.take(), closes) {
                        // `send` flushes, so nothing of the codec's is buffered ahead of this.
                        if framed.get_mut().write_all(&ack).await.is_err() {
                            return;
                        }
                    }
                    let fields = match item {
                        Ok(Inbound::Identity(id)) => {
                            seen.lock().unwrap().identities.insert(id.clone());
                            uid = id;
                            continue;
                        }
                        Ok(Inbound::Reply(ack)) => {
                            held = Some(ack);
                            continue;
                        }
                        Ok(Inbound::Message {
                            fields: Some(f), ..
                        }) => f,
                        Ok(_) => continue,
                        Err(e) => {
                            seen.lock().unwrap().errors.push(e.to_string());
                            return;
                        }
                    };
                    match fields["kind"].as_str() {
                        Some("login" | "auth") => seen.lock().unwrap().logins += 1,
                        Some("location") => {
                            {
                                let mut s = seen.lock().unwrap();
                                s.locations += 1;
                                let time = fields["timestamp"].as_i64().unwrap_or(-1);
                                s.records.insert((uid.clone(), time));
                            }
                            located += 1;
                            if closes {
                                return;
                            }
                            if !commanded {
                                commanded = true;
                                let data = Outbound::Data(Bytes::from_static(command.as_bytes()));
                                if framed.send(data).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Some("command_response") => seen.lock().unwrap().responses.push(fields),
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// The (uid, time) of each line of an acked log, in order.
fn acked_log(path: &std::path::Path) -> Vec<(String, i64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["uid"].as_str().unwrap().to_string(),
                v["time"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Runs `devices` trackers of `family` against the server at `addr` for a second and a half.
/// Checks the run's own counts (all logged in, every frame acked, every command answered) and
/// the server's view of it (every id, every location, each named in the acked log by the uid
/// and time the codec gives it); returns the report and the server's command responses.
async fn run_fleet(
    family: Family,
    (addr, seen): (String, Arc<Mutex<Seen>>),
    devices: u64,
    id_base: u64,
) -> (Report, Vec<Value>) {
    let log = common::temp_dir(&format!("fleet-{}", family.name())).join("acked.jsonl");
    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--proto",
        family.name(),
        "--devices",
        &devices.to_string(),
        "--rate",
        "10",
        "--heartbeat",
        "200ms",
        "--duration",
        "1500ms",
        "--grace",
        "2s",
        "--id-base",
        &id_base.to_string(),
        "--acked-log",
        log.to_str().unwrap(),
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let g = &result.groups[0];
    let (t, c) = (&g.totals, &g.totals.counts);
    assert_eq!(g.proto, family.name());
    assert_eq!(t.family.logins, devices, "{t:?}");
    assert_eq!(t.family.downlinks, devices, "{t:?}");
    assert!(t.family.locations > 0, "{t:?}");
    assert!(c.sent > t.family.locations, "logins are acked too: {t:?}");
    assert_eq!(c.received, c.sent, "every frame acked: {t:?}");
    assert_eq!(c.lost() + c.unanswered + c.lost_in_disconnect, 0, "{t:?}");
    assert_eq!(
        c.corrupted + c.duplicated + c.late + c.out_of_order,
        0,
        "{t:?}"
    );
    assert_eq!((t.connects, t.disconnects), (devices, 0), "{t:?}");
    assert_eq!(g.latency.len(), c.received);

    let seen = seen.lock().unwrap();
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let ids: BTreeSet<String> = (0..devices)
        .map(|i| device_id(family, id_base, i))
        .collect();
    assert_eq!(seen.identities, ids);
    assert_eq!(seen.locations, t.family.locations);
    assert_eq!(seen.responses.len() as u64, devices);
    let logged = acked_log(&log);
    assert_eq!(
        logged.len() as u64,
        t.family.locations,
        "one line per location"
    );
    assert_eq!(logged.into_iter().collect::<BTreeSet<_>>(), seen.records);
    (Report::new(&result, false), seen.responses.clone())
}

#[tokio::test]
async fn gt06_trackers_log_in_report_and_answer_commands() {
    let server = family_server(
        || codec_gt06::codec(&CodecOptions::default()),
        "Relay,1#",
        None,
    )
    .await;
    let (report, responses) = run_fleet(Family::GT06, server, 4, 356_000_000_000_000).await;
    let family = report.groups[0].family.unwrap();
    assert!(family.heartbeats > 0, "{family:?}");
    for r in &responses {
        assert_eq!(r["text"], "Relay,1#:OK", "{r}");
    }
    let text = report.render();
    assert!(
        text.contains("4 logins") && text.contains("4 downlinks answered"),
        "{text}"
    );
}

#[tokio::test]
async fn jt808_terminals_register_authenticate_report_and_answer_text_messages() {
    let server = family_server(
        || codec_jt808::codec(&CodecOptions::default()),
        "Hello",
        None,
    )
    .await;
    let (report, responses) = run_fleet(Family::JT808, server, 3, 13_912_345_000).await;
    let family = report.groups[0].family.unwrap();
    assert!(family.heartbeats > 0, "{family:?}");
    for r in &responses {
        assert_eq!(r["details"]["reply_id"], 0x8300, "{r}");
        assert_eq!(r["details"]["result"], 0, "{r}");
    }
}

#[tokio::test]
async fn teltonika_trackers_send_avl_records_and_answer_codec_12_commands() {
    let codec = || codec_teltonika::codec(&CodecOptions::default());
    let server = family_server(codec, "setdigout 11", None).await;
    let (report, responses) = run_fleet(Family::TELTONIKA, server, 3, 352_000_000_000_000).await;
    let family = report.groups[0].family.unwrap();
    assert_eq!(family.heartbeats, 0, "Teltonika has no heartbeat");
    for r in &responses {
        assert_eq!(r["text"], "setdigout 11:OK", "{r}");
    }
}

#[test]
fn the_command_line_and_scenarios_make_family_groups() {
    let plan = common::plan(&[
        "run",
        "--target",
        "127.0.0.1:5023",
        "--proto",
        "gt06",
        "--devices",
        "2",
    ]);
    let g = &plan.groups[0];
    assert_eq!(g.proto, Proto::Text);
    let Behaviour::Family(f) = &g.behaviour else {
        panic!("{:?}", g.behaviour);
    };
    assert_eq!(
        (f.family, f.rate, f.id_base, f.memory),
        (Family::GT06, 1.0, 860_000_000_000_000, true)
    );
    let plan = common::plan(&[
        "run",
        "--target",
        "127.0.0.1:5023",
        "--proto",
        "teltonika",
        "--devices",
        "2",
        "--no-memory",
        "--acked-log",
        "acked.jsonl",
    ]);
    let Behaviour::Family(f) = &plan.groups[0].behaviour else {
        panic!("{:?}", plan.groups[0].behaviour);
    };
    assert!(!f.memory);
    assert_eq!(plan.acked_log.as_deref(), Some("acked.jsonl".as_ref()));

    let plan = common::scenario(
        "target = \"127.0.0.1:5015\"\n[[group]]\nproto = \"jt808\"\ndevices = 5\nrate = 0.2\nheartbeat = \"20s\"\nid_base = 13800000000\nmemory = false\n",
        None,
    )
    .unwrap();
    let Behaviour::Family(f) = &plan.groups[0].behaviour else {
        panic!("{:?}", plan.groups[0].behaviour);
    };
    assert_eq!(
        (f.family, f.rate, f.heartbeat.as_secs(), f.memory),
        (Family::JT808, 0.2, 20, false)
    );

    let err = common::scenario(
        "[[group]]\nproto = \"teltonika\"\ndevices = 2\ndepth = 4\nid_base = 999999999999999\n[[group]]\ndevices = 1\nheartbeat = 3\nmemory = false\n",
        Some("127.0.0.1:5027"),
    )
    .unwrap_err();
    let all = format!("{err:?}");
    for expected in [
        "not a depth",
        "do not fit in 15 digits",
        "group[1]: heartbeat and id_base need",
        "group[1]: memory is for trackers",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in {all}");
    }
}

#[test]
fn the_example_scenarios_tracker_group_is_valid_once_uncommented() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/fleet-scenario.toml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    let block = text
        .split("\n\n")
        .find(|b| b.contains("# proto = \"gt06\""))
        .expect("a commented gt06 group");
    let group: String = block
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .skip_while(|l| *l != "[[group]]")
        .map(|l| format!("{l}\n"))
        .collect();
    let plan = common::scenario(&group, None).unwrap();
    let g = &plan.groups[0];
    assert_eq!((g.name.as_str(), g.devices), ("gt06-trackers", 200));
    let Behaviour::Family(f) = &g.behaviour else {
        panic!("{:?}", g.behaviour);
    };
    assert_eq!(
        (f.family, f.rate, f.id_base),
        (Family::GT06, 0.1, 860_000_000_000_000)
    );
}

/// Three trackers of `family` against a server that drops each connection after its third
/// location, with `extra` flags; checks that they logged in again each time, and that the acked
/// log names each location once, as the server saw it; returns the totals.
async fn dropped_every_third_location(
    family: Family,
    extra: &[&str],
) -> device_sim::stats::Snapshot {
    let (addr, seen) = match family.name() {
        "gt06" => {
            family_server(
                || codec_gt06::codec(&CodecOptions::default()),
                "Relay,1#",
                Some(3),
            )
            .await
        }
        "jt808" => {
            family_server(
                || codec_jt808::codec(&CodecOptions::default()),
                "Hello",
                Some(3),
            )
            .await
        }
        _ => {
            family_server(
                || codec_teltonika::codec(&CodecOptions::default()),
                "getinfo",
                Some(3),
            )
            .await
        }
    };
    let log =
        common::temp_dir(&format!("dropped-{}-{}", family.name(), extra.len())).join("acked.jsonl");
    let mut args = vec![
        "run",
        "--target",
        &addr,
        "--acked-log",
        log.to_str().unwrap(),
        "--proto",
        family.name(),
        "--devices",
        "3",
        "--rate",
        "20",
        "--duration",
        "1500ms",
        "--backoff-min",
        "10ms",
        "--backoff-max",
        "50ms",
    ];
    args.extend_from_slice(extra);
    let result = runner::run(&common::plan(&args), &mut Quiet).await.unwrap();
    let t = result.groups[0].totals;
    let c = &t.counts;
    assert!(t.reconnects > 0 && t.disconnects > 0, "{t:?}");
    // Every connection logged in (but perhaps each device's last, opened as the run ended),
    // and the server saw each login.
    let logins = t.family.logins;
    assert!(logins <= t.connects && logins + 3 >= t.connects, "{t:?}");
    assert!(logins > 3, "{t:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.logins, logins, "{seen:?}");
    assert_eq!(seen.identities.len(), 3);
    // A drop takes only what was in flight with it; nothing timed out or came back wrong.
    assert_eq!(c.lost() + c.corrupted + c.duplicated, 0, "{t:?}");
    let logged = acked_log(&log);
    let unique: BTreeSet<(String, i64)> = logged.iter().cloned().collect();
    assert_eq!(unique.len(), logged.len(), "a location logged twice");
    assert_eq!(logged.len() as u64, t.family.locations_acked, "{t:?}");
    assert!(
        unique.is_subset(&seen.records),
        "logged what the server never saw"
    );
    if !extra.contains(&"--no-memory") {
        // Each drop left a location unacked, which the next connection sent again; what the
        // server saw and the tracker never saw acked is still in its memory.
        assert!(t.family.resent > 0, "{t:?}");
        let unacked = seen.records.len() - unique.len();
        assert!(unacked as u64 <= t.family.never_acked, "{t:?}");
    }
    t
}

#[tokio::test]
async fn trackers_log_in_again_after_the_server_drops_them() {
    let t = dropped_every_third_location(Family::GT06, &[]).await;
    let (c, f) = (&t.counts, &t.family);
    // Each location in flight at a drop stays in the tracker's memory: it is sent again after
    // the next login, or is never acked if the run ends first.
    assert_eq!(
        c.received + c.lost_in_disconnect + c.unanswered + f.resent + f.never_acked,
        c.sent,
        "{t:?}"
    );
}

#[tokio::test]
async fn jt808_and_teltonika_trackers_resend_what_a_drop_took_too() {
    for family in [Family::JT808, Family::TELTONIKA] {
        let t = dropped_every_third_location(family, &[]).await;
        let (c, f) = (&t.counts, &t.family);
        assert_eq!(
            c.received + c.lost_in_disconnect + c.unanswered + f.resent + f.never_acked,
            c.sent,
            "{family:?}: {t:?}"
        );
    }
}

#[tokio::test]
async fn without_memory_trackers_forget_what_a_drop_took() {
    let t = dropped_every_third_location(Family::GT06, &["--no-memory"]).await;
    let (c, f) = (&t.counts, &t.family);
    assert_eq!((f.resent, f.never_acked, f.dropped_from_memory), (0, 0, 0));
    assert_eq!(
        c.received + c.lost_in_disconnect + c.unanswered,
        c.sent,
        "{t:?}"
    );
}

#[tokio::test]
async fn an_unanswered_login_is_a_missing_ack_and_the_tracker_tries_again() {
    // A server that reads everything and answers nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut tcp, &mut sink).await;
            });
        }
    });
    let plan = common::plan(&[
        "run",
        "--target",
        &addr,
        "--proto",
        "jt808",
        "--devices",
        "2",
        "--duration",
        "1s",
        "--loss-timeout",
        "150ms",
        "--grace",
        "100ms",
        "--backoff-min",
        "10ms",
        "--backoff-max",
        "20ms",
    ]);
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let t = &result.groups[0].totals;
    let c = &t.counts;
    assert_eq!(
        t.family.logins + t.family.locations + c.received,
        0,
        "{t:?}"
    );
    assert!(c.timed_out > 0 && c.lost() > 0, "{t:?}");
    // Each unanswered login dropped its connection, and the device connected again.
    assert!(t.reconnects > 0 && t.disconnects > 0, "{t:?}");
}
