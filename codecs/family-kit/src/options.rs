//! The listener settings every family shares (`bad_checksum`, `timezone_offset_hours`) and
//! the registry's refusal of bad ones, checked the same way for every family.

use codecs::options::{BadFramePolicy, OptionsError};
use codecs::{CodecOptions, CodecRegistry};

/// `CodecOptions` with `extra` holding just `key = value`.
pub fn options_with(key: &str, value: &str) -> CodecOptions {
    let mut options = crate::options();
    options.extra.insert(key.into(), value.into());
    options
}

/// Asserts a family's settings reader `parse` takes the shared keys through
/// `codecs::options`: `bad_checksum` in any case (read back with `policy`), and, for a family
/// with a calendar clock, fractional `timezone_offset_hours` as minutes (read back with
/// `timezone`); bad values of either are refused with the key named.
pub fn assert_reads_shared_options<T>(
    parse: impl Fn(&CodecOptions) -> Result<T, OptionsError>,
    policy: impl Fn(&T) -> BadFramePolicy,
    timezone: Option<fn(&T) -> i32>,
) {
    let parsed = parse(&options_with("bad_checksum", "Close")).expect("close is a policy");
    assert_eq!(policy(&parsed), BadFramePolicy::Close);
    let refused = |key: &str, value: &str| match parse(&options_with(key, value)) {
        Ok(_) => panic!("{key} = {value} was accepted"),
        Err(err) => assert_eq!(err.key, key),
    };
    refused("bad_checksum", "ignore");
    if let Some(timezone) = timezone {
        let parsed = parse(&options_with("timezone_offset_hours", "-3.5")).expect("hours");
        assert_eq!(timezone(&parsed), -210);
        refused("timezone_offset_hours", "25");
    }
}

/// Asserts a registry holding the family that `register` adds refuses, as a config check
/// would, a bad `bad_checksum`, a misspelt key and (for a family with a calendar clock,
/// `clock`) an offset of 99 hours, each with a message naming codec, key and reason.
pub fn assert_registry_refuses_bad_options(
    register: fn(&mut CodecRegistry),
    name: &str,
    clock: bool,
) {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    let refusal = |key: &str, value: &str| match registry.prepare(name, &options_with(key, value)) {
        Ok(_) => panic!("{name}: {key} = {value} was accepted"),
        Err(err) => err.to_string(),
    };
    assert_eq!(
        refusal("bad_checksum", "closee"),
        format!("{name} option `bad_checksum`: expected `skip` or `close`, got `closee`")
    );
    let misspelt = refusal("bad_checksums", "close");
    assert!(
        misspelt.starts_with(&format!(
            "{name} option `bad_checksums`: no such option; it reads `bad_checksum`"
        )),
        "{misspelt}"
    );
    if clock {
        assert_eq!(
            refusal("timezone_offset_hours", "99"),
            format!(
                "{name} option `timezone_offset_hours`: expected hours between -14 and 14, got `99`"
            )
        );
    }
    let good = registry.prepare(name, &options_with("bad_checksum", "close"));
    assert_eq!(good.expect("close is a policy").build().name(), name);
}
