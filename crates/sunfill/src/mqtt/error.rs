//! [`Error`]: what went wrong between sunfill and the broker, and what to do about it.
//!
//! rumqttc and rustls report "TLS: I/O: tls handshake eof" or "invalid peer certificate:
//! UnknownIssuer". Users cannot act on that. [`classify`](super::broker) turns those into the
//! cases below, each with the broker's address and the fix.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the TLS layer refused the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The broker's certificate is not signed by the CA in `ca_file`.
    UnknownCa {
        /// Issuer named in the broker's certificate.
        issuer: String,
        /// Subject of the broker's certificate.
        subject: String,
        /// The CA file in use (`None`: the system's roots).
        ca_file: Option<PathBuf>,
    },
    /// The host name or IP sunfill connects to is not in the certificate.
    HostnameMismatch {
        /// The name or address sunfill connected to.
        host: String,
        /// The names the certificate is valid for (`DNS:...`, `IP:...`).
        sans: Vec<String>,
    },
    /// The broker's certificate has expired.
    Expired {
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The broker's certificate is not valid yet (or this machine's clock is behind).
    NotYetValid {
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The broker requires a client certificate and none is configured.
    ClientCertRequired,
    /// The broker refused the client certificate sunfill sent.
    ClientCertRejected {
        /// The TLS alert the broker sent.
        alert: String,
    },
    /// The broker closed the connection during the TLS handshake: it speaks plain MQTT.
    PlainPort,
    /// Another certificate problem (bad encoding, wrong purpose, ...).
    Certificate(String),
    /// Another TLS failure.
    Other(String),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::UnknownCa {
                issuer,
                subject,
                ca_file,
            } => {
                let ca = match ca_file {
                    Some(p) => format!("the CA in ca_file {}", p.display()),
                    None => "the system's trusted CAs (no ca_file configured)".to_string(),
                };
                write!(
                    f,
                    "the broker's certificate ({subject}) was signed by an unknown CA: its issuer is \
                     \"{issuer}\", which is not {ca}; set ca_file to the CA certificate that signed \
                     the broker's certificate (for `sunfill certs init`: ca.crt)"
                )
            }
            TlsFailure::HostnameMismatch { host, sans } => {
                let names = if sans.is_empty() {
                    "no subject alternative names at all".to_string()
                } else {
                    sans.join(", ")
                };
                write!(
                    f,
                    "host name mismatch: the broker's certificate is not valid for \"{host}\"; it is \
                     valid for: {names}; connect using one of those names, or issue the broker a \
                     certificate that includes \"{host}\" (sunfill certs init --host NAME --ip ADDR)"
                )
            }
            TlsFailure::Expired {
                not_before,
                not_after,
            } => write!(
                f,
                "the broker's certificate expired on {not_after} (valid from {not_before}); issue \
                 a new broker certificate (sunfill certs init) and restart Mosquitto; if the dates \
                 look wrong, check this machine's clock"
            ),
            TlsFailure::NotYetValid {
                not_before,
                not_after,
            } => write!(
                f,
                "the broker's certificate is not valid yet: valid from {not_before} until \
                 {not_after}; check this machine's clock (NTP), or the clock of the machine that \
                 issued the certificate"
            ),
            TlsFailure::ClientCertRequired => f.write_str(
                "the broker requires a client certificate (require_certificate true) and none is \
                 configured; set client_cert and client_key (sunfill certs init --client NAME)",
            ),
            TlsFailure::ClientCertRejected { alert } => write!(
                f,
                "the broker rejected sunfill's client certificate (TLS alert: {alert}); the \
                 client certificate must be signed by the CA in the broker's cafile and be valid; \
                 check client_cert/client_key, or issue one with sunfill certs init --client NAME"
            ),
            TlsFailure::PlainPort => f.write_str(
                "the broker closed the connection during the TLS handshake: this port probably \
                 speaks plain MQTT, not TLS; use the broker's TLS port (usually mqtts://host:8883), \
                 or mqtt:// if this listener really is unencrypted",
            ),
            TlsFailure::Certificate(e) => write!(
                f,
                "the broker's certificate is not acceptable: {e}; run `sunfill certs show` on it"
            ),
            TlsFailure::Other(e) => write!(f, "TLS failed: {e}"),
        }
    }
}

