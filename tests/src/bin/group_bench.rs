//! `group_bench`: send_to_group to N members spread over two gateway processes, next to
//! send_to_client to the same N clients in a loop, in one run (issue 4; numbers in BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p tests --bin group_bench [-- --clients 10000 --group-sends 100 --client-rounds 20]
//! ```
//!
//! It builds and starts a register, two `devgate gateway` processes and one `api_worker`, all on
//! 127.0.0.1 with ephemeral ports; opens the text clients (half on each gateway) from this
//! process, each sending `join bench` and waiting for its `ok`; then, from a `StandaloneApi`:
//!
//! 1. `send_to_group(["bench"])` repeated `--group-sends` times;
//! 2. `send_to_client(id)` for every client, `--client-rounds` times over.
//!
//! Each phase is timed from its first call until every client has read every line of it
//! (lines are counted at the clients), so the rate is messages *delivered* per second.
//! Everything shares this machine's cores: the clients' reading is part of the cost.

use anyhow::{bail, Context as _, Result};
use gateway::{ClientId, StandaloneApi};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::api_cluster::{start_api_worker, Program};
use tests::cluster::{common_toml, SECRET, TEXT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The group every client joins.
const GROUP: &str = "bench";
/// Connections being opened at once.
const CONNECTING: usize = 256;
/// Longest wait for one phase's deliveries.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

struct Options {
    clients: usize,
    group_sends: usize,
    client_rounds: usize,
}

fn options() -> Result<Options> {
    let mut o = Options {
        clients: 10_000,
        group_sends: 100,
        client_rounds: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v: usize = args
            .next()
            .with_context(|| format!("{a} needs a number"))?
            .parse()
            .with_context(|| format!("{a} needs a number"))?;
        match a.as_str() {
            "--clients" => o.clients = v,
            "--group-sends" => o.group_sends = v,
            "--client-rounds" => o.client_rounds = v,
            _ => bail!("unknown option {a}; see the doc at the top of group_bench.rs"),
        }
    }
    Ok(o)
}

/// Builds `devgate` and `api_worker` with this binary's profile; returns their directory.
fn build_binaries() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("exe dir")?.to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "gateway", "-p", "tests"])
        .args(["--bin", "devgate", "--bin", "api_worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status()?;
    if !status.success() {
        bail!("building devgate and api_worker failed");
    }
    Ok(dir)
}

/// The register, two gateways and the worker; dropped (killed) at the end.
struct Deployment {
    _procs: Vec<Program>,
    register: SocketAddr,
    listeners: [SocketAddr; 2],
}

async fn deploy(bin: &Path) -> Result<Deployment> {
    let devgate = bin.join("devgate");
    let mut register = Program::spawn(
        "register",
        &devgate,
        &["register"],
        &format!("secret = \"{SECRET}\"\n[register]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let reg = register.wait_addr("register").await;
    let mut procs = vec![register];
    let mut listeners = Vec::new();
    for name in ["ga", "gb"] {
        let config = format!(
            "{}[gateway]\nname = \"{name}\"\nlan_ip = \"127.0.0.1\"\n\
             internal_listen = \"127.0.0.1:0\"\nlisteners = [{TEXT}]\n",
            common_toml(SECRET, reg)
        );
        let mut g = Program::spawn(name, &devgate, &["gateway"], &config);
        listeners.push(g.wait_addr("listening").await);
        procs.push(g);
    }
    procs.push(start_api_worker(&bin.join("api_worker"), reg, "bench-worker").await);
    Ok(Deployment {
        _procs: procs,
        register: reg,
        listeners: [listeners[0], listeners[1]],
    })
}

/// Connects, reads `hello ID`, joins the group; then counts every line it reads.
async fn client(addr: SocketAddr, received: Arc<AtomicU64>) -> Result<ClientId> {
    let stream = TcpStream::connect(addr).await?;
    let mut rd = BufReader::new(stream);
    let mut line = String::new();
    rd.read_line(&mut line).await?;
    let id: ClientId = line
        .trim_end()
        .strip_prefix("hello ")
        .context("no hello")?
        .parse()?;
    rd.get_mut().write_all(b"join bench\n").await?;
    line.clear();
    rd.read_line(&mut line).await?;
    if line.trim_end() != "ok join bench" {
        bail!("join answered {line:?}");
    }
    tokio::spawn(async move {
        loop {
            let n = match rd.fill_buf().await {
                Ok([]) | Err(_) => return,
                Ok(buf) => {
                    let lines = buf.iter().filter(|&&b| b == b'\n').count();
                    received.fetch_add(lines as u64, Ordering::Relaxed);
                    buf.len()
                }
            };
            rd.consume(n);
        }
    });
    Ok(id)
}

async fn connect_all(d: &Deployment, n: usize, received: &Arc<AtomicU64>) -> Result<Vec<ClientId>> {
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let (addr, received) = (d.listeners[i % 2], received.clone());
        tasks.spawn(async move {
            let r = client(addr, received).await;
            drop(permit);
            r
        });
    }
    let mut ids = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        ids.push(r??);
        if ids.len() % 2000 == 0 {
            eprintln!("  {} clients joined", ids.len());
        }
    }
    Ok(ids)
}

/// Waits until `received` reaches `target`; returns the time since `start`.
async fn delivered(received: &AtomicU64, target: u64, start: Instant) -> Result<Duration> {
    while received.load(Ordering::Relaxed) < target {
        if start.elapsed() > PHASE_LIMIT {
            bail!(
                "only {} of {target} lines arrived within {PHASE_LIMIT:?}",
                received.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(start.elapsed())
}

fn report(what: &str, messages: u64, calls_done: Duration, all_in: Duration) {
    println!(
        "{what:<32} {messages:>8} messages  calls returned {:>8.1} ms  delivered in {:>8.1} ms  \
         {:>10.0} delivered/s",
        calls_done.as_secs_f64() * 1e3,
        all_in.as_secs_f64() * 1e3,
        messages as f64 / all_in.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = options()?;
    eprintln!("building devgate and api_worker ...");
    let bin = build_binaries()?;
    let d = deploy(&bin).await?;
    let api = StandaloneApi::connect(vec![d.register.to_string()], SECRET, "group-bench");
    if !api.ready(2, Duration::from_secs(15)).await {
        bail!("the StandaloneApi did not link both gateways");
    }
    api.set_query_timeout(Duration::from_secs(30));

    let received = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let ids = connect_all(&d, o.clients, &received).await?;
    let n = ids.len() as u64;
    let members = api.get_client_id_count_by_group(GROUP).await;
    if !members.complete || members.value as u64 != n {
        bail!("group has {members:?} members, expected {n}");
    }
    eprintln!("{n} clients joined in {:.1} s", t.elapsed().as_secs_f64());

    let payload = |i: usize| format!("bench-payload-{i:08}");
    let base = received.load(Ordering::Relaxed);
    let start = Instant::now();
    for i in 0..o.group_sends {
        let failed = api.send_to_group(&[GROUP], payload(i), &[]).await;
        if !failed.is_empty() {
            bail!("send_to_group failed: {failed:?}");
        }
    }
    let calls = start.elapsed();
    let group_msgs = n * o.group_sends as u64;
    let all_in = delivered(&received, base + group_msgs, start).await?;
    report(
        &format!("send_to_group x{}", o.group_sends),
        group_msgs,
        calls,
        all_in,
    );

    let base = received.load(Ordering::Relaxed);
    let start = Instant::now();
    for round in 0..o.client_rounds {
        for id in &ids {
            api.send_to_client(*id, payload(round)).await?;
        }
    }
    let calls = start.elapsed();
    let client_msgs = n * o.client_rounds as u64;
    let all_in = delivered(&received, base + client_msgs, start).await?;
    report(
        &format!("send_to_client loop x{}", o.client_rounds),
        client_msgs,
        calls,
        all_in,
    );
    let extra = received.load(Ordering::Relaxed) - base - client_msgs;
    if extra != 0 {
        bail!("{extra} more lines than sent arrived");
    }
    Ok(())
}
