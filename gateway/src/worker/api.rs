//! The sending API a handler (or any program) uses: commands go to the gateway that owns the
//! client (found from the client_id itself), or to every gateway for broadcasts.

use crate::client_id::{ClientId, GatewayKey};
use crate::gateway::GatewayState;
use crate::proto::Message;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// Why an API call did not reach its gateway.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// No live link to the gateway that owns this client.
    #[error("no link to gateway {0}")]
    NoGateway(GatewayKey),
    /// The link closed while sending.
    #[error("the link to gateway {0} closed")]
    LinkClosed(GatewayKey),
}

/// How commands reach one gateway.
#[derive(Debug, Clone)]
pub enum GatewayLink {
    /// Over the internal link's bounded writer queue.
    Remote(mpsc::Sender<Message>),
    /// Directly into a gateway in this process (`devgate start`).
    Local(Arc<GatewayState>),
}

/// The GatewayWorker-style API. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Api {
    links: Arc<RwLock<HashMap<GatewayKey, GatewayLink>>>,
}

impl Api {
    /// An API with no gateway yet (links are added as gateways are found).
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set_link(&self, key: GatewayKey, link: GatewayLink) {
        self.links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, link);
    }

    pub(crate) fn remove_link(&self, key: GatewayKey) {
        self.links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    fn link(&self, key: GatewayKey) -> Result<GatewayLink, ApiError> {
        self.links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
            .ok_or(ApiError::NoGateway(key))
    }

    /// The gateways currently linked.
    pub fn gateways(&self) -> Vec<GatewayKey> {
        let mut v: Vec<_> = self
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }

    async fn command(&self, key: GatewayKey, msg: Message) -> Result<(), ApiError> {
        match self.link(key)? {
            GatewayLink::Remote(tx) => tx.send(msg).await.map_err(|_| ApiError::LinkClosed(key)),
            GatewayLink::Local(state) => {
                state.execute(msg);
                Ok(())
            }
        }
    }

    /// Sends `data` to one client.
    pub async fn send_to_client(
        &self,
        client: ClientId,
        data: impl Into<Bytes>,
    ) -> Result<(), ApiError> {
        let data = data.into();
        if let GatewayLink::Local(state) = self.link(client.gateway())? {
            state.send_to_client(client, data);
            return Ok(());
        }
        self.command(client.gateway(), Message::SendToClient { client, data })
            .await
    }

    /// Closes a client, after sending `last` when given.
    pub async fn close_client(
        &self,
        client: ClientId,
        last: Option<Bytes>,
    ) -> Result<(), ApiError> {
        self.command(
            client.gateway(),
            Message::CloseClient {
                client,
                last: last.unwrap_or_default(),
            },
        )
        .await
    }

    /// Sends `data` to every client (or only to `only` when not empty), minus `exclude`, on
    /// every linked gateway. Gateways that could not be reached are returned with their error.
    pub async fn send_to_all(
        &self,
        data: impl Into<Bytes>,
        only: &[ClientId],
        exclude: &[ClientId],
    ) -> Vec<ApiError> {
        let data = data.into();
        let mut errors = Vec::new();
        if only.is_empty() {
            for key in self.gateways() {
                let msg = Message::SendToAll {
                    data: data.clone(),
                    only: Vec::new(),
                    exclude: exclude
                        .iter()
                        .filter(|c| c.gateway() == key)
                        .copied()
                        .collect(),
                };
                if let Err(e) = self.command(key, msg).await {
                    errors.push(e);
                }
            }
        } else {
            let mut by_gateway: HashMap<GatewayKey, Vec<ClientId>> = HashMap::new();
            for c in only.iter().filter(|c| !exclude.contains(c)) {
                by_gateway.entry(c.gateway()).or_default().push(*c);
            }
            for (key, clients) in by_gateway {
                let msg = Message::SendToAll {
                    data: data.clone(),
                    only: clients,
                    exclude: Vec::new(),
                };
                if let Err(e) = self.command(key, msg).await {
                    errors.push(e);
                }
            }
        }
        errors
    }
}
