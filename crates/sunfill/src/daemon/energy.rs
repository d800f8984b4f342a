//! Charging sessions from the wallbox's own energy counter (registers 17-18, since
//! installation), so that a restart or a crash of sunfill loses no energy: the box keeps
//! counting while sunfill is down, and the session's start value is saved when it starts.
//!
//! A session starts when a car is seen plugged in and ends when it is seen unplugged. Its energy
//! is the counter now minus the counter at its start. The solar part is estimated reading by
//! reading: the energy since the last reading times the share of the car's power not covered
//! by grid import. Energy counted while sunfill was down counts as grid energy.

use serde::{Deserialize, Serialize};

/// What is saved per loadpoint (in the state file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The counter at the start of the current (or last) session, Wh.
    pub start_wh: Option<u64>,
    /// Whether that session is still running.
    pub active: bool,
    /// Its solar energy so far, Wh (fractional).
    pub solar_wh: f64,
    /// The counter at the end of the last session, Wh.
    pub end_wh: Option<u64>,
}

/// A session started or ended: the state file should be written now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A car was plugged in.
    Started,
    /// The car was unplugged.
    Ended,
}

/// The session meter of one loadpoint.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    saved: Saved,
    last_total: Option<u64>,
}

impl Meter {
    /// A meter continuing a saved session.
    pub fn new(saved: Saved) -> Meter {
        Meter {
            saved,
            last_total: None,
        }
    }

    /// What to save.
    pub fn saved(&self) -> Saved {
        self.saved
    }

    /// A wallbox reading: the counter, whether a car is plugged in, and the share (0..=1) of
    /// the car's power that came from solar since the last reading.
    pub fn reading(&mut self, total_wh: u64, plugged: bool, solar_share: f64) -> Option<Change> {
        let s = &mut self.saved;
        let mut change = None;
        if let Some(start) = s.start_wh {
            if total_wh < start {
                // The counter went back: another box, or a reset. Count from here.
                tracing::warn!(
                    "the wallbox's energy counter went back from {start} Wh to {total_wh} Wh; \
                     counting the session from here"
                );
                s.start_wh = Some(total_wh);
                s.solar_wh = 0.0;
            }
        }
        if s.active {
            if let Some(last) = self.last_total.filter(|l| *l <= total_wh) {
                let delta = (total_wh - last) as f64;
                s.solar_wh += delta * solar_share.clamp(0.0, 1.0);
            }
        }
        if plugged && !s.active {
            s.active = true;
            s.start_wh = Some(total_wh);
            s.solar_wh = 0.0;
            s.end_wh = None;
            change = Some(Change::Started);
        } else if !plugged && s.active {
            s.active = false;
            s.end_wh = Some(total_wh);
            change = Some(Change::Ended);
        }
        self.last_total = Some(total_wh);
        change
    }

    /// Session energy, its solar part, and the counter, Wh.
    pub fn energy(&self) -> crate::service::Energy {
        let s = &self.saved;
        let total = self.last_total.or(s.end_wh).unwrap_or(0);
        let end = if s.active {
            total
        } else {
            s.end_wh.unwrap_or(total)
        };
        let session = s
            .start_wh
            .map(|st| end.saturating_sub(st))
            .unwrap_or_default();
        crate::service::Energy {
            session_wh: session,
            session_solar_wh: (s.solar_wh.max(0.0) as u64).min(session),
            total_wh: total,
        }
    }
}

/// The solar share of the car's power, given the grid meter (+ import) and the home battery
/// (+ discharging): what the car draws beyond the import and the battery's discharge is solar
/// (the same rule as the store's `solar_fraction`).
pub fn solar_share(car_w: f64, grid_w: Option<f64>, battery_w: Option<f64>) -> f64 {
    if car_w <= 0.0 {
        return 0.0;
    }
    match grid_w {
        Some(g) => {
            ((car_w - g.max(0.0) - battery_w.unwrap_or(0.0).max(0.0)) / car_w).clamp(0.0, 1.0)
        }
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_counts_from_plug_in_to_unplug() {
        let mut m = Meter::default();
        assert_eq!(m.reading(1000, false, 0.0), None);
        assert_eq!(m.reading(1000, true, 1.0), Some(Change::Started));
        assert_eq!(m.reading(1500, true, 1.0), None);
        assert_eq!(m.reading(2000, true, 0.5), None);
        let e = m.energy();
        assert_eq!(
            (e.session_wh, e.session_solar_wh, e.total_wh),
            (1000, 750, 2000)
        );
        assert_eq!(m.reading(2000, false, 0.0), Some(Change::Ended));
        // The last session stays shown after unplugging.
        assert_eq!(m.reading(2000, false, 0.0), None);
        assert_eq!(m.energy().session_wh, 1000);
    }

    #[test]
    fn a_restart_continues_the_saved_session_with_what_the_box_counted_meanwhile() {
        let mut m = Meter::default();
        m.reading(1000, true, 1.0);
        m.reading(1400, true, 1.0);
        let saved = m.saved();
        // sunfill is down while the box counts 600 Wh more.
        let mut m = Meter::new(saved);
        assert_eq!(m.reading(2000, true, 1.0), None);
        assert_eq!(m.energy().session_wh, 1000);
        assert_eq!(m.energy().session_solar_wh, 400);
    }

    #[test]
    fn solar_share_is_what_the_import_does_not_cover() {
        assert_eq!(solar_share(4000.0, Some(-500.0), None), 1.0);
        assert_eq!(solar_share(4000.0, Some(1000.0), Some(-2000.0)), 0.75);
        assert_eq!(solar_share(4000.0, Some(1000.0), Some(1000.0)), 0.5);
        assert_eq!(solar_share(4000.0, None, None), 0.0);
        assert_eq!(solar_share(0.0, Some(0.0), None), 0.0);
    }
}
