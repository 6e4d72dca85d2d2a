//! [`StandaloneApi`]: the whole API from any tokio program that is not a worker and knows only
//! the register address(es) and the secret, e.g. a web back end pushing to devices
//! (GatewayWorker's `GatewayClient`). It links to gateways as [`Role::Api`]: no events.

use crate::link::Credentials;
use crate::proto::Role;
use crate::worker::gateways::{self, LinkOptions};
use crate::worker::Api;
use std::ops::Deref;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The API of a program that is not a worker. Derefs to [`Api`] for every call.
#[derive(Debug)]
pub struct StandaloneApi {
    api: Api,
    links: JoinHandle<()>,
}

impl StandaloneApi {
    /// Starts following `registers` and linking to their gateways (in the background).
    pub fn connect(registers: Vec<String>, secret: &str, name: &str) -> StandaloneApi {
        StandaloneApi::connect_with(registers, Credentials::plain(secret.as_bytes()), name)
    }

    /// Like [`connect`](Self::connect), with the secret and TLS of `credentials` (e.g.
    /// [`Config::credentials`](crate::config::Config::credentials) or
    /// [`TlsArgs`](crate::cli::TlsArgs)).
    pub fn connect_with(
        registers: Vec<String>,
        credentials: Credentials,
        name: &str,
    ) -> StandaloneApi {
        let api = Api::new();
        let opts = LinkOptions {
            name: name.to_string(),
            registers,
            credentials,
            local: None,
            role: Role::Api,
            departure: Default::default(),
        };
        let links = tokio::spawn(gateways::run(opts, None, api.clone()));
        StandaloneApi { api, links }
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

impl Deref for StandaloneApi {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for StandaloneApi {
    fn drop(&mut self) {
        self.links.abort();
    }
}
