//! Chaos: no location a GT06 tracker was told is stored may be lost, whatever dies meanwhile.
//!
//! Real processes on 127.0.0.1: a register, two gateways sharing one gt06 port (SO_REUSEPORT),
//! two workers running the example rules with the MQTT bridge (each its own data dir), a
//! Mosquitto of the test's own with persistence, and a device-sim fleet of GT06 trackers that
//! writes every location it saw acked to `--acked-log`. While the fleet runs, at seeded random
//! moments, the test kills workers with SIGKILL (alternating, 4 times a round) and starts them
//! again, kills a gateway and starts it again on the same ports, stops a worker for 5 s, and
//! restarts the broker. At the end every acked (uid, GPS time) must be on `devices/+/location`
//! at a persistent-session QoS 1 subscriber. Duplicates are allowed: counted, not failed.
//!
//! `DEVGATE_TEST_MOSQUITTO` names the broker binary (skipped without it, failed under CI);
//! `DEVGATE_CHAOS_SECS` runs a longer fleet (more rounds of chaos); `DEVGATE_CHAOS_SEED`
//! repeats a run's schedule.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tests::cluster::SECRET;
use tests::mosquitto::{self, Mosquitto};
use tests::mqtt::Recorder;
use tests::{poll_until, Cluster, Frozen, Gateway, Proc, WAIT};

/// Trackers in the fleet.
const DEVICES: u64 = 300;
/// Locations per second per tracker: the fleet sends about 300/s. GT06 times are whole
/// seconds (device-sim steps a repeated second on), so at most 1 keeps them near the clock.
const RATE: f64 = 1.0;
/// Fleet run of the CI profile, in seconds.
const CI_SECS: u64 = 30;
/// How long a stopped worker stays stopped.
const FREEZE: Duration = Duration::from_secs(5);
/// How long the acked locations may take to reach the subscriber after the fleet is done.
const DELIVERY: Duration = Duration::from_secs(60);
/// Trackers with missing locations printed on failure.
const SHOWN: usize = 20;

/// A location: the tracker's uid and its GPS time in Unix seconds.
type Location = (String, i64);

/// One thing the test does to the deployment.
#[derive(Debug, Clone, Copy)]
enum Chaos {
    /// SIGKILL the worker, then start it again on its data dir.
    KillWorker(usize),
    /// SIGKILL the gateway, then start it again on the same gt06 and internal ports.
    KillGateway(usize),
    /// SIGSTOP the worker for [`FREEZE`], then SIGCONT.
    FreezeWorker(usize),
    /// SIGTERM the broker, wait for its exit, start it again on the same port and data.
    RestartBroker,
}

impl fmt::Display for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chaos::KillWorker(i) => write!(f, "SIGKILL worker {}", worker_name(*i)),
            Chaos::KillGateway(i) => write!(f, "SIGKILL gateway {}", gateway_name(*i)),
            Chaos::FreezeWorker(i) => {
                write!(f, "SIGSTOP worker {} for {FREEZE:?}", worker_name(*i))
            }
            Chaos::RestartBroker => write!(f, "restart the broker"),
        }
    }
}

fn worker_name(i: usize) -> String {
    format!("w{}", i + 1)
}

fn gateway_name(i: usize) -> String {
    format!("g{}", i + 1)
}

