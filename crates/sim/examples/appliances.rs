//! What knowing the house's appliances is worth. A dip that an appliance causes (the house load
//! jumps while the PV holds) lasts as long as the appliance runs: in the benchmark's modelled
//! house loads a kettle or a microwave runs 2-4 minutes, an oven or a washing machine's heater
//! 15-70. Two measurements, each beside the default policy on the same runs:
//!
//! - `hindsight SHORT_MIN DELAY_MIN`: the policy, but stopped in every dip that began with a jump
//!   of the house load of 900 W or more and lasted more than `SHORT_MIN` minutes, from
//!   `DELAY_MIN` minutes into the dip (an upper bound for recognising long appliance runs);
//! - `online TOL_W LONG_MIN [unknown-long]`: the policy, but stopped in a dip that an appliance
//!   caused (the surplus without the jump would reach the minimum power) when at least 80 % of
//!   the earlier jumps of the run within `TOL_W` (or 4 %) that had lasted as long went on for
//!   `LONG_MIN` minutes more; with `unknown-long`, also at a jump unlike any seen before.
//!
//! `cargo run --release -p sunfill-sim --example appliances -- DIR hindsight 5 0 [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod common;

use common::Override;
use std::path::PathBuf;
use sunfill_sim::model::simulate;
use sunfill_sim::policy::Measurement;

/// The appliance runs learned so far in a run, and the one under way.
#[derive(Default)]
struct Learner {
    tol_w: f64,
    long_s: u64,
    unknown_long: bool,
    prev_house: Option<f64>,
    /// House load before the jump, the jump, when it began.
    open: Option<(f64, f64, u64)>,
    /// Jump and how long it lasted, s.
    past: Vec<(f64, u64)>,
    stopping: bool,
}

impl Learner {
    fn goes_on(&self, jump: f64, age: u64) -> bool {
        let tol = self.tol_w.max(jump * 0.04);
        let like = || {
            self.past
                .iter()
                .filter(move |(d, l)| (d - jump).abs() <= tol && *l > age)
        };
        let n = like().count();
        if n == 0 {
            return self.unknown_long;
        }
        let long = like().filter(|(_, l)| *l > age + self.long_s).count();
        long as f64 >= 0.8 * n as f64
    }

    fn stop(&mut self, now_s: u64, m: Option<&Measurement>, on: bool, p_min: f64) -> bool {
        let Some(m) = m else { return self.stopping };
        let h = m.house_w;
        if let Some((base, jump, since)) = self.open {
            if h < base + 0.5 * jump {
                self.past.push((jump, now_s - since));
                self.open = None;
            }
        }
        if self.open.is_none() {
            if let Some(before) = self.prev_house.filter(|b| h - b >= 800.0) {
                self.open = Some((before, h - before, now_s));
            }
        }
        self.prev_house = Some(h);
        let s = m.pv_w - m.house_w;
        self.stopping = match self.open {
            Some((_, jump, since)) if s < p_min && s + jump >= p_min => {
                self.stopping || (on && self.goes_on(jump, now_s - since))
            }
            _ => false,
        };
        self.stopping
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or("../shared/data/scenarios".into()),
    );
    let mode = args.get(1).cloned().unwrap_or("hindsight".into());
    let a: u64 = args.get(2).and_then(|x| x.parse().ok()).unwrap_or(5);
    let b: u64 = args.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
    let unknown_long = args.iter().any(|x| x == "unknown-long");
    let v = args
        .iter()
        .skip(4)
        .find(|x| x.contains('='))
        .cloned()
        .unwrap_or_default();
    let (mut s0, mut i0, mut n0, mut s1, mut i1, mut n1) = (0.0, 0.0, 0, 0.0, 0.0, 0);
    for (sc, ph, cfg) in common::runs(&dir) {
        let p_min = cfg.p_min_w();
        let base = simulate(&sc, &cfg, common::policy(ph, &v).as_mut(), None).metrics;
        type Stop = Box<dyn FnMut(u64, Option<&Measurement>, bool) -> bool>;
        let stop: Stop = if mode == "online" {
            let mut l = Learner {
                tol_w: a as f64,
                long_s: b * 60,
                unknown_long,
                ..Learner::default()
            };
            Box::new(move |t, m, on| l.stop(t, m, on, p_min))
        } else {
            // Minutes in the long appliance dips, from `b` minutes into each.
            let s: Vec<f64> = sc.rows.iter().map(|r| r.pv_w - r.house_w).collect();
            let mut cut = vec![false; s.len()];
            let mut k = 1;
            while k < s.len() {
                let jump = sc.rows[k].house_w - sc.rows[k - 1].house_w;
                if s[k - 1] >= p_min && s[k] < p_min && jump >= 900.0 {
                    let end = (k..s.len()).find(|&j| s[j] >= p_min).unwrap_or(s.len());
                    if (end - k) as u64 > a {
                        cut[k + b as usize..end].iter_mut().for_each(|x| *x = true);
                    }
                    k = end;
                }
                k += 1;
            }
            Box::new(move |t, _, _| cut[(t / 60) as usize])
        };
        let mut p = Override::new(common::policy(ph, &v), stop);
        let ours = simulate(&sc, &cfg, &mut p, None).metrics;
        println!(
            "{:<34} {ph}ph default {:.2}/{:.2}/{} {mode} {:.2}/{:.2}/{}",
            sc.name,
            base.solar_kwh,
            base.import_kwh,
            base.starts,
            ours.solar_kwh,
            ours.import_kwh,
            ours.starts
        );
        (s0, i0, n0) = (s0 + base.solar_kwh, i0 + base.import_kwh, n0 + base.starts);
        (s1, i1, n1) = (s1 + ours.solar_kwh, i1 + ours.import_kwh, n1 + ours.starts);
    }
    println!("total default {s0:.1}/{i0:.2}/{n0} {mode} {s1:.1}/{i1:.2}/{n1}");
}
