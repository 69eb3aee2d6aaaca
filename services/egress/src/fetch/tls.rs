//! TLS for `https:` hops: one rustls client configuration per [`Fetcher`],
//! the handshake on an already checked TCP connection, and the mapping of
//! rustls' verdicts to Node-like error codes.
//!
//! Trust is the system's roots plus the operator's extra roots
//! (`MOAT_EGRESS_CA_FILE`, read with [`load_ca_file`]); nothing a script
//! sends changes it. What this module does not do: pick or check the
//! address (`connect.rs`).
//!
//! [`Fetcher`]: super::Fetcher

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::error::{FetchError, TlsFailure};
use super::fetcher::ConfigError;
use crate::policy::Host;

/// The protocols offered, preferred first; `exchange.rs` speaks whichever
/// the server picks.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file could not be read or a PEM section in it is malformed.
    #[error("the CA file {} cannot be read: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The reader's or PEM parser's error.
        source: pem::Error,
    },
    /// The file holds no `CERTIFICATE` section.
    #[error("the CA file {} holds no certificate", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a PEM bundle of root certificates (other PEM sections are
/// skipped), for `FetcherConfig::extra_roots`.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let read = |source| CaFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The client configuration every HTTPS hop uses.
pub(crate) fn client_config(
    provider: Arc<CryptoProvider>,
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "a system root certificate could not be loaded");
    }
    let (_, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "system root certificates not usable by rustls");
    }
    for (index, cert) in extra_roots.iter().enumerate() {
        roots
            .add(cert.clone())
            .map_err(|source| ConfigError::Root { index, source })?;
    }
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    // No session resumption: a ticket kept from one request would let a
    // server link it to a later one, and nothing of one run may carry
    // into another.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The TLS handshake with `host` over a connection to a checked address.
///
/// SNI is the domain; an IP-literal host sends none (rustls never sends an
/// address as SNI) and its certificate is verified against the address.
pub(crate) async fn handshake(
    config: &Arc<ClientConfig>,
    host: &Host,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, FetchError> {
    let name = match host {
        Host::Domain(domain) => {
            ServerName::try_from(domain.clone()).map_err(|_| FetchError::Tls {
                host: host.to_string(),
                failure: TlsFailure::Other("the host is not a valid TLS server name".into()),
            })?
        }
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
    };
    TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|error| io_error(&host.to_string(), &error))
}

/// Maps an I/O error from the TLS layer: a rustls verdict to its code, a
/// dropped connection to [`FetchError::Closed`].
pub(crate) fn io_error(host: &str, error: &io::Error) -> FetchError {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => FetchError::Tls {
            host: host.to_string(),
            failure: failure(tls),
        },
        None => FetchError::Closed,
    }
}

/// The failure a rustls error stands for.
pub(crate) fn failure(error: &rustls::Error) -> TlsFailure {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::AltName
            }
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::NotYetValid
            }
            CertificateError::Revoked => TlsFailure::Revoked,
            CertificateError::BadSignature => TlsFailure::BadSignature,
            _ => TlsFailure::Other(error.to_string()),
        },
        _ => TlsFailure::Other(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_verdicts_get_node_codes() {
        let code = |e: CertificateError| failure(&rustls::Error::InvalidCertificate(e)).code();
        assert_eq!(
            code(CertificateError::NotValidForName),
            "ERR_TLS_CERT_ALTNAME_INVALID"
        );
        assert_eq!(
            code(CertificateError::UnknownIssuer),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        );
        assert_eq!(code(CertificateError::Expired), "CERT_HAS_EXPIRED");
        assert_eq!(
            code(CertificateError::BadSignature),
            "CERT_SIGNATURE_FAILURE"
        );
        assert_eq!(code(CertificateError::BadEncoding), "ERR_TLS");
        assert_eq!(
            failure(&rustls::Error::NoApplicationProtocol).code(),
            "ERR_TLS"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "no pem here\n").unwrap();
        assert!(matches!(
            load_ca_file(&path),
            Err(CaFileError::Empty { .. })
        ));
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            load_ca_file(&missing),
            Err(CaFileError::Read { .. })
        ));
    }
}
