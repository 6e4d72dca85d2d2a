//! Who is who on one gateway: uid -> clients, group -> clients, and each client's uid, groups
//! and session. A uid may have many clients (phone and tablet); a client has at most one uid
//! (binding again replaces it). Closing a client unbinds its uid and leaves its groups.
//!
//! Lock order: the gateway's directory lock first, then a client's meta lock.

use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// A client's session: a JSON object, kept with its encoded form so each event carries it
/// without re-serialising.
#[derive(Debug, Default)]
pub struct Session {
    map: Map<String, Value>,
    encoded: Bytes,
}

impl Session {
    /// The session as a JSON object.
    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The session as JSON bytes (empty when the map is empty).
    pub fn encoded(&self) -> Bytes {
        self.encoded.clone()
    }

    /// Replaces the whole session.
    pub fn set(&mut self, map: Map<String, Value>) {
        self.map = map;
        self.encode();
    }

    /// Sets the given keys, keeping the others.
    pub fn merge(&mut self, map: Map<String, Value>) {
        for (k, v) in map {
            self.map.insert(k, v);
        }
        self.encode();
    }

    fn encode(&mut self) {
        self.encoded = if self.map.is_empty() {
            Bytes::new()
        } else {
            Bytes::from(serde_json::to_vec(&self.map).unwrap_or_default())
        };
    }
}

/// What the gateway knows about one client beyond its socket.
#[derive(Debug, Default)]
pub struct Meta {
    /// The bound uid.
    pub uid: Option<String>,
    /// Groups joined.
    pub groups: Vec<String>,
    /// The session.
    pub session: Session,
}

/// The uid and group indexes of one gateway, by connection number.
#[derive(Debug, Default)]
pub struct Directory {
    uids: HashMap<String, BTreeSet<u32>>,
    groups: HashMap<String, BTreeSet<u32>>,
}

impl Directory {
    /// Records `conn` under `uid`.
    pub fn bind(&mut self, conn: u32, uid: &str) {
        self.uids.entry(uid.to_string()).or_default().insert(conn);
    }

    /// Removes `conn` from `uid`.
    pub fn unbind(&mut self, conn: u32, uid: &str) {
        if let Some(set) = self.uids.get_mut(uid) {
            set.remove(&conn);
            if set.is_empty() {
                self.uids.remove(uid);
            }
        }
    }

    /// Adds `conn` to `group`.
    pub fn join(&mut self, conn: u32, group: &str) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .insert(conn);
    }

    /// Removes `conn` from `group`.
    pub fn leave(&mut self, conn: u32, group: &str) {
        if let Some(set) = self.groups.get_mut(group) {
            set.remove(&conn);
            if set.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    /// Empties `group`; returns its former members.
    pub fn ungroup(&mut self, group: &str) -> BTreeSet<u32> {
        self.groups.remove(group).unwrap_or_default()
    }

    /// Connections bound to `uid`.
    pub fn clients_of_uid(&self, uid: &str) -> impl Iterator<Item = u32> + '_ {
        self.uids.get(uid).into_iter().flatten().copied()
    }

    /// Members of `group`.
    pub fn members(&self, group: &str) -> impl Iterator<Item = u32> + '_ {
        self.groups.get(group).into_iter().flatten().copied()
    }

    /// Every bound uid.
    pub fn uids(&self) -> impl Iterator<Item = &String> {
        self.uids.keys()
    }

    /// Every non-empty group.
    pub fn groups(&self) -> impl Iterator<Item = &String> {
        self.groups.keys()
    }
}
