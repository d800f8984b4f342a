//! The `seed` baseline: the published algorithm of the original Pico W controller (late-2023
//! version), as BENCHMARK.md states it.
//!
//! On every new reading:
//! ```text
//! W = PV - 250
//! if car power >= last commanded W - 99 and grid >= 500 then W -= grid
//! if W < Pmin then W = 0
//! W = min(W, PV, Pmax)
//! send W only if W != last and (|W - last| >= 150 or W = 0)
//! current = trunc(W x 10 / 230 / phases) in 0.1 A; below 6 A means 0
//! ```
//!
//! # Interpretations
//! - "last commanded W" and "last" are the same value: the W (in watts, before conversion to a
//!   current) last sent; it starts at 0, and is updated only when a W is sent.
//! - Powers are used as the simulator delivers them (f64 W, not rounded to integers); W is
//!   compared exactly (`W != last`).
//! - Pmin = 6 A and Pmax = 16 A at 230 V and the configured phases (4140 / 11040 W at 3 phases).
//! - "A new W is sent" means a write is returned, even if it converts to the same current as the
//!   previous write (it cannot at 3 phases, since 150 W > 0.2 A there); the simulator counts only
//!   writes that change the setpoint.
//! - Seconds without a new reading do nothing.

use crate::car::{MIN_DECIAMPS, VOLTS};
use crate::model::SiteConfig;
use crate::policy::{Measurement, Policy};

/// The seed controller's state.
#[derive(Clone, Debug)]
pub struct Seed {
    phases: u8,
    p_min_w: f64,
    p_max_w: f64,
    last_w: f64,
}

impl Seed {
    /// The seed controller for a car on `phases` phases.
    pub fn new(phases: u8) -> Self {
        let site = SiteConfig::new(phases);
        Seed {
            phases,
            p_min_w: site.p_min_w(),
            p_max_w: site.p_max_w(),
            last_w: 0.0,
        }
    }

    /// The W last sent.
    pub fn last_w(&self) -> f64 {
        self.last_w
    }
}

impl Policy for Seed {
    fn name(&self) -> &'static str {
        "seed"
    }

    fn step(&mut self, _now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let m = reading?;
        let mut w = m.pv_w - 250.0;
        if m.car_w >= self.last_w - 99.0 && m.grid_w >= 500.0 {
            w -= m.grid_w;
        }
        if w < self.p_min_w {
            w = 0.0;
        }
        w = w.min(m.pv_w).min(self.p_max_w);
        #[allow(clippy::float_cmp)] // the algorithm compares exactly
        let differs = w != self.last_w;
        if !(differs && ((w - self.last_w).abs() >= 150.0 || w == 0.0)) {
            return None;
        }
        self.last_w = w;
        let deciamps = (w * 10.0 / VOLTS / f64::from(self.phases)).trunc();
        Some(if deciamps < f64::from(MIN_DECIAMPS) {
            0
        } else {
            deciamps as u16
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(pv: f64, house: f64, car: f64) -> Measurement {
        Measurement {
            grid_w: house + car - pv,
            pv_w: pv,
            house_w: house,
            car_w: car,
            car_current_a: car / 690.0,
            battery_w: None,
            battery_soc: None,
        }
    }

    #[test]
    fn starts_at_pv_minus_250_truncated_to_a_tenth_of_an_ampere() {
        let mut seed = Seed::new(3);
        // grid = 300 + 0 - 6000 < 500: no correction; W = 5750 -> 5750 x 10 / 690 = 83.3.
        assert_eq!(seed.step(0, Some(&reading(6000.0, 300.0, 0.0))), Some(83));
        assert_eq!(seed.last_w(), 5750.0);
        // No reading, nothing happens.
        assert_eq!(seed.step(1, None), None);
    }

    #[test]
    fn changes_below_150_w_are_not_sent() {
        let mut seed = Seed::new(3);
        seed.step(0, Some(&reading(6000.0, 300.0, 0.0)));
        assert_eq!(seed.step(10, Some(&reading(6149.0, 300.0, 5750.0))), None);
        assert_eq!(
            seed.step(20, Some(&reading(6150.0, 300.0, 5750.0))),
            Some(85)
        );
        assert_eq!(seed.last_w(), 5900.0);
    }

    #[test]
    fn below_pmin_sends_zero_once_even_for_a_small_change() {
        let mut seed = Seed::new(1);
        // 1 phase: Pmin = 1380 W. W = 1500 - 250 = 1250 < Pmin: 0, equal to last: nothing.
        assert_eq!(seed.step(0, Some(&reading(1500.0, 0.0, 0.0))), None);
        assert_eq!(seed.step(10, Some(&reading(1640.0, 0.0, 0.0))), Some(60));
        // W = 1390 - 250 = 1140 -> 0, a change of 250 W; but also for W = 0 after a tiny W:
        assert_eq!(seed.step(20, Some(&reading(1390.0, 0.0, 1380.0))), Some(0));
        assert_eq!(seed.step(30, Some(&reading(1390.0, 0.0, 0.0))), None);
    }

    #[test]
    fn subtracts_grid_import_only_when_the_car_draws_what_was_commanded() {
        let mut seed = Seed::new(3);
        assert_eq!(seed.step(0, Some(&reading(8000.0, 300.0, 0.0))), Some(112));
        // Car draws 7700 W (>= 7750 - 99), grid = 300 + 7700 + 600 - 8000 = 600 >= 500:
        // W = 7750 - 600 = 7150 -> 103.6 -> 103.
        assert_eq!(
            seed.step(10, Some(&reading(8000.0, 900.0, 7700.0))),
            Some(103)
        );
        // Car still ramping (draws less than commanded - 99): no correction, W = 7750.
        assert_eq!(
            seed.step(20, Some(&reading(8000.0, 900.0, 6000.0))),
            Some(112)
        );
    }

    #[test]
    fn caps_at_16_a() {
        let mut seed = Seed::new(3);
        assert_eq!(seed.step(0, Some(&reading(20000.0, 0.0, 0.0))), Some(160));
    }
}
