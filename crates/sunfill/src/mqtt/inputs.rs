//! Site readings from MQTT: which topic carries which reading, and how to read its payload.
//!
//! Each [`Binding`] ties one [`Reading`] (grid, PV, house, battery power, battery SoC, car SoC)
//! to a topic, a payload [`Format`] (a plain number, or JSON with a pointer such as `/power`), a
//! [`Unit`], a sign convention and plausibility limits. [`parse`] is a pure function from payload
//! bytes to a core [`Input`] or an [`Unavailable`] reason: `unknown`, `unavailable`, empty,
//! NaN and absurd values are never turned into 0 W.
//!
//! # Retained values
//! Home Assistant's `mqtt_statestream` publishes retained and only on change, so at subscribe
//! time the broker hands over values of unknown age: possibly from an hour ago, when the
//! Powerwall integration died. By default ([`RetainedUse::DisplayOnly`]) a retained *power*
//! reading is shown but not given to the controller; control waits for the first live update.
//! State of charge changes slowly and is not re-sent while steady (a full battery stays at 100 %
//! for hours), so SoC readings default to [`RetainedUse::Control`]. Both are per binding.

use std::fmt;
use std::time::Duration;
use sunfill_core::Input;

/// A site reading sunfill can take from MQTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reading {
    /// Grid meter power: `+` import, `-` export.
    Grid,
    /// PV production.
    Pv,
    /// House load (including the wallbox).
    House,
    /// Home battery power: `+` discharging, `-` charging.
    Battery,
    /// Home battery state of charge, percent.
    BatterySoc,
    /// The car's state of charge, percent (display only; the controller does not use it).
    CarSoc,
}

impl Reading {
    /// Every reading, in config order.
    pub const ALL: [Reading; 6] = [
        Reading::Grid,
        Reading::Pv,
        Reading::House,
        Reading::Battery,
        Reading::BatterySoc,
        Reading::CarSoc,
    ];

    /// The reading's name in config files and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Reading::Grid => "grid",
            Reading::Pv => "pv",
            Reading::House => "house",
            Reading::Battery => "battery",
            Reading::BatterySoc => "battery_soc",
            Reading::CarSoc => "car_soc",
        }
    }

    /// Whether this reading is a percentage rather than a power.
    pub const fn is_percent(self) -> bool {
        matches!(self, Reading::BatterySoc | Reading::CarSoc)
    }

    /// Default plausibility limits in W (or %): beyond them a value is a glitch, not a reading.
    pub const fn default_limits(self) -> (f64, f64) {
        match self {
            Reading::Grid => (-60_000.0, 60_000.0),
            Reading::Pv => (-1_000.0, 60_000.0),
            Reading::House => (-1_000.0, 60_000.0),
            Reading::Battery => (-30_000.0, 30_000.0),
            Reading::BatterySoc | Reading::CarSoc => (0.0, 100.0),
        }
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the payload carries the number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The payload is the number as text (`3.025`, `-450`).
    Number,
    /// The payload is JSON; the number is at this JSON pointer (`/power`, `/ENERGY/Power`).
    Json(String),
}

/// The unit of the number in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Watts.
    W,
    /// Kilowatts (HA's Powerwall sensors).
    Kw,
    /// Percent (state of charge).
    Percent,
}

impl Unit {
    fn factor(self) -> f64 {
        match self {
            Unit::Kw => 1000.0,
            Unit::W | Unit::Percent => 1.0,
        }
    }
}

/// What to do with a retained value received at subscribe time (its age is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainedUse {
    /// Show it, but wait for a live update before the controller uses it.
    DisplayOnly,
    /// Use it for control as if it had just arrived.
    Control,
}

