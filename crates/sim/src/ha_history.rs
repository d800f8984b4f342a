//! Home Assistant's history export as recorded minutes, so that a user can replay their own days
//! before sunfill ever ran: `sunfill simulate --ha-history`.
//!
//! The History panel's "Download data" writes a CSV with the columns `entity_id,state,
//! last_changed`, one row per state change (Home Assistant records a state only when it
//! changes), times in RFC 3339 with milliseconds, e.g. `2025-06-10T10:00:05.123Z`. Other
//! exporters write `2025-06-10 10:00:05+00:00`; both are read. Rules:
//! - a state holds until the entity's next change, the last one until the export's last change
//!   of any entity asked for;
//! - a state that is not a number (`unavailable`, `unknown`, empty) is no reading until the next
//!   change; it is counted, not an error;
//! - rows of other entities are skipped unread (the export may hold every entity of the house);
//! - a minute's value is the time-weighted mean of the states that held during it; a minute in
//!   which an entity had no reading at all has none.
//!
//! Power sensors report in W or kW, and the export does not say which: the caller gives the
//! unit, or [`Series::guess_unit`] takes kW when no value reaches 100.

use crate::recorded::Minute;
use std::collections::BTreeMap;
use std::fmt;

/// A power unit of a sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Watts.
    W,
    /// Kilowatts.
    KW,
}

impl Unit {
    fn factor(self) -> f64 {
        match self {
            Unit::W => 1.0,
            Unit::KW => 1000.0,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::W => "W",
            Unit::KW => "kW",
        })
    }
}

/// Why an export could not be read: the file, the line (0: the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {problem}", if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct HistoryError {
    /// The file as given.
    pub file: String,
    /// 1-based line number, or 0.
    pub line: usize,
    /// What is wrong, and what to do.
    pub problem: String,
}

/// One entity's states, in the order of the file: (unix ms, value; `None`: not a number).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The state changes.
    pub changes: Vec<(i64, Option<f64>)>,
    /// States that were not numbers.
    pub non_numeric: usize,
}

impl Series {
    /// kW if no numeric state reaches 100 in magnitude (a house's power in kW rarely does, in W
    /// it nearly always does within a day), else W.
    pub fn guess_unit(&self) -> Unit {
        let max = self
            .changes
            .iter()
            .filter_map(|(_, v)| *v)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        if max < 100.0 {
            Unit::KW
        } else {
            Unit::W
        }
    }

    /// The largest numeric state (for telling the user what an entity holds).
    pub fn max(&self) -> Option<f64> {
        self.changes.iter().filter_map(|(_, v)| *v).reduce(f64::max)
    }

    /// The time-weighted mean of each minute from `first_min` (unix minutes) for `n` minutes, the
    /// last state holding until `end_ms`; `None` where no state held.
    fn minute_means(&self, first_min: i64, n: usize, end_ms: i64) -> Vec<Option<f64>> {
        let mut sum = vec![0.0f64; n];
        // The share of each minute that some state covered.
        let mut covered = vec![0.0f64; n];
        let mut changes = self.changes.clone();
        changes.sort_by_key(|(t, _)| *t);
        for (k, &(from, value)) in changes.iter().enumerate() {
            let Some(v) = value else { continue };
            let to = changes.get(k + 1).map_or(end_ms, |c| c.0).min(end_ms);
            let mut t = from;
            while t < to {
                let minute = t.div_euclid(60_000);
                let next = ((minute + 1) * 60_000).min(to);
                if let Some(i) = usize::try_from(minute - first_min).ok().filter(|&i| i < n) {
                    // Weighted by the share of the minute, so that the sum stays within the
                    // largest state (a state near f64::MAX times 60 000 ms would be infinite).
                    let share = (next - t) as f64 / 60_000.0;
                    sum[i] += v * share;
                    covered[i] += share;
                }
                t = next;
            }
        }
        sum.iter()
            .zip(&covered)
            .map(|(&s, &c)| (c > 0.0).then(|| s / c))
            .collect()
    }
}

/// The states of the entities asked for, from an export's text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Export {
    /// By entity id.
    pub series: BTreeMap<String, Series>,
}

