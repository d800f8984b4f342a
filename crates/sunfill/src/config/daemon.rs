//! The daemon's sections: `[[loadpoint]]`, `[wallbox]`, `[site]`, `[battery]`, `[web]`, `[store]`,
//! `[log]`.
//!
//! Parsed with spans like `[mqtt]`, so that every error names file, line and key. Resolved into
//! a [`DaemonConfig`] by [`Config::daemon`](super::Config::daemon).

use super::{Config, ConfigError};
use crate::heidelberg::url::PortUrl;
use crate::mqtt::broker::Secret;
use crate::mqtt::outputs::Topics;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use sunfill_core::control::{BatteryPolicy, PhaseConfig};
use sunfill_core::Deciamps;
use toml::Spanned;

/// A number written as `6` or `6.5`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Number {
    fn get(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// `phases = "auto"`, `1` or `3`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum PhasesValue {
    /// `1` or `3`.
    Count(i64),
    /// `"auto"`.
    Word(String),
}

/// One `[[loadpoint]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadpointSection {
    /// Name: MQTT topics `sunfill/<name>/...`, dashboard label.
    pub name: Spanned<String>,
    /// The wallbox bus: `rtu:///dev/ttyUSB0`, `tcp://host:502`, `rtutcp://host:port`.
    pub port: Spanned<String>,
    /// Modbus unit id (DIP switches), default 1.
    pub unit: Option<Spanned<i64>>,
    /// Smallest charging current, A (default 6).
    pub min_current: Option<Spanned<Number>>,
    /// Largest charging current, A (default 16).
    pub max_current: Option<Spanned<Number>>,
    /// `auto`, 1 or 3 (default auto).
    pub phases: Option<Spanned<PhasesValue>>,
    /// Mode at start: `off`, `pv`, `minpv`, `now`, `fixed` (default pv).
    pub mode: Option<Spanned<String>>,
    /// Current of mode `fixed`, A (default min_current).
    pub fixed_current: Option<Spanned<Number>>,
}

/// `[wallbox]`: bus and box timing, shared by all loadpoints.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallboxSection {
    /// Timeout of one Modbus request, ms (default 1000).
    pub timeout_ms: Option<Spanned<i64>>,
    /// Extra tries of a failed request (default 2).
    pub retries: Option<Spanned<i64>>,
    /// Pause between transactions, ms (default 100 on RTU, 0 on TCP).
    pub pause_ms: Option<Spanned<i64>>,
    /// Modbus watchdog written to register 257, ms (default 15000; 0 = off).
    pub watchdog_ms: Option<Spanned<i64>>,
    /// Failsafe current (register 262) when the watchdog expires and at shutdown, A (default 0).
    pub failsafe_current: Option<Spanned<Number>>,
    /// How long to wait for a box that does not answer yet at start, s (default 15).
    pub ready_timeout_s: Option<Spanned<i64>>,
}

/// `[site]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// Current all loadpoints together may draw per phase, A (none: no limit).
    pub current_limit: Option<Spanned<Number>>,
}

/// `[battery]`: how the car shares the sun with a home battery (the core's [`BatteryPolicy`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatterySection {
    /// Below this state of charge, percent, the battery charges first (default 50).
    pub priority_soc: Option<Spanned<i64>>,
    /// From this state of charge, percent, the car may also take battery power in `pv` and
    /// `minpv` (default: never).
    pub buffer_soc: Option<Spanned<i64>>,
    /// The most battery power the car may take above `buffer_soc`, W.
    pub buffer_discharge_w: Option<Spanned<i64>>,
}

/// `[web]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Listen address (default 127.0.0.1:7070).
    pub bind: Option<Spanned<String>>,
    /// Token needed for changes when bound to a non-loopback address.
    pub token: Option<Spanned<String>>,
    /// File whose first line is the token.
    pub token_file: Option<Spanned<PathBuf>>,
    /// Serve the dashboard at all (default true).
    pub enabled: Option<bool>,
}

