//! The outbox's log: MQTT messages appended to segment files in id order, read back by the
//! bridge, and deleted a whole segment at a time once every message in it is acknowledged.
//!
//! Why a log and not the state store: every message is written once, read once in order and
//! removed once, which in sled cost two tree updates, page rewrites and a scan per message. Under
//! a GT06 fleet that was about 40% of the worker's CPU (BENCHMARKS.md, issue 10). Appending a
//! batch here is one `write` and one `fdatasync`, reading is a sequential copy, and a removal
//! is an in-memory mark (plus, now and then, deleting a file).
//!
//! Record: `len` u32 LE (bytes after the checksum), CRC-32 u32 LE of those bytes, then the id
//! u64 BE, qos u8, retain u8, topic length u16 BE, topic, payload. Segment files are named by
//! their first id (`<20 digits>.log`); a new one starts past [`SEGMENT_BYTES`]. The newest
//! segment is never deleted, so the last id survives even when everything was acknowledged.
//! A record that does not check out at open ends its segment: in the newest segment that is a
//! crash in the middle of an append (whose batch was never acknowledged) and the file is cut
//! there; in an older one it is damage, logged and counted.
//!
//! The acknowledgement mark is the lowest unacknowledged id, kept in memory and written to
//! `acked` (not synced: losing it only sends some messages again, with their ids).

use super::outbox::OutboxEntry;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A segment is closed and a new one started once it holds this many bytes.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;
const HEAD: usize = 8;
const FIXED: usize = 12;
/// Bytes read from a segment per read call, unless one record is larger.
const READ_CHUNK: usize = 256 << 10;

/// The bytes of a segment: a file, or memory for stores without a directory.
enum Body {
    File(File),
    Memory(Mutex<Vec<u8>>),
}

impl Body {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Body::File(f) => f.read_at(buf, offset),
            Body::Memory(m) => {
                let m = m.lock().unwrap_or_else(|p| p.into_inner());
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(m.len());
                let n = buf.len().min(m.len() - start);
                buf[..n].copy_from_slice(&m[start..start + n]);
                Ok(n)
            }
        }
    }

    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Body::File(f) => (&*f).write_all(bytes),
            Body::Memory(m) => {
                m.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn sync(&self) -> io::Result<()> {
        match self {
            Body::File(f) => f.sync_data(),
            Body::Memory(_) => Ok(()),
        }
    }

    fn len(&self) -> io::Result<u64> {
        match self {
            Body::File(f) => Ok(f.metadata()?.len()),
            Body::Memory(m) => Ok(m.lock().unwrap_or_else(|p| p.into_inner()).len() as u64),
        }
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        match self {
            Body::File(f) => f.set_len(len),
            Body::Memory(m) => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                m.lock().unwrap_or_else(|p| p.into_inner()).truncate(len);
                Ok(())
            }
        }
    }
}

struct Segment {
    first_id: u64,
    path: Option<PathBuf>,
    body: Arc<Body>,
    /// Bytes written and synced: what readers may read.
    committed: u64,
    /// Highest id in the segment.
    last_id: Option<u64>,
}

struct State {
    /// Oldest first; the last one is the one appended to.
    segments: VecDeque<Segment>,
    /// Ids written and not yet acknowledged, ascending, with an acknowledged mark for those
    /// acknowledged out of order.
    pending: VecDeque<(u64, bool)>,
    /// Number of `pending` entries not marked.
    unacked: u64,
    /// The lowest id not acknowledged (everything below is), as last written to `acked`.
    mark: u64,
    /// Where the bridge's last read ended: (segment's first id, offset, last id read).
    reader: Option<(u64, u64, u64)>,
    /// Records found damaged (each ends the rest of its segment).
    damaged: u64,
}

/// The log; one per outbox.
pub(crate) struct Log {
    dir: Option<PathBuf>,
    state: Mutex<State>,
    /// One append at a time, so ids land in the log in order.
    append: Mutex<()>,
    acked_file: Option<File>,
    /// [`SEGMENT_BYTES`] but in tests.
    segment_bytes: u64,
}

/// What opening found.
pub(crate) struct Opened {
    pub log: Log,
    /// Highest id in the log, if any.
    pub last_id: Option<u64>,
}

