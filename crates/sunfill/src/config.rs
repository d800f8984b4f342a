//! The config file (TOML): `[mqtt]` and `[inputs]` here, the daemon's `[[loadpoint]]`,
//! `[wallbox]`, `[site]`, `[web]`, `[store]` and `[log]` in `config/daemon.rs`. Unknown sections and keys
//! are errors. `sunfill config example` prints [`EXAMPLE`], a commented file with every option.
//!
//! ```toml
//! [mqtt]
//! broker = "mqtts://ha.lan:8883"          # or mqtt://host:1883 (plain)
//! ca_file = "/etc/sunfill/pki/ca.crt"     # omit to use the system's CAs
//! client_cert = "/etc/sunfill/pki/sunfill.crt"   # mutual TLS (optional)
//! client_key = "/etc/sunfill/pki/sunfill.key"
//! username = "sunfill"                    # optional
//! password_file = "/etc/sunfill/mqtt.pw"  # or password = "..." or password_env = "VAR"
//! loadpoint = "garage"                    # topics sunfill/garage/...
//!
//! [inputs]
//! preset = "powerwall-statestream"        # or "none"
//! statestream_prefix = "homeassistant"
//!
//! [inputs.grid]                           # override or add one reading
//! topic = "tele/meter/SENSOR"
//! format = "json"
//! pointer = "/power"
//! unit = "W"
//! invert = false
//! max_age_secs = 60
//! ```
//!
//! Errors read `FILE:LINE: key: what is wrong; what to do`, with the line from toml's spans.

use crate::mqtt::broker::{Broker, Secret, Settings};
use crate::mqtt::inputs::{presets, Binding, Format, Inputs, Reading, RetainedUse, Unit};
use crate::mqtt::outputs::Topics;
use crate::mqtt::tls::TlsFiles;
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

mod daemon;
pub use daemon::{
    BatterySection, DaemonConfig, LoadpointConfig, LoadpointSection, LogFormat, LogSection, Number,
    PhasesValue, SiteSection, StoreSection, WallboxSection, WallboxTiming, WebConfig, WebSection,
    DEFAULT_STORE_PATH, DEFAULT_WEB_BIND,
};

/// A commented config file covering every option (`sunfill config example`).
pub const EXAMPLE: &str = include_str!("config/example.toml");

/// A config problem: file, line, key, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// The key (`mqtt.broker`), if known.
    pub key: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(": ")?;
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The `[mqtt]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// `mqtts://host[:8883]` or `mqtt://host[:1883]`.
    pub broker: Spanned<String>,
    /// CA certificate(s), PEM.
    pub ca_file: Option<Spanned<PathBuf>>,
    /// Client certificate, PEM (mutual TLS).
    pub client_cert: Option<Spanned<PathBuf>>,
    /// Client key, PEM.
    pub client_key: Option<Spanned<PathBuf>>,
    /// MQTT user name.
    pub username: Option<String>,
    /// Password in the file itself (prefer `password_file`).
    pub password: Option<Spanned<String>>,
    /// File whose first line is the password.
    pub password_file: Option<Spanned<PathBuf>>,
    /// Environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// MQTT client id (default `sunfill-<loadpoint>`).
    pub client_id: Option<String>,
    /// Loadpoint name: topics `sunfill/<loadpoint>/...` (default `wallbox`).
    pub loadpoint: Option<Spanned<String>>,
    /// Base topic (default `sunfill/<loadpoint>`).
    pub base_topic: Option<String>,
    /// Home Assistant discovery prefix (default `homeassistant`).
    pub discovery_prefix: Option<String>,
    /// Keep-alive, seconds (default 30).
    pub keep_alive_secs: Option<u64>,
    /// Accept any broker certificate. Warns on every connect. Do not.
    #[serde(default)]
    pub tls_insecure_skip_verify_i_know_this_is_dangerous: bool,
}

/// One reading's binding in `[inputs.<reading>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSection {
    /// Topic.
    pub topic: Option<String>,
    /// `number` (default) or `json`.
    pub format: Option<Spanned<String>>,
    /// JSON pointer for `format = "json"`, e.g. `/power`.
    pub pointer: Option<String>,
    /// `W`, `kW` or `%`.
    pub unit: Option<Spanned<String>>,
    /// Flip the sign.
    pub invert: Option<bool>,
    /// Maximum age, seconds.
    pub max_age_secs: Option<u64>,
    /// Lower plausibility limit (W or %).
    pub min: Option<f64>,
    /// Upper plausibility limit (W or %).
    pub max: Option<f64>,
    /// Retained values at subscribe: `display` or `control`.
    pub retained: Option<Spanned<String>>,
}

