//! Experiment: pick online among simple rules by how each would have done. The surplus does not
//! depend on what the car does, so every rule (and the threshold-delay controller) can be run in
//! shadow on the same readings. Each reading, the rule with the best faded score
//! `solar - alpha x import - beta x starts` among those whose faded solar is at least `kappa` x
//! threshold-delay's is put in charge of the real car.
//!
//! Also: rules whose faded starts exceed `rho` x threshold-delay's (+1) are out; the rule in charge
//! changes only when the best beats it by `switch` kWh, and at most every `period` s.
//!
//! `cargo run --release -p sunfill-sim --example experts -- DIR alpha beta kappa halflife_s switch rho period`
//!
//! `RULES_ON_CHANGE=1` runs the rules as the `rules` example does with it.
//!
//! Result (BENCHMARKS.md): the same frontier as the outlook; switching rules costs starts.

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::threshold_delay::ThresholdDelay;

mod common;
use common::rules::{Rule, RuleState, Site};
use common::shadow::{ShadowCar, Sums};

struct Shadow {
    state: RuleState,
    car: ShadowCar,
    sums: Sums,
}

struct Experts {
    rules: Vec<Rule>,
    shadows: Vec<Shadow>,
    td: ThresholdDelay,
    td_car: ShadowCar,
    td_sums: Sums,
    site: Site,
    last: Option<(u64, f64)>,
    real: RuleState,
    alpha: f64,
    beta: f64,
    kappa: f64,
    tau: f64,
    current: usize,
    switch: f64,
    rho: f64,
    period: u64,
    last_choice: Option<u64>,
}

impl Experts {
    fn advance(&mut self, from: u64, to: u64, s: f64) {
        let volts = self.site.volts;
        for sh in &mut self.shadows {
            for t in from..to {
                let car_w = f64::from(sh.car.at(t)) / 10.0 * volts;
                sh.sums.book(car_w, s, 1.0);
            }
        }
        for t in from..to {
            let car_w = f64::from(self.td_car.at(t)) / 10.0 * volts;
            self.td_sums.book(car_w, s, 1.0);
        }
    }
}

impl Policy for Experts {
    fn name(&self) -> &'static str {
        "experts"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let m = reading?;
        let s = m.pv_w - m.house_w;
        if let Some((t0, s0)) = self.last {
            self.advance(t0, now_s, s0);
            let k = (-((now_s - t0) as f64) / self.tau).exp();
            for sh in &mut self.shadows {
                sh.sums.fade(k);
            }
            self.td_sums.fade(k);
        }
        let td_meas = Measurement {
            grid_w: f64::from(self.td_car.at(now_s)) / 10.0 * self.site.volts - s,
            pv_w: m.pv_w,
            house_w: m.house_w,
            car_w: f64::from(self.td_car.at(now_s)) / 10.0 * self.site.volts,
            car_current_a: f64::from(self.td_car.at(now_s)) / 10.0,
            battery_w: None,
            battery_soc: None,
        };
        if let Some(w) = self.td.step(now_s, Some(&td_meas)) {
            if self.td_car.write(w, now_s) {
                self.td_sums.starts += 1.0;
            }
        }
        self.last = Some((now_s, s));
        let site = self.site;
        for (sh, r) in self.shadows.iter_mut().zip(&self.rules) {
            if let Some(w) = sh.state.decide(r, now_s, s, &site) {
                if sh.car.write(w, now_s) {
                    sh.sums.starts += 1.0;
                }
            }
        }
        if self.last_choice.is_some_and(|t| now_s < t + self.period) {
            let r = self.rules[self.current];
            return self.real.decide(&r, now_s, s, &site);
        }
        self.last_choice = Some(now_s);
        // Choose: within the floors (solar >= kappa x td's, starts <= rho x td's + 1), the best
        // score; with none within, the least short of them.
        let floor = self.kappa * self.td_sums.solar;
        let cap = self.rho * self.td_sums.starts + 1.0;
        let score = |x: &Sums| x.solar - self.alpha * x.import - self.beta * x.starts;
        let td_s = self.td_sums.solar.max(1e-3);
        let td_n = self.td_sums.starts.max(1.0);
        let short = |x: &Sums| (floor - x.solar).max(0.0) / td_s + (x.starts - cap).max(0.0) / td_n;
        let best = self
            .shadows
            .iter()
            .enumerate()
            .filter(|(_, sh)| short(&sh.sums) <= 0.0)
            .max_by(|a, b| score(&a.1.sums).total_cmp(&score(&b.1.sums)))
            .or_else(|| {
                self.shadows
                    .iter()
                    .enumerate()
                    .min_by(|a, b| short(&a.1.sums).total_cmp(&short(&b.1.sums)))
            })
            .map(|x| x.0)
            .unwrap_or(0);
        // Stay with the expert in charge unless the best beats it by `switch` kWh.
        let cur = &self.shadows[self.current].sums;
        let best = if self.current != best
            && cur.solar >= floor
            && score(cur) + self.switch >= score(&self.shadows[best].sums)
        {
            self.current
        } else {
            best
        };
        self.current = best;
        let r = self.rules[best];
        self.real.decide(&r, now_s, s, &site)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let num = |a: Option<String>, d: f64| a.and_then(|x| x.parse().ok()).unwrap_or(d);
    let alpha = num(args.next(), 10.0);
    let beta = num(args.next(), 0.3);
    let kappa = num(args.next(), 0.99);
    let half = num(args.next(), 86400.0);
    let switch = num(args.next(), 0.0);
    let rho = num(args.next(), 100.0);
    let period = num(args.next(), 0.0) as u64;
    let rules = Rule::grid(
        &[0.0, 20.0, 70.0, 250.0, 700.0],
        &[0.5, 0.6, 0.7, 0.8, 0.9],
        &[0, 60, 120, 180],
        &[1.0, 1.25],
    );
    let summary = common::shadow::run_and_report(&dir, |ph, cfg| {
        let rules = rules.clone();
        let site = Site {
            p_min: cfg.p_min_w(),
            p_max: cfg.p_max_w(),
            volts: 230.0 * f64::from(ph),
        };
        Experts {
            shadows: rules
                .iter()
                .map(|_| Shadow {
                    state: RuleState::new(std::env::var("RULES_ON_CHANGE").is_ok()),
                    car: ShadowCar::default(),
                    sums: Sums::default(),
                })
                .collect(),
            rules,
            td: ThresholdDelay::new(ph),
            td_car: ShadowCar::default(),
            td_sums: Sums::default(),
            site,
            last: None,
            real: RuleState::new(std::env::var("RULES_ON_CHANGE").is_ok()),
            alpha,
            beta,
            kappa,
            tau: half / std::f64::consts::LN_2,
            current: 0,
            switch,
            rho,
            period,
            last_choice: None,
        }
    });
    println!("experts a{alpha} b{beta} k{kappa} h{half} sw{switch} r{rho} p{period}: {summary}");
}
