//! Counting what reaches the workers (issue 12's delivery tests, tests/delivery.rs): a cluster
//! of one gateway and `counting_worker` processes (see `src/bin/counting_worker.rs`), text
//! clients sending numbered lines at a steady rate, and the workers' log files read back and
//! judged: every number present, each worker's own copies in order, and every repeat explained
//! by a redelivery.
//!
//! A log line is `c<client> <n> <redelivered 0|1>`; a worker writes it before its handler
//! returns, so before it acknowledges the event.

use crate::api_cluster::worker_config;
use crate::clients::LineClient;
use crate::cluster::{Cluster, Gateway, TEXT};
use crate::process::Proc;
use crate::WAIT;
use std::collections::HashMap;
use std::io::{Read as _, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// One `counting_worker` process and its log file, which outlives the process: a restarted
/// worker appends to the same file.
pub struct CountingWorker {
    /// Its name (the same across restarts, as the gateway logs it).
    pub name: String,
    /// The running process.
    pub proc: Proc,
    /// Its log file.
    pub log: PathBuf,
    /// How many times it was started (the gateway logs one `worker linked` per start).
    pub starts: usize,
    /// How many times it was killed with SIGKILL.
    pub kills: usize,
}

/// Starts the `counting_worker` at `bin` named `name`, appending to `log`; waits until it says
/// it is up.
pub async fn start_counting_worker(
    bin: &Path,
    register: SocketAddr,
    name: &str,
    log: &Path,
    run: usize,
) -> Proc {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, worker_config(register, name)).expect("write config");
    let mut cmd = Command::new(bin);
    cmd.arg("--log")
        .arg(log)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info");
    let p = Proc::start(&format!("{name} (run {run})"), cmd, dir);
    assert_eq!(p.wait_announced("worker").await, name);
    p
}

/// A register, one gateway with a text listener, and counting workers linked to it.
pub struct CountingCluster {
    /// The register.
    pub cluster: Cluster,
    /// The gateway.
    pub gateway: Gateway,
    /// The workers, in the order named.
    pub workers: Vec<CountingWorker>,
    bin: PathBuf,
    /// Holds the log files.
    _logs: tempfile::TempDir,
}

impl CountingCluster {
    /// Starts everything and waits until every worker is linked to the gateway. `bin` is
    /// `env!("CARGO_BIN_EXE_counting_worker")`.
    pub async fn start(bin: &str, names: &[&str]) -> CountingCluster {
        let cluster = Cluster::start().await;
        let gateway = cluster.gateway("g1", &[TEXT], "").await;
        let logs = tempfile::tempdir().expect("temp dir");
        let bin = PathBuf::from(bin);
        let mut workers = Vec::new();
        for name in names {
            let log = logs.path().join(format!("{name}.log"));
            let proc = start_counting_worker(&bin, cluster.register_addr, name, &log, 1).await;
            gateway.wait_worker_linked(name, 1).await;
            workers.push(CountingWorker {
                name: name.to_string(),
                proc,
                log,
                starts: 1,
                kills: 0,
            });
        }
        CountingCluster {
            cluster,
            gateway,
            workers,
            bin,
            _logs: logs,
        }
    }

    /// Starts worker `i` again (its process has exited) and waits until the gateway routes
    /// events to it.
    pub async fn restart(&mut self, i: usize) {
        let w = &mut self.workers[i];
        w.starts += 1;
        w.proc = start_counting_worker(
            &self.bin,
            self.cluster.register_addr,
            &w.name,
            &w.log,
            w.starts,
        )
        .await;
        self.gateway.wait_worker_linked(&w.name, w.starts).await;
    }

    /// SIGKILLs worker `i`, waits until the gateway noticed (and so handed its clients over),
    /// and starts it again.
    pub async fn kill_and_restart(&mut self, i: usize) {
        let w = &mut self.workers[i];
        w.proc.kill();
        w.kills += 1;
        self.gateway.wait_worker_gone(&w.name, w.kills).await;
        self.restart(i).await;
    }

