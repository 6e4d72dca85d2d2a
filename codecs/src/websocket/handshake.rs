//! The opening handshake: the client's HTTP/1.1 upgrade request, parsed with `httparse`, and
//! the server's two possible answers (101 with `Sec-WebSocket-Accept`, or an HTTP error).

use crate::{CodecError, HandshakeRequest};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;
use tungstenite::http::StatusCode;

/// Most header lines a request may carry; more is a malformed handshake.
const MAX_HEADERS: usize = 64;

/// A valid upgrade request found at the front of the read buffer.
#[derive(Debug)]
pub(super) struct Upgrade {
    /// Bytes the request occupies (the frames, if any, start right after).
    pub(super) len: usize,
    /// What the caller gets to see.
    pub(super) request: HandshakeRequest,
    /// The `Sec-WebSocket-Accept` value to send if the caller accepts.
    pub(super) accept_key: String,
}

/// Parses the request at the front of `buf`: `Ok(None)` while it is incomplete and still
/// within `max_bytes`, an error when it is malformed, too large, or not a WebSocket upgrade.
pub(super) fn parse_request(buf: &[u8], max_bytes: usize) -> Result<Option<Upgrade>, CodecError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    // Only the first `max_bytes` count: a head that does not end within them is too large,
    // however many more bytes the client already sent.
    let window = &buf[..buf.len().min(max_bytes)];
    let len = match request.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_bytes => {
            return Err(CodecError::Handshake(format!(
                "request head is larger than {max_bytes} bytes"
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(format!("bad HTTP request: {e}"))),
    };

    if request.method != Some("GET") {
        return Err(malformed("method must be GET"));
    }
    if request.version != Some(1) {
        return Err(malformed("HTTP/1.1 is required"));
    }
    let target = request.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.is_empty() {
        return Err(malformed("empty request target"));
    }

    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value).trim().to_string();
        // Repeated headers are one comma-separated list in HTTP.
        fields
            .entry(header.name.to_ascii_lowercase())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }

    if !has_token(&fields, "upgrade", "websocket") {
        return Err(malformed("missing `Upgrade: websocket`"));
    }
    if !has_token(&fields, "connection", "upgrade") {
        return Err(malformed("`Connection` does not contain `upgrade`"));
    }
    if fields.get("sec-websocket-version").map(String::as_str) != Some("13") {
        return Err(malformed("`Sec-WebSocket-Version` must be 13"));
    }
    let key = fields
        .get("sec-websocket-key")
        .ok_or_else(|| malformed("missing `Sec-WebSocket-Key`"))?;
    if !is_valid_key(key) {
        return Err(malformed(
            "`Sec-WebSocket-Key` is not a base64 16-byte nonce",
        ));
    }
    let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());

    Ok(Some(Upgrade {
        len,
        request: HandshakeRequest {
            path: path.to_string(),
            query: query.to_string(),
            headers: fields,
        },
        accept_key,
    }))
}

/// Writes the `101 Switching Protocols` answer that opens the WebSocket.
pub(super) fn write_accept(accept_key: &str, dst: &mut BytesMut) {
    dst.put_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    dst.put_slice(accept_key.as_bytes());
    dst.put_slice(b"\r\n\r\n");
}

/// Writes an HTTP error answer that refuses the upgrade and announces the close.
///
/// Only 4xx and 5xx make sense here (a 1xx or 2xx would not refuse anything), so any other
/// status is sent as 403 Forbidden.
pub(super) fn write_refusal(status: u16, dst: &mut BytesMut) {
    let status = match StatusCode::from_u16(status) {
        Ok(code) if code.is_client_error() || code.is_server_error() => code,
        _ => {
            tracing::warn!(status, "refusal status is not 4xx/5xx, sending 403");
            StatusCode::FORBIDDEN
        }
    };
    let reason = status.canonical_reason().unwrap_or("Refused");
    // The version header tells a client that failed on `Sec-WebSocket-Version` what we speak.
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nConnection: close\r\nContent-Length: 0\r\nSec-WebSocket-Version: 13\r\n\r\n",
        status.as_u16()
    );
    dst.put_slice(head.as_bytes());
}

/// The `400 Bad Request` answer for a malformed handshake, to send before closing.
pub fn bad_request_response() -> Bytes {
    let mut out = BytesMut::with_capacity(96);
    write_refusal(400, &mut out);
    out.freeze()
}

/// True when the comma-separated header `name` holds `token` (case-insensitive).
fn has_token(fields: &BTreeMap<String, String>, name: &str, token: &str) -> bool {
    fields.get(name).is_some_and(|value| {
        value
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

/// A key is the base64 form of 16 random bytes: 22 significant characters and `==`.
fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn malformed(why: impl Into<String>) -> CodecError {
    CodecError::Handshake(why.into())
}
