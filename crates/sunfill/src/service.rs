//! The MQTT side of the daemon: site readings into the controller, decisions, state and
//! discovery out, commands in.
//!
//! [`Service`] is sans-IO: messages and the time go in, messages to publish come out. [`run`]
//! connects it to a [`Link`]. The wallbox side (Modbus) feeds [`Service::wallbox`].

use crate::hub::VsClassic;
use crate::mqtt::backoff::Backoff;
use crate::mqtt::inputs::{Inputs, Reading, Unavailable, Value};
use crate::mqtt::link::{Link, LinkEvent, Message};
use crate::mqtt::outputs::{
    command, reason_code, state_messages, ChargeState, Controls, Publish, Snapshot, Topics,
};
use crate::mqtt::{discovery, Error, Settings};
use std::collections::BTreeMap;
use std::future::Future;
use sunfill_core::control::{Signal, WallboxReading};
use sunfill_core::{Config, Controller, Deciamps, Decision, Instant};

/// The controller's signal behind a site reading (`None` for display-only readings).
fn signal_of(r: Reading) -> Option<Signal> {
    match r {
        Reading::Grid => Some(Signal::Grid),
        Reading::Pv => Some(Signal::Pv),
        Reading::House => Some(Signal::House),
        Reading::Battery => Some(Signal::Battery),
        Reading::BatterySoc => Some(Signal::BatterySoc),
        Reading::CarSoc => None,
    }
}

/// The latest state of one site reading, for display and diagnosis.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteReading {
    /// The value or why there is none.
    pub value: Result<Value, Unavailable>,
    /// Received at (service clock).
    pub at: Instant,
    /// A retained value of unknown age not (yet) used for control.
    pub display_only: bool,
}

/// The MQTT service state.
#[derive(Debug)]
pub struct Service {
    topics: Topics,
    inputs: Inputs,
    controls: Controls,
    controller: Controller,
    site: BTreeMap<&'static str, SiteReading>,
    wallbox: Option<WallboxReading>,
    wallbox_online: bool,
    last: Option<Decision>,
    published: BTreeMap<String, String>,
    energy: Energy,
    cap: Option<Cap>,
}

/// The energy counters shown with the state, from the wallbox's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Energy {
    /// Energy of the current (or last) session, Wh.
    pub session_wh: u64,
    /// Of that, from solar, Wh.
    pub session_solar_wh: u64,
    /// The box's counter since installation, Wh.
    pub total_wh: u64,
}

/// A lower current than the controller decided, set by the site current limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The current the loadpoint may use now.
    pub current: Deciamps,
    /// The site's limit.
    pub site_limit: Deciamps,
}

impl Service {
    /// A service for these topics and inputs; the inputs' maximum ages go into the controller.
    pub fn new(topics: Topics, inputs: Inputs, mut config: Config) -> Service {
        config.max_age = inputs.max_age(config.max_age);
        Service {
            topics,
            inputs,
            controls: Controls::new(config),
            controller: Controller::new(config),
            site: BTreeMap::new(),
            wallbox: None,
            wallbox_online: false,
            last: None,
            published: BTreeMap::new(),
            energy: Energy::default(),
            cap: None,
        }
    }

    /// The topics of this loadpoint.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Mode, limits and battery priority in force.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// The latest wallbox reading and whether the box answers now.
    pub fn wallbox_state(&self) -> (Option<WallboxReading>, bool) {
        (self.wallbox, self.wallbox_online)
    }

    /// This session beside the classic threshold/delay controller (see
    /// [`Yardstick`](sunfill_core::control::yardstick::Yardstick)).
    pub fn yardstick(&self) -> &sunfill_core::control::yardstick::Yardstick {
        self.controller.yardstick()
    }

    /// Phases the car charges on (configured, measured or assumed).
    pub fn phases(&self) -> u8 {
        self.controller.phases()
    }

    /// The current the wallbox should get: the decision, lowered to the cap if there is one.
    pub fn output(&self) -> Deciamps {
        let d = self.last.map(|d| d.current).unwrap_or(Deciamps::ZERO);
        match self.cap {
            Some(c) if c.current < d => c.current,
            _ => d,
        }
    }

    /// The decision's reason in words, with the site limit when it lowers the current.
    pub fn reason_text(&self) -> String {
        let Some(d) = self.last else {
            return "starting".into();
        };
        match self.cap {
            Some(c) if c.current < d.current => format!(
                "{}; limited to {} by the site limit of {} per phase",
                d.reason, c.current, c.site_limit
            ),
            _ => d.reason.to_string(),
        }
    }

