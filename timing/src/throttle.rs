//! At most one report per period: for warnings about a condition that repeats (a broker that
//! stays unreachable, peers refused at a cap), so the first one is seen at once and the log is
//! not flooded while it lasts.

use std::time::{Duration, Instant};

/// Lets one report through per `period`, counting the ones it holds back.
#[derive(Debug, Clone)]
pub struct Throttle {
    period: Duration,
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    /// A throttle letting one report through per `period`; the first one always passes.
    pub fn new(period: Duration) -> Self {
        Throttle {
            period,
            last: None,
            held: 0,
        }
    }

    /// Whether a report at `now` goes out; `Some(n)` with the `n` reports held back since the
    /// last one that went out, `None` when this one is held back too.
    pub fn report(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.period => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }

    /// The condition is over: the next report passes at once.
    pub fn reset(&mut self) {
        self.last = None;
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_passes_then_one_per_period_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(60));
        assert_eq!(t.report(t0), Some(0));
        assert_eq!(t.report(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.report(t0 + Duration::from_secs(59)), None);
        assert_eq!(t.report(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(t.report(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn after_a_reset_the_next_report_passes_at_once() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(60));
        assert_eq!(t.report(t0), Some(0));
        assert_eq!(t.report(t0 + Duration::from_secs(1)), None);
        t.reset();
        assert_eq!(t.report(t0 + Duration::from_secs(2)), Some(0));
    }

    #[test]
    fn a_clock_read_out_of_order_holds_the_report_back_instead_of_panicking() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut t = Throttle::new(Duration::from_secs(60));
        assert_eq!(t.report(t0), Some(0));
        assert_eq!(t.report(t0 - Duration::from_secs(5)), None);
    }
}
