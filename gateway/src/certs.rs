//! `devgate cert`: a private CA and the certificates of a small cluster's processes, for
//! TLS on the internal links (`[tls]`), made with rcgen.
//!
//! `ca` writes `ca.pem` and `ca.key`; `issue` signs `NAME.pem` / `NAME.key` with them, the
//! hosts (IP addresses or DNS names) peers dial this process by as subject alternative names,
//! usable as server and client certificate alike. Keys are written with mode 0600 and no file
//! is ever overwritten.
//!
//! The CA's common name is derived from its public key (`devgate CA <fingerprint>`), so `issue`
//! rebuilds the issuer's name from `ca.key` alone (rcgen reads no certificates without the
//! x509-parser feature) and two CAs never share a name, which makes a certificate of another
//! CA fail as an unknown issuer.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// `devgate cert ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Makes a private CA: DIR/ca.pem (give it to every process as `[tls] ca`) and
    /// DIR/ca.key (keep it off the cluster).
    Ca {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Years the CA is valid.
        #[arg(long, default_value_t = 10)]
        years: u32,
    },
    /// Makes a certificate signed by the CA: DIR/NAME.pem and DIR/NAME.key.
    Issue {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca: PathBuf,
        /// The process's name (its certificate's common name and the files' names).
        #[arg(long)]
        name: String,
        /// An IP address or DNS name peers reach this process by; repeat for several.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read, created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// rcgen refused (a key file that is not a key, a bad host name).
    #[error("{0}")]
    Rcgen(#[from] rcgen::Error),
    /// The CA key and certificate do not belong together.
    #[error("{key} is not the key of {cert} (both must come from `devgate cert ca`)")]
    NotTheCa {
        /// The certificate.
        cert: String,
        /// The key.
        key: String,
    },
    /// A name that cannot be a file name.
    #[error("{0:?}: a name is letters, digits, '-', '_' and '.', not starting with '.'")]
    BadName(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `path` (never overwriting) with `mode` on unix, and writes `text`.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), CertError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = open.open(path).map_err(io_err(path))?;
    file.write_all(text.as_bytes()).map_err(io_err(path))
}

/// Writes `NAME.pem` (0644) and `NAME.key` (0600) into `dir`; returns both paths.
fn write_pair(
    dir: &Path,
    name: &str,
    cert: &rcgen::Certificate,
    key: &KeyPair,
) -> Result<(PathBuf, PathBuf), CertError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    // Both checked first, so a refusal leaves no half-written pair.
    for p in [&cert_path, &key_path] {
        if p.exists() {
            let exists = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists");
            return Err(io_err(p)(exists));
        }
    }
    write_new(&key_path, &key.serialize_pem(), 0o600)?;
    write_new(&cert_path, &cert.pem(), 0o644)?;
    Ok((cert_path, key_path))
}

/// The CA's name, derived from its key (see the module's doc).
fn ca_name(key: &KeyPair) -> String {
    let digest = Sha256::digest(key.public_key_der());
    format!("devgate CA {}", hex::encode(&digest[..8]))
}

/// The CA's parameters; `issue` rebuilds them to sign with, so they depend on the key only
/// (and on the validity, which an issuer's signature does not carry).
fn ca_params(key: &KeyPair, years: u32) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_name(key));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365 * i64::from(years));
    params
}

/// Makes a CA in `out`; returns the paths of its certificate and key.
pub fn make_ca(out: &Path, years: u32) -> Result<(PathBuf, PathBuf), CertError> {
    let key = KeyPair::generate()?;
    let cert = ca_params(&key, years).self_signed(&key)?;
    write_pair(out, "ca", &cert, &key)
}

fn check_name(name: &str) -> Result<(), CertError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CertError::BadName(name.to_string()))
    }
}

/// Makes the certificate of the process `name`, reachable at `hosts`, signed by the CA in
/// `ca_dir`; returns the paths of the certificate and key written into `out`.
pub fn issue(
    ca_dir: &Path,
    name: &str,
    hosts: &[String],
    out: &Path,
    days: u32,
) -> Result<(PathBuf, PathBuf), CertError> {
    check_name(name)?;
    let (ca_cert_path, ca_key_path) = (ca_dir.join("ca.pem"), ca_dir.join("ca.key"));
    let ca_key_pem = std::fs::read_to_string(&ca_key_path).map_err(io_err(&ca_key_path))?;
    let ca_cert_pem = std::fs::read(&ca_cert_path).map_err(io_err(&ca_cert_path))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    // The PEM's base64 hides the name; the DER shows it.
    let ca_der = rustls_pemfile::certs(&mut ca_cert_pem.as_slice())
        .filter_map(Result::ok)
        .next();
    let wanted = ca_name(&ca_key);
    let belongs = ca_der.is_some_and(|der| {
        der.windows(wanted.len())
            .any(|window| window == wanted.as_bytes())
    });
    if !belongs {
        return Err(CertError::NotTheCa {
            cert: ca_cert_path.display().to_string(),
            key: ca_key_path.display().to_string(),
        });
    }
    let issuer = ca_params(&ca_key, 1).self_signed(&ca_key)?;

    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = hosts
        .iter()
        .map(|h| match h.trim_matches(['[', ']']).parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(h.clone().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Every process both accepts links and makes them.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer, &ca_key)?;
    write_pair(out, name, &cert, &key)
}

/// Runs a `devgate cert` command, printing what it wrote.
pub fn run(command: CertCommand) -> Result<(), CertError> {
    let (cert, key) = match command {
        CertCommand::Ca { out, years } => make_ca(&out, years)?,
        CertCommand::Issue {
            ca,
            name,
            hosts,
            out,
            days,
        } => issue(&ca, &name, &hosts, &out, days)?,
    };
    println!(
        "wrote {} and {} (key, mode 0600)",
        cert.display(),
        key.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{self, LinkTls};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("devgate-certs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_issued_certificate_loads_with_its_ca_and_its_key_is_private() {
        let dir = temp_dir("issue");
        make_ca(&dir, 1).unwrap();
        let hosts = ["127.0.0.1".to_string(), "gw1.local".to_string()];
        let (cert, key) = issue(&dir, "gw1", &hosts, &dir, 30).unwrap();
        let files = tls::LinkTlsFiles {
            ca: dir.join("ca.pem"),
            cert: Some(cert),
            key: Some(key.clone()),
            client_auth: true,
            server_name: None,
        };
        assert!(LinkTls::load(&files).unwrap().acceptor().is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let ca_key = std::fs::metadata(dir.join("ca.key")).unwrap();
            assert_eq!(ca_key.permissions().mode() & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_is_overwritten_and_a_foreign_ca_key_is_refused() {
        let (a, b) = (temp_dir("a"), temp_dir("b"));
        make_ca(&a, 1).unwrap();
        make_ca(&b, 1).unwrap();
        assert!(matches!(make_ca(&a, 1), Err(CertError::Io { .. })));
        issue(&a, "w1", &[], &a, 1).unwrap();
        assert!(matches!(
            issue(&a, "w1", &[], &a, 1),
            Err(CertError::Io { .. })
        ));
        std::fs::copy(b.join("ca.key"), a.join("ca.key.b")).unwrap();
        std::fs::rename(a.join("ca.key.b"), a.join("ca.key")).unwrap();
        let err = issue(&a, "w2", &[], &a, 1).unwrap_err();
        assert!(matches!(err, CertError::NotTheCa { .. }), "{err}");
        assert!(matches!(
            issue(&b, "../x", &[], &b, 1),
            Err(CertError::BadName(_))
        ));
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }
}
