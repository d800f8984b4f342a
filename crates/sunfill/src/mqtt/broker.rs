//! The broker address, the resolved connection [`Settings`], and turning rumqttc's errors into
//! [`Error`]s that say what to do.

use super::error::{AuthFailure, Error, TlsFailure};
use super::tls::{self, Rejections, TlsFiles};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions,
    NetworkOptions, Packet, QoS, StateError, TlsConfiguration, Transport,
};
use std::fmt;
use std::io;
use std::time::Duration;

/// Plain MQTT or MQTT over TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`, default port 1883.
    Mqtt,
    /// `mqtts://`, default port 8883.
    Mqtts,
}

/// A broker address: `mqtt://host[:1883]` or `mqtts://host[:8883]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    /// Plain or TLS.
    pub scheme: Scheme,
    /// Host name or IP address (without brackets for IPv6).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Broker {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (IPv6 as `[::1]`).
    pub fn parse(url: &str) -> Result<Broker, String> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (Scheme::Mqtts, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (Scheme::Mqtt, r)
        } else {
            return Err(format!(
                "broker \"{url}\" must start with mqtts:// (TLS, port 8883) or mqtt:// (plain, \
                 port 1883)"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let default_port = match scheme {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("broker \"{url}\": missing ']' after the IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("broker \"{url}\": unexpected \"{after}\"")),
            };
            (h.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                // Without brackets a second ':' means an IPv6 address, whose port cannot be told
                // apart ("fd00::10" would be host "fd00:" port 10).
                Some((h, _)) if h.contains(':') => {
                    return Err(format!(
                        "broker \"{url}\": an IPv6 address goes in brackets, e.g. \
                         mqtts://[fd00::10]:8883"
                    ))
                }
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', '[', ']']) {
            return Err(format!(
                "broker \"{url}\": expected mqtts://host[:port] with a host name or IP address \
                 and nothing after it"
            ));
        }
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                format!("broker \"{url}\": port \"{p}\" is not a number from 1 to 65535")
            })?,
        };
        Ok(Broker { scheme, host, port })
    }

    /// True for `mqtts://`.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Mqtts
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.scheme {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
        };
        if self.host.contains(':') {
            write!(f, "{s}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{s}://{}:{}", self.host, self.port)
        }
    }
}

/// A password that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The password itself, for the MQTT CONNECT packet only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything needed to connect, resolved from the `[mqtt]` config section.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The broker.
    pub broker: Broker,
    /// CA, client certificate and key, insecure flag.
    pub tls: TlsFiles,
    /// MQTT user name.
    pub username: Option<String>,
    /// MQTT password (already read from the file or environment variable).
    pub password: Option<Secret>,
    /// MQTT client id.
    pub client_id: String,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// How long to wait for TCP, TLS and CONNACK together.
    pub connect_timeout: Duration,
    /// The status topic: last will `offline`, `online` on connect (both retained).
    pub status_topic: String,
}

impl Settings {
    /// Minimal settings for a broker, for tests and tools: no TLS files, no login.
    pub fn new(broker: Broker, client_id: &str, status_topic: &str) -> Settings {
        Settings {
            broker,
            tls: TlsFiles::default(),
            username: None,
            password: None,
            client_id: client_id.to_string(),
            keep_alive: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            status_topic: status_topic.to_string(),
        }
    }

    /// Builds rumqttc's options and event loop; the [`Rejections`] slot explains TLS refusals.
    pub fn client(
        &self,
        cap: usize,
    ) -> Result<(AsyncClient, EventLoop, Option<Rejections>), Error> {
        let b = &self.broker;
        let mut opts = MqttOptions::new(&self.client_id, &b.host, b.port);
        opts.set_keep_alive(self.keep_alive.max(Duration::from_secs(5)));
        opts.set_clean_session(true);
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        opts.set_last_will(LastWill::new(
            &self.status_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &self.username {
            let pw = self.password.as_ref().map(|p| p.expose()).unwrap_or("");
            opts.set_credentials(user, pw);
        } else if self.password.is_some() {
            return Err(Error::Settings {
                broker: b.to_string(),
                what: "a password is configured but no username; set username".into(),
            });
        }
        let rejections = if b.is_tls() {
            let (cfg, rej) = tls::client_config(&self.tls).map_err(|what| Error::Settings {
                broker: b.to_string(),
                what,
            })?;
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(cfg)));
            Some(rej)
        } else {
            if self.tls.ca_file.is_some() || self.tls.client_cert.is_some() {
                tracing::warn!(
                    "broker {b} uses plain mqtt://, so ca_file/client_cert are ignored and the \
                     password travels unencrypted; use mqtts:// for TLS"
                );
            }
            None
        };
        let (client, mut eventloop) = AsyncClient::new(opts, cap);
        let mut net = NetworkOptions::new();
        net.set_connection_timeout(self.connect_timeout.as_secs().max(1));
        eventloop.set_network_options(net);
        Ok((client, eventloop, rejections))
    }
}

