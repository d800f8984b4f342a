//! Home Assistant's history export (`sunfill_sim::ha_history`; the house load from a house sensor
//! or from a grid meter and a battery), through to recorded minutes and
//! scenarios (`sunfill_sim::recorded`), as `sunfill simulate --ha-history` reads it.
//!
//! Beyond "no panic": errors name the file and a line that exists (or 0); every series holds one
//! change per row of its entity; every minute's value is finite and within the entity's range
//! (times the unit); the scenarios made from them have finite powers >= 0, start on a minute, are
//! at least an hour long, and never repeat a name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill_sim::ha_history::{Export, Load, Power, Unit};
use sunfill_sim::recorded;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    let export = match Export::parse("fuzz.csv", text, &[]) {
        Ok(e) => e,
        Err(e) => {
            assert!(e.line <= lines, "{e}");
            assert!(e.to_string().starts_with("fuzz.csv"), "{e}");
            return;
        }
    };
    let ids: Vec<&str> = export.series.keys().map(String::as_str).collect();
    let rows = ids.iter().map(|id| export.series[*id].changes.len()).sum::<usize>();
    assert!(rows < lines, "one change per data row, after the header");
    let (Some(&pv), Some(&house)) = (ids.first(), ids.last()) else {
        return;
    };
    let unit = export.series[pv].guess_unit();
    let car = ids.get(1).map(|&id| Power::new(id, Unit::W));
    // Huge spans would allocate a minute each; the CLI meets real exports, the fuzzer does not.
    let span = ids
        .iter()
        .flat_map(|id| export.series[*id].changes.iter().map(|c| c.0))
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if span.1.saturating_sub(span.0) > 40 * 86_400_000 {
        return;
    }
    // The house load from a house sensor, or from a grid meter (negated) and a battery.
    let load = if data.len() % 2 == 0 {
        Load::House(Power::new(house, Unit::KW))
    } else {
        Load::Grid {
            grid: Power {
                negate: true,
                ..Power::new(house, Unit::KW)
            },
            battery: ids.get(2).map(|&id| Power::new(id, Unit::W)),
        }
    };
    let minutes = export.minutes(Power::new(pv, unit), load, car);
    let range = |id: &str, factor: f64| {
        let vals = export.series[id].changes.iter().filter_map(|c| c.1);
        let lo = vals.clone().fold(f64::INFINITY, f64::min) * factor;
        let hi = vals.fold(f64::NEG_INFINITY, f64::max) * factor;
        (lo.min(hi), lo.max(hi))
    };
    let factor = if unit == Unit::KW { 1000.0 } else { 1.0 };
    let (lo, hi) = range(pv, factor);
    for m in &minutes {
        assert_eq!(m.unix_s % 60, 0);
        if let Some(v) = m.pv_w {
            assert!(v.is_finite() || !lo.is_finite() || !hi.is_finite(), "{v}");
            let slack = 1e-9 * hi.abs().max(lo.abs()).max(1.0);
            assert!(v >= lo - slack && v <= hi + slack, "{v} outside {lo}..{hi}");
        }
    }
    let r = recorded::scenarios("ha", &minutes, 120);
    let mut names: Vec<&str> = r.scenarios.iter().map(|s| s.name.as_str()).collect();
    for s in &r.scenarios {
        assert!(s.rows.len() >= recorded::MIN_STRETCH_MIN);
        assert_eq!(s.start_unix % 60, 0);
        for row in &s.rows {
            assert!(row.pv_w.is_finite() && row.pv_w >= 0.0, "{row:?}");
            assert!(row.house_w.is_finite() && row.house_w >= 0.0, "{row:?}");
        }
    }
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "a scenario name repeats");
});
