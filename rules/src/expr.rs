//! Conditions (`when = "kind == 'location' and speed > 120 or not fix"`), parsed with nom when
//! the rules file loads and evaluated against a [`Context`].
//!
//! Grammar, loosest first: `or`, `and`, `not`, then a comparison `operand OP operand` (`==`, `!=`,
//! `<`, `<=`, `>`, `>=`, `contains`) or a lone operand tested for truth; parentheses group.
//! Operands are field paths or literals: `'text'`, `"text"`, numbers, `true`, `false`, `null`.

use crate::path::{raw_path, Context, Path, Root};
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit1, multispace0, one_of, satisfy};
use nom::combinator::{cut, map, not, opt, peek, recognize, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded, terminated, tuple};
use nom::IResult;
use serde_json::Value;
use std::cmp::Ordering;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Lit(Value),
    Path(Path),
    /// A path that failed to compile; only exists until [`Expr::parse`] reports it.
    Bad(String),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    Truthy(Operand),
}

fn ws<'a, O>(
    inner: impl FnMut(&'a str) -> IResult<&'a str, O>,
) -> impl FnMut(&'a str) -> IResult<&'a str, O> {
    delimited(multispace0, inner, multispace0)
}

fn keyword<'a>(word: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    terminated(
        tag(word),
        not(peek(satisfy(|c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        }))),
    )
}

fn quoted(input: &str) -> IResult<&str, Value> {
    let mut chars = input.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('\'' | '"'))) => q,
        _ => {
            return Err(nom::Err::Error(nom::error::Error::new(
                input,
                nom::error::ErrorKind::Char,
            )))
        }
    };
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            out.push(match c {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Ok((&input[i + c.len_utf8()..], Value::String(out)));
        } else {
            out.push(c);
        }
    }
    // Unterminated: fail (not error) so the message points at the opening quote.
    Err(nom::Err::Failure(nom::error::Error::new(
        input,
        nom::error::ErrorKind::Char,
    )))
}

fn number(input: &str) -> IResult<&str, Value> {
    let (rest, text) = recognize(tuple((
        opt(char('-')),
        digit1,
        opt(pair(char('.'), digit1)),
        opt(tuple((one_of("eE"), opt(one_of("+-")), digit1))),
    )))(input)?;
    let v = match text.parse::<i64>() {
        Ok(i) => Value::from(i),
        Err(_) => match text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Value::Number(n),
            None => {
                return Err(nom::Err::Error(nom::error::Error::new(
                    input,
                    nom::error::ErrorKind::Float,
                )))
            }
        },
    };
    Ok((rest, v))
}

fn literal(input: &str) -> IResult<&str, Value> {
    alt((
        quoted,
        number,
        value(Value::Bool(true), keyword("true")),
        value(Value::Bool(false), keyword("false")),
        value(Value::Null, keyword("null")),
    ))(input)
}

fn operand(input: &str) -> IResult<&str, Operand> {
    alt((
        map(literal, Operand::Lit),
        map(raw_path, |(first, rest)| {
            match Path::from_words(first, rest) {
                Ok(p) => Operand::Path(p),
                Err(e) => Operand::Bad(e),
            }
        }),
    ))(input)
}

fn op(input: &str) -> IResult<&str, Op> {
    alt((
        value(Op::Eq, tag("==")),
        value(Op::Ne, tag("!=")),
        value(Op::Le, tag("<=")),
        value(Op::Ge, tag(">=")),
        value(Op::Lt, tag("<")),
        value(Op::Gt, tag(">")),
        value(Op::Contains, keyword("contains")),
    ))(input)
}

fn comparison(input: &str) -> IResult<&str, Expr> {
    let (rest, left) = ws(operand)(input)?;
    match opt(ws(op))(rest)? {
        (rest, Some(o)) => {
            let (rest, right) = cut(ws(operand))(rest)?;
            Ok((rest, Expr::Cmp(left, o, right)))
        }
        (rest, None) => Ok((rest, Expr::Truthy(left))),
    }
}

