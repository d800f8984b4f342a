//! Where does each policy's solar and import come from? Splits every second of a run (what the
//! car really draws then, [`common::Replay`]) into: solar above the minimum power, solar taken in dips (surplus below the minimum), import in
//! dips, import while the surplus is above the minimum, and solar lost while stopped with the
//! surplus above the minimum (waiting to start).
//!
//! `cargo run --release -p sunfill-sim --example anatomy -- ../shared/data/scenarios [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::model::{simulate, solar_and_grid_w};
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::PolicyKind;
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

#[derive(Default, Clone, Copy)]
struct Parts {
    solar_above: f64,
    solar_dip: f64,
    import_dip: f64,
    import_above: f64,
    lost_waiting: f64,
}

struct Probe {
    inner: Box<dyn Policy + Send>,
    p_min: f64,
    p_max: f64,
    replay: common::Replay,
    parts: Parts,
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let out = self.inner.step(now_s, reading);
        let (car, s) = self.replay.second(now_s, out);
        let (solar, import) = solar_and_grid_w(car, s);
        let (solar, import) = (solar / 3.6e6, import / 3.6e6);
        if s >= self.p_min {
            self.parts.solar_above += solar;
            self.parts.import_above += import;
            if car <= 0.0 {
                self.parts.lost_waiting += s.min(self.p_max) / 3.6e6;
            }
        } else {
            self.parts.solar_dip += solar;
            self.parts.import_dip += import;
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let tuning = common::parse(&args.next().unwrap_or_default());
    for (sc, ph, cfg) in common::runs(&dir) {
        for kind in ["td", "ours"] {
            let inner: Box<dyn Policy + Send> = if kind == "td" {
                PolicyKind::ThresholdDelay.build(ph)
            } else {
                let config = common::config(ph, tuning);
                Box::new(SunfillPolicy::with_config(config, ph))
            };
            let mut p = Probe {
                inner,
                p_min: cfg.p_min_w(),
                p_max: cfg.p_max_w(),
                replay: common::Replay::new(&sc, ph),
                parts: Parts::default(),
            };
            let m = simulate(&sc, &cfg, &mut p, None).metrics;
            let q = p.parts;
            println!(
                    "{:28} {ph}ph {kind:4} solar {:6.2} import {:5.2} starts {:3} | above {:6.2} dip {:5.2} | imp dip {:5.2} above {:5.2} | lost waiting {:5.2} | bound {:6.2}",
                    sc.name, m.solar_kwh, m.import_kwh, m.starts, q.solar_above, q.solar_dip,
                    q.import_dip, q.import_above, q.lost_waiting, m.bound_zero_import_kwh
                );
        }
    }
}
