//! How much grid energy goes into the last dip of each day, the one only the night ends? A
//! hindsight bound: the default policy, except that in a dip after which the surplus never
//! reaches the minimum power again that day, the car is stopped at once.
//!
//! `cargo run --release -p sunfill-sim --example terminal -- DIR [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod common;

use common::Override;
use std::path::PathBuf;
use sunfill_sim::model::simulate;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let v = args.next().unwrap_or_default();
    let (mut s0, mut i0, mut n0, mut s1, mut i1, mut n1) = (0.0, 0.0, 0, 0.0, 0.0, 0);
    for (sc, ph, cfg) in common::runs(&dir) {
        let p_min = cfg.p_min_w();
        let n = sc.rows.len();
        let mut terminal = vec![false; n];
        let mut sun_later = false;
        for k in (0..n).rev() {
            // Local midnight (UTC+2 for the European days; close enough for the US day).
            if (k / 60 + 2) % 24 == 23 && k % 60 == 59 {
                sun_later = false;
            }
            let s = sc.rows[k].pv_w - sc.rows[k].house_w;
            if s >= p_min {
                sun_later = true;
            }
            terminal[k] = !sun_later && s < p_min;
        }
        let a = simulate(&sc, &cfg, common::policy(ph, &v).as_mut(), None).metrics;
        let mut cut = Override::new(common::policy(ph, &v), move |t: u64, _, _| {
            terminal.get((t / 60) as usize).copied().unwrap_or(false)
        });
        let b = simulate(&sc, &cfg, &mut cut, None).metrics;
        println!(
            "{:<34} {ph}ph default {:.2}/{:.2}/{} cut {:.2}/{:.2}/{}",
            sc.name, a.solar_kwh, a.import_kwh, a.starts, b.solar_kwh, b.import_kwh, b.starts
        );
        (s0, i0, n0) = (s0 + a.solar_kwh, i0 + a.import_kwh, n0 + a.starts);
        (s1, i1, n1) = (s1 + b.solar_kwh, i1 + b.import_kwh, n1 + b.starts);
    }
    println!("total default {s0:.1}/{i0:.2}/{n0} cut {s1:.1}/{i1:.2}/{n1}");
}
