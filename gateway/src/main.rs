//! The `devgate` binary: `start`, `register`, `gateway`, `worker`, `check-config`.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use gateway::app;
use gateway::config::Config;
use gateway::worker::Echo;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
}

fn load(path: &Path, registry: &codecs::CodecRegistry) -> Result<Config> {
    Config::load(path, &registry.names()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init_logs(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log.level))
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

/// Startup lines on stdout, one per bound address, so scripts and tests can find ports.
fn announce(what: &str, addr: impl std::fmt::Display) {
    println!("devgate: {what} {addr}");
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let registry = Arc::new(gateway::codec_registry());
    if let Command::CheckConfig { config } = &cli.command {
        return match Config::load(config, &registry.names()) {
            Ok(cfg) => {
                let mut problems = Vec::new();
                for l in cfg.gateway.iter().flat_map(|g| &g.listeners) {
                    if let Some(t) = &l.tls {
                        if let Err(e) = gateway::tls::acceptor(&t.cert, &t.key) {
                            problems.push(format!("{}: {}: {e}", config.display(), l.url));
                        }
                    }
                }
                if problems.is_empty() {
                    println!("{}: ok", config.display());
                    Ok(())
                } else {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    std::process::exit(1);
                }
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(run(cli.command, registry))
}

async fn run(command: Command, registry: Arc<codecs::CodecRegistry>) -> Result<()> {
    match command {
        Command::CheckConfig { .. } => Ok(()),
        Command::Register { config } => {
            let cfg = load(&config, &registry)?;
            init_logs(&cfg);
            let addr = app::start_register(&cfg).await?;
            announce("register", addr);
            stopped().await;
            Ok(())
        }
        Command::Gateway { config } => {
            let cfg = load(&config, &registry)?;
            init_logs(&cfg);
            let g = app::start_gateway(&cfg, registry).await?;
            announce("internal", g.internal);
            for (url, _) in &g.listeners {
                announce("listening", url);
            }
            stopped().await;
            Ok(())
        }
        Command::Worker { config } => {
            let cfg = load(&config, &registry)?;
            init_logs(&cfg);
            let w = app::start_worker(&cfg, Echo, None).await?;
            announce(
                "worker",
                cfg.worker
                    .as_ref()
                    .map(|w| w.name.clone())
                    .unwrap_or_default(),
            );
            stopped().await;
            w.stop().await;
            Ok(())
        }
        Command::Start { config } => {
            let cfg = load(&config, &registry)?;
            init_logs(&cfg);
            let addr = app::start_register(&cfg).await?;
            announce("register", addr);
            let g = app::start_gateway(&cfg, registry).await?;
            announce("internal", g.internal);
            for (url, _) in &g.listeners {
                announce("listening", url);
            }
            let w = app::start_worker(&cfg, Echo, Some(g.state.clone())).await?;
            stopped().await;
            w.stop().await;
            Ok(())
        }
    }
}
