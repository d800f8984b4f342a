//! `sunfill check --config FILE`: walks the path to the broker one step at a time and says, for
//! the first step that fails, what it is and what to do.
//!
//! Steps: config, name lookup, TCP, TLS + MQTT login (one connection; a TLS failure and a login
//! refusal are told apart by [`crate::mqtt::Error`]), then the input subscriptions: which
//! readings arrive, retained (age unknown) or live, and which are unavailable and why.

use crate::config::Config;
use crate::mqtt::broker::{connect_once, resolve};
use crate::mqtt::inputs::Inputs;
use crate::mqtt::{Error, Settings};
use rumqttc::{Event, Packet, QoS};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The outcome of `check`: a report of lines, and whether everything passed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `ok`/`FAIL`/`warn` lines, one per step.
    pub lines: Vec<String>,
    /// True when no step failed.
    pub ok: bool,
}

impl Report {
    fn ok(&mut self, step: &str, detail: impl AsRef<str>) {
        self.lines
            .push(format!("ok    {step}: {}", detail.as_ref()));
    }
    fn warn(&mut self, step: &str, detail: impl AsRef<str>) {
        self.lines
            .push(format!("warn  {step}: {}", detail.as_ref()));
    }
    fn fail(&mut self, step: &str, detail: impl AsRef<str>) {
        self.ok = false;
        self.lines
            .push(format!("FAIL  {step}: {}", detail.as_ref()));
    }
}

/// Runs the checks for a config file; `wait` is how long to wait for input values.
pub async fn check_file(path: &Path, wait: Duration) -> Report {
    let mut r = Report {
        ok: true,
        ..Report::default()
    };
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            r.fail("config", e.to_string());
            return r;
        }
    };
    let settings = match config.mqtt_settings() {
        Ok(s) => s,
        Err(e) => {
            r.fail("config", e.to_string());
            return r;
        }
    };
    let inputs = match config.inputs() {
        Ok(i) => i,
        Err(e) => {
            r.fail("config", e.to_string());
            return r;
        }
    };
    r.ok("config", format!("{} read", path.display()));
    check(&settings, &inputs, wait, &mut r).await;
    if config.loadpoint.is_empty() {
        r.warn(
            "wallbox",
            "no [[loadpoint]] in the config: the MQTT side is checked, no wallbox is",
        );
    } else {
        match config.daemon() {
            Ok(d) => {
                for lp in &d.loadpoints {
                    check_wallbox(lp, &d.wallbox, &mut r).await;
                }
            }
            Err(e) => r.fail("config", e.to_string()),
        }
    }
    r
}

/// The last step: each loadpoint's wallbox answers and reports sane values.
async fn check_wallbox(
    lp: &crate::config::LoadpointConfig,
    timing: &crate::config::WallboxTiming,
    r: &mut Report,
) {
    use crate::heidelberg::bus::{BusConfig, BusHandle};
    use crate::heidelberg::wallbox::{DriverConfig, Wallbox};
    let step = format!("wallbox {}", lp.name);
    let mut bus = BusConfig::new(lp.port.clone());
    bus.timeout = timing.timeout;
    bus.retries = timing.retries;
    if let Some(p) = timing.pause {
        bus.pause = p;
    }
    let wb = Wallbox::new(
        BusHandle::spawn(bus),
        DriverConfig {
            unit: lp.unit,
            ..DriverConfig::default()
        },
    );
    let budget = timing.timeout * (timing.retries + 1) * 4 + Duration::from_secs(2);
    match tokio::time::timeout(budget, wb.status()).await {
        Ok(Ok(s)) => r.ok(
            &step,
            format!(
                "unit {} on {} answers: {}, hardware {}..{} A, watchdog {} ms, failsafe {}",
                lp.unit,
                lp.port,
                s.reading.state,
                s.limits.min_amps,
                s.limits.max_amps,
                s.settings.watchdog_ms,
                s.settings.failsafe_current
            ),
        ),
        Ok(Err(e)) => r.fail(&step, format!("unit {}: {e}", lp.unit)),
        Err(_) => r.fail(
            &step,
            format!(
                "no answer from unit {} on {} within {} s: check the wiring (A/B), 19200 8E1, \
                 the unit id DIP switches, and that the box is powered and not in standby",
                lp.unit,
                lp.port,
                budget.as_secs()
            ),
        ),
    }
}

