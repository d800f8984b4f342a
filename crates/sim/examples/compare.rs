//! Minute by minute: surplus, and the car power of threshold-delay and of a sunfill variant, for
//! one scenario and phase count, to see where they differ.
//!
//! `cargo run --release -p sunfill-sim --example compare -- FILE PHASES [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use sunfill_sim::model::{simulate, Trace};
use sunfill_sim::runner::{site_config, PolicyKind, RunOptions};
use sunfill_sim::scenario::Scenario;
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("FILE");
    let ph: u8 = args.next().expect("PHASES").parse().expect("phases");
    let tuning = common::parse(&args.next().unwrap_or_default());
    let sc = Scenario::read(std::path::Path::new(&file)).expect("scenario");
    let cfg = site_config(&sc, ph, &RunOptions::default()).expect("cfg");
    let mut td_trace = Trace::default();
    let mut our_trace = Trace::default();
    let mut td = PolicyKind::ThresholdDelay.build(ph);
    simulate(&sc, &cfg, td.as_mut(), Some(&mut td_trace));
    let config = common::config(ph, tuning);
    let mut ours = SunfillPolicy::with_config(config, ph);
    simulate(&sc, &cfg, &mut ours, Some(&mut our_trace));
    let p_min = cfg.p_min_w();
    let (mut ts, mut os) = (0.0f64, 0.0f64);
    for (i, (a, b)) in td_trace.points.iter().zip(&our_trace.points).enumerate() {
        let s = (a.pv_w - a.house_w) as f64;
        if s <= 0.0 && a.car_w == 0.0 && b.car_w == 0.0 {
            continue;
        }
        let sol = |c: f32| (c as f64).min(s.max(0.0)) / 60.0;
        ts += sol(a.car_w);
        os += sol(b.car_w);
        let bar = |w: f64| "#".repeat((w / 500.0).clamp(0.0, 30.0) as usize);
        println!(
            "{:5} {:02}:{:02} s {:6.0} {} td {:6.0} ours {:6.0}  cum td {:6.0} ours {:6.0} Wh  {}",
            i,
            (i / 60 + 2) % 24,
            i % 60,
            s,
            if s >= p_min { "+" } else { " " },
            a.car_w,
            b.car_w,
            ts,
            os,
            bar(s)
        );
    }
}
