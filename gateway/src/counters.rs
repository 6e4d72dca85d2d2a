//! The process's one counter registry: every part that counts (the gateway's traffic counters,
//! the router's hold queue, and, when a rules worker runs in this process, the rules pipeline
//! and the MQTT bridge) registers itself as a [`Samples`] source, and `devgate status`, the
//! metrics page, the CLI and tests read (name, kind, help, value) samples from here, so no
//! other list of counter names exists.
//!
//! Sources declare their counters where they count them (`rules::counters!`); increments stay
//! one relaxed atomic add on a field, and nothing is copied until someone reads.

pub use rules::{Kind, Sample, Samples};
use std::sync::{Mutex, Weak};

/// A registered source: held weakly, so a stopped part drops out instead of being kept alive.
type Source = Weak<dyn Samples + Send + Sync>;

/// The samples of every registered source, read on demand.
#[derive(Default)]
pub struct Registry {
    sources: Mutex<Vec<Source>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("sources", &self.lock().len())
            .finish()
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Source>> {
        // The list is only pushed to and pruned in single steps: a poisoned one is consistent.
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a source; its samples follow those registered before it.
    pub fn register(&self, source: Source) {
        self.lock().push(source);
    }

    /// Every sample of every live source, in registration order (a source that was dropped
    /// is forgotten). Names are unique as long as sources use distinct prefixes.
    pub fn samples(&self) -> Vec<Sample> {
        let live: Vec<_> = {
            let mut sources = self.lock();
            sources.retain(|s| s.strong_count() > 0);
            sources.iter().filter_map(Weak::upgrade).collect()
        };
        // Read outside the lock: a source may take its own locks.
        let mut out = Vec::with_capacity(64);
        for s in live {
            s.samples(&mut out);
        }
        out
    }

    /// The value of one sample by name (for tests and tools); `None` when absent or unknown.
    pub fn value(&self, name: &str) -> Option<u64> {
        self.samples()
            .into_iter()
            .find(|s| s.name == name)
            .and_then(|s| s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Fixed(&'static str, u64);

    impl Samples for Fixed {
        fn samples(&self, out: &mut Vec<Sample>) {
            out.push(Sample {
                name: self.0,
                kind: Kind::Counter,
                help: "A fixed number.",
                value: Some(self.1),
            });
        }
    }

    fn source(s: &Arc<Fixed>) -> Source {
        Arc::downgrade(s) as Source
    }

    #[test]
    fn samples_come_in_registration_order_and_a_dropped_source_drops_out() {
        let r = Registry::default();
        let a = Arc::new(Fixed("a", 1));
        let b = Arc::new(Fixed("b", 2));
        r.register(source(&a));
        r.register(source(&b));
        let names: Vec<_> = r.samples().iter().map(|s| (s.name, s.value)).collect();
        assert_eq!(names, [("a", Some(1)), ("b", Some(2))]);
        drop(a);
        let names: Vec<_> = r.samples().iter().map(|s| s.name).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(r.value("b"), Some(2));
        assert_eq!(r.value("a"), None);
    }
}
