//! Helpers shared by the integration tests: the binary under test, echo servers as child
//! processes on 127.0.0.1, and plans parsed from command lines.
#![allow(dead_code)]

use device_sim::cli::{Cli, Command};
use device_sim::dialects::Dialects;
use device_sim::plan::Plan;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};

/// The device-sim binary built for these tests.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_device-sim")
}

/// An `echo-server` child process, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `device-sim echo-server --listen LISTEN ARGS...` and waits for its address.
    pub fn start(listen: &str, args: &[&str]) -> Server {
        let mut child = Process::new(exe())
            .args(["echo-server", "--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start echo-server");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs device-sim with `args` and `--json`, and returns the parsed report.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Process::new(exe())
        .args(args)
        .arg("--json")
        .stderr(Stdio::inherit())
        .output()
        .expect("run device-sim");
    assert!(
        out.status.success(),
        "device-sim {args:?} failed: {:?}",
        out.status
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The plan of a `device-sim run ...` or `idle ...` command line.
pub fn plan(args: &[&str]) -> Plan {
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once("device-sim").chain(args.iter().copied()),
    )
    .unwrap();
    match cli.command {
        Command::Run(a) => a.plan(&Dialects::stock()).unwrap(),
        Command::Idle(a) => a.plan(&Dialects::stock()).unwrap(),
        other => panic!("not a run or idle command: {other:?}"),
    }
}

/// A scenario's text, read with the stock families.
pub fn scenario(text: &str, target: Option<&str>) -> Result<Plan, device_sim::scenario::Problem> {
    device_sim::scenario::parse(text, target, &Dialects::stock())
}

/// A fresh empty directory under the system's temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("device-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A u64 field of a JSON object.
pub fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no u64 `{key}` in {v}"))
}