/// One reading bound to one topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Which reading.
    pub reading: Reading,
    /// The MQTT topic.
    pub topic: String,
    /// Payload format.
    pub format: Format,
    /// Unit of the payload's number.
    pub unit: Unit,
    /// Multiply by -1 (for meters that count export as positive, or batteries charging as +).
    pub invert: bool,
    /// After this long without an update the reading no longer counts.
    pub max_age: Duration,
    /// Plausibility limits after unit conversion and sign, W (or %).
    pub limits: (f64, f64),
    /// Retained values at subscribe.
    pub retained: RetainedUse,
}

impl Binding {
    /// A binding with the reading's default limits, age and retained policy.
    pub fn new(reading: Reading, topic: impl Into<String>, format: Format, unit: Unit) -> Binding {
        Binding {
            reading,
            topic: topic.into(),
            format,
            unit,
            invert: false,
            max_age: if reading.is_percent() {
                Duration::from_secs(3600)
            } else {
                Duration::from_secs(90)
            },
            limits: reading.default_limits(),
            retained: if reading.is_percent() {
                RetainedUse::Control
            } else {
                RetainedUse::DisplayOnly
            },
        }
    }

    /// Sets the sign convention.
    pub fn inverted(mut self, invert: bool) -> Binding {
        self.invert = invert;
        self
    }
}

/// A parsed reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A reading the controller uses.
    Input(Input),
    /// The car's state of charge, percent (shown, not used for control).
    CarSoc(u8),
}

/// Why a payload does not give a usable reading.
#[derive(Clone, Debug, PartialEq)]
pub enum Unavailable {
    /// Home Assistant's `unknown`.
    Unknown,
    /// Home Assistant's `unavailable`.
    Unavailable,
    /// An empty payload (also: a retained value was deleted).
    Empty,
    /// Not a number.
    NotANumber(String),
    /// NaN or infinite.
    NotFinite,
    /// Outside the plausibility limits.
    OutOfRange {
        /// The value after conversion.
        value: f64,
        /// Lower limit.
        min: f64,
        /// Upper limit.
        max: f64,
        /// Unit of value and limits.
        unit: &'static str,
    },
    /// The payload is not JSON.
    BadJson(String),
    /// The JSON has nothing (or `null`) at the pointer.
    MissingPointer(String),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Unknown => f.write_str("the source reports \"unknown\""),
            Unavailable::Unavailable => f.write_str("the source reports \"unavailable\""),
            Unavailable::Empty => f.write_str("empty payload"),
            Unavailable::NotANumber(s) => write!(f, "\"{s}\" is not a number"),
            Unavailable::NotFinite => f.write_str("the value is not a finite number"),
            Unavailable::OutOfRange {
                value,
                min,
                max,
                unit,
            } => write!(
                f,
                "{value} {unit} is outside the plausible range {min}..{max} {unit}"
            ),
            Unavailable::BadJson(e) => write!(f, "the payload is not valid JSON: {e}"),
            Unavailable::MissingPointer(p) => {
                write!(f, "the JSON payload has no number at {p}")
            }
        }
    }
}

/// Reads one payload according to its binding.
pub fn parse(binding: &Binding, payload: &[u8]) -> Result<Value, Unavailable> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| Unavailable::NotANumber(String::from_utf8_lossy(payload).into_owned()))?
        .trim();
    let number = match &binding.format {
        Format::Number => number_from_text(text)?,
        Format::Json(pointer) => {
            if text.is_empty() {
                return Err(Unavailable::Empty);
            }
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| Unavailable::BadJson(e.to_string()))?;
            match json.pointer(pointer) {
                None | Some(serde_json::Value::Null) => {
                    return Err(Unavailable::MissingPointer(pointer.clone()))
                }
                Some(serde_json::Value::Number(n)) => n.as_f64().ok_or(Unavailable::NotFinite)?,
                Some(serde_json::Value::String(s)) => number_from_text(s.trim())?,
                Some(other) => return Err(Unavailable::NotANumber(other.to_string())),
            }
        }
    };
    let mut value = number * binding.unit.factor();
    if binding.invert {
        value = -value;
    }
    let (min, max) = binding.limits;
    if !(min..=max).contains(&value) {
        return Err(Unavailable::OutOfRange {
            value,
            min,
            max,
            unit: if binding.reading.is_percent() {
                "%"
            } else {
                "W"
            },
        });
    }
    let w = value.round() as i32;
    Ok(match binding.reading {
        Reading::Grid => Value::Input(Input::Grid(w)),
        Reading::Pv => Value::Input(Input::Pv(w)),
        Reading::House => Value::Input(Input::House(w)),
        Reading::Battery => Value::Input(Input::Battery(w)),
        Reading::BatterySoc => Value::Input(Input::BatterySoc(w.clamp(0, 100) as u8)),
        Reading::CarSoc => Value::CarSoc(w.clamp(0, 100) as u8),
    })
}

