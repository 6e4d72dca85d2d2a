//! Sharding over processes. One process may hold only as many connections as its open-file
//! limit allows (20,000 on the reference machine, and it cannot be raised), so above about
//! `limit - 2000` devices device-sim re-executes itself as child processes, each given a hidden
//! `--shard i/n` flag: child `i` runs slice `i` of every group (see [`crate::plan::Plan::shard`]).
//!
//! A child writes one JSON object per line on stdout: a [`ShardLine::Tick`] every second (the
//! parent sums them for its live progress and the server's RSS), then one [`ShardLine::Result`]
//! with its exact counts and latency histogram, which the parent merges.

use crate::plan::Plan;
use crate::report::RunResult;
use crate::rss::{RssError, RssTracker};
use crate::runner::{Observer, Phase};
use crate::stats::Snapshot;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LinesCodec};

/// Open files kept free for everything but device connections.
pub const FD_RESERVE: u64 = 2000;
/// Longest line a child may write (its result holds hex histograms).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// One line of a child's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardLine {
    /// The child's counters, once a second.
    Tick {
        /// Seconds since the child started.
        t: f64,
        /// Where the child is.
        phase: Phase,
        /// Counters per group.
        groups: Vec<Snapshot>,
    },
    /// The child's final result.
    Result(Box<RunResult>),
}

/// Why a sharded run failed.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A child could not be started or waited for.
    #[error("shard process: {0}")]
    Io(#[from] std::io::Error),
    /// A child failed.
    #[error("shard {index} exited with {status}")]
    Failed {
        /// The shard.
        index: usize,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// A child exited without a result.
    #[error("shard {0} sent no result")]
    NoResult(usize),
    /// The server's RSS could not be read.
    #[error("server RSS: {0}")]
    Rss(#[from] RssError),
}

/// The soft open-file limit, raised to the hard limit first when allowed.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed, which outlives the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Devices one process may hold under an open-file limit of `limit`.
pub fn devices_per_process(limit: u64) -> u64 {
    limit.saturating_sub(FD_RESERVE).max(limit / 2).max(1)
}

/// Processes needed for `devices` at `per_process` each.
pub fn shard_count(devices: u64, per_process: u64) -> u32 {
    devices
        .div_ceil(per_process.max(1))
        .clamp(1, u64::from(u32::MAX)) as u32
}

/// Parses the hidden `--shard i/n` value.
pub fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s.split_once('/').ok_or("expected i/n")?;
    let i: u32 = i.parse().map_err(|_| "bad shard index")?;
    let n: u32 = n.parse().map_err(|_| "bad shard count")?;
    if n == 0 || i >= n {
        return Err("shard index must be below the count".into());
    }
    Ok((i, n))
}

/// A child's observer: one [`ShardLine::Tick`] per second on stdout.
#[derive(Debug, Default)]
pub struct LineObserver;

impl Observer for LineObserver {
    fn tick(&mut self, elapsed: Duration, phase: Phase, groups: &[Snapshot]) {
        print_line(&ShardLine::Tick {
            t: elapsed.as_secs_f64(),
            phase,
            groups: groups.to_vec(),
        });
    }
}

/// Writes one protocol line on stdout.
pub fn print_line(line: &ShardLine) {
    if let Ok(json) = serde_json::to_string(line) {
        let mut out = std::io::stdout().lock();
        // A parent that went away cannot be told anything; the child ends with the run anyway.
        let _ = writeln!(out, "{json}");
        let _ = out.flush();
    }
}

/// Runs `plan` over `count` child processes started as this executable with `args` plus
/// `--shard i/count`, and merges their results.
pub async fn run_sharded(
    count: u32,
    args: &[OsString],
    plan: &Plan,
    observer: &mut dyn Observer,
) -> Result<RunResult, ShardError> {
    let mut rss = RssTracker::start(&plan.server_pids)?;
    let exe = std::env::current_exe()?;
    let n = count as usize;
    let (tx, mut rx) = mpsc::channel::<(usize, ShardLine)>(64);
    let mut children = Vec::with_capacity(n);
    for i in 0..n {
        let mut child = Command::new(&exe)
            .args(args)
            .arg("--shard")
            .arg(format!("{i}/{count}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("child without stdout"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
            while let Some(Ok(line)) = lines.next().await {
                // Lines that are not ours (there should be none) are skipped.
                if let Ok(msg) = serde_json::from_str::<ShardLine>(&line) {
                    if tx.send((i, msg)).await.is_err() {
                        break;
                    }
                }
            }
        });
        children.push(child);
    }
    drop(tx);

    let start = Instant::now();
    let mut latest: Vec<Option<(Phase, Vec<Snapshot>)>> = vec![None; n];
    let mut results: Vec<Option<RunResult>> = vec![None; n];
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut interrupted = false;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some((i, ShardLine::Tick { phase, groups, .. })) => latest[i] = Some((phase, groups)),
                Some((i, ShardLine::Result(result))) => results[i] = Some(*result),
                None => break,
            },
            _ = ticker.tick() => {
                if let Some((phase, groups)) = sum_ticks(&latest) {
                    if phase != Phase::Grace {
                        if let Some(rss) = &mut rss {
                            rss.on_tick(groups.iter().map(|g| g.connected).sum());
                        }
                    }
                    observer.tick(start.elapsed(), phase, &groups);
                }
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                // Children stop early and still report, as a single process would.
                for child in &children {
                    if let Some(pid) = child.id() {
                        // SAFETY: kill(2) with a pid of our own child and a valid signal.
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                    }
                }
            }
        }
    }
    for (index, child) in children.iter_mut().enumerate() {
        let status = child.wait().await?;
        if !status.success() {
            return Err(ShardError::Failed { index, status });
        }
    }
    let mut parts = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        parts.push(r.ok_or(ShardError::NoResult(i))?);
    }
    let mut merged = RunResult::merge(parts).ok_or(ShardError::NoResult(0))?;
    merged.rss = rss.and_then(|r| r.result());
    Ok(merged)
}

/// The children's latest counters summed per group, and the earliest phase among them.
fn sum_ticks(latest: &[Option<(Phase, Vec<Snapshot>)>]) -> Option<(Phase, Vec<Snapshot>)> {
    let mut phase: Option<Phase> = None;
    let mut sum: Vec<Snapshot> = Vec::new();
    for (p, groups) in latest.iter().flatten() {
        phase = Some(phase.map_or(*p, |q| q.min(*p)));
        if sum.len() < groups.len() {
            sum.resize(groups.len(), Snapshot::default());
        }
        for (s, g) in sum.iter_mut().zip(groups) {
            s.add(g);
        }
    }
    phase.map(|p| (p, sum))
}
