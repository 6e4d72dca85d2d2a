//! Scenario files: a fleet of mixed device groups in TOML, turned into a [`Plan`].
//!
//! Top-level keys are defaults for every group (`target`, timing); each `[[group]]` names its
//! devices, protocol, behaviour (`mode = "echo"` or `"idle"`) and load (`rate` or `depth`). A
//! group with `proto = "gt06"`, `"jt808"`, `"teltonika"` (or a family the binary added) is
//! trackers of that family instead:
//! `rate` is locations per second each, with `heartbeat` and `id_base` as on the command line,
//! and `memory = false` as `--no-memory` (trackers keep unacked locations by default).
//! Unknown keys are errors, and every problem is reported at once with the file and key.
//! See `examples/fleet-scenario.toml`.

use crate::cli::{resolve, DEVICES_PER_SOURCE_IP};
use crate::dialects::{Dialects, ProtoName};
use crate::plan::{
    default_source_ips, parse_duration, parse_source_ips, Behaviour, FamilySettings, Group, Load,
    Plan, Proto, Timing, TlsSettings, DEFAULT_HEARTBEAT, DEFAULT_LOCATION_RATE,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scenario that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a scenario.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and key).
        message: String,
    },
    /// Settings are wrong; every problem is listed.
    #[error("{path}: {}", problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem, naming the key.
        problems: Vec<String>,
    },
}

/// A duration as a number of seconds or a string such as `"500ms"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Secs(f64),
    Text(String),
}

impl DurationValue {
    fn get(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Secs(s) => {
                Duration::try_from_secs_f64(*s).map_err(|_| format!("`{s}` is not a duration"))
            }
            DurationValue::Text(t) => parse_duration(t),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Echo,
    Idle,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    target: Option<String>,
    duration: Option<DurationValue>,
    grace: Option<DurationValue>,
    loss_timeout: Option<DurationValue>,
    connect_timeout: Option<DurationValue>,
    backoff_min: Option<DurationValue>,
    backoff_max: Option<DurationValue>,
    #[serde(default)]
    server_pids: Vec<u32>,
    #[serde(default, rename = "group")]
    groups: Vec<GroupSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    name: Option<String>,
    target: Option<String>,
    #[serde(default = "default_proto")]
    proto: String,
    devices: u64,
    #[serde(default)]
    mode: Mode,
    rate: Option<f64>,
    depth: Option<u32>,
    #[serde(default = "default_payload")]
    payload: usize,
    ramp: Option<f64>,
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    insecure: bool,
    ca: Option<PathBuf>,
    server_name: Option<String>,
    #[serde(default = "default_ws_path")]
    ws_path: String,
    source_ips: Option<String>,
    heartbeat: Option<DurationValue>,
    id_base: Option<u64>,
    memory: Option<bool>,
}

fn default_proto() -> String {
    Proto::Text.name().to_string()
}

fn default_payload() -> usize {
    64
}

fn default_ws_path() -> String {
    "/".to_string()
}

/// Reads the scenario at `path`; `target` overrides its default target; `proto` names are
/// looked up in `dialects`.
pub fn load(path: &Path, target: Option<&str>, dialects: &Dialects) -> Result<Plan, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, target, dialects).map_err(|e| match e {
        Problem::Parse(message) => ScenarioError::Parse {
            path: path.to_owned(),
            message,
        },
        Problem::Invalid(problems) => ScenarioError::Invalid {
            path: path.to_owned(),
            problems,
        },
    })
}

/// What is wrong with a scenario's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not valid TOML for a scenario.
    Parse(String),
    /// Valid TOML, wrong settings.
    Invalid(Vec<String>),
}

/// Parses a scenario's text; `target` overrides its default target; `proto` names are looked
/// up in `dialects`.
pub fn parse(text: &str, target: Option<&str>, dialects: &Dialects) -> Result<Plan, Problem> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| Problem::Parse(e.to_string()))?;
    let mut problems = Vec::new();
    let mut timing = Timing::default();
    let durations: [(&str, &Option<DurationValue>, &mut Duration); 6] = [
        ("duration", &file.duration, &mut timing.duration),
        ("grace", &file.grace, &mut timing.grace),
        ("loss_timeout", &file.loss_timeout, &mut timing.loss_timeout),
        (
            "connect_timeout",
            &file.connect_timeout,
            &mut timing.connect_timeout,
        ),
        ("backoff_min", &file.backoff_min, &mut timing.backoff_min),
        ("backoff_max", &file.backoff_max, &mut timing.backoff_max),
    ];
    for (key, value, slot) in durations {
        if let Some(v) = value {
            match v.get() {
                Ok(d) => *slot = d,
                Err(e) => problems.push(format!("{key}: {e}")),
            }
        }
    }
    if file.groups.is_empty() {
        problems.push("no [[group]]".to_string());
    }
    let default_target = target.map(str::to_string).or(file.target.clone());
    let mut groups = Vec::new();
    for (i, spec) in file.groups.iter().enumerate() {
        let key = format!("group[{i}]");
        let (group, mut p) = build_group(&key, spec, default_target.as_deref(), dialects);
        problems.append(&mut p);
        groups.extend(group);
    }
    let plan = Plan {
        groups,
        timing,
        server_pids: file.server_pids,
        timeline: false,
        acked_log: None,
    };
    // The groups that could be built are checked too, so every problem shows at once.
    if let Err(crate::plan::PlanError::Invalid(p)) = plan.validate() {
        let had_groups = !file.groups.is_empty();
        problems.extend(
            p.into_iter()
                .filter(|m| !(had_groups && m == "no device groups")),
        );
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(Problem::Invalid(problems))
    }
}

