//! A family of a user's own, added to the registry: found by `--proto`, run like the stock
//! ones, and with locations its server does not ack, counted apart and never lost.

use device_sim::behaviour::family::motion::Fix;
use device_sim::behaviour::family::{Broken, Dialect, Key, Login, Reply};
use device_sim::cli::{Cli, Command};
use device_sim::dialects::{Dialects, Family};
use device_sim::plan::Plan;
use device_sim::report::Report;
use device_sim::runner::{self, Quiet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const BEAT: Key = Key { id: 1, serial: 0 };

/// Lines: `L` locations (never acked), `H` heartbeats answered `h`; no login.
#[derive(Debug)]
struct Lines;

impl Dialect for Lines {
    fn login(&mut self, _out: &mut Vec<u8>) -> Option<Key> {
        None
    }

    fn login_acked(&mut self, _acked: Key, _out: &mut Vec<u8>) -> Login {
        Login::Waiting
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        out.extend_from_slice(b"H\n");
        Some(BEAT)
    }

    fn location(&mut self, _fix: &Fix, out: &mut Vec<u8>) -> Option<Key> {
        out.extend_from_slice(b"L\n");
        None
    }

    fn read(&mut self, input: &[u8], _out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken> {
        match input {
            [] | [b'h'] => Ok(None),
            [b'h', b'\n', ..] => Ok(Some((2, Reply::Ack(BEAT)))),
            _ => Err(Broken("not `h`".into())),
        }
    }
}

fn lines(_id: &str) -> Box<dyn Dialect> {
    Box::new(Lines)
}

/// A server that answers `H` with `h` and counts `L`.
async fn server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let locations = Arc::new(AtomicU64::new(0));
    let counted = locations.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let (read, mut write) = tcp.into_split();
                let mut read = BufReader::new(read).lines();
                while let Ok(Some(line)) = read.next_line().await {
                    match line.as_str() {
                        "H" if write.write_all(b"h\n").await.is_err() => return,
                        "L" => {
                            counted.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, locations)
}

fn plan(args: &[&str], dialects: &Dialects) -> Result<Plan, String> {
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once("device-sim").chain(args.iter().copied()),
    )
    .unwrap();
    match cli.command {
        Command::Run(a) => a.plan(dialects),
        other => panic!("not a run: {other:?}"),
    }
}

#[tokio::test]
async fn a_registered_family_runs_and_its_unacked_locations_are_counted_apart_never_lost() {
    let (addr, seen) = server().await;
    let args = [
        "run",
        "--target",
        &addr,
        "--proto",
        "lines",
        "--devices",
        "3",
        "--rate",
        "20",
        "--heartbeat",
        "100ms",
        "--duration",
        "1s",
    ];
    let err = plan(&args, &Dialects::stock()).unwrap_err();
    assert!(err.contains("unknown proto `lines`"), "{err}");
    let mut dialects = Dialects::stock();
    dialects
        .register(Family::new("lines", 6, 0, lines))
        .unwrap();
    let plan = plan(&args, &dialects).unwrap();
    let result = runner::run(&plan, &mut Quiet).await.unwrap();
    let (t, c) = (&result.groups[0].totals, &result.groups[0].totals.counts);
    let f = &t.family;
    assert_eq!(f.logins, 0, "no login to count: {t:?}");
    assert!(f.locations > 0 && f.heartbeats > 0, "{t:?}");
    assert_eq!(f.without_ack, f.locations, "{t:?}");
    assert_eq!(seen.load(Ordering::Relaxed), f.locations);
    // Only heartbeats wait for acks; the locations are neither acked, kept nor lost.
    assert_eq!((c.sent, c.received), (f.heartbeats, f.heartbeats), "{t:?}");
    assert_eq!(
        (
            f.locations_acked,
            f.never_acked,
            f.resent,
            f.dropped_from_memory
        ),
        (0, 0, 0, 0)
    );
    let report = Report::new(&result, false);
    assert_eq!(report.groups[0].lost, 0);
    let text = report.render();
    assert!(
        text.contains(&format!(
            "{} locations sent to a server that does not ack them",
            f.locations
        )),
        "{text}"
    );
}
