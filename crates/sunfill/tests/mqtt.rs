//! sunfill against a real Mosquitto (Debian `mosquitto`, `mosquitto-clients`), started by each
//! test on a free loopback port (`common::Mosquitto`) with certificates made by our own
//! `certs init`.
//!
//! Every error case asserts the message a user sees. Waits are bounded and generous; nothing
//! asserts how long something took.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Mosquitto, WAIT};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use sunfill::certs::{self, Ca, InitOptions, Validity};
use sunfill::mqtt::broker::{connect_once, Broker, Settings};
use sunfill::mqtt::inputs::presets;
use sunfill::mqtt::outputs::Topics;
use sunfill::mqtt::{AuthFailure, Error, TlsFailure};
use sunfill::service::{self, Service};
use tokio::sync::mpsc;

/// A broker whose one listener takes the config lines `body`.
fn broker(dir: &Path, body: &str) -> Mosquitto {
    Mosquitto::listener(dir, body, dir.join("pki"))
}

/// The broker's address with `scheme`, parsed.
fn url(m: &Mosquitto, scheme: &str) -> Broker {
    Broker::parse(&m.url(scheme)).unwrap()
}

/// A PKI made by `certs init` for host `localhost` and IP 127.0.0.1, clients sunfill and ha.
fn pki(dir: &Path, name: &str, host: &str, ips: &[&str]) -> PathBuf {
    let r = certs::init(&InitOptions {
        dir: dir.join(name),
        host: host.into(),
        ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        clients: vec!["sunfill".into(), "ha".into()],
        days: 30,
    })
    .unwrap();
    r.dir
}

fn tls_listener(p: &Path, extra: &str) -> String {
    format!(
        "cafile {0}/ca.crt\ncertfile {0}/broker.crt\nkeyfile {0}/broker.key\n{extra}",
        p.display()
    )
}

fn settings(b: Broker, ca: Option<&Path>, client: Option<(&Path, &str)>) -> Settings {
    let mut s = Settings::new(b, "sunfill-test", "sunfill/test/status");
    s.tls.ca_file = ca.map(|p| p.join("ca.crt"));
    if let Some((dir, name)) = client {
        s.tls.client_cert = Some(dir.join(format!("{name}.crt")));
        s.tls.client_key = Some(dir.join(format!("{name}.key")));
    }
    s.connect_timeout = Duration::from_secs(10);
    s
}

async fn expect_err(s: &Settings) -> Error {
    match connect_once(s).await {
        Ok(_) => panic!("connection to {} unexpectedly succeeded", s.broker),
        Err(e) => e,
    }
}

// Tests for TLS verification.

#[tokio::test]
async fn verified_tls_connects() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let m = broker(dir.path(), &tls_listener(&p, "allow_anonymous true"));
    connect_once(&settings(url(&m, "mqtts"), Some(&p), None))
        .await
        .unwrap();
}

#[tokio::test]
async fn mutual_tls_with_identity_as_username() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "user sunfill\ntopic readwrite sunfill/#\n").unwrap();
    let m = broker(
        dir.path(),
        &tls_listener(
            &p,
            &format!(
                "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n\
                 acl_file {}\n",
                acl.display()
            ),
        ),
    );
    let s = settings(url(&m, "mqtts"), Some(&p), Some((&p, "sunfill")));
    let (client, mut el) = connect_once(&s).await.unwrap();
    // The ACL grants sunfill/# to user "sunfill", the certificate's CN: a round trip proves it.
    client
        .subscribe("sunfill/x", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .publish("sunfill/x", rumqttc::QoS::AtLeastOnce, false, "hi")
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = el.poll().await.unwrap()
            {
                return p.payload;
            }
        }
    })
    .await
    .expect("the ACL for the certificate's CN lets the message through");
    assert_eq!(&got[..], b"hi");
}

#[tokio::test]
async fn wrong_ca_names_the_brokers_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let other = pki(dir.path(), "other", "other.example", &[]);
    let m = broker(dir.path(), &tls_listener(&p, "allow_anonymous true"));
    let e = expect_err(&settings(url(&m, "mqtts"), Some(&other), None)).await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                kind: TlsFailure::UnknownCa { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("broker mqtts://127.0.0.1:{}: the broker's certificate (CN=localhost) was signed by an unknown CA: its issuer is \"CN=sunfill CA for localhost, O=sunfill\"", m.port)), "{msg}");
    assert!(
        msg.contains(&format!("not the CA in ca_file {}/ca.crt", other.display())),
        "{msg}"
    );
    assert!(
        msg.contains("set ca_file to the CA certificate that signed"),
        "{msg}"
    );
}

