//! `devgate-h02 check-config` accepts the crate's devgate.toml (an `h02://` listener with its
//! options) and reports bad H02 options with file, key and reason, every one at once; the stock
//! devgate's registry refuses `h02://` as an unknown protocol.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: the sample config's rules path is relative to it, as README runs it.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devgate-h02"))
        .arg("check-config")
        .arg(path)
        .current_dir(repo_root())
        .output()
        .expect("devgate-h02 runs")
}

#[test]
fn the_sample_config_with_an_h02_listener_passes() {
    let out = check_config(Path::new("examples/family-h02/devgate.toml"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "examples/family-h02/devgate.toml: ok"
    );
}

#[test]
fn bad_h02_options_are_reported_with_file_key_and_reason_all_at_once() {
    let dir = std::env::temp_dir().join(format!("family-h02-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[gateway]\nlisteners = [{ url = \"h02://127.0.0.1:0\", options = { \
         answer_locations = \"yes\" } }, { url = \"h02://127.0.0.1:0\", options = { \
         bad_checksum = \"skip\" } }]\n",
    )
    .expect("config written");
    let out = check_config(&path);
    assert!(!out.status.success(), "bad options accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (i, key) in [(0, "answer_locations"), (1, "bad_checksum")] {
        let line = format!(
            "{}: gateway.listeners[{i}].options.{key}: h02 option `{key}`",
            path.display()
        );
        assert!(
            stderr.lines().any(|l| l.starts_with(&line)),
            "no `{line}...` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("2 problem(s) found"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}

#[test]
fn the_stock_registry_refuses_h02_listeners() {
    let path = repo_root().join("examples/family-h02/devgate.toml");
    let stock = gateway::config::Config::load(&path, &gateway::codec_registry());
    let Err(errors) = stock else {
        panic!("the stock devgate accepted h02://");
    };
    let errors = errors.to_string();
    assert!(
        errors.contains("gateway.listeners[1].url: unknown protocol \"h02\""),
        "{errors}"
    );
}
