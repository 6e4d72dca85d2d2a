//! One connection of a tracker: log in, then heartbeat and send locations on their timers,
//! read every server frame (acks, commands) as it comes, and end when the run does (after the
//! acks still awaited, within the grace period) or the link drops. A login unanswered for the
//! loss timeout, or refused, drops the connection: the device reconnects and logs in again.
//!
//! Every location is also kept in the device's memory until acked; with memory on, each login
//! first sends what the memory still holds, and a location's fate (acked, never acked, dropped
//! from memory) is the memory's to count, not the connection's. A location the dialect sends
//! without an ack (H02) is neither: it goes once and is counted `without_ack`. A family without
//! a login is logged in as soon as it is connected (no login counted).

use super::acks::{AckVerdict, Acks};
use super::memory::Memory;
use super::motion::{now_unix_ms, Motion};
use super::{Dialect, Key, Login, Reply, SessionEnd, Shared};
use crate::acked_log;
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

/// One tracker, as it is across its connections.
pub(super) struct Tracker<'a> {
    /// Its index in the fleet.
    pub device: u64,
    /// The id it logs in with, which the gateway binds as its uid.
    pub uid: String,
    /// Its frames.
    pub dialect: &'a mut dyn Dialect,
    /// Where it is.
    pub motion: &'a mut Motion,
    /// Its locations not yet acked.
    pub memory: &'a mut Memory,
}

/// Runs one connected session of `tracker`.
pub(super) async fn run(
    settings: &FamilySettings,
    stream: Stream,
    tracker: Tracker<'_>,
    shared: &Shared,
) -> SessionEnd {
    let session = Session {
        shared,
        device: tracker.device,
        uid: tracker.uid,
        dialect: tracker.dialect,
        motion: tracker.motion,
        memory: tracker.memory,
        keep: settings.memory,
        log_lines: Vec::new(),
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
    uid: String,
    dialect: &'a mut dyn Dialect,
    motion: &'a mut Motion,
    memory: &'a mut Memory,
    /// Memory is on: kept locations outlive this connection.
    keep: bool,
    /// Acked-log lines of this batch of server frames.
    log_lines: Vec<u8>,
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

        match self.dialect.login(&mut self.wbuf) {
            Some(key) => self.login_sent(key),
            // No login: what the first frames name is all the server needs.
            None => self.logged_in(false),
        }
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
                    let start = self.wbuf.len();
                    match self.dialect.location(&fix, &mut self.wbuf) {
                        Some(key) => self.location_sent(key, start, fix.unix_ms.div_euclid(1000)),
                        None => {
                            self.family.locations += 1;
                            self.family.without_ack += 1;
                        }
                    }
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

    /// A location went into `wbuf` from `start`: it is remembered until its ack.
    fn location_sent(&mut self, key: Key, start: usize, time: i64) {
        let bytes = self.wbuf[start..].to_vec();
        if self.memory.remember(key, bytes, time).is_some() && self.keep {
            self.family.dropped_from_memory += 1;
        }
        if self.keep {
            self.acks.send_kept(key, self.shared.now_ns());
        } else {
            self.sent(key);
        }
        self.family.locations += 1;
    }

    /// Logged in again: what the memory holds goes first, oldest first, as it was sent.
    fn resend(&mut self) {
        let now = self.shared.now_ns();
        let keys = self.memory.resend(&mut self.wbuf);
        self.family.resent += keys.len() as u64;
        for key in keys {
            self.acks.send_kept(key, now);
        }
    }

    /// The ack of `key` came: its location, if the memory holds it, is acked for good.
    fn ack(&mut self, key: Key, now: u64) -> AckVerdict {
        let Some(acked) = self.memory.ack(key) else {
            return self.acks.ack(key, now);
        };
        self.family.locations_acked += 1;
        if self.shared.acked_log.is_some() {
            acked_log::line(&self.uid, acked.time, acked.resent, &mut self.log_lines);
        }
        if self.keep {
            self.acks.ack_remembered(key, now)
        } else {
            // Without memory the connection alone decides: an ack it forgot is a wrong one.
            self.acks.ack(key, now)
        }
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
                Reply::Ack(key) => match self.ack(key, now) {
                    AckVerdict::Fresh { latency_ns } => {
                        self.latencies.push(latency_ns);
                        if !self.logged_in {
                            self.login_step(key);
                        }
                    }
                    AckVerdict::Late { latency_ns } => self.latencies.push(latency_ns),
                    AckVerdict::Remembered | AckVerdict::Duplicate | AckVerdict::Unexpected => {}
                },
                Reply::Refused(key) => {
                    self.acks.refused(key);
                    if !self.logged_in {
                        break Read::Drop;
                    }
                }
                Reply::Wrong => self.acks.wrong(),
                Reply::Notice => {}
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
        if let Some(log) = &self.shared.acked_log {
            log.write(&self.log_lines);
            self.log_lines.clear();
        }
        outcome
    }

    fn login_step(&mut self, acked: Key) {
        match self.dialect.login_acked(acked, &mut self.wbuf) {
            Login::Done => self.logged_in(true),
            Login::Next(key) => self.login_sent(key),
            Login::Waiting => {}
        }
    }

    /// Logged in (`accepted`: by the server's answer to a login): locations may go, the
    /// memory's first.
    fn logged_in(&mut self, accepted: bool) {
        self.logged_in = true;
        if accepted {
            self.family.logins += 1;
        }
        if self.keep {
            self.resend();
        }
    }

    fn publish(&mut self) {
        let stats = &self.shared.stats;
        stats.publish(self.acks.counts(), &mut self.published);
        stats.publish_family(&self.family, &mut self.family_published);
    }

    fn end(mut self, end: End) -> SessionEnd {
        self.acks.finish(end);
        if !self.keep {
            // A tracker without memory forgets with its connection.
            self.memory.clear();
        }
        self.publish();
        match end {
            End::RunOver => SessionEnd::Stopped,
            End::Disconnected => SessionEnd::Dropped,
        }
    }
}
