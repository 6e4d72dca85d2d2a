//! `device-sim` as a library call: [`run`] parses the command line and runs the subcommand
//! with the device families of a [`Dialects`] registry. The stock `device-sim` binary is
//! `run(Dialects::stock())`; a user's binary registers its own family first and keeps every
//! subcommand (`run`, `idle`, `scenario`, `echo-server`, sharding above the open-file limit).

use crate::acked_log::AckedLog;
use crate::cli::{Cli, Command, EchoServerArgs, OutputArgs};
use crate::dialects::Dialects;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::Report;
use crate::runner::Workers;
use crate::server::{self, EchoServer};
use crate::shard::{self, ShardLine};
use crate::{runner, scenario, tls};
use anyhow::{Context, Result};
use clap::Parser;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Runs `device-sim` with the command line of this process and the families in `dialects`
/// (`--proto NAME`); errors are printed on stderr and give a failure exit code.
///
/// ```no_run
/// use device_sim::dialects::{Dialects, Family};
/// # fn my_dialect(id: &str) -> Box<dyn device_sim::behaviour::family::Dialect> { unimplemented!() }
/// fn main() -> std::process::ExitCode {
///     let mut dialects = Dialects::stock();
///     dialects
///         .register(Family::new("h02", 15, 860_000_000_000_000, my_dialect))
///         .expect("not a wire protocol's name");
///     device_sim::run(dialects)
/// }
/// ```
pub fn run(dialects: Dialects) -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli, &dialects) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("device-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli, dialects: &Dialects) -> Result<()> {
    match cli.command {
        Command::Run(args) => simulate(
            args.plan(dialects).map_err(anyhow::Error::msg)?,
            &args.output,
        ),
        Command::Idle(args) => simulate(
            args.plan(dialects).map_err(anyhow::Error::msg)?,
            &args.output,
        ),
        Command::Scenario(args) => {
            let mut plan = scenario::load(&args.file, args.target.as_deref(), dialects)?;
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
