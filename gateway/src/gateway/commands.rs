//! Executing workers' commands on one gateway: sends, closes, uid binding, groups, sessions.
//! Commands naming a client of another gateway, or a client already gone, are ignored (the
//! sender cannot know it closed a moment ago).

use super::client::{ClientHandle, Out};
use super::directory::{Directory, Meta};
use super::GatewayState;
use crate::client_id::ClientId;
use crate::proto::ToGateway;
use bytes::Bytes;
use codecs::Outbound;
use std::collections::BTreeSet;
use std::sync::{Arc, MutexGuard};

fn meta(c: &ClientHandle) -> MutexGuard<'_, Option<Box<Meta>>> {
    c.meta.lock().unwrap_or_else(|p| p.into_inner())
}

fn parse_object(
    client: ClientId,
    json: &[u8],
) -> Option<serde_json::Map<String, serde_json::Value>> {
    if json.is_empty() {
        return Some(Default::default());
    }
    match serde_json::from_slice(json) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => {
            tracing::warn!(%client, "session update is not a JSON object: ignored");
            None
        }
    }
}

impl GatewayState {
    pub(crate) fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Executes a command. (A `Query` is answered by its link, in parts: `answer_to`.)
    pub fn execute(&self, msg: ToGateway) {
        match msg {
            ToGateway::SendToClient { client, data } => {
                if !self.send_to_client(client, data) {
                    tracing::debug!(%client, "send_to_client: client not connected");
                }
            }
            ToGateway::CloseClient { client, last } => {
                if let Some(c) = self.client(client) {
                    c.close(Some(last));
                }
            }
            ToGateway::SendToAll {
                data,
                only,
                exclude,
            } => self.send_to_all(data, &only, &exclude),
            ToGateway::BindUid { client, uid } => self.bind_uid(client, &uid),
            ToGateway::UnbindUid { client, uid } => self.unbind_uid(client, &uid),
            ToGateway::JoinGroup { client, group } => self.join_group(client, &group),
            ToGateway::LeaveGroup { client, group } => self.leave_group(client, &group),
            ToGateway::Ungroup { group } => self.ungroup(&group),
            ToGateway::SendToUid { uids, data } => {
                let conns = {
                    let d = self.directory();
                    uids.iter()
                        .flat_map(|u| d.clients_of_uid(u))
                        .collect::<BTreeSet<_>>()
                };
                self.send_to_conns(conns, &data);
            }
            ToGateway::SendToGroup {
                groups,
                data,
                exclude,
            } => {
                let mut conns = {
                    let d = self.directory();
                    groups
                        .iter()
                        .flat_map(|g| d.members(g))
                        .collect::<BTreeSet<_>>()
                };
                for e in exclude.iter().filter(|e| e.gateway() == self.key) {
                    conns.remove(&e.conn);
                }
                self.send_to_conns(conns, &data);
            }
            ToGateway::CloseUid { uid, last } => {
                let conns: Vec<u32> = self.directory().clients_of_uid(&uid).collect();
                for c in conns.into_iter().filter_map(|c| self.client(self.id_of(c))) {
                    c.close(Some(last.clone()));
                }
            }
            ToGateway::SetSession { client, session } => self.set_session(client, &session, false),
            ToGateway::UpdateSession { client, session } => {
                self.set_session(client, &session, true)
            }
            other => tracing::warn!(?other, "gateway ignores a message that is not a command"),
        }
    }

    pub(crate) fn id_of(&self, conn: u32) -> ClientId {
        ClientId {
            ip: self.key.ip,
            port: self.key.port,
            conn,
        }
    }

    fn send_to_conns(&self, conns: BTreeSet<u32>, data: &Bytes) {
        for c in conns.into_iter().filter_map(|c| self.client(self.id_of(c))) {
            self.push(&c, Out::Send(Outbound::Data(data.clone())));
        }
    }

    fn send_to_all(&self, data: Bytes, only: &[ClientId], exclude: &[ClientId]) {
        if only.is_empty() {
            for c in self.all_clients() {
                if !exclude.contains(&c.id) {
                    self.push(&c, Out::Send(Outbound::Data(data.clone())));
                }
            }
        } else {
            for id in only.iter().filter(|id| !exclude.contains(id)) {
                self.send_to_client(*id, data.clone());
            }
        }
    }

    /// Binds `uid` to a client of this gateway, replacing its previous uid.
    pub fn bind_uid(&self, client: ClientId, uid: &str) {
        let Some(c) = self.client(client) else { return };
        let mut d = self.directory();
        let mut m = meta(&c);
        let m = m.get_or_insert_with(Default::default);
        if let Some(old) = m.uid.take() {
            d.unbind(client.conn, &old);
        }
        d.bind(client.conn, uid);
        m.uid = Some(uid.to_string());
    }

    fn unbind_uid(&self, client: ClientId, uid: &str) {
        let Some(c) = self.client(client) else { return };
        let mut d = self.directory();
        let mut m = meta(&c);
        if let Some(m) = m.as_mut().filter(|m| m.uid.as_deref() == Some(uid)) {
            m.uid = None;
            d.unbind(client.conn, uid);
        }
    }

    fn join_group(&self, client: ClientId, group: &str) {
        let Some(c) = self.client(client) else { return };
        let mut d = self.directory();
        let mut m = meta(&c);
        let m = m.get_or_insert_with(Default::default);
        if !m.groups.iter().any(|g| g == group) {
            m.groups.push(group.to_string());
            d.join(client.conn, group);
        }
    }

    fn leave_group(&self, client: ClientId, group: &str) {
        let Some(c) = self.client(client) else { return };
        let mut d = self.directory();
        let mut m = meta(&c);
        if let Some(m) = m.as_mut() {
            m.groups.retain(|g| g != group);
        }
        d.leave(client.conn, group);
    }

    fn ungroup(&self, group: &str) {
        let mut d = self.directory();
        for conn in d.ungroup(group) {
            if let Some(c) = self.client(self.id_of(conn)) {
                if let Some(m) = meta(&c).as_mut() {
                    m.groups.retain(|g| g != group);
                }
            }
        }
    }

    fn set_session(&self, client: ClientId, json: &[u8], merge: bool) {
        let Some(c) = self.client(client) else { return };
        let Some(map) = parse_object(client, json) else {
            return;
        };
        let mut m = meta(&c);
        let session = &mut m.get_or_insert_with(Default::default).session;
        if merge {
            session.merge(map);
        } else {
            session.set(map);
        }
    }

    /// Unbinds a closing client's uid and groups; returns its uid and last session.
    pub fn forget(&self, client: &Arc<ClientHandle>) -> (String, Bytes) {
        let mut d = self.directory();
        let Some(m) = meta(client).take() else {
            return (String::new(), Bytes::new());
        };
        if let Some(uid) = &m.uid {
            d.unbind(client.id.conn, uid);
        }
        for g in &m.groups {
            d.leave(client.id.conn, g);
        }
        (m.uid.unwrap_or_default(), m.session.encoded())
    }
}
