//! The site of BENCHMARK.md: a scenario replayed second by second through a wallbox and a
//! [`Car`], a [`Policy`] deciding the setpoint, and the benchmark [`Metrics`].
//!
//! # One simulated second `t` (in this order)
//! 1. The scenario row of minute `t / 60` gives PV and house power (step-held).
//! 2. The car is plugged in or out per the [`PlugWindow`], then [`Car::advance`]d to `t`: a
//!    write whose delay has passed takes effect at `t`.
//! 3. If `t` is a multiple of `meas_period_s` (so the first one at `t = 0`), a [`Measurement`]
//!    of that moment (before any write at `t`) is handed to the policy; otherwise it gets `None`.
//! 4. The policy's write, if any, goes to the wallbox at `t` (a 0 stops the car at once).
//! 5. The second `[t, t + 1)` is accounted with the car power after that write (and a home
//!    battery, if there is one, answers that second's import or export; see [`crate::battery`]).
//!
//! # Interpretations
//! - Every write returned by the policy is sent to the wallbox; `writes` counts those that change
//!   the setpoint, `starts` those that change it from 0 to non-zero, both after the register-261
//!   mapping ([`crate::car::register_261`]: below 6 A means 0, above 16 A is 16 A). Writes while
//!   the car is unplugged count too (the wallbox is there).
//! - The policy runs for the whole scenario, also while the car is away (it then sees a car
//!   power of 0). Energies and the two bounds count plugged seconds only (unplugged, the car
//!   draws nothing anyway).
//! - `--arrive/--leave` is a daily window in local time; `leave < arrive` spans midnight. Each
//!   arrival starts a new session whose need is `need_wh`; a car that has received its need stops
//!   drawing (it is full) until it leaves. Fullness is checked after each second, so the last
//!   second may overshoot by at most one second of charging (< 4 Wh).
//! - `solar_share` is 0 when `ev_kwh` is 0.

use crate::battery::{BatteryState, HomeBattery};
use crate::car::{Car, MAX_DECIAMPS, MIN_DECIAMPS, VOLTS};
use crate::policy::{Measurement, Policy};
use crate::scenario::Scenario;

/// The site and car settings of one run (BENCHMARK.md defaults via [`SiteConfig::new`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiteConfig {
    /// Phases the car charges on: 1 or 3.
    pub phases: u8,
    /// Seconds between two measurements (default 10).
    pub meas_period_s: u32,
    /// When the car is plugged in (default: always).
    pub plug: PlugWindow,
    /// Energy the car takes per session before it is full, Wh (default: never full).
    pub need_wh: Option<f64>,
    /// A home battery beside the car (not in BENCHMARK.md's model; default: none).
    pub battery: Option<HomeBattery>,
}

impl SiteConfig {
    /// The benchmark defaults at `phases` phases: measurements every 10 s, always plugged in,
    /// never full.
    pub fn new(phases: u8) -> Self {
        SiteConfig {
            phases,
            meas_period_s: 10,
            plug: PlugWindow::Always,
            need_wh: None,
            battery: None,
        }
    }

    /// Smallest charging power, W (6 A at the phases).
    pub fn p_min_w(&self) -> f64 {
        f64::from(self.phases) * VOLTS * f64::from(MIN_DECIAMPS) / 10.0
    }

    /// Largest charging power, W (16 A at the phases).
    pub fn p_max_w(&self) -> f64 {
        f64::from(self.phases) * VOLTS * f64::from(MAX_DECIAMPS) / 10.0
    }
}

/// When the car is plugged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlugWindow {
    /// The whole scenario.
    Always,
    /// Every day from `arrive_min` to `leave_min` (minutes after local midnight), local time
    /// being UTC + `utc_offset_min`. `leave_min < arrive_min` spans midnight.
    Daily {
        /// Arrival, minutes after local midnight.
        arrive_min: u32,
        /// Departure, minutes after local midnight.
        leave_min: u32,
        /// Local time minus UTC, minutes.
        utc_offset_min: i32,
    },
}

