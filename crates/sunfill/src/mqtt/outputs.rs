//! What sunfill publishes (retained state under `sunfill/<loadpoint>/...`) and the commands it
//! accepts on `.../set` topics. Pure functions: topics and payloads in, topics and payloads out.
//!
//! | topic (under the base)  | payload |
//! |---|---|
//! | `status`                | `online` / `offline` (last will) |
//! | `mode`                  | one of [`MODES`] |
//! | `state`                 | one of [`ChargeState::ALL`] |
//! | `power`                 | W, integer |
//! | `setpoint`              | A, one decimal (`0.0` = not charging) |
//! | `phases`                | 1 or 3 |
//! | `session_energy`, `total_energy` | kWh, three decimals |
//! | `solar_share`           | percent of the session's energy from solar, or `unknown` |
//! | `reason`                | the decision's sentence |
//! | `reason_code`           | one of [`REASON_CODES`] |
//! | `session_solar`, `session_grid` | this session's solar and grid energy in the controller's books, kWh, two decimals |
//! | `session_starts`        | starts in this session |
//! | `classic_session_solar`, `classic_session_grid`, `classic_session_starts` | the same for a classic threshold/delay controller on the same readings |
//! | `wallbox_online`, `car_connected`, `charging` | `ON` / `OFF` |
//! | `min_current`, `max_current`, `fixed_current` | A, one decimal |
//! | `battery_priority_soc`  | percent |
//! | `json`                  | all of the above in one JSON object |
//! | `error`                 | a rejected command (not retained) |
//!
//! Commands: `mode/set`, `min_current/set`, `max_current/set`, `fixed_current/set`,
//! `battery_priority_soc/set`. An invalid command changes nothing and is answered on `error`.

use crate::hub::VsClassic;
use std::fmt;
use sunfill_core::control::{Config, VehicleState, WallboxReading};
use sunfill_core::{Deciamps, Mode, Reason};

/// The published mode names, in the order of the Home Assistant select.
pub const MODES: [&str; 5] = [
    Mode::Off.name(),
    Mode::Pv.name(),
    Mode::MinPv.name(),
    Mode::Now.name(),
    Mode::Fixed(Deciamps::ZERO).name(),
];

/// Every value published on `reason_code`.
pub const REASON_CODES: [&str; 19] = [
    "off",
    "no_car",
    "wallbox_error",
    "stale_stop",
    "stale_min",
    "now",
    "fixed",
    "waiting_for_surplus",
    "start_pending",
    "start_not_worth",
    "tracking",
    "at_max",
    "holding",
    "budget_spent",
    "battery_first",
    "catching_up",
    "start_lead",
    "minpv_floor",
    "settling",
];

/// The machine-readable code of a reason (its sentence is its `Display`).
pub fn reason_code(r: &Reason) -> &'static str {
    match r {
        Reason::Off => "off",
        Reason::NoCar => "no_car",
        Reason::WallboxError => "wallbox_error",
        Reason::StaleStop(_) => "stale_stop",
        Reason::StaleMin(_) => "stale_min",
        Reason::Now(_) => "now",
        Reason::Fixed(_) => "fixed",
        Reason::WaitingForSurplus { .. } => "waiting_for_surplus",
        Reason::StartPending { .. } => "start_pending",
        Reason::StartNotWorth { .. } => "start_not_worth",
        Reason::Tracking { .. } => "tracking",
        Reason::AtMax { .. } => "at_max",
        Reason::Holding { .. } => "holding",
        Reason::BudgetSpent { .. } => "budget_spent",
        Reason::BatteryFirst { .. } => "battery_first",
        Reason::CatchingUp { .. } => "catching_up",
        Reason::StartLead { .. } => "start_lead",
        Reason::MinPvFloor { .. } => "minpv_floor",
        Reason::Settling { .. } => "settling",
    }
}

/// The charging state as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChargeState {
    /// No wallbox reading.
    #[default]
    Unknown,
    /// No car.
    Disconnected,
    /// Car plugged in, not charging.
    Connected,
    /// Charging.
    Charging,
    /// Wallbox error.
    Error,
}

