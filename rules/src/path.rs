//! Field paths (`uid`, `text`, `redelivered`, `fields.speed`, `state.x`, bare `speed`) and what
//! they read.

use crate::event::{DeviceState, Event};
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::recognize;
use nom::multi::many0;
use nom::sequence::{pair, preceded};
use nom::IResult;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Uid,
    ClientId,
    Listener,
    Protocol,
    Event,
    Text,
    Now,
    Redelivered,
    Fields,
    State,
    Session,
}

/// A parsed field path: a root and the keys (or array indices) below it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub root: Root,
    pub keys: Vec<String>,
}

/// Words that are operators in conditions, so they cannot start a path.
pub(crate) const KEYWORDS: &[&str] = &["and", "or", "not", "contains", "true", "false", "null"];

fn ident(input: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
    ))(input)
}

fn segment(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')(input)
}

/// Parses the raw words of a path: `a.b.0.c`.
pub(crate) fn raw_path(input: &str) -> IResult<&str, (&str, Vec<&str>)> {
    pair(ident, many0(preceded(char('.'), segment)))(input)
}

impl Path {
    /// Builds a path from its words; bare names (not a root) read `fields.<name>`.
    pub fn from_words(first: &str, rest: Vec<&str>) -> Result<Path, String> {
        if KEYWORDS.contains(&first) {
            return Err(format!("`{first}` is a keyword, not a field"));
        }
        let (root, keys): (Root, Vec<&str>) = match first {
            "uid" => (Root::Uid, rest),
            "client_id" => (Root::ClientId, rest),
            "listener" => (Root::Listener, rest),
            "protocol" => (Root::Protocol, rest),
            "event" => (Root::Event, rest),
            "text" => (Root::Text, rest),
            "now" => (Root::Now, rest),
            "redelivered" => (Root::Redelivered, rest),
            "fields" => (Root::Fields, rest),
            "state" => (Root::State, rest),
            "session" => (Root::Session, rest),
            _ => {
                let mut keys = vec![first];
                keys.extend(rest);
                (Root::Fields, keys)
            }
        };
        let nested = matches!(root, Root::Fields | Root::State | Root::Session);
        if !nested && !keys.is_empty() {
            return Err(format!("`{first}` has no sub-fields"));
        }
        Ok(Path {
            root,
            keys: keys.into_iter().map(str::to_owned).collect(),
        })
    }

    /// Parses a whole string as one path (used inside `${...}`).
    pub fn parse(s: &str) -> Result<Path, String> {
        let s = s.trim();
        match raw_path(s) {
            Ok(("", (first, rest))) => Path::from_words(first, rest),
            Ok((left, _)) => Err(format!("unexpected `{left}` in field path `{s}`")),
            Err(_) => Err(format!("`{s}` is not a field path")),
        }
    }
}

/// What a path reads from: the event, the device's state, the current time.
pub(crate) struct Context<'a> {
    pub event: &'a Event,
    pub fields: Option<Cow<'a, Value>>,
    pub uid: Option<String>,
    /// The message as text, checked once (most rules read it).
    pub text: Option<&'a str>,
    /// Borrowed until a rule changes it (most events only read it, or not at all).
    pub state: Cow<'a, DeviceState>,
    pub now: u64,
}

fn descend<'v>(mut v: &'v Value, keys: &[String]) -> Option<&'v Value> {
    for k in keys {
        v = match v {
            Value::Object(m) => m.get(k)?,
            Value::Array(a) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn descend_map<'v>(m: &'v Map<String, Value>, keys: &[String]) -> Option<Cow<'v, Value>> {
    match keys.split_first() {
        None => Some(Cow::Owned(Value::Object(m.clone()))),
        Some((first, rest)) => descend(m.get(first)?, rest).map(Cow::Borrowed),
    }
}

