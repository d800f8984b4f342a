//! Splits each policy's grid energy into lag (the car above both the surplus and the minimum
//! power: a setpoint not yet down after a drop) and hold (the minimum power, or less, over the
//! surplus).
//!
//! `cargo run --release -p sunfill-sim --example split -- DIR [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod common;

use std::path::PathBuf;
use sunfill_sim::car::Car;
use sunfill_sim::model::simulate;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::{site_config, PolicyKind, RunOptions};
use sunfill_sim::scenario::Scenario;

struct Split {
    inner: Box<dyn Policy + Send>,
    car: Car,
    surplus: Vec<f64>,
    p_min: f64,
    lag: f64,
    hold: f64,
    dip_lag: f64,
}

impl Policy for Split {
    fn name(&self) -> &'static str {
        "split"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        self.car.advance(now_s * 1000);
        let out = self.inner.step(now_s, reading);
        if let Some(d) = out {
            self.car.write(now_s * 1000, d);
        }
        let s = self.surplus[(now_s / 60) as usize];
        let c = self.car.power_w();
        if c > s.max(0.0) {
            let floor = s.max(self.p_min).max(0.0);
            let lag = (c - floor).max(0.0);
            self.lag += lag / 3.6e6;
            if s < self.p_min {
                self.dip_lag += lag / 3.6e6;
            }
            self.hold += (c - s.max(0.0) - lag) / 3.6e6;
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let v = args.next().unwrap_or_default();
    let mut tot = [0.0f64; 6];
    for f in Scenario::files_in(&dir).expect("scenario dir") {
        let Ok(sc) = Scenario::read(&f) else { continue };
        for ph in [1u8, 3] {
            let cfg = site_config(&sc, ph, &RunOptions::default()).unwrap();
            let surplus: Vec<f64> = sc.rows.iter().map(|r| r.pv_w - r.house_w).collect();
            let mut line = format!("{:<30} {ph}ph", sc.name);
            for (i, inner) in [common::policy(ph, &v), PolicyKind::ThresholdDelay.build(ph)]
                .into_iter()
                .enumerate()
            {
                let mut p = Split {
                    inner,
                    car: Car::new(ph),
                    surplus: surplus.clone(),
                    p_min: cfg.p_min_w(),
                    lag: 0.0,
                    hold: 0.0,
                    dip_lag: 0.0,
                };
                let m = simulate(&sc, &cfg, &mut p, None).metrics;
                line += &format!(
                    " | {} import {:.2} lag {:.2} (in dips {:.2}) hold {:.2}",
                    if i == 0 { "ours" } else { "td" },
                    m.import_kwh,
                    p.lag,
                    p.dip_lag,
                    p.hold
                );
                tot[2 * i] += p.lag;
                tot[2 * i + 1] += p.hold;
                tot[4 + i] += p.dip_lag;
            }
            println!("{line}");
        }
    }
    println!(
        "total: ours lag {:.2} (in dips {:.2}) hold {:.2} | td lag {:.2} (in dips {:.2}) hold {:.2}",
        tot[0], tot[4], tot[1], tot[2], tot[5], tot[3]
    );
}