impl ChargeState {
    /// Every published value.
    pub const ALL: [ChargeState; 5] = [
        ChargeState::Unknown,
        ChargeState::Disconnected,
        ChargeState::Connected,
        ChargeState::Charging,
        ChargeState::Error,
    ];

    /// The published string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChargeState::Unknown => "unknown",
            ChargeState::Disconnected => "disconnected",
            ChargeState::Connected => "connected",
            ChargeState::Charging => "charging",
            ChargeState::Error => "error",
        }
    }
}

impl ChargeState {
    /// The state to show for a wallbox reading: a car that asks for current (IEC state C) but
    /// draws none, because the setpoint is 0 or it is still starting, is `connected`, not
    /// `charging`.
    pub fn of(r: &WallboxReading) -> Self {
        match r.state {
            VehicleState::Charging if r.power_w <= 0 => ChargeState::Connected,
            s => s.into(),
        }
    }
}

impl From<VehicleState> for ChargeState {
    fn from(v: VehicleState) -> Self {
        match v {
            VehicleState::Unknown => ChargeState::Unknown,
            VehicleState::Disconnected => ChargeState::Disconnected,
            VehicleState::Connected => ChargeState::Connected,
            VehicleState::Charging => ChargeState::Charging,
            VehicleState::Error => ChargeState::Error,
        }
    }
}

/// The topics of one loadpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    /// Base topic, `sunfill/<loadpoint>` by default.
    pub base: String,
    /// The loadpoint's name (used in discovery ids).
    pub loadpoint: String,
    /// Home Assistant's discovery prefix, `homeassistant` by default.
    pub discovery_prefix: String,
}

impl Topics {
    /// Topics for `loadpoint` under `sunfill/<loadpoint>` and discovery under `homeassistant`.
    pub fn new(loadpoint: &str) -> Topics {
        Topics {
            base: format!("sunfill/{loadpoint}"),
            loadpoint: loadpoint.to_string(),
            discovery_prefix: "homeassistant".to_string(),
        }
    }

    /// `<base>/<name>`.
    pub fn state(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// `<base>/<name>/set`.
    pub fn set(&self, name: &str) -> String {
        format!("{}/{name}/set", self.base)
    }

    /// The status topic (last will).
    pub fn status(&self) -> String {
        self.state("status")
    }

    /// The subscription filter for all commands.
    pub fn set_filter(&self) -> String {
        format!("{}/+/set", self.base)
    }

    /// Where Home Assistant announces itself (`online` after a restart).
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }
}

/// One message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: String,
    /// Retained flag.
    pub retain: bool,
}

/// The user's settings that commands change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controls {
    /// The mode (`fixed` uses `fixed_current`).
    pub mode: Mode,
    /// The core configuration (limits, battery bands).
    pub config: Config,
    /// The current for mode `fixed`.
    pub fixed_current: Deciamps,
}

impl Controls {
    /// Controls from a configuration, in mode `pv`.
    pub fn new(config: Config) -> Controls {
        Controls {
            mode: Mode::Pv,
            config,
            fixed_current: config.min_current,
        }
    }
}

/// Everything published about the loadpoint at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Mode, limits and battery priority.
    pub controls: Controls,
    /// Charging state.
    pub state: ChargeState,
    /// Power into the car, W.
    pub power_w: i32,
    /// Current setpoint.
    pub setpoint: Deciamps,
    /// Phases in use.
    pub phases: u8,
    /// Energy of this session, Wh.
    pub session_energy_wh: u64,
    /// Energy since installation, Wh.
    pub total_energy_wh: u64,
    /// Share of the session's energy from solar, percent.
    pub solar_share_pct: Option<u8>,
    /// The decision's reason sentence.
    pub reason: String,
    /// The decision's reason code.
    pub reason_code: &'static str,
    /// Whether the wallbox answers.
    pub wallbox_online: bool,
    /// This session beside a classic threshold/delay controller on the same readings.
    pub vs_classic: VsClassic,
}

fn amps(a: Deciamps) -> String {
    format!("{}.{}", a.0 / 10, a.0 % 10)
}

fn kwh(wh: u64) -> String {
    format!("{}.{:03}", wh / 1000, wh % 1000)
}