impl<'a> Context<'a> {
    /// A context for evaluating `event` with the state of its uid.
    pub fn new(event: &'a Event, state: &'a DeviceState, now: u64) -> Context<'a> {
        Context {
            event,
            fields: event.effective_fields(),
            text: event.text(),
            uid: event.uid.clone(),
            state: Cow::Borrowed(state),
            now,
        }
    }

    /// The text at `path` when its root is a text one (uid, client_id, listener, protocol,
    /// event, text): read in place, where [`Context::resolve`] would copy it into a JSON value.
    pub fn resolve_str(&self, path: &Path) -> Option<&str> {
        match path.root {
            Root::Uid => self.uid.as_deref(),
            Root::ClientId => Some(&self.event.client_id),
            Root::Listener => Some(&self.event.listener),
            Root::Protocol => Some(&self.event.protocol),
            Root::Event => Some(self.event.kind.as_str()),
            Root::Text => self.text,
            _ => None,
        }
    }

    /// Whether `path` reads as `null`: absent, or a JSON `null`. Answers `x == null` without
    /// building or copying the value.
    pub fn is_null(&self, path: &Path) -> bool {
        let below = |m: &Map<String, Value>| match path.keys.split_first() {
            None => false,
            Some((first, rest)) => m
                .get(first)
                .and_then(|v| descend(v, rest))
                .is_none_or(Value::is_null),
        };
        match path.root {
            Root::Uid
            | Root::ClientId
            | Root::Listener
            | Root::Protocol
            | Root::Event
            | Root::Text => self.resolve_str(path).is_none(),
            Root::Now | Root::Redelivered => false,
            Root::Fields => self
                .fields
                .as_deref()
                .and_then(|f| descend(f, &path.keys))
                .is_none_or(Value::is_null),
            Root::State => below(&self.state.0),
            Root::Session => below(&self.event.session),
        }
    }

    /// The value at `path`, or `None` when it is absent.
    pub fn resolve(&self, path: &Path) -> Option<Cow<'_, Value>> {
        let text = |v: Option<&str>| v.map(|t| Cow::Owned(Value::String(t.to_owned())));
        match path.root {
            Root::Uid
            | Root::ClientId
            | Root::Listener
            | Root::Protocol
            | Root::Event
            | Root::Text => text(self.resolve_str(path)),
            Root::Now => Some(Cow::Owned(Value::from(self.now))),
            Root::Redelivered => Some(Cow::Owned(Value::Bool(self.event.redelivered))),
            Root::Fields => {
                let f = self.fields.as_deref()?;
                descend(f, &path.keys).map(Cow::Borrowed)
            }
            Root::State => descend_map(&self.state.0, &path.keys),
            Root::Session => descend_map(&self.event.session, &path.keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_read_decoded_fields() {
        let p = Path::parse("speed").unwrap();
        assert_eq!(p.root, Root::Fields);
        assert_eq!(p.keys, vec!["speed"]);
        let p = Path::parse("fields.pos.0").unwrap();
        assert_eq!(p.keys, vec!["pos", "0"]);
    }

    #[test]
    fn roots_without_sub_fields_reject_them() {
        assert!(Path::parse("uid.x").unwrap_err().contains("no sub-fields"));
        assert!(Path::parse("and").unwrap_err().contains("keyword"));
        assert!(Path::parse("a b").is_err());
        assert!(Path::parse("9a").is_err());
    }

    #[test]
    fn paths_read_event_state_session_and_array_elements() {
        let mut ev = Event::message("c1", "l", "text", r#"{"a":{"b":[10,20]}}"#);
        ev.session.insert("name".into(), Value::from("ann"));
        let mut st = DeviceState::new();
        st.0.insert("x".into(), Value::from(5));
        let ctx = Context::new(&ev, &st, 42);
        let get = |p: &str| {
            ctx.resolve(&Path::parse(p).unwrap())
                .map(|c| c.into_owned())
        };
        assert_eq!(get("a.b.1"), Some(Value::from(20)));
        assert_eq!(get("a.b.5"), None);
        assert_eq!(get("state.x"), Some(Value::from(5)));
        assert_eq!(get("session.name"), Some(Value::from("ann")));
        assert_eq!(get("now"), Some(Value::from(42)));
        assert_eq!(get("uid"), None);
        assert_eq!(get("client_id"), Some(Value::from("c1")));
        assert_eq!(get("event"), Some(Value::from("message")));
        assert_eq!(get("redelivered"), Some(Value::Bool(false)));
    }

    #[test]
    fn redelivered_is_a_bool_root_that_shadows_a_field_of_that_name() {
        let mut ev = Event::message("c1", "l", "text", r#"{"redelivered":"no"}"#);
        ev.redelivered = true;
        let st = DeviceState::new();
        let ctx = Context::new(&ev, &st, 0);
        let p = Path::parse("redelivered").unwrap();
        assert_eq!(p.root, Root::Redelivered);
        assert_eq!(
            ctx.resolve(&p).map(Cow::into_owned),
            Some(Value::Bool(true))
        );
        assert!(!ctx.is_null(&p));
        assert_eq!(ctx.resolve_str(&p), None);
        let field = Path::parse("fields.redelivered").unwrap();
        assert_eq!(
            ctx.resolve(&field).map(Cow::into_owned),
            Some(Value::from("no"))
        );
        assert!(Path::parse("redelivered.x")
            .unwrap_err()
            .contains("no sub-fields"));
    }
}
