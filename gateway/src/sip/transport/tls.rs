//! TLS configuration for the SIP transport: rustls with the ring provider,
//! certificates and keys read from PEM files.
//!
//! The server side presents `tls_cert`/`tls_key` and does not ask clients
//! for certificates. The client side verifies peers against `tls_ca` when
//! it is set, else against the system's root store; with neither there is
//! no client configuration and outbound TLS fails (a `SendFailed` event).
//! There is deliberately no switch that turns verification off: tests make
//! their own CA and point `tls_ca` at it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TransportError;

/// The ring crypto provider (the only one built in).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (at least one).
fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let bad = |reason: String| TransportError::TlsFile { what, path: path.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?.collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block in the file".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TransportError::TlsFile { what: "a private key", path: path.to_path_buf(), reason: e.to_string() })
}

/// The server configuration for TLS listeners.
pub(super) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TransportError> {
    let certs = read_certs(cert, "a certificate chain")?;
    let key = read_key(key)?;
    let cfg = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?.with_no_client_auth().with_single_cert(certs, key)?;
    Ok(Arc::new(cfg))
}

/// The client configuration for outbound TLS, or `None` when there is
/// nothing to verify peers with. Our own certificate, when configured, is
/// offered to servers that ask for one.
pub(super) fn client_config(ca: Option<&Path>, own: Option<(&Path, &Path)>) -> Result<Option<Arc<ClientConfig>>, TransportError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            let (added, _ignored) = roots.add_parsable_certificates(read_certs(ca, "CA certificates")?);
            if added == 0 {
                return Err(TransportError::TlsFile { what: "CA certificates", path: ca.to_path_buf(), reason: "no usable CA certificate".into() });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Ok(None);
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?.with_root_certificates(roots);
    let cfg = match own {
        Some((cert, key)) => builder.with_client_auth_cert(read_certs(cert, "a certificate chain")?, read_key(key)?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(cfg)))
}

/// A config path as a `PathBuf`.
pub(super) fn path(s: &str) -> PathBuf {
    PathBuf::from(s)
}
