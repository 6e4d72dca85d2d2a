//! The default [`StateStore`]: sled 0.34 in a data directory.
//!
//! sled 0.34.7 is the last stable release. Writes are durable only after `flush`, and sled has
//! open durability reports on Linux (sled #1452, #1351), which is why the rest of the crate only
//! sees the small [`StateStore`] trait and the tests kill a writer with SIGKILL and reopen.

use super::{Batch, Pairs, StateStore};
use crate::error::StoreError;
use std::path::Path;
use std::time::{Duration, Instant};

/// A [`StateStore`] on sled; cheap to clone (clones share the database).
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    dir: std::path::PathBuf,
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// How long `open` waits for the directory's lock before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(3);

impl SledStore {
    /// Opens (or creates) the store in `dir`. Only one process may have it open.
    ///
    /// A database dropped in this process keeps its file lock until sled's background flusher
    /// thread has ended, a few milliseconds later on a busy machine: a locked directory is
    /// retried for up to `LOCK_WAIT`, then reported as in use.
    pub fn open(dir: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match sled::Config::new().path(dir.as_ref()).open() {
                Ok(db) => {
                    return Ok(SledStore {
                        db,
                        dir: dir.as_ref().to_path_buf(),
                    })
                }
                // sled 0.34 reports a held lock only as an `Other` io error with this text.
                Err(sled::Error::Io(e)) if e.to_string().starts_with("could not acquire lock") => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::Engine(format!(
                            "{} is in use by another process: {e}",
                            dir.as_ref().display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(engine(e)),
            }
        }
    }
}

impl StateStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(engine)?.map(|v| v.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db.insert(key, value).map_err(engine)?;
        Ok(())
    }

    fn batch(&self, batch: Batch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b).map_err(engine)
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        let iter = match after {
            Some(a) => self
                .db
                .range::<&[u8], _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.db.range::<&[u8], _>(prefix..),
        };
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(engine)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(engine)
    }

    fn data_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}