fn number_from_text(text: &str) -> Result<f64, Unavailable> {
    match text {
        "" => Err(Unavailable::Empty),
        t if t.eq_ignore_ascii_case("unknown") => Err(Unavailable::Unknown),
        t if t.eq_ignore_ascii_case("unavailable") => Err(Unavailable::Unavailable),
        t => {
            let v: f64 = t
                .parse()
                .map_err(|_| Unavailable::NotANumber(t.chars().take(40).collect()))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Unavailable::NotFinite)
            }
        }
    }
}

/// The outcome of one message on a bound topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Which reading.
    pub reading: Reading,
    /// The value, or why there is none.
    pub value: Result<Value, Unavailable>,
    /// Whether the controller may use it now (false for retained values shown only).
    pub for_control: bool,
}

/// All bindings of a site.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    /// The bindings; one per reading at most.
    pub bindings: Vec<Binding>,
}

impl Inputs {
    /// The topics to subscribe to (each once).
    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.bindings.iter().map(|b| b.topic.clone()).collect();
        t.sort();
        t.dedup();
        t
    }

    /// The binding of a reading, if configured.
    pub fn binding(&self, reading: Reading) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.reading == reading)
    }

    /// Replaces (or adds) the binding of a reading.
    pub fn set(&mut self, binding: Binding) {
        self.bindings.retain(|b| b.reading != binding.reading);
        self.bindings.push(binding);
    }

    /// Reads a message; empty when the topic is bound to nothing. Several readings may share a
    /// topic (a JSON payload carrying grid and PV).
    pub fn handle(&self, topic: &str, payload: &[u8], retained: bool) -> Vec<Update> {
        self.bindings
            .iter()
            .filter(|b| b.topic == topic)
            .map(|b| Update {
                reading: b.reading,
                value: parse(b, payload),
                for_control: !retained || b.retained == RetainedUse::Control,
            })
            .collect()
    }

    /// The controller's maximum ages with the bindings' ages applied.
    pub fn max_age(
        &self,
        mut base: sunfill_core::control::MaxAge,
    ) -> sunfill_core::control::MaxAge {
        // Saturating: `as u64` would wrap a huge max_age_secs into a tiny age.
        let core = |d: Duration| {
            sunfill_core::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        for b in &self.bindings {
            match b.reading {
                Reading::Grid => base.grid = core(b.max_age),
                Reading::Pv => base.pv = core(b.max_age),
                Reading::House => base.house = core(b.max_age),
                Reading::Battery => base.battery = core(b.max_age),
                Reading::BatterySoc | Reading::CarSoc => {}
            }
        }
        base
    }
}

/// Ready-made bindings for common sites.
pub mod presets {
    use super::*;

