//! The pipeline applies state and publishes itself and returns only the gateway's actions.

use rules::{parse_rules, Action, Event, MemoryStore, MqttConfig, Outbox, Pipeline, StateStore};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn pipeline(src: &str, outbox: bool) -> (Pipeline, Option<Outbox>) {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let ob = outbox.then(|| Outbox::open(store.clone(), &MqttConfig::new("127.0.0.1:1")).unwrap());
    (
        Pipeline::new(
            parse_rules(src, Path::new("p.toml")).unwrap(),
            store,
            ob.clone(),
        ),
        ob,
    )
}

#[test]
fn state_and_publish_are_applied_and_only_gateway_actions_come_back() {
    let (p, ob) = pipeline(
        r#"
        [[rule]]
        actions = [
          { set_state = { a = "${fields.a}" } },
          { reply = "ok" },
          { publish = { topic = "t/${uid}" } },
          { set_state = { b = 2 } },
        ]
    "#,
        true,
    );
    let mut ev = Event::message("c", "l", "text", r#"{"a":1}"#);
    ev.uid = Some("d".into());
    assert_eq!(
        p.handle(&ev, 5).unwrap(),
        vec![Action::Reply { data: "ok".into() }]
    );
    assert_eq!(
        serde_json::to_value(p.state("d").unwrap()).unwrap(),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(ob.unwrap().len(), 1);
    let s = p.stats();
    assert_eq!(
        (s.events, s.actions, s.state_updates, s.published),
        (1, 1, 2, 1)
    );
}

#[test]
fn a_state_update_after_bind_uid_merges_into_that_uids_stored_state() {
    let (p, _) = pipeline(
        r#"
        [[rule]]
        actions = [{ bind_uid = "${fields.uid}" }, { set_state = { t = "${fields.t}" } }]
    "#,
        false,
    );
    let mut first = Event::message("c", "l", "text", r#"{"uid":"s1","t":1}"#);
    p.handle(&first, 0).unwrap();
    first.data = r#"{"uid":"s1","t":2}"#.into();
    first.uid = Some("other".into());
    let got = p.handle(&first, 0).unwrap();
    assert_eq!(got, vec![Action::BindUid { uid: "s1".into() }]);
    assert_eq!(
        serde_json::to_value(p.state("s1").unwrap()).unwrap(),
        json!({"t": 2})
    );
    assert!(p.state("other").unwrap().0.is_empty());
}

#[test]
fn publishes_without_a_bridge_are_counted_not_errors() {
    let (p, _) = pipeline(
        "[[rule]]\nactions = [{ publish = { topic = 't' } }, { reply = 'x' }]",
        false,
    );
    let ev = Event::message("c", "l", "text", "hi");
    assert_eq!(
        p.handle(&ev, 0).unwrap(),
        vec![Action::Reply { data: "x".into() }]
    );
    p.handle(&ev, 0).unwrap();
    assert_eq!(p.stats().publish_without_bridge, 2);
}

#[test]
fn replaced_rules_apply_to_the_next_event() {
    let (p, _) = pipeline("[[rule]]\nactions = [{ reply = 'old' }]", false);
    let ev = Event::message("c", "l", "text", "hi");
    p.replace_rules(
        parse_rules("[[rule]]\nactions = [{ reply = 'new' }]", Path::new("n")).unwrap(),
    );
    assert_eq!(
        p.handle(&ev, 0).unwrap(),
        vec![Action::Reply { data: "new".into() }]
    );
}

#[test]
fn concurrent_events_of_one_uid_lose_no_update() {
    let (p, _) = pipeline("[[rule]]\nactions = [{ set_state = \"${fields}\" }]", false);
    let p = Arc::new(p);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let mut ev =
                        Event::message("c", "l", "text", format!("{{\"k{}\":1}}", t * 50 + i));
                    ev.uid = Some("same".into());
                    p.handle(&ev, 0).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(p.state("same").unwrap().0.len(), 200);
}