    /// The reason's stable code.
    pub fn reason_code(&self) -> &'static str {
        self.last.map(|d| reason_code(&d.reason)).unwrap_or("off")
    }

    /// The energy counters shown with the state.
    pub fn energy(&self) -> Energy {
        self.energy
    }

    /// Sets the energy counters; returns the state messages that changed.
    pub fn set_energy(&mut self, energy: Energy) -> Vec<Publish> {
        self.energy = energy;
        self.changed_state()
    }

    /// Sets (or clears) the site limit's cap; returns the state messages that changed.
    pub fn set_cap(&mut self, cap: Option<Cap>) -> Vec<Publish> {
        self.cap = cap;
        self.changed_state()
    }

    /// A change from the web UI or API: `key` and `value` as on the MQTT `.../set` topics,
    /// validated by the very same parser. `Err` says why nothing changed.
    pub fn command(
        &mut self,
        now: Instant,
        key: &str,
        value: &str,
    ) -> Result<Vec<Publish>, String> {
        let topic = self.topics.set(key);
        match command(&self.topics, &self.controls, &topic, value.as_bytes()) {
            Some(Ok((cmd, next))) => {
                tracing::info!("{}: command {cmd:?} accepted", self.topics.loadpoint);
                self.apply_controls(next);
                Ok(self.step(now))
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("unknown setting \"{key}\"")),
        }
    }

    fn apply_controls(&mut self, next: Controls) {
        self.controls = next;
        self.controller.set_config(next.config);
        self.controller.set_mode(next.mode);
    }

    /// Topics to subscribe to: inputs, commands, and Home Assistant's status.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut s = self.inputs.topics();
        s.push(self.topics.set_filter());
        s.push(self.topics.ha_status());
        s
    }

    /// The last decision.
    pub fn decision(&self) -> Option<Decision> {
        self.last
    }

    /// When the controller wants to be asked again (a start delay or a budget running out).
    pub fn poll_at(&self) -> Option<Instant> {
        self.controller.poll_at()
    }

    /// The latest site readings by name.
    pub fn site(&self) -> &BTreeMap<&'static str, SiteReading> {
        &self.site
    }

    /// After every CONNACK: discovery and the full state (the broker may have lost both).
    pub fn on_connected(&mut self, now: Instant) -> Vec<Publish> {
        self.published.clear();
        let mut out = discovery::messages(&self.topics);
        out.extend(self.step(now));
        out
    }

    /// A wallbox reading (from the Modbus side); `None` when the wallbox does not answer.
    pub fn wallbox(&mut self, now: Instant, reading: Option<WallboxReading>) -> Vec<Publish> {
        self.wallbox_online = reading.is_some();
        match reading {
            Some(r) => {
                self.wallbox = Some(r);
                self.controller.update(now, sunfill_core::Input::Wallbox(r));
            }
            // The car's power is unknown now: solar charging must not go on with an old value.
            None => self.controller.forget(Signal::Wallbox),
        }
        self.step(now)
    }

    /// A timer tick: re-decide (readings may have gone stale).
    pub fn tick(&mut self, now: Instant) -> Vec<Publish> {
        self.step(now)
    }

    /// A message from the broker.
    pub fn on_message(&mut self, now: Instant, msg: &Message) -> Vec<Publish> {
        if msg.topic == self.topics.ha_status() {
            if msg.payload.as_slice() == b"online" {
                tracing::info!("Home Assistant is online: publishing discovery again");
                let mut out = discovery::messages(&self.topics);
                self.published.clear();
                out.extend(self.step(now));
                return out;
            }
            return Vec::new();
        }
        if let Some(result) = command(&self.topics, &self.controls, &msg.topic, &msg.payload) {
            if msg.retained {
                // A retained command would be replayed on every restart; ignore it.
                tracing::warn!(
                    "ignoring retained command on {}; publish commands without the retain flag",
                    msg.topic
                );
                return Vec::new();
            }
            return match result {
                Ok((cmd, next)) => {
                    tracing::info!("{}: command {cmd:?} accepted", self.topics.loadpoint);
                    self.apply_controls(next);
                    self.step(now)
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    vec![e.publish(&self.topics)]
                }
            };
        }
        let updates = self.inputs.handle(&msg.topic, &msg.payload, msg.retained);
        if updates.is_empty() {
            return Vec::new();
        }
        for u in updates {
            if let Err(why) = &u.value {
                let was_ok = self
                    .site
                    .get(u.reading.name())
                    .map(|s| s.value.is_ok())
                    .unwrap_or(true);
                if was_ok {
                    tracing::warn!(
                        "{} reading unavailable: {why} (topic {})",
                        u.reading,
                        msg.topic
                    );
                }
            }
            match (&u.value, u.for_control) {
                (Ok(Value::Input(input)), true) => self.controller.update(now, *input),
                // `unknown`, `unavailable`, implausible: never a number, and never the last one.
                (Err(_), _) => {
                    if let Some(signal) = signal_of(u.reading) {
                        self.controller.forget(signal);
                    }
                }
                _ => {}
            }
            self.site.insert(
                u.reading.name(),
                SiteReading {
                    value: u.value,
                    at: now,
                    display_only: !u.for_control,
                },
            );
        }
        self.step(now)
    }

    fn snapshot(&self) -> Snapshot {
        let state = self
            .wallbox
            .filter(|_| self.wallbox_online)
            .map(|w| ChargeState::of(&w))
            .unwrap_or_default();
        let e = self.energy;
        Snapshot {
            controls: self.controls,
            state,
            power_w: self.wallbox.map(|w| w.power_w).unwrap_or(0),
            setpoint: self.output(),
            phases: self.controller.phases(),
            session_energy_wh: e.session_wh,
            total_energy_wh: e.total_wh,
            solar_share_pct: (e.session_wh > 0)
                .then(|| (e.session_solar_wh.min(e.session_wh) * 100 / e.session_wh) as u8),
            reason: self.reason_text(),
            reason_code: self.reason_code(),
            wallbox_online: self.wallbox_online,
            vs_classic: VsClassic::from(self.yardstick()),
        }
    }

    /// Decides, and returns the state messages whose payload changed.
    fn step(&mut self, now: Instant) -> Vec<Publish> {
        let d = self.controller.step(now);
        // Log a new current or a new kind of reason; the numbers in a reason change with
        // every reading.
        let code = reason_code(&d.reason);
        if d.changed || self.last.map(|l| reason_code(&l.reason)) != Some(code) {
            tracing::info!("{}: {} ({})", self.topics.loadpoint, d.current, d.reason);
        } else if self.last.map(|l| l.reason) != Some(d.reason) {
            tracing::debug!("{}: {} ({})", self.topics.loadpoint, d.current, d.reason);
        }
        self.last = Some(d);
        self.changed_state()
    }

    /// The state messages whose payload changed since they were last published.
    fn changed_state(&mut self) -> Vec<Publish> {
        if self.last.is_none() {
            return Vec::new();
        }
        let snap = self.snapshot();
        state_messages(&self.topics, &snap)
            .into_iter()
            .filter(|p| {
                let changed = self.published.get(&p.topic) != Some(&p.payload);
                if changed {
                    self.published.insert(p.topic.clone(), p.payload.clone());
                }
                changed
            })
            .collect()
    }
}

