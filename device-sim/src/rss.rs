//! A server's memory per connection: its resident set size (VmRSS in `/proc/PID/status`, summed
//! over several processes) before the devices connect and while they are all held.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The RSS of a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RssError {
    /// The status file could not be read (no such process?).
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The status file has no readable VmRSS line.
    #[error("{0}: no VmRSS line")]
    NoRss(PathBuf),
}

/// The resident set size of process `pid`, in kB.
pub fn rss_kb(pid: u32) -> Result<u64, RssError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = std::fs::read_to_string(&path).map_err(|source| RssError::Read {
        path: path.clone(),
        source,
    })?;
    parse_vm_rss(&status).ok_or(RssError::NoRss(path))
}

/// The kB figure of the `VmRSS:` line of a `/proc/PID/status` text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The summed RSS of `pids`, in kB.
pub fn total_rss_kb(pids: &[u32]) -> Result<u64, RssError> {
    pids.iter().map(|&pid| rss_kb(pid)).sum()
}

/// What the server's memory did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RssResult {
    /// The processes measured.
    pub pids: Vec<u32>,
    /// Summed RSS before any device connected, kB.
    pub before_kb: u64,
    /// Summed RSS at the last moment the most connections were open, kB.
    pub held_kb: u64,
    /// Connections open at that moment.
    pub connections: u64,
    /// `(held - before) / connections`, in bytes.
    pub bytes_per_connection: f64,
}

/// Samples the server's RSS each second and keeps the sample taken while the most connections
/// were open (the last such one, when the server has settled).
#[derive(Debug)]
pub struct RssTracker {
    pids: Vec<u32>,
    before_kb: u64,
    held: Option<(u64, u64)>,
}

impl RssTracker {
    /// Takes the "before" sample; `Ok(None)` when there is nothing to measure.
    pub fn start(pids: &[u32]) -> Result<Option<RssTracker>, RssError> {
        if pids.is_empty() {
            return Ok(None);
        }
        Ok(Some(RssTracker {
            pids: pids.to_vec(),
            before_kb: total_rss_kb(pids)?,
            held: None,
        }))
    }

    /// Called once a second with the number of connections open now.
    pub fn on_tick(&mut self, connected: u64) {
        let most = self.held.map_or(0, |(c, _)| c);
        if connected > 0 && connected >= most {
            // A server that exited mid-run just leaves the previous sample standing.
            if let Ok(kb) = total_rss_kb(&self.pids) {
                self.held = Some((connected, kb));
            }
        }
    }

    /// The measurement, once a sample with connections open was taken.
    pub fn result(&self) -> Option<RssResult> {
        let (connections, held_kb) = self.held?;
        Some(RssResult {
            pids: self.pids.clone(),
            before_kb: self.before_kb,
            held_kb,
            connections,
            bytes_per_connection: (held_kb.saturating_sub(self.before_kb) * 1024) as f64
                / connections as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_a_status_text() {
        let status = "Name:\techo\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(rss_kb(std::process::id()).unwrap() > 0);
    }
}
