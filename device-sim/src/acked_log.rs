//! `--acked-log FILE`: one JSON line per location the first time device-sim sees it acked,
//! `{"uid":"<IMEI or phone, as the gateway binds it>","time":<GPS time, unix s>,"resent":<bool>}`,
//! so that another process can check that every acknowledged location reached its destination.
//!
//! Lines go through one buffered writer per process, flushed by the runner every second and at
//! the end of the run, so the file is complete when device-sim exits normally. The file is
//! opened for appending: the shards of a run each append whole lines (each flush writes whole
//! lines, and appends to a local file do not interleave within one write), after the parent
//! emptied it with [`AckedLog::truncate`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Buffered bytes past which a write goes to the file at once rather than at the next flush.
const BUFFER: usize = 64 * 1024;

/// The acked log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("acked log {path}: {source}")]
pub struct AckedLogError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub source: io::Error,
}

/// The writer of one process's acked-location lines.
#[derive(Debug)]
pub struct AckedLog {
    path: PathBuf,
    out: Mutex<Writer>,
}

#[derive(Debug)]
struct Writer {
    file: BufWriter<File>,
    /// The first write error: later lines are dropped and the run reports it at the end.
    failed: Option<io::Error>,
}

/// Appends the line of one acked location to `line`.
pub fn line(uid: &str, time: i64, resent: bool, line: &mut Vec<u8>) {
    let uid = serde_json::Value::from(uid);
    line.extend_from_slice(
        format!("{{\"uid\":{uid},\"time\":{time},\"resent\":{resent}}}\n").as_bytes(),
    );
}

impl AckedLog {
    /// Empties (or creates) the file at `path`, before the processes of a run append to it.
    pub fn truncate(path: &Path) -> Result<(), AckedLogError> {
        File::create(path)
            .map(drop)
            .map_err(|source| AckedLogError {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Opens `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> Result<AckedLog, AckedLogError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AckedLogError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AckedLog {
            path: path.to_path_buf(),
            out: Mutex::new(Writer {
                file: BufWriter::with_capacity(BUFFER, file),
                failed: None,
            }),
        })
    }

    /// Adds whole lines (made by [`line`]).
    pub fn write(&self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        // A poisoned lock only means a device task panicked mid-write; the buffer is still sound.
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if out.failed.is_none() {
            if let Err(e) = out.file.write_all(lines) {
                out.failed = Some(e);
            }
        }
    }

    /// Writes what is buffered to the file; reports the first error of any write so far.
    pub fn flush(&self) -> Result<(), AckedLogError> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if out.failed.is_none() {
            if let Err(e) = out.file.flush() {
                out.failed = Some(e);
            }
        }
        match &out.failed {
            None => Ok(()),
            Some(e) => Err(AckedLogError {
                path: self.path.clone(),
                source: io::Error::new(e.kind(), e.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_objects_with_the_uid_time_and_resent_flag() {
        let mut out = Vec::new();
        line("860000000000042", 1_700_000_000, true, &mut out);
        line("013800000001", 5, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["uid"], "860000000000042");
        assert_eq!(lines[0]["time"], 1_700_000_000);
        assert_eq!(lines[0]["resent"], true);
        assert_eq!(lines[1]["uid"], "013800000001");
        assert_eq!(lines[1]["resent"], false);
    }
}
