//! The `devgate` binary: `start`, `register`, `gateway`, `worker`, `check-config`, and the
//! remote `send`, `query` and `status`.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use gateway::app;
use gateway::cli::{Question, Target};
use gateway::config::{Config, Handler};
use gateway::worker::Echo;
use std::path::{Path, PathBuf};

/// devgate: an IoT device gateway (register + gateways + business workers).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register, gateway and worker in one process (the quick start).
    Start {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Only the register.
    Register {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Only a gateway.
    Gateway {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Only a business worker.
    Worker {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Checks a config file and reports every problem at once.
    CheckConfig {
        /// TOML config file.
        config: PathBuf,
    },
    /// Runs a rules file's tests (default: FILE with `.test.toml` beside it).
    TestRules {
        /// The rules file.
        rules: PathBuf,
        /// The tests file.
        #[arg(long)]
        tests: Option<PathBuf>,
    },
    /// Makes a private CA and certificates for TLS on the internal links.
    #[command(subcommand)]
    Cert(gateway::certs::CertCommand),
    /// Sends a message to a client, a uid, a group or everyone, from anywhere.
    Send {
        #[command(flatten)]
        remote: Remote,
        /// To this client id.
        #[arg(long, group = "target")]
        client: Option<gateway::ClientId>,
        /// To every connection of this uid.
        #[arg(long, group = "target")]
        uid: Option<String>,
        /// To every member of this group.
        #[arg(long, group = "target")]
        group: Option<String>,
        /// To everyone.
        #[arg(long, group = "target")]
        all: bool,
        /// The message.
        message: String,
    },
    /// Asks the gateways (online uids, groups, counts, sessions).
    Query {
        #[command(flatten)]
        remote: Remote,
        /// Print JSON (with `complete` and `missing` gateways).
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        question: Question,
    },
    /// Live counts of every gateway: clients, uids, groups, traffic and overflow counters,
    /// events held for no worker, and the workers with their client counts.
    Status {
        #[command(flatten)]
        remote: Remote,
        /// Print JSON (`{"value": {gateway: counts}, "complete", "missing"}`).
        #[arg(long)]
        json: bool,
    },
}

/// How `send`, `query` and `status` reach the gateways.
#[derive(clap::Args)]
struct Remote {
    /// Register address(es), `ip:port`; repeat for several.
    #[arg(long, required = true)]
    register: Vec<String>,
    /// Shared secret of the internal links.
    #[arg(
        long,
        env = "DEVGATE_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    secret: String,
    /// How long to wait for the gateways and for answers, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    #[command(flatten)]
    tls: gateway::cli::TlsArgs,
}

/// Reads and checks the config; every problem is reported, as `check-config` does.
fn load(path: &Path) -> Result<Config> {
    Config::load(path, &gateway::codec_registry()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init_logs(cfg: &Config) {
    init_logs_at(&cfg.log.level);
}

/// Logs to stderr at `level` unless RUST_LOG says otherwise.
fn init_logs_at(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Waits for SIGTERM or Ctrl-C.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs the configured handler as a worker until SIGTERM / Ctrl-C.
async fn serve_worker(cfg: &Config, local: Option<&app::RunningGateway>) -> Result<()> {
    let w = cfg.worker.as_ref().ok_or_else(|| {
        anyhow::anyhow!("{}: the [worker] section is required", cfg.path.display())
    })?;
    match &w.handler {
        Handler::Rules(rules) => {
            let handler = gateway::rules_handler::RulesHandler::open(rules)?;
            run_handler(cfg, handler, local).await
        }
        Handler::Echo => run_handler(cfg, Echo, local).await,
    }
}

async fn run_handler<H: gateway::worker::EventHandler>(
    cfg: &Config,
    handler: H,
    local: Option<&app::RunningGateway>,
) -> Result<()> {
    let w = app::start_worker(cfg, handler, local.map(|g| g.state.clone())).await?;
    if let Some(addr) = w.metrics {
        announce("metrics", format!("http://{addr}/metrics"));
    }
    announce(
        "worker",
        cfg.worker
            .as_ref()
            .map(|w| w.name.clone())
            .unwrap_or_default(),
    );
    stopped().await;
    // The gateway first: its clients' held acks wait for this worker's flushes.
    if let Some(g) = local {
        g.stop(app::GATEWAY_STOP_TIMEOUT).await;
    }
    w.stop().await;
    Ok(())
}

/// Startup lines on stdout, one per bound address, so scripts and tests can find ports.
fn announce(what: &str, addr: impl std::fmt::Display) {
    println!("devgate: {what} {addr}");
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::CheckConfig { config } = &cli.command {
        return match Config::load(config, &gateway::codec_registry()) {
            Ok(_) => {
                println!("{}: ok", config.display());
                Ok(())
            }
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s) found", errors.0.len());
                std::process::exit(1);
            }
        };
    }
    if let Command::Cert(command) = cli.command {
        return Ok(gateway::certs::run(command)?);
    }
    if let Command::TestRules { rules, tests } = &cli.command {
        let tests = tests
            .clone()
            .unwrap_or_else(|| ::rules::default_tests_path(rules));
        let report = ::rules::run_rule_tests(rules, &tests);
        println!("{report}");
        if !report.success() {
            std::process::exit(1);
        }
        return Ok(());
    }
    if matches!(
        cli.command,
        Command::Send { .. } | Command::Query { .. } | Command::Status { .. }
    ) {
        // A one-shot command prints its answer on stdout; why a link failed goes to stderr.
        init_logs_at("warn");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(run(cli.command))
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::CheckConfig { .. } | Command::TestRules { .. } | Command::Cert(_) => Ok(()),
        Command::Send {
            remote,
            client,
            uid,
            group,
            all,
            message,
        } => {
            let target = match (client, uid, group, all) {
                (Some(c), _, _, _) => Target::Client(c),
                (_, Some(u), _, _) => Target::Uid(u),
                (_, _, Some(g), _) => Target::Group(g),
                (_, _, _, true) => Target::All,
                _ => anyhow::bail!("say where to send: --client, --uid, --group or --all"),
            };
            let wait = std::time::Duration::from_millis(remote.timeout_ms);
            let failed = gateway::cli::send(
                remote.register,
                &remote.tls.credentials(&remote.secret)?,
                wait,
                target,
                message,
            )
            .await?;
            if failed > 0 {
                anyhow::bail!("{failed} gateway(s) could not be reached");
            }
            Ok(())
        }
        Command::Query {
            remote,
            json,
            question,
        } => {
            let wait = std::time::Duration::from_millis(remote.timeout_ms);
            let (text, complete) = gateway::cli::query(
                remote.register,
                &remote.tls.credentials(&remote.secret)?,
                wait,
                question,
                json,
            )
            .await?;
            println!("{text}");
            if !complete {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Status { remote, json } => {
            let wait = std::time::Duration::from_millis(remote.timeout_ms);
            let (text, complete) = gateway::cli::status(
                remote.register,
                &remote.tls.credentials(&remote.secret)?,
                wait,
                json,
            )
            .await?;
            println!("{text}");
            if !complete {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Register { config } => {
            let cfg = load(&config)?;
            init_logs(&cfg);
            let addr = app::start_register(&cfg).await?;
            announce("register", addr);
            stopped().await;
            Ok(())
        }
        Command::Gateway { config } => {
            let cfg = load(&config)?;
            init_logs(&cfg);
            let g = app::start_gateway(&cfg).await?;
            announce("internal", g.internal);
            for (url, _) in &g.listeners {
                announce("listening", url);
            }
            if let Some(addr) = g.metrics {
                announce("metrics", format!("http://{addr}/metrics"));
            }
            stopped().await;
            g.stop(app::GATEWAY_STOP_TIMEOUT).await;
            Ok(())
        }
        Command::Worker { config } => {
            let cfg = load(&config)?;
            init_logs(&cfg);
            serve_worker(&cfg, None).await
        }
        Command::Start { config } => {
            let mut cfg = load(&config)?;
            init_logs(&cfg);
            let addr = app::start_register(&cfg).await?;
            announce("register", addr);
            if cfg.register.addresses.is_empty() {
                // `listen` may be port 0: the in-process gateway and worker use the bound one.
                cfg.register.addresses = vec![addr];
            }
            let g = app::start_gateway(&cfg).await?;
            announce("internal", g.internal);
            for (url, _) in &g.listeners {
                announce("listening", url);
            }
            if let Some(addr) = g.metrics {
                announce("metrics", format!("http://{addr}/metrics"));
            }
            serve_worker(&cfg, Some(&g)).await
        }
    }
}
