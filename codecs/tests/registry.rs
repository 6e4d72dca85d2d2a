//! The stock registry resolves codecs by name, and a binary can add its own.

use bytes::BytesMut;
use codecs::example::{ExampleMessage, ExampleProtocol};
use codecs::options::OptionsReader;
use codecs::{CodecError, CodecOptions, CodecRegistry, Inbound, NomCodec, PreparedCodec};
use std::sync::Arc;

#[test]
fn the_stock_registry_resolves_text_frame_raw_and_websocket_by_name() {
    let registry = CodecRegistry::with_stock();
    assert_eq!(registry.names(), ["frame", "raw", "text", "websocket"]);
    for name in ["text", "frame", "raw", "websocket"] {
        let codec = registry.build(name, &CodecOptions::default()).expect(name);
        assert_eq!(codec.name(), name);
        assert!(registry.contains(name));
    }
}

#[test]
fn names_resolve_regardless_of_case() {
    let registry = CodecRegistry::with_stock();
    assert_eq!(
        registry
            .build("FRAME", &CodecOptions::default())
            .unwrap()
            .name(),
        "frame"
    );
}

#[test]
fn an_unknown_name_resolves_to_nothing() {
    let registry = CodecRegistry::with_stock();
    let err = registry
        .build("gopher", &CodecOptions::default())
        .err()
        .expect("no gopher codec");
    assert_eq!(
        err.to_string(),
        "no codec is called \"gopher\"; known: frame, raw, text, websocket"
    );
    assert!(!registry.contains("example"));
}

#[test]
fn built_codecs_use_the_listener_options() {
    let registry = CodecRegistry::with_stock();
    let options = CodecOptions {
        max_message_size: 2,
        ..CodecOptions::default()
    };
    let mut text = registry.build("text", &options).unwrap();
    let mut src = BytesMut::from(&b"abc"[..]);
    assert!(matches!(
        text.decode(&mut src),
        Err(CodecError::TooLarge { max: 2, .. })
    ));
}

#[test]
fn each_build_is_a_fresh_codec_with_its_own_state() {
    let registry = CodecRegistry::with_stock();
    let mut first = registry.build("text", &CodecOptions::default()).unwrap();
    let mut second = registry.build("text", &CodecOptions::default()).unwrap();
    let mut partial = BytesMut::from(&b"half a line"[..]);
    assert_eq!(first.decode(&mut partial).unwrap(), None);
    let mut whole = BytesMut::from(&b"x\n"[..]);
    assert!(matches!(
        second.decode(&mut whole).unwrap(),
        Some(Inbound::Message { .. })
    ));
}

#[test]
fn a_binary_can_register_its_own_nom_codec_beside_the_stock_ones() {
    let mut registry = CodecRegistry::with_stock();
    registry.register(
        "example",
        Arc::new(|options: &CodecOptions| {
            // The example reads no option of its own: any key is refused.
            OptionsReader::new("example", options).finish()?;
            let max = options.max_message_size;
            Ok(PreparedCodec::new(move || {
                NomCodec::new(ExampleProtocol, max)
            }))
        }),
    );
    assert!(registry.names().iter().any(|n| n == "example"));
    assert!(registry.contains("text"));
    let mut codec = registry.build("example", &CodecOptions::default()).unwrap();
    assert_eq!(codec.name(), "example");
    let mut src = BytesMut::new();
    ExampleMessage::Reading {
        sensor: 1,
        value: -5,
    }
    .encode(&mut src)
    .unwrap();
    let Some(Inbound::Message {
        fields: Some(fields),
        ..
    }) = codec.decode(&mut src).unwrap()
    else {
        panic!("expected a reading");
    };
    assert_eq!(fields["value"], -5);
}

#[test]
fn stock_codecs_refuse_options_they_do_not_read_and_bad_values() {
    let registry = CodecRegistry::with_stock();
    let with = |key: &str, value: &str| {
        let mut options = CodecOptions::default();
        options.extra.insert(key.into(), value.into());
        options
    };
    for name in ["text", "frame", "raw"] {
        let err = registry
            .prepare(name, &with("bad_checksum", "close"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{name} option `bad_checksum`: no such option; this codec reads none")
        );
    }
    let err = registry
        .prepare("websocket", &with("handshake_max_bytes", "-1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "websocket option `handshake_max_bytes`: expected bytes between 1 and {}, got `-1`",
            usize::MAX
        )
    );
    let prepared = registry
        .prepare("WebSocket", &with("handshake_max_bytes", "4096"))
        .unwrap();
    assert_eq!(prepared.name(), "websocket");
    assert_eq!(prepared.build().name(), "websocket");
}
