//! Experiment: the outlook's two prices (import weight, start price) chosen online by how fixed
//! settings would have done in shadow on the same readings. Every setting runs as a whole sunfill
//! controller with its own shadow car; so does threshold-delay. Each reading the real controller
//! takes the prices of the setting with the best session score `solar - alpha x import - beta x
//! starts` among those whose solar is at least `kappa` x threshold-delay's (or the one least short
//! of it).
//!
//! `cargo run --release -p sunfill-sim --example chooser -- DIR alpha beta kappa`
//! `CH_SHADOW` / `CH_REAL`: the tuning of the shadows / of the real controller (as `tune`'s
//! variants; default `steer=0,steers=0` for both).

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::sunfill_policy::SunfillPolicy;
use sunfill_sim::threshold_delay::ThresholdDelay;

mod common;
use common::shadow::{ShadowCar, Sums};

struct Runner<P> {
    policy: P,
    car: ShadowCar,
    sums: Sums,
}

impl<P: Policy> Runner<P> {
    /// Books the seconds `from..to` at surplus `s`.
    fn advance(&mut self, from: u64, to: u64, s: f64, volts: f64) {
        for t in from..to {
            let car_w = f64::from(self.car.at(t)) / 10.0 * volts;
            self.sums.book(car_w, s, 1.0);
        }
    }

    fn step(&mut self, now: u64, m: Option<&Measurement>, volts: f64) {
        let shadow = m.map(|m| {
            let amps = f64::from(self.car.at(now)) / 10.0;
            Measurement {
                grid_w: amps * volts - (m.pv_w - m.house_w),
                pv_w: m.pv_w,
                house_w: m.house_w,
                car_w: amps * volts,
                car_current_a: amps,
                battery_w: None,
                battery_soc: None,
            }
        });
        if let Some(w) = self.policy.step(now, shadow.as_ref()) {
            if self.car.write(w, now) {
                self.sums.starts += 1.0;
            }
        }
    }
}

struct Chooser {
    settings: Vec<(u32, u32)>,
    shadows: Vec<Runner<SunfillPolicy>>,
    td: Runner<ThresholdDelay>,
    real: SunfillPolicy,
    volts: f64,
    last: Option<(u64, f64)>,
    alpha: f64,
    beta: f64,
    kappa: f64,
    chosen: usize,
}

impl Policy for Chooser {
    fn name(&self) -> &'static str {
        "chooser"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let volts = self.volts;
        if let Some(m) = reading {
            let s = m.pv_w - m.house_w;
            if let Some((t0, s0)) = self.last {
                for sh in &mut self.shadows {
                    sh.advance(t0, now_s, s0, volts);
                }
                self.td.advance(t0, now_s, s0, volts);
            }
            self.last = Some((now_s, s));
        }
        for sh in &mut self.shadows {
            sh.step(now_s, reading, volts);
        }
        self.td.step(now_s, reading, volts);
        if reading.is_some() {
            let floor = self.kappa * self.td.sums.solar;
            let score = |x: &Sums| x.solar - self.alpha * x.import - self.beta * x.starts;
            let best = self
                .shadows
                .iter()
                .enumerate()
                .filter(|(_, sh)| sh.sums.solar >= floor)
                .max_by(|a, b| score(&a.1.sums).total_cmp(&score(&b.1.sums)))
                .or_else(|| {
                    self.shadows
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.sums.solar.total_cmp(&b.1.sums.solar))
                })
                .map(|x| x.0)
                .unwrap_or(0);
            if best != self.chosen || now_s == 0 {
                self.chosen = best;
                let (l, w) = self.settings[best];
                let c = self.real.controller_mut();
                let mut config = *c.config();
                config.tuning.import_weight_permille = l;
                config.tuning.start_price_wh = w;
                c.set_config(config);
            }
        }
        self.real.step(now_s, reading)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let num = |a: Option<String>, d: f64| a.and_then(|x| x.parse().ok()).unwrap_or(d);
    let alpha = num(args.next(), 17.5);
    let beta = num(args.next(), 1.6);
    let kappa = num(args.next(), 1.0);
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| "steer=0,steers=0".into());
    let shadow_tuning = common::parse(&var("CH_SHADOW"));
    let real_tuning = common::parse(&var("CH_REAL"));
    let mut settings = Vec::new();
    for l in [3000, 5000, 7000, 10000, 14000, 20000] {
        for w in [200, 400, 600, 1000, 1500] {
            settings.push((l, w));
        }
    }
    let summary = common::shadow::run_and_report(&dir, |ph, _| {
        let shadows = settings
            .iter()
            .map(|&(l, w)| {
                let mut t = shadow_tuning;
                t.import_weight_permille = l;
                t.start_price_wh = w;
                Runner {
                    policy: SunfillPolicy::with_config(common::config(ph, t), ph),
                    car: ShadowCar::default(),
                    sums: Sums::default(),
                }
            })
            .collect();
        Chooser {
            settings: settings.clone(),
            shadows,
            td: Runner {
                policy: ThresholdDelay::new(ph),
                car: ShadowCar::default(),
                sums: Sums::default(),
            },
            real: SunfillPolicy::with_config(common::config(ph, real_tuning), ph),
            volts: 230.0 * f64::from(ph),
            last: None,
            alpha,
            beta,
            kappa,
            chosen: usize::MAX,
        }
    });
    println!("chooser a{alpha} b{beta} k{kappa}: {summary}");
}
