//! A token bucket: at most `per_sec` events a second on average, with bursts up to `per_sec`.
//! Used to bound how fast a listener accepts connections.

use std::time::Instant;

/// Lets events through at a bounded rate; `now` is passed in.
#[derive(Debug, Clone)]
pub struct Rate {
    per_sec: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl Rate {
    /// At most `per_sec` events a second (at least 1), a full second's worth at once.
    pub fn per_sec(per_sec: u32) -> Self {
        let per_sec = f64::from(per_sec.max(1));
        Rate {
            per_sec,
            tokens: per_sec,
            at: None,
        }
    }

    /// Whether an event at `now` is within the rate (and takes its place).
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() * self.per_sec;
            self.tokens = (self.tokens + refill).min(self.per_sec);
        }
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_one_seconds_worth_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut r = Rate::per_sec(3);
        assert!((0..3).all(|_| r.allow(t0)));
        assert!(!r.allow(t0));
        assert!(!r.allow(t0 + Duration::from_millis(300)));
        assert!(r.allow(t0 + Duration::from_millis(340)));
        assert!(!r.allow(t0 + Duration::from_millis(340)));
        // A long pause refills one second's worth, no more.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| r.allow(later)));
        assert!(!r.allow(later));
    }

    #[test]
    fn a_clock_read_out_of_order_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut r = Rate::per_sec(1);
        assert!(r.allow(t0));
        assert!(!r.allow(t0 - Duration::from_secs(3)));
    }
}
