//! Certificates for TLS tests, made with rcgen and written as PEM files that rustls, OpenSSL (the
//! mosquitto tools, Python) and Node all read: a CA, server certificates for `localhost` and
//! `127.0.0.1`, client certificates with a chosen common name, and certificate revocation lists.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate's serial number (what a CRL names).
    pub serial: u64,
}

/// A certificate authority whose certificate is written to `<dir>/<name>.pem`.
pub struct Ca {
    /// The CA certificate (what `cafile` names).
    pub cert_path: PathBuf,
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
    next_serial: std::cell::Cell<u64>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("cert_path", &self.cert_path).finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA named `name`, its files in `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(1));
        let cert = params.self_signed(&key).expect("self-signed CA");
        let cert_path = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write CA");
        Ca { cert_path, cert, key, dir: dir.to_owned(), next_serial: std::cell::Cell::new(100) }
    }

    fn issue(&self, file: &str, mut params: CertificateParams) -> CertFiles {
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign certificate");
        let files = CertFiles {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
            serial,
        };
        std::fs::write(&files.cert, cert.pem()).expect("write certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        files
    }

    /// A server certificate for `localhost` and `127.0.0.1`, written as `<file>.crt` and `<file>.key`.
    pub fn server(&self, file: &str) -> CertFiles {
        self.server_for(file, &["localhost", "127.0.0.1"])
    }

    /// A server certificate for these host names (or addresses), the first also its common name.
    pub fn server_for(&self, file: &str, names: &[&str]) -> CertFiles {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.distinguished_name = dn(names.first().copied().unwrap_or("localhost"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(file, params)
    }

    /// A client certificate with common name `cn` (and organisation `Tern Tests`).
    pub fn client(&self, file: &str, cn: &str) -> CertFiles {
        let mut subject = dn(cn);
        subject.push(DnType::OrganizationName, "Tern Tests");
        self.client_with_subject(file, subject)
    }

    /// A client certificate with this subject.
    pub fn client_with_subject(&self, file: &str, subject: DistinguishedName) -> CertFiles {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = subject;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file, params)
    }

    /// A PEM CRL from this CA revoking `revoked`, written to `path`.
    pub fn crl(&self, path: &Path, revoked: &[&CertFiles]) {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2124, 1, 1),
            crl_number: SerialNumber::from(1),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| RevokedCertParams {
                    serial_number: SerialNumber::from(c.serial),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.cert, &self.key).expect("sign CRL");
        std::fs::write(path, crl.pem().expect("CRL PEM")).expect("write CRL");
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}
