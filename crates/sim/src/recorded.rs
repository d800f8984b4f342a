//! A site's own recorded minutes (the daemon's store) turned into scenarios, so that a user can
//! replay their own days: `sunfill simulate --store`.
//!
//! The store keeps one row per minute with the means of PV and of the house load without the
//! car; a minute without a PV or house reading has `None` there (sunfill was down, or Home
//! Assistant sent `unavailable`). A scenario needs every minute, so:
//! - a gap of up to [`MAX_HELD_GAP_MIN`] minutes is bridged by holding the last minute's values
//!   (counted in [`Recorded::held_minutes`]);
//! - a longer gap ends the scenario and the next recorded minute starts another;
//! - a stretch shorter than [`MIN_STRETCH_MIN`] minutes is left out (counted in
//!   [`Recorded::short_minutes`]): too short to say anything about charging;
//! - a negative power (an inverter's night tare) counts as 0 W, a non-finite one as missing.
//!
//! A scenario is named `{prefix}-{local date of its first minute}`, with `-{days}d` when it
//! covers more than a day and `-2`, `-3`... when a date repeats.
//!
//! The home battery is not part of the benchmark's model: the surplus replayed is PV minus the
//! house load, what the roof offered the car, whatever the battery did with it at the time.

use crate::scenario::{format_rfc3339_utc, Row, Scenario};

/// The longest run of missing minutes bridged by holding the last values.
pub const MAX_HELD_GAP_MIN: i64 = 10;

/// The shortest stretch of minutes worth a scenario.
pub const MIN_STRETCH_MIN: usize = 60;

/// One recorded minute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Minute {
    /// Start of the minute, unix seconds (UTC).
    pub unix_s: i64,
    /// Mean PV power, W; `None`: no reading.
    pub pv_w: Option<f64>,
    /// Mean house load without the car, W; `None`: no reading.
    pub house_w: Option<f64>,
}

/// The scenarios made from recorded minutes, and what did not go into them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// One scenario per stretch of minutes without a long gap, oldest first.
    pub scenarios: Vec<Scenario>,
    /// Missing minutes bridged with the last values.
    pub held_minutes: usize,
    /// Recorded minutes left out because their stretch was shorter than [`MIN_STRETCH_MIN`].
    pub short_minutes: usize,
}

fn power(w: Option<f64>) -> Option<f64> {
    w.filter(|w| w.is_finite()).map(|w| w.max(0.0))
}

/// Turns `minutes` (in any order; a repeated minute keeps its first row) into scenarios named
/// after `prefix` and the local date at `utc_offset_min` minutes from UTC. See the
/// [module docs](self).
pub fn scenarios(prefix: &str, minutes: &[Minute], utc_offset_min: i32) -> Recorded {
    let mut sorted: Vec<(i64, Row)> = minutes
        .iter()
        .filter_map(|m| {
            let row = Row {
                pv_w: power(m.pv_w)?,
                house_w: power(m.house_w)?,
            };
            Some((m.unix_s.div_euclid(60) * 60, row))
        })
        .collect();
    sorted.sort_by_key(|(t, _)| *t);
    sorted.dedup_by_key(|(t, _)| *t);

    let mut out = Recorded::default();
    let mut stretch: Option<(i64, Vec<Row>)> = None;
    for (t, row) in sorted {
        if let Some((start, rows)) = stretch.as_mut() {
            let missing = (t - *start) / 60 - rows.len() as i64;
            if missing <= MAX_HELD_GAP_MIN {
                if let Some(&last) = rows.last() {
                    rows.resize(rows.len() + missing as usize, last);
                }
                out.held_minutes += missing as usize;
                rows.push(row);
                continue;
            }
        }
        if let Some(done) = stretch.replace((t, vec![row])) {
            out.close(prefix, done, utc_offset_min);
        }
    }
    if let Some(done) = stretch {
        out.close(prefix, done, utc_offset_min);
    }
    out
}

