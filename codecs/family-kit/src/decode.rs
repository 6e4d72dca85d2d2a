//! The decode loop a socket would run, as comparable [`Event`]s: feed chunks, drain events.

use bytes::BytesMut;
use codecs::{CodecError, Inbound};
use serde_json::Value;
use tokio_util::codec::Decoder;

/// One decode outcome, comparable across runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An event.
    Item(Inbound),
    /// A skipped frame (the stream went on).
    Skipped(String),
    /// An error that ends the stream.
    Fatal(String),
}

/// Decodes everything `codec` can from `buf`, stopping at `Ok(None)` or a fatal error.
pub fn drain<C>(codec: &mut C, buf: &mut BytesMut, events: &mut Vec<Event>) -> bool
where
    C: Decoder<Item = Inbound, Error = CodecError> + ?Sized,
{
    loop {
        match codec.decode(buf) {
            Ok(Some(item)) => events.push(Event::Item(item)),
            Ok(None) => return true,
            Err(err) if err.can_continue() => events.push(Event::Skipped(err.to_string())),
            Err(err) => {
                events.push(Event::Fatal(err.to_string()));
                return false;
            }
        }
    }
}

/// Feeds `chunks` one after another into `codec`, draining after each, as a socket would.
pub fn feed<C>(codec: &mut C, chunks: &[&[u8]]) -> Vec<Event>
where
    C: Decoder<Item = Inbound, Error = CodecError> + ?Sized,
{
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if !drain(codec, &mut buf, &mut events) {
            break;
        }
    }
    events
}

/// The typed fields of every message event.
pub fn messages(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Message { fields, .. }) => {
                Some(fields.clone().expect("typed fields"))
            }
            _ => None,
        })
        .collect()
}

/// The bytes of every reply event, as hex.
pub fn replies(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Reply(bytes)) => Some(hex::encode(bytes)),
            _ => None,
        })
        .collect()
}

/// Every identity event.
pub fn identities(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Identity(id)) => Some(id.clone()),
            _ => None,
        })
        .collect()
}
