//! Builds the register, a gateway and a worker from a checked [`Config`], as tasks of this
//! process: every value is already typed, so only binding a port can fail here.

use crate::config::Config;
use crate::counters::Registry;
use crate::gateway::{self, GatewayState, Settings};
use crate::worker::{gateways, Api, EventHandler, Inbox};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why a role could not start: only what a checked [`Config`] cannot rule out.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config lacks a section the role needs.
    #[error("{path}: the [{section}] section is required for this command")]
    Missing {
        /// Config file.
        path: String,
        /// Section name.
        section: &'static str,
    },
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// `[tls]` is set without a certificate of this process, which accepting links needs.
    #[error("{path}: [tls] needs cert and key for the {role} to accept TLS links")]
    NoCertificate {
        /// Config file.
        path: String,
        /// The role that listens.
        role: &'static str,
    },
    /// A client listener could not be bound.
    #[error(transparent)]
    Listener(#[from] gateway::listener::ListenerError),
}

fn warn_without_secret(cfg: &Config, addr: SocketAddr, what: &str) {
    if cfg.secret.is_empty() && !addr.ip().is_loopback() {
        tracing::warn!(
            "{what} {addr} is not on loopback and no secret is set: anyone who can reach it \
             can join; set `secret` in {}",
            cfg.path.display()
        );
    }
}

/// Refuses to start a listening `role` whose links would be TLS without a certificate.
fn check_can_accept(cfg: &Config, role: &'static str) -> Result<(), StartError> {
    match &cfg.tls {
        Some(tls) if tls.acceptor().is_none() => Err(StartError::NoCertificate {
            path: cfg.path.display().to_string(),
            role,
        }),
        _ => Ok(()),
    }
}

/// Binds `addr` (no SO_REUSEPORT: one process per internal address); returns the listener
/// and the address it got (port 0 picks one).
fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_err = |source| StartError::Bind { addr, source };
    let listener = crate::net::bind_listener(addr, false).map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    Ok((listener, bound))
}

/// Starts the register; returns the bound address.
pub async fn start_register(cfg: &Config) -> Result<SocketAddr, StartError> {
    warn_without_secret(cfg, cfg.register.listen, "register");
    check_can_accept(cfg, "register")?;
    let (listener, bound) = bind(cfg.register.listen)?;
    tokio::spawn(crate::register::run(listener, cfg.credentials()));
    Ok(bound)
}

/// A started gateway.
pub struct RunningGateway {
    /// Its shared state (clients, router, counters).
    pub state: Arc<GatewayState>,
    /// The internal address workers link to.
    pub internal: SocketAddr,
    /// Each client listener's URL with its bound address.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The Prometheus endpoint's bound address, when `metrics_listen` is set.
    pub metrics: Option<SocketAddr>,
    accepting: Vec<tokio::task::JoinHandle<()>>,
}

/// How long a stopping gateway waits for its clients to close and its workers to acknowledge.
pub const GATEWAY_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl RunningGateway {
    /// Stops gracefully: accepts no more clients, stops reading the connected ones, lets
    /// each get what its pending events release (held acks, as the workers accept them) and
    /// closes it, and waits until its workers have acknowledged every event, or `within`
    /// passed. Returns whether everything was handed off.
    pub async fn stop(&self, within: std::time::Duration) -> bool {
        for task in &self.accepting {
            task.abort();
        }
        self.state.stop_clients();
        let deadline = tokio::time::Instant::now() + within;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        loop {
            if self.state.is_drained() {
                tracing::info!("gateway stopped: every client closed, every event acknowledged");
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    clients = self.state.client_count(),
                    unacknowledged = self
                        .state
                        .stats
                        .retained
                        .load(std::sync::atomic::Ordering::Relaxed),
                    "gateway stopped before everything was handed off"
                );
                return false;
            }
            tick.tick().await;
        }
    }
}

