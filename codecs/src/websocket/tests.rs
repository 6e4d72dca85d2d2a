//! Unit tests: every handshake and frame error path, and the encoder.

use super::*;
use crate::CloseFrame;
use bytes::Bytes;
use std::io::Cursor;
use tungstenite::protocol::frame::{Frame, FrameHeader};

/// The request from RFC 6455 §1.3 (its accept key is known), with a query and a custom header.
const REQUEST: &str = "GET /ws?token=abc&x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nX-Device: dev-42\r\n\r\n";

const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CONTINUE: u8 = 0;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

/// A request built from header lines, for the malformed-request tests.
fn request_with(first_line: &str, headers: &[&str]) -> BytesMut {
    let mut text = format!("{first_line}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    BytesMut::from(text.as_bytes())
}

const GOOD_HEADERS: [&str; 4] = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

/// A codec past an accepted handshake.
fn open_codec(max: usize) -> WebSocketCodec {
    let mut codec = WebSocketCodec::new(max);
    let mut src = BytesMut::from(REQUEST.as_bytes());
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Inbound::Handshake(_)))
    ));
    codec.answer_handshake(None, &mut BytesMut::new());
    assert!(codec.is_open());
    codec
}

/// A client frame as a browser would send it (masked), built with tungstenite's encoder.
fn client_frame(opcode: u8, is_final: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        is_final,
        opcode: OpCode::from(opcode),
        mask: Some([0x37, 0xfa, 0x21, 0x3d]),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .unwrap();
    out
}

/// A frame with a hand-set header, for the malformed-frame tests.
fn raw_frame(header: FrameHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .unwrap();
    out
}

/// Reads one server frame back: (opcode byte, fin, payload); asserts it is unmasked.
fn server_frame(bytes: &[u8]) -> (u8, bool, Vec<u8>) {
    let mut cursor = Cursor::new(bytes);
    let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
    assert_eq!(header.mask, None, "server frames are never masked");
    let start = cursor.position() as usize;
    assert_eq!(bytes.len(), start + len as usize, "exactly one frame");
    (
        u8::from(header.opcode),
        header.is_final,
        bytes[start..].to_vec(),
    )
}

