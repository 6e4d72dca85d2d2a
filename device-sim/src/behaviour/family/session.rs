//! One connection of a tracker: log in, then heartbeat and send locations on their timers,
//! read every server frame (acks, commands) as it comes, and end when the run does (after the
//! acks still awaited, within the grace period) or the link drops. A login unanswered for the
//! loss timeout, or refused, drops the connection: the device reconnects and logs in again.

use super::acks::{AckVerdict, Acks};
use super::motion::{now_unix_ms, Motion};
use super::{Dialect, Key, Login, Reply, SessionEnd, Shared};
use crate::checker::{Counts, End};
use crate::plan::FamilySettings;
use crate::stats::FamilyCounts;
use crate::transport::Stream;
use bytes::{Buf, BytesMut};
use rand::Rng;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, MissedTickBehavior};

/// Frames a connection keeps waiting for acks; past it the oldest is declared lost.
const MAX_PENDING: usize = 4096;
const READ_CHUNK: usize = 4096;
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365);

/// Runs one connected session of device `device`.
pub(super) async fn run(
    settings: &FamilySettings,
    stream: Stream,
    device: u64,
    dialect: &mut dyn Dialect,
    motion: &mut Motion,
    shared: &Shared,
) -> SessionEnd {
    let session = Session {
        shared,
        device,
        dialect,
        motion,
        stream,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: Vec::new(),
        acks: Acks::new(MAX_PENDING),
        published: Counts::default(),
        family: FamilyCounts::default(),
        family_published: FamilyCounts::default(),
        latencies: Vec::new(),
        logged_in: false,
        login_sent_ns: 0,
    };
    session.run(settings).await
}

/// What reading the server's frames led to.
enum Read {
    Fine,
    /// The server refused the login, or its bytes cannot be split any more.
    Drop,
}

struct Session<'a> {
    shared: &'a Shared,
    device: u64,
    dialect: &'a mut dyn Dialect,
    motion: &'a mut Motion,
    stream: Stream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    acks: Acks,
    published: Counts,
    family: FamilyCounts,
    family_published: FamilyCounts,
    latencies: Vec<u64>,
    logged_in: bool,
    login_sent_ns: u64,
}

impl Session<'_> {
    async fn run(mut self, settings: &FamilySettings) -> SessionEnd {
        let shared = self.shared;
        let timing = &shared.timing;
        let loss_ns = timing.loss_timeout.as_nanos() as u64;
        if shared.stop.is_cancelled() {
            return self.end(End::RunOver);
        }
        let cancelled = shared.stop.cancelled();
        tokio::pin!(cancelled);
        let start = Instant::now();
        // A random phase, so that a fleet does not report in lockstep.
        let period = Duration::from_secs_f64(1.0 / settings.rate);
        let phase = period.mul_f64(rand::thread_rng().gen::<f64>());
        let mut locations = tokio::time::interval_at(start + phase, period);
        locations.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heartbeats =
            tokio::time::interval_at(start + settings.heartbeat, settings.heartbeat);
        heartbeats.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut checks = tokio::time::interval(
            (timing.loss_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        );
        checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let grace = tokio::time::sleep(FAR_FUTURE);
        tokio::pin!(grace);
        let mut stopping = false;

        let key = self.dialect.login(&mut self.wbuf);
        self.login_sent(key);
        loop {
            if !self.wbuf.is_empty() {
                let written = tokio::select! {
                    biased;
                    r = self.stream.write_all(&self.wbuf) => r.is_ok(),
                    _ = cancelled.as_mut(), if !stopping => return self.end(End::RunOver),
                    _ = grace.as_mut(), if stopping => return self.end(End::RunOver),
                };
                if !written {
                    return self.end(End::Disconnected);
                }
                self.wbuf.clear();
            }
            self.publish();
            if stopping && self.acks.pending() == 0 {
                return self.end(End::RunOver);
            }
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.rbuf) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        return self.end(End::Disconnected);
                    }
                    if let Read::Drop = self.take_frames() {
                        return self.end(End::Disconnected);
                    }
                }
                _ = cancelled.as_mut(), if !stopping => {
                    stopping = true;
                    grace.as_mut().reset(Instant::now() + timing.grace);
                }
                _ = locations.tick(), if self.logged_in && !stopping => {
                    let fix = self.motion.fix_at(now_unix_ms());
                    let key = self.dialect.location(&fix, &mut self.wbuf);
                    self.sent(key);
                    self.family.locations += 1;
                }
                _ = heartbeats.tick(), if self.logged_in && !stopping => {
                    if let Some(key) = self.dialect.heartbeat(&mut self.wbuf) {
                        self.sent(key);
                        self.family.heartbeats += 1;
                    }
                }
                _ = checks.tick() => {
                    let now = shared.now_ns();
                    self.acks.expire(now.saturating_sub(loss_ns));
                    if !self.logged_in && now.saturating_sub(self.login_sent_ns) > loss_ns {
                        return self.end(End::Disconnected);
                    }
                }
                _ = grace.as_mut(), if stopping => return self.end(End::RunOver),
            }
        }
    }

    fn sent(&mut self, key: Key) {
        self.acks.send(key, self.shared.now_ns());
    }

    /// A login frame went out: the login has the loss timeout from now to be answered.
    fn login_sent(&mut self, key: Key) {
        self.login_sent_ns = self.shared.now_ns();
        self.sent(key);
    }

    /// Reads every complete server frame received, and records the ack latencies in one go.
    fn take_frames(&mut self) -> Read {
        let now = self.shared.now_ns();
        self.latencies.clear();
        let mut used = 0;
        let outcome = loop {
            let (n, reply) = match self.dialect.read(&self.rbuf[used..], &mut self.wbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break Read::Fine,
                Err(_) => {
                    self.acks.wrong();
                    break Read::Drop;
                }
            };
            used += n;
            match reply {
                Reply::Ack(key) => match self.acks.ack(key, now) {
                    AckVerdict::Fresh { latency_ns } => {
                        self.latencies.push(latency_ns);
                        if !self.logged_in {
                            self.login_step(key);
                        }
                    }
                    AckVerdict::Late { latency_ns } => self.latencies.push(latency_ns),
                    AckVerdict::Duplicate | AckVerdict::Unexpected => {}
                },
                Reply::Refused(key) => {
                    self.acks.refused(key);
                    if !self.logged_in {
                        break Read::Drop;
                    }
                }
                Reply::Wrong => self.acks.wrong(),
                Reply::Command { answer } => {
                    self.family.downlinks += 1;
                    if let Some(key) = answer {
                        self.sent(key);
                    }
                }
            }
        };
        self.rbuf.advance(used);
        self.shared
            .stats
            .record_latencies(self.device, &self.latencies);
        outcome
    }

    fn login_step(&mut self, acked: Key) {
        match self.dialect.login_acked(acked, &mut self.wbuf) {
            Login::Done => {
                self.logged_in = true;
                self.family.logins += 1;
            }
            Login::Next(key) => self.login_sent(key),
            Login::Waiting => {}
        }
    }

    fn publish(&mut self) {
        let stats = &self.shared.stats;
        stats.publish(self.acks.counts(), &mut self.published);
        stats.publish_family(&self.family, &mut self.family_published);
    }

    fn end(mut self, end: End) -> SessionEnd {
        self.acks.finish(end);
        self.publish();
        match end {
            End::RunOver => SessionEnd::Stopped,
            End::Disconnected => SessionEnd::Dropped,
        }
    }
}
