//! Issue 6 at the process level: a real `devgate start` with the `rules` handler is killed with
//! SIGKILL after acknowledging state updates, started again on the same `data_dir`, and every
//! acknowledged update is read back over the socket.
//!
//! The rules (written by the test) give each update its own state key (`u<n>` = n) and answer
//! it `ok <n>` only after the pipeline has flushed the store; `state` answers the whole stored
//! state as JSON. Every key is checked, not only the last: sled flushes on its own only every
//! 500 ms, so a store that acknowledged before flushing loses the last updates to the kill.

use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tests::{poll_until, LineClient, Proc, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// `{"bind":"dev-1"}` binds, `{"n":7,"set":{"u7":7}}` merges `set` into the state and is
/// acknowledged `ok 7`, `state` reads the stored state back.
const RULES: &str = r#"
[[rule]]
name = "bind"
when = "fields.bind != null"
actions = [{ bind_uid = "${fields.bind}" }, { reply = "bound ${uid}" }, { drop = true }]

[[rule]]
name = "update"
when = "fields.set != null and uid != null"
actions = [{ set_state = "${fields.set}" }, { reply = "ok ${fields.n}" }, { drop = true }]

[[rule]]
name = "read"
when = "text == 'state' and uid != null"
actions = [{ reply = "state ${state}" }, { drop = true }]

[[rule]]
name = "other"
actions = [{ reply = "unexpected ${text:-}" }]
"#;

/// The rules file and the data dir, shared by every run of devgate in one test.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rules.toml"), RULES).expect("write rules");
        Setup { dir }
    }

    fn config(&self) -> String {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        format!(
            "[register]\nlisten = \"127.0.0.1:0\"\n[gateway]\ninternal_listen = \"127.0.0.1:0\"\n\
             listeners = [{{ url = \"text://127.0.0.1:0\" }}]\n\
             [worker]\nhandler = \"rules\"\nrules = \"{}\"\ndata_dir = \"{}\"\n",
            path("rules.toml"),
            path("data")
        )
    }

    /// `devgate start` on the shared data dir; returns it and its text listener.
    async fn start(&self, label: &str) -> (Proc, SocketAddr) {
        let p = Proc::spawn(label, "start", &self.config());
        let text = p.wait_listener("text").await;
        p.wait_announced("worker").await;
        (p, text)
    }
}