/// `rounds` rounds of chaos at seeded random moments within the run (after a first tenth
/// in which the fleet settles, and ending early enough to see the last restart through):
/// each round kills 4 workers (alternating) and a gateway (5 process kills), freezes a worker
/// and restarts the broker.
fn schedule(rng: &mut StdRng, run: Duration, rounds: usize) -> Vec<(Duration, Chaos)> {
    let mut kinds = Vec::new();
    for _ in 0..rounds {
        let mut round = vec![
            Chaos::KillWorker(0),
            Chaos::KillWorker(0),
            Chaos::KillWorker(0),
            Chaos::KillWorker(0),
            Chaos::KillGateway(rng.gen_range(0..2)),
            Chaos::FreezeWorker(rng.gen_range(0..2)),
            Chaos::RestartBroker,
        ];
        round.shuffle(rng);
        kinds.extend(round);
    }
    // Worker kills alternate over the whole run, from a random first one.
    let first = rng.gen_range(0..2);
    let mut kill = 0;
    for k in &mut kinds {
        if let Chaos::KillWorker(i) = k {
            *i = (first + kill) % 2;
            kill += 1;
        }
    }
    let (from, to) = (run.as_secs_f64() * 0.1, run.as_secs_f64() * 0.8);
    let mut at: Vec<Duration> = (0..kinds.len())
        .map(|_| Duration::from_secs_f64(rng.gen_range(from..to)))
        .collect();
    at.sort();
    at.into_iter().zip(kinds).collect()
}

/// Unix seconds of an RFC 3339 time (`2024-01-01T01:02:03Z`, `...03.250+02:00`).
fn rfc3339_unix(s: &str) -> Option<i64> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let bytes = s.as_bytes();
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20 || seps.iter().any(|&(i, c)| bytes[i] != c) {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.len() - frac.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The location a `devices/<uid>/location` message of the example rules names.
fn published_location(_topic: &str, payload: &[u8]) -> Option<Location> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let uid = v["uid"].as_str()?.to_string();
    Some((uid, rfc3339_unix(v["time"].as_str()?)?))
}

/// device-sim's acked log: the distinct locations, lines in all, and how many were resent.
fn read_acked_log(path: &Path) -> (HashSet<Location>, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "device-sim wrote no acked log at {} ({e}): does it know --acked-log?",
            path.display()
        )
    });
    let (mut acked, mut lines, mut resent) = (HashSet::new(), 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("acked log: {line:?} is not JSON: {e}"));
        let (Some(uid), Some(time)) = (v["uid"].as_str(), v["time"].as_i64()) else {
            panic!("acked log: {line:?} lacks uid (string) or time (integer)");
        };
        lines += 1;
        resent += usize::from(v["resent"].as_bool() == Some(true));
        acked.insert((uid.to_string(), time));
    }
    (acked, lines, resent)
}

/// The deployment under test and what it needs to bring each process back.
struct Deployment {
    cluster: Cluster,
    gateways: Vec<Gateway>,
    workers: Vec<Proc>,
    data_dirs: Vec<tempfile::TempDir>,
    broker: Mosquitto,
    /// The gt06 port both gateways listen on.
    gt06: SocketAddr,
    /// What happened and when, for the summary and for failures.
    log: Vec<String>,
    began: Instant,
    kills: usize,
}