    /// Home Assistant `mqtt_statestream` of the Tesla Powerwall integration, as the original
    /// controller used it: kW as decimal text; Tesla's "site" is the grid meter (+ import);
    /// battery + discharging; SoC in percent. `prefix` is statestream's base topic
    /// (`homeassistant`).
    pub fn powerwall_statestream(prefix: &str) -> Inputs {
        let t = |id: &str| format!("{prefix}/sensor/{id}/state");
        Inputs {
            bindings: vec![
                Binding::new(
                    Reading::Grid,
                    t("powerwall_site_now"),
                    Format::Number,
                    Unit::Kw,
                ),
                Binding::new(
                    Reading::Pv,
                    t("powerwall_solar_now"),
                    Format::Number,
                    Unit::Kw,
                ),
                Binding::new(
                    Reading::House,
                    t("powerwall_load_now"),
                    Format::Number,
                    Unit::Kw,
                ),
                Binding::new(
                    Reading::Battery,
                    t("powerwall_battery_now"),
                    Format::Number,
                    Unit::Kw,
                ),
                Binding::new(
                    Reading::BatterySoc,
                    t("powerwall_charge"),
                    Format::Number,
                    Unit::Percent,
                ),
            ],
        }
    }

    /// Only a grid meter publishing plain watts (`+` import unless `invert`).
    pub fn grid_meter_w(topic: &str, invert: bool) -> Inputs {
        Inputs {
            bindings: vec![
                Binding::new(Reading::Grid, topic, Format::Number, Unit::W).inverted(invert)
            ],
        }
    }

