//! Message I/O over a device's link, the same for every protocol: queue messages, write them all
//! in one go, read whatever arrived, then walk the complete messages in it.
//!
//! Buffers live as long as the connection and are reused, so the steady state allocates nothing
//! per message on the byte-stream protocols (WebSocket messages are owned by tungstenite).

use crate::framing::{Framing, FramingError};
use crate::transport::{Link, Stream};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::collections::VecDeque;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Most WebSocket messages taken from tungstenite in one `fill`.
const WS_BATCH: usize = 256;

/// A link with its read and write buffers.
pub enum Wire {
    /// `text` or `frame` over a byte stream.
    Bytes {
        /// The connection.
        stream: Stream,
        /// How messages are delimited.
        framing: Framing,
        /// Received bytes; `consumed` of them are already handed out.
        rbuf: BytesMut,
        /// Bytes of `rbuf` handed out by `next_message` since the last `fill`.
        consumed: usize,
        /// Queued outgoing bytes.
        wbuf: BytesMut,
        /// Spare room to keep before each read.
        read_chunk: usize,
        /// Largest message accepted.
        max_message: usize,
    },
    /// WebSocket messages.
    Ws {
        /// The connection.
        ws: Box<WebSocketStream<Stream>>,
        /// Received payloads not yet handed out.
        inbox: VecDeque<Bytes>,
        /// The payload last handed out.
        current: Option<Bytes>,
        /// Queued outgoing messages.
        outbox: Vec<Message>,
    },
}

impl Wire {
    /// Wraps `link`: byte streams are split with `framing`, and any message longer than
    /// `max_message` breaks the stream. `read_chunk` is the read buffer's working size.
    pub fn new(link: Link, framing: Framing, read_chunk: usize, max_message: usize) -> Self {
        match link {
            Link::Bytes(stream) => Wire::Bytes {
                stream,
                framing,
                rbuf: BytesMut::with_capacity(read_chunk),
                consumed: 0,
                wbuf: BytesMut::with_capacity(read_chunk),
                read_chunk,
                max_message,
            },
            Link::Ws(ws) => Wire::Ws {
                ws,
                inbox: VecDeque::new(),
                current: None,
                outbox: Vec::new(),
            },
        }
    }

    /// Queues one message of `len` bytes, written by `fill`.
    pub fn queue(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        match self {
            Wire::Bytes { framing, wbuf, .. } => framing.encode_with(wbuf, len, fill),
            Wire::Ws { outbox, .. } => {
                let mut body = vec![0; len];
                fill(&mut body);
                // Text frames when the payload is UTF-8 (echo payloads are ASCII), as a browser
                // or device would send; binary otherwise.
                let msg = match String::from_utf8(body) {
                    Ok(text) => Message::Text(Utf8Bytes::from(text)),
                    Err(e) => Message::Binary(Bytes::from(e.into_bytes())),
                };
                outbox.push(msg);
            }
        }
    }

    /// True when messages are queued.
    pub fn has_queued(&self) -> bool {
        match self {
            Wire::Bytes { wbuf, .. } => !wbuf.is_empty(),
            Wire::Ws { outbox, .. } => !outbox.is_empty(),
        }
    }

    /// Writes every queued message. Not cancel-safe: after a cancelled flush, drop the wire.
    pub async fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Bytes { stream, wbuf, .. } => {
                if !wbuf.is_empty() {
                    stream.write_all(wbuf).await?;
                    stream.flush().await?;
                    wbuf.clear();
                }
                Ok(())
            }
            Wire::Ws { ws, outbox, .. } => {
                for msg in outbox.drain(..) {
                    ws.feed(msg).await.map_err(io::Error::other)?;
                }
                ws.flush().await.map_err(io::Error::other)
            }
        }
    }

    /// Waits for more input: `Ok(false)` when the peer closed. Cancel-safe.
    pub async fn fill(&mut self) -> io::Result<bool> {
        match self {
            Wire::Bytes {
                stream,
                rbuf,
                consumed,
                read_chunk,
                ..
            } => {
                if *consumed > 0 {
                    rbuf.advance(*consumed);
                    *consumed = 0;
                }
                if rbuf.capacity() - rbuf.len() < *read_chunk / 2 {
                    rbuf.reserve(*read_chunk);
                }
                Ok(stream.read_buf(rbuf).await? > 0)
            }
            Wire::Ws { ws, inbox, .. } => {
                let Some(first) = ws.next().await else {
                    return Ok(false);
                };
                if !take_ws(first.map_err(io::Error::other)?, inbox) {
                    return Ok(false);
                }
                // Take what else is already decoded, so replies are handled in batches.
                for _ in 0..WS_BATCH {
                    match ws.next().now_or_never() {
                        Some(Some(Ok(msg))) => {
                            if !take_ws(msg, inbox) {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                Ok(true)
            }
        }
    }

    /// The next complete message received, if any.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FramingError> {
        match self {
            Wire::Bytes {
                framing,
                rbuf,
                consumed,
                max_message,
                ..
            } => {
                let start = *consumed;
                match framing.next(&rbuf[start..], *max_message)? {
                    Some(found) => {
                        *consumed += found.consumed;
                        Ok(Some(
                            &rbuf[start + found.body.start..start + found.body.end],
                        ))
                    }
                    None => Ok(None),
                }
            }
            Wire::Ws { inbox, current, .. } => {
                *current = inbox.pop_front();
                Ok(current.as_deref())
            }
        }
    }
}

/// Keeps a data message's payload; false for a close.
fn take_ws(msg: Message, inbox: &mut VecDeque<Bytes>) -> bool {
    match msg {
        Message::Text(text) => inbox.push_back(Bytes::from(text)),
        Message::Binary(data) => inbox.push_back(data),
        Message::Close(_) => return false,
        // tungstenite answers pings itself.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
    }
    true
}