/// Queues the service's messages on the link (a full queue is logged, not fatal).
pub(crate) fn publish(link: &Link, msgs: Vec<Publish>) {
    for m in msgs {
        if let Err(e) = link.client.try_publish(
            m.topic.as_str(),
            rumqttc::QoS::AtLeastOnce,
            m.retain,
            m.payload.into_bytes(),
        ) {
            tracing::warn!("cannot queue a publish to {}: {e}", m.topic);
        }
    }
}

/// Runs the service on a broker until `shutdown` completes; then publishes `offline` and
/// disconnects.
pub async fn run(
    settings: Settings,
    service: Service,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    run_with(settings, service, &[], Service::tick, |_| {}, shutdown).await
}

/// What [`run_with`] reports to its hook.
#[derive(Debug)]
pub enum Seen<'a> {
    /// CONNACK: subscriptions renewed, discovery and state published.
    Connected,
    /// A message was handled; `at` is taken right after [`Service::on_message`] returned.
    Message {
        /// The message.
        msg: &'a Message,
        /// The decision after it.
        decision: Option<Decision>,
        /// When the decision was made.
        at: std::time::Instant,
    },
    /// The connection failed; the link retries.
    Down(String),
    /// The link ended without being asked to; the loop returns.
    LinkStopped,
}

