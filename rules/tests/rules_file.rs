//! Loading rules files (every error at once) and evaluating every action.

use rules::{parse_rules, Action, DeviceState, Event, EventKind, RuleError, RuleSet};
use serde_json::{json, Value};
use std::path::Path;

fn load(src: &str) -> RuleSet {
    match parse_rules(src, Path::new("t.toml")) {
        Ok(r) => r,
        Err(e) => panic!("{e:#?}"),
    }
}

fn errors(src: &str) -> Vec<RuleError> {
    parse_rules(src, Path::new("bad.toml")).expect_err("should not load")
}

fn msg(text: &str) -> Event {
    Event::message("c1", "tcp", "text", text.to_owned())
}

#[test]
fn every_error_in_a_file_is_reported_at_once_with_rule_and_key() {
    let src = r#"
        [[rule]]
        name = "a"
        on = ["message", "mesage"]
        when = "speed >"
        colour = "red"
        actions = [{ reply = "${uid" }, { publsh = {} }, { publish = { topic = "x/#", qos = 2 } }]

        [[rule]]
        actions = [{ drop = true }, { reply = "late" }]

        [[rule]]
        name = "a"
        protocol = 5
        actions = []

        [[rule]]
        name = "c"
        actions = [{ set_state = "text ${uid}" }, { publish = { topic = "t", payload = "x ${uid}" } }, { send_to_uid = { uid = "u" } }]

        [extra]
    "#;
    let errs = errors(src);
    let got: Vec<(Option<&str>, &str)> = errs
        .iter()
        .map(|e| (e.rule.as_deref(), e.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (None, "extra"),
            (Some("a"), "colour"),
            (Some("a"), "on"),
            (Some("a"), "when"),
            (Some("a"), "actions[0].reply"),
            (Some("a"), "actions[1].publsh"),
            (Some("a"), "actions[2].publish"),
            (Some("#2"), "actions[1]"),
            (Some("a"), "protocol"),
            (Some("a"), "actions"),
            (Some("c"), "actions[0].set_state"),
            (Some("c"), "actions[1].publish"),
            (Some("c"), "actions[2].send_to_uid"),
        ],
        "{errs:#?}"
    );
    assert!(errs.iter().all(|e| e.file == Path::new("bad.toml")));
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(text[2].contains("unknown variant `mesage`"), "{}", text[2]);
    assert!(text[3].contains("ends early"), "{}", text[3]);
    assert!(text[4].contains("unclosed"), "{}", text[4]);
    assert!(text[5].contains("unknown action `publsh`"), "{}", text[5]);
    assert!(text[6].contains("qos"), "{}", text[6]);
    assert!(text[7].contains("unreachable"), "{}", text[7]);
    assert!(text[12].contains("missing field `data`"), "{}", text[12]);
    assert_eq!(
        text[0],
        "bad.toml: extra: unknown key (a rules file holds `[[rule]]` tables)"
    );
}

#[test]
fn duplicate_names_syntax_errors_and_empty_files_are_reported() {
    let e = errors(
        "[[rule]]\nname='x'\nactions=[{drop=true}]\n[[rule]]\nname='x'\nactions=[{drop=true}]",
    );
    assert_eq!(
        (e[0].rule.as_deref(), e[0].key.as_str()),
        (Some("x"), "name")
    );
    let e = errors("[[rule]\n");
    assert!(e[0].reason.contains("line 1"), "{}", e[0].reason);
    let e = errors("");
    assert!(e[0].reason.contains("no `[[rule]]`"));
    let e = errors("[[rule]]\nactions=[{drop=false}]\n[[rule]]\nactions=[{reply='a', drop=true}]");
    assert_eq!(e.len(), 2);
    assert!(e[1].reason.contains("exactly one key"));
}

#[test]
fn a_missing_rules_file_is_one_error_naming_it() {
    let e = rules::check_rules_file("/nonexistent/rules.toml").unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0]
        .to_string()
        .starts_with("/nonexistent/rules.toml: cannot read"));
}

#[test]
fn rules_filter_on_event_kind_listener_and_protocol() {
    let rs = load(
        r#"
        [[rule]]
        on = ["connect", "close"]
        actions = [{ reply = "${event}" }]
        [[rule]]
        listener = ["tcp", "other"]
        protocol = "text"
        actions = [{ reply = "tcp text" }]
        [[rule]]
        listener = "ws"
        actions = [{ reply = "ws" }]
    "#,
    );
    let st = DeviceState::new();
    let mut ev = msg("x");
    assert_eq!(
        rs.evaluate(&ev, &st, 0),
        vec![Action::Reply {
            data: "tcp text".into()
        }]
    );
    ev.kind = EventKind::Close;
    assert_eq!(
        rs.evaluate(&ev, &st, 0),
        vec![Action::Reply {
            data: "close".into()
        }]
    );
    let mut ev = msg("x");
    ev.listener = "ws".into();
    assert_eq!(
        rs.evaluate(&ev, &st, 0),
        vec![Action::Reply { data: "ws".into() }]
    );
    ev.protocol = "gt06".into();
    ev.listener = "tcp".into();
    assert!(rs.evaluate(&ev, &st, 0).is_empty());
    assert_eq!(rs.names().collect::<Vec<_>>(), ["#1", "#2", "#3"]);
}

