//! The messages of the internal protocols and their byte layout (see docs/PROTOCOL.md).

use super::wire::{PutExt, Reader, WireError};
use crate::client_id::ClientId;
use bytes::{BufMut, Bytes, BytesMut};

/// What a connecting peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A gateway (to the register).
    Gateway = 1,
    /// A business worker (to the register or a gateway).
    Worker = 2,
    /// A standalone API client (GatewayClient).
    Client = 3,
}

impl Role {
    fn from_u8(v: u8) -> Result<Role, WireError> {
        match v {
            1 => Ok(Role::Gateway),
            2 => Ok(Role::Worker),
            3 => Ok(Role::Client),
            _ => Err(WireError::Invalid("role")),
        }
    }
}

/// What a `Data` event carries besides its bytes. Boxed in the message: most events of
/// anonymous clients carry none of it, and a small `Message` is cheaper to move through the
/// link and shard queues (it is moved some 20-35 times per round trip).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataMeta {
    /// Decoded device-family fields.
    pub fields: Fields,
    /// The uid bound to the client, empty when none.
    pub uid: String,
    /// The client's session as a JSON object, empty when none.
    pub session: Bytes,
}

/// A data event's decoded device-family fields: kept as the codec built them while the event
/// stays in this process (an inline worker takes them without a JSON round trip), written as
/// JSON only when it crosses a link.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fields {
    /// None decoded.
    #[default]
    None,
    /// As the codec decoded them.
    Value(serde_json::Value),
    /// As JSON, as they came over a link.
    Json(Bytes),
}