    /// A meter publishing JSON such as `{"power": 1234}` in watts on one topic.
    pub fn json_meter(topic: &str, pointer: &str) -> Inputs {
        Inputs {
            bindings: vec![Binding::new(
                Reading::Grid,
                topic,
                Format::Json(pointer.to_string()),
                Unit::W,
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn powerwall() -> Inputs {
        presets::powerwall_statestream("homeassistant")
    }

    fn one(inputs: &Inputs, topic: &str, payload: &str, retained: bool) -> Update {
        let mut u = inputs.handle(topic, payload.as_bytes(), retained);
        assert_eq!(u.len(), 1, "{topic}");
        u.remove(0)
    }

    // Tests for the Powerwall statestream preset.

    #[test]
    fn powerwall_site_is_the_grid_in_kilowatts() {
        let u = one(
            &powerwall(),
            "homeassistant/sensor/powerwall_site_now/state",
            "-1.234",
            false,
        );
        assert_eq!(u.reading, Reading::Grid);
        assert_eq!(u.value, Ok(Value::Input(Input::Grid(-1234))));
        assert!(u.for_control);
    }

    #[test]
    fn powerwall_solar_battery_and_charge() {
        let p = powerwall();
        assert_eq!(
            one(
                &p,
                "homeassistant/sensor/powerwall_solar_now/state",
                "3.025",
                false
            )
            .value,
            Ok(Value::Input(Input::Pv(3025)))
        );
        assert_eq!(
            one(
                &p,
                "homeassistant/sensor/powerwall_battery_now/state",
                "-2.5",
                false
            )
            .value,
            Ok(Value::Input(Input::Battery(-2500)))
        );
        assert_eq!(
            one(
                &p,
                "homeassistant/sensor/powerwall_charge/state",
                "87.4",
                false
            )
            .value,
            Ok(Value::Input(Input::BatterySoc(87)))
        );
        assert_eq!(
            one(
                &p,
                "homeassistant/sensor/powerwall_load_now/state",
                "0.8",
                false
            )
            .value,
            Ok(Value::Input(Input::House(800)))
        );
    }

    #[test]
    fn unknown_unavailable_empty_and_nan_are_never_zero() {
        let p = powerwall();
        let t = "homeassistant/sensor/powerwall_site_now/state";
        assert_eq!(
            one(&p, t, "unknown", false).value,
            Err(Unavailable::Unknown)
        );
        assert_eq!(
            one(&p, t, "unavailable", false).value,
            Err(Unavailable::Unavailable)
        );
        assert_eq!(one(&p, t, "", false).value, Err(Unavailable::Empty));
        assert_eq!(one(&p, t, "NaN", false).value, Err(Unavailable::NotFinite));
        assert_eq!(one(&p, t, "inf", false).value, Err(Unavailable::NotFinite));
        assert!(matches!(
            one(&p, t, "on", false).value,
            Err(Unavailable::NotANumber(_))
        ));
    }

    #[test]
    fn absurd_values_are_rejected_with_the_limits() {
        let u = one(
            &powerwall(),
            "homeassistant/sensor/powerwall_site_now/state",
            "250",
            false,
        );
        let e = u.value.unwrap_err();
        assert_eq!(
            e.to_string(),
            "250000 W is outside the plausible range -60000..60000 W"
        );
        let soc = one(
            &powerwall(),
            "homeassistant/sensor/powerwall_charge/state",
            "101",
            false,
        );
        assert!(matches!(soc.value, Err(Unavailable::OutOfRange { .. })));
    }

    #[test]
    fn retained_power_is_for_display_retained_soc_for_control() {
        let p = powerwall();
        let u = one(
            &p,
            "homeassistant/sensor/powerwall_site_now/state",
            "1.0",
            true,
        );
        assert!(u.value.is_ok());
        assert!(!u.for_control);
        let u = one(
            &p,
            "homeassistant/sensor/powerwall_charge/state",
            "55",
            true,
        );
        assert!(u.for_control);
    }

    #[test]
    fn unrelated_topics_are_ignored() {
        assert!(powerwall()
            .handle("homeassistant/sensor/other/state", b"1", false)
            .is_empty());
    }

    // Tests for the other presets.

    #[test]
    fn grid_meter_in_watts_with_inverted_sign() {
        let p = presets::grid_meter_w("meter/power", true);
        assert_eq!(
            one(&p, "meter/power", "1500", false).value,
            Ok(Value::Input(Input::Grid(-1500)))
        );
    }

    #[test]
    fn json_payloads_by_pointer() {
        let p = presets::json_meter("tele/meter/SENSOR", "/power");
        let t = "tele/meter/SENSOR";
        assert_eq!(
            one(&p, t, r#"{"power": 1234}"#, false).value,
            Ok(Value::Input(Input::Grid(1234)))
        );
        assert_eq!(
            one(&p, t, r#"{"power": "-12.6"}"#, false).value,
            Ok(Value::Input(Input::Grid(-13)))
        );
        assert_eq!(
            one(&p, t, r#"{"power": null}"#, false).value,
            Err(Unavailable::MissingPointer("/power".into()))
        );
        assert_eq!(
            one(&p, t, r#"{"power": "unavailable"}"#, false).value,
            Err(Unavailable::Unavailable)
        );
        assert!(matches!(
            one(&p, t, "{", false).value,
            Err(Unavailable::BadJson(_))
        ));
    }

    #[test]
    fn huge_max_ages_saturate_instead_of_wrapping() {
        // Found with the max-age property of fuzz target config: max_age_secs =
        // 18446744073709552 is 2^64 + 384 ms, which reached the controller as 384 ms.
        let mut p = presets::grid_meter_w("meter", false);
        p.bindings[0].max_age = Duration::from_secs(18_446_744_073_709_552);
        let ages = p.max_age(sunfill_core::control::MaxAge::default());
        assert_eq!(ages.grid.total_millis(), u64::MAX);
        p.bindings[0].max_age = Duration::from_secs(90);
        assert_eq!(
            p.max_age(sunfill_core::control::MaxAge::default())
                .grid
                .total_millis(),
            90_000
        );
    }

    #[test]
    fn two_readings_on_one_json_topic() {
        let mut p = presets::json_meter("site", "/grid");
        p.set(Binding::new(
            Reading::Pv,
            "site",
            Format::Json("/pv".into()),
            Unit::Kw,
        ));
        let u = p.handle("site", br#"{"grid": -300, "pv": 4.2}"#, false);
        assert_eq!(u.len(), 2);
        assert!(u.contains(&Update {
            reading: Reading::Pv,
            value: Ok(Value::Input(Input::Pv(4200))),
            for_control: true
        }));
    }
}
