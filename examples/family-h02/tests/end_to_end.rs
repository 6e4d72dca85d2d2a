//! End to end over real processes and sockets: devgate with H02 (`devgate-h02 start`, ports
//! picked by the system) running rules that act on any family's `kind == 'location'`, and
//! device-sim with the H02 dialect (`device-sim-h02`) against it. Locations reach the rules and
//! update the device's state (each one reports the state the previous one left), heartbeats
//! are answered and reach the rules; a text client in the `watch` group sees it all.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RULES: &str = r#"
[[rule]]
name = "watch"
protocol = ["text"]
when = "text == 'watch'"
actions = [{ join_group = "watch" }, { reply = "watching" }, { drop = true }]

# Any family, by what the message is: the previous location is read back from the state.
[[rule]]
name = "location"
when = "kind == 'location' and uid != null"
actions = [
  { set_state = { previous = "${state.lat:-none}", lat = "${latitude}", lon = "${longitude}", time = "${fields.time:-}" } },
  { send_to_group = { group = "watch", data = "LOC ${uid} ${state.lat} ${state.previous}" } },
]

[[rule]]
name = "heartbeat"
when = "kind == 'heartbeat' and uid != null"
actions = [
  { set_state = { battery = "${fields.details.battery:-}" } },
  { send_to_group = { group = "watch", data = "HB ${uid} ${state.battery}" } },
]
"#;

/// A process killed when the test ends, whatever happens.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("family-h02-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path) -> PathBuf {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let text = format!(
        r#"
secret = ""
[register]
listen = "127.0.0.1:0"
[gateway]
name = "gw"
lan_ip = "127.0.0.1"
internal_listen = "127.0.0.1:0"
listeners = [{{ url = "text://127.0.0.1:0" }}, {{ url = "h02://127.0.0.1:0" }}]
[worker]
name = "w"
handler = "rules"
rules = "{}"
data_dir = "{}"
"#,
        rules.display(),
        dir.join("data").display()
    );
    let path = dir.join("devgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `devgate-h02 start`; returns it, its text and h02 listener addresses, read from the
/// `devgate: ...` lines it prints once bound, and its further stdout lines (the channel
/// disconnects when the process has exited).
fn start_devgate(config: &Path) -> (Process, String, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devgate-h02"))
        .args(["start", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let (mut text, mut h02) = (None, None);
    while text.is_none() || h02.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("devgate-h02 announces its listeners");
        if let Some(addr) = line.strip_prefix("devgate: listening text://") {
            text = Some(addr.to_string());
        }
        if let Some(addr) = line.strip_prefix("devgate: listening h02://") {
            h02 = Some(addr.to_string());
        }
    }
    (process, text.unwrap(), h02.unwrap(), rx)
}

#[test]
fn h02_trackers_reach_the_rules_update_state_and_have_heartbeats_answered() {
    let dir = temp_dir();
    let (mut devgate, text, h02, stdout) = start_devgate(&config(&dir));

    let watcher = TcpStream::connect(&text).unwrap();
    watcher
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut lines = BufReader::new(watcher.try_clone().unwrap()).lines();
    (&watcher).write_all(b"watch\n").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "watching");

    let sim = Command::new(env!("CARGO_BIN_EXE_device-sim-h02"))
        .args(["run", "--proto", "h02", "--target", &h02, "--devices", "2"])
        .args([
            "--rate",
            "5",
            "--heartbeat",
            "300ms",
            "--duration",
            "2s",
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "device-sim-h02 failed: {:?}",
        sim.status
    );
    let report: Value = serde_json::from_slice(&sim.stdout).unwrap();
    let g = &report["groups"][0];
    let family = &g["family"];
    let locations = family["locations"].as_u64().unwrap();
    let heartbeats = family["heartbeats"].as_u64().unwrap();
    assert!(locations >= 4 && heartbeats >= 2, "{g}");
    assert_eq!(family["without_ack"].as_u64(), Some(locations), "{g}");
    assert_eq!(family["logins"].as_u64(), Some(0), "{g}");
    // Only heartbeats wait for an answer, and every one got it.
    assert_eq!(g["sent"].as_u64(), Some(heartbeats), "{g}");
    assert_eq!(g["received"].as_u64(), Some(heartbeats), "{g}");
    assert_eq!(
        (g["lost"].as_u64(), g["corrupted"].as_u64()),
        (Some(0), Some(0)),
        "{g}"
    );

    // What the rules did, in the order they did it: every location and heartbeat of both
    // trackers, each location after the first with the state the one before it left.
    let imeis = ["860000000000000", "860000000000001"];
    let (mut located, mut restated, mut beats) = (0, [0u64; 2], 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while located < locations || beats < heartbeats {
        assert!(
            Instant::now() < deadline,
            "rules saw {located} of {locations} locations"
        );
        let line = lines.next().expect("the watch stream stays open").unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        let device = imeis
            .iter()
            .position(|i| words.get(1) == Some(i))
            .unwrap_or_else(|| panic!("unknown device: {line}"));
        match words[..] {
            ["LOC", _, lat, previous] => {
                located += 1;
                assert!(lat.parse::<f64>().is_ok(), "{line}");
                if previous != "none" {
                    assert!(previous.parse::<f64>().is_ok(), "{line}");
                    restated[device] += 1;
                }
            }
            ["HB", _, "100"] => beats += 1,
            _ => panic!("unexpected: {line}"),
        }
    }
    assert!(
        restated.iter().all(|&n| n > 0),
        "state read back: {restated:?}"
    );

    // A graceful stop, bounded.
    let pid = devgate.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stop = Instant::now() + Duration::from_secs(20);
    // Its stdout closes when it exits.
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        match stdout.recv_timeout(left) {
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no stop within 20 s of SIGTERM"),
        }
    }
    let status = devgate.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
