//! Queries about a gateway's own clients: each a typed request with a typed reply.
//!
//! On the wire a query is its kind byte and its arguments as strings (`Query` is a [`Field`]),
//! and a reply is JSON (`FromGateway::QueryReply`). Both are described once, in the `queries!`
//! table below: the kind code, the argument and the reply type of every query. A reply is read
//! as the type of the query it answers, so a garbled or mismatched reply is an error
//! ([`ReplyError`]), never a null taken for an answer.

pub use super::parts::{Paged, Pager, Parts, PART_BYTES};
use super::wire::{Field, PutExt, Reader, WireError};
use crate::client_id::ClientId;
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A client's session: a JSON object.
pub type Session = Map<String, Value>;

/// Why a query's reply could not be read as the reply to that query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("garbled reply to {kind:?}: {reason}")]
pub struct ReplyError {
    /// What was asked.
    pub kind: QueryKind,
    /// What was wrong with the reply.
    pub reason: String,
}

/// A query argument: how it is written as the query's strings and read back.
trait Arg: Sized {
    fn push(&self, args: &mut Vec<String>);
    /// Takes the argument from the front of `args`.
    fn take(args: &mut std::vec::IntoIter<String>) -> Result<Self, WireError>;
}

/// One client id, as its 20 hex characters.
impl Arg for ClientId {
    fn push(&self, args: &mut Vec<String>) {
        args.push(self.to_string());
    }
    fn take(args: &mut std::vec::IntoIter<String>) -> Result<Self, WireError> {
        let s = args.next().ok_or(WireError::Invalid("query args"))?;
        s.parse().map_err(|_| WireError::Invalid("query client id"))
    }
}

/// One string (a group).
impl Arg for String {
    fn push(&self, args: &mut Vec<String>) {
        args.push(self.clone());
    }
    fn take(args: &mut std::vec::IntoIter<String>) -> Result<Self, WireError> {
        args.next().ok_or(WireError::Invalid("query args"))
    }
}

/// Every string left (uids, groups).
impl Arg for Vec<String> {
    fn push(&self, args: &mut Vec<String>) {
        args.extend(self.iter().cloned());
    }
    fn take(args: &mut std::vec::IntoIter<String>) -> Result<Self, WireError> {
        Ok(args.collect())
    }
}

/// Declares every query once: its kind code, argument and reply type. Generates
/// [`QueryKind`], [`Query`] (with its wire codec) and [`Reply`] (with its JSON codec).
macro_rules! queries {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal $(($arg:ident: $argty:ty))? -> $reply:ty
    ),* $(,)?) => {
        /// What a query asks; the code travels as the query's kind byte.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum QueryKind {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl QueryKind {
            /// The kind for a wire code, if known.
            pub fn from_u8(v: u8) -> Option<QueryKind> {
                match v {
                    $( $code => Some(QueryKind::$variant), )*
                    _ => None,
                }
            }
        }

        /// A question to one gateway about its own clients, with its argument.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Query {
            $( $(#[$doc])* $variant $(($argty))?, )*
        }

        impl Query {
            /// What is asked.
            pub fn kind(&self) -> QueryKind {
                match self {
                    $( Query::$variant { .. } => QueryKind::$variant, )*
                }
            }

            fn args(&self) -> Vec<String> {
                let mut args = Vec::new();
                match self {
                    $( Query::$variant $(($arg))? => { $( Arg::push($arg, &mut args); )? } )*
                }
                args
            }

            fn from_args(kind: u8, args: Vec<String>) -> Result<Query, WireError> {
                let mut args = args.into_iter();
                let query = match kind {
                    $( $code => Query::$variant $((<$argty as Arg>::take(&mut args)?))?, )*
                    _ => return Err(WireError::Invalid("query kind")),
                };
                match args.next() {
                    None => Ok(query),
                    Some(_) => Err(WireError::Invalid("query args")),
                }
            }
        }

        /// A gateway's answer to one [`Query`], of the type that query asks for.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Reply {
            $( $(#[$doc])* $variant($reply), )*
        }

        impl Reply {
            /// What it answers.
            pub fn kind(&self) -> QueryKind {
                match self {
                    $( Reply::$variant(_) => QueryKind::$variant, )*
                }
            }

            /// The reply as JSON, for `QueryReply`.
            pub fn encode(&self) -> Bytes {
                let json = match self {
                    $( Reply::$variant(v) => serde_json::to_vec(v), )*
                };
                // Every reply type serializes (string keys, no non-finite floats).
                Bytes::from(json.unwrap_or_default())
            }

            /// Adds the items of `part`, the next part of the same answer (see [`Paged`]).
            pub fn absorb(&mut self, part: Reply) -> Result<(), ReplyError> {
                let kind = self.kind();
                let joined = match (self, part) {
                    $( (Reply::$variant(all), Reply::$variant(more)) => Paged::absorb(all, more), )*
                    _ => false,
                };
                if joined {
                    Ok(())
                } else {
                    Err(ReplyError {
                        kind,
                        reason: "a part that does not continue the answer".into(),
                    })
                }
            }

            /// The reply cut into parts of about `max` bytes of JSON (one part unless it is
            /// a list or a map).
            pub fn into_parts(self, max: usize) -> Parts<'static> {
                match self {
                    $( Reply::$variant(v) => Paged::into_parts(v, max), )*
                }
            }

            /// Reads `json` as the reply to a query of `kind`.
            pub fn decode(kind: QueryKind, json: &[u8]) -> Result<Reply, ReplyError> {
                let err = |e: serde_json::Error| ReplyError {
                    kind,
                    reason: e.to_string(),
                };
                Ok(match kind {
                    $( QueryKind::$variant => Reply::$variant(serde_json::from_slice(json).map_err(err)?), )*
                })
            }
        }
    };
}

