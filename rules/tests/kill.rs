//! SIGKILL tests: a child process (this test binary, running the ignored `kill_child` test)
//! writes and acknowledges, is killed with SIGKILL, and everything it acknowledged is there.

mod common;

use common::{broker, unique, Proxy, Subscriber};
use rules::{parse_rules, Bridge, Event, MqttConfig, Pipeline, SledStore, StateStore};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;

const MODE: &str = "DEVGATE_RULES_KILL_MODE";
const DIR: &str = "DEVGATE_RULES_KILL_DIR";
const PROXY: &str = "DEVGATE_RULES_KILL_PROXY";
const PREFIX: &str = "DEVGATE_RULES_KILL_PREFIX";

fn numbered(uid: &str, n: usize) -> Event {
    let mut ev = Event::message("c1", "tcp", "text", format!("{{\"n\":{n}}}"));
    ev.uid = Some(uid.into());
    ev
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"))
}

/// The child side; only meaningful when started by the tests below.
#[test]
#[ignore = "child process of the SIGKILL tests, started by them"]
fn kill_child() {
    let dir = env(DIR);
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&dir).unwrap());
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    match env(MODE).as_str() {
        "state" => {
            let rules = parse_rules(
                "[[rule]]\nactions = [{ set_state = { n = \"${fields.n}\" } }]",
                Path::new("r"),
            )
            .unwrap();
            let p = Pipeline::new(rules, store, None);
            // Bounded: the parent kills it long before; a broken stdout (parent gone) ends it too.
            for i in 0..20_000 {
                p.handle(&numbered(&format!("u{i}"), i), 0).unwrap();
                say(format!("acked {i}"));
            }
        }
        "outbox" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut cfg = MqttConfig::new(env(PROXY));
                cfg.client_id = unique("kill-child");
                cfg.backoff_initial_ms = 50;
                cfg.backoff_max_ms = 200;
                let bridge = Bridge::start(cfg, store.clone(), Arc::new(rules::mqtt::NoDownlink)).unwrap();
                let src = format!(
                    "[[rule]]\nactions = [{{ publish = {{ topic = \"{}/${{uid}}\", payload = {{ n = \"${{fields.n}}\" }} }} }}]",
                    env(PREFIX)
                );
                let p = Pipeline::new(parse_rules(&src, Path::new("r")).unwrap(), store, Some(bridge.outbox()));
                for n in 0..100 {
                    p.handle(&numbered("k1", n), 0).unwrap();
                }
                say("phase1".into());
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).unwrap();
                for n in 100..300 {
                    p.handle(&numbered("k1", n), 0).unwrap();
                }
                say("accepted 300".into());
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            });
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Kills the child (SIGKILL) when dropped, so a failing test leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(
    mode: &str,
    dir: &Path,
    extra: &[(&str, String)],
) -> (KillOnDrop, BufReader<ChildStdout>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "kill_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(MODE, mode)
    .env(DIR, dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (KillOnDrop(child), out)
}

fn read_until(out: &mut BufReader<ChildStdout>, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended early after {seen:?}"
        );
        // The test harness may print `test kill_child ... ` before our first line.
        let line = line
            .trim()
            .rsplit(" ... ")
            .next()
            .unwrap_or_default()
            .to_owned();
        let done = pred(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

#[test]
fn every_acknowledged_state_update_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = spawn_child("state", dir.path(), &[]);
    let lines = read_until(&mut out, |l| l == "acked 299");
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let acked: Vec<usize> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("acked ")?.parse().ok())
        .collect();
    assert_eq!(acked.len(), 300);
    let store = SledStore::open(dir.path()).unwrap();
    for i in acked {
        let st = rules::store::load_state(&store, &format!("u{i}")).unwrap();
        assert_eq!(
            st.get("n"),
            Some(&serde_json::json!(i)),
            "update {i} was acknowledged but lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_killed_with_unacknowledged_messages_delivers_them_after_restart() {
    let prefix = unique("kill");
    let sub = Subscriber::start(&format!("{prefix}/#")).await;
    let proxy = Proxy::start(broker(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = spawn_child(
        "outbox",
        dir.path(),
        &[(PROXY, proxy.addr.to_string()), (PREFIX, prefix.clone())],
    );
    let mut out = tokio::task::spawn_blocking(move || {
        read_until(&mut out, |l| l == "phase1");
        out
    })
    .await
    .unwrap();
    // Let part of the first batch through, then cut the path and make the child queue more.
    sub.wait_ids(1, 20).await;
    proxy.cut();
    let mut stdin = child.0.stdin.take().unwrap();
    writeln!(stdin, "go").unwrap();
    stdin.flush().unwrap();
    tokio::task::spawn_blocking(move || read_until(&mut out, |l| l == "accepted 300"))
        .await
        .unwrap();
    child.0.kill().unwrap(); // SIGKILL with the outbox holding unacknowledged messages
    child.0.wait().unwrap();
    let before = sub.ids().len();
    assert!(before < 300, "the cut should have held messages back");

    proxy.restore();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut cfg = MqttConfig::new(proxy.addr.to_string());
    cfg.client_id = unique("kill-parent");
    let bridge = Bridge::start(cfg, store, Arc::new(rules::mqtt::NoDownlink)).unwrap();
    let ids = sub.wait_ids(300, 60).await;
    let dups = sub.duplicates_agree();
    eprintln!(
        "kill test: {before} arrived before the kill, {} after restart, {dups} duplicates",
        ids.len()
    );
    assert_eq!(ids.len(), 300, "missing {}", 300 - ids.len());
    let ns: std::collections::HashSet<u64> = sub
        .got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, v)| v["n"].as_u64())
        .collect();
    assert_eq!(ns, (0..300).collect());
    bridge.shutdown().await;
}