impl Fields {
    /// Fields as they came over a link: empty JSON means none.
    pub fn from_json(json: Bytes) -> Fields {
        if json.is_empty() {
            Fields::None
        } else {
            Fields::Json(json)
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        matches!(self, Fields::None)
    }

    /// The fields as JSON for the wire (empty when none).
    pub fn to_json(&self) -> Bytes {
        match self {
            Fields::None => Bytes::new(),
            Fields::Value(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            Fields::Json(b) => b.clone(),
        }
    }

    /// The fields as a value; `None` when there are none or their JSON does not parse.
    pub fn into_value(self) -> Option<serde_json::Value> {
        match self {
            Fields::None => None,
            Fields::Value(v) => Some(v),
            Fields::Json(b) => serde_json::from_slice(&b).ok(),
        }
    }
}

impl DataMeta {
    /// Boxed, or `None` when every part is empty.
    pub fn boxed(fields: Fields, uid: String, session: Bytes) -> Option<Box<DataMeta>> {
        if fields.is_empty() && uid.is_empty() && session.is_empty() {
            None
        } else {
            Some(Box::new(DataMeta {
                fields,
                uid,
                session,
            }))
        }
    }
}

/// Events a gateway forwards to a worker, and commands a worker sends back.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Connecting side opens: magic, version, role, its nonce, its name.
    Hello {
        /// Protocol version spoken.
        version: u16,
        /// What the connecting peer is.
        role: Role,
        /// Fresh random bytes for the challenge.
        nonce: [u8; 32],
        /// A name for logs.
        name: String,
    },
    /// Accepting side answers: its nonce and its proof that it knows the secret.
    Challenge {
        /// Fresh random bytes.
        nonce: [u8; 32],
        /// HMAC over both nonces, proving the accepting side knows the secret.
        proof: [u8; 32],
    },
    /// Connecting side proves it knows the secret.
    Auth {
        /// HMAC over both nonces and the role.
        proof: [u8; 32],
    },
    /// The link is authenticated and open.
    AuthOk,
    /// The accepting side refuses the link; the reason is for the peer's log.
    Refused {
        /// Why.
        reason: String,
    },
    /// Keep-alive request.
    Ping,
    /// Keep-alive answer.
    Pong,
    /// Gateway -> register: my internal address.
    GatewayAnnounce {
        /// `ip:port` that workers connect to.
        addr: String,
    },
    /// Register -> worker: the complete current gateway list.
    GatewayList {
        /// Internal addresses, `ip:port`.
        addrs: Vec<String>,
    },
    /// Gateway -> worker: a client connected.
    Connect {
        /// The new client.
        client: ClientId,
        /// The device's address, `ip:port`.
        remote: String,
        /// The listener's protocol name (`text`, `gt06`, ...).
        protocol: String,
    },
    /// Gateway -> worker: a WebSocket upgrade was accepted.
    WebSocketConnect {
        /// The client.
        client: ClientId,
        /// The upgrade request as JSON (path, query, headers).
        request: Bytes,
        /// The client's session as a JSON object, empty when none.
        session: Bytes,
    },
    /// Gateway -> worker: a message from a client.
    Data {
        /// The sender.
        client: ClientId,
        /// The message.
        data: Bytes,
        /// Fields, uid and session; `None` when all are empty.
        meta: Option<Box<DataMeta>>,
    },
    /// Gateway -> worker: the device's identity was bound as uid by its codec.
    Identity {
        /// The client.
        client: ClientId,
        /// The device id.
        uid: String,
    },
    /// Gateway -> worker: a client is gone.
    Close {
        /// The client.
        client: ClientId,
        /// The uid it had, empty when none.
        uid: String,
        /// Its last session, empty when none.
        session: Bytes,
    },
    /// Worker -> gateway: send to one client.
    SendToClient {
        /// The receiver.
        client: ClientId,
        /// The message.
        data: Bytes,
    },
    /// Worker -> gateway: close a client, optionally after a last message.
    CloseClient {
        /// The client.
        client: ClientId,
        /// Sent before closing when not empty.
        last: Bytes,
    },
    /// Worker -> gateway: send to every client of this gateway (or to a list), minus excludes.
    SendToAll {
        /// The message.
        data: Bytes,
        /// Only these clients, when not empty.
        only: Vec<ClientId>,
        /// Never these clients.
        exclude: Vec<ClientId>,
    },
    /// Worker -> gateway: bind a uid to a client (replacing its previous uid).
    BindUid {
        /// The client.
        client: ClientId,
        /// The uid.
        uid: String,
    },
    /// Worker -> gateway: unbind a uid from a client.
    UnbindUid {
        /// The client.
        client: ClientId,
        /// The uid.
        uid: String,
    },
    /// Worker -> gateway: a client joins a group.
    JoinGroup {
        /// The client.
        client: ClientId,
        /// The group.
        group: String,
    },
    /// Worker -> gateway: a client leaves a group.
    LeaveGroup {
        /// The client.
        client: ClientId,
        /// The group.
        group: String,
    },
    /// Worker -> every gateway: empty a group.
    Ungroup {
        /// The group.
        group: String,
    },
    /// Worker -> every gateway: send to every client of these uids.
    SendToUid {
        /// The uids.
        uids: Vec<String>,
        /// The message.
        data: Bytes,
    },
    /// Worker -> every gateway: send to every member of these groups, minus excludes.
    SendToGroup {
        /// The groups.
        groups: Vec<String>,
        /// The message.
        data: Bytes,
        /// Never these clients.
        exclude: Vec<ClientId>,
    },
    /// Worker -> every gateway: close every connection of a uid.
    CloseUid {
        /// The uid.
        uid: String,
        /// Sent before closing when not empty.
        last: Bytes,
    },
    /// Worker -> gateway: replace a client's session (a JSON object).
    SetSession {
        /// The client.
        client: ClientId,
        /// The new session.
        session: Bytes,
    },
    /// Worker -> gateway: merge keys into a client's session (a JSON object).
    UpdateSession {
        /// The client.
        client: ClientId,
        /// The keys to set.
        session: Bytes,
    },
    /// Worker or client -> gateway: a question; answered by `QueryReply` with the same id.
    Query {
        /// Chosen by the asker, echoed in the reply.
        id: u64,
        /// What is asked (see `QueryKind`).
        kind: u8,
        /// Arguments (client ids as hex, uids, groups).
        args: Vec<String>,
    },
    /// Gateway -> asker: the answer as JSON.
    QueryReply {
        /// The query's id.
        id: u64,
        /// The answer, JSON.
        result: Bytes,
    },
}

/// Highest protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Magic bytes opening every Hello.
pub const MAGIC: [u8; 4] = *b"DVGT";

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const CHALLENGE: u8 = 0x02;
    pub const AUTH: u8 = 0x03;
    pub const AUTH_OK: u8 = 0x04;
    pub const REFUSED: u8 = 0x05;
    pub const PING: u8 = 0x06;
    pub const PONG: u8 = 0x07;
    pub const GATEWAY_ANNOUNCE: u8 = 0x10;
    pub const GATEWAY_LIST: u8 = 0x11;
    pub const CONNECT: u8 = 0x20;
    pub const WEBSOCKET_CONNECT: u8 = 0x21;
    pub const DATA: u8 = 0x22;
    pub const CLOSE: u8 = 0x23;
    pub const IDENTITY: u8 = 0x24;
    pub const SEND_TO_CLIENT: u8 = 0x30;
    pub const CLOSE_CLIENT: u8 = 0x31;
    pub const SEND_TO_ALL: u8 = 0x32;
    pub const BIND_UID: u8 = 0x33;
    pub const UNBIND_UID: u8 = 0x34;
    pub const JOIN_GROUP: u8 = 0x35;
    pub const LEAVE_GROUP: u8 = 0x36;
    pub const UNGROUP: u8 = 0x37;
    pub const SEND_TO_UID: u8 = 0x38;
    pub const SEND_TO_GROUP: u8 = 0x39;
    pub const CLOSE_UID: u8 = 0x3a;
    pub const SET_SESSION: u8 = 0x3b;
    pub const UPDATE_SESSION: u8 = 0x3c;
    pub const QUERY: u8 = 0x40;
    pub const QUERY_REPLY: u8 = 0x41;
}

