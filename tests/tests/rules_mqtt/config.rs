//! The quick start's example configs made fit for a test run (shared by the MQTT tests).

use crate::common::{broker, unique};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `127.0.0.1:<port>` becomes `127.0.0.1:0` everywhere in `text`.
pub fn ephemeral_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(HOST) {
        out.push_str(&rest[..i + HOST.len()]);
        rest = rest[i + HOST.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('0');
    }
    out.push_str(rest);
    out
}

/// An example config made fit for a test run: ephemeral ports, this test's broker and client
/// id, the rules file by absolute path (the test's cwd is not the repo root), a temp data dir.
pub fn example_config(name: &str, data_dir: &Path) -> String {
    let text = std::fs::read_to_string(repo().join("examples").join(name)).expect("example");
    let rules = repo().join("examples/rules.toml");
    let text = ephemeral_ports(&text);
    let mut replaced = Vec::new();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let key = l.split_once(" = ").map_or("", |(k, _)| k);
            let value = match key {
                "rules" => rules.display().to_string(),
                "data_dir" => data_dir.display().to_string(),
                "broker" => broker().to_string(),
                "client_id" => unique("devgate"),
                _ => return l.to_string(),
            };
            replaced.push(key);
            format!("{key} = \"{value}\"")
        })
        .collect();
    // A shared broker needs our own client id wherever the example talks to one.
    replaced.sort_unstable();
    let mqtt = replaced.contains(&"broker");
    let want: &[&str] = if mqtt {
        &["broker", "client_id", "data_dir", "rules"]
    } else {
        &["data_dir", "rules"]
    };
    assert_eq!(replaced, want, "{name}: keys the test replaces");
    lines.join("\n")
}