/// Splits a CSV line into fields, with `"..."` quoting (`""` inside is a quote).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH:MM|±HHMM]` into unix ms. A time without a zone is
/// refused: the export's times are UTC with a `Z`, and a guess could shift every day by hours.
pub fn parse_time(s: &str) -> Result<i64, &'static str> {
    let s = s.trim();
    if !s.is_ascii() {
        return Err("not a time");
    }
    if s.len() < 19 {
        return Err("too short for YYYY-MM-DDTHH:MM:SS");
    }
    let (date_time, rest) = s.split_at(19);
    let mut civil = date_time.to_string();
    civil.replace_range(10..11, "T");
    if !matches!(&date_time[10..11], "T" | "t" | " ") {
        return Err("want T or a space between date and time");
    }
    civil.push('Z');
    let secs = crate::scenario::parse_rfc3339_utc(&civil)?;
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    let ms = fraction
        .chars()
        .chain("000".chars())
        .take(3)
        .try_fold(0i64, |acc, c| {
            c.to_digit(10).map(|d| acc * 10 + i64::from(d))
        })
        .ok_or("bad fraction of a second")?;
    let offset_min = match zone {
        "Z" | "z" => 0,
        "" => return Err("no time zone (want Z or +HH:MM)"),
        z => {
            let sign = match z.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err("want Z or +HH:MM after the time"),
            };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err("want Z or +HH:MM after the time");
            }
            let h: i64 = digits[..2].parse().map_err(|_| "bad zone")?;
            let m: i64 = digits[2..].parse().map_err(|_| "bad zone")?;
            sign * (h * 60 + m)
        }
    };
    Ok((secs - offset_min * 60) * 1000 + ms)
}

impl Export {
    /// Reads the rows of the entities in `wanted` from the export `text` (`file` names it in
    /// errors). Every entity of the file is listed in the returned [`Export::series`] only if
    /// `wanted` is empty (to tell the user what there is).
    pub fn parse(file: &str, text: &str, wanted: &[&str]) -> Result<Export, HistoryError> {
        let err = |line: usize, problem: String| HistoryError {
            file: file.to_string(),
            line,
            problem,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let (n, header) = lines.next().ok_or_else(|| {
            err(
                0,
                "empty; want Home Assistant's history export (History, \"Download data\")".into(),
            )
        })?;
        let header: Vec<String> = fields(header.trim_start_matches('\u{feff}'))
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        let (Some(id_col), Some(state_col), Some(time_col)) =
            (col("entity_id"), col("state"), col("last_changed"))
        else {
            return Err(err(
                n,
                format!(
                    "want the columns entity_id,state,last_changed of Home Assistant's history \
                     export, found \"{}\"",
                    header.join(",")
                ),
            ));
        };
        let mut export = Export::default();
        for (n, line) in lines {
            let f = fields(line);
            let id = f.get(id_col).map(|s| s.trim()).unwrap_or_default();
            if !(wanted.is_empty() || wanted.contains(&id)) {
                continue;
            }
            let (Some(state), Some(time)) = (f.get(state_col), f.get(time_col)) else {
                return Err(err(n, format!("{} fields, want {}", f.len(), header.len())));
            };
            let t = parse_time(time)
                .map_err(|why| err(n, format!("last_changed \"{}\": {why}", time.trim())))?;
            let value = state.trim().parse::<f64>().ok().filter(|v| v.is_finite());
            let s = export.series.entry(id.to_string()).or_default();
            s.non_numeric += usize::from(value.is_none());
            s.changes.push((t, value));
        }
        Ok(export)
    }

    /// The recorded minutes of PV and house load without the car, from `pv`, the house `load`,
    /// and `car` (if the house load includes the wallbox, as a Tesla Powerwall's or a grid
    /// meter's does) taken out of it. Covers the minutes from the first change of any of them to
    /// the last.
    pub fn minutes(&self, pv: Power<'_>, load: Load<'_>, car: Option<Power<'_>>) -> Vec<Minute> {
        let empty = Series::default();
        let get = |id: &str| self.series.get(id).unwrap_or(&empty);
        let (main, battery) = match load {
            Load::House(h) => (h, None),
            Load::Grid { grid, battery } => (grid, battery),
        };
        let all = [Some(pv), Some(main), battery, car];
        let times = all
            .iter()
            .flatten()
            .flat_map(|p| get(p.id).changes.iter().map(|c| c.0));
        let (Some(first), Some(end)) = (times.clone().min(), times.max()) else {
            return Vec::new();
        };
        let first_min = first.div_euclid(60_000);
        let n = usize::try_from(end.div_euclid(60_000) - first_min).unwrap_or(0);
        let means = |p: Power<'_>| -> Vec<Option<f64>> {
            let factor = p.unit.factor() * if p.negate { -1.0 } else { 1.0 };
            get(p.id)
                .minute_means(first_min, n, end)
                .into_iter()
                .map(|v| v.map(|v| v * factor))
                .collect()
        };
        let zero = || vec![Some(0.0); n];
        let pv_w = means(pv);
        let main_w = means(main);
        let battery_w = battery.map_or_else(zero, means);
        let car_w = car.map_or_else(zero, means);
        let from_grid = matches!(load, Load::Grid { .. });
        (0..n)
            .map(|i| {
                let with_car = if from_grid {
                    // What the meter saw: house + car + charging - PV - discharging.
                    main_w[i]
                        .zip(pv_w[i])
                        .zip(battery_w[i])
                        .map(|((g, p), b)| g + p + b)
                } else {
                    main_w[i]
                };
                Minute {
                    unix_s: (first_min + i as i64) * 60,
                    pv_w: pv_w[i],
                    house_w: with_car.zip(car_w[i]).map(|(h, c)| h - c),
                }
            })
            .collect()
    }
}