/// The `[inputs]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsSection {
    /// `powerwall-statestream` or `none` (default `none`).
    pub preset: Option<Spanned<String>>,
    /// mqtt_statestream's base topic (default `homeassistant`).
    pub statestream_prefix: Option<String>,
    /// `[inputs.grid]`.
    pub grid: Option<Spanned<BindingSection>>,
    /// `[inputs.pv]`.
    pub pv: Option<Spanned<BindingSection>>,
    /// `[inputs.house]`.
    pub house: Option<Spanned<BindingSection>>,
    /// `[inputs.battery]`.
    pub battery: Option<Spanned<BindingSection>>,
    /// `[inputs.battery_soc]`.
    pub battery_soc: Option<Spanned<BindingSection>>,
    /// `[inputs.car_soc]`.
    pub car_soc: Option<Spanned<BindingSection>>,
}

impl InputsSection {
    fn readings(&self) -> Vec<(Reading, &Spanned<BindingSection>)> {
        [
            (Reading::Grid, &self.grid),
            (Reading::Pv, &self.pv),
            (Reading::House, &self.house),
            (Reading::Battery, &self.battery),
            (Reading::BatterySoc, &self.battery_soc),
            (Reading::CarSoc, &self.car_soc),
        ]
        .into_iter()
        .filter_map(|(r, b)| b.as_ref().map(|b| (r, b)))
        .collect()
    }
}

