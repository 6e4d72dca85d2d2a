//! Runs a plan in this process: spawns every device task on its ramp schedule, ticks once a
//! second (timeline, live progress, server RSS), ends the sending phase after the duration (or on
//! Ctrl-C), waits for the grace period, and gathers the results.
//!
//! The steady window, over which throughput is computed, runs from the end of the ramp-up to the
//! end of the sending phase.

use crate::acked_log::{AckedLog, AckedLogError};
use crate::behaviour::{DeviceBehaviour, Echo, FamilyDevice, Idle, Shared};
use crate::device::{run_device, start_offset};
use crate::payload::{PayloadError, PayloadFormat};
use crate::plan::{Behaviour, Group, Plan};
use crate::report::{GroupResult, RunResult};
use crate::rss::{RssError, RssTracker};
use crate::stats::{Snapshot, Stats};
use crate::tls::TlsError;
use crate::transport::Connector;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_secs(1);

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Devices are still being started.
    Ramp,
    /// Every device has started; this is the measured window.
    Run,
    /// Sending has stopped; replies in flight are awaited.
    Grace,
}

impl Phase {
    /// The phase's name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ramp => "ramp",
            Phase::Run => "run",
            Phase::Grace => "grace",
        }
    }
}

/// Something told of a run's progress once a second.
pub trait Observer {
    /// Called each second with every group's counters.
    fn tick(&mut self, elapsed: Duration, phase: Phase, groups: &[Snapshot]);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn tick(&mut self, _: Duration, _: Phase, _: &[Snapshot]) {}
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The payload size is wrong.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The server's RSS could not be read.
    #[error("server RSS: {0}")]
    Rss(#[from] RssError),
    /// The acked log could not be opened or written.
    #[error(transparent)]
    AckedLog(#[from] AckedLogError),
}

/// Runs `plan` in this process, its devices on the current runtime, telling `observer` of its
/// progress.
pub async fn run(plan: &Plan, observer: &mut dyn Observer) -> Result<RunResult, RunError> {
    run_on(plan, observer, &[Handle::current()]).await
}

/// Runs `plan` with its devices spread round-robin over the runtimes of `workers` (see
/// [`Workers`]), telling `observer` of its progress.
pub async fn run_on(
    plan: &Plan,
    observer: &mut dyn Observer,
    workers: &[Handle],
) -> Result<RunResult, RunError> {
    let timing = &plan.timing;
    let mut rss = RssTracker::start(&plan.server_pids)?;
    let acked_log = match &plan.acked_log {
        Some(path) => Some(Arc::new(AckedLog::append(path)?)),
        None => None,
    };
    let epoch = Instant::now();
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut stats = Vec::new();
    for group in &plan.groups {
        let shared = Arc::new(Shared {
            stats: Arc::new(Stats::default()),
            stop: stop.clone(),
            epoch: epoch.into_std(),
            timing: timing.clone(),
            acked_log: acked_log.clone(),
        });
        stats.push(shared.stats.clone());
        let connector = Arc::new(Connector::new(group, timing.connect_timeout)?);
        match &group.behaviour {
            Behaviour::Echo { load, payload } => {
                let echo = Echo::new(group.proto, PayloadFormat::new(*payload)?, *load);
                let echo = Arc::new(echo);
                spawn_group(&mut tasks, workers, echo, group, connector, shared, epoch);
            }
            Behaviour::Idle => {
                let idle = Arc::new(Idle);
                spawn_group(&mut tasks, workers, idle, group, connector, shared, epoch);
            }
            Behaviour::Family(settings) => {
                let trackers = Arc::new(FamilyDevice::new(settings.clone()));
                spawn_group(
                    &mut tasks, workers, trackers, group, connector, shared, epoch,
                );
            }
        }
    }
    let snapshot = || stats.iter().map(|s| s.snapshot()).collect::<Vec<_>>();
    let ramp_end = epoch + plan.ramp_time();
    let send_end = ramp_end + timing.duration;
    let give_up_after = timing.grace + timing.connect_timeout + Duration::from_secs(5);
    let mut steady_start: Option<(Instant, Vec<Snapshot>)> = None;
    let mut steady_end: Option<(Instant, Vec<Snapshot>)> = None;
    let mut timelines = vec![Vec::new(); plan.groups.len()];
    let mut max_connected = vec![0; plan.groups.len()];
    let mut next_tick = epoch + TICK;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        let mut wake = next_tick;
        if steady_start.is_none() {
            wake = wake.min(ramp_end);
        }
        match &steady_end {
            None => wake = wake.min(send_end),
            Some((stopped, _)) => wake = wake.min(*stopped + give_up_after),
        }
        tokio::select! {
            _ = sleep_until(wake) => {}
            _ = &mut ctrl_c, if steady_end.is_none() => interrupted = true,
            // A device task that panicked has already stopped counting; nothing else to do.
            _ = tasks.join_next(), if !tasks.is_empty() => {}
        }
        let now = Instant::now();
        if steady_start.is_none() && (now >= ramp_end || interrupted) {
            steady_start = Some((now, snapshot()));
        }
        if steady_end.is_none() && (now >= send_end || interrupted) {
            let snaps = snapshot();
            if let Some(rss) = &mut rss {
                rss.on_tick(snaps.iter().map(|s| s.connected).sum());
            }
            for (max, s) in max_connected.iter_mut().zip(&snaps) {
                *max = (*max).max(s.connected);
            }
            steady_end = Some((now, snaps));
            stop.cancel();
        }
        if now >= next_tick {
            let snaps = snapshot();
            for (i, s) in snaps.iter().enumerate() {
                timelines[i].push(*s);
                max_connected[i] = max_connected[i].max(s.connected);
            }
            let phase = match (&steady_start, &steady_end) {
                (None, _) => Phase::Ramp,
                (Some(_), None) => Phase::Run,
                (Some(_), Some(_)) => Phase::Grace,
            };
            if phase != Phase::Grace {
                if let Some(rss) = &mut rss {
                    rss.on_tick(snaps.iter().map(|s| s.connected).sum());
                }
            }
            observer.tick(now - epoch, phase, &snaps);
            if let Some(log) = &acked_log {
                // A failure sticks and is reported at the end.
                let _ = log.flush();
            }
            next_tick += TICK;
            if next_tick <= now {
                next_tick = now + TICK;
            }
        }
        if let Some((stopped, _)) = &steady_end {
            if tasks.is_empty() {
                break;
            }
            if now >= *stopped + give_up_after {
                // Every wait of a device is bounded, so this is a safety net, not a path.
                tasks.shutdown().await;
                break;
            }
        }
    }

    if let Some(log) = &acked_log {
        log.flush()?;
    }
    let finals = snapshot();
    let (start_at, start) =
        steady_start.unwrap_or_else(|| (epoch, vec![Snapshot::default(); finals.len()]));
    let (end_at, end) = steady_end.unwrap_or_else(|| (Instant::now(), finals.clone()));
    let steady_secs = end_at.saturating_duration_since(start_at).as_secs_f64();
    let groups = plan
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let steady_received = end[i].counts.received - start[i].counts.received;
            GroupResult {
                name: g.name.clone(),
                proto: match g.behaviour.family() {
                    Some(family) => family.name().to_string(),
                    None => g.proto.name().to_string(),
                },
                behaviour: g.behaviour.describe(),
                echo: matches!(g.behaviour, Behaviour::Echo { .. } | Behaviour::Family(_)),
                family: g.behaviour.family().is_some(),
                devices: g.local_devices,
                totals: finals[i],
                max_connected: max_connected[i],
                latency: stats[i].latency(),
                steady_secs,
                steady_received,
                throughput: if steady_secs > 0.0 {
                    steady_received as f64 / steady_secs
                } else {
                    0.0
                },
                timeline: std::mem::take(&mut timelines[i]),
            }
        })
        .collect();
    Ok(RunResult {
        groups,
        elapsed_secs: epoch.elapsed().as_secs_f64(),
        shards: 1,
        interrupted,
        rss: rss.and_then(|r| r.result()),
    })
}

