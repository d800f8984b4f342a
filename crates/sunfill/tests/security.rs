//! The security matrix (issue 7), one table per area. Every row is a test here or, where a test
//! elsewhere already covers it, that test by name.
//!
//! **TLS to the broker** (real Mosquitto, certificates from `certs init`; in `tests/mqtt.rs`):
//!
//! | case | what the user sees | test |
//! |---|---|---|
//! | wrong CA | `the broker's certificate (CN=localhost) was signed by an unknown CA: its issuer is "CN=sunfill CA for localhost, O=sunfill", not the CA in ca_file .../ca.crt; set ca_file to the CA certificate that signed ...` | `mqtt::wrong_ca_names_the_brokers_issuer` |
//! | host-name mismatch | `host name mismatch: the broker's certificate is not valid for "127.0.0.1"; it is valid for: DNS:broker.example, IP:10.9.8.7` | `mqtt::host_name_mismatch_lists_the_certificates_names` |
//! | expired certificate | `the broker's certificate expired on <date> ... issue a new broker certificate (sunfill certs init)` | `mqtt::expired_certificate_gives_its_dates` |
//! | missing client certificate | `the broker requires a client certificate (require_certificate true) and none is configured; set client_cert and client_key` | `mqtt::missing_client_certificate_is_reported_as_required` |
//! | rejected client certificate | `the broker rejected sunfill's client certificate (TLS alert: ...` | `mqtt::client_certificate_from_another_ca_is_reported_as_rejected` |
//! | wrong password | `the broker rejected the login (user "alice"): bad user name or password` (never the password) | `mqtt::wrong_password_is_reported_as_such` |
//! | plain client to a TLS port | `the broker closed the connection without an MQTT answer: this port probably expects TLS; use mqtts:// (usually port 8883) with ca_file` | `mqtt::plain_client_to_tls_port_is_told_to_use_mqtts` |
//! | TLS client to a plain port | `... during the TLS handshake: this port probably speaks plain MQTT` | `mqtt::tls_client_to_plain_port_is_told_it_speaks_plain_mqtt` |
//!
//! **Web API** (`sunfill run` listening on 0.0.0.0, so changes need the token): [`web_api`]
//! here; the router's own cases (loopback binds, DNS rebinding, cross-site `Origin`, constant-time
//! token comparison, no token configured) are unit tests in `src/web/tests.rs`:
//! `over_the_network_a_change_needs_the_token`,
//! `without_a_configured_token_remote_changes_are_refused`, `tokens_compare_by_content_only`,
//! `options_never_print_the_token`.
//!
//! | request | answer |
//! |---|---|
//! | `POST .../mode` without a token | 401 `this change needs the header Authorization: Bearer <token>` |
//! | with a wrong token | 401 `the token is wrong` |
//! | with the token | 200, and the box gets the mode's current |
//! | body over 4096 bytes | 413 `the request body is larger than 4096 bytes` |
//! | malformed JSON | 400 `invalid JSON body` |
//! | JSON with an unknown mode | 400 `unknown mode` |
//! | not JSON (`text/plain`) | 415 `send the body as JSON` |
//! | not HTTP at all | 400 or closed, and the server keeps answering |
//!
//! **MQTT commands** (`sunfill/<loadpoint>/<key>/set`): [`mqtt_commands`]. Each is answered on
//! `sunfill/<loadpoint>/error` with `... nothing changed`, and the mode, the limits and register
//! 261 stay as they were. The parser's own cases: `mqtt::outputs` unit tests
//! `invalid_commands_say_why_and_change_nothing`, `a_huge_payload_is_rejected_without_echoing_it`.
//!
//! | payload | topic |
//! |---|---|
//! | bad JSON `{"mode":` and JSON `{"mode":"now"}` | `mode/set` |
//! | 100 kB | `mode/set` (the error echoes at most 32 bytes of it) |
//! | out of range: 32, 5, -1, 1e309, NaN, 120 | `max_current`, `min_current`, `fixed_current`, `battery_priority_soc` |
//! | unknown key | `phases/set`, `../set` |
//! | non-UTF-8 bytes | `mode/set` |
//!
//! **Secrets**: [`mqtt_commands`] runs `sunfill run` with `SUNFILL_LOG=debug`, a broker password
//! and a web token, and greps its whole output for both; `sunfill config check` on the same file
//! likewise (also `daemon::config_check_names_file_line_and_key_and_never_prints_secrets`,
//! `mqtt::broker` unit test `secrets_do_not_leak_into_debug_output`).
//!
//! **Dependencies**: `cargo deny check` (advisories, licences, sources) runs in `scripts/test.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{free_port, start_sunfill, until, wallbox, Mosquitto, Proc, WAIT};
use rumqttc::QoS;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use sunfill::heidelberg::server::SimHandle;
use sunfill::mqtt::broker::{Broker, Secret, Settings};
use sunfill_core::Deciamps;

const MQTT_PASSWORD: &str = "mqtt-Pa55-never-logged-7f3a";
const WEB_TOKEN: &str = "web-t0ken-never-logged-91c2e";

