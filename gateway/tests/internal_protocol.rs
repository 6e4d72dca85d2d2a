//! The internal protocol's messages, every role: each round-trips through its codec, and a
//! truncated or corrupted frame is an error (or another well-formed message), never a panic.

use bytes::{Bytes, BytesMut};
use gateway::client_id::ClientId;
use gateway::proto::query::{Session, WorkerStatus};
use gateway::proto::{
    encode_frame, DataMeta, Fields, FromGateway, FromRegister, Handshake, LinkCodec, LinkMessage,
    Magic, Query, QueryKind, Reply, Role, StatusReport, ToGateway, ToRegister,
};
use proptest::prelude::*;
use std::fmt::Debug;
use tokio_util::codec::Decoder;

fn text() -> impl Strategy<Value = String> {
    ".{0,6}"
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn blob() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn client() -> impl Strategy<Value = ClientId> {
    (any::<u32>(), any::<u16>(), any::<u32>()).prop_map(|(ip, port, conn)| ClientId {
        ip: ip.into(),
        port,
        conn,
    })
}

fn clients() -> impl Strategy<Value = Vec<ClientId>> {
    prop::collection::vec(client(), 0..4)
}

fn nonce() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Gateway), Just(Role::Worker), Just(Role::Api)]
}

/// Data metadata as the decoder builds it: `None` when every part is empty.
fn meta() -> impl Strategy<Value = Option<Box<DataMeta>>> {
    (blob(), text(), blob())
        .prop_map(|(fields, uid, session)| DataMeta::boxed(Fields::from_json(fields), uid, session))
}

fn handshake() -> impl Strategy<Value = Handshake> {
    prop_oneof![
        (any::<u16>(), role(), nonce(), text()).prop_map(|(version, role, nonce, name)| {
            Handshake::Hello {
                magic: Magic,
                version,
                role,
                nonce,
                name,
            }
        }),
        (nonce(), nonce()).prop_map(|(nonce, proof)| Handshake::Challenge { nonce, proof }),
        nonce().prop_map(|proof| Handshake::Auth { proof }),
        Just(Handshake::AuthOk),
        text().prop_map(|reason| Handshake::Refused { reason }),
    ]
}

fn to_register() -> impl Strategy<Value = ToRegister> {
    prop_oneof![
        Just(ToRegister::Ping),
        Just(ToRegister::Pong),
        text().prop_map(|addr| ToRegister::GatewayAnnounce { addr }),
    ]
}

fn from_register() -> impl Strategy<Value = FromRegister> {
    prop_oneof![
        Just(FromRegister::Ping),
        Just(FromRegister::Pong),
        texts().prop_map(|addrs| FromRegister::GatewayList { addrs }),
    ]
}

fn from_gateway() -> impl Strategy<Value = FromGateway> {
    prop_oneof![
        Just(FromGateway::Ping),
        Just(FromGateway::Pong),
        (client(), text(), text()).prop_map(|(client, remote, protocol)| FromGateway::Connect {
            client,
            remote,
            protocol
        }),
        (client(), blob(), blob()).prop_map(|(client, request, session)| {
            FromGateway::WebSocketConnect {
                client,
                request,
                session,
            }
        }),
        (client(), blob(), meta(), text()).prop_map(|(client, data, meta, protocol)| {
            FromGateway::Data {
                client,
                data,
                meta,
                protocol: protocol.into(),
            }
        }),
        (client(), text(), blob(), text()).prop_map(|(client, uid, session, protocol)| {
            FromGateway::Close {
                client,
                uid,
                session,
                protocol: protocol.into(),
            }
        }),
        (client(), text()).prop_map(|(client, uid)| FromGateway::Identity { client, uid }),
        Just(FromGateway::Redelivered),
        Just(FromGateway::Released),
        (any::<u64>(), 0..=1u8, blob()).prop_map(|(id, more, result)| FromGateway::QueryReply {
            id,
            more,
            result
        }),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        client().prop_map(Query::IsOnline),
        client().prop_map(Query::Session),
        client().prop_map(Query::UidOfClient),
        texts().prop_map(Query::ClientsOfUids),
        Just(Query::AllUids),
        Just(Query::AllGroups),
        texts().prop_map(Query::ClientCountOfGroups),
        text().prop_map(Query::ClientsOfGroup),
        text().prop_map(Query::UidsOfGroup),
        text().prop_map(Query::SessionsOfGroup),
        Just(Query::AllClients),
        Just(Query::AllSessions),
        Just(Query::ClientCount),
        Just(Query::Status),
    ]
}

