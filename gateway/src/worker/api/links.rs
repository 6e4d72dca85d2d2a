//! The API's link table: the gateways the registers list, the link to each one found, and how a
//! command is handed to its gateway's link (at once, waiting only when that link's queue is full).

use super::{Api, ApiError};
use crate::client_id::GatewayKey;
use crate::fast_hash::FastHash;
use crate::gateway::GatewayState;
use crate::proto::ToGateway;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How commands reach one gateway.
#[derive(Debug, Clone)]
pub enum GatewayLink {
    /// Over the internal link's bounded writer queue.
    Remote(mpsc::Sender<ToGateway>),
    /// Directly into a gateway in this process (`devgate start`).
    Local(Arc<GatewayState>),
}

/// The gateways listed and the links to them, shared by every clone of an [`Api`].
#[derive(Debug, Default)]
pub(super) struct Links {
    table: RwLock<HashMap<GatewayKey, GatewayLink, FastHash>>,
    listed: RwLock<BTreeSet<GatewayKey>>,
}

/// A command handed to its link: done at once (the usual case), or waiting, boxed, for room
/// in a full link queue. Kept small on purpose: an API call's future (and so every handler's)
/// holds it, and handler futures are moved byte by byte once or more per event.
pub(super) enum Sending {
    Done(Option<Result<(), ApiError>>),
    Waiting(Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>),
}

impl Future for Sending {
    type Output = Result<(), ApiError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Sending::Done(done) => Poll::Ready(done.take().unwrap_or(Ok(()))),
            Sending::Waiting(wait) => wait.as_mut().poll(cx),
        }
    }
}

impl Api {
    pub(crate) fn set_link(&self, key: GatewayKey, link: GatewayLink) {
        self.inner
            .links
            .table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, link);
    }

    pub(crate) fn remove_link(&self, key: GatewayKey) {
        self.inner
            .links
            .table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    pub(crate) fn set_listed(&self, keys: BTreeSet<GatewayKey>) {
        *self
            .inner
            .links
            .listed
            .write()
            .unwrap_or_else(|p| p.into_inner()) = keys;
    }

    pub(super) fn link(&self, key: GatewayKey) -> Result<GatewayLink, ApiError> {
        self.inner
            .links
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
            .ok_or(ApiError::NoGateway(key))
    }

    /// The gateways currently linked.
    pub fn gateways(&self) -> Vec<GatewayKey> {
        let mut v: Vec<_> = self
            .inner
            .links
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }

    /// The gateways the registers list (linked or not).
    pub fn listed_gateways(&self) -> Vec<GatewayKey> {
        let listed = self
            .inner
            .links
            .listed
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut all: BTreeSet<GatewayKey> = listed.iter().copied().collect();
        all.extend(self.gateways());
        all.into_iter().collect()
    }

    /// Hands `msg` to its gateway's link at once; the returned future waits only when that
    /// link's queue is full.
    pub(super) fn command(&self, key: GatewayKey, msg: ToGateway) -> Sending {
        let link = match self.link(key) {
            Ok(link) => link,
            Err(e) => return Sending::Done(Some(Err(e))),
        };
        match link {
            GatewayLink::Remote(tx) => match tx.try_send(msg) {
                Ok(()) => Sending::Done(Some(Ok(()))),
                Err(TrySendError::Full(msg)) => Sending::Waiting(Box::pin(async move {
                    tx.send(msg).await.map_err(|_| ApiError::LinkClosed(key))
                })),
                Err(TrySendError::Closed(_)) => Sending::Done(Some(Err(ApiError::LinkClosed(key)))),
            },
            GatewayLink::Local(state) => {
                state.execute(msg);
                Sending::Done(Some(Ok(())))
            }
        }
    }

    /// Sends a command to every listed gateway; returns the failures (a listed gateway with
    /// no link is one: `NoGateway`).
    pub(super) async fn command_all(&self, msg: impl Fn(GatewayKey) -> ToGateway) -> Vec<ApiError> {
        let mut errors = Vec::new();
        for key in self.listed_gateways() {
            if let Err(e) = self.command(key, msg(key)).await {
                errors.push(e);
            }
        }
        errors
    }
}
