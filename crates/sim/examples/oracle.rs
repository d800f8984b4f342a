//! A clairvoyant yardstick for the policy: knowing each whole day in advance, what mix of solar,
//! grid energy and starts could a controller reach? Dynamic programming per run, at the scenario's
//! minute resolution: each minute the car is on (at the minimum in a dip, else following the
//! surplus up to the maximum) or off; a start loses its first 15 s of the minute; the objective is
//! `solar - lambda x import - mu x starts` (mu in kWh per start). Not the benchmark's 1 s model,
//! a bound to see how far an online policy is from knowing the future.
//!
//! `cargo run --release -p sunfill-sim --example oracle -- ../shared/data/scenarios 6,8 0.3,0.6`
//! (`ORACLE_PER_RUN=1`: each run's plan too, `solar / import / starts`)

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::model::SiteConfig;
use sunfill_sim::scenario::Scenario;

/// (solar kWh, import kWh, starts) of the best plan for one run.
fn plan(s: &[f64], phases: u8, lambda: f64, mu: f64) -> (f64, f64, u32) {
    let site = SiteConfig::new(phases);
    let (p_min, p_max) = (site.p_min_w(), site.p_max_w());
    let minute: Vec<(f64, f64)> = s
        .iter()
        .map(|&x| {
            if x >= p_min {
                (x.min(p_max) / 60_000.0, 0.0)
            } else {
                let sun = x.max(0.0);
                (sun / 60_000.0, (p_min - sun) / 60_000.0)
            }
        })
        .collect();
    // Backward: values of being off / on before minute t; the choices made there.
    let (mut v_off, mut v_on) = (0.0f64, 0.0f64);
    let mut choice = vec![(false, false); s.len()];
    for t in (0..s.len()).rev() {
        let (sol, imp) = minute[t];
        let on_now = sol - lambda * imp;
        let start = on_now - sol * 0.25 - mu + v_on;
        let start_here = start > v_off;
        let stay_on = on_now + v_on >= v_off;
        choice[t] = (start_here, stay_on);
        let (n_off, n_on) = (v_off.max(start), (on_now + v_on).max(v_off));
        v_off = n_off;
        v_on = n_on;
    }
    let (mut on, mut solar, mut import, mut starts) = (false, 0.0, 0.0, 0);
    for (t, &(start_here, stay_on)) in choice.iter().enumerate() {
        let (sol, imp) = minute[t];
        if on && stay_on {
            solar += sol;
            import += imp;
        } else if on {
            on = false;
        } else if start_here {
            on = true;
            starts += 1;
            solar += sol * 0.75;
            import += imp * 0.75;
        }
    }
    (solar, import, starts)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let list = |a: Option<String>, d: &str| -> Vec<f64> {
        a.unwrap_or(d.into())
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let lambdas = list(args.next(), "6,8");
    let mus = list(args.next(), "0.3,0.6");
    let files = Scenario::files_in(&dir).expect("scenario dir");
    let per_run = std::env::var("ORACLE_PER_RUN").is_ok();
    // Each scenario's name and its surplus (PV - house) by minute, W.
    let days: Vec<(String, Vec<f64>)> = files
        .iter()
        .map(|p| {
            let sc = Scenario::read(p).expect("scenario");
            let surplus = sc.rows.iter().map(|r| r.pv_w - r.house_w).collect();
            (sc.name, surplus)
        })
        .collect();
    for &lambda in &lambdas {
        for &mu in &mus {
            let (mut s, mut i, mut n) = (0.0, 0.0, 0);
            for (name, day) in &days {
                for phases in [1, 3] {
                    let (a, b, c) = plan(day, phases, lambda, mu);
                    if per_run {
                        println!("  {name:28} {phases} ph: {a:.2} / {b:.2} / {c}");
                    }
                    s += a;
                    i += b;
                    n += c;
                }
            }
            println!(
                "lambda {lambda} mu {mu} kWh: solar {s:.1} kWh, import {i:.2} kWh, starts {n}"
            );
        }
    }
}