queries! {
    /// Whether a client is connected. Reply: bool.
    IsOnline = 1 (client: ClientId) -> bool,
    /// A client's session. Reply: the session, `None` when not connected.
    Session = 2 (client: ClientId) -> Option<Session>,
    /// The uid bound to a client. Reply: the uid, `None` when none or not connected.
    UidOfClient = 3 (client: ClientId) -> Option<String>,
    /// The clients of these uids. Reply: {uid: [client id]} for uids with clients here.
    ClientsOfUids = 4 (uids: Vec<String>) -> BTreeMap<String, Vec<ClientId>>,
    /// Every bound uid. Reply: [uid].
    AllUids = 5 -> Vec<String>,
    /// Every non-empty group. Reply: [group].
    AllGroups = 6 -> Vec<String>,
    /// Client counts of these groups. Reply: {group: client count}.
    ClientCountOfGroups = 7 (groups: Vec<String>) -> BTreeMap<String, u64>,
    /// The clients of a group. Reply: [client id].
    ClientsOfGroup = 8 (group: String) -> Vec<ClientId>,
    /// The uids of a group's clients. Reply: [uid].
    UidsOfGroup = 9 (group: String) -> Vec<String>,
    /// The sessions of a group's clients. Reply: {client id: session}.
    SessionsOfGroup = 10 (group: String) -> BTreeMap<ClientId, Session>,
    /// Every client. Reply: [client id].
    AllClients = 11 -> Vec<ClientId>,
    /// Every client's session. Reply: {client id: session}.
    AllSessions = 12 -> BTreeMap<ClientId, Session>,
    /// The number of clients. Reply: the count.
    ClientCount = 13 -> u64,
    /// This gateway's live counts, for `devgate status`. Reply: [`StatusReport`].
    Status = 14 -> Box<StatusReport>,
}

/// `u8` kind, then `strs` arguments (client ids as hex, uids, groups). A kind this build does
/// not know, or arguments that do not fit the kind, are an error: the handshake's version
/// check keeps peers to the kinds they share.
impl Field for Query {
    fn put(&self, dst: &mut BytesMut) {
        (self.kind() as u8).put(dst);
        dst.put_str_list(&self.args());
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        let kind = r.u8(what)?;
        Query::from_args(kind, r.str_list(what)?)
    }
}

/// One gateway's live counts: the reply to [`Query::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The gateway's internal address, `ip:port`.
    pub gateway: String,
    /// Its configured name.
    pub name: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Live clients.
    pub clients: u64,
    /// Distinct bound uids.
    pub uids: u64,
    /// Groups with at least one member.
    pub groups: u64,
    /// The traffic and overflow counters by name (`accepted`, `messages_in`, ...).
    pub stats: BTreeMap<String, u64>,
    /// Events held for want of a worker; `None` while the hold queue is busy.
    pub held: Option<u64>,
    /// Events refused because the hold queue was full.
    pub held_overflows: u64,
    /// The linked workers.
    pub workers: Vec<WorkerStatus>,
}

