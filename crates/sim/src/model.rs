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
//! 5. The second `[t, t + 1)` is accounted with the car power after that write.
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
/// in summer). `None` for other names.
pub fn utc_offset_for(name: &str) -> Option<i32> {
    if name.starts_with("dk-") || name.starts_with("de-") {
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
    /// `ev_kwh - solar_kwh`, kWh.
    pub import_kwh: f64,
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
}

/// Per-minute averages of a run's powers, for plots. The first point covers the scenario's
/// first minute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// One point per minute.
    pub points: Vec<TracePoint>,
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
    }

    let mut car = Car::new(phases);
    let mut plugged = config.plug.is_plugged(scenario.start_unix);
    car.set_connected(0, plugged);
    let mut session_ws = 0.0;

    let (mut ev, mut solar, mut bound_zero, mut bound_all) = (0.0, 0.0, 0.0, 0.0);
    let (mut pv_ws, mut house_ws, mut grid_ws, mut import_ws) = (0.0, 0.0, 0.0, 0.0);
    let (mut starts, mut writes) = (0u32, 0u32);

    let mut t: u64 = 0;
    for row in &scenario.rows {
        let (pv, house) = (row.pv_w, row.house_w);
        let surplus = pv - house;
        let mut minute_car = 0.0;
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
                Measurement {
                    grid_w: house + car_w - pv,
                    pv_w: pv,
                    house_w: house,
                    car_w,
                    car_current_a: car.current_a(),
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
                    }
                }
            }

            let car_w = car.power_w();
            let grid = house + car_w - pv;
            pv_ws += pv;
            house_ws += house;
            grid_ws += grid;
            import_ws += grid.max(0.0);
            minute_car += car_w;
            if plugged {
                ev += car_w;
                solar += car_w.min(surplus.max(0.0));
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
            let car_w = minute_car / 60.0;
            tr.points.push(TracePoint {
                pv_w: pv as f32,
                house_w: house as f32,
                car_w: car_w as f32,
                grid_w: (house + car_w - pv) as f32,
            });
        }
    }

    let ev_kwh = ev / WS_PER_KWH;
    let solar_kwh = solar / WS_PER_KWH;
    Outcome {
        metrics: Metrics {
            ev_kwh,
            solar_kwh,
            import_kwh: ev_kwh - solar_kwh,
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
        },
    }
}
