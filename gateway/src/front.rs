//! The whole `devgate` command line as one library call, so that a binary of your own (with
//! your own codecs) keeps every subcommand: `start`, `register`, `gateway`, `worker`,
//! `check-config`, `test-rules`, and the remote `send`, `query` and `status`.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let codecs = gateway::codec_registry(); // the stock codecs and families
//!     // my_family::register(&mut codecs);
//!     gateway::front::run(codecs)
//! }
//! ```
//!
//! Every subcommand reads configs with the registry it is given, so a listener of your own
//! protocol passes your binary's `check-config` and is refused by the stock `devgate`'s.
//! [`Devgate`] does more: handlers of your own selected by `[worker] handler = "NAME"`, and the
//! name and version `--help` and `--version` show. This
//! module is the binary's body: it parses the arguments, sets up logging, waits for SIGTERM and
//! turns every failure into a message on stderr and an exit code, so it reports errors with
//! `anyhow` internally and returns only an [`ExitCode`].

mod args;

use crate::app;
use crate::cli::Target;
use crate::config::{Config, Handler};
use crate::worker::{Echo, EventHandler};
use anyhow::{Context as _, Result};
use args::{Cli, Command};
use clap::{CommandFactory as _, FromArgMatches as _};
use codecs::CodecRegistry;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;

/// Runs the subcommand of this process's arguments with the codecs of `codecs`; the binary's
/// name (for `--help` and `--version`) is its file name.
pub fn run(codecs: CodecRegistry) -> ExitCode {
    Devgate::new(codecs).run()
}

/// The command line of a devgate binary, for more than [`run`]: its name and version, and
/// handlers of its own that `[worker] handler = "NAME"` selects.
pub struct Devgate {
    codecs: CodecRegistry,
    name: Option<String>,
    version: Option<String>,
    handlers: Vec<(String, Launch)>,
}

/// Starts a worker running one of the binary's own handlers, until SIGTERM / Ctrl-C.
type Launch = Box<
    dyn for<'a> Fn(
        &'a Config,
        Option<&'a app::RunningGateway>,
    ) -> Pin<Box<dyn Future<Output = Result<ExitCode>> + 'a>>,
>;

impl Devgate {
    /// A command line serving the codecs of `codecs`.
    pub fn new(codecs: CodecRegistry) -> Devgate {
        Devgate {
            codecs,
            name: None,
            version: None,
            handlers: Vec::new(),
        }
    }

    /// Adds a handler of this binary's own: a worker whose config says `handler = "NAME"`
    /// runs what `make` returns (`start` and `worker`; `check-config` accepts the name). The
    /// built-in names (`echo`, `rules`) cannot be replaced.
    pub fn handler<H, F>(mut self, name: &str, make: F) -> Devgate
    where
        H: EventHandler,
        F: Fn() -> H + 'static,
    {
        let launch: Launch = Box::new(move |cfg, local| Box::pin(run_handler(cfg, make(), local)));
        self.handlers.push((name.to_string(), launch));
        self
    }

    /// The name `--help` and `--version` show; by default the binary's file name.
    pub fn name(mut self, name: impl Into<String>) -> Devgate {
        self.name = Some(name.into());
        self
    }

    /// The version `--version` shows; by default devgate's.
    pub fn version(mut self, version: impl Into<String>) -> Devgate {
        self.version = Some(version.into());
        self
    }

    /// Runs the subcommand of this process's arguments.
    pub fn run(self) -> ExitCode {
        self.run_from(std::env::args_os())
    }

