//! The `threshold-delay` baseline: the default behaviour of the widely used threshold/delay PV
//! controllers, as BENCHMARK.md states it.
//!
//! Every 30 s (control interval), with enable and disable thresholds of 0 W:
//! ```text
//! site      = grid reading
//! effective = min(measured car current + 2 A, current setpoint) while charging, else 0
//! target    = max(effective + (-site) / (230 x phases), 0)
//! enabled:  target < 6 A -> site >= 0 starts (or keeps running) the disable timer, site < 0
//!                           resets it; the setpoint is held at 6 A; after 180 s of the timer
//!                           the charger is disabled (0)
//!           else         -> the disable timer resets; setpoint = min(target, 16 A), to 0.1 A
//! disabled: target >= 6 A must hold from a first tick for 60 s, then enable at
//!           min(target, 16 A); any tick with target < 6 A resets that timer
//! ```
//!
//! # Interpretations
//! - Control ticks are at the seconds `t` with `t % 30 == 0` (the first at `t = 0`) and use the
//!   latest reading, including one that arrives at the same second. No tick before a first
//!   reading.
//! - "While charging" means the car draws current (the measured car current is > 0), as in
//!   evcc's `effectiveCurrent`, which returns 0 unless the vehicle status is C (charging). So
//!   during a start, before the car draws, `effective` is 0.
//! - "Current setpoint" is this controller's own last setpoint, A.
//! - The timers compare the time since their first tick: with 30 s ticks, the disable timer
//!   started at tick `T` disables at tick `T + 180 s` (the 7th tick of the run) and the enable
//!   timer started at `T` enables at `T + 60 s` (the 3rd tick).
//! - "Rounded to 0.1 A" is to the nearest 0.1 A (half away from zero).
//! - Each timer is reset when the controller enables or disables, so a new enable or disable
//!   sequence always starts afresh.
//! - A setpoint is written only when it changes.

use crate::car::{MAX_DECIAMPS, MIN_DECIAMPS, VOLTS};
use crate::policy::{Measurement, Policy};

/// The control interval, s.
pub const INTERVAL_S: u64 = 30;
/// How long target >= 6 A must hold before enabling, s.
pub const ENABLE_DELAY_S: u64 = 60;
/// How long the site must not export while target < 6 A before disabling, s.
pub const DISABLE_DELAY_S: u64 = 180;
/// Added to the measured car current for the effective current, A.
const HEADROOM_A: f64 = 2.0;

/// The threshold/delay controller's state.
#[derive(Clone, Debug)]
pub struct ThresholdDelay {
    phases: u8,
    latest: Option<Measurement>,
    /// The current setpoint, dA; 0 = disabled.
    setpoint: u16,
    enable_since: Option<u64>,
    disable_since: Option<u64>,
}

impl ThresholdDelay {
    /// The controller for a car on `phases` phases, disabled.
    pub fn new(phases: u8) -> Self {
        ThresholdDelay {
            phases,
            latest: None,
            setpoint: 0,
            enable_since: None,
            disable_since: None,
        }
    }

    /// The current setpoint, dA (0 = disabled).
    pub fn setpoint(&self) -> u16 {
        self.setpoint
    }

    fn decide(&mut self, now_s: u64, m: &Measurement) -> u16 {
        let site = m.grid_w;
        let setpoint_a = f64::from(self.setpoint) / 10.0;
        let effective = if m.car_current_a > 0.0 {
            (m.car_current_a + HEADROOM_A).min(setpoint_a)
        } else {
            0.0
        };
        let target = (effective + (-site) / (VOLTS * f64::from(self.phases))).max(0.0);
        let min_a = f64::from(MIN_DECIAMPS) / 10.0;
        let charge_at = || {
            let d = (target * 10.0).round().min(f64::from(MAX_DECIAMPS));
            (d as u16).max(MIN_DECIAMPS)
        };
        if self.setpoint != 0 {
            if target < min_a {
                if site >= 0.0 {
                    let since = *self.disable_since.get_or_insert(now_s);
                    if now_s - since >= DISABLE_DELAY_S {
                        return 0;
                    }
                } else {
                    self.disable_since = None;
                }
                MIN_DECIAMPS
            } else {
                self.disable_since = None;
                charge_at()
            }
        } else if target >= min_a {
            let since = *self.enable_since.get_or_insert(now_s);
            if now_s - since >= ENABLE_DELAY_S {
                charge_at()
            } else {
                0
            }
        } else {
            self.enable_since = None;
            0
        }
    }
}