fn primary(input: &str) -> IResult<&str, Expr> {
    alt((
        delimited(ws(char('(')), cut(or_expr), cut(ws(char(')')))),
        comparison,
    ))(input)
}

fn unary(input: &str) -> IResult<&str, Expr> {
    alt((
        map(preceded(ws(keyword("not")), cut(unary)), |e| {
            Expr::Not(Box::new(e))
        }),
        primary,
    ))(input)
}

fn and_expr(input: &str) -> IResult<&str, Expr> {
    let (rest, first) = unary(input)?;
    let (rest, more) = many0(preceded(ws(keyword("and")), cut(unary)))(rest)?;
    Ok((
        rest,
        more.into_iter()
            .fold(first, |a, b| Expr::And(Box::new(a), Box::new(b))),
    ))
}

fn or_expr(input: &str) -> IResult<&str, Expr> {
    let (rest, first) = and_expr(input)?;
    let (rest, more) = many0(preceded(ws(keyword("or")), cut(and_expr)))(rest)?;
    Ok((
        rest,
        more.into_iter()
            .fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))),
    ))
}

fn snippet(s: &str) -> String {
    let cut: String = s.chars().take(20).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

impl Expr {
    /// Parses a condition; the error says where and what went wrong.
    pub fn parse(src: &str) -> Result<Expr, String> {
        if src.trim().is_empty() {
            return Err("empty condition".into());
        }
        let column = |rest: &str| src.len() - rest.len() + 1;
        let expr = match or_expr(src) {
            Ok(("", e)) => e,
            Ok((rest, _)) => {
                return Err(format!(
                "unexpected `{}` at column {} (expected `and`, `or`, a comparison operator or `)`)",
                snippet(rest),
                column(rest)
            ))
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let what = if e.input.starts_with(['\'', '"']) {
                    "unterminated string"
                } else {
                    "expected a field, a value, `not` or `(`"
                };
                return Err(if e.input.trim().is_empty() {
                    "condition ends early: an operand or `)` is missing".to_owned()
                } else {
                    format!(
                        "{what} at column {}: `{}`",
                        column(e.input),
                        snippet(e.input)
                    )
                });
            }
            Err(nom::Err::Incomplete(_)) => return Err("condition ends early".into()),
        };
        let mut bad = Vec::new();
        expr.collect_bad(&mut bad);
        if bad.is_empty() {
            Ok(expr)
        } else {
            Err(bad.join("; "))
        }
    }

    fn collect_bad(&self, out: &mut Vec<String>) {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.collect_bad(out);
                b.collect_bad(out);
            }
            Expr::Not(a) => a.collect_bad(out),
            Expr::Cmp(a, _, b) => {
                for o in [a, b] {
                    if let Operand::Bad(e) = o {
                        out.push(e.clone());
                    }
                }
            }
            Expr::Truthy(Operand::Bad(e)) => out.push(e.clone()),
            Expr::Truthy(_) => {}
        }
    }

    /// Whether the condition can hold only for an event with fields (decoded, or a JSON object
    /// sent as text): then [`crate::RuleSet`] does not offer the rule to events without any.
    /// `false` when unsure.
    pub fn needs_fields(&self) -> bool {
        // Without fields, a fields path reads as absent, which compares as `null`.
        let fields = |o: &Operand| matches!(o, Operand::Path(p) if p.root == Root::Fields);
        let null = |o: &Operand| matches!(o, Operand::Lit(Value::Null));
        let other = |o: &Operand| matches!(o, Operand::Lit(v) if !v.is_null());
        match self {
            Expr::Or(a, b) => a.needs_fields() && b.needs_fields(),
            Expr::And(a, b) => a.needs_fields() || b.needs_fields(),
            Expr::Not(_) => false,
            Expr::Truthy(o) => fields(o),
            Expr::Cmp(a, op, b) => match op {
                // Ordering needs two numbers or two strings; `null` is neither.
                Op::Lt | Op::Le | Op::Gt | Op::Ge => fields(a) || fields(b),
                Op::Eq => (fields(a) && other(b)) || (other(a) && fields(b)),
                Op::Ne => (fields(a) && (fields(b) || null(b))) || (fields(b) && null(a)),
                Op::Contains => fields(a),
            },
        }
    }

    /// Whether the condition holds for this event.
    pub fn eval(&self, ctx: &Context<'_>) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(ctx) || b.eval(ctx),
            Expr::And(a, b) => a.eval(ctx) && b.eval(ctx),
            Expr::Not(a) => !a.eval(ctx),
            Expr::Truthy(o) => read(o, ctx).is_some_and(|v| truthy(&v)),
            Expr::Cmp(Operand::Path(p), op @ (Op::Eq | Op::Ne), Operand::Lit(Value::Null))
            | Expr::Cmp(Operand::Lit(Value::Null), op @ (Op::Eq | Op::Ne), Operand::Path(p)) => {
                // `fields.uid != null` is in most rules files: no JSON value built or dropped.
                ctx.is_null(p) == (*op == Op::Eq)
            }
            Expr::Cmp(a, op, b) => {
                // Text against text (`text == 'ping'`, `protocol != 'gt06'`): no copies.
                if let (Some(x), Some(y)) = (read_str(a, ctx), read_str(b, ctx)) {
                    return compare_str(x, *op, y);
                }
                let (l, r) = (read(a, ctx), read(b, ctx));
                compare(l.as_deref(), *op, r.as_deref())
            }
        }
    }
}

