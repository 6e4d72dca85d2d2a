//! Loading a rules file: TOML in, a checked [`RuleSet`] out, or every problem at once.
//!
//! The file is walked by hand (each key deserialized on its own) rather than with one serde
//! derive, because serde stops at the first error and users want the whole list.

use crate::error::{one_line, RuleError};
use crate::event::EventKind;
use crate::expr::Expr;
use crate::ruleset::{Rule, RuleSet, Step};
use crate::template::{Template, ValueTemplate};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};

const RULE_KEYS: &[&str] = &["name", "on", "listener", "protocol", "when", "actions"];
const ACTIONS: &[&str] = &[
    "reply",
    "send_to_uid",
    "send_to_group",
    "bind_uid",
    "join_group",
    "set_state",
    "publish",
    "drop",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendToUidConfig {
    uid: String,
    data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendToGroupConfig {
    group: String,
    data: String,
}

fn default_qos() -> u8 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishConfig {
    topic: String,
    #[serde(default = "default_qos")]
    qos: u8,
    #[serde(default)]
    retain: bool,
    payload: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn de<T: DeserializeOwned>(v: &toml::Value) -> Result<T, String> {
    v.clone().try_into::<T>().map_err(one_line)
}

/// Collects errors for one file, so every check can report and go on.
struct Report {
    file: PathBuf,
    errors: Vec<RuleError>,
}

impl Report {
    fn push(&mut self, rule: Option<&str>, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.clone(),
            rule: rule.map(str::to_owned),
            key: key.into(),
            reason: reason.into(),
        });
    }
}

/// Parses rules from TOML text; `file` is only used to name the file in errors.
pub fn parse_rules(src: &str, file: &Path) -> Result<RuleSet, Vec<RuleError>> {
    let mut report = Report {
        file: file.to_owned(),
        errors: Vec::new(),
    };
    let table: toml::Table = match toml::from_str(src) {
        Ok(t) => t,
        Err(e) => {
            report.push(None, "", one_line(e));
            return Err(report.errors);
        }
    };
    let mut rules = Vec::new();
    for (key, value) in &table {
        if key != "rule" {
            report.push(
                None,
                key.as_str(),
                "unknown key (a rules file holds `[[rule]]` tables)",
            );
            continue;
        }
        let Some(list) = value.as_array() else {
            report.push(
                None,
                "rule",
                "must be an array of tables, written `[[rule]]`",
            );
            continue;
        };
        for (i, r) in list.iter().enumerate() {
            let label = format!("#{}", i + 1);
            match r.as_table() {
                Some(t) => {
                    if let Some(rule) = compile_rule(t, &label, &mut report) {
                        rules.push(rule);
                    }
                }
                None => report.push(Some(&label), "", "a rule must be a table"),
            }
        }
    }
    if !table.contains_key("rule") {
        report.push(None, "rule", "the file has no `[[rule]]`");
    }
    let mut seen = std::collections::HashSet::new();
    for r in &rules {
        if !seen.insert(r.name.clone()) {
            report.push(Some(&r.name), "name", "another rule has the same name");
        }
    }
    if report.errors.is_empty() {
        Ok(RuleSet::new(rules))
    } else {
        Err(report.errors)
    }
}

/// Reads and checks a rules file, reporting every problem at once.
pub fn check_rules_file(path: impl AsRef<Path>) -> Result<RuleSet, Vec<RuleError>> {
    let path = path.as_ref();
    match std::fs::read_to_string(path) {
        Ok(src) => parse_rules(&src, path),
        Err(e) => Err(vec![RuleError {
            file: path.to_owned(),
            rule: None,
            key: String::new(),
            reason: format!("cannot read: {e}"),
        }]),
    }
}

fn compile_rule(t: &toml::Table, label: &str, report: &mut Report) -> Option<Rule> {
    let before = report.errors.len();
    let name = match t.get("name").map(de::<String>) {
        None => label.to_owned(),
        Some(Ok(n)) if !n.trim().is_empty() => n,
        Some(Ok(_)) => {
            report.push(Some(label), "name", "must not be empty");
            label.to_owned()
        }
        Some(Err(e)) => {
            report.push(Some(label), "name", e);
            label.to_owned()
        }
    };
    let r = Some(name.as_str());
    for key in t.keys() {
        if !RULE_KEYS.contains(&key.as_str()) {
            report.push(
                r,
                key.as_str(),
                format!("unknown key; expected one of {}", RULE_KEYS.join(", ")),
            );
        }
    }
    let on = match t.get("on").map(de::<Vec<EventKind>>) {
        None => vec![EventKind::Message],
        Some(Ok(v)) if v.is_empty() => {
            report.push(r, "on", "must name at least one of connect, message, close");
            vec![]
        }
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            report.push(r, "on", e);
            vec![]
        }
    };
    let mut filter = |key: &str| match t.get(key).map(de::<OneOrMany>) {
        None => vec![],
        Some(Ok(OneOrMany::One(s))) => vec![s],
        Some(Ok(OneOrMany::Many(v))) if v.is_empty() => {
            report.push(
                r,
                key,
                "an empty list matches nothing; leave the key out to match all",
            );
            vec![]
        }
        Some(Ok(OneOrMany::Many(v))) => v,
        Some(Err(_)) => {
            report.push(r, key, "must be a string or a list of strings");
            vec![]
        }
    };
    let listener = filter("listener");
    let protocol = filter("protocol");
    let when = match t.get("when").map(de::<String>) {
        None => None,
        Some(Ok(src)) => match Expr::parse(&src) {
            Ok(e) => Some(e),
            Err(e) => {
                report.push(r, "when", e);
                None
            }
        },
        Some(Err(e)) => {
            report.push(r, "when", e);
            None
        }
    };
    let (steps, drop) = match t.get("actions") {
        None => {
            report.push(r, "actions", "missing: a rule needs at least one action");
            (vec![], false)
        }
        Some(toml::Value::Array(a)) if a.is_empty() => {
            report.push(r, "actions", "empty: a rule needs at least one action");
            (vec![], false)
        }
        Some(toml::Value::Array(a)) => compile_actions(a, &name, report),
        Some(_) => {
            report.push(
                r,
                "actions",
                "must be a list of actions, e.g. `actions = [{ reply = \"pong\" }]`",
            );
            (vec![], false)
        }
    };
    (report.errors.len() == before).then_some(Rule {
        name,
        on,
        listener,
        protocol,
        when,
        steps,
        drop,
    })
}

