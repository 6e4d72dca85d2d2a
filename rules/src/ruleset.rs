//! A checked set of rules and its evaluation: event + device state + `now` in, actions out.
//! No I/O and no clock here, so evaluation is deterministic and cheap to test.

use crate::action::Action;
use crate::event::{DeviceState, Event, EventKind};
use crate::expr::Expr;
use crate::path::Context;
use crate::template::{Template, ValueTemplate};
use serde_json::{Map, Value};

/// One compiled action.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Reply(Template),
    SendToUid {
        uid: Template,
        data: Template,
    },
    SendToGroup {
        group: Template,
        data: Template,
    },
    BindUid(Template),
    JoinGroup(Template),
    SetState(ValueTemplate),
    Publish {
        topic: Template,
        qos: u8,
        retain: bool,
        payload: Option<ValueTemplate>,
    },
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub on: Vec<EventKind>,
    pub listener: Vec<String>,
    pub protocol: Vec<String>,
    pub when: Option<Expr>,
    pub steps: Vec<Step>,
    /// Ends evaluation after this rule's actions (`drop = true` as the last action).
    pub drop: bool,
}

impl Rule {
    /// Whether the rule can match an event of this kind and protocol, with or without fields:
    /// what [`Index`] decides ahead.
    fn takes(&self, kind: EventKind, protocol: Option<&str>, has_fields: bool) -> bool {
        self.on.contains(&kind)
            && match protocol {
                Some(p) => self.protocol.is_empty() || self.protocol.iter().any(|q| q == p),
                None => self.protocol.is_empty(),
            }
            && (has_fields || !self.when.as_ref().is_some_and(Expr::needs_fields))
    }

    /// The rest of the match, for a rule [`Index`] picked: listener filter and condition.
    fn matches(&self, ctx: &Context<'_>) -> bool {
        (self.listener.is_empty() || self.listener.iter().any(|l| **l == *ctx.event.listener))
            && self.when.as_ref().is_none_or(|w| w.eval(ctx))
    }
}

/// Slot in [`Index`]'s lists of an event kind, with or without fields.
fn slot(kind: EventKind, has_fields: bool) -> usize {
    let k = match kind {
        EventKind::Connect => 0,
        EventKind::Message => 1,
        EventKind::Close => 2,
    };
    k * 2 + usize::from(has_fields)
}

const SLOTS: usize = 6;

/// The rules an event can match, by its kind, its protocol and whether it has fields, in file
/// order: an event visits only those, not every rule of the file.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Per protocol some rule names: the candidate rules for each [`slot`].
    named: Vec<(Box<str>, [Vec<usize>; SLOTS])>,
    /// For a protocol no rule names: the candidates among rules without a protocol filter.
    other: [Vec<usize>; SLOTS],
}

impl Index {
    fn new(rules: &[Rule]) -> Index {
        let pick = |protocol: Option<&str>| {
            let mut lists: [Vec<usize>; SLOTS] = Default::default();
            for kind in [EventKind::Connect, EventKind::Message, EventKind::Close] {
                for has_fields in [false, true] {
                    lists[slot(kind, has_fields)] = (0..rules.len())
                        .filter(|&i| rules[i].takes(kind, protocol, has_fields))
                        .collect();
                }
            }
            lists
        };
        let mut names: Vec<&str> = Vec::new();
        for p in rules.iter().flat_map(|r| &r.protocol) {
            if !names.contains(&p.as_str()) {
                names.push(p);
            }
        }
        Index {
            named: names
                .into_iter()
                .map(|p| (p.into(), pick(Some(p))))
                .collect(),
            other: pick(None),
        }
    }

    fn candidates(&self, kind: EventKind, protocol: &str, has_fields: bool) -> &[usize] {
        let lists = self
            .named
            .iter()
            .find(|(p, _)| **p == *protocol)
            .map_or(&self.other, |(_, l)| l);
        &lists[slot(kind, has_fields)]
    }
}

/// A checked rules file, ready to evaluate. Build it with [`crate::check_rules_file`] or
/// [`crate::parse_rules`].
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    index: Index,
}

fn topic_part(text: &str) -> Result<(), String> {
    if text.is_empty() {
        Err("is empty, which would leave an empty topic level".into())
    } else if text.contains(['/', '+', '#', '\0']) {
        Err(format!(
            "is {text:?}; a topic value cannot hold `/`, `+`, `#` or NUL"
        ))
    } else {
        Ok(())
    }
}

