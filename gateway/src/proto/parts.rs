//! Query answers in parts (protocol 3): a list or map answer is cut between its items into
//! parts of about [`PART_BYTES`] of JSON, each a valid reply of the query's type, serialized as
//! the parts are taken ([`Parts`], built by [`Pager`]); the asker joins them in order
//! ([`Paged::absorb`], through `Reply::absorb`). Any other answer is one part.

use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;

/// Most bytes of JSON in one part of an answer (`QueryReply`): far below the link's frame
/// limit, so an answer of any size never makes a frame the asker refuses, and small enough that
/// a gateway streaming a large answer holds little of it at once.
pub const PART_BYTES: usize = 64 * 1024;

/// How a reply type travels in parts: a list or a map is cut between its items, each part a
/// valid reply of the same type, and the parts are joined in order; any other reply is one part.
pub trait Paged: Sized {
    /// Joins the next part to this one; `false` when this type does not come in parts.
    fn absorb(&mut self, more: Self) -> bool;
    /// This value as parts of about `max` bytes.
    fn into_parts(self, max: usize) -> Parts<'static>;
}

impl<T: Serialize + Send + 'static> Paged for Vec<T> {
    fn absorb(&mut self, more: Self) -> bool {
        self.extend(more);
        true
    }
    fn into_parts(self, max: usize) -> Parts<'static> {
        Parts::list(self.into_iter(), max)
    }
}

impl<K: Serialize + Ord + Send + 'static, V: Serialize + Send + 'static> Paged for BTreeMap<K, V> {
    fn absorb(&mut self, more: Self) -> bool {
        self.extend(more);
        true
    }
    fn into_parts(self, max: usize) -> Parts<'static> {
        Parts::map(self.into_iter(), max)
    }
}

/// One-part replies.
macro_rules! one_part {
    ($(impl$(<$g:ident>)? for $t:ty;)*) => {$(
        impl$(<$g: Serialize>)? Paged for $t {
            fn absorb(&mut self, _: Self) -> bool {
                false
            }
            fn into_parts(self, _: usize) -> Parts<'static> {
                // Every reply type serializes (string keys, no non-finite floats).
                Parts::one(Bytes::from(serde_json::to_vec(&self).unwrap_or_default()))
            }
        }
    )*};
}
one_part! {
    impl for bool;
    impl for u64;
    impl<T> for Option<T>;
    impl<T> for Box<T>;
}

/// Joins the JSON of a list's elements or a map's entries into parts: each part is `[...]` or
/// `{...}` holding the items pushed since the last one, and a part is closed before the item
/// that would take it over its size (an item larger than that is a part alone).
#[derive(Debug)]
pub struct Pager {
    close: u8,
    open: u8,
    max: usize,
    buf: Vec<u8>,
    items: usize,
}

impl Pager {
    /// A pager of parts `[...]` or, with `map`, `{...}`, of about `max` bytes each.
    pub fn new(map: bool, max: usize) -> Self {
        let (open, close) = if map { (b'{', b'}') } else { (b'[', b']') };
        Pager {
            open,
            close,
            max,
            buf: vec![open],
            items: 0,
        }
    }

    /// Adds one item, written by `write` (a list element's JSON, or a map entry's
    /// `"key":value`); returns the part it closed, if it did not fit the open one.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Option<Bytes> {
        let mark = self.buf.len();
        if self.items > 0 {
            self.buf.push(b',');
        }
        write(&mut self.buf);
        self.items += 1;
        if self.items == 1 || self.buf.len() < self.max {
            return None;
        }
        // The earlier items make a part; this one opens the next.
        let mut next: Vec<u8> = Vec::with_capacity(self.max.min(self.buf.len() - mark) + 1);
        next.push(self.open);
        next.extend_from_slice(&self.buf[mark + 1..]);
        self.buf.truncate(mark);
        self.buf.push(self.close);
        self.items = 1;
        Some(Bytes::from(std::mem::replace(&mut self.buf, next)))
    }

    /// The last part: what is open (possibly no item).
    pub fn finish(mut self) -> Bytes {
        self.buf.push(self.close);
        Bytes::from(self.buf)
    }
}

/// An answer being cut into parts: [`Parts::next_part`] gives each part's JSON and whether more
/// follow. Items are serialized as the parts are taken, so a large answer is never whole in
/// one buffer.
pub struct Parts<'a> {
    one: Option<Bytes>,
    pager: Option<Pager>,
    items: Box<dyn Iterator<Item = Item> + Send + 'a>,
}

/// One item of a list or map answer, ready to write.
type Item = Box<dyn FnOnce(&mut Vec<u8>) + Send>;

impl std::fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").field("pager", &self.pager).finish()
    }
}

fn write_json<T: Serialize>(v: &T, out: &mut Vec<u8>) {
    // Every reply type serializes (string keys, no non-finite floats).
    let _ = serde_json::to_writer(out, v);
}

impl<'a> Parts<'a> {
    /// An answer of one part.
    pub fn one(json: Bytes) -> Self {
        Parts {
            one: Some(json),
            pager: None,
            items: Box::new(std::iter::empty()),
        }
    }

    /// A list answer of these elements, in parts of about `max` bytes.
    pub fn list<T: Serialize + Send + 'static>(
        items: impl Iterator<Item = T> + Send + 'a,
        max: usize,
    ) -> Self {
        Parts {
            one: None,
            pager: Some(Pager::new(false, max)),
            items: Box::new(items.map(|v| -> Item { Box::new(move |out| write_json(&v, out)) })),
        }
    }

    /// A map answer of these entries (keys serialize as strings), in parts of about `max`
    /// bytes.
    pub fn map<K: Serialize + Send + 'static, V: Serialize + Send + 'static>(
        entries: impl Iterator<Item = (K, V)> + Send + 'a,
        max: usize,
    ) -> Self {
        Parts {
            one: None,
            pager: Some(Pager::new(true, max)),
            items: Box::new(entries.map(|(k, v)| -> Item {
                Box::new(move |out| {
                    write_json(&k, out);
                    out.push(b':');
                    write_json(&v, out);
                })
            })),
        }
    }

    /// The next part and whether more follow; `None` once the last was taken.
    pub fn next_part(&mut self) -> Option<(Bytes, bool)> {
        if let Some(one) = self.one.take() {
            return Some((one, false));
        }
        let pager = self.pager.as_mut()?;
        for item in self.items.by_ref() {
            if let Some(part) = pager.push(item) {
                return Some((part, true));
            }
        }
        self.pager.take().map(|p| (p.finish(), false))
    }
}
