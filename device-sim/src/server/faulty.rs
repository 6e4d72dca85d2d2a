//! A deliberately unreliable echo server, to prove that device-sim's checks count right.
//!
//! Per message, at most one fault, drawn at random: drop it, send it twice, corrupt one byte of
//! its body (to `#`, which no payload holds), or hold it back and send it right after the next
//! message (a reorder). The message after a held one always goes through untouched, so every
//! reorder shows as exactly one out-of-order reply; a held message with no follower within
//! [`HOLD`] goes out alone and is not counted as reordered. The counts of what was done are
//! exact, so a test can compare them with what device-sim reports.

use crate::framing::Framing;
use bytes::{Buf, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// How long a held-back message waits for a follower.
pub const HOLD: Duration = Duration::from_millis(20);
/// Largest message accepted; a longer one closes the connection.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Probabilities of each fault, per message.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultSpec {
    /// Drop the message.
    pub drop: f64,
    /// Send it twice.
    pub dup: f64,
    /// Send it after the next message.
    pub reorder: f64,
    /// Change one byte of its body.
    pub corrupt: f64,
}

impl FromStr for FaultSpec {
    type Err = String;

    /// Parses `drop=0.01,dup=0.01,reorder=0.01,corrupt=0.005` (any subset).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut spec = FaultSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected name=probability"))?;
            let p: f64 = value
                .parse()
                .map_err(|_| format!("`{part}`: not a number"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("`{part}`: a probability is between 0 and 1"));
            }
            match key {
                "drop" => spec.drop = p,
                "dup" => spec.dup = p,
                "reorder" => spec.reorder = p,
                "corrupt" => spec.corrupt = p,
                _ => {
                    return Err(format!(
                        "`{key}`: unknown fault (drop, dup, reorder, corrupt)"
                    ))
                }
            }
        }
        if spec.drop + spec.dup + spec.reorder + spec.corrupt > 1.0 {
            return Err("fault probabilities add up to more than 1".to_string());
        }
        Ok(spec)
    }
}

/// What the server did, over all connections.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Messages received.
    pub messages: AtomicU64,
    /// Messages dropped.
    pub dropped: AtomicU64,
    /// Messages sent twice.
    pub duplicated: AtomicU64,
    /// Messages sent after their follower.
    pub reordered: AtomicU64,
    /// Messages with a byte changed.
    pub corrupted: AtomicU64,
}

/// A copy of [`FaultCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultTotals {
    /// Messages received.
    pub messages: u64,
    /// Messages dropped.
    pub dropped: u64,
    /// Messages sent twice.
    pub duplicated: u64,
    /// Messages sent after their follower.
    pub reordered: u64,
    /// Messages with a byte changed.
    pub corrupted: u64,
}

impl FaultCounts {
    /// The counts now.
    pub fn totals(&self) -> FaultTotals {
        FaultTotals {
            messages: self.messages.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            duplicated: self.duplicated.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            corrupted: self.corrupted.load(Relaxed),
        }
    }
}

/// One connection's fault injection.
struct Injector<'a> {
    spec: FaultSpec,
    rng: StdRng,
    counts: &'a FaultCounts,
    held: Option<Vec<u8>>,
}

impl Injector<'_> {
    /// Appends to `out` what to send for one framed message whose body is `frame[body]`.
    fn message(&mut self, frame: &[u8], body: std::ops::Range<usize>, out: &mut BytesMut) {
        self.counts.messages.fetch_add(1, Relaxed);
        if let Some(held) = self.held.take() {
            out.extend_from_slice(frame);
            out.extend_from_slice(&held);
            self.counts.reordered.fetch_add(1, Relaxed);
            return;
        }
        let s = self.spec;
        let r: f64 = self.rng.gen();
        if r < s.drop {
            self.counts.dropped.fetch_add(1, Relaxed);
        } else if r < s.drop + s.dup {
            out.extend_from_slice(frame);
            out.extend_from_slice(frame);
            self.counts.duplicated.fetch_add(1, Relaxed);
        } else if r < s.drop + s.dup + s.corrupt && !body.is_empty() {
            let at = out.len() + self.rng.gen_range(body);
            out.extend_from_slice(frame);
            out[at] = b'#';
            self.counts.corrupted.fetch_add(1, Relaxed);
        } else if r < s.drop + s.dup + s.corrupt + s.reorder {
            self.held = Some(frame.to_vec());
        } else {
            out.extend_from_slice(frame);
        }
    }
}

/// Echoes messages with faults injected, until the peer closes.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    framing: Framing,
    spec: FaultSpec,
    seed: u64,
    counts: &FaultCounts,
) {
    let mut inj = Injector {
        spec,
        rng: StdRng::seed_from_u64(seed),
        counts,
        held: None,
    };
    let mut rbuf = BytesMut::with_capacity(8192);
    let mut out = BytesMut::with_capacity(8192);
    let hold = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(hold);
    loop {
        tokio::select! {
            read = stream.read_buf(&mut rbuf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    if let Some(held) = inj.held.take() {
                        let _ = stream.write_all(&held).await;
                    }
                    return;
                }
                let was_holding = inj.held.is_some();
                let mut at = 0;
                loop {
                    match framing.next(&rbuf[at..], MAX_MESSAGE) {
                        Ok(Some(found)) => {
                            let frame = &rbuf[at..at + found.consumed];
                            inj.message(frame, found.body, &mut out);
                            at += found.consumed;
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
                rbuf.advance(at);
                if !was_holding && inj.held.is_some() {
                    hold.as_mut().reset(Instant::now() + HOLD);
                }
            }
            _ = hold.as_mut(), if inj.held.is_some() => {
                if let Some(held) = inj.held.take() {
                    out.extend_from_slice(&held);
                }
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_spec_parses_from_its_flag_form() {
        let spec: FaultSpec = "drop=0.1, dup=0.2,reorder=0.05".parse().unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                drop: 0.1,
                dup: 0.2,
                reorder: 0.05,
                corrupt: 0.0
            }
        );
        assert!("drop=2".parse::<FaultSpec>().is_err());
        assert!("lose=0.1".parse::<FaultSpec>().is_err());
        assert!("drop=0.6,dup=0.6".parse::<FaultSpec>().is_err());
    }
}
