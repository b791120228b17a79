//! TLS for MQTT over TCP or WebSocket (rustls): trust roots from the OS, a CA file or a CA directory,
//! an optional client certificate, and mosquitto's `--insecure` (the chain is still verified, the host
//! name is not).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// TLS settings of a connection.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of trusted CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Directory of PEM files of trusted CA certificates.
    pub ca_path: Option<PathBuf>,
    /// Trust the operating system's roots (implied when no CA file or directory is given).
    pub native_roots: bool,
    /// Client certificate chain and private key, PEM.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Skip the check that the certificate names the host (the chain is still verified).
    pub insecure: bool,
    /// Limit to one TLS version: `tlsv1.2` or `tlsv1.3` (rustls supports nothing older).
    pub version: Option<String>,
    /// ALPN protocol to offer.
    pub alpn: Option<String>,
}

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: no certificates found", .0.display())]
    NoCertificates(PathBuf),
    #[error("{}: no private key found", .0.display())]
    NoKey(PathBuf),
    #[error("no trusted CA certificates could be loaded")]
    NoRoots,
    #[error("unsupported TLS version {0:?} (use tlsv1.2 or tlsv1.3)")]
    Version(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_err = |source| TlsError::Read { path: path.to_owned(), source };
    let mut reader = BufReader::new(File::open(path).map_err(read_err)?);
    let certs = rustls_pemfile::certs(&mut reader).collect::<Result<Vec<_>, _>>().map_err(read_err)?;
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let read_err = |source| TlsError::Read { path: path.to_owned(), source };
    let mut reader = BufReader::new(File::open(path).map_err(read_err)?);
    rustls_pemfile::private_key(&mut reader)
        .map_err(read_err)?
        .ok_or_else(|| TlsError::NoKey(path.to_owned()))
}

fn roots(options: &TlsOptions) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(file) = &options.ca_file {
        let certs = read_certs(file)?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificates(file.clone()));
        }
        roots.add_parsable_certificates(certs);
    }
    if let Some(dir) = &options.ca_path {
        let entries =
            std::fs::read_dir(dir).map_err(|source| TlsError::Read { path: dir.clone(), source })?;
        for entry in entries.flatten() {
            // A CA directory also holds hash links and non-PEM files: take what parses.
            if let Ok(certs) = read_certs(&entry.path()) {
                roots.add_parsable_certificates(certs);
            }
        }
    }
    if options.native_roots || (options.ca_file.is_none() && options.ca_path.is_none()) {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    Ok(roots)
}

/// Builds the rustls configuration for `options`.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match options.version.as_deref() {
        None => rustls::DEFAULT_VERSIONS,
        Some("tlsv1.3") => &[&rustls::version::TLS13],
        Some("tlsv1.2") => &[&rustls::version::TLS12],
        Some(other) => return Err(TlsError::Version(other.to_owned())),
    };
    let roots = Arc::new(roots(options)?);
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = if options.insecure {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostName(inner)))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match &options.client_cert {
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            if chain.is_empty() {
                return Err(TlsError::NoCertificates(cert.clone()));
            }
            builder.with_client_auth_cert(chain, read_key(key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    if let Some(alpn) = &options.alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    Ok(Arc::new(config))
}

/// Verifies the chain as usual but accepts a certificate issued for another host name (`--insecure`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
