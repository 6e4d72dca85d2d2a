//! `devgate check-config`: every problem of a file at once, each with file, key and reason.

use std::path::Path;
use std::process::Command;
use tests::process::devgate;

fn check(path: &Path) -> std::process::Output {
    Command::new(devgate())
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run devgate check-config")
}

#[test]
fn check_config_reports_every_problem_with_file_key_and_reason_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
secret = "s"
[register]
listen = "not-an-address"
[gateway]
lan_ip = "nope"
listeners = [{ url = "bogus://127.0.0.1:1" }, { url = "text:/missing-slash" }]
max_message_size = 0
[worker]
handler = "nothing"
"#,
    )
    .unwrap();
    let out = check(&path);
    assert!(!out.status.success(), "a broken config passed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for (key, reason) in [
        ("register.listen", "not ip:port"),
        ("gateway.lan_ip", "not an ip address"),
        ("gateway.listeners[0].url", "unknown protocol"),
        ("gateway.listeners[1].url", "not of the form"),
        ("gateway.max_message_size", "must be above 0"),
        ("worker.handler", "unknown handler"),
    ] {
        let prefix = format!("{file}: {key}: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(reason)),
            "no `{prefix}...{reason}` line in:\n{stderr}"
        );
    }
}

#[test]
fn check_config_names_unknown_keys_in_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typos.toml");
    std::fs::write(
        &path,
        "[gateway]\nlisteners = [{ url = \"text://127.0.0.1:0\" }]\ncolour = 1\n[worker]\nshard = 2\n",
    )
    .unwrap();
    let out = check(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("colour") && stderr.contains("shard"),
        "{stderr}"
    );
}

#[test]
fn check_config_accepts_the_quick_start_examples_from_the_repo_root() {
    // As the README runs them: relative paths in the files (the rules file) are relative to
    // the directory devgate is started from.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for example in ["examples/quickstart.toml", "examples/quickstart-mqtt.toml"] {
        let out = Command::new(devgate())
            .arg("check-config")
            .arg(example)
            .current_dir(&root)
            .output()
            .expect("run devgate check-config");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{example} refused:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim_end(), format!("{example}: ok"));
    }
}