/// Starts a gateway: internal listener, client listeners, heartbeat, register announcements,
/// and the metrics endpoint when configured.
pub async fn start_gateway(cfg: &Config) -> Result<RunningGateway, StartError> {
    let g = cfg.gateway.as_ref().ok_or_else(|| StartError::Missing {
        path: cfg.path.display().to_string(),
        section: "gateway",
    })?;
    warn_without_secret(cfg, g.internal_listen, "gateway internal address");
    check_can_accept(cfg, "gateway")?;
    let (internal, internal_bound) = bind(g.internal_listen)?;
    let secret = cfg.secret.clone().into_bytes();
    let state = GatewayState::new(
        g.lan_ip,
        internal_bound.port(),
        Settings::from(g),
        g.pending_events_max,
        secret.clone(),
    );
    let mut bound = Vec::new();
    let mut listeners = Vec::new();
    for l in &g.listeners {
        let listener = gateway::listener::Listener::bind(l)?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: l.url.addr,
            source,
        })?;
        bound.push((format!("{}://{addr}", l.url.protocol), addr));
        listeners.push(listener);
    }
    // Bound before anything is spawned, so a busy metrics port fails the start like a busy
    // client port does.
    let metrics = g.metrics_listen.map(bind).transpose()?;
    let metrics_bound = metrics.as_ref().map(|(_, a)| *a);
    if let Some((listener, _)) = metrics {
        tokio::spawn(gateway::metrics::run(
            state.counters.clone(),
            gateway::metrics::label("gateway", &state.key.to_string()),
            listener,
        ));
    }
    tokio::spawn(gateway::internal::run(
        state.clone(),
        internal,
        cfg.tls.clone(),
    ));
    let accepting = listeners
        .into_iter()
        .map(|l| tokio::spawn(l.run(state.clone())))
        .collect();
    tokio::spawn(gateway::heartbeat::run(state.clone()));
    let announced = format!("{}:{}", g.lan_ip, internal_bound.port());
    let credentials = cfg.credentials();
    for register in cfg.register.addresses() {
        tokio::spawn(gateway::announce::run(
            register.to_string(),
            announced.clone(),
            g.name.clone(),
            credentials.clone(),
        ));
    }
    Ok(RunningGateway {
        state,
        internal: internal_bound,
        listeners: bound,
        metrics: metrics_bound,
        accepting,
    })
}

/// A started worker.
pub struct RunningWorker<H> {
    /// The API its handler uses.
    pub api: Api,
    /// The process's counter registry (its local gateway's, or its own in a worker process),
    /// with the handler's counters registered.
    pub counters: Arc<Registry>,
    /// The Prometheus endpoint's bound address, when `[worker] metrics_listen` is set.
    pub metrics: Option<SocketAddr>,
    handler: Arc<H>,
    departure: Arc<gateways::Departure>,
}

/// How long a stopping worker waits for its gateways to release it.
pub const LEAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl<H: EventHandler> RunningWorker<H> {
    /// Stops gracefully: leaves every gateway (each stops routing to this worker, waits for
    /// the acknowledgement of what it sent, moves the worker's clients to the others and
    /// releases it), then runs the handler's `on_worker_stop`.
    pub async fn stop(&self) {
        let open = self.departure.leave(LEAVE_TIMEOUT).await;
        if open > 0 {
            tracing::warn!(
                gateways = open,
                "not released within {LEAVE_TIMEOUT:?}: those gateways will redeliver what this \
                 worker did not acknowledge"
            );
        } else {
            tracing::info!("left every gateway");
        }
        self.handler.on_worker_stop(&self.api).await;
    }
}

/// Starts a worker running `handler`; `local` is a gateway in this process to reach directly
/// (its counter registry is then the worker's too). Serves the metrics page when
/// `[worker] metrics_listen` is set.
pub async fn start_worker<H: EventHandler>(
    cfg: &Config,
    handler: H,
    local: Option<Arc<GatewayState>>,
) -> Result<RunningWorker<H>, StartError> {
    let w = cfg.worker.as_ref().ok_or_else(|| StartError::Missing {
        path: cfg.path.display().to_string(),
        section: "worker",
    })?;
    // One registry per process: the local gateway's when there is one.
    let counters = local
        .as_ref()
        .map(|g| g.counters.clone())
        .unwrap_or_default();
    handler.register_counters(&counters);
    let metrics = w.metrics_listen.map(bind).transpose()?;
    let metrics_bound = metrics.as_ref().map(|(_, a)| *a);
    if let Some((listener, _)) = metrics {
        tokio::spawn(gateway::metrics::run(
            counters.clone(),
            gateway::metrics::label("worker", &w.name),
            listener,
        ));
    }
    let api = Api::new();
    let handler = Arc::new(handler);
    handler.on_worker_start(&api).await;
    // In-process with its gateway, the handler runs inline in each client's task.
    let inbox = if local.is_some() {
        Inbox::inline(handler.clone(), api.clone())
    } else {
        Inbox::start(handler.clone(), api.clone(), w.shards)
    };
    let departure = Arc::new(gateways::Departure::default());
    let opts = gateways::LinkOptions {
        name: w.name.clone(),
        registers: cfg
            .register
            .addresses()
            .iter()
            .map(SocketAddr::to_string)
            .collect(),
        credentials: cfg.credentials(),
        local,
        role: crate::proto::Role::Worker,
        departure: departure.clone(),
    };
    tokio::spawn(gateways::run(opts, Some(inbox), api.clone()));
    Ok(RunningWorker {
        api,
        counters,
        metrics: metrics_bound,
        handler,
        departure,
    })
}