fn to_gateway() -> impl Strategy<Value = ToGateway> {
    let client_text = || (client(), text());
    let client_blob = || (client(), blob());
    prop_oneof![
        Just(ToGateway::Ping),
        Just(ToGateway::Pong),
        client_blob().prop_map(|(client, data)| ToGateway::SendToClient { client, data }),
        client_blob().prop_map(|(client, last)| ToGateway::CloseClient { client, last }),
        (blob(), clients(), clients()).prop_map(|(data, only, exclude)| ToGateway::SendToAll {
            data,
            only,
            exclude
        }),
        client_text().prop_map(|(client, uid)| ToGateway::BindUid { client, uid }),
        client_text().prop_map(|(client, uid)| ToGateway::UnbindUid { client, uid }),
        client_text().prop_map(|(client, group)| ToGateway::JoinGroup { client, group }),
        client_text().prop_map(|(client, group)| ToGateway::LeaveGroup { client, group }),
        text().prop_map(|group| ToGateway::Ungroup { group }),
        (texts(), blob()).prop_map(|(uids, data)| ToGateway::SendToUid { uids, data }),
        (texts(), blob(), clients()).prop_map(|(groups, data, exclude)| {
            ToGateway::SendToGroup {
                groups,
                data,
                exclude,
            }
        }),
        (text(), blob()).prop_map(|(uid, last)| ToGateway::CloseUid { uid, last }),
        client_blob().prop_map(|(client, session)| ToGateway::SetSession { client, session }),
        client_blob().prop_map(|(client, session)| ToGateway::UpdateSession { client, session }),
        (any::<u64>(), query()).prop_map(|(id, query)| ToGateway::Query { id, query }),
        any::<u64>().prop_map(|upto| ToGateway::Ack { upto }),
        any::<u64>().prop_map(|seq| ToGateway::EventRefused { seq }),
        Just(ToGateway::Leaving),
    ]
}

fn session() -> impl Strategy<Value = Session> {
    prop::collection::btree_map(text(), any::<i64>(), 0..3)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k, v.into())).collect())
}

fn status() -> impl Strategy<Value = StatusReport> {
    let worker = (any::<u64>(), text(), any::<u64>())
        .prop_map(|(id, name, clients)| WorkerStatus { id, name, clients });
    (
        (text(), text(), any::<[u64; 4]>()),
        prop::collection::btree_map(text(), any::<u64>(), 0..4),
        (any::<Option<u64>>(), any::<u64>()),
        prop::collection::vec(worker, 0..3),
    )
        .prop_map(
            |(
                (gateway, name, [uptime_secs, clients, uids, groups]),
                stats,
                (held, held_overflows),
                workers,
            )| {
                StatusReport {
                    gateway,
                    name,
                    uptime_secs,
                    clients,
                    uids,
                    groups,
                    stats,
                    held,
                    held_overflows,
                    workers,
                }
            },
        )
}

fn reply() -> impl Strategy<Value = Reply> {
    let sessions = || prop::collection::btree_map(client(), session(), 0..3);
    prop_oneof![
        any::<bool>().prop_map(Reply::IsOnline),
        prop::option::of(session()).prop_map(Reply::Session),
        prop::option::of(text()).prop_map(Reply::UidOfClient),
        prop::collection::btree_map(text(), clients(), 0..3).prop_map(Reply::ClientsOfUids),
        texts().prop_map(Reply::AllUids),
        texts().prop_map(Reply::AllGroups),
        prop::collection::btree_map(text(), any::<u64>(), 0..3)
            .prop_map(Reply::ClientCountOfGroups),
        clients().prop_map(Reply::ClientsOfGroup),
        texts().prop_map(Reply::UidsOfGroup),
        sessions().prop_map(Reply::SessionsOfGroup),
        clients().prop_map(Reply::AllClients),
        sessions().prop_map(Reply::AllSessions),
        any::<u64>().prop_map(Reply::ClientCount),
        status().prop_map(|s| Reply::Status(Box::new(s))),
    ]
}

