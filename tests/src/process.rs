//! A `devgate` child process: its config in a temp dir, its stdout lines and stderr captured,
//! killed with SIGKILL on drop so no test leaves a process behind, even when it panics.
//! [`Proc::start`] runs any other program (device-sim, a broker) the same way.

use crate::{poll_until, WAIT};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The `devgate` binary: `$DEVGATE_BIN` when set (a CI step built it already), else built once
/// per test binary with `cargo build`, in the same profile and target dir as the tests.
pub fn devgate() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("DEVGATE_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_bin("gateway", Target::Bin("devgate")),
    })
}

/// `own_binary`, the example of a devgate binary of one's own (examples/own_binary.rs: the
/// stock codecs plus `semi`): `$OWN_BINARY_BIN` when set, else built once like [`devgate`].
pub fn own_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("OWN_BINARY_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_bin("gateway", Target::Example("own_binary")),
    })
}

/// Runs `devgate check-config PATH` to its end.
pub fn check_config(path: &Path) -> std::process::Output {
    check_config_with(devgate(), path)
}

/// Runs `PROGRAM check-config PATH` to its end (a devgate binary of one's own).
pub fn check_config_with(program: &Path, path: &Path) -> std::process::Output {
    Command::new(program)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} check-config: {e}", program.display()))
}

/// The `device-sim` binary: `$DEVICE_SIM_BIN` when set, else built once per test binary like
/// [`devgate`] (a package's binary is only handed to its own package's tests).
pub fn device_sim() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("DEVICE_SIM_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_bin("device-sim", Target::Bin("device-sim")),
    })
}