    /// Stops worker `i` with SIGTERM, asserts it left cleanly (exit status 0, released by the
    /// gateway), and starts it again.
    pub async fn terminate_and_restart(&mut self, i: usize) {
        let w = &mut self.workers[i];
        w.proc.signal(libc::SIGTERM);
        let code = w.proc.wait_exit(WAIT).await;
        assert_eq!(
            code,
            Some(0),
            "{} did not exit 0 on SIGTERM; its logs:\n{}",
            w.name,
            w.proc.stderr()
        );
        let who = format!("worker={}", w.name);
        // One release per graceful stop: the number of stops so far is the number of starts.
        self.gateway
            .proc
            .wait_log(&["worker released", &who], w.starts)
            .await;
        self.restart(i).await;
    }

    /// The gateway's log lines about its worker links (linked, leaving, released, closed,
    /// redelivering), for failure messages.
    pub fn link_history(&self) -> String {
        self.gateway.proc.log_lines(&["worker"]).join("\n")
    }

    /// Stops `load`, waits up to `catch_up` until `logs` hold every number sent, and judges
    /// them. Panics, with the gateway's view of its workers, if a client was closed.
    pub async fn judge(&self, logs: &mut Logs, load: Load, catch_up: Duration) -> Verdict {
        let (sent, _conns) = load
            .finish()
            .await
            .unwrap_or_else(|e| panic!("{e}\nthe gateway's workers:\n{}", self.link_history()));
        logs.wait_complete(&sent, catch_up).await;
        logs.verdict(&sent)
    }

    /// The workers' log files, to read as they grow.
    pub fn logs(&self) -> Logs {
        Logs {
            tails: self
                .workers
                .iter()
                .map(|w| LogTail::new(&w.name, &w.log))
                .collect(),
            seen: HashMap::new(),
        }
    }

    /// Events the gateway redelivered, summed from its warnings (`redelivering the events the
    /// worker did not acknowledge ... events=N`).
    pub fn gateway_redelivered(&self) -> u64 {
        self.gateway
            .proc
            .log_lines(&["redelivering the events"])
            .iter()
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("events="))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum()
    }
}

/// Text clients sending `c<i> <n>` for n = 1, 2, ... at a steady rate, never reading.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    senders: Vec<JoinHandle<Result<Sender, String>>>,
}

/// A client that finished sending: its connection (kept open until the test is done) and the
/// last number it sent.
pub struct Sender {
    /// The connection.
    pub conn: LineClient<TcpStream>,
    /// The last number sent (it sent 1..=last).
    pub last: u64,
}

impl Load {
    /// Connects `clients` clients to `addr`, then starts them sending, `per_second` lines in
    /// all.
    pub async fn start(addr: SocketAddr, clients: usize, per_second: u32) -> Load {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(LineClient::connect(addr).await);
        }
        let every = Duration::from_secs(clients as u64) / per_second.max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let senders = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                tokio::spawn(send_numbered(
                    conn,
                    format!("c{i}"),
                    every,
                    stop.clone(),
                    sent.clone(),
                ))
            })
            .collect();
        Load {
            stop,
            sent,
            senders,
        }
    }

    /// Lines sent so far, by all clients.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops every client after its current line; returns each client's last number, in
    /// client order, and the connections; or which clients were closed or did not stop.
    pub async fn finish(self) -> Result<(Vec<u64>, Vec<LineClient<TcpStream>>), String> {
        self.stop.store(true, Ordering::Release);
        let (mut last, mut conns, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, s) in self.senders.into_iter().enumerate() {
            match tokio::time::timeout(WAIT, s).await {
                Ok(Ok(Ok(done))) => {
                    last.push(done.last);
                    conns.push(done.conn);
                }
                Ok(Ok(Err(e))) => failed.push(e),
                Ok(Err(e)) => failed.push(format!("c{i}: {e}")),
                Err(_) => failed.push(format!("c{i}: still blocked sending after {WAIT:?}")),
            }
        }
        if failed.is_empty() {
            Ok((last, conns))
        } else {
            Err(failed.join("; "))
        }
    }
}

