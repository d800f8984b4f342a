//! The rustls client configuration: ring provider, TLS 1.2 and 1.3 only, broker certificate and
//! host name always verified.
//!
//! The verifier wraps rustls' WebPKI verifier. When it refuses a certificate it also records a
//! [`TlsFailure`] naming the issuer, the certificate's names or its dates, because by the time
//! the error comes out of rumqttc only "invalid peer certificate" is left.
//!
//! Skipping verification needs `tls_insecure_skip_verify_i_know_this_is_dangerous = true`; the
//! verifier then still checks the certificate, logs what is wrong at `warn` on every connect,
//! and accepts it anyway.

use super::error::TlsFailure;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Plain-words facts about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names, as `DNS:name` and `IP:addr`.
    pub sans: Vec<String>,
    /// Start of validity (UTC).
    pub not_before: String,
    /// End of validity (UTC).
    pub not_after: String,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// Seconds until expiry (negative when expired).
    pub expires_in_secs: i64,
    /// Seconds until it becomes valid (positive when not yet valid).
    pub valid_in_secs: i64,
}

/// Reads the facts of a DER certificate; `None` if it does not parse.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        16 => <[u8; 16]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        _ => None,
                    };
                    sans.push(format!("IP:{}", ip.unwrap_or_else(|| "?".into())));
                }
                other => sans.push(other.to_string()),
            }
        }
    }
    let v = cert.validity();
    let now = time::OffsetDateTime::now_utc();
    let nb = v.not_before.to_datetime();
    let na = v.not_after.to_datetime();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: fmt_time(nb),
        not_after: fmt_time(na),
        is_ca: cert.is_ca(),
        expires_in_secs: (na - now).whole_seconds(),
        valid_in_secs: (nb - now).whole_seconds(),
    })
}

fn fmt_time(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The host part of a server name, for messages.
fn host_of(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "?".to_string(),
    }
}

/// Turns a rustls certificate error on `cert` into a [`TlsFailure`] with the facts.
pub fn describe_rejection(
    err: &rustls::Error,
    cert: &[u8],
    server: &ServerName<'_>,
    ca_file: Option<&Path>,
) -> TlsFailure {
    let info = cert_info(cert);
    let (issuer, subject, sans, nb, na) = match &info {
        Some(i) => (
            i.issuer.clone(),
            i.subject.clone(),
            i.sans.clone(),
            i.not_before.clone(),
            i.not_after.clone(),
        ),
        None => Default::default(),
    };
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsFailure::UnknownCa {
                issuer,
                subject,
                ca_file: ca_file.map(Path::to_path_buf),
            },
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::HostnameMismatch {
                    host: host_of(server),
                    sans,
                }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired {
                    not_before: nb,
                    not_after: na,
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::NotYetValid {
                    not_before: nb,
                    not_after: na,
                }
            }
            other => TlsFailure::Certificate(format!("{other:?} ({subject}, issued by {issuer})")),
        },
        other => TlsFailure::Other(other.to_string()),
    }
}

/// The last certificate rejection seen by the certificate verifier, shared with the connection code.
#[derive(Clone, Debug, Default)]
pub struct Rejections(Arc<Mutex<Option<TlsFailure>>>);

impl Rejections {
    /// Takes the recorded rejection, leaving none.
    pub fn take(&self) -> Option<TlsFailure> {
        self.0.lock().map(|mut g| g.take()).unwrap_or(None)
    }

    fn put(&self, f: TlsFailure) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(f);
        }
    }
}

/// Verifies the broker's certificate with WebPKI, recording why it refused.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    rejections: Rejections,
    ca_file: Option<PathBuf>,
    insecure: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                let failure =
                    describe_rejection(&e, end_entity, server_name, self.ca_file.as_deref());
                if self.insecure {
                    tracing::warn!(
                        "TLS VERIFICATION SKIPPED (tls_insecure_skip_verify_i_know_this_is_dangerous): \
                         accepting a broker certificate that fails verification: {failure}"
                    );
                    Ok(ServerCertVerified::assertion())
                } else {
                    self.rejections.put(failure);
                    Err(e)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What the TLS configuration is built from.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// PEM CA certificate(s) the broker's certificate must chain to; `None`: system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key: Option<PathBuf>,
    /// Accept any broker certificate (warns on every connect).
    pub insecure_skip_verify: bool,
}

/// Builds the rustls client configuration; the error names the file and what to do.
pub fn client_config(files: &TlsFiles) -> Result<(Arc<ClientConfig>, Rejections), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            let certs = read_certs(path, "ca_file")?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "ca_file {}: no usable CA certificate in it; point ca_file at the PEM CA \
                     certificate that signed the broker's certificate",
                    path.display()
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let inner = if roots.is_empty() {
        if !files.insecure_skip_verify {
            return Err(
                "no trusted CA certificates: set ca_file to the CA that signed the \
                        broker's certificate"
                    .to_string(),
            );
        }
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot build the certificate verifier: {e}"))?,
        )
    };
    let rejections = Rejections::default();
    let verifier = Arc::new(Verifier {
        inner,
        provider: provider.clone(),
        rejections: rejections.clone(),
        ca_file: files.ca_file.clone(),
        insecure: files.insecure_skip_verify,
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client_cert")?;
            if chain.is_empty() {
                return Err(format!(
                    "client_cert {}: no certificate in it; expected a PEM certificate",
                    cert.display()
                ));
            }
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "client_key {}: cannot read a PEM private key: {e}; point client_key at the \
                     key that belongs to client_cert",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "client_cert {} and client_key {} do not fit together: {e}",
                    cert.display(),
                    key.display()
                )
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err("client_cert is set but client_key is not; set both or neither".into())
        }
        (None, Some(_)) => {
            return Err("client_key is set but client_cert is not; set both or neither".into())
        }
    };
    Ok((Arc::new(config), rejections))
}

/// Reads all PEM certificates of a file; the error names the setting and the file.
pub fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| {
        format!(
            "{setting} {}: cannot read it: {e}; check the path and permissions",
            path.display()
        )
    })?;
    iter.collect::<Result<Vec<_>, _>>().map_err(|e| {
        format!(
            "{setting} {}: not a valid PEM certificate file: {e}",
            path.display()
        )
    })
}
