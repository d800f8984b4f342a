//! A stand-in for the daemon, to see and test the dashboard without MQTT or a wallbox.
//!
//! [`FakeSite`] is a made-up house (a sunny day with passing clouds, a house load, a home
//! battery) with cars that plug in and out and charge from the surplus. It answers commands
//! with the MQTT command parser, so it accepts and rejects exactly what the daemon does.
//! [`run_fake_daemon`] publishes its views on a hub; [`fill_store`] records hours of it into a
//! store so the chart and the sessions table have something to show.
//!
//! `cargo run -p sunfill --example dashboard` serves it on <http://127.0.0.1:7070/>.

use crate::hub::{DaemonSide, LoadpointView, SiteView, View};
use crate::mqtt::outputs::{command, Controls, Topics};
use crate::store::{Error, Recorder, Store};
use std::future::Future;
use std::time::Duration;
use sunfill_core::control::Config;
use sunfill_core::Mode;
use tokio::sync::mpsc;

/// One loadpoint of the fake site.
#[derive(Clone, Debug)]
struct FakeCar {
    name: String,
    controls: Controls,
    counter_kwh: f64,
    power_w: f64,
    setpoint_a: f64,
    session_kwh: f64,
    session_solar_kwh: f64,
    plugged: bool,
}

/// A made-up site whose flows follow the clock it is given.
#[derive(Clone, Debug)]
pub struct FakeSite {
    cars: Vec<FakeCar>,
    battery_soc: f64,
    last_ms: Option<i64>,
    /// Plugged in all the time, instead of the daily pattern.
    pub always_plugged: bool,
    /// The wallbox of the first car answers (set `false` to show an offline box).
    pub wallbox_online: bool,
}