/// A program `cargo build` makes: a package's binary or example.
enum Target {
    Bin(&'static str),
    Example(&'static str),
}

fn build_bin(package: &str, target: Target) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>: the dir the binary lands in.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    let (kind, bin, subdir) = match target {
        Target::Bin(name) => ("--bin", name, ""),
        Target::Example(name) => ("--example", name, "examples"),
    };
    cmd.args(["build", "--quiet", "-p", package, kind, bin])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Cargo gives a test process its package's variables; build scripts that watch them
    // (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild here, and again in the next
    // outer `cargo test`, each time.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || matches!(
                k.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            )
        {
            cmd.env_remove(&key);
        }
    }
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .expect("cannot run cargo to build a test binary");
    assert!(
        out.status.success(),
        "building {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile_dir.join(subdir).join(bin);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

#[derive(Default)]
struct Output {
    stdout: Mutex<Vec<String>>,
    stderr: Mutex<String>,
    stdout_closed: Mutex<bool>,
}

/// A running `devgate` subcommand.
pub struct Proc {
    label: String,
    child: Child,
    output: Arc<Output>,
    dir: tempfile::TempDir,
}

impl Proc {
    /// Writes `config` to a fresh temp dir and runs `devgate <command> --config <file>`.
    pub fn spawn(label: &str, command: &str, config: &str) -> Proc {
        Proc::spawn_with(devgate(), label, command, config)
    }

    /// As [`Proc::spawn`], with another devgate binary (one of one's own, as `own_binary`).
    pub fn spawn_with(program: &Path, label: &str, command: &str, config: &str) -> Proc {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("devgate.toml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(program);
        cmd.arg(command)
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info");
        Proc::start(label, cmd, dir)
    }

    /// Runs `device-sim <args>`, its output captured as a devgate process's is.
    pub fn device_sim(label: &str, args: &[String]) -> Proc {
        let mut cmd = Command::new(device_sim());
        cmd.args(args);
        Proc::start(label, cmd, tempfile::tempdir().expect("temp dir"))
    }

    /// Runs `cmd` (any program) with its stdio captured; `dir` lives as long as the process.
    pub fn start(label: &str, mut cmd: Command, dir: tempfile::TempDir) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start {:?}: {e}", cmd.get_program()));
        let output = Arc::new(Output::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let o = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                o.stdout.lock().unwrap().push(line);
            }
            *o.stdout_closed.lock().unwrap() = true;
        });
        let o = output.clone();
        std::thread::spawn(move || {
            let mut stderr = BufReader::new(stderr);
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                o.stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Proc {
            label: label.to_string(),
            child,
            output,
            dir,
        }
    }

    /// The process id (for /proc/PID/...).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temp dir holding this process's config (other files may go there too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the process wrote to stderr so far (its logs).
    pub fn stderr(&self) -> String {
        self.output.stderr.lock().unwrap().clone()
    }

    /// Every line printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.output.stdout.lock().unwrap().clone()
    }

    /// The `devgate: ...` lines printed on stdout so far, without the prefix.
    pub fn announced(&self) -> Vec<String> {
        self.output
            .stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("devgate: ").map(str::to_string))
            .collect()
    }

    /// Waits for the stdout line `devgate: <what> <value>` and returns `<value>`.
    pub async fn wait_announced(&self, what: &str) -> String {
        let prefix = format!("{what} ");
        let found = poll_until(WAIT, || {
            self.announced()
                .iter()
                .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
                .map(Some)
                .or_else(|| self.exited().then_some(None))
        })
        .await;
        match found {
            Some(Some(value)) => value,
            _ => panic!(
                "{}: no `devgate: {what} ...` line (exited: {}); stdout {:?}; stderr:\n{}",
                self.label,
                self.exited(),
                self.announced(),
                self.stderr()
            ),
        }
    }

    /// Waits for `devgate: <what> ip:port` and parses the address.
    pub async fn wait_addr(&self, what: &str) -> SocketAddr {
        let value = self.wait_announced(what).await;
        let addr = value.rsplit("://").next().unwrap_or(&value);
        addr.parse()
            .unwrap_or_else(|e| panic!("{}: bad address {value:?}: {e}", self.label))
    }

    /// Waits for the listener whose URL starts with `scheme://` and returns its address.
    pub async fn wait_listener(&self, scheme: &str) -> SocketAddr {
        let prefix = format!("listening {scheme}://");
        let found = poll_until(WAIT, || {
            self.announced()
                .iter()
                .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        })
        .await;
        let value = found.unwrap_or_else(|| {
            panic!(
                "{}: no {scheme} listener announced; stdout {:?}; stderr:\n{}",
                self.label,
                self.announced(),
                self.stderr()
            )
        });
        value.parse().expect("listener address")
    }

    /// Log lines (stderr) that contain every one of `parts` as a whole word or phrase.
    pub fn log_lines(&self, parts: &[&str]) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| parts.iter().all(|p| has_part(l, p)))
            .map(str::to_string)
            .collect()
    }

    /// Waits until at least `n` log lines contain every one of `parts`.
    pub async fn wait_log(&self, parts: &[&str], n: usize) {
        let ok = poll_until(WAIT, || (self.log_lines(parts).len() >= n).then_some(())).await;
        assert!(
            ok.is_some(),
            "{}: fewer than {n} log lines with {parts:?}; stderr:\n{}",
            self.label,
            self.stderr()
        );
    }

    /// True once the process has exited (its stdout is closed).
    pub fn exited(&self) -> bool {
        *self.output.stdout_closed.lock().unwrap()
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped unless `kill` ran,
        // and signalling a reaped pid only fails with ESRCH in practice for a short test.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Stops the process (SIGSTOP) and returns once every thread of it is stopped: kill(2)
    /// only queues the signal, and a busy machine may let the process run on for a while.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
        let tasks = format!("/proc/{}/task", self.child.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && !all_threads_stopped(&tasks) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits up to `limit` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = &mut self.child;
        let mut status = None;
        poll_until(limit, || {
            status = child.try_wait().ok().flatten();
            status.map(|_| ())
        })
        .await?;
        status.and_then(|s| s.code())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// A word-bounded match: `worker=w1` does not match `worker=w10`.
fn has_part(line: &str, part: &str) -> bool {
    line.match_indices(part).any(|(i, _)| {
        let after = line[i + part.len()..].chars().next();
        !matches!(after, Some(c) if c.is_alphanumeric() || c == '_' || c == '-')
    })
}

/// If the test binary dies (a harness timeout, a signal), its children die with it.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Freezes a process; thaws it on drop (even when the test fails), so its own Drop can kill it.
pub struct Frozen<'a>(&'a Proc);

impl<'a> Frozen<'a> {
    /// Freezes `p` (see [`Proc::freeze`]).
    pub fn new(p: &'a Proc) -> Self {
        p.freeze();
        Frozen(p)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.signal(libc::SIGCONT);
    }
}

/// Whether every thread under `/proc/PID/task` is in the stopped state (`T`).
fn all_threads_stopped(tasks: &str) -> bool {
    let Ok(dir) = std::fs::read_dir(tasks) else {
        return false;
    };
    dir.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            // The state follows the command name, which is in parentheses and may hold spaces.
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
            })
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::has_part;

    #[test]
    fn a_log_part_matches_only_as_a_whole_word() {
        assert!(has_part("worker linked worker=w1 peer=x", "worker=w1"));
        assert!(has_part("closed: eof worker=w1", "worker=w1"));
        assert!(!has_part("worker linked worker=w10 peer=x", "worker=w1"));
        assert!(!has_part("worker linked worker=w1-b", "worker=w1"));
    }
}
