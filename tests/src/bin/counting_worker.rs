//! `counting_worker`: a business worker that records every data event it handles, so the
//! delivery tests (tests/delivery.rs) can count what reached a worker through kills and
//! restarts.
//!
//! Run it like `devgate worker`: `counting_worker --log FILE --config FILE` starts the
//! `[worker]` of the config, prints `devgate: worker NAME` on stdout once started, and on
//! SIGTERM leaves its gateways gracefully and exits 0.
//!
//! For each message it appends one line `<message text> <redelivered 0|1>` to the log file
//! (opened `O_APPEND`, written with one unbuffered `write` before the handler returns): the
//! worker acknowledges an event only after its handler returned, so every acknowledged event is
//! in the file, even after SIGKILL. It sends no replies.

use anyhow::{bail, Context as _, Result};
use gateway::worker::{Context, EventHandler, Incoming};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// The recording handler.
struct Counting {
    /// Shared by the handler shards: `O_APPEND` makes each line's single write atomic.
    log: File,
}

impl EventHandler for Counting {
    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        let mut line = Vec::with_capacity(msg.data.len() + 3);
        line.extend_from_slice(&msg.data);
        line.extend_from_slice(if cx.redelivered { b" 1\n" } else { b" 0\n" });
        // One write call, no buffer: a partial write would be a torn line, reported as such.
        match (&self.log).write(&line) {
            Ok(n) if n == line.len() => {}
            Ok(n) => {
                tracing::error!(client = %cx.client_id, "short log write: {n} of {}", line.len())
            }
            Err(e) => tracing::error!(client = %cx.client_id, "log write failed: {e}"),
        }
    }
}

/// The `--log FILE` argument (the config is read by `run_worker`).
fn log_path() -> Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--log" {
            return args.next().map(PathBuf::from).context("--log needs a file");
        }
    }
    bail!("usage: counting_worker --log FILE --config FILE")
}

#[tokio::main]
async fn main() -> Result<()> {
    let path = log_path()?;
    let log = File::options()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    tests::worker_main::run_worker("counting_worker", Counting { log }).await
}