/// The close code carried by a `Reply` holding a close frame.
fn close_code(event: &Inbound) -> u16 {
    let Inbound::Reply(bytes) = event else {
        panic!("expected a close reply, got {event:?}");
    };
    let (opcode, _, payload) = server_frame(bytes);
    assert_eq!(opcode, CLOSE);
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Feeds `bytes` to an open codec and returns the close code it answers and the error after it.
fn violation(max: usize, bytes: &[u8]) -> (u16, CodecError) {
    let mut codec = open_codec(max);
    let mut src = BytesMut::from(bytes);
    let reply = codec.decode(&mut src).unwrap().unwrap();
    let err = codec.decode(&mut src).unwrap_err();
    assert!(!err.can_continue());
    (close_code(&reply), err)
}

fn message(data: &[u8]) -> Inbound {
    Inbound::Message {
        data: Bytes::copy_from_slice(data),
        fields: None,
    }
}

fn handshake_error(mut src: BytesMut) -> String {
    match WebSocketCodec::default().decode(&mut src) {
        Err(CodecError::Handshake(why)) => why,
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

// ---- handshake ----

#[test]
fn a_valid_upgrade_request_yields_path_query_and_lowercased_headers() {
    let mut codec = WebSocketCodec::default();
    let mut src = BytesMut::from(REQUEST.as_bytes());
    let Some(Inbound::Handshake(request)) = codec.decode(&mut src).unwrap() else {
        panic!("expected a handshake");
    };
    assert_eq!(request.path, "/ws");
    assert_eq!(request.query, "token=abc&x=1");
    assert_eq!(request.headers["x-device"], "dev-42");
    assert_eq!(request.headers["host"], "127.0.0.1");
    assert!(src.is_empty());
    assert!(!codec.is_open(), "not open until answered");
}

#[test]
fn accepting_the_handshake_writes_101_with_the_rfc_accept_key() {
    let mut codec = WebSocketCodec::default();
    codec
        .decode(&mut BytesMut::from(REQUEST.as_bytes()))
        .unwrap();
    let mut out = BytesMut::new();
    codec.answer_handshake(None, &mut out);
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    assert!(codec.is_open());
}

#[test]
fn refusing_the_handshake_writes_the_http_status_and_fails_later_decodes() {
    let mut codec = WebSocketCodec::default();
    codec
        .decode(&mut BytesMut::from(REQUEST.as_bytes()))
        .unwrap();
    let mut out = BytesMut::new();
    codec.answer_handshake(Some(401), &mut out);
    assert!(out.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
    assert!(!codec.is_open());
    let mut src = BytesMut::from(&client_frame(TEXT, true, b"hi")[..]);
    assert!(matches!(
        codec.decode(&mut src),
        Err(CodecError::Handshake(_))
    ));
}

#[test]
fn refusing_with_a_status_that_is_not_an_error_sends_403() {
    let mut codec = WebSocketCodec::default();
    codec
        .decode(&mut BytesMut::from(REQUEST.as_bytes()))
        .unwrap();
    let mut out = BytesMut::new();
    codec.answer_handshake(Some(200), &mut out);
    assert!(out.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
}

#[test]
fn an_incomplete_request_waits_for_more_bytes() {
    let mut codec = WebSocketCodec::default();
    let mut src = BytesMut::from(&REQUEST.as_bytes()[..REQUEST.len() - 1]);
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    src.extend_from_slice(b"\n");
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Inbound::Handshake(_)))
    ));
}

#[test]
fn a_request_larger_than_handshake_max_bytes_is_a_handshake_error() {
    let mut codec = WebSocketCodec::default().with_handshake_max_bytes(64);
    let mut src = BytesMut::from(&REQUEST.as_bytes()[..64]);
    let err = codec.decode(&mut src).unwrap_err();
    assert!(matches!(err, CodecError::Handshake(_)), "{err}");
    assert!(src.is_empty(), "the buffer is dropped");
}

#[test]
fn handshake_max_bytes_is_read_from_codec_options_extra_and_bad_values_refused() {
    let mut options = CodecOptions::default();
    options
        .extra
        .insert(HANDSHAKE_MAX_BYTES_KEY.into(), "100".into());
    let codec = WebSocketCodec::from_options(&options).unwrap();
    assert_eq!(codec.handshake_max_bytes(), 100);
    for bad in ["lots", "0"] {
        options
            .extra
            .insert(HANDSHAKE_MAX_BYTES_KEY.into(), bad.into());
        let err = WebSocketCodec::from_options(&options).unwrap_err();
        assert_eq!(err.key, HANDSHAKE_MAX_BYTES_KEY);
        assert!(err.to_string().contains(&format!("got `{bad}`")), "{err}");
    }
    let mut options = CodecOptions::default();
    options.extra.insert("handshake_max".into(), "100".into());
    let err = WebSocketCodec::from_options(&options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "websocket option `handshake_max`: no such option; it reads `handshake_max_bytes`"
    );
    let codec = WebSocketCodec::from_options(&CodecOptions::default()).unwrap();
    assert_eq!(codec.handshake_max_bytes(), DEFAULT_HANDSHAKE_MAX_BYTES);
}

#[test]
fn a_post_request_is_a_handshake_error() {
    let why = handshake_error(request_with("POST /ws HTTP/1.1", &GOOD_HEADERS));
    assert!(why.contains("GET"), "{why}");
}

#[test]
fn an_http_1_0_request_is_a_handshake_error() {
    let why = handshake_error(request_with("GET /ws HTTP/1.0", &GOOD_HEADERS));
    assert!(why.contains("HTTP/1.1"), "{why}");
}

#[test]
fn a_request_without_upgrade_websocket_is_a_handshake_error() {
    let why = handshake_error(request_with("GET / HTTP/1.1", &GOOD_HEADERS[1..]));
    assert!(why.contains("Upgrade"), "{why}");
}

#[test]
fn a_request_without_connection_upgrade_is_a_handshake_error() {
    let headers = [
        GOOD_HEADERS[0],
        "Connection: keep-alive",
        GOOD_HEADERS[2],
        GOOD_HEADERS[3],
    ];
    let why = handshake_error(request_with("GET / HTTP/1.1", &headers));
    assert!(why.contains("Connection"), "{why}");
}

#[test]
fn a_request_with_another_websocket_version_is_a_handshake_error() {
    let headers = [
        GOOD_HEADERS[0],
        GOOD_HEADERS[1],
        GOOD_HEADERS[2],
        "Sec-WebSocket-Version: 8",
    ];
    let why = handshake_error(request_with("GET / HTTP/1.1", &headers));
    assert!(why.contains("13"), "{why}");
}

#[test]
fn a_request_without_a_key_is_a_handshake_error() {
    let headers = [GOOD_HEADERS[0], GOOD_HEADERS[1], GOOD_HEADERS[3]];
    let why = handshake_error(request_with("GET / HTTP/1.1", &headers));
    assert!(why.contains("Sec-WebSocket-Key"), "{why}");
}

#[test]
fn a_request_with_a_malformed_key_is_a_handshake_error() {
    let headers = [
        GOOD_HEADERS[0],
        GOOD_HEADERS[1],
        "Sec-WebSocket-Key: not-a-nonce",
        GOOD_HEADERS[3],
    ];
    let why = handshake_error(request_with("GET / HTTP/1.1", &headers));
    assert!(why.contains("nonce"), "{why}");
}

#[test]
fn bytes_that_are_not_http_are_a_handshake_error() {
    let why = handshake_error(BytesMut::from(&b"\x16\x03\x01\x02\x00 hello\r\n\r\n"[..]));
    assert!(why.contains("bad HTTP request"), "{why}");
}

#[test]
fn more_than_64_headers_is_a_handshake_error() {
    let extra: Vec<String> = (0..70).map(|i| format!("X-H{i}: v")).collect();
    let mut headers: Vec<&str> = GOOD_HEADERS.to_vec();
    headers.extend(extra.iter().map(String::as_str));
    handshake_error(request_with("GET / HTTP/1.1", &headers));
}

#[test]
fn repeated_headers_are_joined_with_commas() {
    let mut headers: Vec<&str> = GOOD_HEADERS.to_vec();
    headers.extend(["X-Tag: a", "X-Tag: b"]);
    let mut src = request_with("GET / HTTP/1.1", &headers);
    let Some(Inbound::Handshake(request)) = WebSocketCodec::default().decode(&mut src).unwrap()
    else {
        panic!("expected a handshake");
    };
    assert_eq!(request.headers["x-tag"], "a, b");
    assert_eq!(request.query, "");
}

#[test]
fn a_malformed_request_can_still_be_answered_with_400() {
    let mut codec = WebSocketCodec::default();
    let mut src = request_with("POST / HTTP/1.1", &GOOD_HEADERS);
    assert!(codec.decode(&mut src).is_err());
    let mut out = BytesMut::new();
    codec.answer_handshake(Some(400), &mut out);
    assert_eq!(&out[..], &bad_request_response()[..]);
    assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert!(matches!(
        codec.decode(&mut BytesMut::new()),
        Err(CodecError::Handshake(_))
    ));
}

#[test]
fn accepting_without_a_pending_request_does_nothing() {
    let mut codec = WebSocketCodec::default();
    let mut out = BytesMut::new();
    codec.answer_handshake(None, &mut out);
    assert!(out.is_empty());
    assert!(!codec.is_open());
}

#[test]
fn frames_sent_before_the_answer_wait_until_it_is_accepted() {
    let mut codec = WebSocketCodec::default();
    let mut src = BytesMut::from(REQUEST.as_bytes());
    src.extend_from_slice(&client_frame(TEXT, true, b"early"));
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Inbound::Handshake(_)))
    ));
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    codec.answer_handshake(None, &mut BytesMut::new());
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(b"early")));
}

