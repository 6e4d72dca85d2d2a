//! Reconnect delays: doubling from a first delay up to a cap, with "equal jitter" (each delay
//! uniform between half and all of the current step), so many peers that lost the same server
//! do not come back in lockstep, none spins at zero, and no delay exceeds the cap.

use rand::Rng;
use std::time::Duration;

/// The shortest step: a zero first delay would make a failing peer spin.
const FLOOR: Duration = Duration::from_millis(1);

/// Capped, jittered exponential backoff. The randomness is passed in, so tests are repeatable.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Steps start at `min` (at least 1 ms) and double on each failure up to `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(FLOOR);
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The current step: `min * 2^failures`, capped at `max`. Delays never exceed it.
    pub fn step(&self) -> Duration {
        let factor = 1u32 << self.failures.min(31);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt, uniform between half and all of the current step;
    /// counts one more failure.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let step = u64::try_from(self.step().as_nanos()).unwrap_or(u64::MAX);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        Duration::from_nanos(step - half + rng.gen_range(0..=half))
    }

    /// Forgets past failures (after a connection that succeeded), back to the first step.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_double_up_to_the_cap_and_delays_stay_between_half_and_all_of_the_step() {
        let mut b = Backoff::new(ms(100), ms(1000));
        let mut rng = StdRng::seed_from_u64(7);
        for step in [100, 200, 400, 800, 1000, 1000, 1000] {
            assert_eq!(b.step(), ms(step));
            let d = b.next_delay(&mut rng);
            assert!(
                d >= ms(step) / 2 && d <= ms(step),
                "{d:?} not in [{step}/2, {step}] ms"
            );
        }
    }

    #[test]
    fn reset_goes_back_to_the_first_step() {
        let mut b = Backoff::new(ms(100), ms(1000));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..10 {
            b.next_delay(&mut rng);
        }
        b.reset();
        assert_eq!(b.step(), ms(100));
        assert!(b.next_delay(&mut rng) <= ms(100));
    }

    #[test]
    fn jitter_spreads_delays_over_the_upper_half_of_the_step() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: Vec<Duration> = (0..200)
            .map(|_| Backoff::new(ms(1000), ms(1000)).next_delay(&mut rng))
            .collect();
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100);
        assert!(delays.iter().any(|d| *d < ms(600)));
        assert!(delays.iter().any(|d| *d > ms(900)));
    }

    #[test]
    fn a_zero_first_delay_still_waits() {
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        let mut rng = StdRng::seed_from_u64(3);
        assert!(b.next_delay(&mut rng) >= FLOOR / 2);
    }

    proptest! {
        #[test]
        fn no_delay_exceeds_the_cap(
            min_ms in 0u64..10_000,
            max_ms in 0u64..100_000,
            failures in 0usize..100,
            seed: u64,
        ) {
            let mut b = Backoff::new(ms(min_ms), ms(max_ms));
            let cap = ms(max_ms).max(ms(min_ms)).max(FLOOR);
            let mut rng = StdRng::seed_from_u64(seed);
            let mut last_step = Duration::ZERO;
            for _ in 0..failures {
                let step = b.step();
                prop_assert!(step >= last_step, "steps never shrink without a reset");
                last_step = step;
                let d = b.next_delay(&mut rng);
                prop_assert!(d <= cap && d <= step && d >= step / 2);
            }
        }
    }
}
