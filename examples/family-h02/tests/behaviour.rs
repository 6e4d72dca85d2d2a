//! Identity once, options read and refused by the registry, answers on the fixed clock, commands
//! framed for the device.

mod common;

use bytes::{Bytes, BytesMut};
use codecs::family::Clock;
use codecs::{CodecError, CodecOptions, CodecRegistry, Outbound};
use common::{codec, decode, replies};
use family_kit::{feed, identities, messages, options_with};
use tokio_util::codec::Encoder;

const HEARTBEAT: &[u8] = b"*HQ,123456789012345,HTBT,100#";
const V1: &[u8] =
    b"*HQ,123456789012345,V1,213324,A,5002.5849,N,01433.7822,E,0.00,000,140613,FFFFFFFF#";

#[test]
fn the_device_is_named_once_first_and_each_line_gets_its_answer() {
    let events = decode(&[HEARTBEAT, V1, HEARTBEAT].concat());
    assert_eq!(identities(&events), ["123456789012345"]);
    assert!(matches!(
        &events[0],
        family_kit::Event::Item(codecs::Inbound::Identity(_))
    ));
    assert_eq!(
        replies(&events),
        [
            "*HQ,123456789012345,HTBT#",
            "*HQ,123456789012345,V4,V1,20250101000000#",
            "*HQ,123456789012345,HTBT#",
        ]
    );
}

#[test]
fn location_answers_can_be_turned_off_and_device_clocks_moved() {
    let mut opts = options_with("answer_locations", "false");
    opts.extra
        .insert("timezone_offset_hours".into(), "8".into());
    let events = feed(&mut family_h02::codec(&opts), &[V1]);
    assert!(replies(&events).is_empty());
    // 21:33:24 at GMT+8 is 13:33:24 UTC.
    assert_eq!(messages(&events)[0]["time"], "2013-06-14T13:33:24Z");
}

#[test]
fn answers_carry_the_time_of_the_clock_the_options_bring() {
    let options = CodecOptions {
        clock: Clock::Fixed(1_800_000_000_000),
        ..family_kit::options()
    };
    let events = feed(&mut family_h02::codec(&options), &[V1]);
    assert_eq!(
        replies(&events),
        ["*HQ,123456789012345,V4,V1,20270115080000#"]
    );
}

#[test]
fn the_registry_refuses_bad_values_and_keys_h02_does_not_read() {
    let mut registry = CodecRegistry::with_stock();
    family_h02::register(&mut registry);
    assert!(registry
        .prepare(family_h02::NAME, &CodecOptions::default())
        .is_ok());
    for (key, value) in [
        ("answer_locations", "yes"),
        ("timezone_offset_hours", "99"),
        ("bad_checksum", "skip"),
    ] {
        let err = registry
            .prepare(family_h02::NAME, &options_with(key, value))
            .err()
            .unwrap_or_else(|| panic!("{key} = {value} accepted"));
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn commands_are_framed_for_the_device_once_it_is_named() {
    let mut c = codec();
    let mut out = BytesMut::new();
    let command = || Outbound::Data(Bytes::from_static(b"S20,010203,1,1"));
    let early = c.encode(command(), &mut out);
    assert!(matches!(early, Err(CodecError::Encode(_))), "{early:?}");
    assert!(out.is_empty());
    feed(&mut c, &[HEARTBEAT]);
    c.encode(command(), &mut out).unwrap();
    // Traccar's H02ProtocolEncoderTest (engine stop, line 54) expects this line.
    assert_eq!(&out[..], b"*HQ,123456789012345,S20,010203,1,1#");
    out.clear();
    c.encode(
        Outbound::Data(Bytes::from_static(b"S71,010203,22,10#")),
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..], b"*HQ,123456789012345,S71,010203,22,10#");
    out.clear();
    let inner = c.encode(Outbound::Data(Bytes::from_static(b"S20#,1")), &mut out);
    assert!(matches!(inner, Err(CodecError::Encode(_))) && out.is_empty());
}
