//! A devgate deployment made of separate processes: one register, gateways and workers,
//! all on 127.0.0.1 with ephemeral ports, wired together through the register's real port.

use crate::process::Proc;
use std::net::SocketAddr;

/// The secret every process of a [`Cluster`] shares unless a test says otherwise.
pub const SECRET: &str = "integration-test-secret";

/// A plain `text` listener on an ephemeral port.
pub const TEXT: &str = r#"{ url = "text://127.0.0.1:0" }"#;
/// A `frame` listener on an ephemeral port.
pub const FRAME: &str = r#"{ url = "frame://127.0.0.1:0" }"#;
/// A `websocket` listener on an ephemeral port.
pub const WEBSOCKET: &str = r#"{ url = "websocket://127.0.0.1:0" }"#;

/// A TLS listener for `scheme` on an ephemeral port with the given PEM files.
pub fn tls_listener(scheme: &str, cert: &std::path::Path, key: &std::path::Path) -> String {
    format!(
        r#"{{ url = "{scheme}://127.0.0.1:0", tls = {{ cert = "{}", key = "{}" }} }}"#,
        cert.display(),
        key.display()
    )
}

/// A register process and the address everyone else is told to use.
pub struct Cluster {
    /// The register process.
    pub register: Proc,
    /// Where it listens.
    pub register_addr: SocketAddr,
}

/// Config text shared by every process: the secret and where the register is.
pub fn common_toml(secret: &str, register: SocketAddr) -> String {
    format!(
        "secret = \"{secret}\"\n[register]\nlisten = \"{register}\"\naddresses = [\"{register}\"]\n"
    )
}

impl Cluster {
    /// Starts a register on an ephemeral port and waits for its address.
    pub async fn start() -> Cluster {
        let register = Proc::spawn(
            "register",
            "register",
            &format!("secret = \"{SECRET}\"\n[register]\nlisten = \"127.0.0.1:0\"\n"),
        );
        let register_addr = register.wait_addr("register").await;
        Cluster {
            register,
            register_addr,
        }
    }

    /// Kills the register with SIGKILL and starts a new one on the same port.
    pub async fn restart_register(&mut self) {
        self.register.kill();
        self.register = Proc::spawn(
            "register (restarted)",
            "register",
            &common_toml(SECRET, self.register_addr),
        );
        let again = self.register.wait_addr("register").await;
        assert_eq!(
            again, self.register_addr,
            "the register came back elsewhere"
        );
    }

    /// Starts a gateway process with `listeners` (inline TOML tables) and extra `[gateway]` keys.
    pub async fn gateway(&self, name: &str, listeners: &[&str], extra: &str) -> Gateway {
        self.gateway_with_secret(name, SECRET, listeners, extra)
            .await
    }

    /// Starts a gateway process that uses `secret`.
    pub async fn gateway_with_secret(
        &self,
        name: &str,
        secret: &str,
        listeners: &[&str],
        extra: &str,
    ) -> Gateway {
        let internal = "127.0.0.1:0".parse().expect("an address");
        self.gateway_at(name, secret, internal, listeners, extra)
            .await
    }

    /// Starts a gateway process whose internal listener is `internal` (a restarted gateway
    /// comes back where the killed one was).
    pub async fn gateway_at(
        &self,
        name: &str,
        secret: &str,
        internal: SocketAddr,
        listeners: &[&str],
        extra: &str,
    ) -> Gateway {
        let config = format!(
            "{}[gateway]\nname = \"{name}\"\nlan_ip = \"127.0.0.1\"\ninternal_listen = \"{internal}\"\n\
             listeners = [{}]\n{extra}\n",
            common_toml(secret, self.register_addr),
            listeners.join(", ")
        );
        Gateway::spawn(name, &config, listeners.len()).await
    }

    /// Starts an echo worker process named `name`.
    pub async fn worker(&self, name: &str) -> Proc {
        self.worker_with_secret(name, SECRET).await
    }

    /// Starts an echo worker process that uses `secret`.
    pub async fn worker_with_secret(&self, name: &str, secret: &str) -> Proc {
        self.worker_with(name, secret, "handler = \"echo\"\n").await
    }

    /// Starts a worker process named `name` whose `[worker]` section goes on with `section`
    /// (its handler and whatever that needs, sub-tables included).
    pub async fn worker_with(&self, name: &str, secret: &str, section: &str) -> Proc {
        let config = format!(
            "{}[worker]\nname = \"{name}\"\n{section}",
            common_toml(secret, self.register_addr)
        );
        let worker = Proc::spawn(name, "worker", &config);
        assert_eq!(worker.wait_announced("worker").await, name);
        worker
    }
}

/// A running gateway process and its bound addresses.
pub struct Gateway {
    /// The process.
    pub proc: Proc,
    /// Its internal address (workers link there).
    pub internal: SocketAddr,
    /// Client listener addresses, in config order.
    pub listeners: Vec<SocketAddr>,
}

impl Gateway {
    /// Runs `devgate gateway` with `config` and waits until its `n` listeners are announced.
    pub async fn spawn(label: &str, config: &str, n: usize) -> Gateway {
        let proc = Proc::spawn(label, "gateway", config);
        let internal = proc.wait_addr("internal").await;
        let listeners = wait_listeners(&proc, n).await;
        Gateway {
            proc,
            internal,
            listeners,
        }
    }

    /// The address of the `i`-th listener of the config.
    pub fn listener(&self, i: usize) -> SocketAddr {
        self.listeners[i]
    }

    /// Waits until the worker `name` has linked to this gateway (`times` links in total).
    pub async fn wait_worker_linked(&self, name: &str, times: usize) {
        let who = format!("worker={name}");
        self.proc.wait_log(&["worker linked", &who], times).await;
    }

    /// Waits until this gateway has noticed that the worker `name`'s link closed.
    pub async fn wait_worker_gone(&self, name: &str, times: usize) {
        let who = format!("worker={name}");
        self.proc
            .wait_log(&["worker link closed", &who], times)
            .await;
    }
}

/// Waits until `n` `devgate: listening ...` lines are out; returns their addresses in order.
pub async fn wait_listeners(proc: &Proc, n: usize) -> Vec<SocketAddr> {
    let lines = crate::poll_until(crate::WAIT, || {
        let ls: Vec<String> = proc
            .announced()
            .into_iter()
            .filter_map(|l| l.strip_prefix("listening ").map(str::to_string))
            .collect();
        (ls.len() >= n).then_some(ls)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "fewer than {n} listeners announced: {:?}; stderr:\n{}",
            proc.announced(),
            proc.stderr()
        )
    });
    lines
        .iter()
        .map(|url| {
            url.rsplit("://")
                .next()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("bad listener line {url:?}"))
        })
        .collect()
}
