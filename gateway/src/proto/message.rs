//! The messages of the internal protocols, one type per link role, and their byte layout
//! (see docs/PROTOCOL.md).
//!
//! Each message is described once, in a `messages!` table: its kind byte and its fields in wire
//! order. The enum, its encoder and its decoder are generated from that table, and every field
//! type has one [`Field`] codec, so the two directions cannot disagree.

use super::query::Query;
use super::wire::{Field, Reader, WireError};
use crate::client_id::ClientId;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt::Debug;
use std::sync::Arc;

/// What a connecting peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A gateway (to the register).
    Gateway = 1,
    /// A business worker (to the register or a gateway).
    Worker = 2,
    /// A program that only calls the API ([`StandaloneApi`](crate::StandaloneApi)): sends
    /// commands and queries, receives no events. The wire calls it "client" (byte 3).
    Api = 3,
}

impl Field for Role {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_u8(*self as u8);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        match r.u8(what)? {
            1 => Ok(Role::Gateway),
            2 => Ok(Role::Worker),
            3 => Ok(Role::Api),
            _ => Err(WireError::Invalid(what)),
        }
    }
}

/// What a `Data` event carries besides its bytes. Boxed in the message: most events of
/// anonymous clients carry none of it, and a small message is cheaper to move through the
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

/// `[4]` `DVGT`: opens every `Hello`, so a peer speaking something else is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Magic;

/// Magic bytes opening every Hello.
pub const MAGIC: [u8; 4] = *b"DVGT";

impl Field for Magic {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_slice(&MAGIC);
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        if r.array::<4>(what)? == MAGIC {
            Ok(Magic)
        } else {
            Err(WireError::Invalid(what))
        }
    }
}

/// `client`: the 10-byte binary form of a client id.
impl Field for ClientId {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.to_bytes());
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        Ok(ClientId::from_bytes(r.array(what)?))
    }
}

/// `clients`: a u32 count checked against the bytes left, then that many `client`.
impl Field for Vec<ClientId> {
    fn put(&self, dst: &mut BytesMut) {
        dst.put_u32(self.len() as u32);
        for id in self {
            id.put(dst);
        }
    }
    fn get(r: &mut Reader, what: &'static str) -> Result<Self, WireError> {
        let n = r.u32(what)? as usize;
        if n > r.remaining() / ClientId::WIRE_LEN {
            return Err(WireError::Invalid(what));
        }
        (0..n).map(|_| ClientId::get(r, what)).collect()
    }
}

/// A data event's `blob` fields, `str16` uid and `blob` session; all empty is `None`.
impl Field for Option<Box<DataMeta>> {
    fn put(&self, dst: &mut BytesMut) {
        match self {
            Some(m) => {
                m.fields.to_json().put(dst);
                m.uid.put(dst);
                m.session.put(dst);
            }
            None => {
                Bytes::new().put(dst);
                String::new().put(dst);
                Bytes::new().put(dst);
            }
        }
    }
    fn get(r: &mut Reader, _: &'static str) -> Result<Self, WireError> {
        Ok(DataMeta::boxed(
            Fields::from_json(Bytes::get(r, "fields")?),
            String::get(r, "uid")?,
            Bytes::get(r, "session")?,
        ))
    }
}

/// The messages of one link role: written into and read from a frame body (kind byte first).
pub trait LinkMessage: Sized + Debug + Send + 'static {
    /// Appends the message body (kind byte first) to `dst`; framing is the caller's.
    fn encode_body(&self, dst: &mut BytesMut);
    /// Reads one message from a complete frame body (kind byte first); a kind this role does
    /// not carry is an error.
    fn decode_body(body: Bytes) -> Result<Self, WireError>;
    /// The message's name, for logs and handshake errors.
    fn name(&self) -> &'static str;
}

/// The messages of a link that stays open: `Ping` and `Pong` keep it alive.
pub trait KeepAlive: LinkMessage {
    /// The keep-alive request.
    fn ping() -> Self;
    /// The keep-alive answer.
    fn pong() -> Self;
    /// Whether this is `Ping`.
    fn is_ping(&self) -> bool;
    /// Whether this is `Pong`.
    fn is_pong(&self) -> bool;
}