/// Why the broker refused the MQTT login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong user name or password.
    BadCredentials {
        /// The user name sent, if any.
        username: Option<String>,
    },
    /// Not authorised (for example no user name where one is required).
    NotAuthorized {
        /// The user name sent, if any.
        username: Option<String>,
    },
    /// The broker refused the client id.
    ClientId(String),
    /// Another refusal code.
    Other(String),
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = |u: &Option<String>| match u {
            Some(u) => format!("user \"{u}\""),
            None => "no user name".to_string(),
        };
        match self {
            AuthFailure::BadCredentials { username } => write!(
                f,
                "the broker rejected the login ({}): bad user name or password; check username \
                 and password / password_file / password_env against the broker's password_file",
                user(username)
            ),
            AuthFailure::NotAuthorized { username } => write!(
                f,
                "the broker refused the login ({}): not authorised (wrong user name or password, \
                 or anonymous access is off); check username and password / password_file / \
                 password_env, and the broker's password_file and acl_file",
                user(username)
            ),
            AuthFailure::ClientId(id) => write!(
                f,
                "the broker refused client id \"{id}\"; set a different client_id"
            ),
            AuthFailure::Other(code) => write!(f, "the broker refused the connection: {code}"),
        }
    }
}

/// An MQTT failure, always with the broker's address.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `[mqtt]` settings cannot be used (bad URL, unreadable file, ...).
    #[error("mqtt settings for {broker}: {what}")]
    Settings {
        /// The broker as configured.
        broker: String,
        /// What is wrong and what to do.
        what: String,
    },
    /// The broker's host name does not resolve.
    #[error(
        "broker {broker}: cannot resolve host name \"{host}\": {source}; check the spelling and \
         this machine's DNS, or use the broker's IP address"
    )]
    Resolve {
        /// The broker.
        broker: String,
        /// The host name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// TCP connection failed.
    #[error("broker {broker}: TCP connection failed: {source}; {hint}")]
    Tcp {
        /// The broker.
        broker: String,
        /// The socket error.
        source: io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// No answer in time.
    #[error(
        "broker {broker}: no answer within {secs} s (firewall dropping packets, or a TLS client \
         talking to a plain port that waits); check host, port and firewall"
    )]
    Timeout {
        /// The broker.
        broker: String,
        /// The timeout.
        secs: u64,
    },
    /// TLS failed: certificate, client certificate, or protocol.
    #[error("broker {broker}: {kind}")]
    Tls {
        /// The broker.
        broker: String,
        /// Which failure.
        kind: TlsFailure,
    },
    /// A plain MQTT client reached a TLS listener.
    #[error(
        "broker {broker}: the broker closed the connection without an MQTT answer: this port \
         probably expects TLS; use mqtts:// (usually port 8883) with ca_file"
    )]
    TlsPort {
        /// The broker.
        broker: String,
    },
    /// The broker refused the login.
    #[error("broker {broker}: {kind}")]
    Auth {
        /// The broker.
        broker: String,
        /// Which refusal.
        kind: AuthFailure,
    },
    /// The connection was lost after it had been established.
    #[error("broker {broker}: connection lost: {detail}")]
    Lost {
        /// The broker.
        broker: String,
        /// What the network layer said.
        detail: String,
    },
}

impl Error {
    /// True for failures that retrying soon will not fix (rejections of certificates or logins,
    /// wrong protocol on the port): the link retries them slowly.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::Tls { .. } | Error::Auth { .. } | Error::TlsPort { .. } | Error::Settings { .. }
        )
    }
}
