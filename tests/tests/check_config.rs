//! `devgate check-config`: every problem of a file at once, each with file, key and reason.

use std::path::Path;
use std::process::Command;
use tests::process::{check_config as check, devgate};

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
fn check_config_accepts_every_devgate_config_in_examples_from_the_repo_root() {
    // As the README runs them: relative paths in the files (the rules file) are relative to
    // the directory devgate is started from. The other TOML files there are rules files and
    // device-sim scenarios, which name none of devgate's sections.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut examples: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ is readable")
        .map(|entry| entry.expect("an examples/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("example is readable");
            text.lines()
                .any(|l| ["[register]", "[gateway]", "[worker]"].contains(&l.trim()))
        })
        .map(|path| format!("examples/{}", path.file_name().unwrap().to_string_lossy()))
        .collect();
    examples.sort();
    assert!(
        examples.len() >= 2 && examples.contains(&"examples/quickstart.toml".to_string()),
        "{examples:?}"
    );
    for example in &examples {
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

#[test]
fn bad_codec_options_and_handler_names_are_refused_by_check_config_and_start_alike() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("options.toml");
    std::fs::write(
        &path,
        r#"
[register]
listen = "127.0.0.1:0"
[gateway]
internal_listen = "127.0.0.1:0"
listeners = [
    { url = "text://127.0.0.1:0" },
    { url = "gt06://127.0.0.1:0", options = { bad_checksum = "closee" } },
    { url = "gt06://127.0.0.1:0", options = { timezone_offset_hours = "99" } },
    { url = "websocket://127.0.0.1:0", options = { handshake_max = "100" } },
]
[worker]
handler = "echoo"
"#,
    )
    .unwrap();
    let file = path.display().to_string();
    let expected = [
        format!(
            "{file}: gateway.listeners[1].options.bad_checksum: gt06 option `bad_checksum`: \
             expected `skip` or `close`, got `closee`"
        ),
        format!(
            "{file}: gateway.listeners[2].options.timezone_offset_hours: gt06 option \
             `timezone_offset_hours`: expected hours between -14 and 14, got `99`"
        ),
        format!(
            "{file}: gateway.listeners[3].options.handshake_max: websocket option \
             `handshake_max`: no such option; it reads `handshake_max_bytes`"
        ),
        format!("{file}: worker.handler: unknown handler \"echoo\"; built in: echo, rules"),
    ];
    let checked = check(&path);
    let started = Command::new(devgate())
        .arg("start")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run devgate start");
    for (what, out) in [("check-config", checked), ("start", started)] {
        assert!(!out.status.success(), "{what} accepted bad options");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in &expected {
            assert!(
                stderr.lines().any(|l| l.ends_with(line.as_str())),
                "{what}: no `{line}` line in:\n{stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "{what} bound something");
    }
}

#[test]
fn a_broker_url_with_a_scheme_other_than_mqtt_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules.toml");
    std::fs::write(
        &path,
        format!(
            "[worker]\nhandler = \"rules\"\nrules = \"{}\"\n[worker.mqtt]\nbroker = \"mqtts://127.0.0.1:8883\"\n",
            rules.display()
        ),
    )
    .unwrap();
    let out = check(&path);
    assert!(!out.status.success(), "mqtts:// passed check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("worker.mqtt.broker") && stderr.contains("\"mqtts\" is not supported"),
        "{stderr}"
    );
}

/// What each codec of `gateway::codec_registry()` is given by [`a_codec_reports`]: a bad
/// value of an option it reads (`None` for codecs that read none), and a key it does not read.
const CODEC_OPTIONS: &[(&str, Option<(&str, &str)>)] = &[
    ("text", None),
    ("frame", None),
    ("raw", None),
    ("websocket", Some(("handshake_max_bytes", "0"))),
    ("gt06", Some(("timezone_offset_hours", "15"))),
    ("jt808", Some(("text_flag", "256"))),
    ("teltonika", Some(("bad_checksum", "drop"))),
];

/// Runs `devgate check-config` on a file whose listeners of `codec` carry a bad value (when
/// the codec reads an option) and an unknown key, beside a good listener; asserts each is
/// reported as `FILE: gateway.listeners[I].options.KEY: CODEC option `KEY`: ...`, and nothing
/// else.
fn a_codec_reports(codec: &str) {
    let (_, bad_value) = CODEC_OPTIONS
        .iter()
        .find(|(name, _)| *name == codec)
        .unwrap_or_else(|| panic!("no options to try for {codec}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{codec}.toml"));
    let mut listeners = vec![
        format!("{{ url = \"{codec}://127.0.0.1:0\" }}"),
        format!("{{ url = \"{codec}://127.0.0.1:0\", options = {{ colour = \"red\" }} }}"),
    ];
    let mut expected = vec![(1, "colour", "no such option")];
    if let Some((key, value)) = bad_value {
        listeners.push(format!(
            "{{ url = \"{codec}://127.0.0.1:0\", options = {{ {key} = \"{value}\" }} }}"
        ));
        expected.push((2, key, "expected"));
    }
    std::fs::write(
        &path,
        format!("[gateway]\nlisteners = [{}]\n", listeners.join(", ")),
    )
    .unwrap();
    let out = check(&path);
    assert!(!out.status.success(), "{codec}: bad options passed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for (i, key, reason) in &expected {
        let line = format!(
            "{file}: gateway.listeners[{i}].options.{key}: {codec} option `{key}`: {reason}"
        );
        assert!(
            stderr.lines().any(|l| l.starts_with(&line)),
            "{codec}: no `{line}...` in:\n{stderr}"
        );
    }
    let found = format!("{} problem(s) found", expected.len());
    assert!(
        stderr.lines().any(|l| l == found),
        "{codec}: not exactly {} problem(s):\n{stderr}",
        expected.len()
    );
}

#[test]
fn every_codec_of_the_stock_registry_has_its_option_check_tested_here() {
    let mut tested: Vec<&str> = CODEC_OPTIONS.iter().map(|(name, _)| *name).collect();
    tested.sort_unstable();
    assert_eq!(gateway::codec_registry().names(), tested);
}

#[test]
fn text_options_are_checked_by_check_config() {
    a_codec_reports("text");
}

#[test]
fn frame_options_are_checked_by_check_config() {
    a_codec_reports("frame");
}

#[test]
fn raw_options_are_checked_by_check_config() {
    a_codec_reports("raw");
}

#[test]
fn websocket_options_are_checked_by_check_config() {
    a_codec_reports("websocket");
}

#[test]
fn gt06_options_are_checked_by_check_config() {
    a_codec_reports("gt06");
}

#[test]
fn jt808_options_are_checked_by_check_config() {
    a_codec_reports("jt808");
}

#[test]
fn teltonika_options_are_checked_by_check_config() {
    a_codec_reports("teltonika");
}