    /// Runs the subcommand of `args` (the first one is the program, as in `std::env::args`).
    pub fn run_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut args = args.into_iter().map(Into::into).peekable();
        let name = self.name.clone().unwrap_or_else(|| {
            args.peek()
                .and_then(|a| Path::new(a).file_stem())
                .map_or_else(|| "devgate".into(), |n| n.to_string_lossy().into_owned())
        });
        let cli = match self.parse(&name, args) {
            Ok(cli) => cli,
            Err(e) => {
                // `--help` and `--version` are "errors" printed on stdout with exit code 0.
                let _ = e.print();
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
        };
        match main(cli, &self) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        }
    }

    fn parse(&self, name: &str, args: impl Iterator<Item = OsString>) -> clap::error::Result<Cli> {
        let version = self
            .version
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
        let built_on = if name == "devgate" {
            String::new()
        } else {
            format!(" built on devgate {}", env!("CARGO_PKG_VERSION"))
        };
        let about = format!(
            "{name}: an IoT device gateway{built_on} (register + gateways + business workers); \
             protocols: {}",
            self.codecs.names().join(", ")
        );
        // Without clap's `string` feature names are `&'static str`: leaked once per process.
        let command = Cli::command()
            .name(leak(name.to_string()))
            .version(leak(version))
            .about(about);
        let matches = command.try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Reads and checks the config; every problem is reported, as `check-config` does.
fn load(path: &Path, dg: &Devgate) -> Result<Config> {
    check(path, dg).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads and checks the config with the binary's codecs and handler names.
fn check(path: &Path, dg: &Devgate) -> Result<Config, crate::config::ConfigErrors> {
    let names: Vec<&str> = dg.handlers.iter().map(|(n, _)| n.as_str()).collect();
    Config::load_with_handlers(path, &dg.codecs, &names)
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
        // A binary that set up its own subscriber before calling `run` keeps it.
        .try_init()
        .ok();
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
async fn serve_worker(
    cfg: &Config,
    local: Option<&app::RunningGateway>,
    dg: &Devgate,
) -> Result<ExitCode> {
    let w = cfg.worker.as_ref().ok_or_else(|| {
        anyhow::anyhow!("{}: the [worker] section is required", cfg.path.display())
    })?;
    match &w.handler {
        Handler::Rules(rules) => {
            let handler = crate::rules_handler::RulesHandler::open(rules)?;
            run_handler(cfg, handler, local).await
        }
        Handler::Echo => run_handler(cfg, Echo, local).await,
        Handler::Named(name) => match dg.handlers.iter().find(|(n, _)| n == name) {
            Some((_, launch)) => launch(cfg, local).await,
            // The check accepts only names this binary added.
            None => anyhow::bail!("no handler {name:?} in this binary"),
        },
    }
}

async fn run_handler<H: EventHandler>(
    cfg: &Config,
    handler: H,
    local: Option<&app::RunningGateway>,
) -> Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}

/// Startup lines on stdout, one per bound address, so scripts and tests can find ports.
fn announce(what: &str, addr: impl std::fmt::Display) {
    println!("devgate: {what} {addr}");
}

fn main(cli: Cli, dg: &Devgate) -> Result<ExitCode> {
    if let Command::CheckConfig { config } = &cli.command {
        return match check(config, dg) {
            Ok(_) => {
                println!("{}: ok", config.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s) found", errors.0.len());
                Ok(ExitCode::FAILURE)
            }
        };
    }
    if let Command::Cert(command) = cli.command {
        crate::certs::run(command)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::TestRules { rules, tests } = &cli.command {
        let tests = tests
            .clone()
            .unwrap_or_else(|| ::rules::default_tests_path(rules));
        let report = ::rules::run_rule_tests(rules, &tests);
        println!("{report}");
        if !report.success() {
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::NewFamily { name, dir, devgate } = &cli.command {
        let dir = dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("codec-{name}")));
        let devgate = devgate
            .clone()
            .unwrap_or_else(crate::new_family::default_devgate_root);
        let written = crate::new_family::generate(name, &dir, &devgate)?;
        print!("{}", crate::new_family::report(name, &dir, &written));
        return Ok(ExitCode::SUCCESS);
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
    rt.block_on(dispatch(cli.command, dg))
}

/// Prints a remote answer; exit code 2 when some gateways did not answer (the rest is printed).
fn printed(text: &str, complete: bool) -> ExitCode {
    println!("{text}");
    if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

async fn dispatch(command: Command, dg: &Devgate) -> Result<ExitCode> {
    match command {
        Command::CheckConfig { .. }
        | Command::TestRules { .. }
        | Command::Cert(_)
        | Command::NewFamily { .. } => Ok(ExitCode::SUCCESS),
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
            let (credentials, wait) = (remote.credentials()?, remote.wait());
            let failed =
                crate::cli::send(remote.register, &credentials, wait, target, message).await?;
            if failed > 0 {
                anyhow::bail!("{failed} gateway(s) could not be reached");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            remote,
            json,
            question,
        } => {
            let (credentials, wait) = (remote.credentials()?, remote.wait());
            let (text, complete) =
                crate::cli::query(remote.register, &credentials, wait, question, json).await?;
            Ok(printed(&text, complete))
        }
        Command::Status { remote, json } => {
            let (credentials, wait) = (remote.credentials()?, remote.wait());
            let (text, complete) =
                crate::cli::status(remote.register, &credentials, wait, json).await?;
            Ok(printed(&text, complete))
        }
        Command::Register { config } => {
            let cfg = load(&config, dg)?;
            init_logs(&cfg);
            let addr = app::start_register(&cfg).await?;
            announce("register", addr);
            stopped().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gateway { config } => {
            let cfg = load(&config, dg)?;
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { config } => {
            let cfg = load(&config, dg)?;
            init_logs(&cfg);
            serve_worker(&cfg, None, dg).await
        }
        Command::Start { config } => {
            let mut cfg = load(&config, dg)?;
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
            serve_worker(&cfg, Some(&g), dg).await
        }
    }
}