/// The group (when its target resolves) and the problems found with it.
fn build_group(
    key: &str,
    spec: &GroupSpec,
    default_target: Option<&str>,
    dialects: &Dialects,
) -> (Option<Group>, Vec<String>) {
    let mut problems = Vec::new();
    let proto = dialects.proto(&spec.proto).unwrap_or_else(|e| {
        problems.push(format!("{key}.proto: {e}"));
        ProtoName::Wire(Proto::Text)
    });
    let name = spec.name.clone().unwrap_or_else(|| key.to_string());
    let host = spec.target.as_deref().or(default_target);
    let target = match host {
        None => {
            problems.push(format!("{key}.target: missing (and no top-level target)"));
            None
        }
        Some(h) => match resolve(h) {
            Ok(addr) => Some(addr),
            Err(e) => {
                problems.push(format!("{key}.target: {e}"));
                None
            }
        },
    };
    let behaviour = behaviour(key, spec, proto, &mut problems);
    let source_ips = match (&spec.source_ips, target) {
        (Some(s), _) => match parse_source_ips(s) {
            Ok(ips) => ips,
            Err(e) => {
                problems.push(format!("{key}.source_ips: {e}"));
                Vec::new()
            }
        },
        (None, Some(t)) => default_source_ips(t, spec.devices, DEVICES_PER_SOURCE_IP),
        (None, None) => Vec::new(),
    };
    if (spec.insecure || spec.ca.is_some() || spec.server_name.is_some()) && !spec.tls {
        problems.push(format!(
            "{key}: insecure, ca and server_name need tls = true"
        ));
    }
    let group = match (target, host) {
        (Some(target), Some(host)) => Some(Group {
            name,
            target_host: host.to_string(),
            target,
            proto: proto.wire(),
            devices: spec.devices,
            first_device: 0,
            local_devices: spec.devices,
            ramp: spec.ramp,
            behaviour,
            tls: spec.tls.then(|| TlsSettings {
                insecure: spec.insecure,
                ca: spec.ca.clone(),
                server_name: spec.server_name.clone(),
            }),
            ws_path: spec.ws_path.clone(),
            source_ips,
        }),
        _ => None,
    };
    (group, problems)
}

/// What a group's devices do, adding what is wrong with it to `problems`.
fn behaviour(
    key: &str,
    spec: &GroupSpec,
    proto: ProtoName,
    problems: &mut Vec<String>,
) -> Behaviour {
    let family = proto.family();
    if family.is_none() && (spec.heartbeat.is_some() || spec.id_base.is_some()) {
        problems.push(format!(
            "{key}: heartbeat and id_base need a device family (proto = \"gt06\" and kin)"
        ));
    }
    if family.is_none() && spec.memory.is_some() {
        problems.push(format!(
            "{key}: memory is for trackers (proto = \"gt06\" and kin)"
        ));
    }
    match (spec.mode, family) {
        (Mode::Idle, _) => {
            if spec.rate.is_some() || spec.depth.is_some() {
                problems.push(format!("{key}: an idle group has no rate or depth"));
            }
            if family.is_some() {
                problems.push(format!("{key}: trackers have no idle mode"));
            }
            Behaviour::Idle
        }
        (Mode::Echo, Some(family)) => {
            if spec.depth.is_some() {
                problems.push(format!("{key}: trackers report at a rate, not a depth"));
            }
            let heartbeat = match spec.heartbeat.as_ref().map(DurationValue::get) {
                None => DEFAULT_HEARTBEAT,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    problems.push(format!("{key}.heartbeat: {e}"));
                    DEFAULT_HEARTBEAT
                }
            };
            Behaviour::Family(FamilySettings {
                family,
                rate: spec.rate.unwrap_or(DEFAULT_LOCATION_RATE),
                heartbeat,
                id_base: spec.id_base.unwrap_or(family.default_id_base()),
                memory: spec.memory.unwrap_or(true),
            })
        }
        (Mode::Echo, None) => {
            let load = match (spec.rate, spec.depth) {
                (Some(_), Some(_)) => {
                    problems.push(format!("{key}: give rate or depth, not both"));
                    Load::Depth(1)
                }
                (Some(r), None) => Load::Rate(r),
                (None, d) => Load::Depth(d.unwrap_or(1)),
            };
            Behaviour::Echo {
                load,
                payload: spec.payload,
            }
        }
    }
}
