//! Link liveness as a state machine: an idle link sends a ping every [`PING_EVERY`], and a link
//! that hears nothing for [`DEAD_AFTER`] is dead. No clock is read here: the link's tasks pass
//! `now` in and arm their timers at the instants this returns.
//!
//! A link's writer and reader are separate tasks, and each keeps its own copy: the writer
//! reports what it sent and asks [`Liveness::poll_writer`]; the reader reports what it heard and
//! asks [`Liveness::poll_reader`]. [`Liveness::poll`] answers for a driver that sees both.

use std::time::{Duration, Instant};

/// Idle links send a ping this often.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// A link silent this long is considered dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(20);

/// What a link does about liveness at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing was sent for a ping interval: send a ping.
    Ping,
    /// Nothing was heard for the dead interval: give the link up.
    Dead,
    /// Nothing to do before this instant.
    Wait(Instant),
}

/// When a link last heard from and sent to its peer, and what follows from it.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    ping_every: Duration,
    dead_after: Duration,
    heard_at: Instant,
    sent_at: Instant,
}

impl Liveness {
    /// A link opened at `now`, with [`PING_EVERY`] and [`DEAD_AFTER`].
    pub fn new(now: Instant) -> Self {
        Liveness::with_periods(PING_EVERY, DEAD_AFTER, now)
    }

    /// A link opened at `now` that pings after `ping_every` idle and is dead after `dead_after`.
    pub fn with_periods(ping_every: Duration, dead_after: Duration, now: Instant) -> Self {
        Liveness {
            ping_every,
            dead_after,
            heard_at: now,
            sent_at: now,
        }
    }

    /// Something arrived from the peer at `now` (any frame counts, pings included).
    pub fn on_heard(&mut self, now: Instant) {
        self.heard_at = self.heard_at.max(now);
    }

    /// Something was written to the peer at `now` (any frame counts, pings included).
    pub fn on_sent(&mut self, now: Instant) {
        self.sent_at = self.sent_at.max(now);
    }

    /// When an idle writer sends its next ping.
    pub fn ping_at(&self) -> Instant {
        self.sent_at + self.ping_every
    }

    /// When a reader that hears nothing more gives the link up.
    pub fn dead_at(&self) -> Instant {
        self.heard_at + self.dead_after
    }

    /// The writer's part: [`Action::Ping`] or [`Action::Wait`].
    pub fn poll_writer(&self, now: Instant) -> Action {
        if now >= self.ping_at() {
            Action::Ping
        } else {
            Action::Wait(self.ping_at())
        }
    }

    /// The reader's part: [`Action::Dead`] or [`Action::Wait`].
    pub fn poll_reader(&self, now: Instant) -> Action {
        if now >= self.dead_at() {
            Action::Dead
        } else {
            Action::Wait(self.dead_at())
        }
    }

    /// Both parts: a dead link is not pinged; otherwise the earlier of the two deadlines.
    pub fn poll(&self, now: Instant) -> Action {
        match (self.poll_reader(now), self.poll_writer(now)) {
            (Action::Dead, _) => Action::Dead,
            (_, Action::Ping) => Action::Ping,
            (Action::Wait(a), Action::Wait(b)) => Action::Wait(a.min(b)),
            (_, other) => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_idle_link_pings_every_interval_and_each_write_postpones_the_ping() {
        let t0 = Instant::now();
        let mut live = Liveness::new(t0);
        assert_eq!(live.poll_writer(t0), Action::Wait(t0 + PING_EVERY));
        assert_eq!(live.poll_writer(t0 + PING_EVERY), Action::Ping);
        live.on_sent(t0 + secs(3));
        assert_eq!(
            live.poll_writer(t0 + PING_EVERY),
            Action::Wait(t0 + secs(3) + PING_EVERY)
        );
        live.on_sent(t0 + secs(8));
        assert_eq!(live.poll_writer(t0 + secs(13)), Action::Ping);
    }

    #[test]
    fn a_link_that_hears_nothing_for_the_dead_interval_is_dead_and_not_before() {
        let t0 = Instant::now();
        let mut live = Liveness::new(t0);
        let just_before = t0 + DEAD_AFTER - Duration::from_millis(1);
        assert_eq!(live.poll_reader(just_before), Action::Wait(t0 + DEAD_AFTER));
        assert_eq!(live.poll_reader(t0 + DEAD_AFTER), Action::Dead);
        live.on_heard(t0 + secs(15));
        assert_eq!(
            live.poll_reader(t0 + DEAD_AFTER),
            Action::Wait(t0 + secs(15) + DEAD_AFTER)
        );
    }

    #[test]
    fn sending_keeps_nothing_alive_only_hearing_does() {
        let t0 = Instant::now();
        let mut live = Liveness::new(t0);
        for s in (5..=20).step_by(5) {
            live.on_sent(t0 + secs(s));
        }
        assert_eq!(live.poll(t0 + DEAD_AFTER), Action::Dead);
    }

    #[test]
    fn poll_asks_for_the_earlier_deadline_and_pings_a_live_idle_link() {
        let t0 = Instant::now();
        let mut live = Liveness::new(t0);
        assert_eq!(live.poll(t0), Action::Wait(t0 + PING_EVERY));
        assert_eq!(live.poll(t0 + PING_EVERY), Action::Ping);
        live.on_sent(t0 + secs(18));
        assert_eq!(live.poll(t0 + secs(19)), Action::Wait(t0 + DEAD_AFTER));
    }

    #[test]
    fn events_reported_late_never_move_the_clock_back() {
        let t0 = Instant::now();
        let mut live = Liveness::with_periods(secs(1), secs(4), t0);
        live.on_heard(t0 + secs(3));
        live.on_heard(t0 + secs(1));
        live.on_sent(t0 + secs(2));
        live.on_sent(t0);
        assert_eq!(live.dead_at(), t0 + secs(7));
        assert_eq!(live.ping_at(), t0 + secs(3));
    }
}