/// [`run`] with `extra` subscriptions, `on_tick` in place of [`Service::tick`] every 5 s (the
/// rate at which the daemon's Modbus side feeds the wallbox), and `seen` called after every event
/// of the link. The MQTT benchmarks measure the service through this loop.
pub async fn run_with(
    settings: Settings,
    mut service: Service,
    extra: &[String],
    mut on_tick: impl FnMut(&mut Service, Instant) -> Vec<Publish>,
    mut seen: impl FnMut(Seen<'_>),
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut subs = service.subscriptions();
    subs.extend_from_slice(extra);
    let mut link = Link::spawn(settings, subs, Backoff::default())?;
    let epoch = tokio::time::Instant::now();
    let now = || Instant::from_millis(epoch.elapsed().as_millis() as u64);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                link.shutdown().await;
                return Ok(());
            }
            _ = tick.tick() => {
                let out = on_tick(&mut service, now());
                publish(&link, out);
            }
            ev = link.events.recv() => match ev {
                None => {
                    tracing::warn!("the MQTT link stopped");
                    seen(Seen::LinkStopped);
                    return Ok(());
                }
                Some(LinkEvent::Connected) => {
                    let out = service.on_connected(now());
                    publish(&link, out);
                    seen(Seen::Connected);
                }
                Some(LinkEvent::Down(e)) => seen(Seen::Down(e.to_string())),
                Some(LinkEvent::Message(m)) => {
                    let out = service.on_message(now(), &m);
                    let at = std::time::Instant::now();
                    publish(&link, out);
                    seen(Seen::Message { msg: &m, decision: service.decision(), at });
                }
            }
        }
    }
}

/// The site reading names, for diagnostics.
pub fn reading_names() -> Vec<&'static str> {
    Reading::ALL.iter().map(|r| r.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::inputs::presets;

    fn service() -> Service {
        Service::new(
            Topics::new("garage"),
            presets::powerwall_statestream("homeassistant"),
            Config::default(),
        )
    }

    fn msg(topic: &str, payload: &str, retained: bool) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec(),
            retained,
        }
    }

    #[test]
    fn connect_publishes_discovery_then_state() {
        let mut s = service();
        let out = s.on_connected(Instant::ZERO);
        assert!(out[0]
            .topic
            .starts_with("homeassistant/select/sunfill_garage/mode"));
        assert!(out
            .iter()
            .any(|p| p.topic == "sunfill/garage/mode" && p.payload == "pv"));
        // Nothing changed: nothing to publish.
        assert!(s.tick(Instant::from_secs(1)).is_empty());
    }

    #[test]
    fn ha_online_republishes_discovery() {
        let mut s = service();
        s.on_connected(Instant::ZERO);
        let out = s.on_message(
            Instant::from_secs(1),
            &msg("homeassistant/status", "online", false),
        );
        assert!(out.iter().any(|p| p.topic.ends_with("/config")));
    }

    #[test]
    fn invalid_command_publishes_an_error_and_changes_nothing() {
        let mut s = service();
        s.on_connected(Instant::ZERO);
        let out = s.on_message(
            Instant::from_secs(1),
            &msg("sunfill/garage/mode/set", "turbo", false),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "sunfill/garage/error");
        assert!(!out[0].retain);
        let out = s.on_message(
            Instant::from_secs(2),
            &msg("sunfill/garage/mode/set", "now", false),
        );
        assert!(out
            .iter()
            .any(|p| p.topic == "sunfill/garage/mode" && p.payload == "now"));
    }

    #[test]
    fn retained_grid_is_shown_but_not_used_for_control() {
        let mut s = service();
        s.on_message(
            Instant::ZERO,
            &msg(
                "homeassistant/sensor/powerwall_site_now/state",
                "-3.0",
                true,
            ),
        );
        assert!(s.site()["grid"].display_only);
        let reason = s.decision().unwrap().reason.to_string();
        assert!(reason.contains("no grid reading yet"), "{reason}");
        s.on_message(
            Instant::from_secs(1),
            &msg(
                "homeassistant/sensor/powerwall_site_now/state",
                "unknown",
                false,
            ),
        );
        assert_eq!(s.site()["grid"].value, Err(Unavailable::Unknown));
    }

    #[test]
    fn unknown_withdraws_the_reading_instead_of_keeping_the_old_one() {
        let mut s = service();
        let wallbox = WallboxReading {
            state: sunfill_core::control::VehicleState::Connected,
            voltages: [230; 3],
            ..WallboxReading::default()
        };
        let grid = "homeassistant/sensor/powerwall_site_now/state";
        for t in 0..30u64 {
            s.wallbox(Instant::from_secs(t * 10), Some(wallbox));
            s.on_message(Instant::from_secs(t * 10), &msg(grid, "-9.0", false));
        }
        assert!(
            !s.decision().unwrap().current.is_zero(),
            "charging from 9 kW"
        );
        s.on_message(Instant::from_secs(301), &msg(grid, "unknown", false));
        let d = s.decision().unwrap();
        assert!(d.current.is_zero());
        assert_eq!(
            d.reason.to_string(),
            "grid reading is unavailable; solar charging stopped"
        );
    }
}
