//! `api_worker`: a business worker whose handler turns each text line from a device into
//! GatewayWorker API calls, so the integration tests drive the whole API through real devices,
//! real gateways and real internal links.
//!
//! Run it like `devgate worker`: `api_worker --config FILE` starts the `[worker]` of FILE and
//! prints `devgate: worker NAME` on stdout once started.
//!
//! On connect the handler merges `{"connected_at": <unix ms>}` into the session, then greets
//! the device with `hello CLIENT_ID`. Each command below is answered with `ok LINE` (the whole
//! line it got) once its API calls are made, or `err LINE: REASON`. The calls for the device's
//! own client travel on the same ordered link as the `ok`, so a device that has read `ok` knows
//! its gateway executed them; commands that go to every gateway also wait for `sync()` first.
//!
//! | line | API call |
//! |---|---|
//! | `bind U` / `unbind U` | `bind_uid` / `unbind_uid` of this client |
//! | `join G` / `leave G` | `join_group` / `leave_group` of this client |
//! | `ungroup G` | `ungroup` |
//! | `session k=v` | `update_session` (v as JSON when it parses, else a string) |
//! | `setsession {json}` | `set_session` (replace) |
//! | `getsession` | `get_session` of this client, answered as `session JSON` before the `ok` |
//! | `touid U[,U2..] TEXT` | `send_to_uid` |
//! | `togroup G[,G2..] TEXT [exclude-self]` | `send_to_group`, excluding this client if asked |
//! | `toall TEXT [exclude-self]` | `send_to_all` |
//! | `closeuid U` | `close_uid` (with the last message `bye U`) |
//! | `whoami` | answers `whoami CLIENT_ID uid=U session=JSON` from the event's `Context` |
//!
//! Any other line is echoed. When a client closes, the group `watchers` gets
//! `closed CLIENT_ID uid=U session=JSON` from the close event, showing what it carried.

use anyhow::{bail, Context as _, Result};
use gateway::worker::{ApiError, Context, EventHandler, Incoming};
use gateway::ClientId;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The group told about every close.
const WATCHERS: &str = "watchers";
/// Trailing word of `togroup` / `toall` that excludes the sender.
const EXCLUDE_SELF: &str = " exclude-self";

/// The command handler.
struct Commands;

/// What a command asks the handler to say before its `ok`.
type Said = Vec<String>;

fn uid_text(uid: Option<&str>) -> &str {
    uid.unwrap_or("-")
}

fn errors(list: Vec<ApiError>) -> Result<()> {
    match list.first() {
        None => Ok(()),
        Some(e) => bail!("{} gateway(s) failed, first: {e}", list.len()),
    }
}

/// Waits until every gateway executed the commands sent so far (fan-out commands).
async fn synced(cx: &Context<'_>) -> Result<()> {
    let a = cx.api.sync().await;
    if !a.complete {
        bail!("sync incomplete, missing {:?}", a.missing);
    }
    Ok(())
}

fn split_exclude(rest: &str) -> (&str, bool) {
    match rest.strip_suffix(EXCLUDE_SELF) {
        Some(text) => (text, true),
        None => (rest, false),
    }
}

fn list(arg: &str) -> Vec<&str> {
    arg.split(',').filter(|s| !s.is_empty()).collect()
}

/// Every command word; other lines are echoed.
const COMMANDS: &[&str] = &[
    "bind",
    "unbind",
    "join",
    "leave",
    "ungroup",
    "session",
    "setsession",
    "getsession",
    "touid",
    "togroup",
    "toall",
    "closeuid",
    "whoami",
];

/// Runs one command line; `None` when the line is not a command (it is echoed).
async fn run(cx: &Context<'_>, line: &str) -> Option<Result<Said>> {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    if !COMMANDS.contains(&cmd) {
        return None;
    }
    Some(command(cx, cmd, rest).await)
}

async fn command(cx: &Context<'_>, cmd: &str, rest: &str) -> Result<Said> {
    let api = cx.api;
    let me = cx.client_id;
    match cmd {
        "bind" => api.bind_uid(me, rest).await?,
        "unbind" => api.unbind_uid(me, rest).await?,
        "join" => api.join_group(me, rest).await?,
        "leave" => api.leave_group(me, rest).await?,
        "ungroup" => {
            errors(api.ungroup(rest).await)?;
            synced(cx).await?;
        }
        "session" => {
            let (k, v) = rest.split_once('=').context("usage: session k=v")?;
            let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into()));
            cx.update_session(Map::from_iter([(k.to_string(), v)]))
                .await?;
        }
        "setsession" => match serde_json::from_str(rest) {
            Ok(Value::Object(m)) => cx.set_session(m).await?,
            _ => bail!("not a JSON object"),
        },
        "getsession" => {
            let s = api.get_session(me).await?;
            return Ok(vec![format!("session {}", json!(s))]);
        }
        "touid" => {
            let (uids, text) = rest.split_once(' ').context("usage: touid U TEXT")?;
            errors(api.send_to_uid(&list(uids), text.to_string()).await)?;
            synced(cx).await?;
        }
        "togroup" => {
            let (groups, text) = rest.split_once(' ').context("usage: togroup G TEXT")?;
            let (text, exclude_self) = split_exclude(text);
            let exclude: &[ClientId] = if exclude_self { &[me] } else { &[] };
            errors(
                api.send_to_group(&list(groups), text.to_string(), exclude)
                    .await,
            )?;
            synced(cx).await?;
        }
        "toall" => {
            let (text, exclude_self) = split_exclude(rest);
            let exclude: &[ClientId] = if exclude_self { &[me] } else { &[] };
            errors(api.send_to_all(text.to_string(), &[], exclude).await)?;
            synced(cx).await?;
        }
        "closeuid" => {
            errors(
                api.close_uid(rest, Some(format!("bye {rest}").into()))
                    .await,
            )?;
            synced(cx).await?;
        }
        "whoami" => {
            return Ok(vec![format!(
                "whoami {me} uid={} session={}",
                uid_text(cx.uid.as_deref()),
                Value::Object(cx.session())
            )]);
        }
        _ => bail!("unknown command {cmd}"),
    }
    Ok(Vec::new())
}

impl EventHandler for Commands {
    async fn on_connect(&self, cx: &Context<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let keys = Map::from_iter([("connected_at".to_string(), json!(now))]);
        if let Err(e) = cx.update_session(keys).await {
            tracing::warn!(client = %cx.client_id, "session not set: {e}");
        }
        // Same link as the session update: once the device reads this, its session is set.
        let _ = cx.reply(format!("hello {}", cx.client_id)).await;
    }

    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        let line = String::from_utf8_lossy(&msg.data).into_owned();
        let answer = match run(cx, &line).await {
            None => {
                let _ = cx.reply(msg.data).await;
                return;
            }
            Some(Ok(said)) => {
                for s in said {
                    let _ = cx.reply(s).await;
                }
                format!("ok {line}")
            }
            Some(Err(e)) => format!("err {line}: {e:#}"),
        };
        let _ = cx.reply(answer).await;
    }

    async fn on_close(&self, cx: &Context<'_>) {
        let note = format!(
            "closed {} uid={} session={}",
            cx.client_id,
            uid_text(cx.uid.as_deref()),
            Value::Object(cx.session())
        );
        cx.api.send_to_group(&[WATCHERS], note, &[]).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tests::worker_main::run_worker("api_worker", Commands).await
}
