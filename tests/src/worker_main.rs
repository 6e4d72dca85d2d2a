//! The `main` of the test worker programs (`api_worker`, `family_worker`, `counting_worker`):
//! run like `devgate worker`, `PROGRAM --config FILE` starts the `[worker]` of FILE with the
//! program's own handler and prints `devgate: worker NAME` on stdout once started.

use anyhow::{bail, Context as _, Result};
use gateway::app;
use gateway::config::Config;
use gateway::worker::EventHandler;
use std::path::PathBuf;

fn config_path(program: &str) -> Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--config" || a == "-c" {
            return args
                .next()
                .map(PathBuf::from)
                .context("--config needs a file");
        }
    }
    bail!("usage: {program} --config FILE")
}

async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs the worker of `--config FILE` with `handler` until SIGTERM or Ctrl-C.
pub async fn run_worker<H: EventHandler>(program: &str, handler: H) -> Result<()> {
    let path = config_path(program)?;
    let cfg =
        Config::load(&path, &gateway::codec_registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let name = cfg
        .worker
        .as_ref()
        .map(|w| w.name.clone())
        .unwrap_or_default();
    let w = app::start_worker(&cfg, handler, None).await?;
    println!("devgate: worker {name}");
    stopped().await;
    w.stop().await;
    Ok(())
}