fn read<'c>(o: &'c Operand, ctx: &'c Context<'_>) -> Option<std::borrow::Cow<'c, Value>> {
    match o {
        Operand::Lit(v) => Some(std::borrow::Cow::Borrowed(v)),
        Operand::Path(p) => ctx.resolve(p),
        Operand::Bad(_) => None,
    }
}

/// An operand that is text: a string literal, or a present text root (uid, text, ...).
fn read_str<'c>(o: &'c Operand, ctx: &'c Context<'_>) -> Option<&'c str> {
    match o {
        Operand::Lit(Value::String(s)) => Some(s),
        Operand::Path(p) => ctx.resolve_str(p),
        _ => None,
    }
}

/// [`compare`] for two strings, the same result without building JSON values.
fn compare_str(a: &str, op: Op, b: &str) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Contains => a.contains(b),
    }
}

/// Truth of a value: absent, null, false, 0, "" and empty collections are false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Absent reads as `null` for `==`/`!=`; ordering needs two numbers or two strings.
fn compare(l: Option<&Value>, op: Op, r: Option<&Value>) -> bool {
    let null = Value::Null;
    let (a, b) = (l.unwrap_or(&null), r.unwrap_or(&null));
    match op {
        Op::Eq => json_eq(a, b),
        Op::Ne => !json_eq(a, b),
        Op::Lt => order(a, b) == Some(Ordering::Less),
        Op::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order(a, b) == Some(Ordering::Greater),
        Op::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
        Op::Contains => match (a, b) {
            (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
            (Value::Array(items), x) => items.iter().any(|i| json_eq(i, x)),
            (Value::Object(m), Value::String(k)) => m.contains_key(k),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The text fast path gives what the JSON comparison gives, for every operator.
        #[test]
        fn text_comparisons_match_json_comparisons(a in ".{0,6}", b in ".{0,6}", op in 0usize..7) {
            let op = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Contains][op];
            let (x, y) = (Value::from(a.as_str()), Value::from(b.as_str()));
            proptest::prop_assert_eq!(compare_str(&a, op, &b), compare(Some(&x), op, Some(&y)));
        }
    }
    use crate::event::{DeviceState, Event};

    fn eval_on(cond: &str, json: &str) -> bool {
        let ev = Event::message("c", "l", "text", json.to_owned());
        let st = DeviceState::new();
        let ctx = Context::new(&ev, &st, 1000);
        Expr::parse(cond).unwrap().eval(&ctx)
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        let j = r#"{"kind":"location","speed":130,"fix":true}"#;
        assert!(eval_on("kind == 'location' and speed > 120 or not fix", j));
        assert!(!eval_on("kind == 'alarm' and speed > 120 or not fix", j));
        assert!(eval_on(
            "kind == 'alarm' and speed > 120 or not fix",
            r#"{"fix":false}"#
        ));
        assert!(!eval_on("not fix and speed > 1", j));
        assert!(!eval_on("kind == 'alarm' and (speed > 120 or fix)", j));
        assert!(eval_on("not (kind == 'alarm')", j));
    }

    #[test]
    fn every_comparison_operator_works_on_numbers_and_strings() {
        let j = r#"{"n":5,"f":2.5,"s":"abc","a":[1,"x"],"o":{"k":1}}"#;
        for (cond, want) in [
            ("n == 5", true),
            ("n == 5.0", true),
            ("n != 5", false),
            ("n < 6", true),
            ("n <= 5", true),
            ("n > 5", false),
            ("n >= 5", true),
            ("f > -1", true),
            ("f < 2.5e1", true),
            ("s == \"abc\"", true),
            ("s < 'abd'", true),
            ("s contains 'bc'", true),
            ("a contains 'x'", true),
            ("a contains 2", false),
            ("o contains 'k'", true),
            ("s > 1", false),
            ("missing == null", true),
            ("missing != 1", true),
            ("missing > 0", false),
            ("n == 'five'", false),
            ("n == fields.n", true),
            ("text contains 'abc'", true),
            ("event == 'message'", true),
        ] {
            assert_eq!(eval_on(cond, j), want, "{cond}");
        }
    }

    #[test]
    fn null_comparisons_match_json_comparisons_for_every_root() {
        let mut ev = Event::message("c", "l", "text", r#"{"a":{"b":[null,1]},"n":null,"z":0}"#);
        ev.session.insert("s".into(), Value::Null);
        let mut st = DeviceState::new();
        st.0.insert("x".into(), Value::from(1));
        let ctx = Context::new(&ev, &st, 1000);
        for p in [
            "a",
            "a.b",
            "a.b.0",
            "a.b.1",
            "a.b.2",
            "a.c",
            "n",
            "z",
            "missing",
            "fields",
            "state",
            "state.x",
            "state.y",
            "session",
            "session.s",
            "session.t",
            "uid",
            "text",
            "now",
            "event",
            "client_id",
            "listener",
            "protocol",
            "redelivered",
        ] {
            let path = Path::parse(p).unwrap();
            let want = compare(ctx.resolve(&path).as_deref(), Op::Eq, Some(&Value::Null));
            assert_eq!(ctx.is_null(&path), want, "{p}");
            for (cond, op_eq) in [
                (format!("{p} == null"), true),
                (format!("null != {p}"), false),
            ] {
                let e = Expr::parse(&cond).unwrap();
                assert_eq!(e.eval(&ctx), want == op_eq, "{cond}");
            }
        }
        // Not valid UTF-8, no fields: text is absent, so null.
        let ev = Event::message("c", "l", "text", vec![0xffu8, 0xfe]);
        let ctx = Context::new(&ev, &st, 1000);
        assert!(Expr::parse("text == null").unwrap().eval(&ctx));
        assert!(Expr::parse("fields.uid == null").unwrap().eval(&ctx));
    }

    proptest::proptest! {
        /// A condition that needs fields never holds for an event without any.
        #[test]
        fn conditions_that_need_fields_are_false_without_fields(
            ops in proptest::collection::vec((0usize..9, 0usize..7, 0usize..9, 0usize..4), 1..4),
            data in 0usize..3,
        ) {
            let operands = ["fields.a", "b", "fields", "null", "1", "'x'", "uid", "text", "state.s"];
            let cmp = ["==", "!=", "<", "<=", ">", ">=", "contains"];
            let mut cond = String::new();
            for (i, (a, op, b, join)) in ops.iter().enumerate() {
                if i > 0 {
                    cond.push_str([" and ", " or ", " and not ", " or "][*join]);
                }
                if *join == 3 {
                    cond.push_str(operands[*a]);
                } else {
                    cond.push_str(&format!("{} {} {}", operands[*a], cmp[*op], operands[*b]));
                }
            }
            let e = Expr::parse(&cond).unwrap();
            let data: &[u8] = [&b"hello"[..], b"", b"[1,2]"][data];
            let ev = Event::message("c", "l", "text", data.to_vec());
            let mut st = DeviceState::new();
            st.0.insert("s".into(), Value::from("x"));
            let ctx = Context::new(&ev, &st, 1000);
            if e.needs_fields() {
                proptest::prop_assert!(!e.eval(&ctx), "{}", cond);
            }
        }
    }

    #[test]
    fn needs_fields_recognizes_the_usual_conditions() {
        for (cond, want) in [
            ("fields.uid != null", true),
            ("fields.uid != null and fields.temp > 50", true),
            ("kind == 'location' and uid != null", true),
            ("speed > 120", true),
            ("fix", true),
            ("fields.uid == null", false),
            ("fields.a != 1", false),
            ("fields.a == fields.b", false),
            ("not fix", false),
            ("text == 'ping'", false),
            ("fix or uid != null", false),
            ("fix or speed > 1", true),
            ("'abc' contains fields.a", false),
        ] {
            assert_eq!(Expr::parse(cond).unwrap().needs_fields(), want, "{cond}");
        }
    }

    #[test]
    fn redelivered_is_true_only_for_a_redelivered_event() {
        let mut ev = Event::message("c", "l", "text", "hi");
        let st = DeviceState::new();
        for flag in [false, true] {
            ev.redelivered = flag;
            let ctx = Context::new(&ev, &st, 1000);
            for (cond, want) in [
                ("redelivered", flag),
                ("not redelivered", !flag),
                ("redelivered == true", flag),
                ("redelivered != false", flag),
                ("redelivered == null", false),
                ("text == 'hi' and not redelivered", !flag),
            ] {
                assert_eq!(
                    Expr::parse(cond).unwrap().eval(&ctx),
                    want,
                    "{cond} ({flag})"
                );
            }
        }
        assert!(!Expr::parse("redelivered").unwrap().needs_fields());
    }

    #[test]
    fn lone_operands_test_truth() {
        let j = r#"{"z":0,"e":"","t":true,"l":[1]}"#;
        assert!(!eval_on("z", j));
        assert!(!eval_on("e", j));
        assert!(!eval_on("missing", j));
        assert!(eval_on("t and l", j));
        assert!(eval_on("true", j));
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        assert!(eval_on("android == 1 or order == 2", r#"{"android":1}"#));
        assert!(eval_on("notify", r#"{"notify":1}"#));
    }

    #[test]
    fn bad_conditions_say_where() {
        assert!(Expr::parse("speed >").unwrap_err().contains("ends early"));
        assert!(Expr::parse("speed > 1 and")
            .unwrap_err()
            .contains("ends early"));
        assert!(Expr::parse("speed = 1").unwrap_err().contains("column 7"));
        assert!(Expr::parse("(a == 1").unwrap_err().contains("ends early"));
        assert!(Expr::parse("a == 1 and (b or)")
            .unwrap_err()
            .contains("column 17"));
        assert!(Expr::parse("not").unwrap_err().contains("ends early"));
        assert!(Expr::parse("a == 'x").unwrap_err().contains("unterminated"));
        assert!(Expr::parse("uid.x == 1")
            .unwrap_err()
            .contains("no sub-fields"));
        assert!(Expr::parse("  ").unwrap_err().contains("empty"));
        assert!(Expr::parse("a == 1 b")
            .unwrap_err()
            .contains("unexpected `b`"));
    }
}