fn update(n: usize) -> String {
    format!(r#"{{"n":{n},"set":{{"u{n}":{n}}}}}"#)
}

async fn bind(c: &mut LineClient<TcpStream>, uid: &str) {
    c.send(&format!(r#"{{"bind":"{uid}"}}"#)).await;
    assert_eq!(c.recv().await, format!("bound {uid}"));
}

/// The stored state of `uid`, read through a fresh connection to `text`.
async fn read_state(text: SocketAddr, uid: &str) -> Map<String, Value> {
    let mut c = LineClient::connect(text).await;
    bind(&mut c, uid).await;
    c.send("state").await;
    let line = c.recv().await;
    let json = line
        .strip_prefix("state ")
        .unwrap_or_else(|| panic!("not a state reply: {line:?}"));
    match serde_json::from_str(json) {
        Ok(Value::Object(m)) => m,
        other => panic!("state of {uid} is not a JSON object: {other:?} in {line:?}"),
    }
}

/// The `n` such that `state` is exactly `u0 = 0 ... u<n-1> = n-1`; panics on anything else.
/// Each event rewrites the whole state object, so what survives is always such a prefix.
fn prefix_len(uid: &str, state: &Map<String, Value>) -> usize {
    let n = state.len();
    for i in 0..n {
        assert_eq!(
            state.get(&format!("u{i}")),
            Some(&Value::from(i)),
            "{uid}: update {i} is missing or wrong, though {n} keys survived: {state:?}"
        );
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_update_survives_a_sigkill_of_devgate() {
    const N: usize = 200;
    let setup = Setup::new();
    let (mut devgate, text) = setup.start("rules-kill").await;
    let mut c = LineClient::connect(text).await;
    bind(&mut c, "dev-1").await;
    for n in 0..N {
        c.send(&update(n)).await;
        assert_eq!(c.recv().await, format!("ok {n}"));
    }
    // Right after the last acknowledgement: no grace for a background flush.
    devgate.kill();
    drop(c);

    let (_again, text) = setup.start("rules-kill-restarted").await;
    let state = read_state(text, "dev-1").await;
    for n in 0..N {
        assert_eq!(
            state.get(&format!("u{n}")),
            Some(&Value::from(n)),
            "update {n} was acknowledged but is not there after the kill: {state:?}"
        );
    }
    assert_eq!(state.len(), N, "keys nobody sent: {state:?}");
}

/// One device streaming updates without waiting: a writer task sends, the reader counts acks.
struct Stream {
    uid: String,
    /// Acknowledgements read so far (each checked to be the next in order).
    acked: Arc<AtomicUsize>,
    /// Updates handed to the socket so far, the failing write included: an upper bound on
    /// what devgate could have received.
    sent: Arc<AtomicUsize>,
    reader: tokio::task::JoinHandle<()>,
    /// Ends after the last update: dropping the write half half-closes the connection, and
    /// devgate still sends the acks of what it received before its close.
    writer: tokio::task::JoinHandle<()>,
}

impl Stream {
    async fn start(text: SocketAddr, uid: &str, limit: usize) -> Stream {
        let stream = TcpStream::connect(text).await.expect("connect");
        let (rd, mut wr) = stream.into_split();
        let mut lines = BufReader::new(rd).lines();
        wr.write_all(format!("{{\"bind\":\"{uid}\"}}\n").as_bytes())
            .await
            .expect("write bind");
        let first = tokio::time::timeout(WAIT, lines.next_line()).await;
        assert!(
            matches!(&first, Ok(Ok(Some(l))) if *l == format!("bound {uid}")),
            "{uid}: bind answered {first:?}"
        );
        let acked = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicUsize::new(0));
        let (a, who) = (acked.clone(), uid.to_string());
        let reader = tokio::spawn(async move {
            // Ends at EOF or reset: the kill. Acks still in the socket buffer then were sent
            // by devgate, so after its flush: they count.
            while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, lines.next_line()).await {
                let n = a.load(Ordering::SeqCst);
                assert_eq!(
                    line,
                    format!("ok {n}"),
                    "{who}: acknowledgement out of order"
                );
                a.store(n + 1, Ordering::SeqCst);
            }
        });
        let s = sent.clone();
        let writer = tokio::spawn(async move {
            for start in (0..limit).step_by(20) {
                let end = (start + 20).min(limit);
                let chunk: String = (start..end).map(|n| update(n) + "\n").collect();
                s.store(end, Ordering::SeqCst);
                if wr.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        Stream {
            uid: uid.to_string(),
            acked,
            sent,
            reader,
            writer,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_amid_unacknowledged_updates_keeps_every_acknowledged_one() {
    const DEVICES: usize = 4;
    const LIMIT: usize = 1000;
    const KILL_AFTER: usize = 20;
    let setup = Setup::new();
    let (mut devgate, text) = setup.start("rules-kill-stream").await;
    let mut streams = Vec::new();
    for d in 0..DEVICES {
        streams.push(Stream::start(text, &format!("dev-{d}"), LIMIT).await);
    }
    let all_acking = poll_until(WAIT, || {
        streams
            .iter()
            .all(|s| s.acked.load(Ordering::SeqCst) >= KILL_AFTER)
            .then_some(())
    })
    .await;
    assert!(
        all_acking.is_some(),
        "not every device got {KILL_AFTER} acks ({:?}); stderr:\n{}",
        streams
            .iter()
            .map(|s| (
                s.acked.load(Ordering::SeqCst),
                s.sent.load(Ordering::SeqCst)
            ))
            .collect::<Vec<_>>(),
        devgate.stderr()
    );
    devgate.kill();

    let mut seen = Vec::new();
    for s in streams {
        s.reader.await.expect("reader");
        s.writer.await.expect("writer");
        seen.push((
            s.uid,
            s.acked.load(Ordering::SeqCst),
            s.sent.load(Ordering::SeqCst),
        ));
    }
    let (_again, text) = setup.start("rules-kill-stream-restarted").await;
    for (uid, acked, sent) in seen {
        let state = read_state(text, &uid).await;
        let kept = prefix_len(&uid, &state);
        eprintln!("{uid}: {acked} acknowledged, {kept} kept, {sent} sent before the kill");
        assert!(
            kept >= acked,
            "{uid}: {acked} updates acknowledged, only {kept} there after the kill"
        );
        assert!(kept <= sent, "{uid}: {kept} kept but only {sent} sent");
    }
}
