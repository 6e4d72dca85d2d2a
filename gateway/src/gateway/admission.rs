//! A listener's connection limits: how many connections it serves at once, in all and per
//! remote address. A connection over a limit is closed as soon as it is accepted (the kernel
//! already completed its handshake, so the peer sees an immediate close), counted in
//! `connections_refused`, and reported in a throttled warning.
//!
//! Plain bookkeeping with no I/O: [`Admission::admit`] says yes with a [`Slot`] that gives the
//! place back when the connection ends (dropped), or says which limit was hit.

use crate::config::ConnectionLimits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener serves `max_connections` already.
    Total(usize),
    /// This address has `max_connections_per_ip` already.
    PerIp(usize),
    /// The listener accepted `max_accepts_per_sec` in the last second already.
    Rate,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Total(n) => write!(f, "the listener serves its max_connections ({n})"),
            Refused::PerIp(n) => {
                write!(f, "the address has its max_connections_per_ip ({n})")
            }
            Refused::Rate => write!(f, "the listener is at its max_accepts_per_sec"),
        }
    }
}

#[derive(Debug, Default)]
struct Live {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The live connections of one listener, against its limits.
#[derive(Debug)]
pub struct Admission {
    limits: ConnectionLimits,
    live: Mutex<Live>,
}

/// A connection's place under its listener's limits, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Bookkeeping for `limits`; `None` when there is no limit (nothing to count).
    pub fn new(limits: ConnectionLimits) -> Option<Arc<Admission>> {
        (limits.total.is_some() || limits.per_ip.is_some()).then(|| {
            Arc::new(Admission {
                limits,
                live: Mutex::default(),
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        // Each update is one step on plain counts: a poisoned lock holds consistent numbers.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection from `ip`, or the limit it would break.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut live = self.lock();
        if let Some(max) = self.limits.total.filter(|m| live.total >= *m) {
            return Err(Refused::Total(max));
        }
        let from_ip = live.per_ip.get(&ip).copied().unwrap_or(0);
        if let Some(max) = self.limits.per_ip.filter(|m| from_ip >= *m) {
            return Err(Refused::PerIp(max));
        }
        live.total += 1;
        if self.limits.per_ip.is_some() {
            live.per_ip.insert(ip, from_ip + 1);
        }
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }

    /// Live connections now (for tests and logs).
    pub fn live(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.admission.lock();
        live.total = live.total.saturating_sub(1);
        if let Some(n) = live.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // Forget addresses with nothing open: the map holds live peers only.
                live.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn limits(total: Option<usize>, per_ip: Option<usize>) -> ConnectionLimits {
        ConnectionLimits {
            total,
            per_ip,
            accepts_per_sec: None,
        }
    }

    #[test]
    fn no_limits_means_no_bookkeeping() {
        assert!(Admission::new(ConnectionLimits::default()).is_none());
        let rate_only = ConnectionLimits {
            accepts_per_sec: Some(10),
            ..Default::default()
        };
        assert!(Admission::new(rate_only).is_none());
    }

    #[test]
    fn the_total_limit_refuses_the_next_connection_until_one_ends() {
        let a = Admission::new(limits(Some(2), None)).unwrap();
        let s1 = a.admit(ip(1)).unwrap();
        let _s2 = a.admit(ip(2)).unwrap();
        assert_eq!(a.admit(ip(3)).unwrap_err(), Refused::Total(2));
        drop(s1);
        assert!(a.admit(ip(3)).is_ok());
    }

    #[test]
    fn the_per_address_limit_refuses_only_that_address_and_forgets_closed_ones() {
        let a = Admission::new(limits(None, Some(1))).unwrap();
        let s1 = a.admit(ip(1)).unwrap();
        assert_eq!(a.admit(ip(1)).unwrap_err(), Refused::PerIp(1));
        let _other = a.admit(ip(2)).unwrap();
        drop(s1);
        assert_eq!(a.live(), 1);
        assert_eq!(a.lock().per_ip.len(), 1, "a closed address is forgotten");
        assert!(a.admit(ip(1)).is_ok());
    }
}