#[test]
fn too_much_data_before_the_answer_is_a_handshake_error() {
    let mut codec = WebSocketCodec::default().with_handshake_max_bytes(512);
    let mut src = BytesMut::from(REQUEST.as_bytes());
    codec.decode(&mut src).unwrap();
    src.extend_from_slice(&[0u8; 513]);
    assert!(matches!(
        codec.decode(&mut src),
        Err(CodecError::Handshake(_))
    ));
    assert!(src.is_empty());
}

// ---- inbound frames ----

#[test]
fn a_masked_text_frame_decodes_to_a_message() {
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&client_frame(TEXT, true, "héllo".as_bytes())[..]);
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(message("héllo".as_bytes()))
    );
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn a_masked_binary_frame_decodes_to_a_message() {
    let mut codec = open_codec(1024);
    let payload: Vec<u8> = (0..=255).collect();
    let mut src = BytesMut::from(&client_frame(BINARY, true, &payload)[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(&payload)));
}

#[test]
fn an_empty_message_decodes_to_an_empty_message() {
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&client_frame(TEXT, true, b"")[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(b"")));
}

#[test]
fn fragmented_frames_are_reassembled_into_one_message() {
    let mut codec = open_codec(1024);
    let mut bytes = client_frame(TEXT, false, b"one ");
    bytes.extend(client_frame(CONTINUE, false, b"two "));
    // A control frame may come between fragments.
    bytes.extend(client_frame(PING, true, b"p"));
    bytes.extend(client_frame(CONTINUE, true, b"three"));
    let mut src = BytesMut::from(&bytes[..]);
    let pong = codec.decode(&mut src).unwrap().unwrap();
    let Inbound::Reply(pong) = pong else {
        panic!("expected the pong first")
    };
    assert_eq!(server_frame(&pong), (PONG, true, b"p".to_vec()));
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(message(b"one two three"))
    );
}

