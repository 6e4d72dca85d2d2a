//! The API against a fake gateway: call futures stay small, replies are read as typed.

use super::*;
use crate::proto::QueryKind;
use tokio::sync::mpsc;

#[test]
fn an_api_call_future_stays_small() {
    // Every handler's future holds its API calls' futures and is moved once or more per
    // event: with the link's send future inline, send_to_client was 648 bytes.
    let api = Api::new();
    let client: ClientId = "7f00000100010000002a".parse().unwrap();
    let send = api.send_to_client(client, Bytes::new());
    assert!(
        std::mem::size_of_val(&send) <= 128,
        "{}",
        std::mem::size_of_val(&send)
    );
}

/// An API linked to one fake gateway that answers every query with `reply`; the fake
/// answers each query as it arrives, so no timer is involved.
fn answered_with(reply: &'static [u8]) -> (Api, GatewayKey, ClientId) {
    answered_in_parts(vec![reply], true)
}

/// An API linked to one fake gateway that answers every query with these parts, in order,
/// the last one marked last when `last`.
fn answered_in_parts(parts: Vec<&'static [u8]>, last: bool) -> (Api, GatewayKey, ClientId) {
    let client: ClientId = "7f00000100010000002a".parse().unwrap();
    let key = client.gateway();
    let api = Api::new();
    let (tx, mut rx) = mpsc::channel(8);
    api.set_link(key, GatewayLink::Remote(tx));
    api.set_listed([key].into());
    let gateway = api.clone();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if let ToGateway::Query { id, .. } = msg {
                for (i, part) in parts.iter().enumerate() {
                    let more = i + 1 < parts.len() || !last;
                    gateway.query_part(id, more, Bytes::from_static(part));
                }
            }
        }
    });
    (api, key, client)
}

#[tokio::test]
async fn an_answer_in_parts_is_joined_in_order() {
    let (api, _, _) = answered_in_parts(vec![b"[\"a\",\"b\"]", b"[]", b"[\"c\"]"], true);
    let uids = api.get_all_uid_list().await;
    assert!(uids.complete, "{uids:?}");
    assert_eq!(uids.value, ["a", "b", "c"]);
}

#[tokio::test]
async fn an_answer_whose_last_part_never_comes_is_missing_not_partial() {
    let (api, key, _) = answered_in_parts(vec![b"[\"a\"]"], false);
    api.set_query_timeout(std::time::Duration::from_millis(50));
    let uids = api.get_all_uid_list().await;
    assert_eq!((uids.complete, &uids.missing), (false, &vec![key]));
    assert!(
        uids.value.is_empty(),
        "a partial answer was taken: {uids:?}"
    );
}

#[tokio::test]
async fn a_second_part_of_a_one_part_answer_is_an_error() {
    let (api, key, client) = answered_in_parts(vec![b"true", b"true"], true);
    let err = api.is_online(client).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::BadReply(k, _) if *k == key),
        "{err}"
    );
}

#[tokio::test]
async fn a_garbled_reply_is_an_error_naming_the_gateway_not_a_null_answer() {
    for garbled in [&b"null"[..], b"{not json", b"[1, 2]"] {
        let (api, key, client) = answered_with(garbled);
        let err = api.is_online(client).await.unwrap_err();
        assert!(
            matches!(&err, ApiError::BadReply(k, e) if *k == key && e.kind == QueryKind::IsOnline),
            "{err}"
        );
        let count = api.get_all_client_id_count().await;
        assert!(!count.complete, "{count:?}");
        assert_eq!(count.missing, [key]);
    }
}

#[tokio::test]
async fn a_well_formed_reply_is_read_as_the_type_of_the_query() {
    let (api, _, client) = answered_with(b"true");
    assert_eq!(api.is_online(client).await, Ok(true));
    let (api, key, _) = answered_with(b"3");
    let count = api.get_all_client_id_count().await;
    assert_eq!((count.value, count.complete), (3, true), "{key}");
}
