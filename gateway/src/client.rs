//! `GatewayClient`: the whole API from any tokio program that knows only the register
//! address(es) and the secret, e.g. a web back end pushing to devices.

use crate::proto::Role;
use crate::worker::links::{self, LinkOptions};
use crate::worker::Api;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A standalone API client. Derefs to [`Api`] for every call.
#[derive(Debug)]
pub struct GatewayClient {
    api: Api,
    links: JoinHandle<()>,
}

impl GatewayClient {
    /// Starts following `registers` and linking to their gateways (in the background).
    pub fn connect(registers: Vec<String>, secret: &str, name: &str) -> GatewayClient {
        let api = Api::new();
        let opts = LinkOptions {
            name: name.to_string(),
            registers,
            secret: Arc::new(secret.as_bytes().to_vec()),
            local: None,
            role: Role::Client,
        };
        let links = tokio::spawn(links::run(opts, None, api.clone()));
        GatewayClient { api, links }
    }

    /// Waits until at least `min` gateways are listed and every listed gateway is linked;
    /// false on timeout (the API still works with what is linked).
    pub async fn ready(&self, min: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let listed = self.api.listed_gateways();
            if listed.len() >= min && listed.len() == self.api.gateways().len() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The API.
    pub fn api(&self) -> &Api {
        &self.api
    }
}

impl Deref for GatewayClient {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for GatewayClient {
    fn drop(&mut self) {
        self.links.abort();
    }
}