/// kWh with two decimals: the comparison's sums move with every reading, and 10 Wh steps are
/// enough to follow them without a message every 10 s.
fn kwh2(x: f64) -> String {
    format!("{:.2}", x.max(0.0))
}

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}

/// The retained state messages, the JSON message last.
pub fn state_messages(t: &Topics, s: &Snapshot) -> Vec<Publish> {
    let c = &s.controls;
    let fields: Vec<(&str, String)> = vec![
        ("mode", c.mode.name().to_string()),
        ("state", s.state.as_str().to_string()),
        ("power", s.power_w.to_string()),
        ("setpoint", amps(s.setpoint)),
        ("phases", s.phases.to_string()),
        ("session_energy", kwh(s.session_energy_wh)),
        ("total_energy", kwh(s.total_energy_wh)),
        (
            "solar_share",
            s.solar_share_pct
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into()),
        ),
        ("reason", s.reason.clone()),
        ("reason_code", s.reason_code.to_string()),
        ("session_solar", kwh2(s.vs_classic.solar_kwh)),
        ("session_grid", kwh2(s.vs_classic.grid_kwh)),
        ("session_starts", s.vs_classic.starts.to_string()),
        (
            "classic_session_solar",
            kwh2(s.vs_classic.classic_solar_kwh),
        ),
        ("classic_session_grid", kwh2(s.vs_classic.classic_grid_kwh)),
        (
            "classic_session_starts",
            s.vs_classic.classic_starts.to_string(),
        ),
        ("wallbox_online", on_off(s.wallbox_online).to_string()),
        (
            "car_connected",
            on_off(matches!(
                s.state,
                ChargeState::Connected | ChargeState::Charging
            ))
            .to_string(),
        ),
        (
            "charging",
            on_off(s.state == ChargeState::Charging).to_string(),
        ),
        ("min_current", amps(c.config.min_current)),
        ("max_current", amps(c.config.max_current)),
        ("fixed_current", amps(c.fixed_current)),
        (
            "battery_priority_soc",
            c.config.battery.priority_soc.to_string(),
        ),
    ];
    let json = serde_json::json!({
        "mode": c.mode.name(),
        "state": s.state.as_str(),
        "power_w": s.power_w,
        "setpoint_a": f64::from(s.setpoint.0) / 10.0,
        "phases": s.phases,
        "session_energy_kwh": s.session_energy_wh as f64 / 1000.0,
        "total_energy_kwh": s.total_energy_wh as f64 / 1000.0,
        "solar_share_pct": s.solar_share_pct,
        "reason": s.reason,
        "reason_code": s.reason_code,
        "wallbox_online": s.wallbox_online,
        "min_current_a": f64::from(c.config.min_current.0) / 10.0,
        "max_current_a": f64::from(c.config.max_current.0) / 10.0,
        "fixed_current_a": f64::from(c.fixed_current.0) / 10.0,
        "battery_priority_soc": c.config.battery.priority_soc,
        "vs_classic": s.vs_classic,
    });
    let mut out: Vec<Publish> = fields
        .into_iter()
        .map(|(name, payload)| Publish {
            topic: t.state(name),
            payload,
            retain: true,
        })
        .collect();
    out.push(Publish {
        topic: t.state("json"),
        payload: json.to_string(),
        retain: true,
    });
    out
}

/// A command received on a `.../set` topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `mode/set`.
    Mode(Mode),
    /// `min_current/set`.
    MinCurrent(Deciamps),
    /// `max_current/set`.
    MaxCurrent(Deciamps),
    /// `fixed_current/set`.
    FixedCurrent(Deciamps),
    /// `battery_priority_soc/set`.
    BatteryPrioritySoc(u8),
}

/// A rejected command: nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandError {
    /// The command topic.
    pub topic: String,
    /// The payload received.
    pub payload: String,
    /// Why it was rejected and what is accepted.
    pub why: String,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rejected {} \"{}\": {}; nothing changed",
            self.topic, self.payload, self.why
        )
    }
}