fn put_client(dst: &mut BytesMut, id: &ClientId) {
    dst.put_slice(&id.to_bytes());
}

fn get_client(r: &mut Reader) -> Result<ClientId, WireError> {
    Ok(ClientId::from_bytes(r.array("client id")?))
}

fn client_str(dst: &mut BytesMut, k: u8, client: &ClientId, s: &str) {
    dst.put_u8(k);
    put_client(dst, client);
    dst.put_str16(s);
}

fn put_clients(dst: &mut BytesMut, ids: &[ClientId]) {
    dst.put_u32(ids.len() as u32);
    for id in ids {
        put_client(dst, id);
    }
}

fn get_clients(r: &mut Reader) -> Result<Vec<ClientId>, WireError> {
    let n = r.u32("client list")? as usize;
    if n > r.remaining() / ClientId::WIRE_LEN {
        return Err(WireError::Invalid("client list length"));
    }
    (0..n).map(|_| get_client(r)).collect()
}

impl Message {
    /// Appends the message body (kind byte first) to `dst`; framing is the caller's.
    pub fn encode_body(&self, dst: &mut BytesMut) {
        match self {
            Message::Hello {
                version,
                role,
                nonce,
                name,
            } => {
                dst.put_u8(kind::HELLO);
                dst.put_slice(&MAGIC);
                dst.put_u16(*version);
                dst.put_u8(*role as u8);
                dst.put_slice(nonce);
                dst.put_str16(name);
            }
            Message::Challenge { nonce, proof } => {
                dst.put_u8(kind::CHALLENGE);
                dst.put_slice(nonce);
                dst.put_slice(proof);
            }
            Message::Auth { proof } => {
                dst.put_u8(kind::AUTH);
                dst.put_slice(proof);
            }
            Message::AuthOk => dst.put_u8(kind::AUTH_OK),
            Message::Refused { reason } => {
                dst.put_u8(kind::REFUSED);
                dst.put_str16(reason);
            }
            Message::Ping => dst.put_u8(kind::PING),
            Message::Pong => dst.put_u8(kind::PONG),
            Message::GatewayAnnounce { addr } => {
                dst.put_u8(kind::GATEWAY_ANNOUNCE);
                dst.put_str16(addr);
            }
            Message::GatewayList { addrs } => {
                dst.put_u8(kind::GATEWAY_LIST);
                dst.put_str_list(addrs);
            }
            Message::Connect {
                client,
                remote,
                protocol,
            } => {
                dst.put_u8(kind::CONNECT);
                put_client(dst, client);
                dst.put_str16(remote);
                dst.put_str16(protocol);
            }
            Message::WebSocketConnect {
                client,
                request,
                session,
            } => {
                dst.put_u8(kind::WEBSOCKET_CONNECT);
                put_client(dst, client);
                dst.put_blob(request);
                dst.put_blob(session);
            }
            Message::Data { client, data, meta } => {
                dst.put_u8(kind::DATA);
                put_client(dst, client);
                dst.put_blob(data);
                match meta {
                    Some(m) => {
                        dst.put_blob(&m.fields.to_json());
                        dst.put_str16(&m.uid);
                        dst.put_blob(&m.session);
                    }
                    None => {
                        dst.put_blob(&[]);
                        dst.put_str16("");
                        dst.put_blob(&[]);
                    }
                }
            }
            Message::Identity { client, uid } => {
                dst.put_u8(kind::IDENTITY);
                put_client(dst, client);
                dst.put_str16(uid);
            }
            Message::Close {
                client,
                uid,
                session,
            } => {
                dst.put_u8(kind::CLOSE);
                put_client(dst, client);
                dst.put_str16(uid);
                dst.put_blob(session);
            }
            Message::SendToClient { client, data } => {
                dst.put_u8(kind::SEND_TO_CLIENT);
                put_client(dst, client);
                dst.put_blob(data);
            }
            Message::CloseClient { client, last } => {
                dst.put_u8(kind::CLOSE_CLIENT);
                put_client(dst, client);
                dst.put_blob(last);
            }
            Message::SendToAll {
                data,
                only,
                exclude,
            } => {
                dst.put_u8(kind::SEND_TO_ALL);
                dst.put_blob(data);
                put_clients(dst, only);
                put_clients(dst, exclude);
            }
            Message::BindUid { client, uid } => client_str(dst, kind::BIND_UID, client, uid),
            Message::UnbindUid { client, uid } => client_str(dst, kind::UNBIND_UID, client, uid),
            Message::JoinGroup { client, group } => {
                client_str(dst, kind::JOIN_GROUP, client, group)
            }
            Message::LeaveGroup { client, group } => {
                client_str(dst, kind::LEAVE_GROUP, client, group)
            }
            Message::Ungroup { group } => {
                dst.put_u8(kind::UNGROUP);
                dst.put_str16(group);
            }
            Message::SendToUid { uids, data } => {
                dst.put_u8(kind::SEND_TO_UID);
                dst.put_str_list(uids);
                dst.put_blob(data);
            }
            Message::SendToGroup {
                groups,
                data,
                exclude,
            } => {
                dst.put_u8(kind::SEND_TO_GROUP);
                dst.put_str_list(groups);
                dst.put_blob(data);
                put_clients(dst, exclude);
            }
            Message::CloseUid { uid, last } => {
                dst.put_u8(kind::CLOSE_UID);
                dst.put_str16(uid);
                dst.put_blob(last);
            }
            Message::SetSession { client, session } => {
                dst.put_u8(kind::SET_SESSION);
                put_client(dst, client);
                dst.put_blob(session);
            }
            Message::UpdateSession { client, session } => {
                dst.put_u8(kind::UPDATE_SESSION);
                put_client(dst, client);
                dst.put_blob(session);
            }
            Message::Query { id, kind: k, args } => {
                dst.put_u8(kind::QUERY);
                dst.put_u64(*id);
                dst.put_u8(*k);
                dst.put_str_list(args);
            }
            Message::QueryReply { id, result } => {
                dst.put_u8(kind::QUERY_REPLY);
                dst.put_u64(*id);
                dst.put_blob(result);
            }
        }
    }

