//! Primitive field encoding for the internal protocol: big-endian integers and
//! length-prefixed byte strings, read with bounds checks so no input can panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a frame body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The body ended before a field did.
    #[error("frame truncated while reading {0}")]
    Truncated(&'static str),
    /// A field holds a value the protocol does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes were left after the last field.
    #[error("{0} unexpected bytes after the last field")]
    Trailing(usize),
}

/// Appends fields to a frame body.
pub trait PutExt: BufMut {
    /// A byte string with a u32 length prefix.
    fn put_blob(&mut self, b: &[u8]) {
        self.put_u32(b.len() as u32);
        self.put_slice(b);
    }
    /// A UTF-8 string with a u16 length prefix (callers keep strings under 64 KiB).
    fn put_str16(&mut self, s: &str) {
        let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
        self.put_u16(b.len() as u16);
        self.put_slice(b);
    }
    /// A list of strings: u32 count, then each as `put_str16`.
    fn put_str_list(&mut self, items: &[String]) {
        self.put_u32(items.len() as u32);
        for s in items {
            self.put_str16(s);
        }
    }
}

impl PutExt for BytesMut {}

/// Reads fields from a frame body; every read checks the remaining length.
#[derive(Debug)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A reader over one frame body.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), WireError> {
        if self.buf.remaining() < n {
            Err(WireError::Truncated(what))
        } else {
            Ok(())
        }
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        self.need(1, what)?;
        Ok(self.buf.get_u8())
    }
    /// A big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        self.need(2, what)?;
        Ok(self.buf.get_u16())
    }
    /// A big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        self.need(4, what)?;
        Ok(self.buf.get_u32())
    }
    /// A big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        self.need(8, what)?;
        Ok(self.buf.get_u64())
    }
    /// Exactly `N` bytes.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        self.need(N, what)?;
        let mut out = [0u8; N];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }
    /// A u32-length-prefixed byte string, shared with the frame (no copy).
    pub fn blob(&mut self, what: &'static str) -> Result<Bytes, WireError> {
        let n = self.u32(what)? as usize;
        self.need(n, what)?;
        Ok(self.buf.split_to(n))
    }
    /// A u16-length-prefixed UTF-8 string.
    pub fn str16(&mut self, what: &'static str) -> Result<String, WireError> {
        let b = self.str16_bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid(what))
    }
    /// A `str16`'s bytes, shared with the frame (no copy); the caller checks they are UTF-8.
    pub fn str16_bytes(&mut self, what: &'static str) -> Result<Bytes, WireError> {
        let n = self.u16(what)? as usize;
        self.need(n, what)?;
        Ok(self.buf.split_to(n))
    }
    /// A list of strings; the count is checked against the bytes left, so it cannot
    /// make us allocate more than the frame holds.
    pub fn str_list(&mut self, what: &'static str) -> Result<Vec<String>, WireError> {
        let n = self.u32(what)? as usize;
        // Each entry takes at least its 2-byte length.
        if n > self.buf.remaining() / 2 {
            return Err(WireError::Invalid(what));
        }
        (0..n).map(|_| self.str16(what)).collect()
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }
    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), WireError> {
        match self.buf.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// A field type of the internal protocol: how it is written and read, in one place, so the
/// encoder and decoder of every message that uses it cannot disagree.
pub trait Field: Sized {
    /// Appends the field to a frame body.
    fn put(&self, dst: &mut BytesMut);
    /// Reads the field; `what` names it in errors.
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError>;
}

impl Field for u8 {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_u8(*self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.u8(what)
    }
}

impl Field for u16 {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_u16(*self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.u16(what)
    }
}

impl Field for u64 {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_u64(*self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.u64(what)
    }
}

/// `[N]`: exactly N bytes.
impl<const N: usize> Field for [u8; N] {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_slice(self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.array(what)
    }
}

/// `str16`.
impl Field for String {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_str16(self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.str16(what)
    }
}

/// `str16`, for short names repeated in many messages (a listener's protocol): read through a
/// small per-thread table, so each name is allocated once, not once per message.
impl Field for std::sync::Arc<str> {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_str16(self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        /// Names kept per thread; past it a name is allocated per message (still correct).
        const KEPT: usize = 32;
        thread_local! {
            static NAMES: std::cell::RefCell<Vec<std::sync::Arc<str>>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let b = r.str16_bytes(what)?;
        NAMES.with_borrow_mut(|names| {
            if let Some(n) = names.iter().find(|n| n.as_bytes() == &b[..]) {
                return Ok(n.clone());
            }
            let s = std::str::from_utf8(&b).map_err(|_| WireError::Invalid(what))?;
            let n: std::sync::Arc<str> = s.into();
            if names.len() < KEPT {
                names.push(n.clone());
            }
            Ok(n)
        })
    }
}

/// `blob`, shared with the frame when read (no copy).
impl Field for Bytes {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_blob(self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.blob(what)
    }
}

/// `strs`.
impl Field for Vec<String> {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_str_list(self);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        r.str_list(what)
    }
}
