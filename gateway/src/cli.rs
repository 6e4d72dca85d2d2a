//! `devgate send`, `devgate query` and `devgate status`: the API from the command line, through
//! a [`StandaloneApi`].

use crate::client_id::{ClientId, GatewayKey};
use crate::proto::StatusReport;
use crate::worker::api::Answer;
use crate::StandaloneApi;
use serde::Serialize;
use std::fmt::Display;
use std::time::Duration;

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
    secret: &str,
    wait: Duration,
) -> Result<StandaloneApi, CliError> {
    let c = StandaloneApi::connect(registers, secret, "devgate-cli");
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
    secret: &str,
    wait: Duration,
    target: Target,
    message: String,
) -> Result<usize, CliError> {
    let c = connect(registers, secret, wait).await?;
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
    secret: &str,
    wait: Duration,
    q: Question,
    json: bool,
) -> Result<(String, bool), CliError> {
    let c = connect(registers, secret, wait).await?;
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

/// One gateway's status answer as a readable block (see `Api::gateway_status`).
fn status_block(key: GatewayKey, v: &StatusReport) -> String {
    let stat = |name: &str| {
        v.stats
            .get(name)
            .map_or_else(|| "?".to_string(), u64::to_string)
    };
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
    let rows = [
        ("clients", v.clients.to_string()),
        ("uids", v.uids.to_string()),
        ("groups", v.groups.to_string()),
        ("accepted", stat("accepted")),
        (
            "messages in/out",
            format!("{} / {}", stat("messages_in"), stat("messages_out")),
        ),
        ("protocol errors", stat("protocol_errors")),
        ("skipped", stat("skipped")),
        ("overflow closes", stat("overflow_closes")),
        ("dropped oldest", stat("dropped_oldest")),
        ("heartbeat closes", stat("heartbeat_closes")),
        ("refused events", stat("refused_events")),
        ("held", format!("{held} (overflows {})", v.held_overflows)),
        ("workers", workers),
    ];
    let mut out = format!("gateway {key} ({}), up {}s", v.name, v.uptime_secs);
    for (label, value) in rows {
        out.push_str(&format!("\n  {label:<18}{value}"));
    }
    out
}

/// Every gateway's live counts; returns the text to print and whether every gateway answered.
/// Plain: one block per gateway. JSON: `{"value": {gateway: status}, "complete", "missing"}`.
pub async fn status(
    registers: Vec<String>,
    secret: &str,
    wait: Duration,
    json: bool,
) -> Result<(String, bool), CliError> {
    let c = connect(registers, secret, wait).await?;
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
