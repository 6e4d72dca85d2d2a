//! `text`: newline-delimited messages (GatewayWorker's Text protocol).
//!
//! Each message is a line ended by `\n`; one trailing `\r` is stripped, so `\r\n` clients work.
//! A line (without its `\n`) longer than the maximum message size is [`CodecError::TooLarge`],
//! which closes the stream: unlike tokio-util's `LinesCodec` there is no discard-and-resync
//! mode, because our contract closes the connection on that error anyway.
//!
//! Lines are bytes, not UTF-8-checked strings: the gateway forwards them as they came, and
//! skipping validation and the `String` allocation is what makes this faster than `LinesCodec`.
//! The encoder appends `\n` and does not look inside the data (a worker may send several lines
//! at once, as with GatewayWorker).

use crate::{CodecError, CodecOptions, Inbound, Outbound, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Newline-delimited codec with a maximum line length.
#[derive(Debug, Clone)]
pub struct TextCodec {
    max_message_size: usize,
    /// Bytes at the front of the buffer already known to hold no `\n`, so a long partial line
    /// is scanned once, not again on every read.
    next_index: usize,
}

impl TextCodec {
    /// A codec accepting lines of at most `max_message_size` bytes (excluding the `\n`).
    pub fn new(max_message_size: usize) -> Self {
        TextCodec {
            max_message_size,
            next_index: 0,
        }
    }

    /// A codec configured from a listener's options.
    pub fn from_options(options: &CodecOptions) -> Self {
        Self::new(options.max_message_size)
    }

    /// The configured maximum line length in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Splits off the first `line_len + 1` bytes (line and its `\n`) as one message.
    #[inline]
    fn take_line(&mut self, src: &mut BytesMut, line_len: usize) -> Inbound {
        self.next_index = 0;
        let mut line = src.split_to(line_len + 1);
        let mut end = line_len;
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        line.truncate(end);
        Inbound::Message {
            data: line.freeze(),
            fields: None,
        }
    }
}

impl Default for TextCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder for TextCodec {
    type Item = Inbound;
    type Error = CodecError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        // A newline at index <= max ends a line of at most max bytes; looking further is useless.
        let read_to = src.len().min(self.max_message_size.saturating_add(1));
        // A buffer shorter than what was scanned was cleared by the caller: scan it afresh.
        let start = if self.next_index <= read_to {
            self.next_index
        } else {
            0
        };
        match memchr::memchr(b'\n', &src[start..read_to]) {
            Some(offset) => Ok(Some(self.take_line(src, start + offset))),
            None if src.len() > self.max_message_size => {
                self.next_index = 0;
                Err(CodecError::TooLarge {
                    size: src.len(),
                    max: self.max_message_size,
                })
            }
            None => {
                self.next_index = read_to;
                Ok(None)
            }
        }
    }

    /// At the end of the stream an unterminated last line is still a message (as `LinesCodec`).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        if src.is_empty() {
            return Ok(None);
        }
        self.next_index = 0;
        let mut line = src.split();
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        Ok(Some(Inbound::Message {
            data: line.freeze(),
            fields: None,
        }))
    }
}

impl Encoder<Outbound> for TextCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Outbound::Data(data) | Outbound::Binary(data) => {
                dst.reserve(data.len() + 1);
                dst.put_slice(&data);
                dst.put_u8(b'\n');
            }
            Outbound::Close(_) => {}
        }
        Ok(())
    }
}

impl crate::Codec for TextCodec {
    fn name(&self) -> &'static str {
        "text"
    }
}