/// One framed message.
fn frame<M: LinkMessage>(msg: &M) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(msg, &mut buf);
    buf
}

/// Every message in `bytes` as a link would read them, the stream ended after the last byte.
fn read_all<M: LinkMessage>(bytes: &[u8]) -> Result<Vec<M>, gateway::proto::LinkError> {
    let mut codec = LinkCodec::<M>::new(1024 * 1024);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = codec.decode_eof(&mut buf)? {
        out.push(m);
    }
    Ok(out)
}

/// The codec's promises for one message: it round-trips; every strict prefix of its frame
/// is an error at the end of the stream; a corrupted frame is an error or decodes to messages
/// that round-trip themselves.
fn check<M: LinkMessage + PartialEq + Clone + Debug>(msg: M, flip: (usize, u8)) {
    let buf = frame(&msg);
    assert_eq!(read_all::<M>(&buf).expect("decodes"), vec![msg.clone()]);
    let body = buf.clone().split_off(4).freeze();
    for cut in 0..body.len() {
        assert!(
            M::decode_body(body.slice(..cut)).is_err(),
            "{msg:?} cut at {cut}"
        );
    }
    for cut in 1..buf.len() {
        assert!(
            read_all::<M>(&buf[..cut]).is_err(),
            "{msg:?} frame cut at {cut}"
        );
    }
    let (at, xor) = flip;
    let mut bad = buf.to_vec();
    let at = at % bad.len();
    bad[at] ^= xor.max(1);
    if let Ok(msgs) = read_all::<M>(&bad) {
        for m in msgs {
            assert_eq!(read_all::<M>(&frame(&m)).expect("re-decodes"), vec![m]);
        }
    }
}

fn flip() -> impl Strategy<Value = (usize, u8)> {
    (any::<usize>(), any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_handshake_message_round_trips_and_breaks_cleanly(m in handshake(), f in flip()) {
        check(m, f);
    }

    #[test]
    fn every_message_to_a_register_round_trips_and_breaks_cleanly(m in to_register(), f in flip()) {
        check(m, f);
    }

    #[test]
    fn every_message_from_a_register_round_trips_and_breaks_cleanly(
        m in from_register(),
        f in flip(),
    ) {
        check(m, f);
    }

    #[test]
    fn every_message_from_a_gateway_round_trips_and_breaks_cleanly(
        m in from_gateway(),
        f in flip(),
    ) {
        check(m, f);
    }

    #[test]
    fn every_message_to_a_gateway_round_trips_and_breaks_cleanly(m in to_gateway(), f in flip()) {
        check(m, f);
    }

    #[test]
    fn every_reply_round_trips_as_the_reply_to_its_query(r in reply()) {
        prop_assert_eq!(Reply::decode(r.kind(), &r.encode()), Ok(r.clone()));
    }

    #[test]
    fn a_reply_read_as_another_querys_reply_is_an_error_or_that_type(
        r in reply(),
        code in 1u8..=14,
    ) {
        let Some(kind) = QueryKind::from_u8(code) else {
            return Err(TestCaseError::fail("a known code"));
        };
        if let Ok(other) = Reply::decode(kind, &r.encode()) {
            prop_assert_eq!(other.kind(), kind);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_role(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_all::<Handshake>(&bytes);
        let _ = read_all::<ToRegister>(&bytes);
        let _ = read_all::<FromRegister>(&bytes);
        let _ = read_all::<FromGateway>(&bytes);
        let _ = read_all::<ToGateway>(&bytes);
        for kind in (1..=14).filter_map(QueryKind::from_u8) {
            let _ = Reply::decode(kind, &bytes);
        }
    }
}

#[test]
fn a_data_event_keeps_its_bytes_shared_with_the_frame() {
    let client: ClientId = "7f00000100010000002a".parse().expect("a client id");
    let msg = FromGateway::Data {
        client,
        data: Bytes::from_static(b"payload"),
        meta: None,
        protocol: "text".into(),
    };
    let buf = frame(&msg).freeze();
    let range = buf.as_ptr_range();
    let Ok(FromGateway::Data { data, .. }) = FromGateway::decode_body(buf.slice(4..)) else {
        panic!("not data");
    };
    assert!(range.contains(&data.as_ptr()), "the payload was copied");
}
