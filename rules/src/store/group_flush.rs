//! Group commit: callers that need their writes durable share one `flush` instead of each
//! paying for their own. A caller takes a ticket after its writes; if a flush that started
//! after that ticket has finished, it is done; otherwise it either runs the next flush itself
//! (covering every ticket issued so far) or waits for the one in progress.

use super::StateStore;
use crate::error::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

#[derive(Default)]
struct State {
    /// Every ticket up to this one is durable.
    flushed: u64,
    /// A flush is running.
    flushing: bool,
}

/// Shares flushes between concurrent callers.
#[derive(Default)]
pub(crate) struct GroupFlush {
    tickets: AtomicU64,
    state: Mutex<State>,
    done: Condvar,
}

impl GroupFlush {
    /// A ticket for writes already applied to the store (take it after writing).
    pub fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once the writes before `ticket` are durable.
    pub fn wait_durable(&self, store: &dyn StateStore, ticket: u64) -> Result<(), StoreError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.flushed >= ticket {
                return Ok(());
            }
            if st.flushing {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.flushing = true;
            // Every ticket issued by now belongs to writes that are already in the store.
            let covers = self.tickets.load(Ordering::SeqCst);
            drop(st);
            let result = store.flush();
            st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.flushing = false;
            if result.is_ok() {
                st.flushed = st.flushed.max(covers);
            }
            self.done.notify_all();
            result?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Batch, Pairs};
    use std::sync::mpsc;
    use std::sync::Arc;

    /// Counts flushes; the first one waits until the test releases it.
    struct GatedFlush {
        count: AtomicU64,
        entered: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl StateStore for GatedFlush {
        fn get(&self, _: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn put(&self, _: &[u8], _: &[u8]) -> Result<(), StoreError> {
            Ok(())
        }
        fn batch(&self, _: Batch) -> Result<(), StoreError> {
            Ok(())
        }
        fn scan_prefix(&self, _: &[u8], _: Option<&[u8]>, _: usize) -> Result<Pairs, StoreError> {
            Ok(vec![])
        }
        fn flush(&self) -> Result<(), StoreError> {
            if self.count.fetch_add(1, Ordering::SeqCst) == 0 {
                self.entered.lock().unwrap().send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            Ok(())
        }
    }

    #[test]
    fn callers_waiting_behind_a_flush_share_the_next_one() {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let store = Arc::new(GatedFlush {
            count: AtomicU64::new(0),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        });
        let g = Arc::new(GroupFlush::default());
        let wait = |t: u64| {
            let (store, g) = (store.clone(), g.clone());
            std::thread::spawn(move || g.wait_durable(store.as_ref(), t).unwrap())
        };
        let first = wait(g.ticket());
        entered.recv().unwrap(); // the first flush is running and covers only ticket 1
        let (t2, t3) = (g.ticket(), g.ticket());
        let later = [wait(t2), wait(t3)];
        release.send(()).unwrap();
        first.join().unwrap();
        for h in later {
            h.join().unwrap();
        }
        assert_eq!(
            store.count.load(Ordering::SeqCst),
            2,
            "tickets 2 and 3 share one flush"
        );
        assert!(g.state.lock().unwrap().flushed >= 3);
    }
}
