//! `devgate start` with the H02 codec added, built from `gateway::app` as a user must while the
//! devgate front end is not a library call: `devgate-h02-start --config FILE` runs a register,
//! a gateway and a worker in one process, announces every address it bound on stdout
//! (`devgate: listening h02://127.0.0.1:PORT`, as devgate does) and stops on SIGTERM or
//! Ctrl-C. Only `start`: `check-config`, `send`, `query` and the separate roles come with
//! `gateway::front` (src/bin/devgate-h02.rs).

use anyhow::{bail, Context, Result};
use gateway::app;
use gateway::config::{Config, Handler};
use gateway::rules_handler::RulesHandler;
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [flag, path] if flag == "--config" => PathBuf::from(path),
        _ => bail!("usage: devgate-h02-start --config FILE"),
    };
    let mut registry = gateway::codec_registry();
    family_h02::register(&mut registry);
    let mut cfg = Config::load(&config, &registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Runtime::new()
        .context("starting the tokio runtime")?
        .block_on(async move {
            let addr = app::start_register(&cfg).await?;
            println!("devgate: register {addr}");
            if cfg.register.addresses.is_empty() {
                cfg.register.addresses = vec![addr];
            }
            let g = app::start_gateway(&cfg).await?;
            println!("devgate: internal {}", g.internal);
            for (url, _) in &g.listeners {
                println!("devgate: listening {url}");
            }
            let Some(Handler::Rules(rules)) = cfg.worker.as_ref().map(|w| &w.handler) else {
                bail!(
                    "{}: [worker] handler = \"rules\" is required",
                    config.display()
                );
            };
            let handler = RulesHandler::open(rules)?;
            let w = app::start_worker(&cfg, handler, Some(g.state.clone())).await?;
            println!(
                "devgate: worker {}",
                cfg.worker.as_ref().map_or("", |w| &w.name)
            );
            stopped().await;
            // The gateway first: its clients' held acks wait for this worker's flushes.
            g.stop(app::GATEWAY_STOP_TIMEOUT).await;
            w.stop().await;
            Ok(())
        })
}

/// Waits for SIGTERM or Ctrl-C.
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