/// A deterministic noise in 0..1 from a number.
fn noise(x: i64) -> f64 {
    let mut h = x as u64 ^ 0x9E37_79B9_7F4A_7C15;
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl FakeSite {
    /// A site with one loadpoint per name, each in mode `pv` with the default limits.
    pub fn new(names: &[&str]) -> FakeSite {
        FakeSite {
            cars: names
                .iter()
                .enumerate()
                .map(|(i, n)| FakeCar {
                    name: n.to_string(),
                    controls: Controls::new(Config::default()),
                    counter_kwh: 1234.5 + 100.0 * i as f64,
                    power_w: 0.0,
                    setpoint_a: 0.0,
                    session_kwh: 0.0,
                    session_solar_kwh: 0.0,
                    plugged: false,
                })
                .collect(),
            battery_soc: 55.0,
            last_ms: None,
            always_plugged: false,
            wallbox_online: true,
        }
    }

    /// PV power at a time: a 9 kW peak at 13:00 UTC with clouds changing each minute.
    fn pv_w(at_ms: i64) -> f64 {
        let h = (at_ms.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        let sun = (std::f64::consts::PI * (h - 6.0) / 14.0).sin().max(0.0);
        let minute = at_ms.div_euclid(60_000);
        let cloud = if noise(minute / 7) < 0.25 {
            0.35 + 0.3 * noise(minute)
        } else {
            0.92 + 0.08 * noise(minute)
        };
        let wobble = 1.0 + 0.03 * ((at_ms as f64 / 9_000.0).sin());
        (9000.0 * sun * cloud * wobble).max(0.0)
    }

    /// The site at `at_ms`, advanced from the previous call.
    pub fn view_at(&mut self, at_ms: i64) -> View {
        let dt_h = self
            .last_ms
            .map_or(0.0, |t| (at_ms - t).max(0) as f64 / 3_600_000.0);
        self.last_ms = Some(at_ms);
        let pv = Self::pv_w(at_ms);
        // The house load changes every two seconds, so a live page always has a changing number.
        let house = 450.0 + 350.0 * noise(at_ms.div_euclid(2_000) + 7);
        let hour = at_ms.rem_euclid(86_400_000) / 3_600_000;
        let mut surplus = pv - house;
        let mut car_total = 0.0;
        let online = self.wallbox_online;
        let mut loadpoints = Vec::new();
        for (i, car) in self.cars.iter_mut().enumerate() {
            // Cars come home at different times: plugged 8-12 and 13-18 (second car shifted).
            let h = (hour + 2 * i as i64) % 24;
            let plugged = self.always_plugged || (8..12).contains(&h) || (13..18).contains(&h);
            if plugged && !car.plugged {
                car.session_kwh = 0.0;
                car.session_solar_kwh = 0.0;
            }
            car.plugged = plugged;
            // Energy of the interval that just ended, at the power of the previous view.
            let e = car.power_w / 1000.0 * dt_h;
            car.counter_kwh += e;
            car.session_kwh += e;
            car.session_solar_kwh += e * (surplus / car.power_w.max(1.0)).clamp(0.0, 1.0);
            let c = car.controls;
            let min_a = f64::from(c.config.min_current.0) / 10.0;
            let max_a = f64::from(c.config.max_current.0) / 10.0;
            let per_amp = 3.0 * 230.0;
            let amps = if !plugged || (i == 0 && !online) {
                0.0
            } else {
                match c.mode {
                    Mode::Off => 0.0,
                    Mode::Now => max_a,
                    Mode::Fixed(a) => f64::from(a.0) / 10.0,
                    Mode::MinPv => (surplus / per_amp).clamp(min_a, max_a),
                    Mode::Pv => {
                        let a = (surplus / per_amp).min(max_a);
                        if a >= min_a {
                            a
                        } else {
                            0.0
                        }
                    }
                }
            };
            let amps = (amps * 10.0).floor() / 10.0;
            car.setpoint_a = amps;
            car.power_w = amps * per_amp * (0.97 + 0.02 * noise(at_ms / 1000 + i as i64));
            surplus -= car.power_w;
            car_total += car.power_w;
            let (vehicle, reason, code) = if i == 0 && !online {
                (
                    "unknown",
                    "wallbox does not answer; holding the last current".to_string(),
                    "wallbox_error",
                )
            } else if !plugged {
                ("disconnected", "no car connected".to_string(), "no_car")
            } else if amps == 0.0 && c.mode == Mode::Off {
                ("connected", "mode off".to_string(), "off")
            } else if amps == 0.0 {
                (
                    "connected",
                    format!(
                        "surplus {:.1} kW below {min_a:.1} A x 3 phases; staying stopped",
                        (surplus + car.power_w).max(0.0) / 1000.0
                    ),
                    "waiting_for_surplus",
                )
            } else {
                let r = match c.mode {
                    Mode::Now => (format!("charging now at {amps:.1} A"), "now"),
                    Mode::Fixed(_) => (format!("fixed current {amps:.1} A"), "fixed"),
                    _ => (
                        format!(
                            "following surplus {:.1} kW at {amps:.1} A",
                            (surplus + car.power_w) / 1000.0
                        ),
                        "tracking",
                    ),
                };
                ("charging", r.0, r.1)
            };
            loadpoints.push(LoadpointView {
                name: car.name.clone(),
                mode: c.mode.name().to_string(),
                fixed_current_a: f64::from(c.fixed_current.0) / 10.0,
                min_current_a: min_a,
                max_current_a: max_a,
                setpoint_a: car.setpoint_a,
                phases: 3,
                vehicle: vehicle.to_string(),
                wallbox_online: i != 0 || online,
                power_w: car.power_w.round(),
                session_energy_kwh: car.session_kwh,
                session_solar_kwh: car.session_solar_kwh.min(car.session_kwh),
                total_energy_kwh: if i == 0 && !online {
                    0.0
                } else {
                    car.counter_kwh
                },
                reason,
                reason_code: code.to_string(),
                // The fake site runs no controller, so it has nothing to compare.
                vs_classic: Default::default(),
            });
        }
        // The home battery takes what is left (up to 3 kW) and covers the night.
        let rest = pv - house - car_total;
        let battery_w = if rest > 0.0 && self.battery_soc < 100.0 {
            -rest.min(3000.0)
        } else if rest < 0.0 && self.battery_soc > 10.0 {
            (-rest).min(3000.0)
        } else {
            0.0
        };
        self.battery_soc =
            (self.battery_soc - battery_w / 1000.0 * dt_h / 13.5 * 100.0).clamp(0.0, 100.0);
        let grid = -(rest + battery_w);
        View {
            at_unix_ms: at_ms,
            mqtt_connected: true,
            site: SiteView {
                pv_w: Some(pv.round()),
                house_w: Some(house.round()),
                grid_w: Some(grid.round()),
                battery_w: Some(battery_w.round()),
                battery_soc: Some((self.battery_soc * 10.0).round() / 10.0),
            },
            loadpoints,
        }
    }

    /// Applies a command exactly as the daemon's MQTT parser would.
    pub fn apply(&mut self, loadpoint: &str, key: &str, value: &str) -> Result<(), String> {
        let car = self
            .cars
            .iter_mut()
            .find(|c| c.name == loadpoint)
            .ok_or_else(|| format!("no loadpoint \"{loadpoint}\""))?;
        let topics = Topics::new(loadpoint);
        let topic = topics.set(key);
        match command(&topics, &car.controls, &topic, value.as_bytes()) {
            Some(Ok((_, next))) => {
                car.controls = next;
                Ok(())
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("not a command: {key}")),
        }
    }
}

/// Plays the daemon until `shutdown`: publishes the site at `clock`'s time every `period` (and
/// at once after a command), answers commands and reports each applied one on `applied` as
/// (loadpoint, key, value).
pub async fn run_fake_daemon(
    clock: super::Clock,
    mut daemon: DaemonSide,
    mut site: FakeSite,
    period: Duration,
    applied: Option<mpsc::UnboundedSender<(String, String, String)>>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            cmd = daemon.commands.recv() => {
                let Some(cmd) = cmd else { return };
                let r = site.apply(&cmd.loadpoint, &cmd.key, &cmd.value);
                if r.is_ok() {
                    if let Some(tx) = &applied {
                        let _ = tx.send((cmd.loadpoint.clone(), cmd.key.clone(), cmd.value.clone()));
                    }
                }
                let _ = cmd.reply.send(r);
            }
            () = &mut shutdown => return,
        }
        daemon.view.send_replace(site.view_at(clock.now_ms()));
    }
}

/// Records the fake site from `from_ms` to `to_ms` in steps of `step_ms` into `store`, so the
/// chart and the sessions table have a history to show.
pub fn fill_store(
    store: &Store,
    site: &mut FakeSite,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Result<(), Error> {
    let mut r = Recorder::new();
    let mut t = from_ms;
    while t <= to_ms {
        r.observe(store, &site.view_at(t))?;
        t += step_ms.max(1000);
    }
    r.finish(store)
}
