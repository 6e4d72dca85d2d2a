//! The rule pipeline: events in as plain data, actions out; it owns the device-state store and
//! the MQTT bridge. It knows neither gateways nor codecs. (Filled by the rule-pipeline issue.)
