//! The command line's arguments (clap): subcommands and the options of the remote ones.

use crate::cli::Question;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// devgate: an IoT device gateway (register + gateways + business workers).
#[derive(Parser)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
    Cert(crate::certs::CertCommand),
    /// Sends a message to a client, a uid, a group or everyone, from anywhere.
    Send {
        #[command(flatten)]
        remote: Remote,
        /// To this client id.
        #[arg(long, group = "target")]
        client: Option<crate::ClientId>,
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
    /// Writes a new device-family crate (codec, vectors, tests, bench, fuzz target and its own
    /// devgate binary) that builds and tests green before any protocol code is written.
    NewFamily {
        /// The family's name: its URL scheme and crate name (`h02` gives `codec-h02`).
        name: String,
        /// The folder to write (new or empty; default `./codec-NAME`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The devgate checkout the crate depends on by path (default: the one this binary
        /// was built from).
        #[arg(long)]
        devgate: Option<PathBuf>,
    },
}

/// How `send`, `query` and `status` reach the gateways.
#[derive(clap::Args)]
pub(super) struct Remote {
    /// Register address(es), `ip:port`; repeat for several.
    #[arg(long, required = true)]
    pub(super) register: Vec<String>,
    /// Shared secret of the internal links.
    #[arg(
        long,
        env = "DEVGATE_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub(super) secret: String,
    /// How long to wait for the gateways and for answers, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub(super) timeout_ms: u64,
    #[command(flatten)]
    pub(super) tls: crate::cli::TlsArgs,
}

impl Remote {
    /// How long to wait for the gateways and for answers.
    pub(super) fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }

    /// The secret and, when given, the TLS files of the links.
    pub(super) fn credentials(&self) -> Result<crate::link::Credentials, crate::tls::TlsError> {
        self.tls.credentials(&self.secret)
    }
}
