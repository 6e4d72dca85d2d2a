//! Every vector (frames from Traccar's H02 tests) decodes to its fields and gets its reply;
//! where Traccar asserts a position, ours agrees with it.

mod common;

use codecs::Inbound;
use common::{assert_contains, decode, messages, replies, vectors};

#[test]
fn every_vector_decodes_to_its_fields_and_gets_its_reply() {
    let all = vectors();
    assert!(all.len() >= 15, "{} vectors", all.len());
    for v in all {
        let at = format!("line {}", v.line);
        let events = decode(v.text.as_bytes());
        let fields = messages(&events);
        assert_eq!(fields.len(), 1, "{at}: one message per line: {events:?}");
        let got = &fields[0];
        assert_eq!(got["protocol"], "h02", "{at}");
        assert_contains(got, &v.json["fields"], &at);
        // Identity first, on a line that names the device.
        if let Some(id) = got.get("device_id").and_then(|d| d.as_str()) {
            assert!(
                matches!(&events[0], Inbound::Identity(i) if i == id),
                "{at}: {events:?}"
            );
        }
        let want: Vec<String> = v.json["reply"]
            .as_str()
            .map(String::from)
            .into_iter()
            .collect();
        assert_eq!(replies(&events), want, "{at}");
        if got["kind"] == "other" && got["msg_type"] != "NBR" {
            assert_eq!(
                got["raw"].as_str(),
                Some(v.text.trim_end()),
                "{at}: kept whole"
            );
        }
    }
}

#[test]
fn positions_traccar_asserts_are_ours_too() {
    let mut checked = 0;
    for v in vectors() {
        let Some(p) = v.json["expect"].get("position") else {
            continue;
        };
        let got = &messages(&decode(v.text.as_bytes()))[0];
        let at = format!("line {}", v.line);
        let close = |key: &str, want: &str| {
            let (g, w) = (got[key].as_f64().unwrap(), p[want].as_f64().unwrap());
            assert!((g - w).abs() < 1e-5, "{at}: {key} {g} vs {w}");
        };
        close("latitude", "lat");
        close("longitude", "lon");
        assert_eq!(got["fix"], p["valid"], "{at}");
        let time = p["fix_time_utc"].as_str().unwrap().replace(' ', "T") + "Z";
        assert_eq!(got["time"].as_str(), Some(time.as_str()), "{at}");
        checked += 1;
    }
    assert_eq!(checked, 3);
}
