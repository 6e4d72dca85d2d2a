//! A Mosquitto broker process of a test's own: an ephemeral 127.0.0.1 port, persistence in a temp
//! dir, so a restart (SIGTERM, then the same port and dir again) keeps every persistent session
//! and its queued QoS 1 messages.

use crate::process::Proc;
use crate::WAIT;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable naming the Mosquitto binary for the tests that need a real broker.
pub const MOSQUITTO_VAR: &str = "DEVGATE_TEST_MOSQUITTO";

/// The Mosquitto binary from `$DEVGATE_TEST_MOSQUITTO`. Without it the test `test` cannot run:
/// under CI (`$CI` set) that is a failure, elsewhere a loud skip (`None`).
pub fn binary(test: &str) -> Option<PathBuf> {
    match std::env::var_os(MOSQUITTO_VAR) {
        Some(bin) if !bin.is_empty() => Some(PathBuf::from(bin)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: CI is set but {MOSQUITTO_VAR} is not (the path of mosquitto)")
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: set {MOSQUITTO_VAR} to a mosquitto binary \
                 (e.g. /usr/sbin/mosquitto) to run it"
            );
            None
        }
    }
}

/// A running Mosquitto and what it needs to come back the same: its port and its data dir.
pub struct Mosquitto {
    bin: PathBuf,
    addr: SocketAddr,
    /// Config and persistence file; outlives every process of the broker.
    data: tempfile::TempDir,
    proc: Proc,
    starts: usize,
}

impl Mosquitto {
    /// Starts `bin` on a free ephemeral port and returns once it accepts connections.
    pub async fn start(bin: &Path) -> Mosquitto {
        let data = tempfile::tempdir().expect("temp dir");
        // A port free a moment ago; nothing else of the test binds ports by number.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        write_config(data.path(), addr);
        let proc = spawn(bin, data.path(), 1).await;
        Mosquitto {
            bin: bin.to_path_buf(),
            addr,
            data,
            proc,
            starts: 1,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker process (its pid, its logs).
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops the broker with SIGTERM (it writes its persistence file on the way out), waits for
    /// it to exit and starts it again on the same port and data dir.
    pub async fn restart(&mut self) {
        self.proc.signal(libc::SIGTERM);
        // wait_exit says None for a death by signal too; `exited` tells a hang apart.
        if self.proc.wait_exit(WAIT).await.is_none() && !self.proc.exited() {
            panic!(
                "mosquitto did not exit on SIGTERM within {WAIT:?}; log:\n{}",
                self.proc.stderr()
            );
        }
        self.starts += 1;
        self.proc = spawn(&self.bin, self.data.path(), self.starts).await;
    }
}

fn write_config(dir: &Path, addr: SocketAddr) {
    // Run as root, Mosquitto drops to the `mosquitto` user, which cannot write our temp dir.
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root\n"
    } else {
        ""
    };
    let config = format!(
        "listener {port} {ip}\nallow_anonymous true\npersistence true\n\
         persistence_location {dir}/\nlog_dest stderr\n\
         # An offline persistent session keeps everything: the test counts every message.\n\
         max_queued_messages 0\n{user}",
        port = addr.port(),
        ip = addr.ip(),
        dir = dir.display()
    );
    std::fs::write(dir.join("mosquitto.conf"), config).expect("write mosquitto.conf");
}

async fn spawn(bin: &Path, dir: &Path, start: usize) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(dir.join("mosquitto.conf"));
    let label = format!("mosquitto (start {start})");
    let proc = Proc::start(&label, cmd, tempfile::tempdir().expect("temp dir"));
    // Logged once the listeners are open (or the process exits, failing the wait).
    proc.wait_log(&["mosquitto version", "running"], 1).await;
    proc
}
