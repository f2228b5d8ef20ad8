//! TLS to the database, with rustls (no OpenSSL to bundle into a Lambda package).
//!
//! The modes are libpq's names, so a connection URL means what a DBA expects:
//! - `disable`: plain TCP;
//! - `prefer` (the command line's default, as in libpq): TLS when the server offers it, without
//!   verifying its certificate;
//! - `require`: TLS or fail, without verifying the certificate (protects against passive
//!   eavesdropping only);
//! - `verify-full` (the Lambda default): TLS, the chain verified against the system roots plus an
//!   optional CA bundle (the RDS bundle), and the host name checked.
//!
//! `verify-ca` is refused rather than silently treated as something stronger or weaker.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyFull,
}

impl FromStr for TlsMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "disable" => Ok(TlsMode::Disable),
            "prefer" | "allow" => Ok(TlsMode::Prefer),
            "require" => Ok(TlsMode::Require),
            "verify-full" => Ok(TlsMode::VerifyFull),
            "verify-ca" => Err(Error::invalid(
                "TLS mode 'verify-ca'",
                "not supported: use verify-full, which also checks the host name",
            )),
            other => Err(Error::invalid(
                format!("TLS mode '{other}'"),
                "expected disable, prefer, require or verify-full",
            )),
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        })
    }
}

impl TlsMode {
    /// What this mode demands of the server, added to a refused connection's error when TLS is
    /// the likely cause (`None`: the mode demands nothing).
    pub fn refusal_hint(self) -> Option<&'static str> {
        match self {
            TlsMode::VerifyFull => Some(
                "TLS mode verify-full: the server's certificate must chain to a system root or \
                 the CA bundle, and name the host",
            ),
            TlsMode::Require => Some("TLS mode require: the server must accept TLS"),
            TlsMode::Disable | TlsMode::Prefer => None,
        }
    }
}

/// How to secure a database connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: TlsMode,
    /// Extra trusted CA certificates (PEM), added to the system roots.
    pub ca_file: Option<PathBuf>,
}

impl TlsOptions {
    /// The rustls client configuration for this mode; `None` for `disable`.
    pub fn client_config(&self) -> Result<Option<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid("TLS configuration", e))?;
        let config = match self.mode {
            TlsMode::Disable => return Ok(None),
            TlsMode::Prefer | TlsMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            TlsMode::VerifyFull => {
                builder.with_root_certificates(self.roots()?).with_no_client_auth()
            }
        };
        Ok(Some(config))
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "could not read a system root certificate");
        }
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        let mut extra = 0;
        if let Some(path) = &self.ca_file {
            for cert in read_pem(path)? {
                roots.add(cert).map_err(|e| {
                    Error::config(format!("CA bundle {}", path.display()), e.to_string())
                })?;
                extra += 1;
            }
        }
        tracing::debug!(system = added, bundle = extra, "trusted root certificates");
        if roots.is_empty() {
            return Err(Error::config(
                "TLS verify-full",
                "no trusted root certificates: the system has none and no CA bundle was given",
            ));
        }
        Ok(roots)
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |reason: String| Error::config(format!("CA bundle {}", path.display()), reason);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// The verifier of `prefer` and `require`: accepts any certificate, but still checks that the
/// server holds the key it presents (the handshake signature), as libpq does without a root.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_with_libpq_names() {
        assert_eq!("disable".parse::<TlsMode>().ok(), Some(TlsMode::Disable));
        assert_eq!("verify-full".parse::<TlsMode>().ok(), Some(TlsMode::VerifyFull));
        let err = "verify-ca".parse::<TlsMode>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("verify-full"), "{err}");
        let err = "strict".parse::<TlsMode>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("'strict'"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_ca_bundle_is_named() {
        let options = TlsOptions {
            mode: TlsMode::VerifyFull,
            ca_file: Some(PathBuf::from("/nonexistent/rds-bundle.pem")),
        };
        let err = options.client_config().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("/nonexistent/rds-bundle.pem"), "{err}");

        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").ok();
        let options = TlsOptions { mode: TlsMode::VerifyFull, ca_file: Some(empty) };
        let err = options.client_config().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn disable_has_no_client_config() {
        let options = TlsOptions { mode: TlsMode::Disable, ca_file: None };
        assert!(matches!(options.client_config(), Ok(None)));
        let options = TlsOptions { mode: TlsMode::Require, ca_file: None };
        assert!(matches!(options.client_config(), Ok(Some(_))));
    }
}
