//! Every vector (frames from Traccar's H02 tests) decodes to its fields and gets its reply;
//! where Traccar asserts a position, ours agrees with it. The fields read back as the typed
//! message, and the codec's JSON of it equals serde's.

mod common;

use codecs::Inbound;
use common::{decode, line, replies, vectors};
use family_h02::H02Message;
use family_kit::{assert_typed, close, compare_each, identities, messages, Event};
use serde_json::Value;

#[test]
fn every_vector_decodes_to_its_fields_and_gets_its_reply() {
    let all = vectors();
    assert!(all.len() >= 15, "{} vectors", all.len());
    for v in all {
        let at = format!("line {}", v["source_line"]);
        let events = decode(&line(&v));
        assert!(
            events.iter().all(|e| matches!(e, Event::Item(_))),
            "{at}: {events:?}"
        );
        let fields = messages(&events);
        assert_eq!(fields.len(), 1, "{at}: one message per line: {events:?}");
        let got = &fields[0];
        assert_eq!(got["protocol"], "h02", "{at}");
        compare_each(&at, "field", &v["fields"], |key, want| {
            match want {
                Value::Number(_) => close(&format!("{at}: {key}"), &got[key], want, 1e-6),
                // `details` lists only the keys worth checking.
                Value::Object(_) => compare_each(&at, key, want, |inner, want| {
                    assert_eq!(&got[key][inner], want, "{at}: {key}.{inner}");
                    true
                }),
                _ => assert_eq!(&got[key], want, "{at}: {key}"),
            }
            true
        });
        assert_typed::<H02Message>(&at, got, H02Message::into_fields);
        // Identity first, on a line that names the device.
        if let Some(id) = got.get("device_id").and_then(Value::as_str) {
            assert!(
                matches!(&events[0], Event::Item(Inbound::Identity(i)) if i == id),
                "{at}: {events:?}"
            );
        } else {
            assert!(identities(&events).is_empty(), "{at}");
        }
        let want: Vec<String> = v["reply"].as_str().map(String::from).into_iter().collect();
        assert_eq!(replies(&events), want, "{at}");
        if got["kind"] == "other" && got["msg_type"] != "NBR" {
            let text = v["text"].as_str().map(str::trim_end);
            assert_eq!(got["raw"].as_str(), text, "{at}: kept whole");
        }
    }
}

#[test]
fn positions_traccar_asserts_are_ours_too() {
    let mut checked = 0;
    for v in vectors() {
        let Some(p) = v["expect"].get("position") else {
            continue;
        };
        let got = &messages(&decode(&line(&v)))[0];
        let at = format!("line {}", v["source_line"]);
        close(
            &format!("{at}: latitude"),
            &got["latitude"],
            &p["lat"],
            1e-5,
        );
        close(
            &format!("{at}: longitude"),
            &got["longitude"],
            &p["lon"],
            1e-5,
        );
        assert_eq!(got["fix"], p["valid"], "{at}");
        let time = p["fix_time_utc"]
            .as_str()
            .map(|t| t.replace(' ', "T") + "Z");
        assert_eq!(got["time"].as_str(), time.as_deref(), "{at}");
        checked += 1;
    }
    assert_eq!(checked, 3);
}
