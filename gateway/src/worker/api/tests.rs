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
                gateway.complete_query(id, Bytes::from_static(reply));
            }
        }
    });
    (api, key, client)
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
