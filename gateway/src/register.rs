//! The register: gateways announce their internal address; workers and standalone APIs receive
//! the complete gateway list on connect and again on every change. A gateway leaves the list when
//! its register link closes (or stays silent past the link timeout). Several registers may run;
//! gateways announce to all and workers merge their lists, so none is a single point of failure.

use crate::link;
use crate::proto::{FromRegister, Role, ToRegister};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Default)]
struct Table {
    next: u64,
    gateways: BTreeMap<u64, String>,
    listeners: BTreeMap<u64, mpsc::Sender<FromRegister>>,
}

impl Table {
    fn list(&self) -> FromRegister {
        let set: BTreeSet<&String> = self.gateways.values().collect();
        FromRegister::GatewayList {
            addrs: set.into_iter().cloned().collect(),
        }
    }

    fn broadcast(&mut self) {
        let list = self.list();
        // A listener whose queue is full is far behind; it gets the next full list instead.
        self.listeners.retain(|_, tx| !tx.is_closed());
        for tx in self.listeners.values() {
            let _ = tx.try_send(list.clone());
        }
    }
}

/// Serves the register on `listener` forever.
pub async fn run(listener: TcpListener, credentials: link::Credentials) {
    let table = Arc::new(Mutex::new(Table::default()));
    let gate = link::PreauthGate::new(
        "register",
        "register_handshakes_refused",
        link::MAX_UNAUTHENTICATED,
    );
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("register accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = gate.admit() else {
            drop(tcp);
            continue;
        };
        let table = table.clone();
        let credentials = credentials.clone();
        tokio::spawn(async move {
            let allowed = [Role::Gateway, Role::Worker, Role::Api];
            let accepted = link::accept::<ToRegister>(tcp, &credentials, &allowed).await;
            drop(permit);
            let (role, name, mut reader, wr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(%peer, "register refused a link: {e}");
                    return;
                }
            };
            let (tx, writer) = link::spawn_writer::<FromRegister>(wr);
            let id = {
                let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                t.next += 1;
                let id = t.next;
                if role != Role::Gateway {
                    let _ = tx.try_send(t.list());
                    t.listeners.insert(id, tx.clone());
                }
                id
            };
            tracing::info!(%peer, ?role, %name, "linked to register");
            let why = loop {
                match link::next(&mut reader, &tx).await {
                    Ok(ToRegister::GatewayAnnounce { addr }) if role == Role::Gateway => {
                        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                        t.gateways.insert(id, addr);
                        t.broadcast();
                    }
                    Ok(other) => tracing::debug!(%peer, "register ignores {other:?}"),
                    Err(e) => break e,
                }
            };
            tracing::info!(%peer, ?role, %name, "left the register: {why}");
            {
                let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                t.listeners.remove(&id);
                if t.gateways.remove(&id).is_some() {
                    t.broadcast();
                }
            }
            drop(tx);
            writer.abort();
        });
    }
}
