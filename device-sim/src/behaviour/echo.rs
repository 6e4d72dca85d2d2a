//! Echo devices: send checked payloads and check every reply.
//!
//! Two loads. Closed loop (`depth D`): D messages in flight; every batch of replies read at once
//! sends as many new messages, written in one write. Fixed rate: each device sends on its own
//! interval timer, with a random phase so a fleet does not send in lockstep; the payload carries
//! the *scheduled* send time, so a stalled server shows up as latency rather than as fewer
//! samples (no coordinated omission); only lateness below [`TIMER_SLACK_NS`], the timer's own
//! granularity, is forgiven. Replies go through [`Checker`]; latencies are recorded in
//! batches.

use super::{DeviceBehaviour, SessionEnd, Shared};
use crate::checker::{Checker, Counts, End, Verdict};
use crate::framing::Framing;
use crate::payload::PayloadFormat;
use crate::plan::{Load, Proto};
use crate::transport::Link;
use crate::wire::Wire;
use rand::Rng;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Lateness of a fixed-rate send that is forgiven as timer granularity (tokio's timer wheel
/// ticks in milliseconds); beyond it, the payload carries the scheduled time.
const TIMER_SLACK_NS: u64 = 2_000_000;
/// Largest number of messages a connection keeps track of; past it the oldest is declared lost.
const MAX_WINDOW: usize = 8192;

/// The echo behaviour of a group.
#[derive(Debug, Clone)]
pub struct Echo {
    load: Load,
    format: PayloadFormat,
    framing: Framing,
    read_chunk: usize,
    max_message: usize,
}

/// What an echo device keeps across reconnects.
#[derive(Debug, Default)]
pub struct EchoState {
    next_seq: u64,
}

impl Echo {
    /// Echo devices speaking `proto` with payloads of `format`'s size under `load`.
    pub fn new(proto: Proto, format: PayloadFormat, load: Load) -> Self {
        let framing = match proto {
            Proto::Frame => Framing::Frame,
            Proto::Text | Proto::Websocket => Framing::Text,
        };
        let frame_len = format.len() + framing.overhead();
        let depth = match load {
            Load::Depth(d) => d as usize,
            Load::Rate(_) => 1,
        };
        Echo {
            load,
            read_chunk: (2 * depth * frame_len).clamp(4096, 256 * 1024),
            max_message: (4 * format.len()).max(4096),
            format,
            framing,
        }
    }
}

impl DeviceBehaviour for Echo {
    type State = EchoState;

    async fn session(
        &self,
        link: Link,
        device: u64,
        state: &mut EchoState,
        shared: &Shared,
    ) -> SessionEnd {
        let wire = Wire::new(link, self.framing, self.read_chunk, self.max_message);
        let session = Session {
            echo: self,
            device,
            shared,
            wire,
            checker: Checker::new(device as u32, state.next_seq, MAX_WINDOW),
            published: Counts::default(),
            latencies: Vec::new(),
        };
        let (end, next_seq) = session.run().await;
        state.next_seq = next_seq;
        end
    }
}

/// The outcome of a flush raced against the end of the run.
enum Flushed {
    Done,
    Failed,
    Stopped,
}

struct Session<'a> {
    echo: &'a Echo,
    device: u64,
    shared: &'a Shared,
    wire: Wire,
    checker: Checker,
    published: Counts,
    latencies: Vec<u64>,
}