/// The message as a JSON object: its fields at the top level, plus `uid`, `client_id`,
/// `listener`, `protocol`, `event`, `received` (now) and `time` (the fields' own, else now).
fn message_json(ctx: &Context<'_>) -> Value {
    let ev = ctx.event;
    let mut m = Map::new();
    match ctx.fields.as_deref() {
        Some(Value::Object(f)) => m.extend(f.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Some(other) => {
            m.insert("fields".into(), other.clone());
        }
        None => match ev.text() {
            Some(t) if !ev.data.is_empty() => {
                m.insert("text".into(), Value::from(t));
            }
            Some(_) => {}
            None => {
                m.insert("data_hex".into(), Value::from(hex::encode(&ev.data)));
            }
        },
    }
    m.insert(
        "uid".into(),
        ctx.uid.clone().map_or(Value::Null, Value::String),
    );
    m.insert("client_id".into(), Value::from(&*ev.client_id));
    m.insert("listener".into(), Value::from(&*ev.listener));
    m.insert("protocol".into(), Value::from(&*ev.protocol));
    m.insert("event".into(), Value::from(ev.kind.as_str()));
    m.insert("received".into(), Value::from(ctx.now));
    m.entry("time").or_insert_with(|| Value::from(ctx.now));
    Value::Object(m)
}

impl RuleSet {
    /// A rule set of compiled rules, in file order.
    pub(crate) fn new(rules: Vec<Rule>) -> RuleSet {
        let index = Index::new(&rules);
        RuleSet { rules, index }
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Runs every matching rule in order and returns their actions in order.
    ///
    /// `state` is the persisted state of `event.uid` (empty when none); `now` is Unix time in
    /// milliseconds. Later rules see earlier `set_state` and `bind_uid` effects; after a
    /// `bind_uid` to a different uid, `state.*` starts empty (that uid's stored state is not
    /// known here). A `drop` ends evaluation. An action that cannot be built for this event
    /// comes out as [`Action::Skipped`] and the rule goes on.
    pub fn evaluate(&self, event: &Event, state: &DeviceState, now: u64) -> Vec<Action> {
        let mut ctx = Context::new(event, state, now);
        let mut out = Vec::new();
        let has_fields = ctx.fields.is_some();
        for &i in self
            .index
            .candidates(event.kind, &event.protocol, has_fields)
        {
            let Some(rule) = self.rules.get(i) else {
                continue;
            };
            if !rule.matches(&ctx) {
                continue;
            }
            for (i, step) in rule.steps.iter().enumerate() {
                match run_step(step, &mut ctx) {
                    Ok(a) => out.push(a),
                    Err(reason) => out.push(Action::Skipped {
                        rule: rule.name.clone(),
                        action: i,
                        reason,
                    }),
                }
            }
            if rule.drop {
                break;
            }
        }
        out
    }
}

fn run_step(step: &Step, ctx: &mut Context<'_>) -> Result<Action, String> {
    let non_empty = |s: String, what: &str| {
        if s.is_empty() {
            Err(format!("{what} renders empty"))
        } else {
            Ok(s)
        }
    };
    Ok(match step {
        Step::Reply(t) => Action::Reply {
            data: t.render(ctx)?,
        },
        Step::SendToUid { uid, data } => Action::SendToUid {
            uid: non_empty(uid.render(ctx)?, "uid")?,
            data: data.render(ctx)?,
        },
        Step::SendToGroup { group, data } => Action::SendToGroup {
            group: non_empty(group.render(ctx)?, "group")?,
            data: data.render(ctx)?,
        },
        Step::BindUid(t) => {
            let uid = non_empty(t.render(ctx)?, "uid")?;
            if ctx.uid.as_deref() != Some(uid.as_str()) {
                ctx.uid = Some(uid.clone());
                ctx.state = std::borrow::Cow::Owned(DeviceState::new());
            }
            Action::BindUid { uid }
        }
        Step::JoinGroup(t) => Action::JoinGroup {
            group: non_empty(t.render(ctx)?, "group")?,
        },
        Step::SetState(vt) => {
            let uid = ctx
                .uid
                .clone()
                .ok_or("no uid is bound, so there is no device state")?;
            let patch = vt.render_object(ctx)?;
            ctx.state.to_mut().merge(&patch);
            Action::SetState { uid, state: patch }
        }
        Step::Publish {
            topic,
            qos,
            retain,
            payload,
        } => Action::Publish {
            topic: topic.render_checked(ctx, topic_part)?,
            qos: *qos,
            retain: *retain,
            payload: match payload {
                None => message_json(ctx),
                Some(vt) => Value::Object(vt.render_object(ctx)?),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The index picks exactly the rules whose kind and protocol filters take the event.
    #[test]
    fn the_index_picks_what_the_filters_take_in_file_order() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rules.toml");
        let src = std::fs::read_to_string(example).unwrap();
        let mut files = vec![src];
        files.push(
            r#"
            [[rule]]
            on = ["close", "message"]
            protocol = ["gt06", "text"]
            actions = [{ drop = true }]
            [[rule]]
            actions = [{ reply = "x" }]
            [[rule]]
            on = ["connect"]
            protocol = "text"
            listener = "ws"
            actions = [{ reply = "y" }]
            [[rule]]
            on = ["connect", "message", "close"]
            actions = [{ reply = "z" }]
            "#
            .to_owned(),
        );
        for src in files {
            let rs = crate::parse_rules(&src, Path::new("t.toml")).unwrap();
            for kind in [EventKind::Connect, EventKind::Message, EventKind::Close] {
                for protocol in [
                    "text",
                    "frame",
                    "websocket",
                    "gt06",
                    "jt808",
                    "teltonika",
                    "",
                    "x",
                ] {
                    for has_fields in [false, true] {
                        let named = rs
                            .rules
                            .iter()
                            .any(|r| r.protocol.iter().any(|p| p == protocol));
                        let want: Vec<usize> = (0..rs.rules.len())
                            .filter(|&i| {
                                let r = &rs.rules[i];
                                r.on.contains(&kind)
                                    && (r.protocol.is_empty()
                                        || r.protocol.iter().any(|p| p == protocol))
                                    && (has_fields
                                        || !r.when.as_ref().is_some_and(Expr::needs_fields))
                            })
                            .collect();
                        assert_eq!(
                            rs.index.candidates(kind, protocol, has_fields),
                            want,
                            "{kind:?} {protocol} {has_fields} (named: {named})"
                        );
                    }
                }
            }
        }
    }
}
