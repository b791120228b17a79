//! TLS for listeners (rustls): server certificate and key, client certificates checked against `cafile` /
//! `capath` (and CRLs), a minimum TLS version, and the client certificate's identity as user name.
//!
//! rustls has no pre-shared-key cipher suites and no TLS 1.0/1.1, so `psk_file` and `tls_version tlsv1.1`
//! are start-up errors rather than silently weaker settings.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// Why a listener's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: no {what} found")]
    Empty { path: String, what: &'static str },
    #[error("tls_version {0}: supported versions are tlsv1.2 and tlsv1.3")]
    Version(String),
    #[error("TLS setup: {0}")]
    Rustls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read { path: path.display().to_string(), source })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read { path: path.display().to_string(), source })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.display().to_string(), what: "certificate" });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsError::Read { path: path.display().to_string(), source })?
        .ok_or_else(|| TlsError::Empty { path: path.display().to_string(), what: "private key" })
}

fn crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let pem = read(path)?;
    rustls_pemfile::crls(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read { path: path.display().to_string(), source })
}

/// The CA certificates of `cafile` and of every file in `capath`.
fn client_roots(config: &TlsConfig) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut add = |path: &Path| -> Result<(), TlsError> {
        for cert in certs(path)? {
            roots.add(cert).map_err(|e| TlsError::Rustls(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    };
    if let Some(cafile) = &config.cafile {
        add(cafile)?;
    }
    if let Some(capath) = &config.capath {
        let entries = fs::read_dir(capath)
            .map_err(|source| TlsError::Read { path: capath.display().to_string(), source })?;
        let mut files: Vec<_> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            // capath holds hashed links and other files too: use what parses as certificates.
            let _ = add(&file);
        }
    }
    Ok(roots)
}

/// Builds the acceptor for a TLS listener.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match config.tls_version.as_deref() {
        None | Some("tlsv1.2") => &[&rustls::version::TLS12, &rustls::version::TLS13],
        Some("tlsv1.3") => &[&rustls::version::TLS13],
        Some(other) => return Err(TlsError::Version(other.to_owned())),
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = if config.cafile.is_some() || config.capath.is_some() {
        let roots = client_roots(config)?;
        let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        if let Some(crlfile) = &config.crlfile {
            verifier = verifier.with_crls(crls(crlfile)?);
        }
        if !config.require_certificate {
            verifier = verifier.allow_unauthenticated();
        }
        builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
    } else {
        builder.with_no_client_auth()
    };
    let server = builder
        .with_single_cert(certs(&config.certfile)?, private_key(&config.keyfile)?)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The user name a client certificate stands for: its subject's common name (`use_identity_as_username`)
/// or its whole subject (`use_subject_as_username`). `None` if there is no certificate or the name is not
/// clean UTF-8 without NUL.
pub fn certificate_username(cert: &CertificateDer<'_>, whole_subject: bool) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let name = if whole_subject {
        subject.to_string()
    } else {
        subject.iter_common_name().next()?.as_str().ok()?.to_owned()
    };
    (!name.is_empty() && !name.contains('\0')).then_some(name)
}