impl Policy for ThresholdDelay {
    fn name(&self) -> &'static str {
        "threshold-delay"
    }

    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        if let Some(m) = reading {
            self.latest = Some(*m);
        }
        if now_s % INTERVAL_S != 0 {
            return None;
        }
        let m = self.latest?;
        let new = self.decide(now_s, &m);
        if (new == 0) != (self.setpoint == 0) {
            self.enable_since = None;
            self.disable_since = None;
        }
        if new == self.setpoint {
            return None;
        }
        self.setpoint = new;
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(grid: f64, car_a: f64) -> Measurement {
        Measurement {
            grid_w: grid,
            pv_w: 0.0,
            house_w: 0.0,
            car_w: car_a * 690.0,
            car_current_a: car_a,
            battery_w: None,
            battery_soc: None,
        }
    }

    /// Feeds one reading per 10 s from `from` to `to` (exclusive) and returns the writes.
    fn feed(
        td: &mut ThresholdDelay,
        from: u64,
        to: u64,
        m: impl Fn(u64) -> Measurement,
    ) -> Vec<(u64, u16)> {
        (from..to)
            .filter_map(|t| {
                let r = (t % 10 == 0).then(|| m(t));
                td.step(t, r.as_ref()).map(|d| (t, d))
            })
            .collect()
    }

    #[test]
    fn enables_after_60_s_of_surplus_at_the_rounded_target() {
        let mut td = ThresholdDelay::new(3);
        // 5000 W export at 3 phases: 7.246 A -> 7.2 A, after ticks 0, 30, 60.
        let writes = feed(&mut td, 0, 100, |_| reading(-5000.0, 0.0));
        assert_eq!(writes, vec![(60, 72)]);
    }

    #[test]
    fn a_tick_below_6_a_resets_the_enable_timer() {
        let mut td = ThresholdDelay::new(3);
        let writes = feed(&mut td, 0, 200, |t| {
            reading(
                if (30..40).contains(&t) {
                    -1000.0
                } else {
                    -5000.0
                },
                0.0,
            )
        });
        // Tick 30 sees 1.4 A and resets; the timer restarts at 60 and enables at 120.
        assert_eq!(writes, vec![(120, 72)]);
    }

    #[test]
    fn follows_surplus_with_measured_current_plus_2_a_capped_by_the_setpoint() {
        let mut td = ThresholdDelay::new(1);
        td.setpoint = 100;
        // Car draws 7 A: effective = min(9, 10) = 9; export 460 W = 2 A -> 11 A.
        assert_eq!(td.step(0, Some(&reading(-460.0, 7.0))), Some(110));
        // Car draws 11 A, import 230 W: effective = min(13, 11) = 11 -> 10 A.
        assert_eq!(td.step(30, Some(&reading(230.0, 11.0))), Some(100));
        // Capped at 16 A.
        assert_eq!(td.step(60, Some(&reading(-5000.0, 10.0))), Some(160));
    }

    #[test]
    fn a_dip_holds_6_a_then_disables_after_180_s() {
        let mut td = ThresholdDelay::new(3);
        td.setpoint = 80;
        // Car at 8 A, import 3000 W: target = min(10, 8) - 4.35 < 6 A.
        let writes = feed(&mut td, 0, 400, |_| reading(3000.0, 8.0));
        assert_eq!(writes, vec![(0, 60), (180, 0)]);
    }

    #[test]
    fn export_during_the_dip_resets_the_disable_timer() {
        let mut td = ThresholdDelay::new(3);
        td.setpoint = 60;
        // 6 A car, small export (target 6 + 0.1 - ... < 6 needs import); use target < 6 with
        // export: car current 0 (still starting), export 500 W -> target 0.72 A < 6, site < 0.
        let writes = feed(&mut td, 0, 400, |t| {
            if (90..100).contains(&t) {
                reading(-500.0, 0.0)
            } else {
                reading(500.0, 6.0)
            }
        });
        // Timer starts at 0, reset at 90, restarts at 120, disables at 300.
        assert_eq!(writes, vec![(300, 0)]);
    }

    #[test]
    fn only_ticks_every_30_s() {
        let mut td = ThresholdDelay::new(3);
        assert_eq!(td.step(0, None), None);
        for t in 1..30 {
            assert_eq!(td.step(t, Some(&reading(-20000.0, 0.0))), None);
        }
    }
}