/// Appends one record for `entry` to `out`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    id: u64,
    topic: &str,
    qos: u8,
    retain: bool,
    payload: &[u8],
) {
    let len = FIXED + topic.len() + payload.len();
    let start = out.len();
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(qos);
    out.push(u8::from(retain));
    // The outbox refuses topics over u16::MAX bytes before they get here.
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + HEAD..]);
    out[start + 4..start + HEAD].copy_from_slice(&crc.to_le_bytes());
}

/// One record at the start of `buf`: `Ok(Some((entry, size)))`, `Ok(None)` when `buf` holds
/// only part of it (`need` says how many bytes it takes), `Err` when it is damaged.
fn decode(buf: &[u8]) -> Result<Option<(OutboxEntry, usize)>, Need> {
    let Some(head) = buf.first_chunk::<HEAD>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len < FIXED {
        return Err(Need::Damaged);
    }
    let Some(body) = buf.get(HEAD..HEAD + len) else {
        return Err(Need::Bytes(HEAD + len));
    };
    if crc32fast::hash(body) != crc {
        return Err(Need::Damaged);
    }
    let (fixed, rest) = body.split_at(FIXED);
    let id = u64::from_be_bytes([
        fixed[0], fixed[1], fixed[2], fixed[3], fixed[4], fixed[5], fixed[6], fixed[7],
    ]);
    let (qos, retain) = (fixed[8], fixed[9]);
    let tlen = usize::from(u16::from_be_bytes([fixed[10], fixed[11]]));
    if rest.len() < tlen || qos > 1 || retain > 1 {
        return Err(Need::Damaged);
    }
    let topic = std::str::from_utf8(&rest[..tlen]).map_err(|_| Need::Damaged)?;
    let entry = OutboxEntry {
        id,
        topic: topic.to_owned(),
        qos,
        retain: retain == 1,
        payload: rest[tlen..].to_vec(),
    };
    Ok(Some((entry, HEAD + len)))
}

/// Why a record could not be decoded.
enum Need {
    /// Only a part is there: the record takes this many bytes.
    Bytes(usize),
    /// It does not check out.
    Damaged,
}

