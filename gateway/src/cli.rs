//! `devgate send`, `devgate query` and `devgate status`: the API from the command line, through
//! a [`StandaloneApi`].

use crate::client_id::{ClientId, GatewayKey};
use crate::link::Credentials;
use crate::proto::StatusReport;
use crate::tls::{LinkTls, LinkTlsFiles, TlsError};
use crate::worker::api::Answer;
use crate::StandaloneApi;
use serde::Serialize;
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// TLS of the command line's links (`send`, `query`, `status`): the flags, or the same names
/// in the environment (`DEVGATE_TLS_CA`, ...). Without `--tls-ca` the links are plain TCP.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// The cluster's CA certificate (PEM), as `[tls] ca`: links use TLS and the peers'
    /// certificates must be signed by it.
    #[arg(long, env = "DEVGATE_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// This client's certificate (PEM), for clusters with `client_auth = true`.
    #[arg(long, env = "DEVGATE_TLS_CERT", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(long, env = "DEVGATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The name the peers' certificates must carry, as `[tls] server_name` (default: the
    /// host of each address dialled).
    #[arg(long, env = "DEVGATE_TLS_SERVER_NAME", requires = "tls_ca")]
    pub tls_server_name: Option<String>,
}

impl TlsArgs {
    /// The credentials of links with `secret` and these settings.
    pub fn credentials(&self, secret: &str) -> Result<Credentials, TlsError> {
        let mut credentials = Credentials::plain(secret.as_bytes());
        if let Some(ca) = &self.tls_ca {
            let files = LinkTlsFiles {
                ca: ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
                client_auth: false,
                server_name: self.tls_server_name.clone(),
            };
            credentials.tls = Some(Arc::new(LinkTls::load(&files)?));
        }
        Ok(credentials)
    }
}

/// Where `send` delivers.
#[derive(Debug, Clone)]
pub enum Target {
    /// One client.
    Client(ClientId),
    /// Every connection of a uid.
    Uid(String),
    /// Every member of a group.
    Group(String),
    /// Everyone.
    All,
}

/// What `query` asks.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Question {
    /// Every connected client id.
    Clients,
    /// Number of connected clients.
    ClientCount,
    /// Every bound uid (the online uids).
    Uids,
    /// Number of online uids.
    UidCount,
    /// Every non-empty group.
    Groups,
    /// Client ids in a group.
    GroupClients {
        /// The group.
        group: String,
    },
    /// Number of clients in a group.
    GroupCount {
        /// The group.
        group: String,
    },
    /// Uids in a group.
    GroupUids {
        /// The group.
        group: String,
    },
    /// Client ids of a uid (empty: offline).
    UidClients {
        /// The uid.
        uid: String,
    },
    /// Whether a client is connected.
    IsOnline {
        /// The client id.
        client: ClientId,
    },
    /// A client's session.
    Session {
        /// The client id.
        client: ClientId,
    },
    /// Every client's session.
    Sessions,
}

/// Why a CLI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No register answered with a gateway list in time.
    #[error("no gateway list from the register(s) within {0:?}")]
    NoRegister(Duration),
    /// The registers listed gateways, but none could be linked in time.
    #[error("no gateway reachable within {wait:?}: the register(s) list {listed}")]
    NoGateway {
        /// How long the CLI waited.
        wait: Duration,
        /// The listed gateways, comma-separated.
        listed: String,
    },
    /// The API call failed.
    #[error(transparent)]
    Api(#[from] crate::worker::ApiError),
}

/// A [`StandaloneApi`] linked to at least one gateway within `wait` (else why not).
async fn connect(
    registers: Vec<String>,
    credentials: &Credentials,
    wait: Duration,
) -> Result<StandaloneApi, CliError> {
    let c = StandaloneApi::connect_with(registers, credentials.clone(), "devgate-cli");
    if !c.ready(1, wait).await && c.gateways().is_empty() {
        let listed = c.api().listed_gateways();
        if listed.is_empty() {
            return Err(CliError::NoRegister(wait));
        }
        let listed: Vec<String> = listed.iter().map(|k| k.to_string()).collect();
        return Err(CliError::NoGateway {
            wait,
            listed: listed.join(", "),
        });
    }
    Ok(c)
}

