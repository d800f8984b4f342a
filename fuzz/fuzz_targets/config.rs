//! The config loader (`config::Config::parse`, then the `[mqtt]` and `[inputs]` sections as the
//! daemon reads them, and `[battery]`), with a few payloads read through every binding it builds.
//!
//! Beyond "no panic": errors name the file and a line that exists; a loadpoint never carries an
//! MQTT wildcard or separator; a broker address prints back to itself; JSON bindings carry a
//! JSON pointer (`/...`); each reading's maximum age reaches the controller unchanged; readings
//! accepted through configured bindings lie within the configured limits; a `[battery]` that
//! resolves gives bands the controller accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use sunfill::config::{Config, ConfigError};
use sunfill::mqtt::inputs::{parse, Format, Reading, Value};
use sunfill::mqtt::Broker;
use sunfill_core::control::MaxAge;
use sunfill_core::Input;

/// Payloads as meters and Home Assistant send them.
const PAYLOADS: [&[u8]; 9] = [
    b"1.5",
    b"-2000",
    b"87.4",
    b"unavailable",
    b"",
    b"1e12",
    b"{\"power\": 1234}",
    b"{\"ENERGY\": {\"Power\": \"-12.6\"}}",
    b"[3.5]",
];

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let c = match Config::parse(Path::new("sunfill.toml"), source) {
        Ok(c) => c,
        Err(e) => return check_error(&e, source),
    };
    match c.topics() {
        Ok(t) => {
            assert!(!t.loadpoint.is_empty());
            assert!(!t.loadpoint.contains(['/', '+', '#']), "{}", t.loadpoint);
            assert!(!t.base.ends_with('/'));
        }
        Err(e) => check_error(&e, source),
    }
    if let Some(m) = &c.mqtt {
        if let Ok(b) = Broker::parse(m.broker.get_ref()) {
            assert_eq!(Broker::parse(&b.to_string()), Ok(b.clone()), "{b}");
        }
        // A password file is read from disk; a fuzzed path could name a device that never ends.
        if m.password_file.is_none() {
            if let Err(e) = c.mqtt_settings() {
                check_error(&e, source);
            }
        }
    }
    // The home battery policy: bands the controller accepts, or an error at a key.
    match c.battery_policy() {
        Ok(p) => {
            assert!(p.priority_soc <= 100 && p.buffer_soc >= p.priority_soc, "{p:?}");
            assert!((0..=30_000).contains(&p.max_discharge_w), "{p:?}");
            let core = sunfill_core::control::Config {
                battery: p,
                ..Default::default()
            };
            assert_eq!(core.validate(), Ok(()), "{p:?}");
        }
        Err(e) => check_error(&e, source),
    }
    let inputs = match c.inputs() {
        Ok(i) => i,
        Err(e) => return check_error(&e, source),
    };
    // The bindings' ages reach the controller unchanged (in ms; saturating, never wrapping).
    let ages = inputs.max_age(MaxAge::default());
    for b in &inputs.bindings {
        let got = match b.reading {
            Reading::Grid => ages.grid,
            Reading::Pv => ages.pv,
            Reading::House => ages.house,
            Reading::Battery => ages.battery,
            Reading::BatterySoc | Reading::CarSoc => continue,
        };
        let want = u64::try_from(b.max_age.as_millis()).unwrap_or(u64::MAX);
        assert_eq!(got.total_millis(), want, "max age of {}", b.reading);
    }
    for (i, b) in inputs.bindings.iter().enumerate() {
        assert!(
            inputs.bindings[..i].iter().all(|o| o.reading != b.reading),
            "two bindings for {}",
            b.reading
        );
        if let Format::Json(p) = &b.format {
            assert!(p.starts_with('/'), "JSON binding with pointer {p:?}");
        }
        let (min, max) = b.limits;
        for payload in PAYLOADS {
            let w = match parse(b, payload) {
                Ok(Value::Input(Input::Grid(w) | Input::Pv(w) | Input::House(w)))
                | Ok(Value::Input(Input::Battery(w))) => f64::from(w),
                Ok(Value::Input(Input::BatterySoc(p))) | Ok(Value::CarSoc(p)) => {
                    assert!(p <= 100);
                    continue;
                }
                Ok(v) => panic!("{v:?} from an MQTT payload"),
                Err(e) => {
                    let _ = e.to_string();
                    continue;
                }
            };
            // Rounding may move the value by half a watt; i32 saturates at its ends.
            let lo = min.floor().max(f64::from(i32::MIN));
            let hi = max.ceil().min(f64::from(i32::MAX));
            assert!(lo <= w && w <= hi, "{w} accepted outside {min}..{max}");
        }
    }
});

fn check_error(e: &ConfigError, source: &str) {
    assert_eq!(e.path, Path::new("sunfill.toml"));
    if let Some(line) = e.line {
        let lines = source.split('\n').count();
        assert!((1..=lines).contains(&line), "line {line} of {lines}");
    }
    let msg = e.to_string();
    assert!(msg.starts_with("sunfill.toml"), "{msg}");
    assert!(!e.message.is_empty(), "{msg}");
}