/// Mosquitto with logins `sunfill` and `ha`, and `sunfill run` in mode fixed 8 A with the web
/// server on 0.0.0.0 and debug logging.
struct Setup {
    _dir: tempfile::TempDir,
    broker: Mosquitto,
    sim: SimHandle,
    sunfill: Proc,
    cfg: PathBuf,
    log: PathBuf,
    web_port: u16,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwd");
    for (i, (user, pass)) in [("sunfill", MQTT_PASSWORD), ("ha", "ha-password")]
        .iter()
        .enumerate()
    {
        let mut c = Command::new("mosquitto_passwd");
        if i == 0 {
            c.arg("-c");
        }
        let st = c
            .arg("-b")
            .arg(&pw)
            .args([user, pass])
            .status()
            .expect("mosquitto_passwd (package mosquitto)");
        assert!(st.success());
    }
    let broker = Mosquitto::start(
        dir.path(),
        &format!("allow_anonymous false\npassword_file {}", pw.display()),
    );
    let (sim, url) = wallbox().await;
    let web_port = free_port();
    let cfg = dir.path().join("sunfill.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nbroker = \"mqtts://127.0.0.1:{}\"\nca_file = \"{}\"\n\
             username = \"sunfill\"\npassword = \"{MQTT_PASSWORD}\"\n\
             [inputs]\npreset = \"powerwall-statestream\"\n\
             [[loadpoint]]\nname = \"garage\"\nport = \"{url}\"\nunit = 1\n\
             mode = \"fixed\"\nfixed_current = 8.0\n\
             [wallbox]\nwatchdog_ms = 15000\nfailsafe_current = 6.0\n\
             [web]\nbind = \"0.0.0.0:{web_port}\"\ntoken = \"{WEB_TOKEN}\"\n\
             [store]\npath = \"{}\"\n",
            broker.port,
            broker.ca().display(),
            dir.path().join("sunfill.db").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("sunfill.log");
    let sunfill = start_sunfill(
        &["run".into(), "--config".into(), cfg.display().to_string()],
        &log,
        &[("SUNFILL_LOG", "debug")],
    );
    let s = Setup {
        _dir: dir,
        broker,
        sim,
        sunfill,
        cfg,
        log,
        web_port,
    };
    until("8.0 A in register 261", &s.log, || s.reg() == Deciamps(80)).await;
    s
}

impl Setup {
    fn reg(&self) -> Deciamps {
        self.sim.with_box(1, |b, _| b.max_current()).unwrap()
    }

    fn client_args(&self) -> Vec<String> {
        let mut a = self.broker.tls_args();
        a.extend(["-u", "ha", "-P", "ha-password"].map(String::from));
        a
    }

    async fn publish(&self, topic: &str, payload: &[u8]) {
        let f = self._dir.path().join("payload");
        std::fs::write(&f, payload).unwrap();
        let st = tokio::process::Command::new("mosquitto_pub")
            .args(self.client_args())
            .args(["-q", "1", "-t", topic, "-f"])
            .arg(&f)
            .status()
            .await
            .expect("mosquitto_pub (package mosquitto-clients)");
        assert!(st.success(), "mosquitto_pub {topic} failed");
    }

    async fn retained(&self, topic: &str) -> Option<String> {
        common::retained(&self.client_args(), topic).await
    }