#[test]
fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&client_frame(PING, true, b"are you there")[..]);
    let Some(Inbound::Reply(reply)) = codec.decode(&mut src).unwrap() else {
        panic!("expected a reply");
    };
    assert_eq!(
        server_frame(&reply),
        (PONG, true, b"are you there".to_vec())
    );
}

#[test]
fn a_pong_counts_as_life_and_decoding_goes_on() {
    let mut codec = open_codec(1024);
    let mut bytes = client_frame(PONG, true, b"x");
    bytes.extend(client_frame(TEXT, true, b"after"));
    let mut src = BytesMut::from(&bytes[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(Inbound::Alive));
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(b"after")));
}

#[test]
fn a_close_frame_is_echoed_then_reported() {
    let mut codec = open_codec(1024);
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    let mut src = BytesMut::from(&client_frame(CLOSE, true, &payload)[..]);
    let reply = codec.decode(&mut src).unwrap().unwrap();
    assert_eq!(close_code(&reply), 1001);
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(Inbound::Close(Some(CloseFrame {
            code: 1001,
            reason: "bye".into()
        })))
    );
    assert!(!codec.is_open());
}

#[test]
fn an_empty_close_frame_is_echoed_empty() {
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&client_frame(CLOSE, true, b"")[..]);
    let Some(Inbound::Reply(reply)) = codec.decode(&mut src).unwrap() else {
        panic!("expected a reply");
    };
    assert_eq!(server_frame(&reply), (CLOSE, true, Vec::new()));
    assert_eq!(codec.decode(&mut src).unwrap(), Some(Inbound::Close(None)));
}

