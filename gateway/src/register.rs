//! The register: gateways announce their internal address; workers and standalone APIs receive
//! the complete gateway list on connect and again on every change. A gateway leaves the list when
//! its register link closes (or stays silent past the link timeout). Several registers may run;
//! gateways announce to all and workers merge their lists, so none is a single point of failure.
//!
//! What waits for a listener is bounded in bytes ([`Budget`]); a listener that leaves so many
//! lists unread that the next does not fit is closed (it reconnects and gets the whole list
//! then), never sent an old list and spared the new one.

use crate::budget::{Budget, PEER_QUEUE_BYTES};
use crate::link;
use crate::proto::{FromRegister, Role, ToRegister};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A worker or API linked to the register, waiting for gateway lists.
struct Listener {
    tx: mpsc::Sender<FromRegister>,
    budget: Arc<Budget>,
    /// Cancelled when it falls too far behind: its link is closed.
    behind: CancellationToken,
}

impl Listener {
    /// Queues `list`; `false` (and the listener is to be closed) when it does not fit.
    fn offer(&self, list: FromRegister) -> bool {
        let weight = list_weight(&list);
        if !self.budget.try_charge(weight) {
            return false;
        }
        if self.tx.try_send(list).is_err() {
            self.budget.release(weight);
            return false;
        }
        true
    }
}

/// What a gateway list weighs against its listener's [`Budget`]: its addresses and their
/// lengths (pings and pongs weigh nothing, bounded by the queue's length).
fn list_weight(m: &FromRegister) -> usize {
    match m {
        FromRegister::GatewayList { addrs } => 9 + addrs.iter().map(|a| a.len() + 2).sum::<usize>(),
        _ => 0,
    }
}

#[derive(Default)]
struct Table {
    next: u64,
    gateways: BTreeMap<u64, String>,
    listeners: BTreeMap<u64, Listener>,
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
        self.listeners.retain(|_, l| {
            if l.tx.is_closed() {
                return false;
            }
            if l.offer(list.clone()) {
                return true;
            }
            // Far behind: closed, it links again and starts from the whole current list.
            l.behind.cancel();
            false
        });
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
            let budget = Arc::new(Budget::new(PEER_QUEUE_BYTES));
            let (tx, writer) = link::spawn_writer_bounded(wr, budget.clone(), list_weight);
            let behind = CancellationToken::new();
            let id = {
                let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                t.next += 1;
                let id = t.next;
                if role != Role::Gateway {
                    let listener = Listener {
                        tx: tx.clone(),
                        budget,
                        behind: behind.clone(),
                    };
                    if listener.offer(t.list()) {
                        t.listeners.insert(id, listener);
                    }
                }
                id
            };
            tracing::info!(%peer, ?role, %name, "linked to register");
            let why = loop {
                let next = tokio::select! {
                    r = link::next(&mut reader, &tx) => r,
                    () = behind.cancelled() => break "it left the gateway lists unread".to_string(),
                };
                match next {
                    Ok(ToRegister::GatewayAnnounce { addr }) if role == Role::Gateway => {
                        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                        t.gateways.insert(id, addr);
                        t.broadcast();
                    }
                    Ok(other) => tracing::debug!(%peer, "register ignores {other:?}"),
                    Err(e) => break e.to_string(),
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