/// A worker linked to a gateway, as its status reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The gateway's slot id for it (names may repeat).
    pub id: u64,
    /// The worker's name.
    pub name: String,
    /// Clients whose events go to it.
    pub clients: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_and_the_rest_are_unknown() {
        let known: Vec<u8> = (0..=u8::MAX)
            .filter(|&v| match QueryKind::from_u8(v) {
                Some(k) => {
                    assert_eq!(k as u8, v, "{k:?} decodes from the wrong code");
                    true
                }
                None => false,
            })
            .collect();
        assert_eq!(known, (1..=14).collect::<Vec<u8>>());
        assert_eq!(QueryKind::from_u8(14), Some(QueryKind::Status));
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_an_error_not_a_null() {
        for (kind, json) in [
            (QueryKind::IsOnline, &b"null"[..]),
            (QueryKind::IsOnline, b"[1]"),
            (QueryKind::ClientCount, b"\"3\""),
            (QueryKind::AllClients, b"[\"not a client id\"]"),
            (QueryKind::Session, b"{not json"),
            (QueryKind::Status, b"{}"),
        ] {
            let err = Reply::decode(kind, json).unwrap_err();
            assert_eq!(err.kind, kind);
        }
        assert_eq!(
            Reply::decode(QueryKind::Session, b"null"),
            Ok(Reply::Session(None))
        );
    }

    /// Every part of `parts`, checking that only the last says no more follow.
    fn all_parts(mut parts: Parts<'_>) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = Vec::new();
        while let Some((part, more)) = parts.next_part() {
            out.push(part);
            if !more {
                assert!(parts.next_part().is_none(), "a part after the last");
                break;
            }
        }
        out
    }

    /// The parts of `reply` cut at `max` bytes, read back and joined.
    fn round_trip(reply: Reply, max: usize) -> (Reply, Vec<Bytes>) {
        let kind = reply.kind();
        let parts = all_parts(reply.into_parts(max));
        let mut joined: Option<Reply> = None;
        for p in &parts {
            let part = Reply::decode(kind, p).unwrap();
            match &mut joined {
                Some(j) => j.absorb(part).unwrap(),
                None => joined = Some(part),
            }
        }
        (joined.unwrap(), parts)
    }

    #[test]
    fn a_list_answer_is_cut_between_items_and_joins_back_whole() {
        let uids: Vec<String> = (0..1000).map(|i| format!("uid-{i:04}")).collect();
        let (back, parts) = round_trip(Reply::AllUids(uids.clone()), 200);
        assert_eq!(back, Reply::AllUids(uids));
        assert!(parts.len() > 40, "{} parts", parts.len());
        // Each item is 11 bytes with its comma: a part closes before it would pass 200.
        assert!(parts.iter().all(|p| p.len() <= 200), "a part over the size");
    }

    #[test]
    fn a_map_answer_is_cut_between_entries_and_joins_back_whole() {
        let sessions: BTreeMap<ClientId, Session> = (0..300u32)
            .map(|conn| {
                let id = ClientId {
                    ip: std::net::Ipv4Addr::LOCALHOST,
                    port: 2900,
                    conn,
                };
                let mut s = Session::new();
                s.insert("n".into(), Value::from(conn));
                (id, s)
            })
            .collect();
        let (back, parts) = round_trip(Reply::AllSessions(sessions.clone()), 1024);
        assert_eq!(back, Reply::AllSessions(sessions));
        assert!(parts.len() > 5, "{} parts", parts.len());
    }

    #[test]
    fn an_empty_list_is_one_empty_part_and_an_item_over_the_size_is_a_part_alone() {
        assert_eq!(all_parts(Reply::AllGroups(vec![]).into_parts(10)), ["[]"]);
        let big = "x".repeat(50);
        let parts =
            all_parts(Reply::AllGroups(vec!["a".into(), big.clone(), "b".into()]).into_parts(10));
        assert_eq!(
            parts,
            ["[\"a\"]", format!("[\"{big}\"]").as_str(), "[\"b\"]"]
        );
    }

    #[test]
    fn a_one_part_answer_is_one_part_and_does_not_absorb_another() {
        let (back, parts) = round_trip(Reply::ClientCount(7), 1);
        assert_eq!((back, parts.len()), (Reply::ClientCount(7), 1));
        let mut one = Reply::IsOnline(true);
        assert!(one.absorb(Reply::IsOnline(false)).is_err());
        let mut list = Reply::AllUids(vec![]);
        assert!(
            list.absorb(Reply::AllGroups(vec![])).is_err(),
            "a part of another kind"
        );
    }

    #[test]
    fn arguments_that_do_not_fit_the_kind_are_an_error() {
        for (kind, args) in [
            (1, vec![]),
            (1, vec!["zz".to_string()]),
            (5, vec!["extra".to_string()]),
            (8, vec![]),
            (15, vec![]),
        ] {
            assert!(Query::from_args(kind, args).is_err());
        }
    }
}
