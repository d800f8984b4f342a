//! How often a dip below the car's minimum power ends within 3 minutes, by its depth and by how
//! the surplus moved in the minute before (up, down, or flat: within 5 % of the minimum power).
//! Only dips within 30 minutes of sun count (daytime). A measurement for BENCHMARKS.md, session 14.
//!
//! `cargo run --release -p sunfill-sim --example dip_trend -- ../shared/data/scenarios dk-`
//! (the second argument keeps the scenarios whose names start so; none: all of them).

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use sunfill_sim::model::SiteConfig;
use sunfill_sim::scenario::Scenario;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let prefix = args.next().unwrap_or_default();
    let days: Vec<Vec<f64>> = Scenario::files_in(&dir)
        .expect("scenario dir")
        .iter()
        .map(|p| Scenario::read(p).expect("scenario"))
        .filter(|s| s.name.starts_with(&prefix))
        .map(|s| s.rows.iter().map(|r| r.pv_w - r.house_w).collect())
        .collect();
    for phases in [1, 3] {
        let p_min = SiteConfig::new(phases).p_min_w();
        // (depth, move) -> (dip minutes, of which ending within 3 minutes)
        let mut stats: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
        for s in &days {
            for i in 1..s.len().saturating_sub(3) {
                let sun_before = s[i.saturating_sub(30)..i].iter().any(|&x| x >= p_min);
                if s[i] >= p_min || !sun_before {
                    continue;
                }
                let d = s[i] - s[i - 1];
                let moved = if d > 0.05 * p_min {
                    "up"
                } else if d < -0.05 * p_min {
                    "down"
                } else {
                    "flat"
                };
                let depth = if s[i] >= 0.5 * p_min { "0.5-1" } else { "<0.5" };
                let e = stats.entry((depth, moved)).or_default();
                e.0 += 1;
                e.1 += u32::from(s[i + 1..i + 4].iter().any(|&x| x >= p_min));
            }
        }
        println!(
            "{phases} phase(s), {} scenarios: surplus / minimum, last minute's move, dip minutes, \
             share ending within 3 min",
            days.len()
        );
        for ((depth, moved), (n, ends)) in stats {
            println!(
                "  {depth:5} {moved:4} {n:5} {:5.2}",
                f64::from(ends) / f64::from(n)
            );
        }
    }
}
