//! Reconnect delays: doubling from an initial delay up to a cap, with "equal jitter" (half
//! fixed, half random) so many workers do not reconnect in lockstep and none spins at zero.

use rand::Rng;
use std::time::Duration;

/// Capped, jittered exponential backoff.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            initial_ms: initial_ms.max(1),
            max_ms: max_ms.max(initial_ms.max(1)),
            attempt: 0,
        }
    }

    /// The delay before the next attempt, drawing jitter from `rng`.
    pub fn next_with(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self
            .initial_ms
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        Duration::from_millis(ceiling - half + rng.gen_range(0..=half))
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(&mut rand::thread_rng())
    }

    /// Back to the initial delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_within_half_to_full() {
        let mut b = Backoff::new(100, 1000);
        let mut rng = StdRng::seed_from_u64(7);
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
        for c in ceilings {
            let d = b.next_with(&mut rng).as_millis() as u64;
            assert!(d >= c / 2 && d <= c, "{d} not in [{}, {c}]", c / 2);
        }
        b.reset();
        assert!(b.next_with(&mut rng).as_millis() <= 100);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::HashSet<u128> = (0..20)
            .map(|_| Backoff::new(1000, 1000).next_with(&mut rng).as_millis())
            .collect();
        assert!(delays.len() > 5);
    }
}