#[test]
fn bytes_after_a_close_frame_are_ignored() {
    let mut codec = open_codec(1024);
    let mut bytes = client_frame(CLOSE, true, b"");
    bytes.extend(client_frame(TEXT, true, b"too late"));
    let mut src = BytesMut::from(&bytes[..]);
    codec.decode(&mut src).unwrap();
    codec.decode(&mut src).unwrap();
    src.extend_from_slice(b"more garbage");
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert!(src.is_empty());
}

#[test]
fn an_unmasked_frame_closes_with_1002_then_errors() {
    let header = FrameHeader {
        opcode: OpCode::from(TEXT),
        mask: None,
        ..FrameHeader::default()
    };
    let (code, err) = violation(1024, &raw_frame(header, b"plain"));
    assert_eq!(code, 1002);
    assert!(matches!(err, CodecError::Protocol(ref why) if why.contains("masked")));
}

#[test]
fn reserved_bits_close_with_1002() {
    for bit in 0..3 {
        let header = FrameHeader {
            opcode: OpCode::from(TEXT),
            mask: Some([1, 2, 3, 4]),
            rsv1: bit == 0,
            rsv2: bit == 1,
            rsv3: bit == 2,
            ..FrameHeader::default()
        };
        let (code, err) = violation(1024, &raw_frame(header, b"x"));
        assert_eq!(code, 1002);
        assert!(matches!(err, CodecError::Protocol(_)));
    }
}

#[test]
fn a_reserved_opcode_closes_with_1002() {
    for opcode in [3u8, 7, 11, 15] {
        let (code, err) = violation(1024, &client_frame(opcode, true, b"x"));
        assert_eq!(code, 1002, "opcode {opcode}");
        assert!(matches!(err, CodecError::Protocol(_)));
    }
}

#[test]
fn a_fragmented_control_frame_closes_with_1002() {
    let (code, err) = violation(1024, &client_frame(PING, false, b"x"));
    assert_eq!(code, 1002);
    assert!(matches!(err, CodecError::Protocol(ref why) if why.contains("fragmented")));
}

#[test]
fn a_control_frame_over_125_bytes_closes_with_1002() {
    let (code, err) = violation(1024, &client_frame(PING, true, &[7u8; 126]));
    assert_eq!(code, 1002);
    assert!(matches!(err, CodecError::Protocol(ref why) if why.contains("125")));
}

#[test]
fn a_continuation_without_a_first_fragment_closes_with_1002() {
    let (code, _) = violation(1024, &client_frame(CONTINUE, true, b"orphan"));
    assert_eq!(code, 1002);
}

#[test]
fn a_new_message_inside_a_fragmented_one_closes_with_1002() {
    let mut bytes = client_frame(TEXT, false, b"first half");
    bytes.extend(client_frame(BINARY, true, b"intruder"));
    let (code, _) = violation(1024, &bytes);
    assert_eq!(code, 1002);
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    let (code, err) = violation(1024, &client_frame(TEXT, true, &[0x61, 0xff, 0x62]));
    assert_eq!(code, 1007);
    assert!(matches!(err, CodecError::Protocol(ref why) if why.contains("UTF-8")));
}

#[test]
fn a_character_split_across_fragments_is_valid_text() {
    let euro = "€".as_bytes();
    let mut bytes = client_frame(TEXT, false, &euro[..1]);
    bytes.extend(client_frame(CONTINUE, true, &euro[1..]));
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&bytes[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(euro)));
}

#[test]
fn invalid_utf8_across_fragments_closes_with_1007() {
    let mut bytes = client_frame(TEXT, false, "€".as_bytes());
    bytes.extend(client_frame(CONTINUE, true, &[0xe2, 0x82]));
    let (code, _) = violation(1024, &bytes);
    assert_eq!(code, 1007);
}

#[test]
fn a_close_with_a_one_byte_body_closes_with_1002() {
    let (code, _) = violation(1024, &client_frame(CLOSE, true, &[3]));
    assert_eq!(code, 1002);
}

