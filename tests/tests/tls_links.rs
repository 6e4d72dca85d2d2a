//! TLS on the internal links (issue 13): a register, a gateway, a worker and the CLI as separate
//! processes, every link over TLS with certificates made by `devgate cert`; and the peers that
//! must be refused (a certificate of another CA, plaintext to a TLS port, TLS to a plaintext
//! port) refused with a log line that says why, while the healthy links keep working.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tests::api_cluster::{devgate_cli, CliRun};
use tests::cluster::{common_toml, Gateway, SECRET, TEXT};
use tests::process::devgate;
use tests::{LineClient, Proc};

/// Runs `devgate cert ARGS` and asserts it succeeded.
fn cert(args: &[&str]) {
    let out = Command::new(devgate())
        .arg("cert")
        .args(args)
        .output()
        .expect("run devgate cert");
    assert!(
        out.status.success(),
        "devgate cert {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA in `dir` and the certificates `names`, all for host 127.0.0.1.
fn make_certs(dir: &Path, names: &[&str]) {
    let d = dir.to_str().expect("utf-8 temp dir");
    cert(&["ca", "--out", d]);
    for name in names {
        cert(&[
            "issue",
            "--ca",
            d,
            "--name",
            name,
            "--host",
            "127.0.0.1",
            "--out",
            d,
        ]);
    }
}

/// The `[tls]` section of the process `name`: CA of `ca_dir`, certificate from `cert_dir`.
fn tls_toml(ca_dir: &Path, cert_dir: &Path, name: &str) -> String {
    format!(
        "[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\nclient_auth = true\n",
        ca_dir.join("ca.pem").display(),
        cert_dir.join(format!("{name}.pem")).display(),
        cert_dir.join(format!("{name}.key")).display(),
    )
}

/// A register, a gateway with a text listener and an echo worker, every link over TLS.
struct TlsCluster {
    certs: tempfile::TempDir,
    register: Proc,
    register_addr: std::net::SocketAddr,
    gateway: Gateway,
    _worker: Proc,
}

impl TlsCluster {
    async fn start() -> TlsCluster {
        let certs = tempfile::tempdir().expect("temp dir");
        let dir = certs.path();
        make_certs(dir, &["register", "gw1", "w1", "cli"]);
        let register = Proc::spawn(
            "register",
            "register",
            &format!(
                "secret = \"{SECRET}\"\n{}[register]\nlisten = \"127.0.0.1:0\"\n",
                tls_toml(dir, dir, "register")
            ),
        );
        let register_addr = register.wait_addr("register").await;
        let common = common_toml(SECRET, register_addr);
        let gateway = Gateway::spawn(
            "gw1",
            &format!(
                "{common}{}[gateway]\nname = \"gw1\"\nlan_ip = \"127.0.0.1\"\n\
                 internal_listen = \"127.0.0.1:0\"\nlisteners = [{TEXT}]\n",
                tls_toml(dir, dir, "gw1")
            ),
            1,
        )
        .await;
        let worker = Proc::spawn(
            "w1",
            "worker",
            &format!(
                "{common}{}[worker]\nname = \"w1\"\nhandler = \"echo\"\n",
                tls_toml(dir, dir, "w1")
            ),
        );
        gateway.wait_worker_linked("w1", 1).await;
        TlsCluster {
            certs,
            register,
            register_addr,
            gateway,
            _worker: worker,
        }
    }

    fn dir(&self) -> &Path {
        self.certs.path()
    }

    fn file(&self, name: &str) -> String {
        self.dir().join(name).display().to_string()
    }

    /// Runs `devgate SUB` against the cluster with the CLI's certificate.
    async fn cli(&self, sub: &str, args: &[&str]) -> CliRun {
        let (ca, cert, key) = (
            self.file("ca.pem"),
            self.file("cli.pem"),
            self.file("cli.key"),
        );
        let mut all = vec!["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
        all.extend_from_slice(args);
        devgate_cli(
            sub,
            self.register_addr,
            SECRET,
            Duration::from_secs(5),
            &all,
        )
        .await
    }

    /// Spawns a worker named `name` with the `[tls]` text `tls` (empty: plaintext).
    fn worker(&self, name: &str, tls: &str) -> Proc {
        Proc::spawn(
            name,
            "worker",
            &format!(
                "{}{tls}[worker]\nname = \"{name}\"\nhandler = \"echo\"\n",
                common_toml(SECRET, self.register_addr)
            ),
        )
    }

    async fn echo(&self, tag: &str) {
        let mut client = LineClient::connect(self.gateway.listener(0)).await;
        client.echo_many(tag, 20).await;
    }
}

fn ok(run: CliRun) -> String {
    assert_eq!(run.code, Some(0), "{run:?}");
    run.stdout.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_cluster_with_tls_on_every_link_echoes_and_answers_send_query_and_status() {
    let c = TlsCluster::start().await;
    let mut device = LineClient::connect(c.gateway.listener(0)).await;
    device.echo_many("tls", 50).await;

    assert_eq!(ok(c.cli("query", &["client-count"]).await), "1");
    ok(c.cli("send", &["--all", "over tls"]).await);
    assert_eq!(device.recv().await, "over tls");
    let status = ok(c.cli("status", &[]).await);
    assert!(status.contains("gateway 127.0.0.1:"), "{status}");
    assert!(status.contains("w1 (1)"), "{status}");

    // The CLI without a client certificate is refused (client_auth = true), and says so.
    let ca = c.file("ca.pem");
    let anonymous = devgate_cli(
        "query",
        c.register_addr,
        SECRET,
        Duration::from_secs(2),
        &["--tls-ca", &ca, "client-count"],
    )
    .await;
    assert_ne!(anonymous.code, Some(0), "{anonymous:?}");
    c.register
        .wait_log(&["register refused a link", "TLS", "client_auth"], 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_ca_is_refused_on_both_sides_and_the_cluster_keeps_working() {
    let c = TlsCluster::start().await;
    let rogue_dir = tempfile::tempdir().expect("temp dir");
    make_certs(rogue_dir.path(), &["rogue"]);

    // Trusts the cluster's CA, presents a certificate of another: the register refuses it.
    let rogue = c.worker("rogue", &tls_toml(c.dir(), rogue_dir.path(), "rogue"));
    c.register
        .wait_log(
            &[
                "register refused a link",
                "invalid peer certificate",
                "UnknownIssuer",
            ],
            1,
        )
        .await;
    rogue
        .wait_log(&["no TLS link to register", "alert"], 1)
        .await;

    // Trusts only the other CA: it refuses the register's certificate itself.
    let distrustful = c.worker(
        "distrustful",
        &tls_toml(rogue_dir.path(), rogue_dir.path(), "rogue"),
    );
    distrustful
        .wait_log(
            &[
                "no TLS link to register",
                "invalid peer certificate",
                "UnknownIssuer",
            ],
            1,
        )
        .await;

    c.echo("after-rogues").await;
    assert_eq!(ok(c.cli("query", &["client-count"]).await), "0");
    assert!(c
        .gateway
        .proc
        .log_lines(&["worker linked", "worker=rogue"])
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_peer_on_a_tls_port_and_a_tls_peer_on_a_plaintext_port_are_refused_with_why() {
    let c = TlsCluster::start().await;

    // Plaintext worker -> the TLS register.
    let plain = c.worker("plain", "");
    c.register
        .wait_log(&["register refused a link", "TLS", "plaintext"], 1)
        .await;
    plain.wait_log(&["register", "TLS"], 1).await;

    // Plaintext CLI -> the TLS register: fails, and says the peer wants TLS.
    let run = devgate_cli(
        "query",
        c.register_addr,
        SECRET,
        Duration::from_secs(2),
        &["client-count"],
    )
    .await;
    assert_ne!(run.code, Some(0), "{run:?}");

    // TLS worker -> a plaintext register.
    let plain_register = Proc::spawn(
        "plain register",
        "register",
        &format!("secret = \"{SECRET}\"\n[register]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let plain_addr = plain_register.wait_addr("register").await;
    let tls_worker = Proc::spawn(
        "tls worker",
        "worker",
        &format!(
            "{}{}[worker]\nname = \"tls-w\"\nhandler = \"echo\"\n",
            common_toml(SECRET, plain_addr),
            tls_toml(c.dir(), c.dir(), "w1")
        ),
    );
    plain_register
        .wait_log(&["register refused a link", "speaks TLS", "plaintext"], 1)
        .await;
    tls_worker
        .wait_log(&["no TLS link to register", "TLS handshake"], 1)
        .await;

    // No process panicked, and the TLS cluster still serves devices and the CLI.
    for p in [&c.register, &plain, &plain_register, &tls_worker] {
        assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    }
    c.echo("after-plaintext").await;
    assert_eq!(ok(c.cli("query", &["client-count"]).await), "0");
}

/// The key paths used in configs and flags are the ones `devgate cert` printed.
#[test]
fn devgate_cert_writes_the_files_it_names_with_private_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_certs(dir.path(), &["gw1"]);
    let expect: Vec<PathBuf> = ["ca.pem", "ca.key", "gw1.pem", "gw1.key"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    for f in &expect {
        assert!(f.is_file(), "{} missing", f.display());
    }
    use std::os::unix::fs::PermissionsExt;
    for key in [&expect[1], &expect[3]] {
        let mode = std::fs::metadata(key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
}