#[tokio::test]
async fn host_name_mismatch_lists_the_certificates_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "broker.example", &["10.9.8.7"]);
    let m = broker(dir.path(), &tls_listener(&p, "allow_anonymous true"));
    let e = expect_err(&settings(url(&m, "mqtts"), Some(&p), None)).await;
    let msg = e.to_string();
    assert!(
        msg.contains("host name mismatch: the broker's certificate is not valid for \"127.0.0.1\"; it is valid for: DNS:broker.example, IP:10.9.8.7"),
        "{msg}"
    );
}

#[tokio::test]
async fn expired_certificate_gives_its_dates() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let ca = Ca::load(&p.join("ca.crt"), &p.join("ca.key")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let (crt, key) = ca
        .issue_server(
            "localhost",
            &["127.0.0.1".parse().unwrap()],
            Validity {
                not_before: now - time::Duration::days(60),
                not_after: now - time::Duration::days(30),
            },
        )
        .unwrap();
    certs::write_file(&p.join("broker.crt"), &crt, false).unwrap();
    certs::write_file(&p.join("broker.key"), &key, true).unwrap();
    let m = broker(dir.path(), &tls_listener(&p, "allow_anonymous true"));
    let e = expect_err(&settings(url(&m, "mqtts"), Some(&p), None)).await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                kind: TlsFailure::Expired { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    let y = (now - time::Duration::days(30)).year();
    assert!(
        msg.contains(&format!("the broker's certificate expired on {y}-")),
        "{msg}"
    );
    assert!(
        msg.contains("issue a new broker certificate (sunfill certs init)"),
        "{msg}"
    );
}

// Tests for client certificates.

#[tokio::test]
async fn missing_client_certificate_is_reported_as_required() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let m = broker(
        dir.path(),
        &tls_listener(&p, "require_certificate true\nallow_anonymous true"),
    );
    let e = expect_err(&settings(url(&m, "mqtts"), Some(&p), None)).await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                kind: TlsFailure::ClientCertRequired,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(
        "the broker requires a client certificate (require_certificate true) and none is configured; set client_cert and client_key"
    ));
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_reported_as_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let other = pki(dir.path(), "other", "other.example", &[]);
    let m = broker(
        dir.path(),
        &tls_listener(&p, "require_certificate true\nallow_anonymous true"),
    );
    let e = expect_err(&settings(
        url(&m, "mqtts"),
        Some(&p),
        Some((&other, "sunfill")),
    ))
    .await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                kind: TlsFailure::ClientCertRejected { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("the broker rejected sunfill's client certificate (TLS alert: "),
        "{e}"
    );
}

// Tests for login and protocol mix-ups.

#[tokio::test]
async fn wrong_password_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let pw = dir.path().join("passwd");
    let st = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&pw)
        .args(["alice", "right-password"])
        .status()
        .expect("mosquitto_passwd (package mosquitto)");
    assert!(st.success());
    let m = broker(
        dir.path(),
        &tls_listener(
            &p,
            &format!("allow_anonymous false\npassword_file {}", pw.display()),
        ),
    );
    let mut s = settings(url(&m, "mqtts"), Some(&p), None);
    s.username = Some("alice".into());
    s.password = Some(sunfill::mqtt::broker::Secret::new("wrong-password"));
    let e = expect_err(&s).await;
    assert!(matches!(&e, Error::Auth { .. }), "{e:?}");
    assert!(e.is_rejection());
    let msg = e.to_string();
    assert!(
        msg.contains("the broker rejected the login (user \"alice\"): bad user name or password")
            || msg.contains("the broker refused the login (user \"alice\"): not authorised"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-password"));
    s.password = Some(sunfill::mqtt::broker::Secret::new("right-password"));
    connect_once(&s).await.unwrap();
    if let Error::Auth { kind, .. } = e {
        assert!(matches!(
            kind,
            AuthFailure::BadCredentials { .. } | AuthFailure::NotAuthorized { .. }
        ));
    }
}

#[tokio::test]
async fn plain_client_to_tls_port_is_told_to_use_mqtts() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let m = broker(dir.path(), &tls_listener(&p, "allow_anonymous true"));
    let e = expect_err(&settings(url(&m, "mqtt"), None, None)).await;
    assert_eq!(
        e.to_string(),
        format!(
            "broker mqtt://127.0.0.1:{}: the broker closed the connection without an MQTT answer: \
             this port probably expects TLS; use mqtts:// (usually port 8883) with ca_file",
            m.port
        )
    );
}

