//! The shared parts of a family message's `fields` value, built directly: the same keys and
//! values serde gives (see the family crates' `fields.rs` for why they skip serde).

use super::{Alarm, Position};
use crate::put_field as put;
use serde_json::{Map, Value};

/// Adds the keys of `position` to the top level of `map`, as `#[serde(flatten)]` does;
/// nothing when there is no fix.
pub fn put_position(map: &mut Map<String, Value>, position: Option<Position>) {
    let Some(p) = position else {
        return;
    };
    // Keys go in from last to first: each insert then stops at the first key it compares.
    put(map, "timestamp", p.timestamp);
    put(map, "time", p.time);
    put(map, "speed", Some(p.speed));
    put(map, "satellites", p.satellites);
    put(map, "longitude", Some(p.longitude));
    put(map, "latitude", Some(p.latitude));
    put(map, "fix", Some(p.fix));
    put(map, "course", Some(p.course));
    put(map, "altitude", p.altitude);
}

/// Adds `alarm` to `map` as `{"code": …, "name": …}`; nothing when there is none.
pub fn put_alarm(map: &mut Map<String, Value>, alarm: Option<Alarm>) {
    let Some(alarm) = alarm else {
        return;
    };
    let mut object = Map::new();
    put(&mut object, "name", Some(alarm.name));
    put(&mut object, "code", Some(alarm.code));
    map.insert("alarm".to_string(), Value::Object(object));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(position: Option<Position>, alarm: Option<Alarm>) -> Value {
        let mut map = Map::new();
        put_position(&mut map, position);
        put_alarm(&mut map, alarm);
        Value::Object(map)
    }

    #[test]
    fn a_full_position_and_an_alarm_equal_their_serde_values() {
        let position = Position {
            time: Some("2013-07-17T06:34:09.140Z".into()),
            timestamp: Some(1_374_042_849),
            latitude: -33.875,
            longitude: 151.25,
            speed: 0.5,
            course: 359,
            satellites: Some(0),
            fix: false,
            altitude: Some(8_848),
        };
        let alarm = Alarm {
            name: "lowBattery,tampering".into(),
            code: 0x0008_0080,
        };
        let mut want = serde_json::to_value(&position).unwrap();
        want["alarm"] = serde_json::to_value(&alarm).unwrap();
        assert_eq!(built(Some(position), Some(alarm)), want);
    }

    #[test]
    fn absent_options_and_an_absent_fix_add_no_keys() {
        let bare = Position::default();
        assert_eq!(
            built(Some(bare.clone()), None),
            serde_json::to_value(&bare).unwrap()
        );
        assert_eq!(built(None, None), Value::Object(Map::new()));
    }
}
