//! TLS for client connections: the certificate and key given with `--tls-cert` and
//! `--tls-key`, loaded once at startup into a rustls acceptor (ring as the crypto
//! provider), and the certificate hash that SCRAM-SHA-256-PLUS binds to.
//!
//! `main.rs` calls [`Tls::load`]; `super::connection` hands [`Tls::acceptor`] to pgwire's
//! `negotiate_tls`, which answers SSLRequest (and direct TLS, with the `postgresql` ALPN
//! protocol) and runs the handshake; `super::startup` offers channel binding with
//! [`Tls::end_point`]. Client certificates are not requested.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use pgwire::tokio::tokio_rustls::rustls::crypto::ring::default_provider;
use pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use pgwire::tokio::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ring::digest;
use x509_certificate::{CapturedX509Certificate, SignatureAlgorithm};

use crate::error::{Error, Result};

/// The ALPN protocol name of Postgres's direct TLS connections.
const POSTGRESQL_ALPN: &[u8] = b"postgresql";

/// The server's TLS identity, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    /// Runs the server side of TLS handshakes.
    acceptor: TlsAcceptor,
    /// `tls-server-end-point` channel binding data (RFC 5929): the hash of the server
    /// certificate; None when its signature algorithm does not define one.
    end_point: Option<Vec<u8>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("channel_binding", &self.end_point.is_some()).finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the PEM certificate chain (server certificate first) and private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls> {
        let chain = certificates(cert)?;
        let key_der = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::Config(format!("cannot read TLS key \"{}\": {e}", key.display())))?;
        let end_point = end_point(&chain[0]);
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("TLS setup failed: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| {
                Error::Config(format!(
                    "cannot use TLS key \"{}\" with certificate \"{}\": {e}",
                    key.display(),
                    cert.display()
                ))
            })?;
        config.alpn_protocols = vec![POSTGRESQL_ALPN.to_vec()];
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), end_point })
    }

    /// The acceptor for one connection's handshake.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The channel binding data of the server certificate, if it has one.
    pub(super) fn end_point(&self) -> Option<&[u8]> {
        self.end_point.as_deref()
    }
}

/// The certificates of a PEM file, at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let unreadable =
        |e: &dyn fmt::Display| Error::Config(format!("cannot read TLS certificate \"{}\": {e}", path.display()));
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if chain.is_empty() {
        return Err(unreadable(&"no certificate in the file"));
    }
    Ok(chain)
}

/// The `tls-server-end-point` hash of `cert` (RFC 5929, section 4.1): with the hash of
/// its signature algorithm, SHA-256 in place of MD5 and SHA-1.
fn end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let parsed = CapturedX509Certificate::from_der(cert.as_ref()).ok()?;
    let algorithm = match parsed.signature_algorithm()? {
        SignatureAlgorithm::RsaSha1 | SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::EcdsaSha256 => {
            &digest::SHA256
        }
        SignatureAlgorithm::RsaSha384 | SignatureAlgorithm::EcdsaSha384 => &digest::SHA384,
        SignatureAlgorithm::RsaSha512 => &digest::SHA512,
        SignatureAlgorithm::Ed25519 | SignatureAlgorithm::NoSignature(_) => return None,
    };
    Some(digest::digest(algorithm, cert.as_ref()).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_a_certificate_and_hashes_it_for_channel_binding() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &generated.cert.pem());
        let key = write(dir.path(), "key.pem", &generated.signing_key.serialize_pem());
        let tls = Tls::load(&cert, &key).unwrap();
        // rcgen signs with ECDSA P-256 and SHA-256.
        let expected = digest::digest(&digest::SHA256, generated.cert.der().as_ref());
        assert_eq!(tls.end_point(), Some(expected.as_ref()));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &one.cert.pem());
        let other_key = write(dir.path(), "other.pem", &other.signing_key.serialize_pem());
        let empty = write(dir.path(), "empty.pem", "");
        let missing = dir.path().join("missing.pem");
        let cases = [
            (Tls::load(&missing, &other_key), "cannot read TLS certificate"),
            (Tls::load(&empty, &other_key), "no certificate in the file"),
            (Tls::load(&cert, &empty), "cannot read TLS key"),
            (Tls::load(&cert, &other_key), "cannot use TLS key"),
        ];
        for (result, expected) in cases {
            let error = result.unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