#[tokio::test]
async fn tls_client_to_plain_port_is_told_it_speaks_plain_mqtt() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let m = broker(dir.path(), "allow_anonymous true");
    let e = expect_err(&settings(url(&m, "mqtts"), Some(&p), None)).await;
    assert!(
        e.to_string().contains("the broker closed the connection during the TLS handshake: this port probably speaks plain MQTT"),
        "{e}"
    );
}

// Tests for the running service: reconnect, last will, inputs, commands.

/// Watches topics through its own connection (as Home Assistant would).
struct Observer {
    rx: mpsc::Receiver<(String, String, bool)>,
    client: rumqttc::AsyncClient,
}

impl Observer {
    async fn new(s: &Settings, filters: &[&str]) -> Observer {
        let (client, mut el) = connect_once(s).await.unwrap();
        for f in filters {
            client
                .subscribe(*f, rumqttc::QoS::AtLeastOnce)
                .await
                .unwrap();
        }
        let (tx, rx) = mpsc::channel(10_000);
        tokio::spawn(async move {
            while let Ok(ev) = el.poll().await {
                if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = ev {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    if tx.send((p.topic, payload, p.retain)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Observer { rx, client }
    }

    /// Waits for a message on `topic` whose payload satisfies `pred`; returns the payload.
    async fn wait(&mut self, topic: &str, pred: impl Fn(&str) -> bool) -> String {
        let seen = tokio::time::timeout(WAIT, async {
            while let Some((t, p, _)) = self.rx.recv().await {
                if t == topic && pred(&p) {
                    return Some(p);
                }
            }
            None
        })
        .await;
        match seen {
            Ok(Some(p)) => p,
            _ => panic!("no matching message on {topic} within {WAIT:?}"),
        }
    }

    async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
}

fn mtls_broker(dir: &Path, p: &Path) -> Mosquitto {
    broker(
        dir,
        &tls_listener(
            p,
            "require_certificate true\nuse_identity_as_username true\nallow_anonymous false",
        ),
    )
}

fn service_settings(m: &Mosquitto, p: &Path) -> Settings {
    let mut s = settings(url(m, "mqtts"), Some(p), Some((p, "sunfill")));
    s.client_id = "sunfill-garage".into();
    s.status_topic = "sunfill/garage/status".into();
    s
}

fn observer_settings(m: &Mosquitto, p: &Path) -> Settings {
    let mut s = settings(url(m, "mqtts"), Some(p), Some((p, "ha")));
    s.client_id = format!("observer-{}", m.port);
    s
}

fn start_service(s: Settings) -> tokio::sync::oneshot::Sender<()> {
    let svc = Service::new(
        Topics::new("garage"),
        presets::powerwall_statestream("homeassistant"),
        sunfill_core::Config::default(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service::run(s, svc, async move {
        let _ = rx.await;
    }));
    tx
}

#[tokio::test]
async fn broker_restart_reconnects_resubscribes_and_republishes() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let mut m = mtls_broker(dir.path(), &p);
    let _stop = start_service(service_settings(&m, &p));
    let mut obs = Observer::new(
        &observer_settings(&m, &p),
        &["sunfill/#", "homeassistant/#"],
    )
    .await;
    obs.wait("sunfill/garage/status", |v| v == "online").await;
    obs.wait("homeassistant/select/sunfill_garage/mode/config", |v| {
        v.contains("\"options\":[\"off\",\"pv\",\"minpv\",\"now\",\"fixed\"]")
    })
    .await;

    m.restart(); // No persistence: the new broker knows no retained message and no subscription.
    let mut obs = Observer::new(
        &observer_settings(&m, &p),
        &["sunfill/#", "homeassistant/#"],
    )
    .await;
    obs.wait("sunfill/garage/status", |v| v == "online").await;
    obs.wait("homeassistant/select/sunfill_garage/mode/config", |v| {
        !v.is_empty()
    })
    .await;
    // Resubscribed: a command is obeyed. Retry, since the subscription may land just after
    // the online message.
    let mode = tokio::time::timeout(WAIT, async {
        loop {
            obs.publish("sunfill/garage/mode/set", "now").await;
            if let Ok(Some((t, v, _))) =
                tokio::time::timeout(Duration::from_millis(500), obs.rx.recv()).await
            {
                if t == "sunfill/garage/mode" && v == "now" {
                    return v;
                }
            }
        }
    })
    .await
    .expect("the service obeys commands after the broker restart");
    assert_eq!(mode, "now");
    // Home Assistant restarting: discovery again.
    obs.publish("homeassistant/status", "online").await;
    obs.wait(
        "homeassistant/sensor/sunfill_garage/session_energy/config",
        |v| v.contains("total_increasing"),
    )
    .await;
}

#[tokio::test]
async fn statestream_payloads_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let m = mtls_broker(dir.path(), &p);
    let _stop = start_service(service_settings(&m, &p));
    let mut obs = Observer::new(&observer_settings(&m, &p), &["sunfill/#"]).await;
    obs.wait("sunfill/garage/status", |v| v == "online").await;
    obs.wait("sunfill/garage/reason", |v| {
        v.contains("no grid reading yet")
    })
    .await;
    // The session beside the classic controller, for Home Assistant: empty before any decision.
    // (In the order they are published.)
    obs.wait("sunfill/garage/session_solar", |v| v == "0.00")
        .await;
    obs.wait("sunfill/garage/classic_session_starts", |v| v == "0")
        .await;
    let grid = "homeassistant/sensor/powerwall_site_now/state";
    // `unknown` is not a reading: still none.
    obs.publish(grid, "unknown").await;
    obs.publish(grid, "-2.5").await;
    // A live kW reading is used: now the wallbox is what is missing.
    obs.wait("sunfill/garage/reason", |v| {
        v.contains("no wallbox reading yet")
    })
    .await;

    obs.publish("sunfill/garage/mode/set", "turbo").await;
    let err = obs.wait("sunfill/garage/error", |_| true).await;
    let err: serde_json::Value = serde_json::from_str(&err).unwrap();
    assert_eq!(
        err["error"],
        "rejected sunfill/garage/mode/set \"turbo\": unknown mode; expected one of off, pv, minpv, now, fixed; nothing changed"
    );
    obs.publish("sunfill/garage/max_current/set", "32").await;
    let err = obs.wait("sunfill/garage/error", |_| true).await;
    assert!(
        err.contains("max_current 32.0 A must be between 6.0 A and 16.0 A"),
        "{err}"
    );
    obs.publish("sunfill/garage/max_current/set", "10").await;
    obs.wait("sunfill/garage/max_current", |v| v == "10.0")
        .await;
    obs.publish("sunfill/garage/mode/set", "fixed").await;
    obs.wait("sunfill/garage/mode", |v| v == "fixed").await;
    obs.wait("sunfill/garage/reason", |v| {
        v == "mode fixed: charging at 6.0 A"
    })
    .await;
}

#[tokio::test]
async fn last_will_is_seen_by_mosquitto_sub_when_sunfill_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    // The mosquitto.conf snippet written by certs init, with only its port moved off 8883.
    let snippet = std::fs::read_to_string(p.join("mosquitto.conf")).unwrap();
    assert!(snippet.contains("listener 8883\n"));
    let m = broker(dir.path(), &snippet.replace("listener 8883\n", ""));
    // The config lines written by certs init, unchanged, plus the port and loadpoint.
    let lines = std::fs::read_to_string(p.join("sunfill.toml")).unwrap();
    let lines = lines.replace(
        "mqtts://localhost:8883",
        &format!("mqtts://127.0.0.1:{}", m.port),
    );
    let cfg = dir.path().join("sunfill.toml");
    std::fs::write(
        &cfg,
        format!(
            "{lines}[inputs]\npreset = \"powerwall-statestream\"\n\
             [[loadpoint]]\nname = \"garage\"\nport = \"tcp://127.0.0.1:9\"\n\
             [store]\npath = \"{}\"\n",
            dir.path().join("sunfill.db").display()
        ),
    )
    .unwrap();
    // mosquitto_sub with the files certs init wrote.
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &m.port.to_string()])
        .arg("--cafile")
        .arg(p.join("ca.crt"))
        .arg("--cert")
        .arg(p.join("ha.crt"))
        .arg("--key")
        .arg(p.join("ha.key"))
        .args(["-t", "sunfill/garage/status", "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (package mosquitto-clients)");
    let mut sunfill = Command::new(env!("CARGO_BIN_EXE_sunfill"))
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = sub.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_line = |want: &str| loop {
        match rx.recv_timeout(WAIT) {
            Ok(l) if l == want => return,
            Ok(_) => {}
            Err(_) => panic!("mosquitto_sub did not print {want:?}"),
        }
    };
    wait_line("sunfill/garage/status online");
    sunfill.kill().unwrap(); // SIGKILL: no DISCONNECT, so the broker sends the will.
    let _ = sunfill.wait();
    wait_line("sunfill/garage/status offline");
    let _ = sub.kill();
    let _ = sub.wait();
}

#[tokio::test]
async fn check_walks_the_path_and_reports_the_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "pki", "localhost", &["127.0.0.1"]);
    let other = pki(dir.path(), "other", "other.example", &[]);
    let m = mtls_broker(dir.path(), &p);
    let cfg = dir.path().join("check.toml");
    let write = |ca: &Path| {
        std::fs::write(
            &cfg,
            format!(
                "[mqtt]\nbroker = \"mqtts://127.0.0.1:{}\"\nca_file = \"{}/ca.crt\"\n\
                 client_cert = \"{p}/sunfill.crt\"\nclient_key = \"{p}/sunfill.key\"\n\
                 [inputs.grid]\ntopic = \"meter/power\"\n",
                m.port,
                ca.display(),
                p = p.display()
            ),
        )
        .unwrap();
    };
    write(&other);
    let r = sunfill::check::check_file(&cfg, Duration::from_secs(1)).await;
    let text = sunfill::check::render(&r);
    assert!(!r.ok);
    assert!(
        text.contains("ok    TCP: connected to 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  TLS: broker mqtts://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("signed by an unknown CA"), "{text}");

    write(&p);
    let obs = Observer::new(&observer_settings(&m, &p), &[]).await;
    obs.client
        .publish("meter/power", rumqttc::QoS::AtLeastOnce, true, "1200")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = sunfill::check::check_file(&cfg, Duration::from_secs(2)).await;
    let text = sunfill::check::render(&r);
    assert!(
        text.contains(
            "ok    TLS: broker certificate and host name verified; client certificate accepted"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "warn  input grid: Input(Grid(1200)) on meter/power is a retained value of unknown age"
        ),
        "{text}"
    );
}

// Tests for `sunfill bench mqtt` (the numbers themselves are in BENCHMARKS.md, never asserted).

/// The value after `key` in `line`, up to the next space or comma.
fn after<'a>(line: &'a str, key: &str) -> &'a str {
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.split([' ', ',']).next().unwrap()
}

