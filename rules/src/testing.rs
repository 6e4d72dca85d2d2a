//! Rule tests: a TOML file next to the rules file (`rules.toml` -> `rules.test.toml`) lists
//! cases, each an event + `now` + the uid's initial state in and the expected actions out, like
//! `vector test`. `devgate test-rules FILE` prints the [`TestReport`] of [`run_rule_tests`].

use crate::action::Action;
use crate::error::{one_line, RuleError};
use crate::event::{DeviceState, Event, EventKind};
use crate::expr::json_eq;
use crate::load::check_rules_file;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

fn default_kind() -> EventKind {
    EventKind::Message
}

fn default_client() -> String {
    "7f00000122b800000001".into()
}

/// The event of one test case, as written in the tests file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEvent {
    #[serde(default = "default_kind")]
    kind: EventKind,
    #[serde(default = "default_client")]
    client_id: String,
    uid: Option<String>,
    #[serde(default)]
    listener: String,
    #[serde(default)]
    protocol: String,
    text: Option<String>,
    hex: Option<String>,
    fields: Option<Value>,
    #[serde(default)]
    session: Map<String, Value>,
    #[serde(default)]
    redelivered: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    now: u64,
    #[serde(default)]
    state: DeviceState,
    event: TestEvent,
    expect: Vec<Action>,
}

/// One case whose actions differed from the expected ones.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFailure {
    /// The case's name.
    pub name: String,
    /// What the tests file expects.
    pub expected: Vec<Action>,
    /// What the rules produced.
    pub actual: Vec<Action>,
}

/// The outcome of a rule tests run.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    /// Names of the cases that passed.
    pub passed: Vec<String>,
    /// Cases that failed, with both action lists.
    pub failures: Vec<TestFailure>,
    /// Problems loading the rules or the tests file (nothing ran if the rules did not load).
    pub errors: Vec<RuleError>,
}

impl TestReport {
    /// True when at least one case ran and nothing failed or was in error.
    pub fn success(&self) -> bool {
        self.errors.is_empty() && self.failures.is_empty() && !self.passed.is_empty()
    }
}

fn show(actions: &[Action]) -> String {
    serde_json::to_string_pretty(actions).unwrap_or_else(|e| format!("<{e}>"))
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for p in &self.passed {
            writeln!(f, "ok      {p}")?;
        }
        for t in &self.failures {
            writeln!(f, "FAILED  {}", t.name)?;
            writeln!(f, "  expected: {}", show(&t.expected).replace('\n', "\n  "))?;
            writeln!(f, "  actual:   {}", show(&t.actual).replace('\n', "\n  "))?;
        }
        write!(
            f,
            "rule tests {}: {} passed, {} failed, {} errors",
            if self.success() { "ok" } else { "FAILED" },
            self.passed.len(),
            self.failures.len(),
            self.errors.len()
        )
    }
}

/// Where the tests of a rules file live: `rules.toml` -> `rules.test.toml`.
pub fn default_tests_path(rules_path: &Path) -> PathBuf {
    let stem = rules_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".toml").unwrap_or(&stem);
    rules_path.with_file_name(format!("{stem}.test.toml"))
}

fn actions_eq(a: &[Action], b: &[Action]) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(x), Ok(y)) => json_eq(&x, &y),
        _ => false,
    }
}

fn build_event(t: TestEvent) -> Result<Event, String> {
    let data = match (t.text, t.hex) {
        (Some(_), Some(_)) => return Err("give `text` or `hex`, not both".into()),
        (Some(s), None) => s.into_bytes(),
        (None, Some(h)) => {
            hex::decode(h.replace([' ', ':'], "")).map_err(|e| format!("hex: {e}"))?
        }
        (None, None) => Vec::new(),
    };
    Ok(Event {
        kind: t.kind,
        client_id: t.client_id.into(),
        uid: t.uid,
        listener: t.listener.into(),
        protocol: t.protocol.into(),
        data: data.into(),
        fields: t.fields,
        session: t.session,
        redelivered: t.redelivered,
    })
}

/// Loads the rules and their tests and runs every case; problems are in the report.
pub fn run_rule_tests(rules_path: impl AsRef<Path>, tests_path: impl AsRef<Path>) -> TestReport {
    let tests_path = tests_path.as_ref();
    let mut report = TestReport::default();
    let err = |key: String, reason: String| RuleError {
        file: tests_path.to_owned(),
        rule: None,
        key,
        reason,
    };
    let rules = match check_rules_file(rules_path) {
        Ok(r) => Some(r),
        Err(e) => {
            report.errors.extend(e);
            None
        }
    };
    let table: toml::Table = match std::fs::read_to_string(tests_path) {
        Ok(src) => match toml::from_str(&src) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(err(String::new(), one_line(e)));
                return report;
            }
        },
        Err(e) => {
            report
                .errors
                .push(err(String::new(), format!("cannot read: {e}")));
            return report;
        }
    };
    for key in table.keys().filter(|k| *k != "test") {
        report.errors.push(err(
            key.clone(),
            "unknown key (a tests file holds `[[test]]` tables)".into(),
        ));
    }
    let cases = table
        .get("test")
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    if cases.is_empty() {
        report
            .errors
            .push(err("test".into(), "no `[[test]]` cases".into()));
    }
    let mut runnable = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let key = format!("test[{i}]");
        match c.try_into::<TestCase>() {
            Ok(tc) => match build_event(tc.event) {
                Ok(ev) => runnable.push((tc.name, tc.now, tc.state, ev, tc.expect)),
                Err(e) => report.errors.push(err(format!("{key}.event"), e)),
            },
            Err(e) => report.errors.push(err(key, one_line(e))),
        }
    }
    let Some(rules) = rules else { return report };
    for (name, now, state, event, expected) in runnable {
        let actual = rules.evaluate(&event, &state, now);
        if actions_eq(&expected, &actual) {
            report.passed.push(name);
        } else {
            report.failures.push(TestFailure {
                name,
                expected,
                actual,
            });
        }
    }
    report
}