impl Deployment {
    async fn start(mosquitto: &Path) -> Deployment {
        let broker = Mosquitto::start(mosquitto).await;
        let cluster = Cluster::start().await;
        let g1 = cluster
            .gateway(&gateway_name(0), &[r#"{ url = "gt06://127.0.0.1:0" }"#], "")
            .await;
        let gt06 = g1.listener(0);
        let shared = gt06_listener(gt06);
        let g2 = cluster.gateway(&gateway_name(1), &[&shared], "").await;
        assert_eq!(
            g2.listener(0),
            gt06,
            "the second gateway did not share the gt06 port"
        );
        let mut d = Deployment {
            cluster,
            gateways: vec![g1, g2],
            workers: Vec::new(),
            data_dirs: Vec::new(),
            broker,
            gt06,
            log: Vec::new(),
            began: Instant::now(),
            kills: 0,
        };
        for i in 0..2 {
            d.data_dirs.push(tempfile::tempdir().expect("temp dir"));
            let w = d.start_worker(i).await;
            d.workers.push(w);
        }
        d
    }

    fn note(&mut self, what: String) {
        let line = format!("{:7.2}s {what}", self.began.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        self.log.push(line);
    }

    /// Starts worker `i` on its data dir; returns once it is linked to both gateways and
    /// connected to the broker.
    async fn start_worker(&self, i: usize) -> Proc {
        let name = worker_name(i);
        let rules = repo().join("examples/rules.toml");
        let section = format!(
            "handler = \"rules\"\nrules = \"{}\"\ndata_dir = \"{}\"\n\
             [worker.mqtt]\nbroker = \"{}\"\nclient_id = \"chaos-{name}\"\n\
             backoff_max_ms = 1000\n",
            rules.display(),
            self.data_dirs[i].path().display(),
            self.broker.addr()
        );
        let linked: Vec<usize> = self.gateways.iter().map(|g| links(g, &name)).collect();
        let w = self.cluster.worker_with(&name, SECRET, &section).await;
        for (g, before) in self.gateways.iter().zip(linked) {
            g.wait_worker_linked(&name, before + 1).await;
        }
        w.wait_log(&["mqtt connected"], 1).await;
        w
    }

    async fn run(&mut self, chaos: Chaos) {
        self.note(format!("{chaos}"));
        match chaos {
            Chaos::KillWorker(i) => {
                self.workers[i].kill();
                self.kills += 1;
                self.workers[i] = self.start_worker(i).await;
                self.note(format!("worker {} back", worker_name(i)));
            }
            Chaos::KillGateway(i) => {
                let internal = self.gateways[i].internal;
                self.gateways[i].proc.kill();
                self.kills += 1;
                let name = gateway_name(i);
                let shared = gt06_listener(self.gt06);
                let g = self
                    .cluster
                    .gateway_at(&name, SECRET, internal, &[&shared], "")
                    .await;
                assert_eq!(g.listener(0), self.gt06, "{name} came back on another port");
                assert_eq!(g.internal, internal, "{name} came back on another port");
                for w in 0..self.workers.len() {
                    g.wait_worker_linked(&worker_name(w), 1).await;
                }
                self.gateways[i] = g;
                self.note(format!("gateway {name} back"));
            }
            Chaos::FreezeWorker(i) => {
                let frozen = Frozen::new(&self.workers[i]);
                tokio::time::sleep(FREEZE).await;
                drop(frozen);
                self.note(format!("worker {} thawed", worker_name(i)));
            }
            Chaos::RestartBroker => {
                let connected: Vec<usize> = self
                    .workers
                    .iter()
                    .map(|w| w.log_lines(&["mqtt connected"]).len())
                    .collect();
                self.broker.restart().await;
                for (w, before) in self.workers.iter().zip(connected) {
                    w.wait_log(&["mqtt connected"], before + 1).await;
                }
                self.note("broker back, both bridges connected".into());
            }
        }
    }

    /// The last lines of every process's log, for a failure report.
    fn logs_tail(&self, n: usize) -> String {
        let mut out = String::new();
        let procs = self
            .gateways
            .iter()
            .map(|g| (g.proc.pid(), &g.proc))
            .chain(self.workers.iter().map(|w| (w.pid(), w)))
            .chain([(self.broker.proc().pid(), self.broker.proc())]);
        for (pid, p) in procs {
            let log = p.stderr();
            let lines: Vec<&str> = log.lines().collect();
            out.push_str(&format!("--- pid {pid}, last {n} log lines:\n"));
            for l in &lines[lines.len().saturating_sub(n)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

/// device-sim's JSON report on one line, without its latency histograms (or the text as it
/// is when it is not JSON).
fn one_line_report(text: &str) -> String {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("latency_us");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            strip(&mut v);
            v.to_string()
        }
        Err(_) => text.to_string(),
    }
}

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn gt06_listener(addr: SocketAddr) -> String {
    format!(r#"{{ url = "gt06://{addr}" }}"#)
}

/// Links of worker `name` the gateway has logged so far.
fn links(g: &Gateway, name: &str) -> usize {
    let who = format!("worker={name}");
    g.proc.log_lines(&["worker linked", &who]).len()
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
    )
}

#[test]
fn rfc3339_times_become_unix_seconds() {
    assert_eq!(rfc3339_unix("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(rfc3339_unix("2017-01-17T02:04:42Z"), Some(1_484_618_682));
    assert_eq!(rfc3339_unix("2024-02-29T23:59:59Z"), Some(1_709_251_199));
    assert_eq!(
        rfc3339_unix("2013-07-17T06:34:09.140Z"),
        Some(1_374_042_849)
    );
    assert_eq!(
        rfc3339_unix("2024-01-01T02:00:00+02:00"),
        Some(1_704_067_200)
    );
    assert_eq!(
        rfc3339_unix("2024-01-01T00:00:00-00:30"),
        Some(1_704_069_000)
    );
    for bad in [
        "",
        "2024-01-01",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00:00",
        "x",
    ] {
        assert_eq!(rfc3339_unix(bad), None, "{bad}");
    }
}

#[test]
fn the_schedule_alternates_worker_kills_and_does_everything_each_round() {
    let run = Duration::from_secs(30);
    let plan = schedule(&mut StdRng::seed_from_u64(7), run, 2);
    assert_eq!(plan.len(), 14);
    assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(plan.iter().all(|(at, _)| *at >= run / 10 && *at <= run));
    let kills: Vec<usize> = plan
        .iter()
        .filter_map(|(_, c)| match c {
            Chaos::KillWorker(i) => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(kills.len(), 8);
    assert!(kills.windows(2).all(|w| w[0] != w[1]), "{kills:?}");
    let count = |f: fn(&Chaos) -> bool| plan.iter().filter(|(_, c)| f(c)).count();
    assert_eq!(count(|c| matches!(c, Chaos::KillGateway(_))), 2);
    assert_eq!(count(|c| matches!(c, Chaos::FreezeWorker(_))), 2);
    assert_eq!(count(|c| matches!(c, Chaos::RestartBroker)), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_location_reaches_mqtt_through_kills_stops_and_a_broker_restart() {
    let Some(mosquitto) = mosquitto::binary("chaos") else {
        return;
    };
    let secs = env_u64("DEVGATE_CHAOS_SECS").unwrap_or(CI_SECS).max(10);
    let seed = env_u64("DEVGATE_CHAOS_SEED").unwrap_or_else(rand::random);
    let run = Duration::from_secs(secs);
    let rounds = usize::try_from(secs / CI_SECS).unwrap_or(1).max(1);
    let plan = schedule(&mut StdRng::seed_from_u64(seed), run, rounds);
    eprintln!(
        "chaos: seed {seed} (DEVGATE_CHAOS_SEED={seed} repeats it), {DEVICES} trackers at \
         {RATE}/s for {secs}s, {} events:",
        plan.len()
    );
    for (at, chaos) in &plan {
        eprintln!("chaos:   at {:5.1}s {chaos}", at.as_secs_f64());
    }

    let mut d = Deployment::start(&mosquitto).await;
    let sub = Recorder::start(
        d.broker.addr(),
        "chaos-subscriber",
        "devices/+/location",
        published_location,
    )
    .await;
    let out = tempfile::tempdir().expect("temp dir");
    let acked_log = out.path().join("acked.jsonl");
    let args: Vec<String> = [
        "run",
        "--proto",
        "gt06",
        "--target",
        &d.gt06.to_string(),
        "--devices",
        &DEVICES.to_string(),
        "--rate",
        &RATE.to_string(),
        "--duration",
        &format!("{secs}s"),
        "--backoff-max",
        "1s",
        "--acked-log",
        &acked_log.display().to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let events = plan.len();
    let mut sim = Proc::device_sim("device-sim", &args);
    let started = Instant::now();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    d.note(format!(
        "device-sim started (unix time {unix}): {}",
        args.join(" ")
    ));

    for (at, chaos) in plan {
        // The schedule's wait, cut short if device-sim dies (a flag it does not know, say).
        let wait = at.saturating_sub(started.elapsed());
        poll_until(wait, || sim.exited().then_some(())).await;
        if sim.exited() {
            let code = sim.wait_exit(WAIT).await;
            // Events running late on a slow machine may outlast a run that went well.
            if code == Some(0) && started.elapsed() >= run {
                d.note(format!(
                    "device-sim done before `{chaos}`: the rest is skipped"
                ));
                break;
            }
            panic!(
                "device-sim exited (code {code:?}) {:.1}s into a {secs}s run, before `{chaos}`; \
                 stderr:\n{}\nchaos log:\n{}",
                started.elapsed().as_secs_f64(),
                sim.stderr(),
                d.log.join("\n")
            );
        }
        d.run(chaos).await;
    }

    // The run, its grace for late acks, and room for a slow machine.
    let limit = run.saturating_sub(started.elapsed()) + Duration::from_secs(30);
    let code = sim.wait_exit(limit).await;
    assert!(
        sim.exited(),
        "device-sim still running {limit:?} after the last chaos event; stderr:\n{}",
        sim.stderr()
    );
    assert_eq!(
        code,
        Some(0),
        "device-sim failed; stderr:\n{}\nchaos log:\n{}",
        sim.stderr(),
        d.log.join("\n")
    );
    d.note("device-sim done".into());
    let report = one_line_report(&sim.stdout_lines().join("\n"));
    eprintln!("chaos: device-sim report: {report}");
    let (acked, lines, resent) = read_acked_log(&acked_log);
    assert!(
        !acked.is_empty(),
        "device-sim saw no location acked; report:\n{report}"
    );

    poll_until(DELIVERY, || sub.missing(&acked).is_empty().then_some(())).await;
    d.note("delivery wait over".into());
    let missing = sub.missing(&acked);
    // Per tracker: its first missing GPS time and how many are missing.
    let mut by_tracker: BTreeMap<&str, (i64, usize)> = BTreeMap::new();
    for (uid, time) in &missing {
        let e = by_tracker.entry(uid).or_insert((*time, 0));
        e.0 = e.0.min(*time);
        e.1 += 1;
    }
    let (unreadable, bad) = sub.unreadable();
    let summary = format!(
        "chaos summary: seed {seed}; acked locations {} ({lines} acked-log lines, {resent} \
         resent); chaos events {events}, kills {}; missing {} (of {} trackers); duplicates {}; \
         MQTT messages {} ({} distinct, {unreadable} unreadable); subscriber connects {}, \
         sessions lost {}",
        acked.len(),
        d.kills,
        missing.len(),
        by_tracker.len(),
        sub.duplicates(),
        sub.messages(),
        sub.distinct(),
        sub.connects(),
        sub.sessions_lost()
    );
    eprintln!("{summary}");
    assert!(
        missing.is_empty(),
        "{summary}\ntrackers missing locations (uid: first missing GPS time, how many): \
         {:?}\nunreadable messages: {bad:?}\nchaos log:\n{}\ndevice-sim report:\n{report}\n{}",
        by_tracker.iter().take(SHOWN).collect::<Vec<_>>(),
        d.log.join("\n"),
        d.logs_tail(15)
    );
    assert!(
        d.kills >= 5,
        "{summary}\nfewer than 5 process kills happened during the run:\n{}",
        d.log.join("\n")
    );
    // Liveness too: every location is acked in the end (a lost event would hold its tracker's
    // acks forever: they are released in order), and no tracker's memory overflowed.
    let family = family_counts(&report);
    assert_eq!(
        (family("never_acked"), family("dropped_from_memory")),
        (Some(0), Some(0)),
        "{summary}\nlocations never acked or dropped from a tracker's memory; report:\n{report}\n\
         chaos log:\n{}",
        d.log.join("\n")
    );
}

/// A reader of the `family` counts of device-sim's (single group) JSON report.
fn family_counts(report: &str) -> impl Fn(&str) -> Option<u64> {
    let v: Value = serde_json::from_str(report).unwrap_or(Value::Null);
    move |name| v["groups"][0]["family"][name].as_u64()
}
