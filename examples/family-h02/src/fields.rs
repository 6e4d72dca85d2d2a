//! H02's `details` as JSON for the shared message's `into_fields`; tests/fields.rs holds the
//! message's value equal to `serde_json::to_value` of it.

use crate::message::H02Details;
use codecs::family::Details;
use codecs::put_field as put;
use serde_json::{Map, Value};

impl Details for H02Details {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "maker", self.maker);
        put(&mut map, "status", self.status);
        put(&mut map, "acc", self.acc);
        put(&mut map, "battery", self.battery);
        put(&mut map, "mcc", self.mcc);
        put(&mut map, "mnc", self.mnc);
        put(
            &mut map,
            "cells",
            self.cells.and_then(|c| serde_json::to_value(c).ok()),
        );
        put(&mut map, "extra", self.extra);
        put(&mut map, "decode_error", self.decode_error);
        Value::Object(map)
    }
}
