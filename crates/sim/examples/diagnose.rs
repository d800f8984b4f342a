//! Where does sunfill's import go? Splits the grid energy of holds into dips that were ridden
//! through and dips that ended in a stop anyway, per scenario and phases.
//!
//! `cargo run --release -p sunfill-sim --example diagnose -- ../shared/data/scenarios [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_core::control::Reason;
use sunfill_sim::model::simulate;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

struct Probe {
    inner: SunfillPolicy,
    surplus: f64,
    holding: bool,
    episode_import: f64,
    wasted: f64,
    useful: f64,
    wasted_n: u32,
    useful_n: u32,
    stops_deep: u32,
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        if let Some(m) = reading {
            self.surplus = m.pv_w - m.house_w;
        }
        let out = self.inner.step(now_s, reading);
        let reason = self.inner.last_reason();
        let holding = matches!(reason, Some(Reason::Holding { .. }));
        if holding {
            let min_w = self
                .inner
                .controller()
                .setpoint()
                .watts(230, self.inner.controller().phases()) as f64;
            self.episode_import += (min_w - self.surplus.max(0.0)).max(0.0) / 3.6e6;
        }
        if self.holding && !holding {
            if matches!(reason, Some(Reason::BudgetSpent { .. })) {
                self.wasted += self.episode_import;
                self.wasted_n += 1;
            } else {
                self.useful += self.episode_import;
                self.useful_n += 1;
            }
            self.episode_import = 0.0;
        } else if !self.holding && matches!(reason, Some(Reason::BudgetSpent { .. })) {
            self.stops_deep += 1;
        }
        self.holding = holding;
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let tuning = common::parse(&args.next().unwrap_or_default());
    for (sc, ph, cfg) in common::runs(&dir) {
        let config = common::config(ph, tuning);
        let mut p = Probe {
            inner: SunfillPolicy::with_config(config, ph),
            surplus: 0.0,
            holding: false,
            episode_import: 0.0,
            wasted: 0.0,
            useful: 0.0,
            wasted_n: 0,
            useful_n: 0,
            stops_deep: 0,
        };
        let m = simulate(&sc, &cfg, &mut p, None).metrics;
        println!(
                "{:30} {ph}ph import {:5.2} starts {:3} | holds ridden {:3} ({:5.2} kWh) holds then stopped {:3} ({:5.2} kWh) stops without hold {:3}",
                sc.name, m.import_kwh, m.starts, p.useful_n, p.useful, p.wasted_n, p.wasted, p.stops_deep
            );
    }
}
