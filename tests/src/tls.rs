//! A self-signed certificate for 127.0.0.1, made at test time, and a client that trusts it.

use crate::WAIT;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A fresh certificate and key for the IP address 127.0.0.1.
pub struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl TestCert {
    /// Generates a self-signed certificate with 127.0.0.1 as its subject alternative name.
    pub fn new() -> TestCert {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("generate a test certificate");
        TestCert {
            cert_pem: ck.cert.pem(),
            key_pem: ck.key_pair.serialize_pem(),
            der: ck.cert.der().clone(),
        }
    }

    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write cert");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }

    /// A TLS connector (ring provider) that trusts only this certificate.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("add the test root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// Connects to `addr` and completes a verified TLS handshake for 127.0.0.1.
    pub async fn connect(&self, addr: SocketAddr) -> TlsStream<TcpStream> {
        let tcp = crate::clients::tcp(addr).await;
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        tokio::time::timeout(WAIT, self.connector().connect(name, tcp))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake")
    }
}

impl Default for TestCert {
    fn default() -> Self {
        TestCert::new()
    }
}