    /// Reads one message from a complete frame body (kind byte first).
    pub fn decode_body(body: Bytes) -> Result<Message, WireError> {
        let mut r = Reader::new(body);
        let msg = match r.u8("kind")? {
            kind::HELLO => {
                if r.array::<4>("magic")? != MAGIC {
                    return Err(WireError::Invalid("magic"));
                }
                Message::Hello {
                    version: r.u16("version")?,
                    role: Role::from_u8(r.u8("role")?)?,
                    nonce: r.array("nonce")?,
                    name: r.str16("name")?,
                }
            }
            kind::CHALLENGE => Message::Challenge {
                nonce: r.array("nonce")?,
                proof: r.array("proof")?,
            },
            kind::AUTH => Message::Auth {
                proof: r.array("proof")?,
            },
            kind::AUTH_OK => Message::AuthOk,
            kind::REFUSED => Message::Refused {
                reason: r.str16("reason")?,
            },
            kind::PING => Message::Ping,
            kind::PONG => Message::Pong,
            kind::GATEWAY_ANNOUNCE => Message::GatewayAnnounce {
                addr: r.str16("addr")?,
            },
            kind::GATEWAY_LIST => Message::GatewayList {
                addrs: r.str_list("addrs")?,
            },
            kind::CONNECT => Message::Connect {
                client: get_client(&mut r)?,
                remote: r.str16("remote")?,
                protocol: r.str16("protocol")?,
            },
            kind::WEBSOCKET_CONNECT => Message::WebSocketConnect {
                client: get_client(&mut r)?,
                request: r.blob("request")?,
                session: r.blob("session")?,
            },
            kind::DATA => Message::Data {
                client: get_client(&mut r)?,
                data: r.blob("data")?,
                meta: DataMeta::boxed(
                    Fields::from_json(r.blob("fields")?),
                    r.str16("uid")?,
                    r.blob("session")?,
                ),
            },
            kind::IDENTITY => Message::Identity {
                client: get_client(&mut r)?,
                uid: r.str16("uid")?,
            },
            kind::CLOSE => Message::Close {
                client: get_client(&mut r)?,
                uid: r.str16("uid")?,
                session: r.blob("session")?,
            },
            kind::SEND_TO_CLIENT => Message::SendToClient {
                client: get_client(&mut r)?,
                data: r.blob("data")?,
            },
            kind::CLOSE_CLIENT => Message::CloseClient {
                client: get_client(&mut r)?,
                last: r.blob("last")?,
            },
            kind::SEND_TO_ALL => Message::SendToAll {
                data: r.blob("data")?,
                only: get_clients(&mut r)?,
                exclude: get_clients(&mut r)?,
            },
            kind::BIND_UID => Message::BindUid {
                client: get_client(&mut r)?,
                uid: r.str16("uid")?,
            },
            kind::UNBIND_UID => Message::UnbindUid {
                client: get_client(&mut r)?,
                uid: r.str16("uid")?,
            },
            kind::JOIN_GROUP => Message::JoinGroup {
                client: get_client(&mut r)?,
                group: r.str16("group")?,
            },
            kind::LEAVE_GROUP => Message::LeaveGroup {
                client: get_client(&mut r)?,
                group: r.str16("group")?,
            },
            kind::UNGROUP => Message::Ungroup {
                group: r.str16("group")?,
            },
            kind::SEND_TO_UID => Message::SendToUid {
                uids: r.str_list("uids")?,
                data: r.blob("data")?,
            },
            kind::SEND_TO_GROUP => Message::SendToGroup {
                groups: r.str_list("groups")?,
                data: r.blob("data")?,
                exclude: get_clients(&mut r)?,
            },
            kind::CLOSE_UID => Message::CloseUid {
                uid: r.str16("uid")?,
                last: r.blob("last")?,
            },
            kind::SET_SESSION => Message::SetSession {
                client: get_client(&mut r)?,
                session: r.blob("session")?,
            },
            kind::UPDATE_SESSION => Message::UpdateSession {
                client: get_client(&mut r)?,
                session: r.blob("session")?,
            },
            kind::QUERY => Message::Query {
                id: r.u64("id")?,
                kind: r.u8("query kind")?,
                args: r.str_list("args")?,
            },
            kind::QUERY_REPLY => Message::QueryReply {
                id: r.u64("id")?,
                result: r.blob("result")?,
            },
            _ => return Err(WireError::Invalid("message kind")),
        };
        r.finish()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_id::ClientId;

    #[test]
    fn a_message_stays_small_enough_to_move_cheaply() {
        // Every event is moved many times through queues and futures; the largest variants
        // (SendToAll, SendToGroup, WebSocketConnect) are 80 bytes of fields.
        assert!(
            std::mem::size_of::<Message>() <= 88,
            "{}",
            std::mem::size_of::<Message>()
        );
    }

    #[test]
    fn data_without_meta_and_with_meta_round_trip_on_the_same_wire_layout() {
        let client = ClientId {
            ip: std::net::Ipv4Addr::LOCALHOST,
            port: 2900,
            conn: 7,
        };
        for meta in [
            None,
            DataMeta::boxed(
                Fields::Json(Bytes::from_static(b"{}")),
                "u1".into(),
                Bytes::new(),
            ),
        ] {
            let msg = Message::Data {
                client,
                data: Bytes::from_static(b"hi"),
                meta,
            };
            let mut buf = bytes::BytesMut::new();
            msg.encode_body(&mut buf);
            assert_eq!(Message::decode_body(buf.freeze()).ok(), Some(msg));
        }
    }
}
