//! The gateway's internal listener: workers (and standalone APIs) link here, authenticated.
//! A worker link is served by `worker_link` (a router slot, acknowledged delivery); a standalone
//! API's link only carries commands and queries, served here. Both bound what waits for their
//! peer in bytes ([`Budget`]) and close a peer that stops reading.

use super::queries::{reply_weight, Unserved};
use super::GatewayState;
use crate::budget::{Budget, PEER_QUEUE_BYTES};
use crate::counters::Samples;
use crate::link::{self, LinkReader};
use crate::proto::{Role, ToGateway};
use crate::tls::LinkTls;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts internal links forever.
pub async fn run(state: Arc<GatewayState>, listener: TcpListener, tls: Option<Arc<LinkTls>>) {
    let credentials = link::Credentials {
        secret: Arc::new(state.secret.clone()),
        tls,
    };
    let gate = Arc::new(link::PreauthGate::new(
        "internal",
        "internal_handshakes_refused",
        link::MAX_UNAUTHENTICATED,
    ));
    let source: Arc<dyn Samples + Send + Sync> = gate.clone();
    state.counters.register(Arc::downgrade(&source));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("internal accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = gate.admit() else {
            drop(tcp);
            continue;
        };
        let state = state.clone();
        let credentials = credentials.clone();
        tokio::spawn(async move {
            let accepted =
                link::accept::<ToGateway>(tcp, &credentials, &[Role::Worker, Role::Api]).await;
            drop(permit);
            let (role, name, reader, wr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(%peer, "internal link refused: {e}");
                    return;
                }
            };
            if role == Role::Worker {
                super::worker_link::serve(state, name, peer, reader, wr).await;
                return;
            }
            serve_api(state, name, peer, reader, wr).await;
        });
    }
}

/// Serves a standalone API's link: commands and queries, no events. What waits for it is
/// bounded by [`PEER_QUEUE_BYTES`]; an API that leaves its answers unread for
/// [`link::WRITE_STALL`] is closed, counted in `slow_links_closed`.
async fn serve_api(
    state: Arc<GatewayState>,
    name: String,
    peer: SocketAddr,
    mut reader: LinkReader<ToGateway>,
    wr: link::LinkWrite,
) {
    let budget = Arc::new(Budget::new(PEER_QUEUE_BYTES));
    let (tx, mut writer) = link::spawn_writer_bounded(wr, budget.clone(), reply_weight);
    while let Ok(msg) = link::next(&mut reader, &tx).await {
        match state.answer_to(msg, &tx, &budget).await {
            Ok(()) => {}
            Err(Unserved::Closed) => break,
            Err(Unserved::Stalled) => {
                state.slow_link_closed("API", &name, peer, budget.held());
                break;
            }
        }
    }
    drop(tx);
    // What is queued may still go out, briefly; then the socket is dropped either way.
    if tokio::time::timeout(link::CLOSE_WRITE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}
