//! TLS setup (rustls with the ring provider) from PEM files: the device listeners' acceptor,
//! and [`LinkTls`], both ends of the internal links (register, gateway, worker, API clients),
//! which verify their peers against the cluster's own CA.
//!
//! A link's connecting side checks the accepting side's certificate against the CA and the
//! server name of the address it dials (see [`LinkTls::server_name`]); with `client_auth` the
//! accepting side also requires a certificate signed by the CA from the connecting side.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why a TLS setup failed; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file held no usable PEM item.
    #[error("{0}: no certificate or private key found in the PEM file")]
    Empty(String),
    /// A CA file held a certificate that cannot be a trust anchor.
    #[error("{path}: not a usable CA certificate: {reason}")]
    BadCa {
        /// The file.
        path: String,
        /// What rustls said.
        reason: String,
    },
    /// rustls refused the certificate/key pair (a key that does not match its certificate).
    #[error("certificate/key refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built from the CA.
    #[error("client certificates: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A name to check certificates against is neither a DNS name nor an IP address.
    #[error("{0:?} is not a DNS name or IP address a certificate can carry")]
    ServerName(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Every certificate of a PEM file; an error when it has none.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::Empty(path.display().to_string()));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::Empty(path.display().to_string()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a device listener's acceptor from PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(cert)?;
    let key = load_key(key)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Checks that `key` is the private key of the first certificate of `chain`.
pub fn check_pair(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<(), TlsError> {
    rustls::sign::CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider())?;
    Ok(())
}

/// The trust anchors of a CA file.
pub fn load_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::BadCa {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The internal links' TLS settings as files (`[tls]`, or the command line's `--tls-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTlsFiles {
    /// The cluster's CA certificate (PEM): peers must present a certificate it signed.
    pub ca: PathBuf,
    /// This process's certificate chain (PEM); needed to accept links, and to connect to a
    /// peer that requires client certificates.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// Whether accepting sides require a certificate signed by the CA from connecting sides.
    pub client_auth: bool,
    /// The name every peer's certificate is checked against, instead of the host of the
    /// address dialled.
    pub server_name: Option<String>,
}

/// Both ends of TLS internal links, built once per process and shared by every link.
#[derive(Clone)]
pub struct LinkTls {
    connector: TlsConnector,
    acceptor: Option<TlsAcceptor>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTls")
            .field("accepts", &self.acceptor.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// This process's certificate chain and its key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl LinkTls {
    /// Reads and builds from files; the first problem found is the error (`check-config`
    /// checks each file on its own to report them all).
    pub fn load(files: &LinkTlsFiles) -> Result<LinkTls, TlsError> {
        let roots = load_ca(&files.ca)?;
        let identity = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => Some((load_certs(cert)?, load_key(key)?)),
            _ => None,
        };
        LinkTls::new(
            roots,
            identity,
            files.client_auth,
            files.server_name.as_deref(),
        )
    }

    /// Builds from parsed parts. Without an `identity` this side can only connect, to peers
    /// that do not require client certificates.
    pub fn new(
        roots: RootCertStore,
        identity: Option<Identity>,
        client_auth: bool,
        server_name: Option<&str>,
    ) -> Result<LinkTls, TlsError> {
        let server_name = server_name.map(parse_server_name).transpose()?;
        let roots = Arc::new(roots);
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots.clone());
        let client = match &identity {
            Some((chain, key)) => client.with_client_auth_cert(chain.clone(), key.clone_key())?,
            None => client.with_no_client_auth(),
        };
        let acceptor = match identity {
            None => None,
            Some((chain, key)) => {
                let server = rustls::ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()?;
                let server = if client_auth {
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(roots, provider()).build()?;
                    server.with_client_cert_verifier(verifier)
                } else {
                    server.with_no_client_auth()
                };
                Some(TlsAcceptor::from(Arc::new(
                    server.with_single_cert(chain, key)?,
                )))
            }
        };
        Ok(LinkTls {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor,
            server_name,
        })
    }

    /// The connecting side.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The accepting side; `None` without a certificate of this process.
    pub fn acceptor(&self) -> Option<&TlsAcceptor> {
        self.acceptor.as_ref()
    }

    /// The name the certificate of the peer at `addr` (`host:port`) must carry: the
    /// configured `server_name`, else the host of the address (an IP address or a DNS name).
    pub fn server_name(&self, addr: &str) -> Result<ServerName<'static>, TlsError> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        parse_server_name(host.trim_start_matches('[').trim_end_matches(']'))
    }
}

/// `name` as the name a certificate is checked against (a DNS name or an IP address).
pub fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_string()).map_err(|_| TlsError::ServerName(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> RootCertStore {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        roots
    }

    #[test]
    fn the_server_name_is_the_host_of_the_address_unless_one_is_configured() {
        let tls = LinkTls::new(roots(), None, false, None).unwrap();
        let ip = |s: &str| ServerName::IpAddress(s.parse::<std::net::IpAddr>().unwrap().into());
        assert_eq!(tls.server_name("10.0.0.5:2900").unwrap(), ip("10.0.0.5"));
        assert_eq!(tls.server_name("[::1]:2900").unwrap(), ip("::1"));
        assert_eq!(
            tls.server_name("gw1.local:2900").unwrap(),
            ServerName::try_from("gw1.local").unwrap()
        );
        assert!(matches!(
            tls.server_name("bad name:1"),
            Err(TlsError::ServerName(_))
        ));
        let named = LinkTls::new(roots(), None, false, Some("cluster.local")).unwrap();
        assert_eq!(
            named.server_name("10.0.0.5:2900").unwrap(),
            ServerName::try_from("cluster.local").unwrap()
        );
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_refused() {
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let key = PrivateKeyDer::try_from(b.key_pair.serialize_der()).unwrap();
        let identity = (vec![a.cert.der().clone()], key);
        let err = LinkTls::new(roots(), Some(identity), false, None).unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
    }

    #[test]
    fn without_a_certificate_this_side_only_connects() {
        let tls = LinkTls::new(roots(), None, true, None).unwrap();
        assert!(tls.acceptor().is_none());
    }
}