    /// Stops sunfill (SIGTERM) and returns everything it logged.
    fn stop(mut self) -> String {
        let exit = self.sunfill.terminate();
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(exit.success(), "{exit}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        text
    }
}

/// One HTTP/1.1 request on a fresh connection; (status, body). Status 0: the server closed the
/// connection without an answer.
fn http(port: u16, raw: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post(port: u16, path: &str, auth: Option<&str>, ctype: &str, body: &[u8]) -> (u16, String) {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: {ctype}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = auth {
        raw.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    http(port, &raw)
}

/// What, token, content type, body, wanted status, wanted message.
type Row = (
    &'static str,
    Option<&'static str>,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api() {
    let s = setup().await;
    let port = s.web_port;
    let mode = "/api/loadpoints/garage/mode";
    let json = "application/json";
    // Reading is open; the web server is up.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (st, _) = http(
            port,
            format!(
                "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        if st == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no web server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: [Row; 7] = [
        (
            "no token",
            None,
            json,
            br#"{"mode":"now"}"#.to_vec(),
            401,
            "this change needs the header Authorization: Bearer <token>",
        ),
        (
            "wrong token",
            Some("not-the-token-at-all"),
            json,
            br#"{"mode":"now"}"#.to_vec(),
            401,
            "the token is wrong",
        ),
        (
            "oversized body",
            Some(WEB_TOKEN),
            json,
            format!(r#"{{"mode":"{}"}}"#, "n".repeat(5000)).into_bytes(),
            413,
            "the request body is larger than 4096 bytes",
        ),
        (
            "malformed JSON",
            Some(WEB_TOKEN),
            json,
            br#"{"mode": now"#.to_vec(),
            400,
            "invalid JSON body",
        ),
        (
            "unknown mode",
            Some(WEB_TOKEN),
            json,
            br#"{"mode":"turbo"}"#.to_vec(),
            400,
            "unknown mode",
        ),
        (
            "not JSON",
            Some(WEB_TOKEN),
            "text/plain",
            b"now".to_vec(),
            415,
            "send the body as JSON",
        ),
        (
            "non-UTF-8 body",
            Some(WEB_TOKEN),
            json,
            vec![0xff, 0xfe, b'{', 0x80],
            400,
            "invalid JSON body",
        ),
    ];
    for (what, auth, ctype, body, want, msg) in rows {
        let (st, text) = post(port, mode, auth, ctype, &body);
        assert_eq!(st, want, "{what}: {text}");
        assert!(text.contains(msg), "{what}: {text}");
        assert_eq!(s.reg(), Deciamps(80), "{what} changed the current");
    }
    // Not HTTP at all: refused or closed, and the server still answers.
    let (st, _) = http(port, b"\x16\x03\x01\x00garbage\r\n\r\n");
    assert!(st == 0 || st == 400, "garbage: {st}");
    // With the token: 200, and the box follows.
    let (st, text) = post(port, mode, Some(WEB_TOKEN), json, br#"{"mode":"now"}"#);
    assert_eq!(st, 200, "{text}");
    until("16 A after the authorised change", &s.log, || {
        s.reg() == Deciamps(160)
    })
    .await;
    let text = s.stop();
    assert!(!text.contains(WEB_TOKEN), "the token is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_commands() {
    let s = setup().await;
    let topic = |k: &str| format!("sunfill/garage/{k}/set");
    let rows: Vec<(String, Vec<u8>)> = vec![
        (topic("mode"), br#"{"mode":"#.to_vec()),
        (topic("mode"), br#"{"mode":"now"}"#.to_vec()),
        (topic("mode"), "now".repeat(34_000).into_bytes()),
        (topic("mode"), vec![0xff, 0xfe, b'n', b'o', b'w', 0x80]),
        (topic("max_current"), b"32".to_vec()),
        (topic("min_current"), b"5".to_vec()),
        (topic("fixed_current"), b"-1".to_vec()),
        (topic("fixed_current"), b"1e309".to_vec()),
        (topic("fixed_current"), b"NaN".to_vec()),
        (topic("battery_priority_soc"), b"120".to_vec()),
        (topic("phases"), b"1".to_vec()),
        (topic(".."), b"now".to_vec()),
    ];
    // A client of its own (as Home Assistant): subscribed to the errors before it sends.
    let mut settings = Settings::new(
        Broker::parse(&format!("mqtts://127.0.0.1:{}", s.broker.port)).unwrap(),
        "security-test",
        "security/status",
    );
    settings.tls.ca_file = Some(s.broker.ca());
    settings.username = Some("ha".into());
    settings.password = Some(Secret::new("ha-password"));
    let (client, mut ev, _) = settings.client(64).unwrap();
    client
        .subscribe("sunfill/garage/error", QoS::AtLeastOnce)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let e = tokio::time::timeout_at(deadline, ev.poll())
            .await
            .expect("no SUBACK");
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) = e {
            break;
        }
    }
    for (t, p) in &rows {
        client
            .publish(t.as_str(), QoS::AtLeastOnce, false, p.clone())
            .await
            .unwrap();
    }
    let mut lines = Vec::new();
    while lines.len() < rows.len() {
        let Ok(e) = tokio::time::timeout_at(deadline, ev.poll()).await else {
            panic!("only these errors: {lines:#?}");
        };
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = e {
            lines.push(String::from_utf8_lossy(&p.payload).to_string());
        }
    }
    let errors = lines.join("\n");
    for l in &lines {
        assert!(l.contains("nothing changed"), "{l}");
        assert!(l.len() < 1000, "an error of {} bytes", l.len());
    }
    assert!(errors.contains("commands are at most 64 bytes"), "{errors}");
    // Nothing changed: mode, limits, the box.
    assert_eq!(
        s.retained("sunfill/garage/mode").await.as_deref(),
        Some("fixed")
    );
    assert_eq!(s.reg(), Deciamps(80));
    // A valid command still works afterwards.
    s.publish(&topic("fixed_current"), b"10").await;
    until("10 A after a valid command", &s.log, || {
        s.reg() == Deciamps(100)
    })
    .await;

    // Secrets: not in `config check`, not in the debug log.
    let check = Command::new(env!("CARGO_BIN_EXE_sunfill"))
        .args(["config", "check", "--config"])
        .arg(&s.cfg)
        .env("SUNFILL_LOG", "debug")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{all}");
    for secret in [MQTT_PASSWORD, WEB_TOKEN] {
        assert!(!all.contains(secret), "{secret} in config check:\n{all}");
    }
    let text = s.stop();
    assert!(text.contains("DEBUG"), "not a debug log:\n{text}");
    for secret in [MQTT_PASSWORD, WEB_TOKEN] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
}