#[test]
fn every_action_renders_its_templates() {
    let rs = load(
        r#"
        [[rule]]
        name = "all"
        actions = [
          { reply = "hi ${session.name}" },
          { send_to_uid = { uid = "${fields.to}", data = "from ${client_id}" } },
          { send_to_group = { group = "g-${fields.to}", data = "${text}" } },
          { join_group = "${fields.to}s" },
          { bind_uid = "${fields.me}" },
          { set_state = { n = "${fields.n}", seen = "${now}", gone = "${fields.nothing:-null}" } },
          { publish = { topic = "up/${uid}", qos = 0, retain = true, payload = { n = "${state.n}", raw = "${fields}" } } },
        ]
    "#,
    );
    let mut ev = msg(r#"{"to":"bob","me":"m1","n":4}"#);
    ev.session.insert("name".into(), json!("ann"));
    let got = rs.evaluate(&ev, &DeviceState::new(), 77);
    let raw = json!({"to": "bob", "me": "m1", "n": 4});
    assert_eq!(
        got,
        vec![
            Action::Reply {
                data: "hi ann".into()
            },
            Action::SendToUid {
                uid: "bob".into(),
                data: "from c1".into()
            },
            Action::SendToGroup {
                group: "g-bob".into(),
                data: r#"{"to":"bob","me":"m1","n":4}"#.into()
            },
            Action::JoinGroup {
                group: "bobs".into()
            },
            Action::BindUid { uid: "m1".into() },
            Action::SetState {
                uid: "m1".into(),
                state: json!({"n": 4, "seen": 77, "gone": null})
                    .as_object()
                    .unwrap()
                    .clone()
            },
            Action::Publish {
                topic: "up/m1".into(),
                qos: 0,
                retain: true,
                payload: json!({"n": 4, "raw": raw})
            },
        ]
    );
}

#[test]
fn drop_stops_later_rules_but_finishes_its_own_actions() {
    let rs = load(
        r#"
        [[rule]]
        when = "text == 'stop'"
        actions = [{ reply = "a" }, { drop = true }]
        [[rule]]
        actions = [{ reply = "b" }]
    "#,
    );
    let st = DeviceState::new();
    assert_eq!(
        rs.evaluate(&msg("stop"), &st, 0),
        vec![Action::Reply { data: "a".into() }]
    );
    assert_eq!(
        rs.evaluate(&msg("go"), &st, 0),
        vec![Action::Reply { data: "b".into() }]
    );
}

#[test]
fn later_rules_see_earlier_state_updates_and_a_new_uid_starts_with_empty_state() {
    let rs = load(
        r#"
        [[rule]]
        name = "count"
        actions = [{ set_state = { n = "${fields.n}" } }]
        [[rule]]
        name = "seen"
        when = "state.n == 2 and state.old == 1"
        actions = [{ reply = "updated" }]
        [[rule]]
        name = "rebind"
        when = "fields.other != null"
        actions = [{ bind_uid = "${fields.other}" }, { reply = "${state.n:-empty}" }]
    "#,
    );
    let mut ev = msg(r#"{"n":2,"other":"u2"}"#);
    ev.uid = Some("u1".into());
    let mut st = DeviceState::new();
    st.0.insert("old".into(), json!(1));
    let got = rs.evaluate(&ev, &st, 0);
    assert_eq!(
        got[1],
        Action::Reply {
            data: "updated".into()
        }
    );
    assert_eq!(
        got[3],
        Action::Reply {
            data: "empty".into()
        }
    );
}

#[test]
fn an_action_that_cannot_be_built_is_skipped_with_its_reason_and_the_rest_run() {
    let rs = load(
        r#"
        [[rule]]
        name = "r"
        actions = [
          { reply = "${fields.missing}" },
          { set_state = { a = 1 } },
          { publish = { topic = "d/${fields.t}" } },
          { send_to_uid = { uid = "${fields.empty}", data = "x" } },
          { reply = "done" },
        ]
    "#,
    );
    let got = rs.evaluate(&msg(r#"{"t":"a/b","empty":""}"#), &DeviceState::new(), 0);
    let reasons: Vec<(usize, String)> = got
        .iter()
        .filter_map(|a| match a {
            Action::Skipped {
                rule,
                action,
                reason,
            } => {
                assert_eq!(rule, "r");
                Some((*action, reason.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{got:#?}");
    assert!(reasons[0].1.contains("fields.missing` is missing"));
    assert!(reasons[1].1.contains("no uid"));
    assert!(reasons[2].1.contains("cannot hold `/`"));
    assert!(reasons[3].1.contains("uid renders empty"));
    assert_eq!(
        got.last(),
        Some(&Action::Reply {
            data: "done".into()
        })
    );
}

#[test]
fn evaluation_is_deterministic_for_the_same_inputs() {
    let rs = load("[[rule]]\nactions = [{ publish = { topic = 't' } }]");
    let ev = msg("hello");
    let a = rs.evaluate(&ev, &DeviceState::new(), 123);
    assert_eq!(a, rs.evaluate(&ev, &DeviceState::new(), 123));
    let Action::Publish { payload, .. } = &a[0] else {
        panic!()
    };
    let want: Value = json!({
        "text": "hello", "uid": null, "client_id": "c1", "listener": "tcp", "protocol": "text",
        "event": "message", "received": 123, "time": 123
    });
    assert_eq!(payload, &want);
}

#[test]
fn binary_messages_publish_as_hex_and_decoded_fields_win_over_json_text() {
    let rs = load("[[rule]]\nactions = [{ publish = { topic = 't' } }]");
    let mut ev = Event::message("c", "l", "gt06", vec![0x78u8, 0xff]);
    let a = rs.evaluate(&ev, &DeviceState::new(), 1);
    let Action::Publish { payload, .. } = &a[0] else {
        panic!()
    };
    assert_eq!(payload["data_hex"], "78ff");
    ev.fields = Some(json!({"kind": "location", "time": "T"}));
    let a = rs.evaluate(&ev, &DeviceState::new(), 1);
    let Action::Publish { payload, .. } = &a[0] else {
        panic!()
    };
    assert_eq!(
        (payload["kind"].as_str(), payload["time"].as_str()),
        (Some("location"), Some("T"))
    );
    assert!(payload.get("data_hex").is_none());
}

#[test]
fn rules_of_interleaved_kinds_and_protocols_run_in_file_order() {
    let rs = load(
        r#"
        [[rule]]
        name = "any-1"
        on = ["message", "close"]
        actions = [{ reply = "any-1 ${event}" }]
        [[rule]]
        name = "gt06-1"
        protocol = "gt06"
        actions = [{ reply = "gt06-1" }]
        [[rule]]
        name = "text-1"
        protocol = ["text", "gt06"]
        on = ["close", "message"]
        actions = [{ reply = "text-1 ${event}" }]
        [[rule]]
        name = "connect-1"
        on = ["connect"]
        actions = [{ reply = "connect-1" }]
        [[rule]]
        name = "ws-listener"
        listener = "ws"
        protocol = "text"
        actions = [{ reply = "ws-listener" }]
        [[rule]]
        name = "any-2"
        actions = [{ reply = "any-2" }]
        [[rule]]
        name = "text-2"
        protocol = "text"
        on = ["message", "connect"]
        when = "text != 'stop'"
        actions = [{ reply = "text-2" }]
    "#,
    );
    let st = DeviceState::new();
    let replies = |ev: &Event| -> Vec<String> {
        rs.evaluate(ev, &st, 0)
            .into_iter()
            .map(|a| match a {
                Action::Reply { data } => data,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    let mut ev = msg("x");
    assert_eq!(
        replies(&ev),
        ["any-1 message", "text-1 message", "any-2", "text-2"]
    );
    ev.listener = "ws".into();
    assert_eq!(
        replies(&ev),
        [
            "any-1 message",
            "text-1 message",
            "ws-listener",
            "any-2",
            "text-2"
        ]
    );
    ev.kind = EventKind::Close;
    assert_eq!(replies(&ev), ["any-1 close", "text-1 close"]);
    ev.kind = EventKind::Connect;
    assert_eq!(replies(&ev), ["connect-1", "text-2"]);
    ev.protocol = "gt06".into();
    assert_eq!(replies(&ev), ["connect-1"]);
    ev.kind = EventKind::Message;
    assert_eq!(
        replies(&ev),
        ["any-1 message", "gt06-1", "text-1 message", "any-2"]
    );
    // A protocol no rule names gets the rules without a protocol filter only.
    ev.protocol = "jt808".into();
    assert_eq!(replies(&ev), ["any-1 message", "any-2"]);
    ev.protocol = "text".into();
    ev.data = "stop".into();
    assert_eq!(
        replies(&ev),
        ["any-1 message", "text-1 message", "ws-listener", "any-2"]
    );
}

#[test]
fn rules_that_need_fields_run_in_order_for_events_with_fields_only() {
    let rs = load(
        r#"
        [[rule]]
        name = "uid"
        when = "fields.uid != null"
        actions = [{ reply = "uid ${fields.uid}" }]
        [[rule]]
        name = "all"
        actions = [{ reply = "all" }]
        [[rule]]
        name = "hot"
        when = "temp > 50 or (fix and uid == null)"
        actions = [{ reply = "hot" }]
        [[rule]]
        name = "no-fix"
        when = "not fix"
        actions = [{ reply = "no-fix" }]
    "#,
    );
    let st = DeviceState::new();
    let replies = |ev: &Event| -> Vec<String> {
        rs.evaluate(ev, &st, 0)
            .into_iter()
            .map(|a| match a {
                Action::Reply { data } => data,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    assert_eq!(replies(&msg("hello")), ["all", "no-fix"]);
    assert_eq!(
        replies(&msg(r#" {"uid":"d1","temp":60}"#)),
        ["uid d1", "all", "hot", "no-fix"]
    );
    let mut ev = msg("binary");
    ev.fields = Some(json!({"fix": true}));
    assert_eq!(replies(&ev), ["all", "hot"]);
}
