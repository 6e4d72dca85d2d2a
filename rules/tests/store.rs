//! The state store: both implementations behave alike, and sled keeps state across reopen.

use rules::store::{load_state, Pairs};
use rules::{parse_rules, Batch, Event, MemoryStore, Pipeline, SledStore, StateStore};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn keys(p: Pairs) -> Vec<String> {
    p.into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect()
}

fn exercise(store: &dyn StateStore) {
    store.put(b"a/1", b"x").unwrap();
    let mut b = Batch::new();
    b.put(b"a/2".to_vec(), b"y".to_vec());
    b.put(b"a/3".to_vec(), b"z".to_vec());
    b.put(b"b/1".to_vec(), b"w".to_vec());
    b.remove(b"a/1".to_vec());
    store.batch(b).unwrap();
    store.flush().unwrap();
    assert_eq!(store.get(b"a/1").unwrap(), None);
    assert_eq!(store.get(b"a/2").unwrap(), Some(b"y".to_vec()));
    assert_eq!(
        keys(store.scan_prefix(b"a/", None, 10).unwrap()),
        ["a/2", "a/3"]
    );
    assert_eq!(
        keys(store.scan_prefix(b"a/", Some(b"a/2"), 10).unwrap()),
        ["a/3"]
    );
    assert_eq!(keys(store.scan_prefix(b"a/", None, 1).unwrap()), ["a/2"]);
    assert!(store.scan_prefix(b"c/", None, 10).unwrap().is_empty());
    assert_eq!(
        keys(store.scan_prefix(b"", None, 10).unwrap()),
        ["a/2", "a/3", "b/1"]
    );
}

#[test]
fn memory_and_sled_stores_get_put_batch_and_scan_alike() {
    exercise(&MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    exercise(&SledStore::open(dir.path()).unwrap());
}

#[test]
fn device_state_set_by_rules_survives_reopening_the_sled_store() {
    let dir = tempfile::tempdir().unwrap();
    let rules = parse_rules(
        "[[rule]]\nactions = [{ set_state = { speed = \"${fields.speed}\", gone = \"${fields.gone:-null}\" } }]",
        Path::new("r.toml"),
    )
    .unwrap();
    {
        let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
        store
            .put(b"state/dev1", br#"{"gone":1,"keep":true}"#)
            .unwrap();
        let p = Pipeline::new(rules, store, None);
        let mut ev = Event::message("c", "l", "gt06", "");
        ev.uid = Some("dev1".into());
        ev.fields = Some(json!({"speed": 88}));
        p.handle(&ev, 1).unwrap();
        assert_eq!(p.stats().state_updates, 1);
    }
    let store = SledStore::open(dir.path()).unwrap();
    let st = load_state(&store, "dev1").unwrap();
    assert_eq!(
        serde_json::to_value(&st).unwrap(),
        json!({"speed": 88, "keep": true})
    );
}

#[test]
fn a_corrupt_state_record_is_an_error_not_a_panic() {
    let store = MemoryStore::new();
    store.put(b"state/x", b"{not json").unwrap();
    let err = load_state(&store, "x").unwrap_err();
    assert!(
        err.to_string().contains("corrupt record under state/x"),
        "{err}"
    );
}

#[test]
fn a_data_directory_held_open_is_reported_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _held = SledStore::open(dir.path()).unwrap();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is in use"), "{err}");
}