/// Where in the connection a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Before the first CONNACK of this connection.
    Connecting,
    /// After CONNACK.
    Connected,
}

/// Resolves the broker's host name, so that a DNS failure is reported as one.
pub async fn resolve(broker: &Broker) -> Result<Vec<std::net::SocketAddr>, Error> {
    match tokio::net::lookup_host((broker.host.as_str(), broker.port)).await {
        Ok(addrs) => {
            let v: Vec<_> = addrs.collect();
            if v.is_empty() {
                Err(Error::Resolve {
                    broker: broker.to_string(),
                    host: broker.host.clone(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
                })
            } else {
                Ok(v)
            }
        }
        Err(source) => Err(Error::Resolve {
            broker: broker.to_string(),
            host: broker.host.clone(),
            source,
        }),
    }
}

/// Connects once and waits for the broker's CONNACK; the error says what went wrong.
///
/// Used by `sunfill check` and the tests; the running service uses [`super::link`].
pub async fn connect_once(settings: &Settings) -> Result<(AsyncClient, EventLoop), Error> {
    resolve(&settings.broker).await?;
    let (client, mut eventloop, rejections) = settings.client(64)?;
    if settings.tls.insecure_skip_verify && settings.broker.is_tls() {
        warn_insecure(&settings.broker);
    }
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok((client, eventloop)),
            Ok(_) => {}
            Err(e) => {
                return Err(classify(
                    settings,
                    &e,
                    rejections.as_ref().and_then(Rejections::take),
                    Stage::Connecting,
                ))
            }
        }
    }
}

/// Logs the loud warning for `tls_insecure_skip_verify_i_know_this_is_dangerous`.
pub fn warn_insecure(broker: &Broker) {
    tracing::warn!(
        "connecting to {broker} WITHOUT verifying the broker's certificate \
         (tls_insecure_skip_verify_i_know_this_is_dangerous = true): anyone on the network path \
         can impersonate the broker; set ca_file and remove that setting"
    );
}

/// The innermost `io::Error` of a rumqttc error, if any.
fn io_error(e: &ConnectionError) -> Option<&io::Error> {
    match e {
        ConnectionError::Io(e) => Some(e),
        ConnectionError::MqttState(StateError::Io(e)) => Some(e),
        ConnectionError::Tls(rumqttc::TlsError::Io(e)) => Some(e),
        _ => None,
    }
}

/// A rustls error anywhere in the error's source chain, also inside an `io::Error` (rumqttc
/// wraps the broker's TLS alerts in up to three layers).
fn rustls_error(e: &ConnectionError) -> Option<&rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cur = err.source();
    }
    None
}