async fn send_numbered(
    mut conn: LineClient<TcpStream>,
    tag: String,
    every: Duration,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> Result<Sender, String> {
    let mut tick = tokio::time::interval(every);
    // A client held back by TCP resumes at its rate instead of catching up in one burst.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = 0;
    while !stop.load(Ordering::Acquire) {
        tick.tick().await;
        if !conn.try_send(&format!("{tag} {}", last + 1)).await {
            return Err(format!("{tag}: closed by the gateway after line {last}"));
        }
        last += 1;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Sender { conn, last })
}

/// One line of a worker's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The client's index (`c<client>`).
    pub client: u32,
    /// The number it sent.
    pub n: u64,
    /// Marked redelivered by the gateway.
    pub redelivered: bool,
}

/// Parses `c<client> <n> <0|1>`.
fn parse_record(line: &str) -> Option<Record> {
    let mut parts = line.split(' ');
    let client = parts.next()?.strip_prefix('c')?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let redelivered = match parts.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    parts.next().is_none().then_some(Record {
        client,
        n,
        redelivered,
    })
}

/// A worker's log file read as it grows: only the bytes appended since the last read.
pub struct LogTail {
    /// The worker's name.
    pub name: String,
    path: PathBuf,
    offset: u64,
    /// An incomplete last line, completed by the next read.
    partial: Vec<u8>,
    /// Every complete line so far, in file order.
    pub records: Vec<Record>,
    /// Lines that do not parse.
    pub bad: Vec<String>,
}

impl LogTail {
    fn new(name: &str, path: &Path) -> LogTail {
        LogTail {
            name: name.to_string(),
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            records: Vec::new(),
            bad: Vec::new(),
        }
    }

    /// Reads what was appended since the last call; returns the new complete lines.
    fn poll(&mut self) -> Vec<Record> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut buf = std::mem::take(&mut self.partial);
        let before = buf.len();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            self.partial = buf;
            return Vec::new();
        }
        self.offset += (buf.len() - before) as u64;
        let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = buf.split_off(complete);
        let mut new = Vec::new();
        for line in String::from_utf8_lossy(&buf).lines() {
            match parse_record(line) {
                Some(r) => new.push(r),
                None => self.bad.push(line.to_string()),
            }
        }
        self.records.extend_from_slice(&new);
        new
    }
}

/// How many copies of one (client, n) the logs hold.
#[derive(Debug, Default, Clone, Copy)]
struct Copies {
    plain: u32,
    redelivered: u32,
}

/// All workers' logs, and every (client, n) seen in them.
pub struct Logs {
    /// One per worker, in the cluster's order.
    pub tails: Vec<LogTail>,
    seen: HashMap<(u32, u64), Copies>,
}

/// At most this many examples of each kind of problem go into a [`Verdict`].
const EXAMPLES: usize = 10;

/// What the logs say about one run.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Log lines, all workers.
    pub lines: usize,
    /// Distinct (client, n) recorded.
    pub distinct: usize,
    /// (client, n) sent and never recorded.
    pub missing: usize,
    /// (client, n) recorded more than once.
    pub duplicates: usize,
    /// Lines marked redelivered.
    pub redelivered: usize,
    /// Examples: lines marked redelivered, as `<worker>: c<i> <n>`.
    pub redelivered_examples: Vec<String>,
    /// Examples: missing numbers, as `c<i> <n>`.
    pub missing_examples: Vec<String>,
    /// Examples: a worker's unmarked copy of a client's number not above the one before it.
    pub out_of_order: Vec<String>,
    /// Examples: repeats without exactly one unmarked copy (the dead worker's).
    pub unexplained_duplicates: Vec<String>,
    /// Examples: lines that do not parse, or name a client or number never sent.
    pub unexpected: Vec<String>,
    /// How many problems of the last three kinds there are in all.
    pub problems: usize,
}