impl PlugWindow {
    /// Whether the car is plugged in at `unix` seconds.
    pub fn is_plugged(&self, unix: i64) -> bool {
        match *self {
            PlugWindow::Always => true,
            PlugWindow::Daily {
                arrive_min,
                leave_min,
                utc_offset_min,
            } => {
                let local = unix + i64::from(utc_offset_min) * 60;
                let sod = local.rem_euclid(86_400);
                let (a, l) = (i64::from(arrive_min) * 60, i64::from(leave_min) * 60);
                if a <= l {
                    a <= sod && sod < l
                } else {
                    sod >= a || sod < l
                }
            }
        }
    }
}

/// The local time of a scenario from its name, minutes east of UTC: UTC+2 for `dk-` and `de-`
/// (summer time, as BENCHMARK.md says), UTC-6 for `us-` (the NREL site in Golden, Colorado,
/// in summer), UTC+2 for sunfill's own `generated-` days. `None` for other names.
pub fn utc_offset_for(name: &str) -> Option<i32> {
    if name.starts_with("dk-") || name.starts_with("de-") || name.starts_with("generated-") {
        Some(120)
    } else if name.starts_with("us-") {
        Some(-360)
    } else {
        None
    }
}

/// The benchmark metrics of one run (BENCHMARK.md, "Metrics").
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Energy into the car, kWh.
    pub ev_kwh: f64,
    /// Sum over seconds of min(car power, max(PV - house, 0)), kWh.
    pub solar_kwh: f64,
    /// `ev_kwh - solar_kwh`, kWh: grid energy that went into the car. With a home battery,
    /// `ev_kwh - solar_kwh - battery_kwh`.
    pub import_kwh: f64,
    /// Energy the home battery gave the car, kWh (0 without a battery; not a BENCHMARK.md
    /// metric). The battery's discharge covers the house first.
    pub battery_kwh: f64,
    /// `solar_kwh / ev_kwh` (0 without charging).
    pub solar_share: f64,
    /// Setpoint transitions from 0 to non-zero.
    pub starts: u32,
    /// Setpoint changes sent to the wallbox.
    pub writes: u32,
    /// What a clairvoyant, instant controller gets without import, kWh.
    pub bound_zero_import_kwh: f64,
    /// All surplus the car could take, kWh.
    pub bound_all_kwh: f64,
}

/// Site energies of one run, for balance checks (not benchmark metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SiteEnergy {
    /// PV energy, kWh.
    pub pv_kwh: f64,
    /// House energy without the car, kWh.
    pub house_kwh: f64,
    /// Sum over seconds of grid power (house + car - PV), kWh; negative = net export.
    pub grid_kwh: f64,
    /// Energy imported from the grid (positive grid power only), kWh.
    pub grid_import_kwh: f64,
    /// Energy the home battery took in and gave out (AC side), kWh, and its state of charge at
    /// the end, percent; `None` without a battery.
    pub battery: Option<BatteryEnergy>,
}

/// What a home battery did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatteryEnergy {
    /// Energy charged, kWh.
    pub charged_kwh: f64,
    /// Energy discharged, kWh.
    pub discharged_kwh: f64,
    /// State of charge at the start, percent.
    pub start_soc: f64,
    /// State of charge at the end, percent.
    pub end_soc: f64,
}

/// One bucket of a [`Trace`]: average powers, W.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TracePoint {
    /// PV power.
    pub pv_w: f32,
    /// House power without the car.
    pub house_w: f32,
    /// Car power.
    pub car_w: f32,
    /// Grid power, + import.
    pub grid_w: f32,
    /// Home battery power, + discharging (0 without a battery).
    pub battery_w: f32,
    /// The part of the car's power beyond the sun (BENCHMARK.md's `import_kwh`): from the grid,
    /// or from a home battery if the run has one.
    pub car_bought_w: f32,
    /// Starts in the bucket (setpoint transitions from 0 to non-zero).
    pub starts: u32,
}

/// Per-minute averages of a run's powers, for plots. The first point covers the scenario's
/// first minute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// One point per minute.
    pub points: Vec<TracePoint>,
    /// The run had a home battery.
    pub has_battery: bool,
}