/// The config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[mqtt]`.
    pub mqtt: Option<MqttSection>,
    /// `[inputs]`.
    #[serde(default)]
    pub inputs: InputsSection,
    /// `[[loadpoint]]`, one per wallbox.
    #[serde(default)]
    pub loadpoint: Vec<LoadpointSection>,
    /// `[wallbox]`.
    #[serde(default)]
    pub wallbox: WallboxSection,
    /// `[site]`.
    #[serde(default)]
    pub site: SiteSection,
    /// `[battery]`.
    #[serde(default)]
    pub battery: BatterySection,
    /// `[web]`.
    #[serde(default)]
    pub web: WebSection,
    /// `[store]`.
    #[serde(default)]
    pub store: StoreSection,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSection,
    #[serde(skip)]
    path: PathBuf,
    #[serde(skip)]
    source: String,
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(path, &source)
    }

    /// Parses config text; `path` is used in messages.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(source).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(source, s.start)),
            key: None,
            message: e.message().trim().to_string(),
        })?;
        c.path = path.to_path_buf();
        c.source = source.to_string();
        Ok(c)
    }

    /// The file this config was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            line: span.map(|s| line_of(&self.source, s.start)),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn mqtt(&self) -> Result<&MqttSection, ConfigError> {
        self.mqtt.as_ref().ok_or_else(|| ConfigError {
            path: self.path.clone(),
            line: None,
            key: Some("mqtt".into()),
            message: "no [mqtt] section; add one with at least broker = \"mqtts://host:8883\""
                .into(),
        })
    }

    /// The first loadpoint's topics: the first `[[loadpoint]]`'s name, else `mqtt.loadpoint`,
    /// else `wallbox`.
    pub fn topics(&self) -> Result<Topics, ConfigError> {
        let m = self.mqtt()?;
        if let Some(first) = self.loadpoint.first() {
            return self.topics_for(first.name.get_ref());
        }
        let lp = m
            .loadpoint
            .as_ref()
            .map(|s| s.get_ref().as_str())
            .unwrap_or("wallbox");
        self.topics_for(lp)
    }

    /// The topics of loadpoint `lp`: `sunfill/<lp>`, or `mqtt.base_topic`.
    pub fn topics_for(&self, lp: &str) -> Result<Topics, ConfigError> {
        let m = self.mqtt()?;
        if lp.is_empty() || lp.contains(['/', '+', '#']) {
            return Err(self.err(
                m.loadpoint.as_ref().map(|s| s.span()),
                "mqtt.loadpoint",
                format!("\"{lp}\" cannot be used in a topic; use letters, digits, '-' and '_'"),
            ));
        }
        let mut t = Topics::new(lp);
        if let Some(b) = &m.base_topic {
            t.base = b.trim_end_matches('/').to_string();
        }
        if let Some(p) = &m.discovery_prefix {
            t.discovery_prefix = p.trim_end_matches('/').to_string();
        }
        Ok(t)
    }

    /// The connection settings of the first loadpoint, with the password read from its file
    /// or variable.
    pub fn mqtt_settings(&self) -> Result<Settings, ConfigError> {
        self.mqtt_settings_for(&self.topics()?)
    }

    /// The connection settings of the loadpoint with these topics (client id
    /// `sunfill-<loadpoint>` unless `mqtt.client_id` is set and there is one loadpoint; last
    /// will on its status topic).
    pub fn mqtt_settings_for(&self, topics: &Topics) -> Result<Settings, ConfigError> {
        let m = self.mqtt()?;
        let broker = Broker::parse(m.broker.get_ref())
            .map_err(|e| self.err(Some(m.broker.span()), "mqtt.broker", e))?;
        let sources = [
            m.password.is_some(),
            m.password_file.is_some(),
            m.password_env.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources > 1 {
            return Err(self.err(
                None,
                "mqtt.password",
                "set only one of password, password_file and password_env",
            ));
        }
        let password = if let Some(p) = &m.password {
            Some(Secret::new(p.get_ref().clone()))
        } else if let Some(f) = &m.password_file {
            let text = std::fs::read_to_string(f.get_ref()).map_err(|e| {
                self.err(
                    Some(f.span()),
                    "mqtt.password_file",
                    format!("cannot read {}: {e}", f.get_ref().display()),
                )
            })?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            if line.is_empty() {
                return Err(self.err(
                    Some(f.span()),
                    "mqtt.password_file",
                    format!(
                        "{} is empty; put the password on its first line",
                        f.get_ref().display()
                    ),
                ));
            }
            Some(Secret::new(line))
        } else if let Some(v) = &m.password_env {
            let val = std::env::var(v.get_ref()).map_err(|_| {
                self.err(
                    Some(v.span()),
                    "mqtt.password_env",
                    format!("environment variable {} is not set", v.get_ref()),
                )
            })?;
            Some(Secret::new(val))
        } else {
            None
        };
        if password.is_some() && m.username.is_none() {
            return Err(self.err(None, "mqtt.username", "a password is set but no username"));
        }
        let path = |p: &Option<Spanned<PathBuf>>| p.as_ref().map(|p| p.get_ref().clone());
        let tls = TlsFiles {
            ca_file: path(&m.ca_file),
            client_cert: path(&m.client_cert),
            client_key: path(&m.client_key),
            insecure_skip_verify: m.tls_insecure_skip_verify_i_know_this_is_dangerous,
        };
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            let span = m
                .client_cert
                .as_ref()
                .or(m.client_key.as_ref())
                .map(|s| s.span());
            return Err(self.err(
                span,
                "mqtt.client_cert",
                "client_cert and client_key go together; set both or neither",
            ));
        }
        let default_id = format!("sunfill-{}", topics.loadpoint);
        let client_id = match &m.client_id {
            Some(id) if self.loadpoint.len() <= 1 => id.clone(),
            Some(id) => format!("{id}-{}", topics.loadpoint),
            None => default_id,
        };
        let mut s = Settings::new(broker, &client_id, &topics.status());
        s.tls = tls;
        s.username = m.username.clone();
        s.password = password;
        if let Some(k) = m.keep_alive_secs {
            s.keep_alive = Duration::from_secs(k);
        }
        Ok(s)
    }

    /// The site input bindings: the preset, then per-reading overrides.
    pub fn inputs(&self) -> Result<Inputs, ConfigError> {
        let i = &self.inputs;
        let prefix = i.statestream_prefix.as_deref().unwrap_or("homeassistant");
        let mut inputs = match i.preset.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("none") => Inputs::default(),
            Some("powerwall-statestream") => presets::powerwall_statestream(prefix),
            Some(other) => {
                return Err(self.err(
                    i.preset.as_ref().map(|p| p.span()),
                    "inputs.preset",
                    format!("unknown preset \"{other}\"; presets are powerwall-statestream, none"),
                ))
            }
        };
        for (reading, spanned) in i.readings() {
            let key = format!("inputs.{}", reading.name());
            let span = Some(spanned.span());
            let b = spanned.get_ref();
            let existing = inputs.binding(reading).cloned();
            let topic = match (&b.topic, &existing) {
                (Some(t), _) => t.clone(),
                (None, Some(e)) => e.topic.clone(),
                (None, None) => return Err(self.err(span, &key, "topic is missing")),
            };
            // A pointer implies format = "json"; either way it must be a JSON pointer.
            let json = |p: &String| {
                if p.starts_with('/') {
                    Ok(Format::Json(p.clone()))
                } else {
                    Err(self.err(
                        span.clone(),
                        &format!("{key}.pointer"),
                        format!("\"{p}\" must be a JSON pointer starting with '/', e.g. /power"),
                    ))
                }
            };
            let format = match b.format.as_ref().map(|f| f.get_ref().as_str()) {
                None => match (&b.pointer, &existing) {
                    (Some(p), _) => json(p)?,
                    (None, Some(e)) => e.format.clone(),
                    (None, None) => Format::Number,
                },
                Some("number") => Format::Number,
                Some("json") => match &b.pointer {
                    Some(p) => json(p)?,
                    None => {
                        return Err(self.err(
                            span,
                            &format!("{key}.pointer"),
                            "format = \"json\" needs pointer, e.g. pointer = \"/power\"",
                        ))
                    }
                },
                Some(other) => {
                    return Err(self.err(
                        b.format.as_ref().map(|f| f.span()),
                        &format!("{key}.format"),
                        format!("unknown format \"{other}\"; use number or json"),
                    ))
                }
            };
            let unit = match b.unit.as_ref().map(|u| u.get_ref().as_str()) {
                None => existing
                    .as_ref()
                    .map(|e| e.unit)
                    .unwrap_or(if reading.is_percent() {
                        Unit::Percent
                    } else {
                        Unit::W
                    }),
                Some("W") | Some("w") => Unit::W,
                Some("kW") | Some("kw") => Unit::Kw,
                Some("%") => Unit::Percent,
                Some(other) => {
                    return Err(self.err(
                        b.unit.as_ref().map(|u| u.span()),
                        &format!("{key}.unit"),
                        format!("unknown unit \"{other}\"; use W, kW or %"),
                    ))
                }
            };
            let mut binding =
                existing.unwrap_or_else(|| Binding::new(reading, &topic, format.clone(), unit));
            binding.topic = topic;
            binding.format = format;
            binding.unit = unit;
            if let Some(inv) = b.invert {
                binding.invert = inv;
            }
            if let Some(s) = b.max_age_secs {
                binding.max_age = Duration::from_secs(s);
            }
            if let Some(min) = b.min {
                binding.limits.0 = min;
            }
            if let Some(max) = b.max {
                binding.limits.1 = max;
            }
            if let Some(r) = &b.retained {
                binding.retained = match r.get_ref().as_str() {
                    "display" => RetainedUse::DisplayOnly,
                    "control" => RetainedUse::Control,
                    other => {
                        return Err(self.err(
                            Some(r.span()),
                            &format!("{key}.retained"),
                            format!("unknown value \"{other}\"; use display or control"),
                        ))
                    }
                };
            }
            inputs.set(binding);
        }
        Ok(inputs)
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    source
        .get(..offset.min(source.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("sunfill.toml"), s)
    }

    #[test]
    fn a_minimal_tls_config() {
        let c = parse(
            "[mqtt]\nbroker = \"mqtts://ha.lan\"\nca_file = \"/pki/ca.crt\"\nloadpoint = \"garage\"\n\
             [inputs]\npreset = \"powerwall-statestream\"\n",
        )
        .unwrap();
        let s = c.mqtt_settings().unwrap();
        assert_eq!(s.broker.port, 8883);
        assert_eq!(s.status_topic, "sunfill/garage/status");
        assert_eq!(c.inputs().unwrap().bindings.len(), 5);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("[mqtt]\nbroker = \"mqtts://ha.lan\"\nca_flie = \"x\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("sunfill.toml:3: unknown field `ca_flie`"),
            "{e}"
        );
        let c = parse("[mqtt]\n\nbroker = \"tcp://ha.lan\"\n").unwrap();
        let e = c.mqtt_settings().unwrap_err();
        assert!(
            e.to_string().starts_with(
                "sunfill.toml:3: mqtt.broker: broker \"tcp://ha.lan\" must start with mqtts://"
            ),
            "{e}"
        );
    }

    #[test]
    fn password_from_env_is_never_shown() {
        std::env::set_var("SUNFILL_TEST_PW", "s3cret");
        let c = parse(
            "[mqtt]\nbroker = \"mqtts://ha\"\nusername = \"u\"\npassword_env = \"SUNFILL_TEST_PW\"\n",
        )
        .unwrap();
        let s = c.mqtt_settings().unwrap();
        assert_eq!(s.password.as_ref().unwrap().expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn json_binding_overrides() {
        let c = parse(
            "[mqtt]\nbroker = \"mqtt://ha\"\n[inputs.grid]\ntopic = \"tele/meter/SENSOR\"\n\
             format = \"json\"\npointer = \"/power\"\nunit = \"W\"\ninvert = true\n",
        )
        .unwrap();
        let i = c.inputs().unwrap();
        let g = i.binding(Reading::Grid).unwrap();
        assert_eq!(g.format, Format::Json("/power".into()));
        assert!(g.invert);
        let c =
            parse("[mqtt]\nbroker = \"mqtt://ha\"\n[inputs.grid]\ntopic = \"t\"\nunit = \"MW\"\n")
                .unwrap();
        let e = c.inputs().unwrap_err();
        assert!(
            e.to_string()
                .contains("sunfill.toml:5: inputs.grid.unit: unknown unit \"MW\""),
            "{e}"
        );
    }

    // Tests for the daemon's sections.

    #[test]
    fn the_example_covers_every_section_and_parses() {
        let c = parse(EXAMPLE).unwrap();
        let d = c.daemon().unwrap();
        assert_eq!(d.loadpoints.len(), 1);
        assert_eq!(d.loadpoints[0].name, "garage");
        assert_eq!(d.wallbox.watchdog_ms, 15_000);
        assert_eq!(d.web.bind.to_string(), DEFAULT_WEB_BIND);
        assert_eq!(d.log_format, LogFormat::Human);
        c.mqtt_settings().unwrap();
        c.inputs().unwrap();
        for section in [
            "[mqtt]",
            "[inputs]",
            "[[loadpoint]]",
            "[wallbox]",
            "[site]",
            "[battery]",
            "[web]",
            "[store]",
            "[log]",
        ] {
            assert!(EXAMPLE.contains(section), "{section}");
        }
    }

    fn daemon_err(s: &str) -> String {
        let c = parse(s).map_err(|e| e.to_string());
        match c {
            Ok(c) => c.daemon().unwrap_err().to_string(),
            Err(e) => e,
        }
    }

    const MQTT: &str = "[mqtt]\nbroker = \"mqtt://ha\"\n";

    #[test]
    fn daemon_errors_name_line_and_key() {
        let e = daemon_err(&format!(
            "{MQTT}[[loadpoint]]\nname = \"g\"\nport = \"rtu:///dev/ttyUSB0\"\nmax_current = 32\n"
        ));
        assert!(
            e.starts_with("sunfill.toml:6: loadpoint[0].max_current: 32 A is outside"),
            "{e}"
        );
        let e = daemon_err(&format!(
            "{MQTT}[[loadpoint]]\nname = \"g\"\nport = \"serial:/dev/x\"\n"
        ));
        assert!(
            e.starts_with("sunfill.toml:5: loadpoint[0].port: bad port URL"),
            "{e}"
        );
        let e = daemon_err(&format!(
            "{MQTT}[[loadpoint]]\nname = \"a\"\nport = \"tcp://gw\"\n\
             [[loadpoint]]\nname = \"b\"\nport = \"tcp://gw\"\n"
        ));
        assert!(
            e.contains("loadpoint[1].unit: unit 1 on tcp://gw:502 is already"),
            "{e}"
        );
        let e = daemon_err(&format!(
            "{MQTT}[[loadpoint]]\nname = \"g\"\nport = \"tcp://gw\"\n[wallbox]\nwatchdg_ms = 1\n"
        ));
        assert!(
            e.starts_with("sunfill.toml:7: unknown field `watchdg_ms`"),
            "{e}"
        );
        let e = daemon_err(&format!(
            "{MQTT}[[loadpoint]]\nname = \"g\"\nport = \"tcp://gw\"\n[web]\nbind = \"localhost\"\n"
        ));
        assert!(e.starts_with("sunfill.toml:7: web.bind:"), "{e}");
        let e = daemon_err(&format!("{MQTT}[wallbx]\n"));
        assert!(
            e.starts_with("sunfill.toml:3: unknown field `wallbx`"),
            "{e}"
        );
        let e = daemon_err(MQTT);
        assert!(e.contains("no [[loadpoint]] section"), "{e}");
    }

    #[test]
    fn the_battery_section_sets_every_loadpoint_s_policy() {
        let lp = "[[loadpoint]]\nname = \"a\"\nport = \"tcp://gw\"\n\
                  [[loadpoint]]\nname = \"b\"\nport = \"tcp://gw\"\nunit = 2\n";
        let c = parse(&format!(
            "{MQTT}{lp}[battery]\npriority_soc = 30\nbuffer_soc = 90\nbuffer_discharge_w = 2500\n"
        ))
        .unwrap();
        let d = c.daemon().unwrap();
        for l in &d.loadpoints {
            let b = l.core.battery;
            assert_eq!(
                (b.priority_soc, b.buffer_soc, b.max_discharge_w),
                (30, 90, 2500)
            );
        }
        // Without the section: the core's default, the car never takes battery power.
        let d = parse(&format!("{MQTT}{lp}")).unwrap().daemon().unwrap();
        assert_eq!(
            d.loadpoints[0].core.battery,
            sunfill_core::control::BatteryPolicy::default()
        );
        for (section, want) in [
            (
                "priority_soc = 101\n",
                "sunfill.toml:11: battery.priority_soc: 101 % is outside 0..=100 %",
            ),
            (
                "priority_soc = 60\nbuffer_soc = 40\nbuffer_discharge_w = 1000\n",
                "sunfill.toml:12: battery.buffer_soc: 40 % is outside priority_soc (60 %) ..= 100 %",
            ),
            (
                "buffer_soc = 90\n",
                "sunfill.toml:11: battery.buffer_soc: give buffer_discharge_w too",
            ),
            (
                "buffer_discharge_w = 3000\n",
                "sunfill.toml:11: battery.buffer_discharge_w: give buffer_soc too",
            ),
            (
                "buffer_soc = 90\nbuffer_discharge_w = -5\n",
                "sunfill.toml:12: battery.buffer_discharge_w: -5 W is outside 0..=30000 W",
            ),
            ("prority_soc = 50\n", "sunfill.toml:11: unknown field `prority_soc`"),
        ] {
            let e = daemon_err(&format!("{MQTT}{lp}[battery]\n{section}"));
            assert!(e.starts_with(want), "{section}: {e}");
        }
    }

    #[test]
    fn the_web_token_is_never_shown() {
        let c = parse(&format!(
            "{MQTT}[[loadpoint]]\nname = \"g\"\nport = \"tcp://gw\"\n[web]\ntoken = \"0123456789abcdef-secret\"\n"
        ))
        .unwrap();
        let d = c.daemon().unwrap();
        assert!(!format!("{d:?}").contains("secret"));
    }

    #[test]
    fn a_pointer_without_format_must_be_a_json_pointer_too() {
        // Found by fuzz target config: `pointer = "#/pv"` without `format` was taken as-is, so
        // the reading never had a value; with `format = "json"` it was already refused.
        for format in ["", "format = \"json\"\n"] {
            let c = parse(&format!(
                "[mqtt]\nbroker = \"mqtt://ha\"\n[inputs.pv]\ntopic = \"site\"\n{format}\
                 pointer = \"#/pv\"\n"
            ))
            .unwrap();
            let e = c.inputs().unwrap_err();
            assert_eq!(
                e.to_string(),
                "sunfill.toml:3: inputs.pv.pointer: \"#/pv\" must be a JSON pointer starting with \
                 '/', e.g. /power"
            );
        }
        let c = parse(
            "[mqtt]\nbroker = \"mqtt://ha\"\n[inputs.pv]\ntopic = \"s\"\npointer = \"/pv\"\n",
        )
        .unwrap();
        let i = c.inputs().unwrap();
        assert_eq!(
            i.binding(Reading::Pv).unwrap().format,
            Format::Json("/pv".into())
        );
    }
}
