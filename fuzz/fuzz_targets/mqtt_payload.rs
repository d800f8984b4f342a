//! MQTT site readings (`mqtt::inputs::parse`): every payload is read by a spread of bindings
//! (each reading, plain numbers and JSON with several pointers, W and kW, both signs).
//!
//! Beyond "no panic": an accepted value is the finite number the payload carries, converted,
//! within the binding's plausibility limits and rounded to the integer handed to the
//! controller; `unknown`, `unavailable`, empty and unparsable payloads are never accepted; an
//! out-of-range rejection names the value that really is out of range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill::mqtt::inputs::{parse, Binding, Format, Reading, Unavailable, Unit, Value};
use sunfill_core::Input;

/// Pointers as people configure them, plus the whole document ("").
const POINTERS: [&str; 5] = ["/power", "/ENERGY/Power", "/state", "/0", ""];

fuzz_target!(|payload: &[u8]| {
    let mut formats = vec![Format::Number];
    formats.extend(POINTERS.iter().map(|p| Format::Json(p.to_string())));
    for format in &formats {
        for reading in Reading::ALL {
            let unit = if reading.is_percent() {
                Unit::Percent
            } else {
                Unit::W
            };
            check(&Binding::new(reading, "t", format.clone(), unit), payload);
        }
        // Powerwall-style kW, and a meter that counts export as positive.
        check(
            &Binding::new(Reading::Grid, "t", format.clone(), Unit::Kw).inverted(true),
            payload,
        );
        check(
            &Binding::new(Reading::Battery, "t", format.clone(), Unit::Kw),
            payload,
        );
    }
});

/// The finite number a payload carries for this format, if any (an independent reading of
/// the format description in `inputs.rs`).
fn carried_number(format: &Format, payload: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match format {
        Format::Number => number(text),
        Format::Json(pointer) => {
            let json: serde_json::Value = serde_json::from_str(text).ok()?;
            match json.pointer(pointer)? {
                serde_json::Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
                serde_json::Value::String(s) => number(s),
                _ => None,
            }
        }
    }
}

fn check(b: &Binding, payload: &[u8]) {
    let got = parse(b, payload);
    let factor = match b.unit {
        Unit::Kw => 1000.0,
        Unit::W | Unit::Percent => 1.0,
    };
    let expected = carried_number(&b.format, payload).map(|x| {
        let v = x * factor;
        if b.invert {
            -v
        } else {
            v
        }
    });
    let (min, max) = b.limits;
    match got {
        Ok(value) => {
            let v = expected.unwrap_or_else(|| {
                panic!(
                    "{:?} accepted {payload:?} which carries no number",
                    b.format
                )
            });
            assert!(
                v.is_finite() && min <= v && v <= max,
                "{v} accepted outside {min}..{max}"
            );
            let w = v.round();
            match (b.reading, value) {
                (Reading::Grid, Value::Input(Input::Grid(x)))
                | (Reading::Pv, Value::Input(Input::Pv(x)))
                | (Reading::House, Value::Input(Input::House(x)))
                | (Reading::Battery, Value::Input(Input::Battery(x))) => {
                    assert_eq!(f64::from(x), w, "{payload:?} as {:?}", b.reading)
                }
                (Reading::BatterySoc, Value::Input(Input::BatterySoc(p)))
                | (Reading::CarSoc, Value::CarSoc(p)) => {
                    assert!(p <= 100);
                    assert_eq!(f64::from(p), w.clamp(0.0, 100.0));
                }
                (r, v) => panic!("reading {r:?} gave {v:?}"),
            }
        }
        Err(Unavailable::OutOfRange { value, .. }) => {
            let v = expected.expect("out of range, but the payload carries no number");
            assert_eq!(value, v);
            assert!(
                !(min..=max).contains(&value),
                "{value} is within {min}..{max}"
            );
        }
        Err(e) => {
            if let Some(v) = expected {
                panic!("{payload:?} carries {v} within limits but was rejected: {e}");
            }
            let _ = e.to_string();
        }
    }
}