fn segment_name(first_id: u64) -> String {
    format!("{first_id:020}.log")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    fn new(dir: Option<PathBuf>, state: State, acked_file: Option<File>) -> Log {
        Log {
            dir,
            state: Mutex::new(state),
            append: Mutex::new(()),
            acked_file,
            segment_bytes: SEGMENT_BYTES,
        }
    }

    /// An empty log in memory (for stores without a directory).
    pub fn memory() -> Opened {
        Opened {
            log: Log::new(None, State::new(0), None),
            last_id: None,
        }
    }

    /// Opens (or creates) the log in `dir`, cutting a torn tail off its newest segment.
    pub fn open(dir: &Path) -> io::Result<Opened> {
        std::fs::create_dir_all(dir)?;
        let acked_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("acked"))?;
        let mut mark = [0u8; 8];
        let mark = match acked_file.read_exact_at(&mut mark, 0) {
            Ok(()) => u64::from_be_bytes(mark),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let stem = name.to_str()?.strip_suffix(".log")?;
                stem.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut state = State::new(mark);
        let mut last_id = None;
        let count = firsts.len();
        for (i, first_id) in firsts.into_iter().enumerate() {
            let path = dir.join(segment_name(first_id));
            let file = OpenOptions::new().read(true).append(true).open(&path)?;
            let newest = i + 1 == count;
            let body = Arc::new(Body::File(file));
            let (valid, seg_last, damaged) = scan(&body, |id| {
                if id >= mark {
                    state.pending.push_back((id, false));
                }
            })?;
            if damaged {
                if newest {
                    tracing::warn!(file = %path.display(), at = valid, "outbox log: cutting an unfinished append");
                    body.truncate(valid)?;
                    body.sync()?;
                } else {
                    tracing::error!(file = %path.display(), at = valid, "outbox log: a damaged record ends this segment early");
                    state.damaged += 1;
                }
            }
            last_id = last_id.max(seg_last);
            state.segments.push_back(Segment {
                first_id,
                path: Some(path),
                body,
                committed: valid,
                last_id: seg_last,
            });
        }
        state.unacked = state.pending.len() as u64;
        let log = Log::new(Some(dir.to_path_buf()), state, Some(acked_file));
        log.drop_acked_segments(&mut log.lock());
        Ok(Opened { log, last_id })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is made in single steps: still consistent after a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages written and not acknowledged.
    pub fn unacked(&self) -> u64 {
        self.lock().unacked
    }

    /// Records found damaged at open (each cut the rest of its segment).
    pub fn damaged(&self) -> u64 {
        self.lock().damaged
    }

    /// Appends `records` (built with [`encode`], ids ascending and above every id in the log;
    /// `ids` lists them) and makes them durable before readers see them. On error nothing of
    /// them is visible and the segment is cut back to where it was.
    pub fn append(&self, records: &[u8], ids: &[u64]) -> io::Result<()> {
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            return Ok(());
        };
        let _one = self.append.lock().unwrap_or_else(|p| p.into_inner());
        let (body, start) = {
            let mut st = self.lock();
            let roll = st
                .segments
                .back()
                .is_none_or(|s| s.committed >= self.segment_bytes);
            if roll {
                let seg = self.new_segment(first)?;
                st.segments.push_back(seg);
            }
            let seg = st
                .segments
                .back()
                .ok_or_else(|| io::Error::other("no segment"))?;
            (seg.body.clone(), seg.committed)
        };
        // Written and synced without the state lock: the bridge reads and acknowledges
        // meanwhile.
        if let Err(e) = body.append(records).and_then(|()| body.sync()) {
            if let Err(cut) = body.truncate(start) {
                tracing::error!(%cut, "outbox log: could not cut a failed append back");
            }
            return Err(e);
        }
        let mut st = self.lock();
        if let Some(seg) = st.segments.back_mut() {
            seg.committed = start + records.len() as u64;
            seg.last_id = Some(last);
        }
        for &id in ids {
            st.pending.push_back((id, false));
        }
        st.unacked += ids.len() as u64;
        Ok(())
    }

    fn new_segment(&self, first_id: u64) -> io::Result<Segment> {
        let Some(dir) = &self.dir else {
            return Ok(Segment {
                first_id,
                path: None,
                body: Arc::new(Body::Memory(Mutex::new(Vec::new()))),
                committed: 0,
                last_id: None,
            });
        };
        let path = dir.join(segment_name(first_id));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // The new file's name must survive a crash as well as what is written into it.
        sync_dir(dir)?;
        Ok(Segment {
            first_id,
            path: Some(path),
            body: Arc::new(Body::File(file)),
            committed: 0,
            last_id: None,
        })
    }

    /// Up to `limit` unacknowledged entries with ids above `after`, in id order, and the id
    /// of the last record read (acknowledged ones are read and left out): the `after` of the
    /// next call, which then continues where this one stopped. `None` when nothing was read.
    pub fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> io::Result<(Vec<OutboxEntry>, Option<u64>)> {
        let floor = after.map_or(0, |a| a.saturating_add(1));
        // Where the last read ended when this one continues it, else the start of the
        // segment that holds `floor`.
        let (mut seg_first, mut offset) = {
            let st = self.lock();
            match st.reader {
                Some((s, o, last)) if after == Some(last) => (s, o),
                _ => match st
                    .segments
                    .iter()
                    .rev()
                    .find(|s| s.first_id <= floor)
                    .or(st.segments.front())
                {
                    Some(s) => (s.first_id, 0),
                    None => return Ok((Vec::new(), None)),
                },
            }
        };
        let mut out = Vec::new();
        let mut last_read = None;
        let mut buf = Vec::new();
        while out.len() < limit {
            let (body, end, next) = {
                let st = self.lock();
                // A segment deleted meanwhile had everything acknowledged: go on after it.
                let Some(i) = st.segments.iter().position(|s| s.first_id >= seg_first) else {
                    break;
                };
                let s = &st.segments[i];
                if s.first_id != seg_first {
                    (seg_first, offset) = (s.first_id, 0);
                }
                (
                    s.body.clone(),
                    s.committed,
                    st.segments.get(i + 1).map(|n| n.first_id),
                )
            };
            if offset >= end {
                match next {
                    Some(n) => {
                        (seg_first, offset) = (n, 0);
                        continue;
                    }
                    None => break,
                }
            }
            // About what `limit` records take (a bridge topping up its window asks for a
            // few), so a small read is not a large copy.
            let guess = (limit - out.len())
                .saturating_mul(512)
                .clamp(4096, READ_CHUNK);
            let want = usize::try_from(end - offset).map_or(guess, |w| w.min(guess));
            buf.resize(want, 0);
            let n = body.read_at(&mut buf, offset)?;
            let mut at = 0;
            let mut whole = None;
            while out.len() < limit && at < n {
                match decode(&buf[at..n]) {
                    Ok(Some((entry, size))) => {
                        at += size;
                        last_read = Some(entry.id);
                        if entry.id >= floor {
                            out.push(entry);
                        }
                    }
                    Err(Need::Bytes(size)) if at == 0 && offset + size as u64 <= end => {
                        whole = Some(size);
                        break;
                    }
                    Ok(None) | Err(Need::Bytes(_)) if at > 0 => break,
                    Ok(None) | Err(Need::Bytes(_)) | Err(Need::Damaged) => {
                        // Committed bytes always end on a record: this is damage.
                        self.damaged_at(seg_first, offset + at as u64);
                        at = usize::try_from(end - offset).unwrap_or(n);
                        break;
                    }
                }
            }
            if let Some(size) = whole {
                // One record larger than a read: read it whole.
                buf.resize(size, 0);
                let got = body.read_at(&mut buf, offset)?;
                match decode(&buf[..got]) {
                    Ok(Some((entry, size))) => {
                        at = size;
                        last_read = Some(entry.id);
                        if entry.id >= floor {
                            out.push(entry);
                        }
                    }
                    _ => {
                        self.damaged_at(seg_first, offset);
                        at = usize::try_from(end - offset).unwrap_or(size);
                    }
                }
            }
            offset += at as u64;
            if at == 0 {
                break;
            }
        }
        let mut st = self.lock();
        if let Some(last) = last_read {
            st.reader = Some((seg_first, offset, last));
        }
        out.retain(|e| st.is_unacked(e.id));
        Ok((out, last_read))
    }

    fn damaged_at(&self, seg_first: u64, offset: u64) {
        tracing::error!(
            segment = seg_first,
            offset,
            "outbox log: a damaged record; skipping the rest of its segment"
        );
        self.lock().damaged += 1;
    }

    /// Marks `ids` acknowledged; returns how many were not already. Segments whose every
    /// message is acknowledged are deleted, but never the newest.
    pub fn ack(&self, ids: &[u64]) -> u64 {
        let mut st = self.lock();
        let mut newly = 0;
        for &id in ids {
            if let Ok(i) = st.pending.binary_search_by_key(&id, |&(p, _)| p) {
                if !st.pending[i].1 {
                    st.pending[i].1 = true;
                    newly += 1;
                }
            }
        }
        st.unacked -= newly;
        while st.pending.front().is_some_and(|&(_, acked)| acked) {
            st.pending.pop_front();
        }
        let mark = match st.pending.front() {
            Some(&(id, _)) => id,
            None => st
                .segments
                .back()
                .and_then(|s| s.last_id)
                .map_or(st.mark, |l| l + 1),
        };
        if mark != st.mark {
            st.mark = mark;
            if let Some(f) = &self.acked_file {
                if let Err(e) = f.write_all_at(&mark.to_be_bytes(), 0) {
                    tracing::warn!(%e, "outbox log: could not record acknowledgements (they will be sent again after a restart)");
                }
            }
            self.drop_acked_segments(&mut st);
        }
        newly
    }

    fn drop_acked_segments(&self, st: &mut State) {
        while st.segments.len() > 1
            && st
                .segments
                .front()
                .is_some_and(|s| s.last_id.is_none_or(|l| l < st.mark))
        {
            if let Some(seg) = st.segments.pop_front() {
                if let Some(path) = &seg.path {
                    if let Err(e) = std::fs::remove_file(path) {
                        tracing::warn!(%e, file = %path.display(), "outbox log: could not delete an acknowledged segment");
                    }
                }
            }
        }
    }
}

