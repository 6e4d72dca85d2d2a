//! Templates: text with `${path}` placeholders (`${uid}`, `${fields.lat}`, `${state.x}`,
//! `${now}`), an optional default (`${fields.name:-unknown}`), and `$${` for a literal `${`.
//!
//! A [`ValueTemplate`] is a JSON tree of templates (a TOML table in the rules file): a string
//! that is exactly one placeholder keeps the JSON type of what it reads.

use crate::path::{Context, Path};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Var { path: Path, default: Option<String> },
}

/// A parsed text template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template; errors name the bad placeholder.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(r) = after.strip_prefix("$${") {
                lit.push_str("${");
                rest = r;
            } else if let Some(r) = after.strip_prefix("${") {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{src}`"))?;
                let inner = &r[..end];
                let (path_src, default) = match inner.split_once(":-") {
                    Some((p, d)) => (p, Some(d.to_owned())),
                    None => (inner, None),
                };
                let path = Path::parse(path_src).map_err(|e| format!("in `${{{inner}}}`: {e}"))?;
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Var { path, default });
                rest = &r[end + 1..];
            } else {
                lit.push('$');
                rest = &after[1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template { pieces })
    }

    /// Whether the template is exactly one placeholder (so it can keep a JSON type).
    pub fn is_single_var(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Var { .. }])
    }

    /// The literal text between placeholders (used to check topic templates).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Lit(s) => Some(s.as_str()),
            Piece::Var { .. } => None,
        })
    }

    /// The placeholder's value, or `Err` naming what is missing; `Ok(None)` means "use the
    /// default".
    fn var_value(
        path: &Path,
        default: &Option<String>,
        ctx: &Context<'_>,
    ) -> Result<Option<Value>, String> {
        match ctx.resolve(path) {
            Some(v) if !v.is_null() => Ok(Some(v.into_owned())),
            _ if default.is_some() => Ok(None),
            _ => Err(format!("`{}` is missing", describe(path))),
        }
    }

    /// Renders to text; `check` vets each placeholder's text (topics refuse `/`, `+`, `#`).
    pub fn render_checked(
        &self,
        ctx: &Context<'_>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<String, String> {
        let mut out = String::with_capacity(self.len_hint(ctx));
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var { path, default } => {
                    let mut put = |text: &str| -> Result<(), String> {
                        check(text).map_err(|e| format!("`{}` {e}", describe(path)))?;
                        out.push_str(text);
                        Ok(())
                    };
                    // Text roots and string values are copied once, into the output.
                    if let Some(t) = ctx.resolve_str(path) {
                        put(t)?;
                        continue;
                    }
                    match ctx.resolve(path) {
                        Some(v) if !v.is_null() => match &*v {
                            Value::String(s) => put(s)?,
                            other => put(&other.to_string())?,
                        },
                        _ => match default {
                            Some(d) => put(d)?,
                            None => return Err(format!("`{}` is missing", describe(path))),
                        },
                    }
                }
            }
        }
        Ok(out)
    }

    /// The rendered length when every placeholder reads a text root (exact for `${text}`): the
    /// output is then allocated once, at its size.
    fn len_hint(&self, ctx: &Context<'_>) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.len(),
                Piece::Var { path, .. } => ctx.resolve_str(path).map_or(0, str::len),
            })
            .sum()
    }

    /// Renders to text: strings as they are, other JSON values as JSON.
    pub fn render(&self, ctx: &Context<'_>) -> Result<String, String> {
        self.render_checked(ctx, |_| Ok(()))
    }

    /// Renders to a JSON value: one lone placeholder keeps its type (and so does a default
    /// that is a JSON number, `true`, `false` or `null`); anything else is a string.
    pub fn render_value(&self, ctx: &Context<'_>) -> Result<Value, String> {
        match self.pieces.as_slice() {
            [Piece::Var { path, default }] => match Self::var_value(path, default, ctx)? {
                Some(v) => Ok(v),
                None => {
                    let d = default.clone().unwrap_or_default();
                    Ok(match serde_json::from_str::<Value>(&d) {
                        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
                        _ => Value::String(d),
                    })
                }
            },
            _ => self.render(ctx).map(Value::String),
        }
    }
}

fn describe(path: &Path) -> String {
    let root = format!("{:?}", path.root).to_lowercase();
    let root = if root == "clientid" {
        "client_id".to_owned()
    } else {
        root
    };
    std::iter::once(root)
        .chain(path.keys.iter().cloned())
        .collect::<Vec<_>>()
        .join(".")
}

/// A JSON tree whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueTemplate {
    Text(Template),
    Lit(Value),
    Array(Vec<ValueTemplate>),
    Object(Vec<(String, ValueTemplate)>),
}

