//! A home battery in self-consumption mode, as a Tesla Powerwall runs by default: it charges
//! from whatever the site would export and discharges into whatever the site would import, within
//! its power limits, its capacity and its backup reserve. It does not know the car: a car that
//! draws more than the sun gives is fed from the battery first, which is exactly what users of
//! battery-blind controllers complain about ("the Powerwall empties into the car").
//!
//! Not part of BENCHMARK.md's model (which has no battery); the replay adds it with
//! `--home-battery`. Simplifications, on purpose:
//! - the battery follows the site within the same second (a Powerwall takes 1-2 s);
//! - 95 % efficiency each way (about 90 % round trip, a Powerwall 2's figure), charged and
//!   discharged energies are counted on the AC side;
//! - no taper near full or empty.

/// Efficiency of charging and of discharging each.
pub const EFFICIENCY: f64 = 0.95;

/// The battery's size and settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HomeBattery {
    /// Usable capacity, Wh (13 500 for a Powerwall 2).
    pub capacity_wh: f64,
    /// The most it charges or discharges with, W (5 000 for a Powerwall 2).
    pub max_power_w: f64,
    /// State of charge at the start of the replay, percent.
    pub start_soc: f64,
    /// It never discharges below this state of charge, percent (a Powerwall's backup reserve).
    pub reserve_soc: f64,
}

impl HomeBattery {
    /// Checks that the numbers make a battery; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.capacity_wh.is_finite() && self.capacity_wh > 0.0) {
            return Err(format!(
                "capacity {} kWh must be above 0",
                self.capacity_wh / 1000.0
            ));
        }
        if !(self.max_power_w.is_finite() && self.max_power_w > 0.0) {
            return Err(format!(
                "power {} kW must be above 0",
                self.max_power_w / 1000.0
            ));
        }
        for (what, v) in [
            ("state of charge", self.start_soc),
            ("reserve", self.reserve_soc),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("{what} {v} % must be within 0..=100 %"));
            }
        }
        Ok(())
    }
}

/// The battery while a replay runs: its stored energy and what went in and out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatteryState {
    model: HomeBattery,
    /// Stored energy, W*s.
    stored_ws: f64,
    /// AC energy charged, W*s.
    charged_ws: f64,
    /// AC energy discharged, W*s.
    discharged_ws: f64,
}

impl BatteryState {
    /// The battery at its start state of charge.
    pub fn new(model: HomeBattery) -> Self {
        BatteryState {
            model,
            stored_ws: model.capacity_wh * 3600.0 * model.start_soc.clamp(0.0, 100.0) / 100.0,
            charged_ws: 0.0,
            discharged_ws: 0.0,
        }
    }

    /// The battery's AC power for one second in which the site, without the battery, would draw
    /// `net_w` from the grid (negative: export): + discharging, - charging.
    pub fn power_w(&self, net_w: f64) -> f64 {
        let m = &self.model;
        let full_ws = m.capacity_wh * 3600.0;
        if net_w > 0.0 {
            let above_reserve = (self.stored_ws - full_ws * m.reserve_soc / 100.0).max(0.0);
            net_w.min(m.max_power_w).min(above_reserve * EFFICIENCY)
        } else {
            let room = (full_ws - self.stored_ws).max(0.0);
            -(-net_w).min(m.max_power_w).min(room / EFFICIENCY)
        }
    }

    /// Runs one second at AC power `power_w` (from [`power_w`](Self::power_w)).
    pub fn run_second(&mut self, power_w: f64) {
        if power_w > 0.0 {
            self.stored_ws -= power_w / EFFICIENCY;
            self.discharged_ws += power_w;
        } else {
            self.stored_ws -= power_w * EFFICIENCY;
            self.charged_ws -= power_w;
        }
        self.stored_ws = self.stored_ws.clamp(0.0, self.model.capacity_wh * 3600.0);
    }

    /// State of charge, percent.
    pub fn soc(&self) -> f64 {
        100.0 * self.stored_ws / (self.model.capacity_wh * 3600.0)
    }

    /// AC energy charged so far, W*s.
    pub fn charged_ws(&self) -> f64 {
        self.charged_ws
    }

    /// AC energy discharged so far, W*s.
    pub fn discharged_ws(&self) -> f64 {
        self.discharged_ws
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: HomeBattery = HomeBattery {
        capacity_wh: 10_000.0,
        max_power_w: 5_000.0,
        start_soc: 50.0,
        reserve_soc: 20.0,
    };

    #[test]
    fn it_takes_the_export_and_covers_the_import_within_its_power() {
        let b = BatteryState::new(WALL);
        assert_eq!(b.power_w(-3000.0), -3000.0);
        assert_eq!(b.power_w(-8000.0), -5000.0);
        assert_eq!(b.power_w(2000.0), 2000.0);
        assert_eq!(b.power_w(7000.0), 5000.0);
        assert_eq!(b.power_w(0.0), 0.0);
    }

    #[test]
    fn it_stops_at_the_reserve_and_when_full_with_its_losses() {
        // 30 % of 10 kWh above the reserve: 3 kWh stored, 2.85 kWh out at 95 %.
        let mut b = BatteryState::new(WALL);
        let mut out = 0.0;
        for _ in 0..3 * 3600 {
            let p = b.power_w(5000.0);
            out += p;
            b.run_second(p);
        }
        assert!((out / 3600.0 - 2850.0).abs() < 1.0, "{}", out / 3600.0);
        assert!((b.soc() - 20.0).abs() < 1e-6, "{}", b.soc());
        assert_eq!(b.power_w(1000.0), 0.0);
        // Up to full: 8 kWh to store takes 8 / 0.95 kWh from the site.
        let mut into = 0.0;
        for _ in 0..3 * 3600 {
            let p = b.power_w(-5000.0);
            into -= p;
            b.run_second(p);
        }
        assert!(
            (into / 3600.0 - 8000.0 / 0.95).abs() < 1.0,
            "{}",
            into / 3600.0
        );
        assert!((b.soc() - 100.0).abs() < 1e-6);
        assert_eq!(b.power_w(-1000.0), 0.0);
        assert!((b.charged_ws() - into).abs() < 1e-6);
        assert!((b.discharged_ws() - out).abs() < 1e-6);
    }

    #[test]
    fn nonsense_is_named() {
        let bad = |f: fn(&mut HomeBattery)| {
            let mut b = WALL;
            f(&mut b);
            b.validate().unwrap_err()
        };
        assert!(bad(|b| b.capacity_wh = 0.0).contains("capacity"));
        assert!(bad(|b| b.max_power_w = f64::NAN).contains("power"));
        assert!(bad(|b| b.start_soc = 120.0).contains("state of charge 120"));
        assert!(bad(|b| b.reserve_soc = -1.0).contains("reserve -1"));
        assert_eq!(WALL.validate(), Ok(()));
    }
}