/// The result of [`simulate`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The benchmark metrics.
    pub metrics: Metrics,
    /// Site energies.
    pub site: SiteEnergy,
}

const WS_PER_KWH: f64 = 3_600_000.0;

/// How the car's power `car_w` splits at a surplus `surplus_w` (PV - house), both in W: the solar
/// part, `min(car power, max(surplus, 0))` as BENCHMARK.md defines `solar_kwh`, and the rest,
/// which came from the grid.
pub fn solar_and_grid_w(car_w: f64, surplus_w: f64) -> (f64, f64) {
    let solar = car_w.min(surplus_w.max(0.0));
    (solar, car_w - solar)
}

/// The part of the car's power beyond the sun, `beyond_sun_w` (the grid part of
/// [`solar_and_grid_w`] without a battery), that a home battery discharging with `battery_w` (W, +
/// discharging) gave it at a surplus `surplus_w` (PV - house): the battery covers the house's
/// deficit first, then the car.
pub fn battery_share_w(beyond_sun_w: f64, surplus_w: f64, battery_w: f64) -> f64 {
    let for_car = (battery_w.max(0.0) - (-surplus_w).max(0.0)).max(0.0);
    beyond_sun_w.min(for_car)
}

/// Replays `scenario` through the site of `config`, asking `policy` every second.
///
/// If `trace` is given, it is cleared and filled with per-minute averages. Allocates nothing
/// per second.
pub fn simulate(
    scenario: &Scenario,
    config: &SiteConfig,
    policy: &mut dyn Policy,
    mut trace: Option<&mut Trace>,
) -> Outcome {
    let phases = config.phases;
    let (p_min, p_max) = (config.p_min_w(), config.p_max_w());
    let meas_period = u64::from(config.meas_period_s.max(1));
    let need_ws = config.need_wh.map(|wh| wh * 3600.0);
    if let Some(t) = trace.as_deref_mut() {
        t.points.clear();
        t.points.reserve(scenario.rows.len());
        t.has_battery = config.battery.is_some();
    }

    let mut battery = config.battery.map(BatteryState::new);
    let start_soc = battery.as_ref().map_or(0.0, BatteryState::soc);
    let mut car = Car::new(phases);
    let mut plugged = config.plug.is_plugged(scenario.start_unix);
    car.set_connected(0, plugged);
    let mut session_ws = 0.0;

    let (mut ev, mut solar, mut bound_zero, mut bound_all) = (0.0, 0.0, 0.0, 0.0);
    let mut from_battery = 0.0;
    let (mut pv_ws, mut house_ws, mut grid_ws, mut import_ws) = (0.0, 0.0, 0.0, 0.0);
    let (mut starts, mut writes) = (0u32, 0u32);

    let mut t: u64 = 0;
    for row in &scenario.rows {
        let (pv, house) = (row.pv_w, row.house_w);
        let surplus = pv - house;
        let (mut minute_car, mut minute_grid, mut minute_battery) = (0.0, 0.0, 0.0);
        let (mut minute_bought, mut minute_starts) = (0.0, 0u32);
        for _ in 0..60 {
            let now_ms = t * 1000;
            let unix = scenario.start_unix + t as i64;
            let now_plugged = config.plug.is_plugged(unix);
            if now_plugged != plugged {
                plugged = now_plugged;
                if plugged {
                    session_ws = 0.0;
                    car.set_full(now_ms, false);
                }
                car.set_connected(now_ms, plugged);
            }
            car.advance(now_ms);

            let reading = (t % meas_period == 0).then(|| {
                let car_w = car.power_w();
                let net = house + car_w - pv;
                let battery_w = battery.as_ref().map(|b| b.power_w(net));
                Measurement {
                    grid_w: net - battery_w.unwrap_or(0.0),
                    pv_w: pv,
                    house_w: house,
                    car_w,
                    car_current_a: car.current_a(),
                    battery_w,
                    battery_soc: battery.as_ref().map(BatteryState::soc),
                }
            });
            if let Some(d) = policy.step(t, reading.as_ref()) {
                let before = car.setpoint();
                car.write(now_ms, d);
                let after = car.setpoint();
                if after != before {
                    writes += 1;
                    if before == 0 {
                        starts += 1;
                        minute_starts += 1;
                    }
                }
            }

            let car_w = car.power_w();
            let net = house + car_w - pv;
            let battery_w = battery.as_mut().map_or(0.0, |b| {
                let w = b.power_w(net);
                b.run_second(w);
                w
            });
            let grid = net - battery_w;
            pv_ws += pv;
            house_ws += house;
            grid_ws += grid;
            import_ws += grid.max(0.0);
            minute_car += car_w;
            minute_grid += grid;
            minute_battery += battery_w;
            if plugged {
                ev += car_w;
                let (sun, beyond_sun) = solar_and_grid_w(car_w, surplus);
                solar += sun;
                from_battery += battery_share_w(beyond_sun, surplus, battery_w);
                minute_bought += beyond_sun;
                if surplus >= p_min {
                    bound_zero += surplus.min(p_max);
                }
                bound_all += surplus.max(0.0).min(p_max);
                if let Some(need) = need_ws {
                    session_ws += car_w;
                    if session_ws >= need {
                        car.set_full(now_ms, true);
                    }
                }
            }
            t += 1;
        }
        if let Some(tr) = trace.as_deref_mut() {
            tr.points.push(TracePoint {
                pv_w: pv as f32,
                house_w: house as f32,
                car_w: (minute_car / 60.0) as f32,
                grid_w: (minute_grid / 60.0) as f32,
                battery_w: (minute_battery / 60.0) as f32,
                car_bought_w: (minute_bought / 60.0) as f32,
                starts: minute_starts,
            });
        }
    }

    let ev_kwh = ev / WS_PER_KWH;
    let solar_kwh = solar / WS_PER_KWH;
    let battery_kwh = from_battery / WS_PER_KWH;
    Outcome {
        metrics: Metrics {
            ev_kwh,
            solar_kwh,
            // Never below 0 by rounding.
            import_kwh: (ev_kwh - solar_kwh - battery_kwh).max(0.0),
            battery_kwh,
            solar_share: if ev_kwh > 0.0 {
                solar_kwh / ev_kwh
            } else {
                0.0
            },
            starts,
            writes,
            bound_zero_import_kwh: bound_zero / WS_PER_KWH,
            bound_all_kwh: bound_all / WS_PER_KWH,
        },
        site: SiteEnergy {
            pv_kwh: pv_ws / WS_PER_KWH,
            house_kwh: house_ws / WS_PER_KWH,
            grid_kwh: grid_ws / WS_PER_KWH,
            grid_import_kwh: import_ws / WS_PER_KWH,
            battery: battery.map(|b| BatteryEnergy {
                charged_kwh: b.charged_ws() / WS_PER_KWH,
                discharged_kwh: b.discharged_ws() / WS_PER_KWH,
                start_soc,
                end_soc: b.soc(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Row;
    use crate::seed::Seed;
    use crate::threshold_delay::ThresholdDelay;

    /// 2024-06-09T22:00:00Z, local midnight in Denmark.
    const MIDNIGHT_DK: i64 = 1_717_970_400;

    fn scenario(rows: impl IntoIterator<Item = (f64, f64)>) -> Scenario {
        Scenario {
            name: "dk-test".into(),
            start_unix: MIDNIGHT_DK,
            rows: rows
                .into_iter()
                .map(|(pv_w, house_w)| Row { pv_w, house_w })
                .collect(),
        }
    }

    fn steady(minutes: usize, pv: f64, house: f64) -> Scenario {
        scenario(std::iter::repeat((pv, house)).take(minutes))
    }

    /// Wraps a policy and records what it sees and writes.
    struct Spy<P> {
        inner: P,
        readings: Vec<(u64, Measurement)>,
        writes: Vec<(u64, u16)>,
    }

    impl<P: Policy> Spy<P> {
        fn new(inner: P) -> Self {
            Spy {
                inner,
                readings: Vec::new(),
                writes: Vec::new(),
            }
        }

        /// The car current (dA) in the reading at `t`.
        fn current_at(&self, t: u64) -> u16 {
            let m = self.readings.iter().find(|(s, _)| *s == t).unwrap().1;
            (m.car_current_a * 10.0).round() as u16
        }
    }

    impl<P: Policy> Policy for Spy<P> {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
        fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
            if let Some(m) = reading {
                self.readings.push((now_s, *m));
            }
            let w = self.inner.step(now_s, reading);
            if let Some(d) = w {
                self.writes.push((now_s, d));
            }
            w
        }
    }

    /// Writes a fixed script: `(second, deciamps)`.
    struct Script(Vec<(u64, u16)>);

    impl Policy for Script {
        fn name(&self) -> &'static str {
            "script"
        }
        fn step(&mut self, now_s: u64, _: Option<&Measurement>) -> Option<u16> {
            self.0.iter().find(|(t, _)| *t == now_s).map(|(_, d)| *d)
        }
    }

    fn every_second(phases: u8) -> SiteConfig {
        SiteConfig {
            meas_period_s: 1,
            ..SiteConfig::new(phases)
        }
    }

    fn kwh(watts: f64, seconds: f64) -> f64 {
        watts * seconds / WS_PER_KWH
    }

    // Tests of the car response inside the site.

    #[test]
    fn the_car_draws_15_s_after_a_start_and_5_s_after_a_change() {
        let mut spy = Spy::new(Script(vec![(10, 80), (40, 100), (60, 0), (61, 70)]));
        let out = simulate(&steady(2, 0.0, 0.0), &every_second(3), &mut spy, None);
        let at = |t| spy.current_at(t);
        assert_eq!((at(24), at(25)), (0, 80), "start at 10 + 15 s");
        assert_eq!((at(44), at(45)), (80, 100), "change at 40 + 5 s");
        assert_eq!(at(61), 0, "0 at 60 stops at once");
        assert_eq!((at(75), at(76)), (0, 70), "restart at 61 + 15 s");
        assert_eq!((out.metrics.starts, out.metrics.writes), (2, 4));
        let want = kwh(690.0 * 8.0, 20.0) + kwh(690.0 * 10.0, 15.0) + kwh(690.0 * 7.0, 44.0);
        assert!((out.metrics.ev_kwh - want).abs() < 1e-12);
    }

    #[test]
    fn writes_during_a_start_change_only_the_value() {
        let mut spy = Spy::new(Script(vec![(10, 80), (20, 120)]));
        simulate(&steady(1, 0.0, 0.0), &every_second(1), &mut spy, None);
        assert_eq!((spy.current_at(24), spy.current_at(25)), (0, 120));
    }

    // Tests of the baselines on hand-made traces.

    #[test]
    fn seed_starts_at_once_and_the_car_follows_15_s_later() {
        let mut spy = Spy::new(Seed::new(3));
        let out = simulate(
            &steady(10, 6000.0, 300.0),
            &SiteConfig::new(3),
            &mut spy,
            None,
        );
        // W = 6000 - 250 = 5750 W -> trunc(83.3) = 8.3 A, written at the first reading.
        assert_eq!(spy.writes, vec![(0, 83)]);
        let car_w = 690.0 * 8.3;
        assert!((out.metrics.ev_kwh - kwh(car_w, 600.0 - 15.0)).abs() < 1e-12);
        assert_eq!((out.metrics.starts, out.metrics.writes), (1, 1));
        // 5727 W is 27 W above the 5700 W surplus: that much comes from the grid.
        let import = kwh(car_w - 5700.0, 585.0);
        assert!((out.metrics.import_kwh - import).abs() < 1e-9);
    }

    #[test]
    fn seed_stops_when_w_falls_below_pmin() {
        let mut rows = vec![(6000.0, 300.0); 2];
        rows.extend([(4000.0, 300.0); 2]);
        let mut spy = Spy::new(Seed::new(3));
        simulate(&scenario(rows), &SiteConfig::new(3), &mut spy, None);
        assert_eq!(spy.writes, vec![(0, 83), (120, 0)]);
    }

    #[test]
    fn threshold_delay_enables_after_60_s_at_the_surplus_current() {
        let mut spy = Spy::new(ThresholdDelay::new(3));
        let out = simulate(
            &steady(10, 6000.0, 300.0),
            &SiteConfig::new(3),
            &mut spy,
            None,
        );
        // Surplus 5700 W / 690 = 8.26 A -> 8.3 A after ticks 0, 30 and 60; car from 75 s.
        assert_eq!(spy.writes, vec![(60, 83)]);
        let car_w = 690.0 * 8.3;
        assert!((out.metrics.ev_kwh - kwh(car_w, 600.0 - 75.0)).abs() < 1e-12);
    }

    #[test]
    fn threshold_delay_holds_6_a_through_a_dip_then_disables_after_180_s() {
        let mut rows = vec![(6000.0, 300.0); 5];
        rows.extend([(2000.0, 300.0); 10]);
        let mut spy = Spy::new(ThresholdDelay::new(3));
        let out = simulate(&scenario(rows), &SiteConfig::new(3), &mut spy, None);
        assert_eq!(spy.writes, vec![(60, 83), (300, 60), (480, 0)]);
        let want = kwh(690.0 * 8.3, 305.0 - 75.0) + kwh(690.0 * 6.0, 480.0 - 305.0);
        assert!((out.metrics.ev_kwh - want).abs() < 1e-12);
        assert_eq!((out.metrics.starts, out.metrics.writes), (1, 3));
    }

    // Tests of the metrics and the site.

    /// A deterministic, jumpy trace: clouds and a kettle.
    fn jumpy(minutes: usize) -> Scenario {
        let mut x: u32 = 12345;
        scenario((0..minutes).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let pv = f64::from((x >> 8) % 12_000);
            let house = 150.0 + f64::from((x >> 4) % 3_000);
            (pv, house)
        }))
    }

    #[test]
    fn energy_balances_for_every_baseline() {
        let s = jumpy(600);
        for phases in [1, 3] {
            let config = SiteConfig::new(phases);
            let policies: [Box<dyn Policy>; 2] = [
                Box::new(Seed::new(phases)),
                Box::new(ThresholdDelay::new(phases)),
            ];
            for mut p in policies {
                let out = simulate(&s, &config, p.as_mut(), None);
                let (m, site) = (out.metrics, out.site);
                let ctx = format!("{} at {phases} ph: {m:?} {site:?}", p.name());
                assert!(m.ev_kwh > 1.0 && m.starts > 0, "{ctx}");
                let balance = site.house_kwh + m.ev_kwh - site.pv_kwh - site.grid_kwh;
                assert!(balance.abs() < 1e-6, "grid != house + car - pv: {ctx}");
                assert!(
                    (m.solar_kwh + m.import_kwh - m.ev_kwh).abs() < 1e-12,
                    "{ctx}"
                );
                assert!(m.solar_kwh <= m.bound_all_kwh + 1e-12, "{ctx}");
                assert!(m.import_kwh <= site.grid_import_kwh + 1e-12, "{ctx}");
                assert!(m.bound_zero_import_kwh <= m.bound_all_kwh, "{ctx}");
                assert!(
                    (m.solar_share - m.solar_kwh / m.ev_kwh).abs() < 1e-12,
                    "{ctx}"
                );
            }
        }
    }

    #[test]
    fn bounds_count_surplus_between_pmin_and_pmax() {
        // 3 phases: Pmin 4140 W, Pmax 11040 W.
        let s = scenario([(4000.0, 0.0), (5000.0, 0.0), (20000.0, 0.0), (0.0, 500.0)]);
        let out = simulate(&s, &SiteConfig::new(3), &mut Script(vec![]), None);
        let m = out.metrics;
        assert!((m.bound_zero_import_kwh - kwh(5000.0 + 11040.0, 60.0)).abs() < 1e-12);
        assert!((m.bound_all_kwh - kwh(4000.0 + 5000.0 + 11040.0, 60.0)).abs() < 1e-12);
        assert_eq!((m.ev_kwh, m.solar_share), (0.0, 0.0));
    }

    #[test]
    fn the_car_charges_only_inside_the_daily_window() {
        // Local 08:00 to 09:00 on a scenario starting at local midnight.
        let config = SiteConfig {
            plug: PlugWindow::Daily {
                arrive_min: 8 * 60,
                leave_min: 9 * 60,
                utc_offset_min: 120,
            },
            ..SiteConfig::new(3)
        };
        let s = steady(24 * 60, 6000.0, 300.0);
        let mut spy = Spy::new(Seed::new(3));
        let out = simulate(&s, &config, &mut spy, None);
        // Seed wrote 8.3 A at t = 0; plugging in at 08:00 is a start, drawing from 08:00:15.
        assert_eq!(spy.writes, vec![(0, 83)]);
        let m = out.metrics;
        assert!((m.ev_kwh - kwh(690.0 * 8.3, 3600.0 - 15.0)).abs() < 1e-9);
        assert!((m.bound_all_kwh - kwh(5700.0, 3600.0)).abs() < 1e-9);
    }

    #[test]
    fn a_full_car_stops_drawing() {
        let config = SiteConfig {
            need_wh: Some(1000.0),
            ..SiteConfig::new(3)
        };
        let out = simulate(&steady(60, 6000.0, 300.0), &config, &mut Seed::new(3), None);
        let overshoot = kwh(690.0 * 8.3, 1.0);
        assert!(
            (1.0..1.0 + overshoot).contains(&out.metrics.ev_kwh),
            "{}",
            out.metrics.ev_kwh
        );
    }

    #[test]
    fn windows_span_midnight_and_follow_the_offset() {
        let w = PlugWindow::Daily {
            arrive_min: 22 * 60,
            leave_min: 6 * 60,
            utc_offset_min: -360,
        };
        // 2012-05-17T07:00:00Z is 01:00 in UTC-6: plugged; 12:00Z is 06:00 local: gone.
        assert!(w.is_plugged(1_337_238_000));
        assert!(!w.is_plugged(1_337_238_000 + 5 * 3600));
        assert!(w.is_plugged(1_337_238_000 + 21 * 3600));
        assert_eq!(utc_offset_for("us-2012"), Some(-360));
        assert_eq!(utc_offset_for("de-x"), Some(120));
        assert_eq!(utc_offset_for("fr-x"), None);
    }

    #[test]
    fn a_trace_holds_per_minute_averages() {
        let mut trace = Trace::default();
        let mut p = Script(vec![(30, 100)]);
        simulate(
            &steady(3, 5000.0, 200.0),
            &SiteConfig::new(1),
            &mut p,
            Some(&mut trace),
        );
        assert_eq!(trace.points.len(), 3);
        // Car draws 10 A x 230 V from second 45: 15 s of the first minute.
        assert!((trace.points[0].car_w - 2300.0 * 15.0 / 60.0).abs() < 1e-3);
        assert!((trace.points[1].grid_w - (200.0 + 2300.0 - 5000.0)).abs() < 1e-3);
    }

    #[test]
    fn a_trace_s_bought_power_and_starts_add_up_to_the_metrics() {
        // Sun, a deep dip threshold-delay holds for 3 min before it stops, sun again.
        let rows = (0..40).map(|m| match m {
            10..=19 => (1500.0, 300.0),
            _ => (6000.0, 300.0),
        });
        let mut trace = Trace::default();
        let out = simulate(
            &scenario(rows),
            &SiteConfig::new(3),
            &mut ThresholdDelay::new(3),
            Some(&mut trace),
        );
        let m = out.metrics;
        assert_eq!(m.starts, 2);
        assert_eq!(trace.points.iter().map(|p| p.starts).sum::<u32>(), m.starts);
        let grid_kwh: f64 = trace
            .points
            .iter()
            .map(|p| f64::from(p.car_bought_w) * 60.0 / WS_PER_KWH)
            .sum();
        assert!(m.import_kwh > 0.1, "{}", m.import_kwh);
        assert!(
            (grid_kwh - m.import_kwh).abs() < 1e-4,
            "{grid_kwh} {}",
            m.import_kwh
        );
        // The grid energy is in the dip's minutes (in sun only what rounding up to 0.1 A takes).
        assert!(trace.points[..10].iter().all(|p| p.car_bought_w < 70.0));
        assert!(trace.points[11].car_bought_w > 2000.0);
    }
}
