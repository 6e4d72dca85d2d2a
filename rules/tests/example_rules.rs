//! The example rules file passes its own tests, and the test runner reports failures.

use rules::{default_tests_path, run_rule_tests};
use std::path::PathBuf;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn the_example_rules_pass_their_tests() {
    let rules = examples().join("rules.toml");
    let tests = default_tests_path(&rules);
    assert_eq!(tests, examples().join("rules.test.toml"));
    let report = run_rule_tests(&rules, &tests);
    assert!(report.success(), "{report}");
    // Every case of the file ran (counted from the file, so adding a case needs no edit here).
    let cases = std::fs::read_to_string(&tests)
        .expect("the example tests")
        .lines()
        .filter(|l| l.trim() == "[[test]]")
        .count();
    assert!(cases > 0, "no cases in {}", tests.display());
    assert_eq!(report.passed.len(), cases, "{report}");
}

#[test]
fn a_wrong_expectation_fails_with_both_action_lists() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("t.test.toml");
    std::fs::write(
        &tests,
        r#"
        [[test]]
        name = "wrong"
        expect = [{ reply = { data = "PONG" } }]
        [test.event]
        protocol = "text"
        text = "ping"

        [[test]]
        name = "right"
        expect = [{ reply = { data = "pong" } }]
        [test.event]
        protocol = "text"
        text = "ping"
        "#,
    )
    .unwrap();
    let report = run_rule_tests(examples().join("rules.toml"), &tests);
    assert!(!report.success());
    assert_eq!(report.passed, ["right"]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].name, "wrong");
    let text = report.to_string();
    assert!(text.contains("FAILED  wrong"), "{text}");
    assert!(text.contains("\"PONG\""), "{text}");
    assert!(text.ends_with("1 passed, 1 failed, 0 errors"), "{text}");
}

#[test]
fn bad_test_cases_and_bad_rules_are_errors_not_passes() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("t.test.toml");
    std::fs::write(
        &tests,
        r#"
        [[test]]
        name = "typo"
        expcet = []
        [test.event]
        text = "x"

        [[test]]
        name = "both"
        expect = []
        [test.event]
        text = "x"
        hex = "00"
        "#,
    )
    .unwrap();
    let report = run_rule_tests(examples().join("rules.toml"), &tests);
    assert_eq!(report.errors.len(), 2, "{report}");
    assert_eq!(report.errors[0].key, "test[0]");
    assert_eq!(report.errors[1].key, "test[1].event");
    assert!(!report.success());

    let bad_rules = dir.path().join("bad.toml");
    std::fs::write(
        &bad_rules,
        "[[rule]]\nwhen = 'a =='\nactions = [{ reply = 'x' }]",
    )
    .unwrap();
    let report = run_rule_tests(&bad_rules, examples().join("rules.test.toml"));
    assert!(report.passed.is_empty() && report.failures.is_empty());
    assert_eq!(report.errors.len(), 1, "{report}");
    assert_eq!(report.errors[0].file, bad_rules);
}

#[test]
fn a_test_event_can_be_redelivered_and_rules_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.toml");
    std::fs::write(
        &rules,
        r#"
        [[rule]]
        name = "seen"
        when = "uid != null"
        actions = [{ set_state = { last_seen = "${now}", again = "${redelivered}" } }]

        [[rule]]
        name = "alert-once"
        when = "kind == 'alarm' and not redelivered"
        actions = [{ publish = { topic = "alerts/${uid}", payload = { uid = "${uid}" } } }]
        "#,
    )
    .unwrap();
    let tests = default_tests_path(&rules);
    std::fs::write(
        &tests,
        r#"
        [[test]]
        name = "first delivery publishes"
        now = 7
        expect = [
          { set_state = { uid = "d1", state = { last_seen = 7, again = false } } },
          { publish = { topic = "alerts/d1", qos = 1, retain = false, payload = { uid = "d1" } } },
        ]
        [test.event]
        uid = "d1"
        fields = { kind = "alarm" }

        [[test]]
        name = "redelivery does not publish again"
        now = 8
        expect = [{ set_state = { uid = "d1", state = { last_seen = 8, again = true } } }]
        [test.event]
        uid = "d1"
        fields = { kind = "alarm" }
        redelivered = true
        "#,
    )
    .unwrap();
    let report = run_rule_tests(&rules, &tests);
    assert!(report.success(), "{report}");
    assert_eq!(report.passed.len(), 2, "{report}");
}
