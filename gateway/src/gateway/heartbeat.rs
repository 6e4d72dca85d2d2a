//! Heartbeat: one timer for the whole gateway (not one per connection, which would cost memory
//! on every idle client). Each interval, every client that sent nothing since the last tick
//! gets one more silent interval; a client silent for `ping_not_response_limit` intervals in a
//! row is closed (so after between `limit` and `limit + 1` intervals of silence). Any inbound
//! data, WebSocket pings included, resets the count. Others get a ping: `ping_data` if set,
//! else the codec's own ping (a WebSocket ping frame), else nothing.
//!
//! [`Heartbeat`] is that policy as a state machine (`now` in, the next tick and each client's
//! verdict out); [`run`] drives it on tokio's clock.

use super::client::Out;
use super::GatewayState;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::clock::{now, sleep_until};

/// What one tick does to one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still within the limit: send it a ping.
    Ping,
    /// Silent for the limit: close it.
    Close,
}

/// When the heartbeat ticks, and what a tick does to a client given its silent intervals.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    interval: Duration,
    limit: u32,
    next_tick: Instant,
}

impl Heartbeat {
    /// A heartbeat started at `now`, ticking every `interval` and closing clients silent for
    /// `limit` intervals (0: never); `None` when `interval` is zero (no heartbeat).
    pub fn new(interval: Duration, limit: u32, now: Instant) -> Option<Self> {
        (!interval.is_zero()).then_some(Heartbeat {
            interval,
            limit,
            next_tick: now + interval,
        })
    }

    /// When the next tick is due.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// Whether a tick is due at `now`. If so, the one after is an interval from `now`: a tick
    /// that ran late does not make the next ones come in a burst.
    pub fn on_timeout(&mut self, now: Instant) -> bool {
        if now < self.next_tick {
            return false;
        }
        self.next_tick = now + self.interval;
        true
    }

    /// The verdict of a tick on a client that had `silent` silent intervals before it.
    pub fn verdict(&self, silent: u32) -> Verdict {
        if self.limit > 0 && silent >= self.limit {
            Verdict::Close
        } else {
            Verdict::Ping
        }
    }
}

/// Runs the heartbeat until the process ends; returns at once when `ping_interval` is 0.
pub async fn run(state: Arc<GatewayState>) {
    let interval = Duration::from_secs(state.settings.ping_interval);
    let limit = state.settings.ping_not_response_limit;
    let Some(mut heartbeat) = Heartbeat::new(interval, limit, now()) else {
        return;
    };
    loop {
        sleep_until(Some(heartbeat.next_tick())).await;
        if !heartbeat.on_timeout(now()) {
            continue;
        }
        for client in state.all_clients() {
            let silent = client.silent_intervals.fetch_add(1, Ordering::Relaxed);
            match heartbeat.verdict(silent) {
                Verdict::Close => {
                    state.stats.heartbeat_closes.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(client = %client.id, "silent for {silent} intervals: closing");
                    client.close(None);
                }
                Verdict::Ping => state.push(&client, Out::Ping),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// Runs a heartbeat from `t0` over one client that connects at `t0` and sends data at
    /// each offset of `data`, until `until`; returns the pings it got and when it was closed.
    fn simulate(
        interval: Duration,
        limit: u32,
        data: &[Duration],
        until: Duration,
    ) -> (u32, Option<Duration>) {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(interval, limit, t0).expect("a heartbeat");
        let (mut silent, mut pings) = (0u32, 0u32);
        let mut data = data.iter().peekable();
        while hb.next_tick() <= t0 + until {
            let tick = hb.next_tick();
            while data.next_if(|d| t0 + **d < tick).is_some() {
                silent = 0;
            }
            assert!(hb.on_timeout(tick));
            match hb.verdict(silent) {
                Verdict::Close => return (pings, Some(tick - t0)),
                Verdict::Ping => pings += 1,
            }
            silent += 1;
        }
        (pings, None)
    }

    #[test]
    fn a_zero_interval_means_no_heartbeat() {
        assert!(Heartbeat::new(Duration::ZERO, 3, Instant::now()).is_none());
    }

    #[test]
    fn a_silent_client_is_pinged_then_closed_after_the_limit_of_silent_intervals() {
        assert_eq!(simulate(2 * SEC, 1, &[], 60 * SEC), (1, Some(4 * SEC)));
        assert_eq!(simulate(SEC, 3, &[], 60 * SEC), (3, Some(4 * SEC)));
    }

    #[test]
    fn a_client_is_closed_between_limit_and_limit_plus_one_intervals_after_its_last_data() {
        let interval = 10 * SEC;
        for last in [1, 9, 10, 11, 19] {
            let last = last * SEC;
            let (_, closed) = simulate(interval, 2, &[last], 600 * SEC);
            let silence = closed.expect("closed") - last;
            assert!(
                silence > 2 * interval && silence <= 3 * interval,
                "data at {last:?}: closed after {silence:?} of silence"
            );
        }
    }

    #[test]
    fn data_in_every_interval_keeps_a_client_open() {
        let data: Vec<Duration> = (0..100).map(|i| Duration::from_millis(1500 * i)).collect();
        assert_eq!(simulate(2 * SEC, 1, &data, 140 * SEC), (70, None));
    }

    #[test]
    fn a_zero_limit_never_closes_and_pings_every_interval() {
        assert_eq!(simulate(SEC, 0, &[], 50 * SEC), (50, None));
    }

    #[test]
    fn ticks_come_one_interval_apart_and_a_late_one_does_not_bunch_the_next() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(2 * SEC, 1, t0).expect("a heartbeat");
        assert_eq!(hb.next_tick(), t0 + 2 * SEC);
        assert!(!hb.on_timeout(t0 + SEC), "not due yet");
        assert_eq!(hb.next_tick(), t0 + 2 * SEC);
        assert!(hb.on_timeout(t0 + 7 * SEC), "late by 5 s");
        assert_eq!(hb.next_tick(), t0 + 9 * SEC);
        assert!(!hb.on_timeout(t0 + 8 * SEC));
    }
}