/// `[store]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// SQLite file (default /var/lib/sunfill/sunfill.db).
    pub path: Option<Spanned<PathBuf>>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `human` (default) or `json`.
    pub format: Option<Spanned<String>>,
    /// `error`, `warn`, `info` (default), `debug`, `trace`, or a tracing filter.
    pub level: Option<Spanned<String>>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line per event, for people and journald.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One loadpoint, resolved.
#[derive(Clone, Debug)]
pub struct LoadpointConfig {
    /// Name.
    pub name: String,
    /// MQTT topics.
    pub topics: Topics,
    /// The wallbox bus.
    pub port: PortUrl,
    /// Modbus unit id.
    pub unit: u8,
    /// The controller's configuration (limits, phases).
    pub core: sunfill_core::Config,
    /// Mode at start, as a command value (`pv`, ...).
    pub mode: String,
    /// Current of mode `fixed`, as a command value.
    pub fixed_current: Option<String>,
}

/// `[wallbox]`, resolved.
#[derive(Clone, Debug)]
pub struct WallboxTiming {
    /// Request timeout.
    pub timeout: Duration,
    /// Extra tries.
    pub retries: u32,
    /// Pause between transactions (`None`: the port's default).
    pub pause: Option<Duration>,
    /// Watchdog, ms.
    pub watchdog_ms: u16,
    /// Failsafe current.
    pub failsafe: Deciamps,
    /// Wait for a box at start.
    pub ready_timeout: Duration,
}

impl Default for WallboxTiming {
    fn default() -> Self {
        WallboxTiming {
            timeout: Duration::from_secs(1),
            retries: 2,
            pause: None,
            watchdog_ms: 15_000,
            failsafe: Deciamps::ZERO,
            ready_timeout: Duration::from_secs(15),
        }
    }
}

/// `[web]`, resolved.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Serve the dashboard.
    pub enabled: bool,
    /// Listen address.
    pub bind: SocketAddr,
    /// Token for changes (read from its file already).
    pub token: Option<Secret>,
}

/// Everything `sunfill run` needs besides `[mqtt]` and `[inputs]`.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// The loadpoints, in file order.
    pub loadpoints: Vec<LoadpointConfig>,
    /// Bus and box timing.
    pub wallbox: WallboxTiming,
    /// Per-phase current all loadpoints together may draw.
    pub site_limit: Option<Deciamps>,
    /// Dashboard.
    pub web: WebConfig,
    /// SQLite file.
    pub store_path: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Log level or filter.
    pub log_level: String,
}

/// The default dashboard address.
pub const DEFAULT_WEB_BIND: &str = "127.0.0.1:7070";
/// The default store file.
pub const DEFAULT_STORE_PATH: &str = "/var/lib/sunfill/sunfill.db";

/// A current in A with at most one decimal, within `lo..=hi`.
fn amps(
    c: &Config,
    v: &Spanned<Number>,
    key: &str,
    lo: f64,
    hi: f64,
) -> Result<Deciamps, ConfigError> {
    let a = v.get_ref().get();
    let d = (a * 10.0).round();
    if !a.is_finite() || a < lo || a > hi {
        return Err(c.err(
            Some(v.span()),
            key,
            format!("{a} A is outside {lo}..={hi} A"),
        ));
    }
    if (a * 10.0 - d).abs() > 1e-6 {
        return Err(c.err(
            Some(v.span()),
            key,
            format!("{a} A has more than one decimal; the wallbox takes 0.1 A steps"),
        ));
    }
    Ok(Deciamps(d as u16))
}

fn int(
    c: &Config,
    v: &Spanned<i64>,
    key: &str,
    lo: i64,
    hi: i64,
    unit: &str,
) -> Result<i64, ConfigError> {
    let x = *v.get_ref();
    if x < lo || x > hi {
        return Err(c.err(
            Some(v.span()),
            key,
            format!("{x}{unit} is outside {lo}..={hi}{unit}"),
        ));
    }
    Ok(x)
}