/// An entity of the export read as a power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Power<'a> {
    /// The entity id, e.g. `sensor.powerwall_solar_now`.
    pub id: &'a str,
    /// Its unit.
    pub unit: Unit,
    /// Whether its sign is the opposite of the one wanted (a grid meter that counts export as
    /// positive).
    pub negate: bool,
}

impl<'a> Power<'a> {
    /// `id` in `unit`, with its own sign.
    pub fn new(id: &'a str, unit: Unit) -> Self {
        Power {
            id,
            unit,
            negate: false,
        }
    }
}

/// Where the house load comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load<'a> {
    /// A sensor of the house load.
    House(Power<'a>),
    /// The grid meter (+ import) and, if there is one, the home battery (+ discharging): the
    /// house load is grid + PV + battery. Without the battery its charging counts as house load:
    /// the surplus after the battery, as a grid-meter controller sees it.
    Grid {
        /// The grid meter.
        grid: Power<'a>,
        /// The home battery.
        battery: Option<Power<'a>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_the_export_and_of_other_exporters_are_read() {
        let t = 1_749_549_600_000; // 2025-06-10T10:00:00Z
        assert_eq!(parse_time("2025-06-10T10:00:00.000Z"), Ok(t));
        assert_eq!(parse_time("2025-06-10T10:00:05.123Z"), Ok(t + 5123));
        assert_eq!(parse_time("2025-06-10 12:00:00+02:00"), Ok(t));
        assert_eq!(parse_time("2025-06-10T04:00:00.5-0600"), Ok(t + 500));
        assert!(parse_time("2025-06-10T10:00:00").is_err(), "no zone");
        assert!(parse_time("2025-06-10X10:00:00Z").is_err());
        assert!(parse_time("2025-13-10T10:00:00Z").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        assert_eq!(
            fields(r#"a,"b, c","say ""hi""",d"#),
            ["a", "b, c", "say \"hi\"", "d"]
        );
    }

    const EXPORT: &str = "entity_id,state,last_changed\n\
        sensor.pv,1.5,2025-06-10T10:00:00.000Z\n\
        sensor.note,\"long, text\",2025-06-10T10:00:10.000Z\n\
        sensor.house,0.3,2025-06-10T10:00:00.000Z\n\
        sensor.pv,3.0,2025-06-10T10:00:30.000Z\n\
        sensor.pv,unavailable,2025-06-10T10:01:00.000Z\n\
        sensor.car,0.0,2025-06-10T10:00:00.000Z\n\
        sensor.car,1.4,2025-06-10T10:01:30.000Z\n\
        sensor.house,1.7,2025-06-10T10:01:30.000Z\n\
        sensor.pv,2.0,2025-06-10T10:02:00.000Z\n\
        sensor.house,0.3,2025-06-10T10:03:00.000Z\n";

    #[test]
    fn states_become_minute_means_with_the_car_taken_out() {
        let want = ["sensor.pv", "sensor.house", "sensor.car"];
        let e = Export::parse("h.csv", EXPORT, &want).unwrap();
        assert_eq!(e.series.len(), 3, "sensor.note is skipped");
        assert_eq!(e.series["sensor.pv"].non_numeric, 1);
        assert_eq!(e.series["sensor.pv"].guess_unit(), Unit::KW);
        let kw = |id| Power::new(id, Unit::KW);
        let m = e.minutes(
            kw("sensor.pv"),
            Load::House(kw("sensor.house")),
            Some(kw("sensor.car")),
        );
        assert_eq!(m.len(), 3, "10:00 to the last change at 10:03");
        assert_eq!(m[0].unix_s, 1_749_549_600);
        assert_eq!(
            m[0].pv_w,
            Some(2250.0),
            "half a minute at 1.5 kW, half at 3 kW"
        );
        assert_eq!(m[0].house_w, Some(300.0));
        assert_eq!(m[1].pv_w, None, "unavailable all minute");
        // 10:01: house 0.3 then 1.7 from :30 with the car at 1.4 from :30: 300 W without it.
        assert!((m[1].house_w.unwrap() - 300.0).abs() < 1e-9);
        assert_eq!(m[2].pv_w, Some(2000.0));
        // Without the car entity the house keeps the car's load.
        let m = e.minutes(kw("sensor.pv"), Load::House(kw("sensor.house")), None);
        assert!((m[1].house_w.unwrap() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_huge_state_gives_a_finite_minute_mean() {
        // Found by the ha_history fuzz target: 1.41e308 W times 60 000 ms overflowed to infinity.
        let text = "entity_id,state,last_changed\n\
            sensor.pv,1.41e308,2025-06-10T10:00:00Z\n\
            sensor.pv,1.7e308,2025-06-10T10:00:20Z\n\
            sensor.house,300,2025-06-10T10:00:00Z\n\
            sensor.house,300,2025-06-10T10:02:00Z\n";
        let e = Export::parse("h.csv", text, &[]).unwrap();
        let w = |id| Power::new(id, Unit::W);
        let m = e.minutes(w("sensor.pv"), Load::House(w("sensor.house")), None);
        let pv = m[0].pv_w.unwrap();
        assert!((1.41e308..=1.7e308).contains(&pv), "{pv}");
        assert_eq!(m[0].house_w, Some(300.0));
    }

    #[test]
    fn a_grid_meter_and_a_battery_give_the_house_load() {
        // House 300 W, PV 2 kW, the battery charging 500 W: the meter exports 1.2 kW. From
        // 10:01 the car draws 1.4 kW: the meter imports 200 W.
        let text = "entity_id,state,last_changed\n\
            sensor.pv,2000,2025-06-10T10:00:00Z\n\
            sensor.grid,-1200,2025-06-10T10:00:00Z\n\
            sensor.battery,-500,2025-06-10T10:00:00Z\n\
            sensor.car,0,2025-06-10T10:00:00Z\n\
            sensor.car,1400,2025-06-10T10:01:00Z\n\
            sensor.grid,200,2025-06-10T10:01:00Z\n\
            sensor.grid,0,2025-06-10T10:02:00Z\n";
        let e = Export::parse("h.csv", text, &[]).unwrap();
        let w = |id| Power::new(id, Unit::W);
        let grid = Load::Grid {
            grid: w("sensor.grid"),
            battery: Some(w("sensor.battery")),
        };
        let m = e.minutes(w("sensor.pv"), grid, Some(w("sensor.car")));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].house_w, Some(300.0));
        assert_eq!(m[1].house_w, Some(300.0));
        // Without the battery, its charging is house load; a meter counting export as positive
        // is negated.
        let text = text.replace(",-1200,", ",1200,").replace(",200,", ",-200,");
        let e = Export::parse("h.csv", &text, &[]).unwrap();
        let grid = Load::Grid {
            grid: Power {
                negate: true,
                ..w("sensor.grid")
            },
            battery: None,
        };
        let m = e.minutes(w("sensor.pv"), grid, Some(w("sensor.car")));
        assert_eq!(m[0].house_w, Some(800.0));
    }

    #[test]
    fn a_bad_header_or_time_names_the_line() {
        let e = Export::parse("h.csv", "time,value\n", &[]).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e
            .to_string()
            .starts_with("h.csv:1: want the columns entity_id,state,last_changed"));
        let e = Export::parse(
            "h.csv",
            "entity_id,state,last_changed\nsensor.pv,1,2025-06-10 10:00\n",
            &["sensor.pv"],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "h.csv:2: last_changed \"2025-06-10 10:00\": too short for YYYY-MM-DDTHH:MM:SS"
        );
        // A bad row of an entity not asked for is not read.
        assert!(Export::parse(
            "h.csv",
            "entity_id,state,last_changed\nsensor.x,1,never\n",
            &["sensor.pv"]
        )
        .is_ok());
        assert_eq!(Export::parse("h.csv", "", &[]).unwrap_err().line, 0);
    }

    #[test]
    fn units_are_guessed_from_the_size_of_the_values() {
        let s = |v: f64| Series {
            changes: vec![(0, Some(v)), (1, None)],
            non_numeric: 1,
        };
        assert_eq!(s(7.6).guess_unit(), Unit::KW);
        assert_eq!(s(-12.0).guess_unit(), Unit::KW);
        assert_eq!(s(4200.0).guess_unit(), Unit::W);
        assert_eq!(s(4200.0).max(), Some(4200.0));
    }
}