/// Runs the checks for resolved settings, appending to `r`.
pub async fn check(settings: &Settings, inputs: &Inputs, wait: Duration, r: &mut Report) {
    let b = &settings.broker;
    let addrs = match resolve(b).await {
        Ok(a) => a,
        Err(e) => return r.fail("name lookup", e.to_string()),
    };
    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    r.ok("name lookup", format!("{} -> {}", b.host, list.join(", ")));

    let mut tcp_ok = None;
    let mut last_err = None;
    for a in &addrs {
        match tokio::time::timeout(settings.connect_timeout, tokio::net::TcpStream::connect(a))
            .await
        {
            Ok(Ok(_)) => {
                tcp_ok = Some(*a);
                break;
            }
            Ok(Err(e)) => last_err = Some(e.to_string()),
            Err(_) => {
                last_err = Some(format!(
                    "no answer within {} s",
                    settings.connect_timeout.as_secs()
                ))
            }
        }
    }
    match tcp_ok {
        Some(a) => r.ok("TCP", format!("connected to {a}")),
        None => {
            return r.fail(
                "TCP",
                format!(
                    "cannot connect to port {} ({}); check that Mosquitto runs, that a listener \
                     is configured on that port, and the firewall",
                    b.port,
                    last_err.unwrap_or_default()
                ),
            )
        }
    }
    if b.is_tls() && settings.tls.insecure_skip_verify {
        r.warn(
            "TLS",
            "tls_insecure_skip_verify_i_know_this_is_dangerous is set: the broker's certificate \
             is NOT verified; set ca_file and remove it",
        );
    }
    if !b.is_tls() {
        r.warn(
            "TLS",
            "plain mqtt://: user name, password and readings travel unencrypted; use mqtts://",
        );
    }
    let (client, mut eventloop) = match connect_once(settings).await {
        Ok(c) => c,
        Err(e) => {
            let step = match &e {
                Error::Tls { .. } | Error::TlsPort { .. } => "TLS",
                Error::Auth { .. } => "MQTT login",
                _ => "MQTT connect",
            };
            if matches!(e, Error::Auth { .. }) && b.is_tls() {
                r.ok("TLS", "broker certificate and host name verified");
            }
            return r.fail(step, e.to_string());
        }
    };
    if b.is_tls() {
        r.ok(
            "TLS",
            format!(
                "broker certificate and host name verified{}",
                if settings.tls.client_cert.is_some() {
                    "; client certificate accepted"
                } else {
                    ""
                }
            ),
        );
    }
    r.ok(
        "MQTT login",
        match &settings.username {
            Some(u) => format!("logged in as \"{u}\""),
            None => "connected (no user name; with use_identity_as_username the certificate's CN is the user)".into(),
        },
    );
    let topics = inputs.topics();
    if topics.is_empty() {
        r.warn(
            "inputs",
            "no input topics configured ([inputs] preset or [inputs.grid])",
        );
        return;
    }
    for t in &topics {
        if let Err(e) = client.subscribe(t.as_str(), QoS::AtLeastOnce).await {
            return r.fail("subscribe", format!("{t}: {e}"));
        }
    }
    let mut seen: Vec<(String, bool, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ev = tokio::time::timeout_at(deadline, eventloop.poll()).await;
        match ev {
            Err(_) => break,
            Ok(Err(e)) => return r.fail("subscribe", format!("connection lost: {e}")),
            Ok(Ok(Event::Incoming(Packet::SubAck(s)))) => {
                if s.return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    r.fail(
                        "subscribe",
                        "the broker refused a subscription: the user lacks read access in the \
                         broker's acl_file",
                    );
                }
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                for u in inputs.handle(&p.topic, &p.payload, p.retain) {
                    let v = match &u.value {
                        Ok(v) => format!("{v:?}"),
                        Err(why) => format!("unavailable: {why}"),
                    };
                    seen.retain(|(n, _, _)| n != u.reading.name());
                    seen.push((u.reading.name().to_string(), p.retain, v));
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    for b in &inputs.bindings {
        let name = b.reading.name();
        match seen.iter().find(|(n, _, _)| n == name) {
            Some((_, _, v)) if v.starts_with("unavailable") => r.fail(
                &format!("input {name}"),
                format!(
                    "{} on {}: check the source entity in Home Assistant",
                    v, b.topic
                ),
            ),
            Some((_, true, v)) => r.warn(
                &format!("input {name}"),
                format!(
                    "{v} on {} is a retained value of unknown age; no live update within {} s \
                     (Home Assistant publishes only on change)",
                    b.topic,
                    wait.as_secs()
                ),
            ),
            Some((_, false, v)) => {
                r.ok(&format!("input {name}"), format!("{v} live on {}", b.topic))
            }
            None => r.fail(
                &format!("input {name}"),
                format!(
                    "nothing on {} within {} s; check the topic (mosquitto_sub -t '{}' -v), the \
                     entity id, and that mqtt_statestream includes it",
                    b.topic,
                    wait.as_secs(),
                    b.topic
                ),
            ),
        }
    }
    let _ = client.disconnect().await;
}

/// The report as text.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    for l in &r.lines {
        let _ = writeln!(s, "{l}");
    }
    s
}
