//! TLS for listeners (rustls): server certificate and key, client certificates checked against `cafile` /
//! `capath` (and CRLs), a minimum TLS version, the cipher suites `ciphers`/`ciphers_tls1.3` name, and the
//! client certificate's identity as user name.
//!
//! rustls has no pre-shared-key cipher suites and no TLS 1.0/1.1, so `psk_file` and `tls_version tlsv1.1`
//! are start-up errors rather than silently weaker settings.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, RootCertStore, ServerConfig, SupportedCipherSuite};
use tokio_rustls::TlsAcceptor;
use x509_parser::der_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::x509::X509Name;

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
    #[error("{directive} {list}: names none of the cipher suites rustls offers ({offered})")]
    Ciphers { directive: &'static str, list: String, offered: String },
    #[error("TLS setup: {0}")]
    Rustls(String),
    /// The files were read but cannot be used together (bad encoding, a key that is not the
    /// certificate's, an invalid CRL): named so the operator knows which to fix.
    #[error("{files}: {reason}")]
    Unusable { files: String, reason: String },
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

/// The cipher suites rustls offers, by their OpenSSL names (which `ciphers` uses; TLS 1.3 suites have the
/// same name in both).
const OPENSSL_NAMES: &[(&str, CipherSuite)] = &[
    ("ECDHE-ECDSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("ECDHE-RSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-RSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-RSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_AES_256_GCM_SHA384", CipherSuite::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", CipherSuite::TLS13_AES_128_GCM_SHA256),
    ("TLS_CHACHA20_POLY1305_SHA256", CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
];

/// The provider's suites, restricted by `ciphers` (TLS 1.2) and `ciphers_tls1.3` as OpenSSL restricts
/// them: a list keeps the suites it names, in the provider's order of preference; names of suites rustls
/// does not have (CBC, DHE, RSA key exchange) and OpenSSL keywords are passed over, as OpenSSL passes
/// over unknown names, but a list naming none at all is an error rather than an open door.
fn restrict_suites(provider: &mut CryptoProvider, config: &TlsConfig) -> Result<(), TlsError> {
    let lists = [("ciphers", &config.ciphers, false), ("ciphers_tls1.3", &config.ciphers_tls13, true)];
    for (directive, list, tls13) in lists {
        let Some(list) = list else { continue };
        let named: Vec<CipherSuite> = list
            .split([':', ',', ' '])
            .filter_map(|name| OPENSSL_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
            .map(|&(_, suite)| suite)
            .collect();
        let is_13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
        let offered = || {
            let names = provider.cipher_suites.iter().filter(|s| is_13(s) == tls13);
            let names = names.filter_map(|s| OPENSSL_NAMES.iter().find(|(_, c)| *c == s.suite()));
            names.map(|(n, _)| *n).collect::<Vec<_>>().join(":")
        };
        if !provider.cipher_suites.iter().any(|s| is_13(s) == tls13 && named.contains(&s.suite())) {
            return Err(TlsError::Ciphers { directive, list: list.clone(), offered: offered() });
        }
        provider.cipher_suites.retain(|s| is_13(s) != tls13 || named.contains(&s.suite()));
    }
    Ok(())
}

/// A TLS listener's handshake settings, and the check of client certificates they include (kept to check
/// the certificates of open connections again when a reload brings a new CA or CRL).
#[derive(Clone)]
pub struct ListenerTls {
    pub acceptor: TlsAcceptor,
    /// `None` when client certificates are not asked for (no `cafile`/`capath`).
    pub client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls").field("client_verifier", &self.client_verifier.is_some()).finish()
    }
}

/// A client's certificate chain, as presented in its handshake: the client's own certificate first.
pub type PeerCertificates = Arc<[CertificateDer<'static>]>;

/// Why a client's certificate is no longer accepted, if it is not: checked again with `verifier` (the
/// listener's CA and CRLs in force) as if the client connected now. A client without a certificate is
/// refused if the verifier now requires one.
pub fn recheck(verifier: &dyn ClientCertVerifier, chain: Option<&PeerCertificates>) -> Result<(), String> {
    match chain.and_then(|c| c.split_first()) {
        Some((end_entity, intermediates)) => verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map(drop)
            .map_err(|e| e.to_string()),
        None if verifier.client_auth_mandatory() => Err("a client certificate is now required".into()),
        None => Ok(()),
    }
}

/// Builds the acceptor for a TLS listener, with the client certificate verifier it uses.
pub fn listener_tls(config: &TlsConfig) -> Result<ListenerTls, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    restrict_suites(&mut provider, config)?;
    let provider = Arc::new(provider);
    let versions: &[&'static rustls::SupportedProtocolVersion] = match config.tls_version.as_deref() {
        None | Some("tlsv1.2") => &[&rustls::version::TLS12, &rustls::version::TLS13],
        Some("tlsv1.3") => &[&rustls::version::TLS13],
        Some(other) => return Err(TlsError::Version(other.to_owned())),
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let mut client_verifier = None;
    let builder = if config.cafile.is_some() || config.capath.is_some() {
        let roots = client_roots(config)?;
        let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        if let Some(crlfile) = &config.crlfile {
            verifier = verifier.with_crls(crls(crlfile)?);
        }
        if !config.require_certificate {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier.build().map_err(|e| {
            let files = [&config.cafile, &config.capath, &config.crlfile];
            let files = files.iter().filter_map(|f| f.as_ref().map(|f| f.display().to_string()));
            TlsError::Unusable { files: files.collect::<Vec<_>>().join(", "), reason: e.to_string() }
        })?;
        client_verifier = Some(verifier.clone());
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let server =
        builder.with_single_cert(certs(&config.certfile)?, private_key(&config.keyfile)?).map_err(|e| {
            TlsError::Unusable {
                files: format!("{} with {}", config.certfile.display(), config.keyfile.display()),
                reason: e.to_string(),
            }
        })?;
    Ok(ListenerTls { acceptor: TlsAcceptor::from(Arc::new(server)), client_verifier })
}

/// The user name a client certificate stands for: its subject's common name (`use_identity_as_username`)
/// or its whole subject (`use_subject_as_username`). `None` if there is no certificate or the name is not
/// clean UTF-8 without NUL.
pub fn certificate_username(cert: &CertificateDer<'_>, whole_subject: bool) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let name = if whole_subject {
        rfc2253(subject)
    } else {
        subject.iter_common_name().next()?.as_str().ok()?.to_owned()
    };
    (!name.is_empty() && !name.contains('\0')).then_some(name)
}

/// A name as Mosquitto's `use_subject_as_username` writes it, so ACL files written for Mosquitto name the
/// same users: OpenSSL's `X509_NAME_print_ex(.., XN_FLAG_RFC2253)`. The last RDN comes first, RDNs are
/// separated by `,` and the values of one RDN by `+`; attributes carry OpenSSL's short names
/// (`O=Example,CN=sensor-1`). In values, `,+"\<>;` are escaped with `\`, as are a leading `#` or space and a
/// trailing space; control characters and each byte of a non-ASCII character are written `\XX`. A value
/// that is not a string, or of an attribute without a short name, is `#` and the hex of its DER.
fn rfc2253(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter().collect::<Vec<_>>().into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().collect::<Vec<_>>().into_iter().rev().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            let value = attr.attr_value();
            match (short_name(&oid), string_value(value)) {
                (Some(short), Some(text)) => {
                    out.push_str(short);
                    out.push('=');
                    escape_rfc2253(&text, &mut out);
                }
                (short, _) => {
                    out.push_str(short.unwrap_or(&oid));
                    out.push_str("=#");
                    for byte in value.to_der_vec().unwrap_or_default() {
                        out.push_str(&format!("{byte:02X}"));
                    }
                }
            }
        }
    }
    out
}

/// OpenSSL's short names of the attributes found in certificate subjects.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// The text of a string-typed value (T.61 read as Latin-1, as OpenSSL reads it).
fn string_value(value: &Any<'_>) -> Option<String> {
    let data = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_owned)
        }
        Tag::T61String => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

fn escape_rfc2253(text: &str, out: &mut String) {
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        let mut utf8 = [0; 4];
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            let special = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
                || (i == 0 && matches!(b, b'#' | b' '))
                || (i == last && b == b' ');
            if !(0x20..0x7F).contains(&b) {
                out.push_str(&format!("\\{b:02X}"));
            } else if special {
                out.push('\\');
                out.push(char::from(b));
            } else {
                out.push(char::from(b));
            }
        }
    }
}