impl ValueTemplate {
    /// Builds from a TOML value; errors carry the key path inside the value.
    pub fn from_toml(v: &toml::Value) -> Result<ValueTemplate, String> {
        Ok(match v {
            toml::Value::String(s) => ValueTemplate::Text(Template::parse(s)?),
            toml::Value::Integer(i) => ValueTemplate::Lit(Value::from(*i)),
            toml::Value::Float(f) => ValueTemplate::Lit(
                serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{f} is not a JSON number"))?,
            ),
            toml::Value::Boolean(b) => ValueTemplate::Lit(Value::Bool(*b)),
            toml::Value::Datetime(d) => ValueTemplate::Lit(Value::String(d.to_string())),
            toml::Value::Array(a) => ValueTemplate::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| Self::from_toml(x).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => ValueTemplate::Object(
                t.iter()
                    .map(|(k, x)| {
                        Ok((
                            k.clone(),
                            Self::from_toml(x).map_err(|e| format!("{k}: {e}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    /// Whether rendering can produce a JSON object (a table, or one lone placeholder).
    pub fn may_be_object(&self) -> bool {
        match self {
            ValueTemplate::Object(_) => true,
            ValueTemplate::Text(t) => t.is_single_var(),
            _ => false,
        }
    }

    /// Renders the tree.
    pub fn render(&self, ctx: &Context<'_>) -> Result<Value, String> {
        Ok(match self {
            ValueTemplate::Text(t) => t.render_value(ctx)?,
            ValueTemplate::Lit(v) => v.clone(),
            ValueTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(ctx))
                    .collect::<Result<_, _>>()?,
            ),
            ValueTemplate::Object(entries) => {
                let mut m = Map::new();
                for (k, t) in entries {
                    m.insert(k.clone(), t.render(ctx)?);
                }
                Value::Object(m)
            }
        })
    }

    /// Renders and requires a JSON object.
    pub fn render_object(&self, ctx: &Context<'_>) -> Result<Map<String, Value>, String> {
        match self.render(ctx)? {
            Value::Object(m) => Ok(m),
            other => Err(format!("expected a JSON object, got {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DeviceState, Event};

    fn ctx_render(tpl: &str) -> Result<String, String> {
        let mut ev = Event::message("c1", "tcp", "text", r#"{"lat":1.5,"name":"x","n":3}"#);
        ev.uid = Some("dev-1".into());
        let mut st = DeviceState::new();
        st.0.insert("count".into(), Value::from(7));
        let ctx = Context::new(&ev, &st, 1234);
        Template::parse(tpl)?.render(&ctx)
    }

    #[test]
    fn placeholders_read_fields_uid_state_and_now() {
        assert_eq!(
            ctx_render("${uid} at ${fields.lat} (${name}) #${state.count} t=${now}").unwrap(),
            "dev-1 at 1.5 (x) #7 t=1234"
        );
    }

    #[test]
    fn defaults_fill_missing_values_and_missing_without_default_fails() {
        assert_eq!(ctx_render("${fields.nope:-none}").unwrap(), "none");
        assert_eq!(ctx_render("${session.who:-}!").unwrap(), "!");
        assert!(ctx_render("${fields.nope}")
            .unwrap_err()
            .contains("fields.nope` is missing"));
    }

    #[test]
    fn dollars_escape_and_stand_alone() {
        assert_eq!(ctx_render("$${uid} costs $5").unwrap(), "${uid} costs $5");
        assert_eq!(ctx_render("").unwrap(), "");
    }

    #[test]
    fn bad_placeholders_are_reported_when_parsed() {
        assert!(Template::parse("a ${uid").unwrap_err().contains("unclosed"));
        assert!(Template::parse("${uid.x}")
            .unwrap_err()
            .contains("no sub-fields"));
        assert!(Template::parse("${}").is_err());
    }

    #[test]
    fn redelivered_renders_as_true_or_false_and_keeps_its_type_alone() {
        let mut ev = Event::message("c", "l", "p", "");
        ev.redelivered = true;
        let st = DeviceState::new();
        let ctx = Context::new(&ev, &st, 0);
        let t = Template::parse("dup=${redelivered}").unwrap();
        assert_eq!(t.render(&ctx).unwrap(), "dup=true");
        let t = Template::parse("${redelivered}").unwrap();
        assert_eq!(t.render_value(&ctx).unwrap(), Value::Bool(true));
    }

    #[test]
    fn a_lone_placeholder_keeps_its_json_type() {
        let ev = Event::message("c", "l", "p", r#"{"n":3,"o":{"a":1}}"#);
        let st = DeviceState::new();
        let ctx = Context::new(&ev, &st, 0);
        let t: toml::Value = toml::from_str(
            r#"v = { n = "${n}", s = "n=${n}", o = "${o}", k = 2, arr = ["${n}"], d = "${x:-4}", b = "${x:-false}", t = "${x:-abc}" }"#,
        )
        .unwrap();
        let vt = ValueTemplate::from_toml(&t["v"]).unwrap();
        assert_eq!(
            vt.render(&ctx).unwrap(),
            serde_json::json!({"n": 3, "s": "n=3", "o": {"a": 1}, "k": 2, "arr": [3], "d": 4, "b": false, "t": "abc"})
        );
    }
}
