//! Keeping a link to a peer that may go away: connect, run a [`LinkTask`], back off, again. The
//! delay policy is [`Reconnect`], a state machine that takes each attempt's outcome and `now`
//! and says when to try next; [`keep_linked`] is the thin async loop around it that the
//! worker's register and gateway links and the gateway's register announcements share.

use crate::link::{self, LinkReader};
use crate::proto::{KeepAlive, LinkError, Role};
use rand::Rng;
use std::future::Future;
use std::time::{Duration, Instant};
use timing::{clock, Backoff, Throttle};
use tokio::sync::mpsc;

/// How often a peer that stays unreachable is reported (the first failure always is).
pub const UNREACHABLE_REPORT_EVERY: Duration = Duration::from_secs(60);
/// The first reconnect delay of links between devgate's processes.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest reconnect delay of links between devgate's processes.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// How one attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A link was established (and has now ended): the next delay is the first step again.
    Established,
    /// No link was established: the next delay grows.
    Failed,
}

/// When to try again after each attempt: capped, jittered backoff, reset by an established link.
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect::new(Backoff::new(FIRST_DELAY, MAX_DELAY))
    }
}

impl Reconnect {
    /// Delays drawn from `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        Reconnect { backoff }
    }

    /// The instant of the next attempt, after one that ended with `outcome` at `now`.
    pub fn retry_at(&mut self, outcome: Outcome, now: Instant, rng: &mut impl Rng) -> Instant {
        if outcome == Outcome::Established {
            self.backoff.reset();
        }
        now + self.backoff.next_delay(rng)
    }

    /// Sleeps until the next attempt (on tokio's clock).
    pub async fn pause(&mut self, outcome: Outcome) {
        let at = self.retry_at(outcome, clock::now(), &mut rand::thread_rng());
        clock::sleep_until(Some(at)).await
    }
}

/// How a [`LinkTask`] ended.
#[derive(Debug)]
pub enum LinkEnd {
    /// Established, then lost for this reason: reconnect from the first delay.
    Lost(LinkError),
    /// Lost before it was established: reconnect after a longer delay.
    Failed(LinkError),
    /// Whoever wanted the link is gone: stop reconnecting.
    Stop,
}

/// What runs on an authenticated link until it ends.
pub trait LinkTask {
    /// What the peer sends on this link.
    type In: KeepAlive;
    /// What this side sends.
    type Out: KeepAlive;
    /// Serves the link (`reader` in, `tx` the writer's queue) until it ends.
    fn run(
        &mut self,
        reader: &mut LinkReader<Self::In>,
        tx: &mpsc::Sender<Self::Out>,
    ) -> impl Future<Output = LinkEnd> + Send;
}

/// Which peer a link goes to, as logs name it.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// A register.
    Register,
    /// A gateway's internal port.
    Gateway,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Register => "register",
            Peer::Gateway => "gateway",
        })
    }
}

/// Links to `peer` at `addr` as `role` named `name`, runs `task` on each link, and
/// reconnects with [`Reconnect`]'s delays until the task says [`LinkEnd::Stop`].
pub async fn keep_linked<S: LinkTask>(
    peer: Peer,
    addr: &str,
    credentials: &link::Credentials,
    role: Role,
    name: &str,
    task: &mut S,
) {
    let mut reconnect = Reconnect::default();
    let mut unreachable = Throttle::new(UNREACHABLE_REPORT_EVERY);
    loop {
        let outcome = match link::connect::<S::In>(addr, credentials, role, name).await {
            Ok((mut reader, wr)) => {
                let (tx, writer) = link::spawn_writer::<S::Out>(wr);
                unreachable.reset();
                let end = task.run(&mut reader, &tx).await;
                writer.abort();
                let (why, outcome) = match end {
                    LinkEnd::Stop => return,
                    LinkEnd::Lost(why) => (why, Outcome::Established),
                    LinkEnd::Failed(why) => (why, Outcome::Failed),
                };
                tracing::warn!(%addr, "{peer} link lost: {why}");
                outcome
            }
            Err(LinkError::Handshake(reason)) => {
                tracing::error!(%addr, "{peer} refused this {role:?}: {reason}");
                Outcome::Failed
            }
            // A TLS mismatch lasts until someone fixes a config: said at once, then throttled.
            Err(LinkError::Tls(reason)) => {
                if let Some(held) = unreachable.report(clock::now()) {
                    tracing::error!(%addr, failed_since_last_report = held, "no TLS link to {peer}: {reason}");
                }
                Outcome::Failed
            }
            Err(e) => {
                if let Some(held) = unreachable.report(clock::now()) {
                    tracing::warn!(%addr, failed_since_last_report = held, "cannot reach {peer}: {e}");
                }
                Outcome::Failed
            }
        };
        reconnect.pause(outcome).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn failures_wait_longer_each_time_up_to_the_cap() {
        let mut r = Reconnect::default();
        let mut rng = StdRng::seed_from_u64(9);
        let t0 = Instant::now();
        let mut step = FIRST_DELAY;
        for _ in 0..12 {
            let wait = r.retry_at(Outcome::Failed, t0, &mut rng) - t0;
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} vs step {step:?}"
            );
            step = (step * 2).min(MAX_DELAY);
        }
    }

    #[test]
    fn an_established_link_starts_the_delays_over() {
        let mut r = Reconnect::default();
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = Instant::now();
        for _ in 0..10 {
            r.retry_at(Outcome::Failed, t0, &mut rng);
        }
        assert!(r.retry_at(Outcome::Failed, t0, &mut rng) - t0 >= MAX_DELAY / 2);
        let wait = r.retry_at(Outcome::Established, t0, &mut rng) - t0;
        assert!(wait <= FIRST_DELAY, "{wait:?}");
    }

    #[test]
    fn the_next_attempt_is_counted_from_the_end_of_the_last() {
        let mut r = Reconnect::default();
        let mut rng = StdRng::seed_from_u64(4);
        let later = Instant::now() + Duration::from_secs(60);
        let at = r.retry_at(Outcome::Established, later, &mut rng);
        assert!(at > later && at <= later + FIRST_DELAY);
    }
}
