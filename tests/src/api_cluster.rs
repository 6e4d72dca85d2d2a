//! Harness for the API tests (issue 4): a register, two gateways and two `api_worker`
//! processes, a [`StandaloneApi`] in the test process, and [`Device`]s that drive the API by
//! sending `api_worker` commands (see `src/bin/api_worker.rs`).
//!
//! [`Program`] runs a binary other than `devgate` (the `api_worker`, or `devgate` itself from
//! the benchmark, whose path [`crate::process::devgate`] cannot derive). It is a small cousin
//! of [`Proc`](crate::Proc), kept separate so that module stays about `devgate` alone.

use crate::clients::{LineClient, Read};
use crate::cluster::{common_toml, Cluster, Gateway, SECRET, TEXT};
use crate::WAIT;
use gateway::{ClientId, StandaloneApi};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

/// How long the test's [`StandaloneApi`] waits for each gateway's answer: generous, because a
/// busy test machine must not turn a healthy gateway into a "missing" one.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A child process with its `devgate: ...` stdout lines captured and its stderr in a file;
/// killed on drop.
pub struct Program {
    label: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl Program {
    /// Writes `config` to a temp dir and runs `bin ARGS.. --config FILE`.
    pub fn spawn(label: &str, bin: &Path, args: &[&str], config: &str) -> Program {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Program {
            label: label.to_string(),
            child,
            lines,
            dir,
        }
    }

    /// Its logs so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Waits for the stdout line `devgate: <what> <value>` and returns `<value>`.
    pub async fn wait_announced(&mut self, what: &str) -> String {
        let prefix = format!("devgate: {what} ");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix(&prefix).map(str::to_string));
            if let Some(v) = found {
                return v;
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || tokio::time::Instant::now() >= deadline {
                panic!(
                    "{}: no `{prefix}...` line (exited: {exited}); stderr:\n{}",
                    self.label,
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `devgate: <what> [scheme://]ip:port` and parses the address.
    pub async fn wait_addr(&mut self, what: &str) -> SocketAddr {
        let v = self.wait_announced(what).await;
        let addr = v.rsplit("://").next().unwrap_or(&v);
        addr.parse()
            .unwrap_or_else(|e| panic!("{}: bad address {v:?}: {e}", self.label))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// The config of an `api_worker` named `name` following `register`.
pub fn worker_config(register: SocketAddr, name: &str) -> String {
    format!(
        "{}[worker]\nname = \"{name}\"\n",
        common_toml(SECRET, register)
    )
}

/// Starts the `api_worker` at `bin` and waits until it says it is up.
pub async fn start_api_worker(bin: &Path, register: SocketAddr, name: &str) -> Program {
    let mut w = Program::spawn(name, bin, &[], &worker_config(register, name));
    assert_eq!(w.wait_announced("worker").await, name);
    w
}

/// Two gateways (`a`, `b`), two `api_worker`s and a linked [`StandaloneApi`].
pub struct ApiCluster {
    /// The register.
    pub cluster: Cluster,
    /// First gateway (one text listener).
    pub a: Gateway,
    /// Second gateway (one text listener).
    pub b: Gateway,
    /// The `api_worker` processes `w1` and `w2`.
    pub workers: Vec<Program>,
    /// The standalone API, in the test process.
    pub api: StandaloneApi,
}

impl ApiCluster {
    /// Starts everything and waits until both workers and the client are linked to both
    /// gateways. `worker_bin` is `env!("CARGO_BIN_EXE_api_worker")`.
    pub async fn start(worker_bin: &str) -> ApiCluster {
        let cluster = Cluster::start().await;
        let a = cluster.gateway("ga", &[TEXT], "").await;
        let b = cluster.gateway("gb", &[TEXT], "").await;
        let bin = Path::new(worker_bin);
        let mut workers = Vec::new();
        for name in ["w1", "w2"] {
            workers.push(start_api_worker(bin, cluster.register_addr, name).await);
        }
        for g in [&a, &b] {
            g.wait_worker_linked("w1", 1).await;
            g.wait_worker_linked("w2", 1).await;
        }
        let api = StandaloneApi::connect(vec![cluster.register_addr.to_string()], SECRET, "test");
        assert!(
            api.ready(2, WAIT).await,
            "the StandaloneApi did not link both gateways"
        );
        api.set_query_timeout(QUERY_TIMEOUT);
        ApiCluster {
            cluster,
            a,
            b,
            workers,
            api,
        }
    }

    /// A device on gateway A.
    pub async fn on_a(&self) -> Device {
        Device::connect(self.a.listener(0)).await
    }

    /// A device on gateway B.
    pub async fn on_b(&self) -> Device {
        Device::connect(self.b.listener(0)).await
    }
}

/// A text client of an `api_worker` that knows its own client id (from the `hello`).
pub struct Device {
    /// Its client id.
    pub id: ClientId,
    /// The connection.
    pub conn: LineClient<TcpStream>,
}

impl Device {
    /// Connects and reads the worker's `hello CLIENT_ID`.
    pub async fn connect(addr: SocketAddr) -> Device {
        let mut conn = LineClient::connect(addr).await;
        let hello = conn.recv().await;
        let id = hello
            .strip_prefix("hello ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("expected `hello CLIENT_ID`, got {hello:?}"));
        Device { id, conn }
    }

    /// Sends a command; returns what came before its `ok` (panics on `err`, close, timeout).
    pub async fn cmd(&mut self, line: &str) -> Vec<String> {
        self.conn.send(line).await;
        let ok = format!("ok {line}");
        let err = format!("err {line}");
        let mut before = Vec::new();
        loop {
            let got = self.conn.recv().await;
            if got == ok {
                return before;
            }
            assert!(!got.starts_with(&err), "{}: {got}", self.id);
            before.push(got);
        }
    }

    /// The next line (panics on close or timeout).
    pub async fn recv(&mut self) -> String {
        self.conn.recv().await
    }

    /// Asserts the gateway closes this device; returns the lines before the close.
    pub async fn expect_closed(&mut self) -> Vec<String> {
        self.conn.expect_closed(WAIT).await
    }

    /// Sends `whoami`; returns the uid and session the worker saw in the event's context.
    pub async fn whoami(&mut self) -> (Option<String>, serde_json::Map<String, serde_json::Value>) {
        let said = self.cmd("whoami").await;
        let line = said.last().expect("a whoami line before the ok");
        let rest = line
            .strip_prefix(&format!("whoami {} uid=", self.id))
            .unwrap_or_else(|| panic!("unexpected whoami answer {line:?}"));
        let (uid, session) = rest.split_once(" session=").expect("session= in whoami");
        let session = match serde_json::from_str(session).expect("whoami session is JSON") {
            serde_json::Value::Object(m) => m,
            other => panic!("whoami session is not an object: {other}"),
        };
        ((uid != "-").then(|| uid.to_string()), session)
    }

    /// Reads one line within `limit`.
    pub async fn read_within(&mut self, limit: Duration) -> Read<String> {
        self.conn.read_within(limit).await
    }
}

/// Output of one `devgate` CLI run.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `devgate SUBCOMMAND --register R --secret S --timeout-ms T ARGS..` as a separate
/// process; `timeout` bounds its wait for the gateways and for each answer.
pub async fn devgate_cli(
    sub: &str,
    register: SocketAddr,
    secret: &str,
    timeout: Duration,
    args: &[&str],
) -> CliRun {
    let mut cmd = Command::new(crate::process::devgate());
    cmd.arg(sub)
        .args(["--register", &register.to_string(), "--secret", secret])
        .args(["--timeout-ms", &timeout.as_millis().to_string()])
        .args(args)
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("cli thread")
        .expect("run devgate");
    CliRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl ApiCluster {
    /// Runs the `devgate` CLI against this cluster's register with its secret, waiting as
    /// long as the test's own queries do.
    pub async fn cli(&self, sub: &str, args: &[&str]) -> CliRun {
        devgate_cli(sub, self.cluster.register_addr, SECRET, QUERY_TIMEOUT, args).await
    }
}

/// Polls the async `check` every 50 ms until it gives `Some`; panics after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The counter `name` of the one gateway that `devgate status --json` reports through the
/// register at `register`, with the whole answer for failure messages.
pub async fn status_counter(
    register: SocketAddr,
    secret: &str,
    name: &str,
) -> (Option<u64>, serde_json::Value) {
    let status = devgate_cli(
        "status",
        register,
        secret,
        Duration::from_secs(5),
        &["--json"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {status:?}"));
    let n = v["value"]
        .as_object()
        .and_then(|gws| gws.values().next())
        .and_then(|gw| gw["stats"][name].as_u64());
    (n, v)
}