/// Reads `bytes` as one segment the way the log does at open and then as the bridge does:
/// the entries found, and whether something after them did not check out. For the fuzz
/// target: no input may panic, and both readings must agree.
#[doc(hidden)]
pub fn read_segment(bytes: &[u8]) -> (Vec<OutboxEntry>, bool) {
    let body = Arc::new(Body::Memory(Mutex::new(bytes.to_vec())));
    let mut ids = Vec::new();
    let Ok((valid, last_id, damaged)) = scan(&body, |id| ids.push(id)) else {
        return (Vec::new(), true);
    };
    let mut state = State::new(0);
    // Ids in a damaged file need not ascend; the log keeps them sorted for its lookups.
    ids.sort_unstable();
    ids.dedup();
    state.pending = ids.iter().map(|&id| (id, false)).collect();
    state.unacked = ids.len() as u64;
    state.segments.push_back(Segment {
        first_id: 0,
        path: None,
        body,
        committed: valid,
        last_id,
    });
    let log = Log::new(None, state, None);
    let entries = log
        .read_after(None, usize::MAX)
        .map(|r| r.0)
        .unwrap_or_default();
    (entries, damaged)
}

impl State {
    fn new(mark: u64) -> State {
        State {
            segments: VecDeque::new(),
            pending: VecDeque::new(),
            unacked: 0,
            mark,
            reader: None,
            damaged: 0,
        }
    }