impl Verdict {
    /// The counts, on one line.
    pub fn summary(&self) -> String {
        format!(
            "events {} distinct {} duplicates {} redelivered {} missing {}",
            self.lines, self.distinct, self.duplicates, self.redelivered, self.missing
        )
    }

    /// Whether every number is there and nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.problems == 0
    }

    /// Every kind of problem with its examples, for a failure message.
    pub fn problems(&self) -> String {
        format!(
            "missing {} e.g. {:?}; out of order {:?}; unexplained duplicates {:?}; unexpected {:?}",
            self.missing,
            self.missing_examples,
            self.out_of_order,
            self.unexplained_duplicates,
            self.unexpected
        )
    }
}

/// Adds one copy of `r` to `seen`.
fn count(seen: &mut HashMap<(u32, u64), Copies>, r: Record) {
    let c = seen.entry((r.client, r.n)).or_default();
    if r.redelivered {
        c.redelivered += 1;
    } else {
        c.plain += 1;
    }
}

fn note(list: &mut Vec<String>, what: String) {
    if list.len() < EXAMPLES {
        list.push(what);
    }
}

impl Logs {
    /// Reads what the workers appended since the last call.
    pub fn poll(&mut self) {
        for t in &mut self.tails {
            for r in t.poll() {
                count(&mut self.seen, r);
            }
        }
    }

    /// How many of the numbers in `sent` (client i sent 1..=sent[i]) are not recorded yet.
    pub fn missing(&self, sent: &[u64]) -> usize {
        sent.iter()
            .enumerate()
            .map(|(i, &last)| {
                (1..=last)
                    .filter(|&n| !self.seen.contains_key(&(i as u32, n)))
                    .count()
            })
            .sum()
    }

    /// Reads the logs until every number of `sent` is recorded or `limit` passes; returns
    /// how many are still missing.
    pub async fn wait_complete(&mut self, sent: &[u64], limit: Duration) -> usize {
        let mut missing = usize::MAX;
        crate::poll_until(limit, || {
            self.poll();
            missing = self.missing(sent);
            (missing == 0).then_some(())
        })
        .await;
        missing
    }

    /// Waits until the log of each worker in `workers` (indices) has grown by at least one
    /// line: events reach them. Panics, naming `what`, if one does not within [`WAIT`].
    pub async fn wait_growing(&mut self, workers: &[usize], what: &str) {
        let before: Vec<usize> = self.tails.iter().map(|t| t.records.len()).collect();
        let grew = crate::poll_until(WAIT, || {
            self.poll();
            workers
                .iter()
                .all(|&i| self.tails[i].records.len() > before[i])
                .then_some(())
        })
        .await;
        assert!(
            grew.is_some(),
            "{what}: the log of a worker of {workers:?} did not grow"
        );
    }

