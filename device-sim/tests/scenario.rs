//! Scenario files: every problem is reported at once, naming the key; good files become plans.

use device_sim::dialects::Dialects;
use device_sim::plan::{Behaviour, Load, Plan, Proto};
use device_sim::scenario::Problem;
use std::time::Duration;

/// A scenario's text, read with the stock families.
fn parse(text: &str, target: Option<&str>) -> Result<Plan, Problem> {
    device_sim::scenario::parse(text, target, &Dialects::stock())
}

#[test]
fn a_scenario_becomes_one_group_per_table_with_the_top_level_defaults() {
    let plan = parse(
        r#"
        target = "127.0.0.1:9000"
        duration = 3
        grace = "250ms"
        [[group]]
        name = "a"
        devices = 10
        rate = 2.5
        [[group]]
        proto = "frame"
        target = "127.0.0.1:9001"
        devices = 4
        depth = 8
        payload = 100
        [[group]]
        mode = "idle"
        devices = 7
        "#,
        None,
    )
    .unwrap();
    assert_eq!(plan.timing.duration, Duration::from_secs(3));
    assert_eq!(plan.timing.grace, Duration::from_millis(250));
    let g = &plan.groups;
    assert_eq!(
        (g[0].name.as_str(), g[0].target.port(), g[0].proto),
        ("a", 9000, Proto::Text)
    );
    assert_eq!(
        g[0].behaviour,
        Behaviour::Echo {
            load: Load::Rate(2.5),
            payload: 64
        }
    );
    assert_eq!((g[1].name.as_str(), g[1].target.port()), ("group[1]", 9001));
    assert_eq!(
        g[1].behaviour,
        Behaviour::Echo {
            load: Load::Depth(8),
            payload: 100
        }
    );
    assert_eq!(g[2].behaviour, Behaviour::Idle);
}

#[test]
fn the_command_line_target_overrides_the_files_default_only() {
    let plan = parse(
        r#"
        target = "127.0.0.1:9000"
        [[group]]
        devices = 1
        [[group]]
        target = "127.0.0.1:9001"
        devices = 1
        "#,
        Some("127.0.0.1:7000"),
    )
    .unwrap();
    assert_eq!(plan.groups[0].target.port(), 7000);
    assert_eq!(plan.groups[1].target.port(), 9001);
}

#[test]
fn every_problem_is_listed_with_its_key() {
    let err = parse(
        r#"
        duration = "soon"
        [[group]]
        devices = 3
        rate = 1
        depth = 2
        [[group]]
        target = "127.0.0.1:9000"
        devices = 2
        payload = 10
        insecure = true
        "#,
        None,
    )
    .unwrap_err();
    let Problem::Invalid(problems) = err else {
        panic!("expected invalid settings, got {err:?}");
    };
    let all = problems.join("\n");
    for expected in [
        "duration:",
        "group[0].target: missing",
        "group[0]: give rate or depth, not both",
        "group[1]: insecure, ca and server_name need tls = true",
        "group `group[1]`: payload of 10 bytes is too small",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let err = parse("[[group]]\ndevices = 1\nspeed = 3\n", Some("127.0.0.1:1")).unwrap_err();
    assert!(
        matches!(&err, Problem::Parse(m) if m.contains("speed")),
        "{err:?}"
    );
}