fn spawn_group<B: DeviceBehaviour>(
    tasks: &mut JoinSet<()>,
    workers: &[Handle],
    behaviour: Arc<B>,
    group: &Group,
    connector: Arc<Connector>,
    shared: Arc<Shared>,
    epoch: Instant,
) {
    for k in 0..group.local_devices {
        let device = run_device(
            behaviour.clone(),
            connector.clone(),
            shared.clone(),
            group.first_device + k,
            epoch + start_offset(k, group.ramp),
        );
        match workers {
            [] => tasks.spawn(device),
            _ => tasks.spawn_on(device, &workers[(k % workers.len() as u64) as usize]),
        };
    }
}

/// Single-threaded runtimes, one per thread ("thread per core"), to run device tasks on.
///
/// A device's socket, timers and task then all live on one thread, so no wake-up crosses
/// threads: on the 2-core reference machine this made closed-loop runs at depth 1 about a third
/// faster than one multi-threaded runtime, whose workers wake each other for every reply.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` runtimes (at least one), each on its own thread.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let mut workers = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            workers.handles.push(rt.handle().clone());
            workers.stops.push(stop);
            workers.threads.push(
                std::thread::Builder::new()
                    .name(format!("device-sim-{i}"))
                    .spawn(move || {
                        // Runs the tasks spawned on this runtime until told to stop.
                        rt.block_on(async {
                            let _ = stopped.await;
                        });
                    })?,
            );
        }
        Ok(workers)
    }

    /// The runtimes' handles.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