#[test]
fn a_close_with_a_forbidden_code_closes_with_1002() {
    for forbidden in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
        let (code, _) = violation(1024, &client_frame(CLOSE, true, &forbidden.to_be_bytes()));
        assert_eq!(code, 1002, "close code {forbidden}");
    }
}

#[test]
fn a_close_reason_that_is_not_utf8_closes_with_1007() {
    let (code, _) = violation(1024, &client_frame(CLOSE, true, &[0x03, 0xe8, 0xff]));
    assert_eq!(code, 1007);
}

#[test]
fn a_header_announcing_more_than_the_maximum_closes_with_1009_without_buffering() {
    let frame = client_frame(BINARY, true, &[0u8; 70_000]);
    // Only the 14-byte header arrives: the payload is never waited for.
    let (code, err) = violation(1024, &frame[..MAX_FRAME_HEADER]);
    assert_eq!(code, 1009);
    assert!(matches!(
        err,
        CodecError::TooLarge {
            size: 70_000,
            max: 1024
        }
    ));
}

#[test]
fn a_message_of_exactly_the_maximum_is_accepted() {
    let mut codec = open_codec(300);
    let mut src = BytesMut::from(&client_frame(BINARY, true, &[9u8; 300])[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(message(&[9u8; 300])));
}

#[test]
fn fragments_adding_up_past_the_maximum_close_with_1009() {
    let mut bytes = client_frame(BINARY, false, &[1u8; 600]);
    bytes.extend(client_frame(CONTINUE, true, &[2u8; 600]));
    let (code, err) = violation(1000, &bytes);
    assert_eq!(code, 1009);
    assert!(matches!(err, CodecError::TooLarge { size: 1200, .. }));
}

#[test]
fn a_failed_stream_keeps_failing_and_drops_its_input() {
    let mut codec = open_codec(1024);
    let mut src = BytesMut::from(&client_frame(CONTINUE, true, b"orphan")[..]);
    codec.decode(&mut src).unwrap();
    assert!(codec.decode(&mut src).is_err());
    src.extend_from_slice(&client_frame(TEXT, true, b"ok"));
    assert!(codec.decode(&mut src).is_err());
    assert!(src.is_empty());
}

#[test]
fn a_partial_frame_waits_and_reserves_room_for_the_rest() {
    let mut codec = open_codec(100_000);
    let frame = client_frame(BINARY, true, &[5u8; 50_000]);
    let mut src = BytesMut::from(&frame[..100]);
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert!(src.capacity() >= frame.len());
    src.extend_from_slice(&frame[100..]);
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(message(&[5u8; 50_000]))
    );
}

// ---- outbound ----

fn encoded(codec: &mut WebSocketCodec, item: Outbound) -> (u8, bool, Vec<u8>) {
    let mut out = BytesMut::new();
    codec.encode(item, &mut out).unwrap();
    server_frame(&out)
}

#[test]
fn data_that_is_utf8_is_sent_as_a_text_frame() {
    let mut codec = open_codec(1024);
    let frame = encoded(&mut codec, Outbound::Data(Bytes::from_static(b"hello")));
    assert_eq!(frame, (TEXT, true, b"hello".to_vec()));
}

#[test]
fn data_that_is_not_utf8_is_sent_as_a_binary_frame() {
    let mut codec = open_codec(1024);
    let frame = encoded(&mut codec, Outbound::Data(Bytes::from_static(&[0xff, 0])));
    assert_eq!(frame, (BINARY, true, vec![0xff, 0]));
}

#[test]
fn binary_is_always_sent_as_a_binary_frame() {
    let mut codec = open_codec(1024);
    let frame = encoded(&mut codec, Outbound::Binary(Bytes::from_static(b"text")));
    assert_eq!(frame, (BINARY, true, b"text".to_vec()));
}

#[test]
fn large_payloads_use_16_and_64_bit_lengths() {
    let mut codec = open_codec(1024);
    for len in [125usize, 126, 65_535, 65_536, 100_000] {
        let frame = encoded(&mut codec, Outbound::Binary(Bytes::from(vec![3u8; len])));
        assert_eq!(frame.2.len(), len);
    }
}