/// The steps, and whether the rule ends with `drop`.
fn compile_actions(list: &[toml::Value], rule: &str, report: &mut Report) -> (Vec<Step>, bool) {
    let r = Some(rule);
    let mut steps = Vec::new();
    let mut dropped_at = None;
    for (i, a) in list.iter().enumerate() {
        let at = format!("actions[{i}]");
        let Some(t) = a.as_table().filter(|t| t.len() == 1) else {
            report.push(
                r,
                at,
                format!(
                    "an action is a table with exactly one key: one of {}",
                    ACTIONS.join(", ")
                ),
            );
            continue;
        };
        let Some((kind, v)) = t.iter().next() else {
            continue;
        };
        if let Some(d) = dropped_at {
            report.push(
                r,
                at.clone(),
                format!("unreachable: comes after `drop` at actions[{d}]"),
            );
        }
        let key = format!("{at}.{kind}");
        match compile_action(kind, v) {
            Ok(Some(step)) => steps.push(step),
            Ok(None) => dropped_at = Some(i),
            Err(e) => report.push(r, key, e),
        }
    }
    (steps, dropped_at.is_some())
}

/// One action; `None` is `drop`.
fn compile_action(kind: &str, v: &toml::Value) -> Result<Option<Step>, String> {
    let tpl = |s: &str| Template::parse(s);
    Ok(Some(match kind {
        "reply" => Step::Reply(tpl(&de::<String>(v)?)?),
        "send_to_uid" => {
            let c: SendToUidConfig = de(v)?;
            Step::SendToUid {
                uid: tpl(&c.uid).map_err(|e| format!("uid: {e}"))?,
                data: tpl(&c.data).map_err(|e| format!("data: {e}"))?,
            }
        }
        "send_to_group" => {
            let c: SendToGroupConfig = de(v)?;
            Step::SendToGroup {
                group: tpl(&c.group).map_err(|e| format!("group: {e}"))?,
                data: tpl(&c.data).map_err(|e| format!("data: {e}"))?,
            }
        }
        "bind_uid" => Step::BindUid(tpl(&de::<String>(v)?)?),
        "join_group" => Step::JoinGroup(tpl(&de::<String>(v)?)?),
        "set_state" => {
            let vt = ValueTemplate::from_toml(v)?;
            if !vt.may_be_object() {
                return Err(
                    "must be a table of fields, or one placeholder such as \"${fields}\"".into(),
                );
            }
            Step::SetState(vt)
        }
        "publish" => compile_publish(de(v)?)?,
        "drop" => match de::<bool>(v)? {
            true => return Ok(None),
            false => return Err("write `drop = true`, or leave the action out".into()),
        },
        other => {
            return Err(format!(
                "unknown action `{other}`; expected one of {}",
                ACTIONS.join(", ")
            ))
        }
    }))
}

fn compile_publish(c: PublishConfig) -> Result<Step, String> {
    if c.qos > 1 {
        return Err(format!(
            "qos: {} is not supported; use 0 or 1 (QoS 1 with the message id gives effectively-once)",
            c.qos
        ));
    }
    let topic = Template::parse(&c.topic).map_err(|e| format!("topic: {e}"))?;
    if c.topic.is_empty() {
        return Err("topic: must not be empty".into());
    }
    if topic.literals().any(|l| l.contains(['+', '#', '\0'])) {
        return Err("topic: a topic to publish to cannot hold `+`, `#` or NUL".into());
    }
    let payload = match &c.payload {
        None => None,
        Some(v @ toml::Value::Table(_)) => {
            Some(ValueTemplate::from_toml(v).map_err(|e| format!("payload.{e}"))?)
        }
        Some(toml::Value::String(s)) => {
            let t = Template::parse(s).map_err(|e| format!("payload: {e}"))?;
            if !t.is_single_var() {
                return Err("payload: must be a table (a JSON object) or one placeholder such as \"${fields}\"; every message is a JSON object that carries its id".into());
            }
            Some(ValueTemplate::Text(t))
        }
        Some(_) => {
            return Err("payload: must be a table (a JSON object) or one placeholder".into())
        }
    };
    Ok(Step::Publish {
        topic,
        qos: c.qos,
        retain: c.retain,
        payload,
    })
}