/// Sends `message` to `target`; returns the number of gateways that could not be reached.
pub async fn send(
    registers: Vec<String>,
    credentials: &Credentials,
    wait: Duration,
    target: Target,
    message: String,
) -> Result<usize, CliError> {
    let c = connect(registers, credentials, wait).await?;
    let failed = match target {
        Target::Client(id) => {
            c.send_to_client(id, message).await?;
            0
        }
        Target::Uid(uid) => c.send_to_uid(&[&uid], message).await.len(),
        Target::Group(g) => c.send_to_group(&[&g], message, &[]).await.len(),
        Target::All => c.send_to_all(message, &[], &[]).await.len(),
    };
    // Commands are queued on the links: wait until the gateways have them before exiting.
    let synced = c.sync().await;
    Ok(failed.max(synced.missing.len()))
}

fn render<T: Serialize + Display>(a: Answer<T>, json: bool) -> (String, bool) {
    let complete = a.complete;
    if json {
        return (
            serde_json::to_string_pretty(&a).unwrap_or_default(),
            complete,
        );
    }
    let mut out = a.value.to_string();
    if !a.complete {
        let missing: Vec<String> = a.missing.iter().map(|k| k.to_string()).collect();
        out.push_str(&format!(
            "\n(incomplete: no answer from {})",
            missing.join(", ")
        ));
    }
    (out, complete)
}

/// A list printed one item per line.
#[derive(Serialize)]
#[serde(transparent)]
struct Lines<T>(Vec<T>);

impl<T: Display> Display for Lines<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}

/// A JSON value printed as JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Json(serde_json::Value);

impl Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn complete<T>(value: T) -> Answer<T> {
    Answer {
        value,
        complete: true,
        missing: Vec::new(),
    }
}

/// Answers `q`; returns the text to print and whether every gateway answered.
pub async fn query(
    registers: Vec<String>,
    credentials: &Credentials,
    wait: Duration,
    q: Question,
    json: bool,
) -> Result<(String, bool), CliError> {
    let c = connect(registers, credentials, wait).await?;
    Ok(match q {
        Question::Clients => render(c.get_all_client_id_list().await.map_value(Lines), json),
        Question::ClientCount => render(c.get_all_client_id_count().await, json),
        Question::Uids => render(c.get_all_uid_list().await.map_value(Lines), json),
        Question::UidCount => render(c.get_all_uid_count().await, json),
        Question::Groups => render(c.get_all_group_id_list().await.map_value(Lines), json),
        Question::GroupClients { group } => render(
            c.get_client_id_list_by_group(&group).await.map_value(Lines),
            json,
        ),
        Question::GroupCount { group } => {
            render(c.get_client_id_count_by_group(&group).await, json)
        }
        Question::GroupUids { group } => {
            render(c.get_uid_list_by_group(&group).await.map_value(Lines), json)
        }
        Question::UidClients { uid } => {
            render(c.get_client_id_by_uid(&uid).await.map_value(Lines), json)
        }
        Question::IsOnline { client } => render(complete(c.is_online(client).await?), json),
        Question::Session { client } => {
            let s = c.get_session(client).await?;
            render(
                complete(Json(serde_json::to_value(s).unwrap_or_default())),
                json,
            )
        }
        Question::Sessions => {
            let a = c.get_all_client_sessions().await;
            render(
                a.map_value(|m| Json(serde_json::to_value(m).unwrap_or_default())),
                json,
            )
        }
    })
}