#[test]
fn close_with_a_status_writes_a_close_frame_with_code_and_reason() {
    let mut codec = open_codec(1024);
    let close = CloseFrame {
        code: 4000,
        reason: "kicked".into(),
    };
    let (opcode, _, payload) = encoded(&mut codec, Outbound::Close(Some(close)));
    assert_eq!(opcode, CLOSE);
    assert_eq!(&payload[..2], &4000u16.to_be_bytes());
    assert_eq!(&payload[2..], b"kicked");
}

#[test]
fn close_without_status_writes_an_empty_close_frame() {
    let mut codec = open_codec(1024);
    assert_eq!(
        encoded(&mut codec, Outbound::Close(None)),
        (CLOSE, true, Vec::new())
    );
}

#[test]
fn a_long_close_reason_is_cut_to_fit_a_control_frame() {
    let mut codec = open_codec(1024);
    let close = CloseFrame {
        code: 1000,
        reason: "é".repeat(100),
    };
    let (_, _, payload) = encoded(&mut codec, Outbound::Close(Some(close)));
    assert!(payload.len() <= 125);
    assert!(std::str::from_utf8(&payload[2..]).is_ok());
}

#[test]
fn data_cannot_be_sent_before_the_handshake_is_accepted() {
    let mut codec = WebSocketCodec::default();
    let mut out = BytesMut::new();
    let err = codec
        .encode(Outbound::Data(Bytes::from_static(b"x")), &mut out)
        .unwrap_err();
    assert!(matches!(err, CodecError::Encode(_)));
    assert!(err.can_continue());
    assert!(out.is_empty());
    codec.encode(Outbound::Close(None), &mut out).unwrap();
    assert!(out.is_empty(), "no close frame before the upgrade");
}

#[test]
fn nothing_is_sent_after_our_close() {
    let mut codec = open_codec(1024);
    let mut out = BytesMut::new();
    codec.encode(Outbound::Close(None), &mut out).unwrap();
    let mut more = BytesMut::new();
    assert!(codec
        .encode(Outbound::Binary(Bytes::from_static(b"x")), &mut more)
        .is_err());
    codec.encode(Outbound::Close(None), &mut more).unwrap();
    assert!(!codec.ping(&mut more));
    assert!(more.is_empty());
}

#[test]
fn after_our_close_the_clients_close_is_reported_without_a_second_echo() {
    let mut codec = open_codec(1024);
    codec
        .encode(Outbound::Close(None), &mut BytesMut::new())
        .unwrap();
    let mut src = BytesMut::from(&client_frame(CLOSE, true, &1000u16.to_be_bytes())[..]);
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(Inbound::Close(Some(CloseFrame {
            code: 1000,
            reason: String::new()
        })))
    );
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn ping_writes_a_ping_frame_only_when_open() {
    let mut out = BytesMut::new();
    assert!(!WebSocketCodec::default().ping(&mut out));
    assert!(out.is_empty());
    let mut codec = open_codec(1024);
    assert!(codec.ping(&mut out));
    assert_eq!(server_frame(&out), (PING, true, Vec::new()));
}

#[test]
fn the_codec_is_named_websocket() {
    assert_eq!(WebSocketCodec::default().name(), "websocket");
}

#[test]
fn the_codec_expects_a_handshake_and_the_other_stock_codecs_do_not() {
    assert!(WebSocketCodec::default().expects_handshake());
    assert!(!crate::TextCodec::default().expects_handshake());
    assert!(!crate::FrameCodec::default().expects_handshake());
}

#[test]
fn unmask_matches_a_bytewise_xor_for_every_length() {
    let mask = [0x12, 0x34, 0x56, 0x78];
    for len in 0..40 {
        let original: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(31)).collect();
        let mut fast = original.clone();
        frame::unmask(&mut fast, mask);
        let slow: Vec<u8> = original
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(fast, slow, "length {len}");
    }
}