impl Config {
    /// Resolves the daemon's sections; every error names file, line and key.
    pub fn daemon(&self) -> Result<DaemonConfig, ConfigError> {
        let wallbox = self.wallbox_timing()?;
        let battery = self.battery_policy()?;
        let mut loadpoints = Vec::new();
        if self.loadpoint.is_empty() {
            return Err(ConfigError {
                path: self.path.clone(),
                line: None,
                key: Some("loadpoint".into()),
                message: "no [[loadpoint]] section; add one with name and port, e.g.\n  \
                          [[loadpoint]]\n  name = \"garage\"\n  port = \"rtu:///dev/ttyUSB0\""
                    .into(),
            });
        }
        for (i, lp) in self.loadpoint.iter().enumerate() {
            let key = |k: &str| format!("loadpoint[{i}].{k}");
            let name = lp.name.get_ref().clone();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err(self.err(
                    Some(lp.name.span()),
                    &key("name"),
                    format!(
                        "\"{name}\" cannot be used in a topic; use letters, digits, '-' and '_'"
                    ),
                ));
            }
            if loadpoints.iter().any(|l: &LoadpointConfig| l.name == name) {
                return Err(self.err(
                    Some(lp.name.span()),
                    &key("name"),
                    format!("loadpoint \"{name}\" appears twice; names must be unique"),
                ));
            }
            let port = PortUrl::parse(lp.port.get_ref())
                .map_err(|e| self.err(Some(lp.port.span()), &key("port"), e.to_string()))?;
            let unit = match &lp.unit {
                Some(u) => int(self, u, &key("unit"), 1, 247, "")? as u8,
                None => 1,
            };
            if let Some(other) = loadpoints
                .iter()
                .find(|l: &&LoadpointConfig| l.port == port && l.unit == unit)
            {
                return Err(self.err(
                    lp.unit.as_ref().map(|u| u.span()).or(Some(lp.port.span())),
                    &key("unit"),
                    format!(
                        "unit {unit} on {port} is already loadpoint \"{}\"; give each box on a bus \
                         its own unit id (DIP switches)",
                        other.name
                    ),
                ));
            }
            let mut core = sunfill_core::Config {
                battery,
                ..sunfill_core::Config::default()
            };
            if let Some(v) = &lp.min_current {
                core.min_current = amps(self, v, &key("min_current"), 6.0, 16.0)?;
            }
            if let Some(v) = &lp.max_current {
                core.max_current = amps(self, v, &key("max_current"), 6.0, 16.0)?;
            }
            if core.min_current > core.max_current {
                return Err(self.err(
                    lp.min_current.as_ref().map(|s| s.span()),
                    &key("min_current"),
                    format!(
                        "min_current {} is above max_current {}",
                        core.min_current, core.max_current
                    ),
                ));
            }
            if let Some(p) = &lp.phases {
                core.phases = match p.get_ref() {
                    PhasesValue::Count(1) => PhaseConfig::One,
                    PhasesValue::Count(3) => PhaseConfig::Three,
                    PhasesValue::Word(w) if w == "auto" => PhaseConfig::Auto,
                    _ => {
                        return Err(self.err(
                            Some(p.span()),
                            &key("phases"),
                            "use 1, 3 or \"auto\" (count the phases that carry current)",
                        ))
                    }
                };
            }
            let mode = match &lp.mode {
                Some(m) => {
                    let v = m.get_ref().to_ascii_lowercase();
                    if !crate::mqtt::outputs::MODES.contains(&v.as_str()) {
                        return Err(self.err(
                            Some(m.span()),
                            &key("mode"),
                            format!(
                                "unknown mode \"{v}\"; use one of {}",
                                crate::mqtt::outputs::MODES.join(", ")
                            ),
                        ));
                    }
                    v
                }
                None => "pv".into(),
            };
            let fixed_current = match &lp.fixed_current {
                Some(v) => {
                    let a = amps(self, v, &key("fixed_current"), 6.0, 16.0)?;
                    if a < core.min_current || a > core.max_current {
                        return Err(self.err(
                            Some(v.span()),
                            &key("fixed_current"),
                            format!(
                                "{a} is outside min_current {} ..= max_current {}",
                                core.min_current, core.max_current
                            ),
                        ));
                    }
                    Some(format!("{}.{}", a.0 / 10, a.0 % 10))
                }
                None => None,
            };
            let topics = self.topics_for(&name)?;
            loadpoints.push(LoadpointConfig {
                name,
                topics,
                port,
                unit,
                core,
                mode,
                fixed_current,
            });
        }
        if self
            .mqtt
            .as_ref()
            .and_then(|m| m.base_topic.as_ref())
            .is_some()
            && loadpoints.len() > 1
        {
            return Err(self.err(
                None,
                "mqtt.base_topic",
                "base_topic names the topics of one loadpoint; with several loadpoints remove it \
                 (topics are sunfill/<name>/...)",
            ));
        }
        let site_limit = match &self.site.current_limit {
            Some(v) => Some(amps(self, v, "site.current_limit", 6.0, 1000.0)?),
            None => None,
        };
        let web = self.web_config()?;
        let store_path = self
            .store
            .path
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE_PATH));
        let log_format = match self.log.format.as_ref().map(|f| (f, f.get_ref().as_str())) {
            None | Some((_, "human")) => LogFormat::Human,
            Some((_, "json")) => LogFormat::Json,
            Some((f, other)) => {
                return Err(self.err(
                    Some(f.span()),
                    "log.format",
                    format!("unknown format \"{other}\"; use human or json"),
                ))
            }
        };
        let log_level = match &self.log.level {
            Some(l) => {
                if tracing_subscriber::EnvFilter::try_new(l.get_ref()).is_err() {
                    return Err(self.err(
                        Some(l.span()),
                        "log.level",
                        format!(
                            "\"{}\" is not a level or filter; use error, warn, info, debug or trace",
                            l.get_ref()
                        ),
                    ));
                }
                l.get_ref().clone()
            }
            None => "info".into(),
        };
        Ok(DaemonConfig {
            loadpoints,
            wallbox,
            site_limit,
            web,
            store_path,
            log_format,
            log_level,
        })
    }

    /// `[battery]`, resolved: the policy every loadpoint applies to the home battery's readings.
    pub fn battery_policy(&self) -> Result<BatteryPolicy, ConfigError> {
        let b = &self.battery;
        let mut p = BatteryPolicy::default();
        if let Some(v) = &b.priority_soc {
            p.priority_soc = int(self, v, "battery.priority_soc", 0, 100, " %")? as u8;
        }
        match (&b.buffer_soc, &b.buffer_discharge_w) {
            (None, None) => {}
            (Some(soc), Some(w)) => {
                let lo = i64::from(p.priority_soc);
                let soc = *soc.get_ref();
                if !(lo..=100).contains(&soc) {
                    return Err(self.err(
                        b.buffer_soc.as_ref().map(|s| s.span()),
                        "battery.buffer_soc",
                        format!(
                            "{soc} % is outside priority_soc ({lo} %) ..= 100 %: the car may use \
                             the battery only above the level where the battery charges first"
                        ),
                    ));
                }
                p.buffer_soc = soc as u8;
                p.max_discharge_w =
                    int(self, w, "battery.buffer_discharge_w", 0, 30_000, " W")? as i32;
            }
            (Some(soc), None) => {
                return Err(self.err(
                    Some(soc.span()),
                    "battery.buffer_soc",
                    "give buffer_discharge_w too: the most battery power the car may take above \
                     buffer_soc, e.g. buffer_discharge_w = 3000",
                ))
            }
            (None, Some(w)) => {
                return Err(self.err(
                    Some(w.span()),
                    "battery.buffer_discharge_w",
                    "give buffer_soc too: the state of charge from which the car may take it, \
                     e.g. buffer_soc = 90",
                ))
            }
        }
        Ok(p)
    }

    fn wallbox_timing(&self) -> Result<WallboxTiming, ConfigError> {
        let w = &self.wallbox;
        let mut t = WallboxTiming::default();
        if let Some(v) = &w.timeout_ms {
            t.timeout = Duration::from_millis(
                int(self, v, "wallbox.timeout_ms", 50, 30_000, " ms")? as u64,
            );
        }
        if let Some(v) = &w.retries {
            t.retries = int(self, v, "wallbox.retries", 0, 10, "")? as u32;
        }
        if let Some(v) = &w.pause_ms {
            t.pause = Some(Duration::from_millis(
                int(self, v, "wallbox.pause_ms", 0, 2_000, " ms")? as u64,
            ));
        }
        if let Some(v) = &w.watchdog_ms {
            t.watchdog_ms = int(self, v, "wallbox.watchdog_ms", 0, 65_535, " ms")? as u16;
            if t.watchdog_ms != 0 && t.watchdog_ms < 1_000 {
                return Err(self.err(
                    Some(v.span()),
                    "wallbox.watchdog_ms",
                    format!(
                        "{} ms is too short for a bus that may need retries; use 0 (off) or at \
                         least 1000 (sunfill polls at a third of it)",
                        t.watchdog_ms
                    ),
                ));
            }
        }
        if let Some(v) = &w.failsafe_current {
            let a = v.get_ref().get();
            t.failsafe = if a == 0.0 {
                Deciamps::ZERO
            } else {
                amps(self, v, "wallbox.failsafe_current", 6.0, 16.0)?
            };
        }
        if let Some(v) = &w.ready_timeout_s {
            t.ready_timeout =
                Duration::from_secs(int(self, v, "wallbox.ready_timeout_s", 0, 600, " s")? as u64);
        }
        Ok(t)
    }

    fn web_config(&self) -> Result<WebConfig, ConfigError> {
        let w = &self.web;
        let bind = match &w.bind {
            Some(b) => b.get_ref().parse::<SocketAddr>().map_err(|_| {
                self.err(
                    Some(b.span()),
                    "web.bind",
                    format!(
                        "\"{}\" is not an address with port, e.g. 127.0.0.1:7070 or 0.0.0.0:7070",
                        b.get_ref()
                    ),
                )
            })?,
            None => DEFAULT_WEB_BIND
                .parse()
                .map_err(|_| self.err(None, "web.bind", "internal: bad default address"))?,
        };
        if w.token.is_some() && w.token_file.is_some() {
            return Err(self.err(
                w.token.as_ref().map(|t| t.span()),
                "web.token",
                "set only one of token and token_file",
            ));
        }
        let token = if let Some(t) = &w.token {
            if t.get_ref().len() < 16 {
                return Err(self.err(
                    Some(t.span()),
                    "web.token",
                    "the token is shorter than 16 characters; use a long random one, e.g. from \
                     `openssl rand -hex 24`",
                ));
            }
            Some(Secret::new(t.get_ref().clone()))
        } else if let Some(f) = &w.token_file {
            let text = std::fs::read_to_string(f.get_ref()).map_err(|e| {
                self.err(
                    Some(f.span()),
                    "web.token_file",
                    format!("cannot read {}: {e}", f.get_ref().display()),
                )
            })?;
            let line = text.lines().next().unwrap_or("").trim();
            if line.len() < 16 {
                return Err(self.err(
                    Some(f.span()),
                    "web.token_file",
                    format!(
                        "the first line of {} is empty or shorter than 16 characters; put a long \
                         random token there",
                        f.get_ref().display()
                    ),
                ));
            }
            Some(Secret::new(line))
        } else {
            None
        };
        Ok(WebConfig {
            enabled: w.enabled.unwrap_or(true),
            bind,
            token,
        })
    }
}
