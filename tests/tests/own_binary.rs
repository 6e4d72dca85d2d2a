//! A devgate binary of one's own (issue 18): `examples/own_binary.rs` is the stock codecs plus
//! a `semi` codec it defines, run through `gateway::front::run`. Its `check-config` accepts a
//! `semi` listener that the stock `devgate` refuses, checks `semi`'s own options, and its
//! `start` serves `semi` clients: the library route keeps every subcommand.

use std::time::Duration;
use tests::process::{check_config, check_config_with, own_binary};
use tests::{LineClient, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `devgate start` with a `semi` listener (and a text one, to show the stock codecs stay).
fn config(semi_options: &str) -> String {
    config_with(semi_options, "echo")
}

/// [`config`] with another `[worker] handler`.
fn config_with(semi_options: &str, handler: &str) -> String {
    format!(
        "[register]\nlisten = \"127.0.0.1:0\"\n[gateway]\ninternal_listen = \"127.0.0.1:0\"\n\
         listeners = [{{ url = \"text://127.0.0.1:0\" }}, \
         {{ url = \"semi://127.0.0.1:0\"{semi_options} }}]\n[worker]\nhandler = \"{handler}\"\n"
    )
}

#[test]
fn a_listener_of_an_own_codec_passes_the_own_binary_and_is_refused_by_the_stock_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("semi.toml");
    std::fs::write(&path, config(", options = { trim = \"true\" }")).unwrap();

    let own = check_config_with(own_binary(), &path);
    assert!(
        own.status.success(),
        "own binary refused:\n{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&own.stdout).trim_end(),
        format!("{}: ok", path.display())
    );

    let stock = check_config(&path);
    assert!(!stock.status.success(), "stock devgate accepted semi://");
    let stderr = String::from_utf8_lossy(&stock.stderr);
    let line = format!(
        "{}: gateway.listeners[1].url: unknown protocol \"semi\"; known: ",
        path.display()
    );
    assert!(
        stderr.lines().any(|l| l.starts_with(&line)),
        "no `{line}...` in:\n{stderr}"
    );
}

#[test]
fn the_own_binary_checks_its_own_codecs_options_with_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("semi.toml");
    std::fs::write(
        &path,
        config(", options = { trim = \"maybe\", colour = \"red\" }"),
    )
    .unwrap();
    let out = check_config_with(own_binary(), &path);
    assert!(!out.status.success(), "bad semi options passed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display();
    for line in [
        format!(
            "{file}: gateway.listeners[1].options.trim: semi option `trim`: expected `false` or \
             `true`, got `maybe`"
        ),
        format!(
            "{file}: gateway.listeners[1].options.colour: semi option `colour`: no such \
             option; it reads `trim`"
        ),
    ] {
        assert!(
            stderr.lines().any(|l| l == line),
            "no `{line}` in:\n{stderr}"
        );
    }
}

#[test]
fn the_own_binary_says_what_it_is_and_which_protocols_it_serves() {
    let out = std::process::Command::new(own_binary())
        .arg("--help")
        .output()
        .expect("run own_binary --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.starts_with("own_binary: an IoT device gateway built on devgate"),
        "{help}"
    );
    assert!(help.contains("semi") && help.contains("gt06"), "{help}");
    for subcommand in [
        "start",
        "register",
        "gateway",
        "worker",
        "check-config",
        "status",
    ] {
        assert!(help.contains(subcommand), "no {subcommand} in:\n{help}");
    }

    let out = std::process::Command::new(own_binary())
        .arg("--version")
        .output()
        .expect("run own_binary --version");
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        version.trim_end(),
        format!("own_binary {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_own_binary_starts_and_echoes_through_its_own_codec() {
    let p = Proc::spawn_with(
        own_binary(),
        "own_binary",
        "start",
        &config(", options = { trim = \"true\" }"),
    );
    let semi = p.wait_listener("semi").await;
    let text = p.wait_listener("text").await;
    p.wait_announced("worker").await;

    let mut c = tokio::net::TcpStream::connect(semi).await.unwrap();
    // Two messages in one write, the second split across writes: the codec frames them.
    c.write_all(b" hello ;wor").await.unwrap();
    c.write_all(b"ld;").await.unwrap();
    let mut echoed = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut echoed))
        .await
        .expect("no echo through semi")
        .unwrap();
    assert_eq!(&echoed, b"hello;world;");

    // The stock codecs are still there.
    let mut line = LineClient::connect(text).await;
    line.echo_many("stock", 5).await;
}

#[test]
fn a_handler_of_the_own_binary_is_selected_by_name_and_unknown_to_the_stock_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shout.toml");
    std::fs::write(&path, config_with("", "shout")).unwrap();
    let own = check_config_with(own_binary(), &path);
    assert!(
        own.status.success(),
        "own binary refused:\n{}",
        String::from_utf8_lossy(&own.stderr)
    );
    let stock = check_config(&path);
    assert!(
        !stock.status.success(),
        "stock devgate accepted handler shout"
    );
    let stderr = String::from_utf8_lossy(&stock.stderr);
    let line = format!(
        "{}: worker.handler: unknown handler \"shout\"; built in: echo, rules",
        path.display()
    );
    assert!(
        stderr.lines().any(|l| l == line),
        "no `{line}` in:\n{stderr}"
    );

    std::fs::write(&path, config_with("", "shoutt")).unwrap();
    let own = check_config_with(own_binary(), &path);
    let stderr = String::from_utf8_lossy(&own.stderr);
    assert!(
        stderr.contains("unknown handler \"shoutt\"; built in: echo, rules; this binary's: shout"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_own_binary_runs_its_own_handler_by_name() {
    let p = Proc::spawn_with(
        own_binary(),
        "own_binary",
        "start",
        &config_with("", "shout"),
    );
    let text = p.wait_listener("text").await;
    p.wait_announced("worker").await;
    let mut line = LineClient::connect(text).await;
    line.send("quiet please").await;
    assert_eq!(line.recv().await, "QUIET PLEASE");
}