/// Declares one link role's messages: the enum, and its [`LinkMessage`] codec generated from
/// each variant's kind byte and fields (in wire order, each a [`Field`]). A role declared
/// `with liveness` also carries `Ping` and `Pong` and implements [`KeepAlive`].
macro_rules! messages {
    (
        $(#[$meta:meta])*
        pub enum $name:ident with liveness { $($body:tt)* }
    ) => {
        messages! {
            $(#[$meta])*
            pub enum $name {
                /// Keep-alive request.
                Ping = 0x06,
                /// Keep-alive answer.
                Pong = 0x07,
                $($body)*
            }
        }
        impl KeepAlive for $name {
            fn ping() -> Self {
                $name::Ping
            }
            fn pong() -> Self {
                $name::Pong
            }
            fn is_ping(&self) -> bool {
                matches!(self, $name::Ping)
            }
            fn is_pong(&self) -> bool {
                matches!(self, $name::Pong)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $kind:literal $({
                    $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant $({ $( $(#[$fmeta])* $field: $ty ),* })? ),*
        }

        impl LinkMessage for $name {
            fn encode_body(&self, dst: &mut BytesMut) {
                match self {
                    $( $name::$variant $({ $($field),* })? => {
                        dst.put_u8($kind);
                        $( $( Field::put($field, dst); )* )?
                    } )*
                }
            }

            fn decode_body(body: Bytes) -> Result<Self, WireError> {
                let mut r = Reader::new(body);
                let msg = match r.u8("kind")? {
                    $( $kind => $name::$variant $({ $(
                        $field: <$ty as Field>::get(&mut r, stringify!($field))?
                    ),* })?, )*
                    _ => return Err(WireError::Invalid("message kind")),
                };
                r.finish()?;
                Ok(msg)
            }

            fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => stringify!($variant), )*
                }
            }
        }
    };
}

messages! {
    /// The handshake that opens every link (see `auth`).
    pub enum Handshake {
        /// Connecting side opens: magic, version, role, its nonce, its name.
        Hello = 0x01 {
            /// `DVGT`.
            magic: Magic,
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
        Challenge = 0x02 {
            /// Fresh random bytes.
            nonce: [u8; 32],
            /// HMAC over both nonces, proving the accepting side knows the secret.
            proof: [u8; 32],
        },
        /// Connecting side proves it knows the secret.
        Auth = 0x03 {
            /// HMAC over both nonces and the role.
            proof: [u8; 32],
        },
        /// The link is authenticated and open.
        AuthOk = 0x04,
        /// Either side refuses the link; the reason is for the peer's log.
        Refused = 0x05 {
            /// Why.
            reason: String,
        },
    }
}

messages! {
    /// What a gateway, worker or standalone API sends its register.
    pub enum ToRegister with liveness {
        /// Gateway -> register: my internal address.
        GatewayAnnounce = 0x10 {
            /// `ip:port` that workers connect to.
            addr: String,
        },
    }
}

messages! {
    /// What a register sends the peers linked to it.
    pub enum FromRegister with liveness {
        /// Register -> worker or standalone API: the complete current gateway list.
        GatewayList = 0x11 {
            /// Internal addresses, `ip:port`.
            addrs: Vec<String>,
        },
    }
}

messages! {
    /// What a gateway sends a worker or standalone API: client events (to workers only) and
    /// answers to queries.
    pub enum FromGateway with liveness {
        /// A client connected.
        Connect = 0x20 {
            /// The new client.
            client: ClientId,
            /// The device's address, `ip:port`.
            remote: String,
            /// The listener's protocol name (`text`, `gt06`, ...).
            protocol: String,
        },
        /// A WebSocket upgrade was accepted.
        WebSocketConnect = 0x21 {
            /// The client.
            client: ClientId,
            /// The upgrade request as JSON (path, query, headers).
            request: Bytes,
            /// The client's session as a JSON object, empty when none.
            session: Bytes,
        },
        /// A message from a client.
        Data = 0x22 {
            /// The sender.
            client: ClientId,
            /// The message.
            data: Bytes,
            /// Fields, uid and session; `None` when all are empty.
            meta: Option<Box<DataMeta>>,
            /// The listener's protocol: with every event, so that a worker that did not get
            /// the client's `Connect` (it took the client over from a dead one) knows it too.
            protocol: Arc<str>,
        },
        /// A client is gone.
        Close = 0x23 {
            /// The client.
            client: ClientId,
            /// The uid it had, empty when none.
            uid: String,
            /// Its last session, empty when none.
            session: Bytes,
            /// The listener's protocol (as in `Data`).
            protocol: Arc<str>,
        },
        /// The device's identity was bound as uid by its codec.
        Identity = 0x24 {
            /// The client.
            client: ClientId,
            /// The device id.
            uid: String,
        },
        /// Marks the next event: it was sent before to a worker that died without acknowledging
        /// it, so its effects may have happened already (see `Context::redelivered`).
        Redelivered = 0x25,
        /// Answers `ToGateway::Leaving` once every event sent to the worker is acknowledged and
        /// its clients have moved on: nothing more comes on this link.
        Released = 0x26,
        /// One part of the answer to a `Query`, as JSON of the reply type of what was asked
        /// (see `query::Reply::decode`): a list or map answer comes in parts of about
        /// `query::PART_BYTES`, each a valid reply holding some of the items, in order; the
        /// asker merges them (`query::Reply::absorb`). Every other answer is one part.
        QueryReply = 0x41 {
            /// The query's id.
            id: u64,
            /// 1 when more parts of this answer follow, 0 on its last part.
            more: u8,
            /// This part of the answer, JSON.
            result: Bytes,
        },
    }
}

messages! {
    /// What a worker or standalone API sends a gateway: commands and queries.
    pub enum ToGateway with liveness {
        /// Send to one client.
        SendToClient = 0x30 {
            /// The receiver.
            client: ClientId,
            /// The message.
            data: Bytes,
        },
        /// Close a client, optionally after a last message.
        CloseClient = 0x31 {
            /// The client.
            client: ClientId,
            /// Sent before closing when not empty.
            last: Bytes,
        },
        /// Send to every client of this gateway (or to a list), minus excludes.
        SendToAll = 0x32 {
            /// The message.
            data: Bytes,
            /// Only these clients, when not empty.
            only: Vec<ClientId>,
            /// Never these clients.
            exclude: Vec<ClientId>,
        },
        /// Bind a uid to a client (replacing its previous uid).
        BindUid = 0x33 {
            /// The client.
            client: ClientId,
            /// The uid.
            uid: String,
        },
        /// Unbind a uid from a client.
        UnbindUid = 0x34 {
            /// The client.
            client: ClientId,
            /// The uid.
            uid: String,
        },
        /// A client joins a group.
        JoinGroup = 0x35 {
            /// The client.
            client: ClientId,
            /// The group.
            group: String,
        },
        /// A client leaves a group.
        LeaveGroup = 0x36 {
            /// The client.
            client: ClientId,
            /// The group.
            group: String,
        },
        /// Sent to every gateway: empty a group.
        Ungroup = 0x37 {
            /// The group.
            group: String,
        },
        /// Sent to every gateway: send to every client of these uids.
        SendToUid = 0x38 {
            /// The uids.
            uids: Vec<String>,
            /// The message.
            data: Bytes,
        },
        /// Sent to every gateway: send to every member of these groups, minus excludes.
        SendToGroup = 0x39 {
            /// The groups.
            groups: Vec<String>,
            /// The message.
            data: Bytes,
            /// Never these clients.
            exclude: Vec<ClientId>,
        },
        /// Sent to every gateway: close every connection of a uid.
        CloseUid = 0x3a {
            /// The uid.
            uid: String,
            /// Sent before closing when not empty.
            last: Bytes,
        },
        /// Replace a client's session (a JSON object).
        SetSession = 0x3b {
            /// The client.
            client: ClientId,
            /// The new session.
            session: Bytes,
        },
        /// Merge keys into a client's session (a JSON object).
        UpdateSession = 0x3c {
            /// The client.
            client: ClientId,
            /// The keys to set.
            session: Bytes,
        },
        /// A question; answered by `FromGateway::QueryReply` with the same id.
        Query = 0x40 {
            /// Chosen by the asker, echoed in the reply.
            id: u64,
            /// What is asked, with its arguments.
            query: Query,
        },
        /// Worker -> gateway: every event of this link up to number `upto` (events count from
        /// 1 in the order the link carried them) is handled and may be forgotten.
        Ack = 0x42 {
            /// The last event handled, with every one before it.
            upto: u64,
        },
        /// Worker -> gateway: event number `seq` of this link could not be handled; its client
        /// is closed without confirming it, so the device sends it again.
        EventRefused = 0x43 {
            /// The event's number on the link.
            seq: u64,
        },
        /// Worker -> gateway: the worker is stopping; route nothing new to it, and answer
        /// `FromGateway::Released` once what it was sent is acknowledged.
        Leaving = 0x44,
    }
}

/// The protocol version this build speaks (2: events are numbered and acknowledged; 3: query
/// answers come in parts).
pub const PROTOCOL_VERSION: u16 = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_id::ClientId;

    #[test]
    fn a_message_stays_small_enough_to_move_cheaply() {
        // Every event and command is moved many times through queues and futures; the largest
        // variants (SendToAll, SendToGroup, WebSocketConnect) are 80 bytes of fields.
        for size in [
            std::mem::size_of::<FromGateway>(),
            std::mem::size_of::<ToGateway>(),
        ] {
            assert!(size <= 88, "{size}");
        }
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
            let msg = FromGateway::Data {
                client,
                data: Bytes::from_static(b"hi"),
                meta,
                protocol: "text".into(),
            };
            let mut buf = bytes::BytesMut::new();
            msg.encode_body(&mut buf);
            assert_eq!(FromGateway::decode_body(buf.freeze()).ok(), Some(msg));
        }
    }

    #[test]
    fn a_kind_of_another_role_is_an_error() {
        let mut buf = BytesMut::new();
        ToGateway::Ungroup { group: "g".into() }.encode_body(&mut buf);
        assert_eq!(
            FromGateway::decode_body(buf.freeze()),
            Err(WireError::Invalid("message kind"))
        );
    }
}