/// Turns a rumqttc error into an [`Error`] saying what it is and what to do.
///
/// `rejection` is what the certificate verifier recorded for this attempt, if anything.
pub fn classify(
    settings: &Settings,
    e: &ConnectionError,
    rejection: Option<TlsFailure>,
    stage: Stage,
) -> Error {
    let broker = settings.broker.to_string();
    if let Some(kind) = rejection {
        return Error::Tls { broker, kind };
    }
    if let ConnectionError::ConnectionRefused(code) = e {
        let username = settings.username.clone();
        let kind = match code {
            ConnectReturnCode::BadUserNamePassword => AuthFailure::BadCredentials { username },
            ConnectReturnCode::NotAuthorized => AuthFailure::NotAuthorized { username },
            ConnectReturnCode::BadClientId => AuthFailure::ClientId(settings.client_id.clone()),
            other => AuthFailure::Other(format!("{other:?}")),
        };
        return Error::Auth { broker, kind };
    }
    if let ConnectionError::NetworkTimeout = e {
        return Error::Timeout {
            broker,
            secs: settings.connect_timeout.as_secs(),
        };
    }
    let sent_cert = settings.tls.client_cert.is_some();
    if let Some(r) = rustls_error(e) {
        use rustls::AlertDescription as A;
        let kind = match r {
            rustls::Error::AlertReceived(A::CertificateRequired) => TlsFailure::ClientCertRequired,
            rustls::Error::AlertReceived(A::HandshakeFailure) if !sent_cert => {
                TlsFailure::ClientCertRequired
            }
            rustls::Error::AlertReceived(
                a @ (A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::UnsupportedCertificate
                | A::DecryptError
                | A::AccessDenied
                | A::HandshakeFailure),
            ) if sent_cert => TlsFailure::ClientCertRejected {
                alert: format!("{a:?}"),
            },
            rustls::Error::AlertReceived(A::ProtocolVersion) => TlsFailure::Other(
                "the broker and sunfill share no TLS version; sunfill speaks TLS 1.2 and 1.3: \
                 set the broker's tls_version to tlsv1.2 or tlsv1.3"
                    .into(),
            ),
            other => TlsFailure::Other(other.to_string()),
        };
        return Error::Tls { broker, kind };
    }
    let io = io_error(e);
    let kind = io.map(|e| e.kind());
    // A TLS client that reaches a plain MQTT listener: Mosquitto reads the ClientHello as a
    // malformed CONNECT and hangs up during the handshake.
    if settings.broker.is_tls() && stage == Stage::Connecting {
        if let ConnectionError::Tls(rumqttc::TlsError::Io(io)) = e {
            if matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ) {
                return Error::Tls {
                    broker,
                    kind: TlsFailure::PlainPort,
                };
            }
            if io.kind() == io::ErrorKind::InvalidData {
                return Error::Tls {
                    broker,
                    kind: TlsFailure::Other(format!(
                        "{io}; the port may not speak TLS (is it a plain MQTT or another \
                         service's port?)"
                    )),
                };
            }
        }
    }
    if matches!(kind, Some(io::ErrorKind::ConnectionRefused)) {
        return Error::Tcp {
            broker,
            source: clone_io(io),
            hint: "nothing listens on that port: check that Mosquitto runs and the port \
                   (8883 for mqtts://, 1883 for mqtt://) and its listener lines",
        };
    }
    if matches!(
        kind,
        Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable)
    ) {
        return Error::Tcp {
            broker,
            source: clone_io(io),
            hint: "the broker's address cannot be reached: check the address and the network",
        };
    }
    // A plain client that reaches a TLS listener: the broker answers the CONNECT with a TLS
    // alert (or nothing) and hangs up before CONNACK.
    if !settings.broker.is_tls() && stage == Stage::Connecting {
        let plain_to_tls = matches!(
            e,
            ConnectionError::MqttState(
                StateError::ConnectionAborted | StateError::Deserialization(_)
            ) | ConnectionError::NotConnAck(_)
        ) || matches!(
            kind,
            Some(
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
            )
        );
        if plain_to_tls {
            return Error::TlsPort { broker };
        }
    }
    Error::Lost {
        broker,
        detail: e.to_string(),
    }
}

fn clone_io(e: Option<&io::Error>) -> io::Error {
    match e {
        Some(e) => io::Error::new(e.kind(), e.to_string()),
        None => io::Error::other("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_with_default_ports() {
        let b = Broker::parse("mqtts://ha.local").unwrap();
        assert_eq!(
            (b.scheme, b.host.as_str(), b.port),
            (Scheme::Mqtts, "ha.local", 8883)
        );
        let b = Broker::parse("mqtt://10.0.0.2").unwrap();
        assert_eq!(b.port, 1883);
        let b = Broker::parse("mqtts://[::1]:18883").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 18883));
        assert_eq!(b.to_string(), "mqtts://[::1]:18883");
    }

    #[test]
    fn rejects_bad_urls_saying_what_is_expected() {
        let e = Broker::parse("tcp://ha:1883").unwrap_err();
        assert!(e.contains("must start with mqtts://"), "{e}");
        let e = Broker::parse("mqtts://ha:88x3").unwrap_err();
        assert!(e.contains("port \"88x3\""), "{e}");
        assert!(Broker::parse("mqtts://").is_err());
    }

    #[test]
    fn ipv6_without_brackets_and_stray_brackets_are_rejected() {
        // Found by fuzz target config: "mqtts://Rfd00::10]:8883" gave host "Rfd00::10]", which
        // prints as "mqtts://[Rfd00::10]]:8883" and does not parse back.
        for url in [
            "mqtts://Rfd00::10]:8883",
            "mqtts://fd00::10",
            "mqtt://::1:1883",
            "mqtts://[[::1]:8883",
            "mqtts://ha]:8883",
        ] {
            assert!(Broker::parse(url).is_err(), "{url}");
        }
        let e = Broker::parse("mqtts://fd00::10").unwrap_err();
        assert!(e.contains("mqtts://[fd00::10]:8883"), "{e}");
        for url in [
            "mqtts://[fd00::10]:8883",
            "mqtt://ha.lan:1883",
            "mqtts://10.0.0.2",
        ] {
            let b = Broker::parse(url).unwrap();
            assert_eq!(Broker::parse(&b.to_string()), Ok(b), "{url}");
        }
    }

    #[test]
    fn secrets_do_not_leak_into_debug_output() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
