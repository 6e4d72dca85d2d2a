//! Keeps this gateway listed in every register: one task per register address, reconnecting
//! with [`keep_linked`]'s backoff whenever the register goes away.

use crate::link::{self, LinkReader};
use crate::proto::{FromRegister, LinkError, Role, ToRegister};
use crate::reconnect::{keep_linked, LinkEnd, LinkTask, Peer};
use tokio::sync::mpsc;

/// Announces `internal_addr` to the register at `register`, forever.
pub async fn run(
    register: String,
    internal_addr: String,
    name: String,
    credentials: link::Credentials,
) {
    let mut task = Announce {
        register: register.clone(),
        internal_addr,
    };
    keep_linked(
        Peer::Register,
        &register,
        &credentials,
        Role::Gateway,
        &name,
        &mut task,
    )
    .await
}

/// A link to one register: announce, then keep the link up (the register drops a gateway
/// whose link goes away).
struct Announce {
    register: String,
    internal_addr: String,
}

impl LinkTask for Announce {
    type In = FromRegister;
    type Out = ToRegister;

    async fn run(
        &mut self,
        reader: &mut LinkReader<FromRegister>,
        tx: &mpsc::Sender<ToRegister>,
    ) -> LinkEnd {
        let announce = ToRegister::GatewayAnnounce {
            addr: self.internal_addr.clone(),
        };
        if tx.send(announce).await.is_err() {
            return LinkEnd::Failed(LinkError::Closed);
        }
        let (register, internal_addr) = (&self.register, &self.internal_addr);
        tracing::info!(%register, "announced to register as {internal_addr}");
        loop {
            if let Err(e) = link::next(reader, tx).await {
                return LinkEnd::Lost(e);
            }
        }
    }
}