#[test]
fn bench_mqtt_reports_latency_and_ingest_fields() {
    let out = Command::new(env!("CARGO_BIN_EXE_sunfill"))
        .args([
            "bench", "mqtt", "--tls", "--n", "4", "--rate", "200", "--secs", "0.5",
        ])
        .args(["--topics", "10", "--wildcard"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .expect("sunfill runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = |start: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{text}"))
    };
    for publisher in ["mosquitto_pub", "rumqttc"] {
        let l = line(publisher);
        assert_eq!(after(l, "count "), "4", "{l}");
        for q in ["p50 ", "p99 ", "max "] {
            let ms: f64 = after(l, q).parse().unwrap();
            assert!(ms > 0.0, "{l}");
        }
    }
    let l = line("publisher (separate process)");
    assert_eq!(after(l, "sent "), "100", "{l}");
    // With homeassistant/# every flood message reaches sunfill; QoS 0 on loopback loses none
    // at 200/s, but only "some" is asserted.
    let l = line("sunfill (own process)");
    let received: u64 = after(l, "received ").parse().unwrap();
    assert!(received > 0 && received <= 100, "{l}");
    assert!(after(l, "CPU ").parse::<u64>().is_ok(), "{l}");
    assert!(line("mosquitto: CPU").contains("% of one core"));
}
