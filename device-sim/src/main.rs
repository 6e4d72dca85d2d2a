//! The `device-sim` binary: parses the command line and runs the subcommand.

use anyhow::{Context, Result};
use clap::Parser;
use device_sim::acked_log::AckedLog;
use device_sim::cli::{Cli, Command, EchoServerArgs, OutputArgs};
use device_sim::plan::Plan;
use device_sim::progress::Progress;
use device_sim::report::Report;
use device_sim::runner::Workers;
use device_sim::server::{self, EchoServer};
use device_sim::shard::{self, ShardLine};
use device_sim::{runner, scenario, tls};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("device-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => simulate(args.plan().map_err(anyhow::Error::msg)?, &args.output),
        Command::Idle(args) => simulate(args.plan().map_err(anyhow::Error::msg)?, &args.output),
        Command::Scenario(args) => {
            let mut plan = scenario::load(&args.file, args.target.as_deref())?;
            plan.timeline = args.output.timeline;
            if let Some(duration) = args.duration {
                plan.timing.duration = duration;
            }
            simulate(plan, &args.output)
        }
        Command::EchoServer(args) => echo_server(args),
    }
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The runtime that drives a run (ticks, progress, shards); devices run on [`Workers`].
fn single_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// Device threads: as asked, else one per core.
fn worker_count(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn simulate(plan: Plan, output: &OutputArgs) -> Result<()> {
    plan.validate()?;
    let fd_limit = shard::raise_fd_limit();
    if let Some((index, count)) = output.shard {
        // A child of a sharded run: its slice only, results as JSON lines for the parent.
        let mut part = plan.shard(index, count);
        part.server_pids.clear();
        let workers = Workers::start(worker_count(output.threads))?;
        let result = single_thread()?.block_on(runner::run_on(
            &part,
            &mut shard::LineObserver,
            workers.handles(),
        ))?;
        shard::print_line(&ShardLine::Result(Box::new(result)));
        return Ok(());
    }
    if let Some(path) = &plan.acked_log {
        // Emptied once here; this process's runner or its shards append to it.
        AckedLog::truncate(path)?;
    }
    let per_process = output
        .max_per_process
        .unwrap_or_else(|| shard::devices_per_process(fd_limit));
    let shards = shard::shard_count(plan.local_devices(), per_process);
    let live = !output.json && std::io::stderr().is_terminal();
    let mut progress = Progress::new(live, plan.ramp_time() + plan.timing.duration);
    let rt = single_thread()?;
    let result = if shards > 1 {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        rt.block_on(shard::run_sharded(shards, &args, &plan, &mut progress))?
    } else {
        let workers = Workers::start(worker_count(output.threads))?;
        rt.block_on(runner::run_on(&plan, &mut progress, workers.handles()))?
    };
    progress.finish();
    let report = Report::new(&result, plan.timeline);
    if output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

fn echo_server(args: EchoServerArgs) -> Result<()> {
    shard::raise_fd_limit();
    runtime(args.threads)?.block_on(async {
        let listener = server::bind(args.listen, args.reuseport)
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let mut srv = EchoServer::new(args.proto.into());
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            srv = srv.with_tls(tls::server_config(cert, key)?);
        }
        let mut faults = None;
        if let Some(spec) = args.faulty {
            let (with_faults, counts) = srv.with_faults(spec, args.seed)?;
            srv = with_faults;
            faults = Some(counts);
        }
        println!("listening on {addr}");
        std::io::stdout().flush()?;
        tokio::select! {
            _ = srv.serve(listener) => {}
            _ = shutdown_signal() => {}
        }
        if let Some(counts) = faults {
            let t = counts.totals();
            println!(
                "faults: messages={} dropped={} duplicated={} reordered={} corrupted={}",
                t.messages, t.dropped, t.duplicated, t.reordered, t.corrupted
            );
        }
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