impl CommandError {
    /// The message published on `<base>/error`.
    pub fn publish(&self, t: &Topics) -> Publish {
        Publish {
            topic: t.state("error"),
            payload: serde_json::json!({
                "topic": self.topic,
                "payload": self.payload,
                "error": self.to_string(),
            })
            .to_string(),
            retain: false,
        }
    }
}

/// The longest command payload accepted (the longest valid one is a few bytes).
pub const MAX_COMMAND_BYTES: usize = 64;

/// Parses a current in amperes with at most one decimal (`10`, `10.5`).
fn parse_amps(s: &str) -> Result<Deciamps, String> {
    let bad = || format!("expected a current in amperes such as 10 or 10.5, got \"{s}\"");
    let v: f64 = s.parse().map_err(|_| bad())?;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(bad());
    }
    let d = (v * 10.0).round();
    if (v * 10.0 - d).abs() > 1e-6 {
        return Err(format!(
            "{s} A has more than one decimal; the wallbox takes 0.1 A steps"
        ));
    }
    Ok(Deciamps(d as u16))
}

/// Reads and validates a command against the current controls. `None`: not a command topic.
///
/// On success it returns the new controls; the caller applies them (mode and core config).
pub fn command(
    t: &Topics,
    controls: &Controls,
    topic: &str,
    payload: &[u8],
) -> Option<Result<(Command, Controls), CommandError>> {
    let name = topic
        .strip_prefix(t.base.as_str())?
        .strip_prefix('/')?
        .strip_suffix("/set")?;
    // No command is longer than a few bytes: a huge payload is rejected without echoing it in
    // full (into the error topic and the log).
    if payload.len() > MAX_COMMAND_BYTES {
        let head = String::from_utf8_lossy(&payload[..MAX_COMMAND_BYTES.min(32)]);
        return Some(Err(CommandError {
            topic: topic.to_string(),
            payload: format!("{}...", head.trim()),
            why: format!(
                "the payload is {} bytes; commands are at most {MAX_COMMAND_BYTES} bytes",
                payload.len()
            ),
        }));
    }
    let text = String::from_utf8_lossy(payload).trim().to_string();
    let err = |why: String| CommandError {
        topic: topic.to_string(),
        payload: text.clone(),
        why,
    };
    let cmd = match name {
        "mode" => {
            let mode = match text.to_ascii_lowercase().as_str() {
                "off" => Mode::Off,
                "pv" => Mode::Pv,
                "minpv" => Mode::MinPv,
                "now" => Mode::Now,
                "fixed" => Mode::Fixed(controls.fixed_current),
                _ => {
                    return Some(Err(err(format!(
                        "unknown mode; expected one of {}",
                        MODES.join(", ")
                    ))))
                }
            };
            Command::Mode(mode)
        }
        "min_current" => match parse_amps(&text) {
            Ok(a) => Command::MinCurrent(a),
            Err(e) => return Some(Err(err(e))),
        },
        "max_current" => match parse_amps(&text) {
            Ok(a) => Command::MaxCurrent(a),
            Err(e) => return Some(Err(err(e))),
        },
        "fixed_current" => match parse_amps(&text) {
            Ok(a) => Command::FixedCurrent(a),
            Err(e) => return Some(Err(err(e))),
        },
        "battery_priority_soc" => match text.parse::<u8>() {
            Ok(p) if p <= 100 => Command::BatteryPrioritySoc(p),
            _ => {
                return Some(Err(err(format!(
                    "expected a whole percentage from 0 to 100, got \"{text}\""
                ))))
            }
        },
        other => {
            return Some(Err(err(format!(
                "unknown command \"{other}\"; commands are mode, min_current, max_current, \
                 fixed_current, battery_priority_soc"
            ))))
        }
    };
    let mut next = *controls;
    match cmd {
        Command::Mode(m) => next.mode = m,
        Command::MinCurrent(a) => next.config.min_current = a,
        Command::MaxCurrent(a) => next.config.max_current = a,
        Command::FixedCurrent(a) => {
            if a < next.config.min_current || a > next.config.max_current {
                return Some(Err(err(format!(
                    "fixed current must be between min_current {} and max_current {}",
                    next.config.min_current, next.config.max_current
                ))));
            }
            next.fixed_current = a;
            if let Mode::Fixed(_) = next.mode {
                next.mode = Mode::Fixed(a);
            }
        }
        Command::BatteryPrioritySoc(p) => {
            next.config.battery.priority_soc = p;
            if next.config.battery.buffer_soc < p {
                return Some(Err(err(format!(
                    "battery priority SoC {p} % is above the buffer SoC {} %",
                    next.config.battery.buffer_soc
                ))));
            }
        }
    }
    if let Err(e) = next.config.validate() {
        return Some(Err(err(e.to_string())));
    }
    // Keep the fixed current inside the new limits.
    next.fixed_current = next
        .fixed_current
        .max(next.config.min_current)
        .min(next.config.max_current);
    if let Mode::Fixed(_) = next.mode {
        next.mode = Mode::Fixed(next.fixed_current);
    }
    Some(Ok((cmd, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_car_asking_for_current_but_drawing_none_is_connected_not_charging() {
        let r = |state, power_w| WallboxReading {
            power_w,
            currents: [Deciamps::ZERO; 3],
            voltages: [230; 3],
            state,
        };
        assert_eq!(
            ChargeState::of(&r(VehicleState::Charging, 0)),
            ChargeState::Connected
        );
        assert_eq!(
            ChargeState::of(&r(VehicleState::Charging, 4140)),
            ChargeState::Charging
        );
        assert_eq!(
            ChargeState::of(&r(VehicleState::Disconnected, 0)),
            ChargeState::Disconnected
        );
    }

    fn topics() -> Topics {
        Topics::new("garage")
    }

    fn controls() -> Controls {
        Controls::new(Config::default())
    }

    fn run(topic: &str, payload: &str) -> Result<Controls, CommandError> {
        command(&topics(), &controls(), topic, payload.as_bytes())
            .expect("a command topic")
            .map(|(_, c)| c)
    }

    // Tests for commands.

    #[test]
    fn valid_commands_change_the_controls() {
        assert_eq!(
            run("sunfill/garage/mode/set", "now").unwrap().mode,
            Mode::Now
        );
        assert_eq!(
            run("sunfill/garage/mode/set", "fixed").unwrap().mode,
            Mode::Fixed(Deciamps(60))
        );
        assert_eq!(
            run("sunfill/garage/min_current/set", "8")
                .unwrap()
                .config
                .min_current,
            Deciamps(80)
        );
        assert_eq!(
            run("sunfill/garage/max_current/set", "10.5")
                .unwrap()
                .config
                .max_current,
            Deciamps(105)
        );
        assert_eq!(
            run("sunfill/garage/fixed_current/set", "12")
                .unwrap()
                .fixed_current,
            Deciamps(120)
        );
        assert_eq!(
            run("sunfill/garage/battery_priority_soc/set", "80")
                .unwrap()
                .config
                .battery
                .priority_soc,
            80
        );
    }

    #[test]
    fn invalid_commands_say_why_and_change_nothing() {
        let e = run("sunfill/garage/mode/set", "turbo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "rejected sunfill/garage/mode/set \"turbo\": unknown mode; expected one of off, pv, \
             minpv, now, fixed; nothing changed"
        );
        let e = run("sunfill/garage/min_current/set", "5").unwrap_err();
        assert!(e.why.contains("at least 6.0 A"), "{e}");
        let e = run("sunfill/garage/max_current/set", "32").unwrap_err();
        assert!(e.why.contains("between 6.0 A and 16.0 A"), "{e}");
        let e = run("sunfill/garage/fixed_current/set", "abc").unwrap_err();
        assert!(e.why.contains("expected a current in amperes"), "{e}");
        let e = run("sunfill/garage/battery_priority_soc/set", "120").unwrap_err();
        assert!(e.why.contains("0 to 100"), "{e}");
        let e = run("sunfill/garage/phases/set", "1").unwrap_err();
        assert!(e.why.contains("unknown command"), "{e}");
    }

    #[test]
    fn a_huge_payload_is_rejected_without_echoing_it() {
        let huge = "pv".repeat(100_000);
        let e = run("sunfill/garage/mode/set", &huge).unwrap_err();
        assert!(e.why.contains("200000 bytes"), "{e}");
        let published = e.publish(&topics()).payload;
        assert!(published.len() < 400, "{} bytes", published.len());
    }

    #[test]
    fn other_topics_are_not_commands() {
        assert!(command(&topics(), &controls(), "sunfill/garage/mode", b"pv").is_none());
        assert!(command(&topics(), &controls(), "sunfill/other/mode/set", b"pv").is_none());
    }

    // Tests for state messages.

    #[test]
    fn state_is_retained_and_json_last() {
        let s = Snapshot {
            controls: controls(),
            state: ChargeState::Charging,
            power_w: 4140,
            setpoint: Deciamps(60),
            phases: 3,
            session_energy_wh: 1234,
            total_energy_wh: 99_000,
            solar_share_pct: Some(93),
            reason: "following surplus 4.2 kW at 6.0 A".into(),
            reason_code: "tracking",
            wallbox_online: true,
            vs_classic: VsClassic {
                solar_kwh: 12.345,
                grid_kwh: 0.5,
                starts: 3,
                classic_solar_kwh: 12.0,
                classic_grid_kwh: 1.25,
                classic_starts: 5,
            },
        };
        let m = state_messages(&topics(), &s);
        assert!(m.iter().all(|p| p.retain));
        let get = |n: &str| {
            m.iter()
                .find(|p| p.topic == format!("sunfill/garage/{n}"))
                .map(|p| p.payload.clone())
                .unwrap()
        };
        assert_eq!(get("session_energy"), "1.234");
        assert_eq!(get("setpoint"), "6.0");
        assert_eq!(get("charging"), "ON");
        assert_eq!(get("car_connected"), "ON");
        assert_eq!(get("session_solar"), "12.35");
        assert_eq!(get("session_starts"), "3");
        assert_eq!(get("classic_session_grid"), "1.25");
        assert_eq!(get("classic_session_starts"), "5");
        let json: serde_json::Value = serde_json::from_str(&get("json")).unwrap();
        assert_eq!(json["reason_code"], "tracking");
        assert_eq!(json["vs_classic"]["classic_starts"], 5);
        assert_eq!(json["vs_classic"]["grid_kwh"], 0.5);
    }

    #[test]
    fn reason_codes_cover_every_reason() {
        use sunfill_core::control::Stale;
        let stale = Stale {
            input: "grid",
            age: None,
            max_age: sunfill_core::Duration::from_secs(60),
            unavailable: false,
        };
        let all = [
            Reason::Off,
            Reason::NoCar,
            Reason::WallboxError,
            Reason::StaleStop(stale),
            Reason::StaleMin(stale),
            Reason::Now(Deciamps(160)),
            Reason::Fixed(Deciamps(60)),
            Reason::WaitingForSurplus {
                surplus_w: 0,
                needed_w: 0,
                phases: 3,
            },
            Reason::StartPending {
                surplus_w: 0,
                remaining: sunfill_core::Duration::ZERO,
            },
            Reason::StartNotWorth { surplus_w: 0 },
            Reason::Tracking {
                surplus_w: 0,
                current: Deciamps(60),
            },
            Reason::AtMax {
                surplus_w: 0,
                current: Deciamps(60),
            },
            Reason::Holding {
                current: Deciamps(60),
                surplus_w: 0,
                import_w: 0,
            },
            Reason::BudgetSpent {
                surplus_w: 0,
                needed_w: 0,
            },
            Reason::BatteryFirst {
                surplus_w: 0,
                soc: 30,
                priority_soc: 50,
            },
            Reason::CatchingUp {
                current: Deciamps(60),
                surplus_w: 0,
                behind_wh: 0,
            },
            Reason::StartLead {
                current: Deciamps(60),
                surplus_w: 0,
                import_w: 0,
                lead: 2,
            },
            Reason::MinPvFloor {
                current: Deciamps(60),
                surplus_w: 0,
            },
            Reason::Settling {
                current: Deciamps(60),
                since: sunfill_core::Duration::from_secs(12),
            },
        ];
        assert_eq!(all.len(), REASON_CODES.len());
        for r in all {
            assert!(REASON_CODES.contains(&reason_code(&r)), "{r:?}");
        }
    }
}