    fn is_unacked(&self, id: u64) -> bool {
        self.pending
            .binary_search_by_key(&id, |&(p, _)| p)
            .is_ok_and(|i| !self.pending[i].1)
    }
}

/// Reads a segment from the start; `found` gets each id. Returns the length of its valid
/// records, the last id, and whether something after them did not check out.
fn scan(body: &Body, mut found: impl FnMut(u64)) -> io::Result<(u64, Option<u64>, bool)> {
    let len = body.len()?;
    let mut offset = 0u64;
    let mut last = None;
    let mut buf = vec![0u8; READ_CHUNK];
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |w| w.min(buf.len()));
        let n = body.read_at(&mut buf[..want], offset)?;
        let mut at = 0;
        while at < n {
            match decode(&buf[at..n]) {
                Ok(Some((entry, size))) => {
                    at += size;
                    last = Some(entry.id);
                    found(entry.id);
                }
                Ok(None) | Err(Need::Bytes(_)) if at > 0 => break,
                Err(Need::Bytes(size)) if offset + size as u64 <= len && n == want => {
                    // One record larger than a read.
                    buf.resize(size, 0);
                    break;
                }
                // The file ends inside a record, or the record does not check out.
                Ok(None) | Err(_) => return Ok((offset + at as u64, last, true)),
            }
        }
        offset += at as u64;
    }
    Ok((offset, last, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn append(log: &Log, ids: &[u64], payload_len: usize) {
        let mut records = Vec::new();
        for &id in ids {
            log::encode(&mut records, id, "t", 1, false, &vec![b'x'; payload_len]);
        }
        log.append(&records, ids).unwrap();
    }

    use super as log;

    fn ids(log: &Log) -> Vec<u64> {
        log.read_after(None, usize::MAX)
            .unwrap()
            .0
            .iter()
            .map(|e| e.id)
            .collect()
    }

    fn small(dir: &Path, segment_bytes: u64) -> Opened {
        let mut o = Log::open(dir).unwrap();
        o.log.segment_bytes = segment_bytes;
        o
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".log")
            })
            .count()
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_and_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Log::open(dir.path()).unwrap().log;
            append(&log, &[1, 2, 3], 10);
        }
        // A crash in the middle of the next append: half a record at the end.
        let seg = dir.path().join(segment_name(1));
        let mut half = Vec::new();
        log::encode(&mut half, 4, "t", 1, false, b"0123456789");
        half.truncate(half.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&half)
            .unwrap();
        let o = Log::open(dir.path()).unwrap();
        assert_eq!(o.last_id, Some(3));
        assert_eq!(ids(&o.log), vec![1, 2, 3]);
        append(&o.log, &[4], 10);
        drop(o);
        let o = Log::open(dir.path()).unwrap();
        assert_eq!(ids(&o.log), vec![1, 2, 3, 4]);
        assert_eq!(o.log.damaged(), 0);
    }

    #[test]
    fn a_damaged_record_in_an_older_segment_ends_it_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = small(dir.path(), 1);
            append(&o.log, &[1, 2], 10);
            append(&o.log, &[3], 10);
        }
        let seg = dir.path().join(segment_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // the second record's payload
        std::fs::write(&seg, bytes).unwrap();
        let o = Log::open(dir.path()).unwrap();
        assert_eq!(ids(&o.log), vec![1, 3]);
        assert_eq!(o.log.damaged(), 1);
    }

    #[test]
    fn segments_go_once_acknowledged_but_the_newest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let o = small(dir.path(), 100);
        for id in 1..=6 {
            append(&o.log, &[id], 100);
        }
        assert_eq!(segments(dir.path()), 6);
        assert_eq!(o.log.ack(&[2, 1, 1]), 2);
        assert_eq!(segments(dir.path()), 4);
        assert_eq!(o.log.ack(&[3, 4, 5, 6]), 4);
        assert_eq!(segments(dir.path()), 1);
        assert_eq!(o.log.unacked(), 0);
        drop(o);
        let o = Log::open(dir.path()).unwrap();
        assert_eq!(o.last_id, Some(6));
        assert!(ids(&o.log).is_empty());
    }

    #[test]
    fn a_record_larger_than_a_read_comes_back_whole() {
        let log = Log::memory().log;
        append(&log, &[1], 10);
        append(&log, &[2], READ_CHUNK * 2);
        append(&log, &[3], 10);
        let got = log.read_after(None, 10).unwrap().0;
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(got[1].payload.len(), READ_CHUNK * 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(u8),
        Read(u8),
        Ack(Vec<u8>),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u8..5).prop_map(Op::Append),
            3 => (1u8..8).prop_map(Op::Read),
            2 => proptest::collection::vec(any::<u8>(), 0..4).prop_map(Op::Ack),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Against a model: the reader sees every unacknowledged id once, in order, with reads
        /// that go on where the last stopped; after a reopen (and a fresh read from the start)
        /// exactly the ids at or above the lowest unacknowledged one that were not acknowledged
        /// before it, plus any acknowledged out of order above it, come back.
        #[test]
        fn the_log_keeps_what_is_not_acknowledged(ops in proptest::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = small(dir.path(), 200).log;
            let mut next = 1u64;
            let mut written: Vec<u64> = Vec::new();
            let mut acked = std::collections::BTreeSet::new();
            let mut cursor: Option<u64> = None;
            for op in ops {
                match op {
                    Op::Append(n) => {
                        let batch: Vec<u64> = (next..next + u64::from(n)).collect();
                        next += u64::from(n);
                        append(&log, &batch, 40);
                        written.extend(&batch);
                    }
                    Op::Read(n) => {
                        let (got, read) = log.read_after(cursor, usize::from(n)).unwrap();
                        let want: Vec<u64> = written
                            .iter()
                            .copied()
                            .filter(|id| cursor.is_none_or(|c| *id > c) && !acked.contains(id))
                            .collect();
                        let got: Vec<u64> = got.iter().map(|e| e.id).collect();
                        prop_assert!(want.starts_with(&got), "got {got:?}, want a prefix of {want:?}");
                        if read.is_some() {
                            cursor = read;
                        }
                    }
                    Op::Ack(picks) => {
                        if written.is_empty() { continue; }
                        let ids: Vec<u64> = picks
                            .iter()
                            .map(|p| written[usize::from(*p) % written.len()])
                            .collect();
                        log.ack(&ids);
                        acked.extend(ids);
                    }
                    Op::Reopen => {
                        drop(log);
                        log = small(dir.path(), 200).log;
                        // The mark written is the lowest unacknowledged id: everything below
                        // it stays acknowledged; above it, out-of-order acks are forgotten.
                        let mark = written.iter().copied().find(|id| !acked.contains(id));
                        acked.retain(|id| mark.is_none_or(|m| *id < m));
                        cursor = None;
                    }
                }
                let unacked = written.iter().filter(|id| !acked.contains(id)).count() as u64;
                prop_assert_eq!(log.unacked(), unacked);
            }
            let all: Vec<u64> = ids(&log);
            let want: Vec<u64> = written.iter().copied().filter(|id| !acked.contains(id)).collect();
            prop_assert_eq!(all, want);
        }
    }
}