    /// Judges the logs against `sent` (see [`Verdict`]).
    pub fn verdict(&self, sent: &[u64]) -> Verdict {
        let mut v = Verdict {
            distinct: self.seen.len(),
            ..Verdict::default()
        };
        for (i, &last) in sent.iter().enumerate() {
            for n in 1..=last {
                if !self.seen.contains_key(&(i as u32, n)) {
                    v.missing += 1;
                    note(&mut v.missing_examples, format!("c{i} {n}"));
                }
            }
        }
        for t in &self.tails {
            v.lines += t.records.len();
            for bad in &t.bad {
                v.problems += 1;
                note(&mut v.unexpected, format!("{}: bad line {bad:?}", t.name));
            }
            let mut last_plain: HashMap<u32, u64> = HashMap::new();
            for r in &t.records {
                if r.redelivered {
                    v.redelivered += 1;
                    note(
                        &mut v.redelivered_examples,
                        format!("{}: c{} {}", t.name, r.client, r.n),
                    );
                    continue;
                }
                if let Some(prev) = last_plain.insert(r.client, r.n) {
                    if r.n <= prev {
                        v.problems += 1;
                        note(
                            &mut v.out_of_order,
                            format!("{}: c{} {} after {prev}", t.name, r.client, r.n),
                        );
                    }
                }
            }
        }
        let mut keys: Vec<_> = self.seen.iter().collect();
        keys.sort_unstable_by_key(|(k, _)| **k);
        for (&(client, n), c) in keys {
            let known = sent
                .get(client as usize)
                .is_some_and(|&last| (1..=last).contains(&n));
            if !known {
                v.problems += 1;
                note(&mut v.unexpected, format!("c{client} {n} was never sent"));
            }
            if c.plain + c.redelivered > 1 {
                v.duplicates += 1;
                if c.plain != 1 {
                    v.problems += 1;
                    note(
                        &mut v.unexplained_duplicates,
                        format!(
                            "c{client} {n}: {} unmarked, {} redelivered",
                            c.plain, c.redelivered
                        ),
                    );
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_client_number_and_flag() {
        assert_eq!(
            parse_record("c12 345 1"),
            Some(Record {
                client: 12,
                n: 345,
                redelivered: true
            })
        );
        assert_eq!(parse_record("c1 2 0").map(|r| r.redelivered), Some(false));
        for bad in ["c1 2", "c1 2 2", "x1 2 0", "c1 2 0 0", "c1 -2 0", ""] {
            assert_eq!(parse_record(bad), None, "{bad:?}");
        }
    }

    fn logs(workers: &[&[&str]]) -> Logs {
        let mut logs = Logs {
            tails: Vec::new(),
            seen: HashMap::new(),
        };
        for (i, lines) in workers.iter().enumerate() {
            let mut t = LogTail::new(&format!("w{i}"), Path::new("/nonexistent"));
            for l in *lines {
                let r = parse_record(l).expect("a test line");
                t.records.push(r);
                count(&mut logs.seen, r);
            }
            logs.tails.push(t);
        }
        logs
    }

    #[test]
    fn a_dead_workers_copy_and_its_redelivery_are_one_explained_duplicate() {
        let l = logs(&[&["c0 1 0", "c0 2 0"], &["c0 2 1", "c0 3 0"]]);
        let v = l.verdict(&[3]);
        assert_eq!(
            (v.missing, v.duplicates, v.redelivered, v.problems),
            (0, 1, 1, 0)
        );
    }

    #[test]
    fn gaps_disorder_and_unmarked_repeats_are_each_reported() {
        let l = logs(&[&["c0 1 0", "c0 3 0", "c0 3 0"], &["c0 1 1", "c0 1 1"]]);
        let v = l.verdict(&[4]);
        assert_eq!(v.missing_examples, ["c0 2", "c0 4"]);
        assert_eq!(v.out_of_order, ["w0: c0 3 after 3"]);
        assert_eq!(
            v.unexplained_duplicates,
            ["c0 3: 2 unmarked, 0 redelivered"]
        );
        // c0 1 has its one unmarked copy; two redeliveries are allowed by this check.
        assert_eq!(v.problems, 2);
    }

    #[test]
    fn the_tail_keeps_an_incomplete_line_until_it_is_complete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.log");
        let mut t = LogTail::new("w", &path);
        assert!(t.poll().is_empty(), "no file yet");
        std::fs::write(&path, "c0 1 0\nc0 2").expect("write");
        assert_eq!(t.poll().len(), 1);
        let mut f = std::fs::File::options()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut f, b" 1\n").expect("append");
        assert_eq!(t.poll().iter().map(|r| r.n).collect::<Vec<_>>(), [2]);
        assert!(t.bad.is_empty());
    }
}