impl Recorded {
    fn close(&mut self, prefix: &str, (start_unix, rows): (i64, Vec<Row>), utc_offset_min: i32) {
        if rows.len() < MIN_STRETCH_MIN {
            self.short_minutes += rows.len();
            return;
        }
        let local = format_rfc3339_utc(start_unix + i64::from(utc_offset_min) * 60);
        let mut name = format!("{prefix}-{}", &local[..10]);
        let days = rows.len().div_ceil(1440);
        if days > 1 {
            name.push_str(&format!("-{days}d"));
        }
        let taken = |n: &str| self.scenarios.iter().any(|s| s.name == n);
        if taken(&name) {
            let base = name.clone();
            let mut k = 2;
            while taken(&name) {
                name = format!("{base}-{k}");
                k += 1;
            }
        }
        self.scenarios.push(Scenario {
            name,
            start_unix,
            rows,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_719_784_800; // 2024-06-30T22:00:00Z, local midnight at UTC+2

    fn minute(k: i64, pv: f64, house: f64) -> Minute {
        Minute {
            unix_s: T0 + 60 * k,
            pv_w: Some(pv),
            house_w: Some(house),
        }
    }

    #[test]
    fn a_full_day_is_one_scenario_named_by_its_local_date() {
        let m: Vec<Minute> = (0..1440).map(|k| minute(k, k as f64, 200.0)).collect();
        let r = scenarios("store", &m, 120);
        assert_eq!(r.scenarios.len(), 1);
        let s = &r.scenarios[0];
        assert_eq!(s.name, "store-2024-07-01");
        assert_eq!(s.start_unix, T0);
        assert_eq!(s.rows.len(), 1440);
        assert_eq!(s.rows[1439].pv_w, 1439.0);
        assert_eq!((r.held_minutes, r.short_minutes), (0, 0));
        // In UTC the same minutes start the day before.
        assert_eq!(
            scenarios("store", &m, 0).scenarios[0].name,
            "store-2024-06-30"
        );
    }

    #[test]
    fn short_gaps_are_held_long_gaps_split_and_short_stretches_left_out() {
        let mut m: Vec<Minute> = (0..100)
            .map(|k| minute(k, 1000.0 + k as f64, 300.0))
            .collect();
        // Minutes 100-109 missing (held), then more: one stretch.
        m.extend((110..200).map(|k| minute(k, 5000.0, 300.0)));
        // A minute with no house reading counts as missing; 11 missing minutes (200-210) split.
        m.push(Minute {
            house_w: None,
            ..minute(200, 1.0, 1.0)
        });
        m.extend((211..300).map(|k| minute(k, 2000.0, 400.0)));
        // 30 minutes after a long gap: too short.
        m.extend((400..430).map(|k| minute(k, 2000.0, 400.0)));
        let r = scenarios("store", &m, 120);
        assert_eq!(r.scenarios.len(), 2);
        let (a, b) = (&r.scenarios[0], &r.scenarios[1]);
        assert_eq!(a.rows.len(), 200);
        assert_eq!(a.rows[105].pv_w, 1099.0, "held from minute 99");
        assert_eq!(b.start_unix, T0 + 211 * 60);
        assert_eq!(b.name, "store-2024-07-01-2");
        assert_eq!((r.held_minutes, r.short_minutes), (10, 30));
    }

    #[test]
    fn order_duplicates_odd_seconds_and_bad_values_are_tidied() {
        let mut m: Vec<Minute> = (0..120).rev().map(|k| minute(k, -3.0, 250.0)).collect();
        m.push(Minute {
            unix_s: T0 + 30, // within minute 0: a repeat, the first row kept
            ..minute(0, 9999.0, 9999.0)
        });
        m.push(Minute {
            pv_w: Some(f64::NAN),
            ..minute(120, 0.0, 0.0)
        });
        let r = scenarios("store", &m, 120);
        assert_eq!(r.scenarios.len(), 1);
        let s = &r.scenarios[0];
        assert_eq!(
            s.rows.len(),
            120,
            "the NaN minute is missing, not held: nothing follows it"
        );
        assert_eq!(s.rows[0].pv_w, 0.0, "negative PV counts as 0 W");
        assert_eq!(s.rows[0].house_w, 250.0);
    }

    #[test]
    fn several_days_are_named_by_their_length() {
        let m: Vec<Minute> = (0..3 * 1440 - 5).map(|k| minute(k, 0.0, 200.0)).collect();
        assert_eq!(
            scenarios("store", &m, 120).scenarios[0].name,
            "store-2024-07-01-3d"
        );
        assert!(scenarios("store", &[], 0).scenarios.is_empty());
    }
}