impl Session<'_> {
    async fn run(mut self) -> (SessionEnd, u64) {
        let shared = self.shared;
        let timing = &shared.timing;
        let loss_ns = timing.loss_timeout.as_nanos() as u64;
        let cancelled = shared.stop.cancelled();
        tokio::pin!(cancelled);
        if shared.stop.is_cancelled() {
            return self.end(End::RunOver);
        }
        let mut tick = match self.echo.load {
            Load::Rate(rate) => {
                let period = Duration::from_secs_f64(1.0 / rate);
                let phase = period.mul_f64(rand::thread_rng().gen::<f64>());
                let mut t = tokio::time::interval_at(Instant::now() + phase, period);
                // Missed sends go out at once, each stamped with its scheduled time.
                t.set_missed_tick_behavior(MissedTickBehavior::Burst);
                t
            }
            Load::Depth(_) => {
                let every = (timing.loss_timeout / 4)
                    .clamp(Duration::from_millis(10), Duration::from_secs(1));
                let mut t = tokio::time::interval(every);
                t.set_missed_tick_behavior(MissedTickBehavior::Delay);
                t
            }
        };
        let grace = tokio::time::sleep(Duration::from_secs(86_400 * 365));
        tokio::pin!(grace);
        let mut stopping = false;

        if let Load::Depth(_) = self.echo.load {
            self.top_up();
            match self.flush(cancelled.as_mut()).await {
                Flushed::Done => {}
                Flushed::Failed => return self.end(End::Disconnected),
                Flushed::Stopped => return self.end(End::RunOver),
            }
        }
        loop {
            tokio::select! {
                biased;
                read = self.wire.fill() => {
                    if !matches!(read, Ok(true)) {
                        return self.end(End::Disconnected);
                    }
                    let now = self.shared.now_ns();
                    if self.take_replies(now).is_err() {
                        // The stream cannot be split into messages any more.
                        self.checker.corrupted_stream();
                        return self.end(End::Disconnected);
                    }
                    self.checker.expire(now.saturating_sub(loss_ns));
                    if !stopping {
                        self.top_up();
                    }
                }
                _ = cancelled.as_mut(), if !stopping => {
                    stopping = true;
                    grace.as_mut().reset(Instant::now() + timing.grace);
                }
                scheduled = tick.tick() => {
                    let now = self.shared.now_ns();
                    self.checker.expire(now.saturating_sub(loss_ns));
                    if !stopping {
                        match self.echo.load {
                            Load::Rate(_) => {
                                let scheduled = scheduled
                                    .into_std()
                                    .saturating_duration_since(shared.epoch)
                                    .as_nanos() as u64;
                                self.send(scheduled.max(now.saturating_sub(TIMER_SLACK_NS)));
                            }
                            Load::Depth(_) => self.top_up(),
                        }
                    }
                }
                _ = grace.as_mut(), if stopping => return self.end(End::RunOver),
            }
            if !stopping && self.wire.has_queued() {
                match self.flush(cancelled.as_mut()).await {
                    Flushed::Done => {}
                    Flushed::Failed => return self.end(End::Disconnected),
                    Flushed::Stopped => return self.end(End::RunOver),
                }
            }
            self.shared
                .stats
                .publish(self.checker.counts(), &mut self.published);
            if stopping && self.checker.pending() == 0 {
                return self.end(End::RunOver);
            }
        }
    }

    /// Closed loop: sends until `depth` messages are in flight.
    fn top_up(&mut self) {
        if let Load::Depth(depth) = self.echo.load {
            let missing = (depth as usize).saturating_sub(self.checker.pending());
            if missing > 0 {
                let now = self.shared.now_ns();
                for _ in 0..missing {
                    self.send(now);
                }
            }
        }
    }

    fn send(&mut self, ts_ns: u64) {
        let stamp = self.checker.send(ts_ns);
        let format = &self.echo.format;
        self.wire
            .queue(format.len(), |dst| format.write(dst, stamp));
    }

    /// Writes what is queued, unless the run ends first (a server that stopped reading would
    /// otherwise hold the device past the end).
    async fn flush(&mut self, cancelled: Pin<&mut impl Future<Output = ()>>) -> Flushed {
        tokio::select! {
            biased;
            r = self.wire.flush() => if r.is_ok() { Flushed::Done } else { Flushed::Failed },
            _ = cancelled => Flushed::Stopped,
        }
    }

    /// Checks every complete reply received, and records their latencies in one go.
    fn take_replies(&mut self, now_ns: u64) -> Result<(), crate::framing::FramingError> {
        self.latencies.clear();
        let result = loop {
            match self.wire.next_message() {
                Ok(Some(msg)) => match self.checker.reply(&self.echo.format, msg, now_ns) {
                    Verdict::Fresh { latency_ns, .. } | Verdict::Late { latency_ns } => {
                        self.latencies.push(latency_ns)
                    }
                    Verdict::Duplicate | Verdict::Corrupted => {}
                },
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.shared
            .stats
            .record_latencies(self.device, &self.latencies);
        result
    }

    fn end(mut self, end: End) -> (SessionEnd, u64) {
        self.checker.finish(end);
        self.shared
            .stats
            .publish(self.checker.counts(), &mut self.published);
        let how = match end {
            End::RunOver => SessionEnd::Stopped,
            End::Disconnected => SessionEnd::Dropped,
        };
        (how, self.checker.next_seq())
    }
}
