//! Keeps this gateway listed in every register: one task per register address, reconnecting
//! with capped, jittered backoff whenever the register goes away.

use crate::link;
use crate::net::Backoff;
use crate::proto::{FromRegister, Role, ToRegister};
use std::sync::Arc;

/// Announces `internal_addr` to the register at `register`, forever.
pub async fn run(register: String, internal_addr: String, name: String, secret: Arc<Vec<u8>>) {
    let mut backoff = Backoff::default();
    loop {
        match link::connect::<FromRegister>(&register, &secret, Role::Gateway, &name).await {
            Ok((mut reader, wr)) => {
                let (tx, writer) = link::spawn_writer(wr);
                if tx
                    .send(ToRegister::GatewayAnnounce {
                        addr: internal_addr.clone(),
                    })
                    .await
                    .is_ok()
                {
                    tracing::info!(%register, "announced to register as {internal_addr}");
                    backoff.reset();
                    loop {
                        match link::next(&mut reader, &tx).await {
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(%register, "register link lost: {e}");
                                break;
                            }
                        }
                    }
                }
                drop(tx);
                writer.abort();
            }
            Err(e) => tracing::warn!(%register, "cannot reach register: {e}"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