/// One gateway's status answer as a readable block (see `Api::gateway_status`): first the
/// report's typed counts (clients, uids, groups), then a row per other sample of its `stats`
/// (the gateway's registry: its own counters, and the rules pipeline's and the bridge's when a
/// worker runs in its process), labelled by the sample's name with spaces, `X_in` and `X_out`
/// sharing one row `X in/out`; last the hold queue and the workers with their clients.
fn status_block(key: GatewayKey, v: &StatusReport) -> String {
    // Samples the report also carries as typed fields, shown from those.
    const TYPED: [&str; 6] = [
        "clients",
        "uids",
        "groups",
        "held",
        "workers",
        "uptime_seconds",
    ];
    let mut rows = vec![
        ("clients".to_string(), v.clients.to_string()),
        ("uids".to_string(), v.uids.to_string()),
        ("groups".to_string(), v.groups.to_string()),
    ];
    for (name, n) in v.stats.iter().filter(|(k, _)| !TYPED.contains(&k.as_str())) {
        if let Some(x) = name.strip_suffix("_out") {
            if v.stats.contains_key(&format!("{x}_in")) {
                continue;
            }
        }
        let paired = name
            .strip_suffix("_in")
            .and_then(|x| Some((x, v.stats.get(&format!("{x}_out"))?)));
        rows.push(match paired {
            Some((x, out)) => (format!("{x}_in/out"), format!("{n} / {out}")),
            None => (name.clone(), n.to_string()),
        });
    }
    let workers: Vec<String> = v
        .workers
        .iter()
        .map(|w| format!("{} ({})", w.name, w.clients))
        .collect();
    let workers = if workers.is_empty() {
        "none".to_string()
    } else {
        workers.join(", ")
    };
    // `held` is None while the gateway's hold queue is busy being flushed or routed into.
    let held = v.held.map_or_else(|| "busy".to_string(), |h| h.to_string());
    rows.push((
        "held".to_string(),
        format!("{held} (overflows {})", v.held_overflows),
    ));
    rows.push(("workers".to_string(), workers));
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
    let mut out = format!("gateway {key} ({}), up {}s", v.name, v.uptime_secs);
    for (label, value) in rows {
        let label = label.replace('_', " ");
        out.push_str(&format!("\n  {label:<width$}{value}"));
    }
    out
}

/// Every gateway's live counts; returns the text to print and whether every gateway answered.
/// Plain: one block per gateway. JSON: `{"value": {gateway: status}, "complete", "missing"}`.
pub async fn status(
    registers: Vec<String>,
    credentials: &Credentials,
    wait: Duration,
    json: bool,
) -> Result<(String, bool), CliError> {
    let c = connect(registers, credentials, wait).await?;
    let a = c.gateway_status().await;
    if json {
        let a = a.map_value(|answers| {
            Json(serde_json::Value::Object(
                answers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), serde_json::to_value(v).unwrap_or_default()))
                    .collect(),
            ))
        });
        return Ok(render(a, true));
    }
    let a = a.map_value(|answers| {
        let blocks: Vec<String> = answers.iter().map(|(k, v)| status_block(*k, v)).collect();
        blocks.join("\n\n")
    });
    Ok(render(a, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::query::WorkerStatus;

    #[test]
    fn a_status_block_has_a_row_per_sample_with_in_out_pairs_and_typed_rows() {
        let stats = [
            ("accepted", 3),
            ("messages_in", 10),
            ("messages_out", 9),
            ("mqtt_downlink_dropped_offline", 1),
            ("clients", 2),
            ("held", 0),
            ("held_overflows", 0),
        ];
        let v = StatusReport {
            gateway: "127.0.0.1:2900".into(),
            name: "g".into(),
            uptime_secs: 5,
            clients: 2,
            uids: 1,
            groups: 0,
            stats: stats.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            held: Some(0),
            held_overflows: 0,
            workers: vec![WorkerStatus {
                id: 1,
                name: "w1".into(),
                clients: 2,
            }],
        };
        let key = GatewayKey {
            ip: std::net::Ipv4Addr::LOCALHOST,
            port: 2900,
        };
        let block = status_block(key, &v);
        let rows: Vec<Vec<&str>> = block
            .lines()
            .skip(1)
            .map(|l| l.trim().splitn(2, "  ").map(str::trim).collect())
            .collect();
        for want in [
            vec!["accepted", "3"],
            vec!["messages in/out", "10 / 9"],
            vec!["mqtt downlink dropped offline", "1"],
            vec!["clients", "2"],
            vec!["uids", "1"],
            vec!["held", "0 (overflows 0)"],
            vec!["held overflows", "0"],
            vec!["workers", "w1 (2)"],
        ] {
            assert!(rows.contains(&want), "{want:?}:\n{block}");
        }
        assert!(
            block.starts_with("gateway 127.0.0.1:2900 (g), up 5s\n"),
            "{block}"
        );
        assert_eq!(block.matches("clients").count(), 1, "{block}");
    }
}
